"""The tasks of the wave launch state machine: cut the wave into DRS jobs, admit, claim and start each job.

A launch is claimed in the ledger and the job is tagged with the launch key before StartRecovery, so a
crash at any point, a duplicated event or a retried execution finds the existing job instead of
starting a second one. Each job is admitted against the DRS quotas shared by every execution
(`orchestrator.steps.capacity`) first: a job that does not fit now is parked and started by a CapacityTick.

`start_job` answers the state machine with an `outcome`:

- STARTED: the job runs (or a previous attempt had started it);
- PARKED: no capacity now; a scheduled tick starts it later (the execution ends);
- RETRY: DRS throttled or failed transiently: wait `waitSeconds` (exponential backoff with full jitter,
  never less than DRS's `retryAfterSeconds`; a Wait state, no Lambda billed) and call again. After
  MAX_TRIES, or when the waits would grow too long for an Express execution, the chunk is parked instead.

Permanent DRS errors (validation, an uninitialised account, a conflict with a job that is not ours)
raise `DrsPermanentError`/`DrsConflict`; the state machine does not retry them: `chunk_failed` fails the
chunk's servers with the reason at once.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import timedelta
from typing import Any

from events.models import DRSJobCompleted, DRSJobStarted, PreLaunchDone, ServerLaunch, TerminationTick
from orchestrator.adapters.drs import (
    TAG_ATTEMPT,
    TAG_EXECUTION,
    TAG_LAUNCH_KEY,
    TAG_WAVE,
    DrsConflict,
    DrsError,
    DrsQuotaExceeded,
    DrsThrottled,
    backoff_delay,
)
from orchestrator.adapters.ledger import Outcome
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import cut_jobs
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.status import RUNNABLE_EXECUTION, WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import capacity
from orchestrator.steps.capacity import Admission
from orchestrator.steps.post_launch import close_launch

CLAIM_LOOKBACK = timedelta(minutes=10)
MAX_TRIES = 6  # StartRecovery attempts inside one Express execution before the chunk is parked
MAX_WAIT_SECONDS = 60  # one Wait state at most (an Express execution lives 5 minutes)
LEASE_SECONDS = 90  # one call's right to StartRecovery: longer than the launch function's timeout (60 s)
NOT_LAUNCHED_STOPPED = "not launched: plan stopped"


def launch_key(execution_id: str, wave_id: str, attempt: int, index: int) -> str:
    digest = hashlib.sha256(f"{execution_id}|{wave_id}|{attempt}|{index}".encode()).hexdigest()[:32]
    return f"lk-{digest}"


def _no_launch(reason: str) -> dict[str, Any]:
    """The state machine's answer when there is nothing to launch (its ResultSelector reads `chunks`)."""
    logger.info("nothing to launch", reason=reason)
    return {"proceed": False, "reason": reason, "chunks": []}


def _servers_to_launch(wave: dict[str, Any], plan_servers: list[str], attempt: int) -> list[str]:
    wanted = list(wave.get("launchServers") or plan_servers)
    excluded = wave.get("preflightExcluded") or {}
    if int(excluded.get("attempt", 0)) == attempt:
        skip = set(excluded.get("servers", []))
        wanted = [sid for sid in wanted if sid not in skip]
    return wanted


def prepare(rt: Runtime, detail: PreLaunchDone, event_id: str) -> dict[str, Any]:
    """PRE_LAUNCH -> LAUNCHING and the wave's jobs. `proceed` is false for a duplicate or stale event.
    (The preflight ran before the pre-launch scripts, in `pre_launch.on_wave_ready`.)"""
    execution = rt.ledger.get_execution(detail.execution_id)
    if execution is None:
        return _no_launch("unknown execution")
    wave = rt.ledger.get_wave(detail.execution_id, detail.wave_id)
    if wave is None:
        return _no_launch("unknown wave")
    plan = frozen_plan(execution)
    plan_wave = plan.wave(detail.wave_id)
    attempt = int(wave.get("attempt", 1))
    wanted = _servers_to_launch(wave, plan_wave.server_ids, attempt)
    snapshots = {s.source_server_id: s.recovery_snapshot_id for s in plan_wave.servers}
    chunks = cut_jobs(wanted, capacity.quotas(rt).job_size)
    if execution["status"] not in RUNNABLE_EXECUTION:
        from orchestrator.steps.progress import skip_wave_for_stop

        skip_wave_for_stop(rt, execution, detail.wave_id, from_=[WaveStatus.PRE_LAUNCH], key=event_id)
        return _no_launch(f"execution is {execution['status']}")
    outcome = rt.ledger.transition_wave(
        detail.execution_id,
        detail.wave_id,
        from_=[WaveStatus.PRE_LAUNCH],
        to=WaveStatus.LAUNCHING,
        key=event_id,
        changes=WaveChanges(launch_started_at=rt.ledger.now(), jobs_expected=len(chunks), jobs_done=0),
    )
    if not outcome.proceed:
        return _no_launch("duplicate or stale PreLaunchDone")
    if not chunks:  # every server was left out (OPTIONAL servers that failed preflight): judge at once
        close_launch(rt, detail.execution_id, detail.plan_id, detail.wave_id, key=f"{event_id}:judge")
        return _no_launch("no server left to launch")
    is_drill = execution["mode"] != "RECOVERY"
    ttl = plan.defaults.drill_instance_ttl_seconds
    if is_drill and ttl:
        when = rt.clock.now() + timedelta(seconds=ttl)
        rt.scheduler.at(
            schedule_name("drill-ttl", detail.execution_id, "1"),
            when,
            TerminationTick(execution_id=detail.execution_id, plan_id=detail.plan_id, reason="TIME_TO_LIVE", tick=1),
        )
    items = [
        {
            "executionId": detail.execution_id,
            "planId": detail.plan_id,
            "waveId": detail.wave_id,
            "attempt": attempt,
            "index": index,
            "isDrill": is_drill,
            "launchKey": launch_key(detail.execution_id, detail.wave_id, attempt, index),
            "servers": [
                {"sourceServerID": sid, **({"recoverySnapshotID": snapshots[sid]} if snapshots.get(sid) else {})}
                for sid in chunk
            ],
        }
        for index, chunk in enumerate(chunks)
    ]
    logger.info(
        "wave launching", wave_id=detail.wave_id, jobs=len(items), servers=len(wanted), replay=outcome is Outcome.REPLAY
    )
    return {"proceed": True, "chunks": items}


def _record_started(rt: Runtime, chunk: dict[str, Any], job_id: str) -> dict[str, Any]:
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    rt.ledger.complete_launch(
        chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"], job_id=job_id, status="STARTED"
    )
    capacity.note_job(rt, chunk["launchKey"], job_id)
    rt.ledger.add_job(
        chunk["executionId"], chunk["waveId"], job_id=job_id, launch_key=chunk["launchKey"], server_ids=server_ids
    )
    rt.bus.publish(
        DRSJobStarted(
            execution_id=chunk["executionId"],
            plan_id=chunk["planId"],
            wave_id=chunk["waveId"],
            attempt=chunk["attempt"],
            job_id=job_id,
            launch_key=chunk["launchKey"],
            source_server_ids=server_ids,
        )
    )
    return {"outcome": "STARTED", "jobId": job_id, "launchKey": chunk["launchKey"], "servers": len(server_ids)}


def _existing_job(rt: Runtime, chunk: dict[str, Any], claim: dict[str, Any]) -> str | None:
    """The job a previous call for this launch started, if any: the claim's job id, or, when a call may
    have created a job it could not record (a crash, a timeout, a 500), DescribeJobs by launch-key tag."""
    if claim.get("jobId"):
        return str(claim["jobId"])
    if claim.get("status") != "STARTING" and not claim.get("mayHaveStarted"):
        return None  # no StartRecovery was ever called for this claim
    since = parse_iso(str(claim.get("startingAt") or claim.get("claimedAt") or rt.ledger.now())) - CLAIM_LOOKBACK
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, chunk["launchKey"], since)
    if found:
        logger.warning(
            "recovered a job started by a crashed attempt", launch_key=chunk["launchKey"], job_id=found["jobID"]
        )
        metrics.add_metric(name="LaunchesRecovered", unit="Count", value=1)
        return str(found["jobID"])
    return None


def _end_lease(
    rt: Runtime, chunk: dict[str, Any], token: str, *, status: str = "CLAIMED", sets: dict[str, Any] | None = None
) -> None:
    rt.ledger.end_launch_lease(
        chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"], token=token, status=status, sets=sets
    )


def _park(rt: Runtime, chunk: dict[str, Any], token: str, *, reason: str) -> dict[str, Any]:
    _end_lease(rt, chunk, token, status="PARKED", sets={"parkReason": reason[:500]})
    capacity.park(rt, chunk)
    return {"outcome": "PARKED", "launchKey": chunk["launchKey"], "reason": reason}


def _busy(rt: Runtime, chunk: dict[str, Any], claim: dict[str, Any], *, from_queue: bool) -> dict[str, Any]:
    """Another call holds the launch's lease (it is calling StartRecovery now): come back when it has
    recorded its job, or when its lease is over (it died before DRS created one)."""
    until = parse_iso(str(claim.get("leaseUntil") or rt.ledger.now()))
    wait = max(1, min(MAX_WAIT_SECONDS, math.ceil((until - rt.clock.now()).total_seconds()) + 1))
    logger.info("another call is starting this launch", launch_key=chunk["launchKey"], wait=wait)
    if from_queue:  # it stays parked: the next CapacityTick looks again
        return {"outcome": "BUSY", "launchKey": chunk["launchKey"]}
    tries = int(chunk.get("tries", 0)) + 1
    if tries >= MAX_TRIES:  # the lease outlives this execution's patience: the capacity queue takes over
        capacity.park(rt, chunk)
        return {"outcome": "PARKED", "launchKey": chunk["launchKey"], "reason": "another call is starting it"}
    return {"outcome": "RETRY", "waitSeconds": wait, "chunk": {**chunk, "tries": tries}}


def start_job(rt: Runtime, chunk: dict[str, Any], *, from_queue: bool = False) -> dict[str, Any]:
    """Claim, lease, admit, then StartRecovery for one chunk of a wave; idempotent by launch key.

    Every path that launches (the wave launch state machine, its retries, a CapacityTick starting a
    parked launch, a RetryWave's new attempt) comes through here: the claim in the ledger says whether a
    StartRecovery may already have created the job (then it is found by its launch-key tag instead of
    started again), and the lease lets one call at a time call StartRecovery for the claim.
    `from_queue`: the CapacityTick starts a parked chunk (it does not queue behind itself, and a
    transient error leaves it parked instead of asking for a Wait)."""
    execution_id, wave_id = chunk["executionId"], chunk["waveId"]
    key = chunk["launchKey"]
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    token = uuid.uuid4().hex
    existing = rt.ledger.claim_launch(
        execution_id,
        wave_id,
        chunk["attempt"],
        chunk["index"],
        launch_key=key,
        server_ids=server_ids,
        lease=(token, LEASE_SECONDS),
    )
    if existing is not None:  # claimed before: its job, if a call made one, else the lease
        job_id = _existing_job(rt, chunk, existing)
        if job_id:
            return _record_started(rt, chunk, job_id)
        held = rt.ledger.lease_launch(
            execution_id, wave_id, chunk["attempt"], chunk["index"], token=token, seconds=LEASE_SECONDS
        )
        if held is not None:
            if held.get("jobId"):  # the call that held it has recorded its job meanwhile
                return _record_started(rt, chunk, str(held["jobId"]))
            if held.get("status") == "FAILED":
                return {"outcome": "FAILED", "jobId": None, "reason": str(held.get("reason", "launch failed"))}
            return _busy(rt, chunk, held, from_queue=from_queue)
    try:  # a refused admission reconciles with DRS (DescribeJobs), which may throttle past its retries
        admission = capacity.admit(
            rt, key, len(server_ids), ref=f"{execution_id}/{wave_id}", behind_queue=not from_queue
        )
    except DrsError:
        _end_lease(rt, chunk, token)  # nothing was started: the next call need not wait for the lease
        raise
    if admission is Admission.FULL:
        return _park(rt, chunk, token, reason="DRS quotas are in use")
    tags = {TAG_LAUNCH_KEY: key, TAG_EXECUTION: execution_id, TAG_WAVE: wave_id, TAG_ATTEMPT: str(chunk["attempt"])}
    try:
        job = rt.drs.start_recovery(chunk["servers"], is_drill=bool(chunk["isDrill"]), tags=tags)
    except DrsConflict as exc:
        found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, key, rt.clock.now() - CLAIM_LOOKBACK)
        if found:
            return _record_started(rt, chunk, found["jobID"])
        capacity.release(rt, key)
        holder = _our_termination_holding(rt, execution_id, server_ids)
        if holder:  # our own terminate job (a rollback) still holds a server: it ends soon, wait for it
            logger.info(
                "a terminate job of this execution holds a server: the launch waits", launch_key=key, job_id=holder
            )
            return _retry_later(
                rt,
                chunk,
                token,
                DrsThrottled(
                    f"{exc} (terminate job {holder} of this execution: waiting for it to end)",
                    code="ConflictException",
                    retry_after=capacity.TICK_SECONDS,
                ),
                from_queue=from_queue,
            )
        _end_lease(rt, chunk, token)
        raise
    except DrsQuotaExceeded as exc:  # jobs outside the orchestrator use the quotas too: wait, do not fail
        capacity.release(rt, key)
        logger.warning("DRS refused the launch over its quotas: parked", launch_key=key, error=str(exc))
        return _park(rt, chunk, token, reason=str(exc))
    except DrsError as exc:
        if not exc.retryable:
            capacity.release(rt, key)
            _end_lease(rt, chunk, token)
            raise
        return _retry_later(rt, chunk, token, exc, from_queue=from_queue)
    metrics.add_metric(name="DrsJobsStarted", unit="Count", value=1)
    logger.info("DRS job started", wave_id=wave_id, job_id=job["jobID"], servers=len(server_ids))
    return _record_started(rt, chunk, job["jobID"])


def _our_termination_holding(rt: Runtime, execution_id: str, server_ids: list[str]) -> str | None:
    """The id of a terminate job of this execution (a rollback, a cancel's clean-up) that is still running
    with one of `server_ids`, if any: DRS's ConflictException then only means "wait"."""
    job_ids = sorted({str(c["jobId"]) for c in rt.ledger.list_termination_claims(execution_id) if c.get("jobId")})
    if not job_ids:
        return None
    wanted = set(server_ids)
    for job in rt.drs.describe_jobs(job_ids):
        if job.get("status") != "COMPLETED" and any(
            p.get("sourceServerID") in wanted for p in job.get("participatingServers", [])
        ):
            return str(job["jobID"])
    return None


def _retry_later(rt: Runtime, chunk: dict[str, Any], token: str, exc: DrsError, *, from_queue: bool) -> dict[str, Any]:
    """Throttled or a transient DRS failure: a Wait in the state machine, or parked when that is over."""
    tries = int(chunk.get("tries", 0)) + 1
    metrics.add_metric(name="DrsLaunchRetries", unit="Count", value=1)
    if from_queue or tries >= MAX_TRIES:
        capacity.release(rt, chunk["launchKey"])
        return _park(rt, chunk, token, reason=str(exc))
    _end_lease(rt, chunk, token)
    wait = min(MAX_WAIT_SECONDS, math.ceil(backoff_delay(tries, exc.retry_after)))
    logger.info("DRS launch retried", launch_key=chunk["launchKey"], error=exc.code, tries=tries, wait=wait)
    return {"outcome": "RETRY", "waitSeconds": max(1, wait), "chunk": {**chunk, "tries": tries}}


def chunk_failed(
    rt: Runtime,
    chunk: dict[str, Any],
    error: dict[str, Any],
    *,
    reason: str | None = None,
    launch_status: str = "FAILED",
) -> dict[str, Any]:
    """A chunk could not be launched (a permanent error, retries exhausted, or, with `launch_status`
    NOT_STARTED, a plan stopped while it waited for capacity): its servers end with `launch_status` and
    the reason, unless a call did start its job after all (then the job is followed)."""
    reason = reason or _reason(error)
    execution_id, wave_id, attempt, index = chunk["executionId"], chunk["waveId"], chunk["attempt"], chunk["index"]
    server_ids = [s["sourceServerID"] for s in chunk["servers"]]
    claimed = rt.ledger.claim_launch(
        execution_id, wave_id, attempt, index, launch_key=chunk["launchKey"], server_ids=server_ids
    )
    if claimed and claimed.get("jobId"):
        return _record_started(rt, chunk, str(claimed["jobId"]))
    since = (
        parse_iso(str((claimed or {}).get("startingAt") or (claimed or {}).get("claimedAt") or rt.ledger.now()))
        - CLAIM_LOOKBACK
    )
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, chunk["launchKey"], since)
    if found:  # the job did start (the task died after StartRecovery): follow it, do not fail it
        logger.warning("chunk reported failed but its job exists", launch_key=chunk["launchKey"], reason=reason)
        return _record_started(rt, chunk, found["jobID"])
    token = uuid.uuid4().hex
    held = rt.ledger.lease_launch(execution_id, wave_id, attempt, index, token=token, seconds=LEASE_SECONDS)
    if held is not None and held.get("jobId"):
        return _record_started(rt, chunk, str(held["jobId"]))
    if held is not None and held.get("status") == "STARTING":  # another call is starting it: it decides
        logger.warning("chunk reported failed while another call starts it", launch_key=chunk["launchKey"])
        return {"outcome": "BUSY", "jobId": None, "reason": reason}
    capacity.release(rt, chunk["launchKey"])
    job_id = f"not-started-{chunk['launchKey']}"
    logger.error(
        "DRS launch failed" if launch_status == "FAILED" else "DRS launch not started", wave_id=wave_id, reason=reason
    )
    metrics.add_metric(
        name="DrsLaunchFailures" if launch_status == "FAILED" else "DrsLaunchesCancelled", unit="Count", value=1
    )
    rt.ledger.complete_launch(execution_id, wave_id, attempt, index, job_id=None, status=launch_status, reason=reason)
    rt.ledger.add_job(execution_id, wave_id, job_id=job_id, launch_key=chunk["launchKey"], server_ids=server_ids)
    rt.bus.publish(
        DRSJobCompleted(
            execution_id=execution_id,
            plan_id=chunk["planId"],
            wave_id=wave_id,
            attempt=attempt,
            job_id=job_id,
            servers=[
                ServerLaunch(source_server_id=sid, launch_status=launch_status, reason=reason) for sid in server_ids
            ],
        )
    )
    return {"outcome": launch_status, "jobId": None, "failed": len(server_ids), "reason": reason}


def skip_if_stopped_before_launch(rt: Runtime, execution: dict[str, Any], wave: dict[str, Any], *, key: str) -> bool:
    """LAUNCHING -> SKIPPED ('not launched: plan stopped', skipped for the wave that stopped the plan) when
    `stopped_before_launch`; True when the wave is not to be judged."""
    if not stopped_before_launch(execution, wave):
        return False
    from orchestrator.steps.progress import close_plan_if_done, skip_wave

    skip_wave(
        rt,
        execution,
        wave["waveId"],
        reason=NOT_LAUNCHED_STOPPED,
        because_of=None,
        key=key,
        from_=[WaveStatus.LAUNCHING],
        skipped_for=execution.get("stoppedBy"),
    )
    logger.info("wave not launched: the plan stopped while it waited for DRS capacity", wave_id=wave["waveId"])
    close_plan_if_done(rt, execution["executionId"], key=key)
    return True


def stopped_before_launch(execution: dict[str, Any], wave: dict[str, Any]) -> bool:
    """The plan stopped (a STOP failure elsewhere, a cancel) while this wave's launches waited for DRS
    capacity, and none of its servers reached DRS: the wave did not run, it is SKIPPED (a retry of the
    wave that stopped the plan runs it again), not judged as if it had launched. A wave with any server
    launched, or failed by a DRS job, is judged from its servers (those never launched: NOT_STARTED)."""
    if execution.get("status") in RUNNABLE_EXECUTION:
        return False
    servers = list((wave.get("servers") or {}).values())
    not_started = [s for s in servers if s.get("launchStatus") == "NOT_STARTED"]
    reached_drs = [
        s
        for s in servers
        if s.get("launchStatus") == "LAUNCHED" or (s.get("launchStatus") == "FAILED" and s.get("jobId"))
    ]
    return bool(not_started) and not reached_drs


def _reason(error: dict[str, Any]) -> str:
    """A clear reason from the state machine's error: the DRS error message, not a stack trace."""
    cause = str(error.get("Cause", ""))
    try:
        import json

        parsed = json.loads(cause)
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            cause = str(parsed["errorMessage"])
    except ValueError:
        pass
    return f"{error.get('Error', 'Error')}: {cause}"[:1000]


# ---- the capacity queue ------------------------------------------------------------------------


def drain(rt: Runtime) -> dict[str, int]:
    """CapacityTick: start parked launches, oldest first, while they fit; tick again while any wait. A
    launch whose plan has stopped meanwhile is not started: its servers end NOT_STARTED, 'not launched:
    plan stopped' (a refused admission reconciles the capacity record with DRS first: `capacity.admit`)."""
    started = dropped = 0
    parked = rt.ledger.parked()
    for item in parked:
        chunk = dict(item["chunk"]) if isinstance(item["chunk"], dict) else _loads(item["chunk"])
        key = chunk["launchKey"]
        verdict = _still_wanted(rt, chunk)
        if verdict == "drop":
            rt.ledger.unpark(key)
            dropped += 1
            continue
        if verdict == "stop":
            result = chunk_failed(rt, chunk, {}, reason=NOT_LAUNCHED_STOPPED, launch_status="NOT_STARTED")
            if result["outcome"] != "BUSY":
                rt.ledger.unpark(key)
                dropped += 1
            continue
        try:
            result = start_job(rt, chunk, from_queue=True)
        except DrsError as exc:
            if exc.retryable:  # a read throttled past its retries (admission, the job lookup): it stays parked
                capacity.release(rt, key, unstarted_only=True)
                logger.warning(
                    "DRS throttled a parked launch: the next tick tries again", launch_key=key, error=str(exc)[:300]
                )
                break
            # permanent: fail the chunk, as the state machine would
            rt.ledger.unpark(key)
            chunk_failed(rt, chunk, {}, reason=f"{exc.code or type(exc).__name__}: {exc}")
            continue
        if result["outcome"] != "STARTED":
            break  # first come, first served: nothing overtakes the oldest parked launch
        rt.ledger.unpark(key)
        started += 1
    remaining = len(parked) - started - dropped
    if remaining > 0:
        capacity.schedule_tick(rt)
    logger.info("capacity tick", started=started, dropped=dropped, parked=remaining)
    return {"started": started, "dropped": dropped, "parked": remaining}


def _loads(text: str) -> dict[str, Any]:
    import json

    return dict(json.loads(text))


def _still_wanted(rt: Runtime, chunk: dict[str, Any]) -> str:
    """launch, drop (the wave moved on: retried or closed) or stop (the plan is stopping: not launched)."""
    wave = rt.ledger.get_wave(chunk["executionId"], chunk["waveId"])
    if (
        wave is None
        or wave.get("status") != WaveStatus.LAUNCHING
        or int(wave.get("attempt", 1)) != int(chunk["attempt"])
    ):
        return "drop"
    execution = rt.ledger.get_execution(chunk["executionId"]) or {}
    if execution.get("status") not in RUNNABLE_EXECUTION:
        return "stop"
    return "launch"


def is_retryable(exc: Exception) -> bool:
    return isinstance(exc, DrsError) and exc.retryable


__all__ = [
    "chunk_failed",
    "close_launch",
    "drain",
    "is_retryable",
    "prepare",
    "skip_if_stopped_before_launch",
    "start_job",
    "stopped_before_launch",
]
