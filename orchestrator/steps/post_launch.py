"""DRSJobCompleted: record the job; when the wave's last job is in, judge the launch (LAUNCHING -> LAUNCHED
or FAILED) and start the post-launch phase (LAUNCHED -> POST_LAUNCH and its scripts)."""

from __future__ import annotations

from typing import Any

from events.models import DRSJobCompleted
from orchestrator.adapters.ledger import Outcome
from orchestrator.adapters.ledger.records import execution_record
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.launch_judgement import judge_launch, launch_warnings
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.scripts import run_phase
from orchestrator.steps.wave_failure import fail_wave


def on_job_completed(rt: Runtime, detail: DRSJobCompleted, event_id: str) -> None:
    """Record a finished job; when the wave's last job is in, judge the launch and go to post-launch."""
    servers = {
        s.source_server_id: {
            "launchStatus": s.launch_status,
            "recoveryInstanceId": s.recovery_instance_id,
            "reason": s.reason,
        }
        for s in detail.servers
    }
    outcome, wave = rt.ledger.record_job_done(
        detail.execution_id, detail.wave_id, job_id=detail.job_id, servers=servers, key=event_id
    )
    if outcome is Outcome.REJECTED or wave is None:
        logger.info("job already recorded", job_id=detail.job_id)
        return
    key = f"{event_id}:judge"
    if int(wave.get("jobsDone", 0)) < int(wave.get("jobsExpected", 0)):
        return
    if wave.get("status") != WaveStatus.LAUNCHING and wave.get("lastKey") != key:
        return  # judged by another job's completion (or a stale delivery): nothing of this event to resume
    close_launch(rt, detail.execution_id, detail.plan_id, detail.wave_id, key=key)


def close_launch(rt: Runtime, execution_id: str, plan_id: str, wave_id: str, *, key: str) -> None:
    """Every job of the wave has ended: judge it, then post-launch or fail. A redelivery of the event that
    judged it (`key`) resumes whatever it had reached: the failure, the post-launch transition, or the
    post-launch phase (whose scripts are claimed with the same key, so none is sent twice)."""
    execution = rt.ledger.get_execution(execution_id)
    wave = rt.ledger.get_wave(execution_id, wave_id)
    if execution is None or wave is None:
        return
    if wave.get("status") == WaveStatus.POST_LAUNCH and wave.get("lastKey") == key:
        logger.info("resuming the post-launch phase after a redelivery", wave_id=wave_id)
        run_phase(
            rt,
            execution_record(execution),
            wave_id=wave_id,
            attempt=int(wave.get("attempt", 1)),
            phase="POST_LAUNCH",
            key=key,
        )
        return
    wave["servers"] = rt.ledger.wave_servers(execution_id, wave_id)
    from orchestrator.steps.launch_wave import skip_if_stopped_before_launch  # (the launcher imports this module)

    if skip_if_stopped_before_launch(rt, execution, wave, key=key):  # nothing reached DRS: not judged
        return
    plan_wave = frozen_plan(execution).wave(wave_id)
    ok, reason, failed = judge_launch(wave, plan_wave.success_threshold)
    attempt = int(wave.get("attempt", 1))
    metrics.add_metric(name="ServersFailed", unit="Count", value=len(failed))
    if not ok:
        fail_wave(
            rt,
            execution,
            wave_id,
            from_=[WaveStatus.LAUNCHING],
            reason=reason,
            key=key,
            attempt=attempt,
            failed_servers=failed,
            sets={"launchedAt": rt.ledger.now()},
        )
        return
    sets: dict[str, Any] = {"launchedAt": rt.ledger.now(), "launchSummary": reason}
    if failed:  # a redone judgement (the same key) finds its warnings there already: added once
        warnings = list(wave.get("warnings", []))
        sets["warnings"] = [*warnings, *(w for w in launch_warnings(failed) if w not in warnings)]
    outcome = rt.ledger.transition_wave(
        execution_id, wave_id, from_=[WaveStatus.LAUNCHING], to=WaveStatus.LAUNCHED, key=key, sets=sets
    )
    if not outcome.proceed:
        return
    start_post_launch(rt, execution, wave_id, attempt=attempt, key=key)


def start_post_launch(rt: Runtime, execution: dict[str, Any], wave_id: str, *, attempt: int, key: str) -> None:
    """LAUNCHED -> POST_LAUNCH and the post-launch scripts (and health check)."""
    outcome = rt.ledger.transition_wave(
        execution["executionId"],
        wave_id,
        from_=[WaveStatus.LAUNCHED],
        to=WaveStatus.POST_LAUNCH,
        key=key,
        sets={"postLaunchAt": rt.ledger.now()},
    )
    if not outcome.proceed:
        return
    run_phase(rt, execution_record(execution), wave_id=wave_id, attempt=attempt, phase="POST_LAUNCH", key=key)
