"""DRSJobCompleted: check it against DRS and the ledger, record the job; when the wave's last job is in, judge
the launch (LAUNCHING -> LAUNCHED or FAILED) and start the post-launch phase (LAUNCHED -> POST_LAUNCH and its
scripts)."""

from __future__ import annotations

from collections.abc import Mapping

from events.models import DRSJobCompleted
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.launch_judgement import judge_launch, launch_warnings
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.records.servers import ServerResult
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.launch_checks import check_job_end
from orchestrator.steps.launch_settings import after_launch
from orchestrator.steps.scripts import run_phase
from orchestrator.steps.wave_failure import fail_wave


def on_job_completed(rt: Runtime, detail: DRSJobCompleted, event_id: str) -> None:
    """Record a finished job; when the wave's last job is in, judge the launch and go to post-launch.
    What is recorded is what DRS says of the job (`launch_checks.check_job_end`), never the event's word:
    InvalidEvent, with nothing written, for an event that is not DRS's answer for a job of the wave."""
    servers = check_job_end(rt, detail)
    if servers is None:
        return
    outcome, wave = rt.ledger.record_job_done(
        detail.execution_id, detail.wave_id, job_id=detail.job_id, servers=servers, key=event_id
    )
    if outcome is Outcome.REJECTED or wave is None:
        logger.info("job already recorded", job_id=detail.job_id)
        return
    key = f"{event_id}:judge"
    if wave.jobs_done < wave.jobs_expected:
        return
    if wave.status != WaveStatus.LAUNCHING and wave.last_key != key:
        return  # judged by another job's completion (or a stale delivery): nothing of this event to resume
    close_launch(rt, detail.execution_id, detail.plan_id, detail.wave_id, key=key, wave=wave)


def close_launch(
    rt: Runtime, execution_id: str, plan_id: str, wave_id: str, *, key: str, wave: WaveRecord | None = None
) -> None:
    """Every job of the wave has ended: judge it, then post-launch or fail. A redelivery of the event that
    judged it (`key`) resumes whatever it had reached: the failure, the post-launch transition, or the
    post-launch phase (whose scripts are claimed with the same key, so none is sent twice). `wave`: the wave
    as the caller's write left it (read here otherwise)."""
    execution = rt.ledger.execution(execution_id)
    wave = wave or rt.ledger.wave(execution_id, wave_id)
    if execution is None or wave is None:
        return
    after_launch(rt, execution, wave_id)  # launch settings: where each instance landed, then restored (idempotent)
    if wave.status == WaveStatus.POST_LAUNCH and wave.last_key == key:
        logger.info("resuming the post-launch phase after a redelivery", wave_id=wave_id)
        run_phase(rt, execution, wave_id=wave_id, attempt=wave.attempt, phase="POST_LAUNCH", key=key)
        return
    servers = rt.ledger.wave_servers(execution_id, wave_id)
    from orchestrator.steps.launch_wave import skip_if_stopped_before_launch  # (the launcher imports this module)

    if skip_if_stopped_before_launch(rt, execution, wave_id, servers, key=key):
        return  # nothing reached DRS: not judged
    _judge(rt, execution, wave, servers, key=key)


def _judge(
    rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, servers: Mapping[str, ServerResult], *, key: str
) -> None:
    """Judge the launch from how each of the wave's `servers` ended: LAUNCHING -> FAILED, or LAUNCHED (with a
    warning per OPTIONAL server that did not launch) and on to post-launch."""
    execution_id, wave_id = execution.execution_id, wave.wave_id
    plan_wave = frozen_plan(execution).wave(wave_id)
    ok, reason, failed = judge_launch(servers, plan_wave.success_threshold)
    metrics.add_metric(name="ServersFailed", unit="Count", value=len(failed))
    if not ok:
        fail_wave(
            rt,
            execution,
            wave_id,
            from_=[WaveStatus.LAUNCHING],
            reason=reason,
            key=key,
            attempt=wave.attempt,
            failed_servers=failed,
            changes=WaveChanges(launched_at=rt.ledger.now()),
        )
        return
    warnings = None
    if failed:  # a redone judgement (the same key) finds its warnings there already: added once
        warnings = (*wave.warnings, *(w for w in launch_warnings(failed) if w not in wave.warnings))
    outcome = rt.ledger.transition_wave(
        execution_id,
        wave_id,
        from_=[WaveStatus.LAUNCHING],
        to=WaveStatus.LAUNCHED,
        key=key,
        changes=WaveChanges(launched_at=rt.ledger.now(), launch_summary=reason, warnings=warnings),
    )
    if not outcome.proceed:
        return
    start_post_launch(rt, execution, wave_id, attempt=wave.attempt, key=key)


def start_post_launch(rt: Runtime, execution: ExecutionRecord, wave_id: str, *, attempt: int, key: str) -> None:
    """LAUNCHED -> POST_LAUNCH and the post-launch scripts (and health check)."""
    outcome = rt.ledger.transition_wave(
        execution.execution_id,
        wave_id,
        from_=[WaveStatus.LAUNCHED],
        to=WaveStatus.POST_LAUNCH,
        key=key,
        changes=WaveChanges(post_launch_at=rt.ledger.now()),
    )
    if not outcome.proceed:
        return
    run_phase(rt, execution, wave_id=wave_id, attempt=attempt, phase="POST_LAUNCH", key=key)
