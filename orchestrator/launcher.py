"""The tasks of the wave launch state machine: cut the wave into DRS jobs, claim and start each job.

A launch is claimed in the ledger and the job is tagged with the launch key before StartRecovery, so a
crash at any point, a duplicated event or a retried execution finds the existing job instead of
starting a second one.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from events.models import DRSJobCompleted, DRSJobStarted, PreLaunchDone, ServerLaunch, WaveFailed
from orchestrator.clock import parse_iso
from orchestrator.drs import TAG_ATTEMPT, TAG_EXECUTION, TAG_LAUNCH_KEY, TAG_WAVE, DrsConflict, DrsError
from orchestrator.execution import frozen_plan
from orchestrator.ledger import Outcome
from orchestrator.observability import logger, metrics
from orchestrator.phases import close_launch
from orchestrator.plan import Wave, cut_jobs
from orchestrator.preflight import preflight
from orchestrator.runtime import Runtime

SERVERS_PER_JOB = 100
CLAIM_LOOKBACK = timedelta(minutes=10)


def launch_key(execution_id: str, wave_id: str, attempt: int, index: int) -> str:
    digest = hashlib.sha256(f"{execution_id}|{wave_id}|{attempt}|{index}".encode()).hexdigest()[:32]
    return f"lk-{digest}"


def fail_preflight(rt: Runtime, execution: dict[str, Any], wave: Wave, problems: list[str], *, key: str) -> None:
    """PRE_LAUNCH -> FAILED before any launch, naming each server and reason."""
    reason = "preflight failed: " + "; ".join(problems)
    outcome = rt.ledger.finish_wave(execution["executionId"], wave.wave_id, from_=["PRE_LAUNCH"], to="FAILED",
                                    key=key, sets={"reason": reason[:4000]})
    if not outcome.proceed:
        return
    rt.ledger.record_execution_failure(execution["executionId"], wave.wave_id)
    logger.warning("wave failed preflight", wave_id=wave.wave_id, problems=len(problems))
    rt.bus.publish(WaveFailed(execution_id=execution["executionId"], plan_id=execution["planId"],
                              wave_id=wave.wave_id, reason=reason[:4000], on_failure=wave.on_failure.value))


def _no_launch(reason: str) -> dict[str, Any]:
    """The state machine's answer when there is nothing to launch (its ResultSelector reads `chunks`)."""
    logger.info("nothing to launch", reason=reason)
    return {"proceed": False, "reason": reason, "chunks": []}


def prepare(rt: Runtime, detail: PreLaunchDone, event_id: str) -> dict[str, Any]:
    """PRE_LAUNCH -> LAUNCHING and the wave's jobs. `proceed` is false for a duplicate or stale event."""
    execution = rt.ledger.get_execution(detail.execution_id)
    if execution is None:
        return _no_launch("unknown execution")
    wave = rt.ledger.get_wave(detail.execution_id, detail.wave_id)
    if wave is None:
        return _no_launch("unknown wave")
    plan_wave = frozen_plan(execution).wave(detail.wave_id)
    wanted = wave.get("launchServers") or plan_wave.server_ids
    snapshots = {s.source_server_id: s.recovery_snapshot_id for s in plan_wave.servers}
    chunks = cut_jobs(list(wanted), SERVERS_PER_JOB)
    problems = preflight(rt, execution, plan_wave)
    if problems:
        fail_preflight(rt, execution, plan_wave, problems, key=event_id)
        return _no_launch("preflight failed")
    if execution["status"] not in {"RUNNING", "PAUSED"}:
        from orchestrator.progress import skip_wave_for_stop

        skip_wave_for_stop(rt, execution, detail.wave_id, from_=["PRE_LAUNCH"], key=event_id)
        return _no_launch(f"execution is {execution['status']}")
    outcome = rt.ledger.transition_wave(
        detail.execution_id, detail.wave_id, from_=["PRE_LAUNCH"], to="LAUNCHING", key=event_id,
        sets={"launchStartedAt": rt.ledger.now(), "jobsExpected": len(chunks), "jobsDone": 0},
    )
    if not outcome.proceed:
        return _no_launch("duplicate or stale PreLaunchDone")
    attempt = int(wave.get("attempt", 1))
    is_drill = execution["mode"] != "RECOVERY"
    items = [
        {
            "executionId": detail.execution_id, "planId": detail.plan_id, "waveId": detail.wave_id,
            "attempt": attempt, "index": index, "isDrill": is_drill,
            "launchKey": launch_key(detail.execution_id, detail.wave_id, attempt, index),
            "servers": [
                {"sourceServerID": sid, **({"recoverySnapshotID": snapshots[sid]} if snapshots.get(sid) else {})}
                for sid in chunk
            ],
        }
        for index, chunk in enumerate(chunks)
    ]
    logger.info("wave launching", wave_id=detail.wave_id, jobs=len(items), servers=len(wanted),
                replay=outcome is Outcome.REPLAY)
    return {"proceed": True, "chunks": items}


def _record_started(rt: Runtime, chunk: dict[str, Any], job_id: str) -> dict[str, Any]:
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    rt.ledger.complete_launch(chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"],
                              job_id=job_id, status="STARTED")
    rt.ledger.add_job(chunk["executionId"], chunk["waveId"], job_id=job_id, launch_key=chunk["launchKey"],
                      server_ids=server_ids)
    rt.bus.publish(DRSJobStarted(execution_id=chunk["executionId"], plan_id=chunk["planId"],
                                 wave_id=chunk["waveId"], attempt=chunk["attempt"], job_id=job_id,
                                 launch_key=chunk["launchKey"], source_server_ids=server_ids))
    return {"jobId": job_id, "launchKey": chunk["launchKey"], "servers": len(server_ids)}


def start_job(rt: Runtime, chunk: dict[str, Any]) -> dict[str, Any]:
    """Claim, then StartRecovery for one chunk of a wave; idempotent by launch key."""
    execution_id, wave_id = chunk["executionId"], chunk["waveId"]
    key = chunk["launchKey"]
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    existing = rt.ledger.claim_launch(execution_id, wave_id, chunk["attempt"], chunk["index"], launch_key=key,
                                      server_ids=server_ids)
    if existing is not None:
        if existing.get("jobId"):
            logger.info("launch already started", launch_key=key, job_id=existing["jobId"])
            return _record_started(rt, chunk, existing["jobId"])
        since = parse_iso(existing.get("claimedAt", rt.ledger.now())) - CLAIM_LOOKBACK
        found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, key, since)
        if found:
            logger.warning("recovered a job started by a crashed attempt", launch_key=key, job_id=found["jobID"])
            metrics.add_metric(name="LaunchesRecovered", unit="Count", value=1)
            return _record_started(rt, chunk, found["jobID"])
    tags = {TAG_LAUNCH_KEY: key, TAG_EXECUTION: execution_id, TAG_WAVE: wave_id, TAG_ATTEMPT: str(chunk["attempt"])}
    try:
        job = rt.drs.start_recovery(chunk["servers"], is_drill=bool(chunk["isDrill"]), tags=tags)
    except DrsConflict:
        found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, key, rt.clock.now() - CLAIM_LOOKBACK)
        if found:
            return _record_started(rt, chunk, found["jobID"])
        raise
    metrics.add_metric(name="DrsJobsStarted", unit="Count", value=1)
    logger.info("DRS job started", wave_id=wave_id, job_id=job["jobID"], servers=len(server_ids))
    return _record_started(rt, chunk, job["jobID"])


def chunk_failed(rt: Runtime, chunk: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """A chunk could not be launched (a permanent error, or retries exhausted): its servers FAILED."""
    reason = f"{error.get('Error', 'Error')}: {error.get('Cause', '')}"[:1000]
    claimed = rt.ledger.claim_launch(chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"],
                                     launch_key=chunk["launchKey"],
                                     server_ids=[s["sourceServerID"] for s in chunk["servers"]])
    since = parse_iso((claimed or {}).get("claimedAt", rt.ledger.now())) - CLAIM_LOOKBACK
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, chunk["launchKey"], since)
    if found:  # the job did start (the task died after StartRecovery): follow it, do not fail it
        logger.warning("chunk reported failed but its job exists", launch_key=chunk["launchKey"], reason=reason)
        return _record_started(rt, chunk, found["jobID"])
    job_id = f"not-started-{chunk['launchKey']}"
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    logger.error("DRS launch failed", wave_id=chunk["waveId"], reason=reason)
    metrics.add_metric(name="DrsLaunchFailures", unit="Count", value=1)
    rt.ledger.complete_launch(chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"],
                              job_id=None, status="FAILED", reason=reason)
    rt.ledger.add_job(chunk["executionId"], chunk["waveId"], job_id=job_id, launch_key=chunk["launchKey"],
                      server_ids=server_ids)
    rt.bus.publish(DRSJobCompleted(
        execution_id=chunk["executionId"], plan_id=chunk["planId"], wave_id=chunk["waveId"],
        attempt=chunk["attempt"], job_id=job_id,
        servers=[ServerLaunch(source_server_id=sid, launch_status="FAILED", reason=reason) for sid in server_ids],
    ))
    return {"jobId": None, "failed": len(server_ids), "reason": reason}


def is_retryable(exc: Exception) -> bool:
    return isinstance(exc, DrsError) and exc.retryable


__all__ = ["chunk_failed", "close_launch", "is_retryable", "prepare", "start_job"]
