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
  MAX_TRIES, or when the waits would grow too long for an Express execution, the chunk is parked instead;
- DROPPED: the chunk's wave attempt has moved on (failed, retried, its plan ended): nothing is launched.

Permanent DRS errors (validation, an uninitialised account, a conflict with a job that is not ours)
raise `DrsPermanentError`/`DrsConflict`; the state machine does not retry them: `chunk_failed` fails the
chunk's servers with the reason at once.

Nothing in a chunk is trusted (anyone allowed `lambda:InvokeFunction` may hand the function one):
`start_job` and `chunk_failed` check it against the ledger first (`orchestrator.steps.launch_checks`) and
raise `RefusedChunk`, before any write or DRS call, for a chunk the ledger does not back.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from events.envelope import InvalidEvent
from events.models import DRSJobCompleted, DRSJobStarted, PreLaunchDone, ServerLaunch, TerminationTick
from orchestrator.adapters.drs import (
    TAG_ATTEMPT,
    TAG_EXECUTION,
    TAG_LAUNCH_KEY,
    TAG_WAVE,
    DrsConflict,
    DrsError,
    DrsPermanentError,
    DrsQuotaExceeded,
    DrsThrottled,
    backoff_delay,
)
from orchestrator.adapters.ledger import LedgerError
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import drill_ttl_seconds, frozen_plan
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import Plan, cut_jobs
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.records.launches import Admission, ChunkServer, LaunchChunk, LaunchClaim, LaunchStatus
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerResult
from orchestrator.domain.status import RUNNABLE_EXECUTION, WaveStatus
from orchestrator.domain.targets import TargetUnavailable, pool_of
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import capacity
from orchestrator.steps.launch_checks import (
    RefusedChunk,
    check_claim,
    checked_chunk,
    is_drill,
    launch_key,
    parse_chunk,
    servers_to_launch,
)
from orchestrator.steps.launch_settings import apply_launch_settings, restore_launch_settings
from orchestrator.steps.post_launch import close_launch
from orchestrator.steps.references import unfinished_phase, wait_indexes
from orchestrator.steps.targets import wave_runtime, wave_target

CLAIM_LOOKBACK = timedelta(minutes=10)
MAX_TRIES = 6  # StartRecovery attempts inside one Express execution before the chunk is parked
MAX_WAIT_SECONDS = 60  # one Wait state at most (an Express execution lives 5 minutes)
LEASE_SECONDS = 90  # one call's right to StartRecovery: longer than the launch function's timeout (60 s)
NOT_LAUNCHED_STOPPED = "not launched: plan stopped"

Drained = Literal["started", "dropped", "passed", "blocked"]  # what a CapacityTick did with one parked launch


def _no_launch(reason: str) -> dict[str, Any]:
    """The state machine's answer when there is nothing to launch (its ResultSelector reads `chunks`)."""
    logger.info("nothing to launch", reason=reason)
    return {"proceed": False, "reason": reason, "chunks": []}


def prepare(rt: Runtime, detail: PreLaunchDone, event_id: str) -> dict[str, Any]:
    """PRE_LAUNCH -> LAUNCHING and the wave's jobs: `{proceed, reason?, chunks: [LaunchChunk]}` (the handler
    gives the state machine each chunk's JSON). `proceed` is false for a duplicate or stale event.
    (The preflight ran before the pre-launch scripts, in `pre_launch.on_wave_ready`.)"""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        return _no_launch("unknown execution")
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if wave is None:
        return _no_launch("unknown wave")
    plan = frozen_plan(execution)
    late = _late_for_attempt(rt, detail, wave, plan)
    if late is not None:
        return _no_launch(late)
    wanted = servers_to_launch(wave, plan.wave(detail.wave_id).server_ids)
    groups = cut_jobs(wanted, capacity.quotas(rt).job_size)
    if execution.status not in RUNNABLE_EXECUTION:
        from orchestrator.steps.progress import skip_wave_for_stop

        skip_wave_for_stop(rt, execution, detail.wave_id, from_=[WaveStatus.PRE_LAUNCH], key=event_id)
        return _no_launch(f"execution is {execution.status}")
    token = wave.launch_token or secrets.token_urlsafe(16)  # a wave reopened in its attempt keeps its token
    outcome = rt.ledger.transition_wave(
        detail.execution_id,
        detail.wave_id,
        from_=[WaveStatus.PRE_LAUNCH],
        to=WaveStatus.LAUNCHING,
        key=event_id,
        changes=WaveChanges(
            launch_started_at=rt.ledger.now(), jobs_expected=len(groups), jobs_done=0, launch_token=token
        ),
    )
    if not outcome.proceed:
        return _no_launch("duplicate or stale PreLaunchDone")
    if outcome is Outcome.REPLAY and wave.launch_token is None:  # the first delivery wrote a token of its own
        token = _written_token(rt, detail)
    if not groups:  # every server was left out (OPTIONAL servers that failed preflight): judge at once
        close_launch(rt, detail.execution_id, detail.plan_id, detail.wave_id, key=f"{event_id}:judge")
        return _no_launch("no server left to launch")
    _schedule_time_to_live(rt, execution, plan, detail)
    chunks = _chunks(detail, plan, wave, groups, drill=is_drill(execution), token=token)
    logger.info(
        "wave launching",
        wave_id=detail.wave_id,
        jobs=len(chunks),
        servers=len(wanted),
        replay=outcome is Outcome.REPLAY,
    )
    return {"proceed": True, "chunks": chunks}


def _written_token(rt: Runtime, detail: PreLaunchDone) -> str:
    """The launch token the delivery of `detail` that moved the wave to LAUNCHING wrote (a redelivery's)."""
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if wave is None or wave.launch_token is None:
        raise LedgerError(f"wave '{detail.wave_id}' is LAUNCHING without its launch token")
    return wave.launch_token


def _late_for_attempt(rt: Runtime, detail: PreLaunchDone, wave: WaveRecord, plan: Plan) -> str | None:
    """Why a PreLaunchDone of an earlier attempt than the wave's (a late redelivery: a later one is refused
    before, `check_references`) launches nothing: the current attempt's own pre-launch scripts have not all
    ended well. None for the wave's own attempt, or when they have (the wave launches, in its attempt)."""
    if detail.attempt == wave.attempt:
        return None
    steps = plan.wave(detail.wave_id).pre_launch
    unfinished = unfinished_phase(
        rt, detail.execution_id, detail.wave_id, wave.attempt, "PRE_LAUNCH", len(steps), wait_indexes(steps)
    )
    if unfinished is None:
        return None
    return f"PreLaunchDone of attempt {detail.attempt}: in attempt {wave.attempt}, pre-launch {unfinished}"


def _schedule_time_to_live(rt: Runtime, execution: ExecutionRecord, plan: Plan, detail: PreLaunchDone) -> None:
    """A drill with a time to live (its plan's or its StartPlan's `drillInstanceTtlSeconds`): its TIME_TO_LIVE tick,
    that long after this launch."""
    ttl = drill_ttl_seconds(execution)
    if not ttl:
        return
    rt.scheduler.at(
        schedule_name("drill-ttl", detail.execution_id, "1"),
        rt.clock.now() + timedelta(seconds=ttl),
        TerminationTick(execution_id=detail.execution_id, plan_id=detail.plan_id, reason="TIME_TO_LIVE", tick=1),
    )


def _chunks(
    detail: PreLaunchDone, plan: Plan, wave: WaveRecord, groups: list[list[str]], *, drill: bool, token: str
) -> list[LaunchChunk]:
    """One chunk per group of servers (a DRS job each), with each server's point-in-time snapshot and the
    attempt's launch token."""
    snapshots = {s.source_server_id: s.recovery_snapshot_id for s in plan.wave(detail.wave_id).servers}
    return [
        LaunchChunk(
            execution_id=detail.execution_id,
            plan_id=detail.plan_id,
            wave_id=detail.wave_id,
            attempt=wave.attempt,
            index=index,
            is_drill=drill,
            launch_key=launch_key(detail.execution_id, detail.wave_id, wave.attempt, index),
            launch_token=token,
            servers=tuple(ChunkServer(source_server_id=sid, recovery_snapshot_id=snapshots.get(sid)) for sid in group),
        )
        for index, group in enumerate(groups)
    ]


def _record_started(rt: Runtime, chunk: LaunchChunk, job_id: str) -> dict[str, Any]:
    rt.ledger.complete_launch(
        chunk.execution_id, chunk.wave_id, chunk.attempt, chunk.index, job_id=job_id, status=LaunchStatus.STARTED
    )
    capacity.note_job(rt, chunk.launch_key, job_id)
    rt.ledger.add_job(
        chunk.execution_id, chunk.wave_id, job_id=job_id, launch_key=chunk.launch_key, server_ids=chunk.server_ids
    )
    publish_job_started(rt, chunk, job_id)
    return {"outcome": "STARTED", "jobId": job_id, "launchKey": chunk.launch_key, "servers": len(chunk.servers)}


def publish_job_started(rt: Runtime, chunk: LaunchChunk, job_id: str) -> None:
    """DRSJobStarted for `chunk`'s servers in DRS job `job_id` (its own job, or a packed one: issue #19)."""
    rt.bus.publish(
        DRSJobStarted(
            execution_id=chunk.execution_id,
            plan_id=chunk.plan_id,
            wave_id=chunk.wave_id,
            attempt=chunk.attempt,
            job_id=job_id,
            launch_key=chunk.launch_key,
            source_server_ids=chunk.server_ids,
        )
    )


def _existing_job(rt: Runtime, chunk: LaunchChunk, claim: LaunchClaim) -> str | None:
    """The job a previous call for this launch started, if any: the claim's job id, or, when a call may
    have created a job it could not record (a crash, a timeout, a 500), DescribeJobs by launch-key tag."""
    if claim.job_id:
        return claim.job_id
    if not claim.called:
        return None  # no StartRecovery was ever called for this claim
    since = parse_iso(claim.since or rt.ledger.now()) - CLAIM_LOOKBACK
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, claim.job_tag, since)
    if found:
        logger.warning(
            "recovered a job started by a crashed attempt", launch_key=chunk.launch_key, job_id=found["jobID"]
        )
        metrics.add_metric(name="LaunchesRecovered", unit="Count", value=1)
        return str(found["jobID"])
    return None


def _end_lease(
    rt: Runtime,
    chunk: LaunchChunk,
    token: str,
    *,
    status: LaunchStatus = LaunchStatus.CLAIMED,
    park_reason: str | None = None,
) -> None:
    rt.ledger.end_launch_lease(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        token=token,
        status=status,
        park_reason=park_reason,
    )


def _park(rt: Runtime, chunk: LaunchChunk, token: str, *, reason: str) -> dict[str, Any]:
    _end_lease(rt, chunk, token, status=LaunchStatus.PARKED, park_reason=reason[:500])
    capacity.park(rt, chunk)
    return {"outcome": "PARKED", "launchKey": chunk.launch_key, "reason": reason}


def _busy(rt: Runtime, chunk: LaunchChunk, claim: LaunchClaim, *, from_queue: bool) -> dict[str, Any]:
    """Another call holds the launch's lease (it is calling StartRecovery now): come back when it has
    recorded its job, or when its lease is over (it died before DRS created one)."""
    until = parse_iso(claim.lease_until or rt.ledger.now())
    wait = max(1, min(MAX_WAIT_SECONDS, math.ceil((until - rt.clock.now()).total_seconds()) + 1))
    logger.info("another call is starting this launch", launch_key=chunk.launch_key, wait=wait)
    if from_queue:  # it stays parked: the next CapacityTick looks again
        return {"outcome": "BUSY", "launchKey": chunk.launch_key}
    retried = chunk.next_try()
    if retried.tries >= MAX_TRIES:  # the lease outlives this execution's patience: the capacity queue takes over
        capacity.park(rt, chunk)
        return {"outcome": "PARKED", "launchKey": chunk.launch_key, "reason": "another call is starting it"}
    return {"outcome": "RETRY", "waitSeconds": wait, "chunk": retried}


def start_job(rt: Runtime, chunk: LaunchChunk, *, from_queue: bool = False) -> dict[str, Any]:
    """Claim, lease, admit, then StartRecovery for one chunk of a wave; idempotent by launch key.

    Every path that launches (the wave launch state machine, its retries, a CapacityTick starting a
    parked launch, a RetryWave's new attempt) comes through here: the claim in the ledger says whether a
    StartRecovery may already have created the job (then it is found by its launch-key tag instead of
    started again), and the lease lets one call at a time call StartRecovery for the claim.
    `from_queue`: the CapacityTick starts a parked chunk (it does not queue behind itself, and a
    transient error leaves it parked instead of asking for a Wait).

    The answer: `{outcome: STARTED, jobId, launchKey, servers}`, `{outcome: PARKED, launchKey, reason}`,
    `{outcome: RETRY, waitSeconds, chunk}` (the chunk to call again with, as a LaunchChunk), `{outcome: BUSY,
    launchKey}`, `{outcome: FAILED, jobId: None, reason}` or `{outcome: DROPPED, launchKey, reason}` (its wave
    attempt has moved on: nothing launched). The chunk is checked against the ledger first
    (`launch_checks.check_chunk`): RefusedChunk, with nothing written or called, when the ledger does not back
    it (a forged direct invocation)."""
    stale, execution = checked_chunk(rt, chunk, action="start_job")
    if stale is not None:
        logger.info("launch no longer wanted: not started", launch_key=chunk.launch_key, reason=stale.reason)
        restore_launch_settings(rt, execution, chunk)  # applied by an earlier call that parked it, if any
        return {"outcome": "DROPPED", "launchKey": chunk.launch_key, "reason": stale.reason}
    rt = wave_runtime(rt, execution, chunk.wave_id)  # its servers, job and capacity pool are the wave's target's
    failback = failback_instances(execution, chunk.wave_id)  # StartFailbackLaunch of these recovery instances
    if rt.settings.drs_packing and not from_queue and failback is None:  # the packer starts it (issue #19)
        from orchestrator.steps.packer import gather

        return gather(rt, chunk)
    token = uuid.uuid4().hex
    existing = rt.ledger.claim_launch(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        launch_key=chunk.launch_key,
        server_ids=chunk.server_ids,
        lease=(token, LEASE_SECONDS),
    )
    if existing is not None:  # claimed before: its job, if a call made one, else the lease
        check_claim(chunk, existing, action="start_job")
        answer = _resume(rt, chunk, existing, token, from_queue=from_queue)
        if answer is not None:
            return answer
    if _admit(rt, chunk, token, from_queue=from_queue) is Admission.FULL:
        return _park(rt, chunk, token, reason="DRS quotas are in use")
    answer = _apply_settings(rt, chunk, execution, token, from_queue=from_queue)
    if answer is not None:
        return answer
    return _start_recovery(rt, chunk, token, from_queue=from_queue, failback=failback)


def failback_instances(execution: ExecutionRecord, wave_id: str) -> Mapping[str, str] | None:
    """The recovery instances (by source server id) a failback execution's wave launches back with
    StartFailbackLaunch; None for a wave that launches with StartRecovery (every other one)."""
    from orchestrator.domain.failback import FailbackPath
    from orchestrator.steps.failback import wave_design

    design = wave_design(execution, wave_id)
    return design.instances if design is not None and design.path is FailbackPath.FAILBACK_LAUNCH else None


def _apply_settings(
    rt: Runtime, chunk: LaunchChunk, execution: ExecutionRecord, token: str, *, from_queue: bool
) -> dict[str, Any] | None:
    """Apply the plan's launch settings to the chunk's servers (`launch_settings.apply_launch_settings`) while
    this call holds the lease, after admission, before StartRecovery. None: go on to StartRecovery. A throttled
    or transiently failing DRS or EC2 call retries later (the settings applied so far stay, recorded: the next
    call goes on from there); a permanent failure (a server another running execution holds, a call refused)
    gives the capacity and lease back and raises (the chunk fails, and `chunk_failed` restores what was
    applied)."""
    try:
        apply_launch_settings(rt, chunk, execution)
    except DrsError as exc:
        if exc.retryable:
            return _retry_later(rt, chunk, token, exc, from_queue=from_queue)
        capacity.release(rt, chunk.launch_key)
        _end_lease(rt, chunk, token)
        if isinstance(exc, DrsPermanentError):
            raise
        raise DrsPermanentError(str(exc), code=exc.code) from exc
    return None


def _resume(
    rt: Runtime, chunk: LaunchChunk, claim: LaunchClaim, token: str, *, from_queue: bool
) -> dict[str, Any] | None:
    """A launch claimed before: the job a call made for it, or else its lease. None when this call holds the
    lease now (it goes on to StartRecovery); else the answer (the job, the claim FAILED, or another call busy)."""
    job_id = _existing_job(rt, chunk, claim)
    if job_id:
        return _record_started(rt, chunk, job_id)
    held = rt.ledger.lease_launch(
        chunk.execution_id, chunk.wave_id, chunk.attempt, chunk.index, token=token, seconds=LEASE_SECONDS
    )
    if held is None:
        return None
    if held.job_id:  # the call that held it has recorded its job meanwhile
        return _record_started(rt, chunk, held.job_id)
    if held.status is LaunchStatus.FAILED:
        return {"outcome": "FAILED", "jobId": None, "reason": held.reason or "launch failed"}
    return _busy(rt, chunk, held, from_queue=from_queue)


def _admit(rt: Runtime, chunk: LaunchChunk, token: str, *, from_queue: bool) -> Admission:
    """Count the chunk's job in the shared DRS capacity (a refused admission reconciles with DRS: DescribeJobs,
    which may throttle past its retries; then the lease is given back, nothing was started)."""
    try:
        return capacity.admit(
            rt,
            chunk.launch_key,
            len(chunk.servers),
            ref=f"{chunk.execution_id}/{chunk.wave_id}",
            behind_queue=not from_queue,
        )
    except DrsError:
        _end_lease(rt, chunk, token)  # nothing was started: the next call need not wait for the lease
        raise


def _start_recovery(
    rt: Runtime, chunk: LaunchChunk, token: str, *, from_queue: bool, failback: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """StartRecovery for an admitted chunk whose lease this call holds, tagged with its launch key; for a failback
    wave of non-EC2 origins (`failback`: recovery instance by source server id), StartFailbackLaunch of the chunk's
    servers' recovery instances instead (the same tags; its job names the same source servers)."""
    tags = {
        TAG_LAUNCH_KEY: chunk.launch_key,
        TAG_EXECUTION: chunk.execution_id,
        TAG_WAVE: chunk.wave_id,
        TAG_ATTEMPT: str(chunk.attempt),
    }
    try:
        if failback is None:
            job = rt.drs.start_recovery(chunk.source_servers(), is_drill=chunk.is_drill, tags=tags)
        else:
            job = rt.drs.start_failback_launch([failback[sid] for sid in chunk.server_ids], tags=tags)
    except DrsConflict as exc:
        answer = _after_conflict(rt, chunk, token, exc, from_queue=from_queue)
        if answer is None:
            raise
        return answer
    except DrsQuotaExceeded as exc:  # jobs outside the orchestrator use the quotas too: wait, do not fail
        capacity.release(rt, chunk.launch_key)
        logger.warning("DRS refused the launch over its quotas: parked", launch_key=chunk.launch_key, error=str(exc))
        return _park(rt, chunk, token, reason=str(exc))
    except DrsError as exc:
        if not exc.retryable:
            capacity.release(rt, chunk.launch_key)
            _end_lease(rt, chunk, token)
            raise
        return _retry_later(rt, chunk, token, exc, from_queue=from_queue)
    metrics.add_metric(name="DrsJobsStarted", unit="Count", value=1)
    logger.info("DRS job started", wave_id=chunk.wave_id, job_id=job["jobID"], servers=len(chunk.servers))
    return _record_started(rt, chunk, job["jobID"])


def _after_conflict(
    rt: Runtime, chunk: LaunchChunk, token: str, exc: DrsConflict, *, from_queue: bool
) -> dict[str, Any] | None:
    """DRS answered ConflictException: our own job (a call that died after StartRecovery) is followed; a
    terminate job of this execution holding a server is waited for. None: a conflict with a job that is not
    ours (its capacity and the lease given back; the caller raises it)."""
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, chunk.launch_key, rt.clock.now() - CLAIM_LOOKBACK)
    if found:
        return _record_started(rt, chunk, found["jobID"])
    capacity.release(rt, chunk.launch_key)
    holder = our_termination_holding(rt, chunk.execution_id, chunk.server_ids)
    if holder:  # our own terminate job (a rollback) still holds a server: it ends soon, wait for it
        logger.info(
            "a terminate job of this execution holds a server: the launch waits",
            launch_key=chunk.launch_key,
            job_id=holder,
        )
        waiting = DrsThrottled(
            f"{exc} (terminate job {holder} of this execution: waiting for it to end)",
            code="ConflictException",
            retry_after=capacity.TICK_SECONDS,
        )
        return _retry_later(rt, chunk, token, waiting, from_queue=from_queue)
    _end_lease(rt, chunk, token)
    return None


def our_termination_holding(rt: Runtime, execution_id: str, server_ids: list[str]) -> str | None:
    """The id of a terminate job of this execution (a rollback, a cancel's clean-up) that is still running
    with one of `server_ids`, if any: DRS's ConflictException then only means "wait"."""
    job_ids = sorted({c.job_id for c in rt.ledger.termination_claims(execution_id) if c.job_id})
    return running_job_holding(rt, job_ids, server_ids)


def running_job_holding(rt: Runtime, job_ids: Sequence[str], server_ids: Iterable[str]) -> str | None:
    """The id of the first of `job_ids` DRS still runs (not COMPLETED) with one of `server_ids`, if any (no ids: no
    DRS call)."""
    if not job_ids:
        return None
    wanted = set(server_ids)
    for job in rt.drs.describe_jobs(list(job_ids)):
        if job.get("status") != "COMPLETED" and any(
            p.get("sourceServerID") in wanted for p in job.get("participatingServers", [])
        ):
            return str(job["jobID"])
    return None


def _retry_later(rt: Runtime, chunk: LaunchChunk, token: str, exc: DrsError, *, from_queue: bool) -> dict[str, Any]:
    """Throttled or a transient DRS failure: a Wait in the state machine, or parked when that is over."""
    retried = chunk.next_try()
    metrics.add_metric(name="DrsLaunchRetries", unit="Count", value=1)
    if from_queue or retried.tries >= MAX_TRIES:
        capacity.release(rt, chunk.launch_key)
        return _park(rt, chunk, token, reason=str(exc))
    _end_lease(rt, chunk, token)
    wait = min(MAX_WAIT_SECONDS, math.ceil(backoff_delay(retried.tries, exc.retry_after)))
    logger.info("DRS launch retried", launch_key=chunk.launch_key, error=exc.code, tries=retried.tries, wait=wait)
    return {"outcome": "RETRY", "waitSeconds": max(1, wait), "chunk": retried}


def chunk_failed(
    rt: Runtime,
    chunk: LaunchChunk,
    error: dict[str, Any],
    *,
    reason: str | None = None,
    launch_status: Literal["FAILED", "NOT_STARTED"] = "FAILED",
) -> dict[str, Any]:
    """A chunk could not be launched (a permanent error, retries exhausted, or, with `launch_status`
    NOT_STARTED, a plan stopped while it waited for capacity): its servers end with `launch_status` and
    the reason, unless a call did start its job after all (then the job is followed). RefusedChunk, with nothing
    written or called, when the ledger does not back the chunk (`launch_checks.check_chunk`; a genuine chunk
    whose wave has moved on in its attempt is recorded as before; one of an earlier attempt is DROPPED with
    nothing written: its job would be counted on the wave's current attempt)."""
    stale, execution = checked_chunk(rt, chunk, action="chunk_failed")
    if stale is not None and stale.attempt_over:
        logger.info("chunk of an earlier attempt reported failed: dropped", launch_key=chunk.launch_key)
        restore_launch_settings(rt, execution, chunk)  # its own settings only (the ledger's record of its key)
        return {"outcome": "DROPPED", "jobId": None, "launchKey": chunk.launch_key, "reason": stale.reason}
    reason = reason or _reason(error)
    target = wave_target(execution, chunk.wave_id)
    try:
        rt = rt.at(target)  # its job (if any) and its capacity are in the wave's target
    except TargetUnavailable as exc:  # STS refuses the role now: nothing can be read or launched there
        return _failed_unreachable(
            rt, chunk, exc, pool=pool_of(target, rt.settings.home), reason=reason, launch_status=launch_status
        )
    answer = _started_after_all(rt, chunk, reason)
    if answer is not None:
        return answer
    restore_launch_settings(rt, execution, chunk)  # the launch will not happen: nothing stays applied
    capacity.release(rt, chunk.launch_key)
    return _record_failed(rt, chunk, reason=reason, launch_status=launch_status)


def _failed_unreachable(
    rt: Runtime,
    chunk: LaunchChunk,
    refused: TargetUnavailable,
    *,
    pool: str | None,
    reason: str,
    launch_status: Literal["FAILED", "NOT_STARTED"],
) -> dict[str, Any]:
    """A chunk reported failed whose wave target STS refuses now (the role was changed since the wave's preflight):
    no job can be looked for or followed there; its capacity in the target's pool is given back and its servers end
    with the reason and the refusal (launch settings it applied there stay, logged: they cannot be restored)."""
    rt.ledger.capacity_release(chunk.launch_key, pool=pool)
    logger.error("wave target refused: chunk failed without a DRS lookup", role_arn=refused.role_arn, code=refused.code)
    return _record_failed(rt, chunk, reason=f"{reason}; {refused.reason}"[:1000], launch_status=launch_status)


def _record_failed(
    rt: Runtime, chunk: LaunchChunk, *, reason: str, launch_status: Literal["FAILED", "NOT_STARTED"]
) -> dict[str, Any]:
    """The chunk's servers end with `launch_status` and `reason` (no DRS job: a placeholder job on the wave)."""
    job_id = f"not-started-{chunk.launch_key}"
    failed = launch_status == "FAILED"
    logger.error("DRS launch failed" if failed else "DRS launch not started", wave_id=chunk.wave_id, reason=reason)
    metrics.add_metric(name="DrsLaunchFailures" if failed else "DrsLaunchesCancelled", unit="Count", value=1)
    rt.ledger.complete_launch(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        job_id=None,
        status=LaunchStatus(launch_status),
        reason=reason,
    )
    rt.ledger.add_job(
        chunk.execution_id, chunk.wave_id, job_id=job_id, launch_key=chunk.launch_key, server_ids=chunk.server_ids
    )
    rt.bus.publish(
        DRSJobCompleted(
            execution_id=chunk.execution_id,
            plan_id=chunk.plan_id,
            wave_id=chunk.wave_id,
            attempt=chunk.attempt,
            job_id=job_id,
            servers=[
                ServerLaunch(source_server_id=sid, launch_status=launch_status, reason=reason)
                for sid in chunk.server_ids
            ],
        )
    )
    return {"outcome": launch_status, "jobId": None, "failed": len(chunk.servers), "reason": reason}


def _started_after_all(rt: Runtime, chunk: LaunchChunk, reason: str) -> dict[str, Any] | None:
    """A chunk reported failed whose job a call did start (its claim's job, or found by its tag: the task died
    after StartRecovery): that job is followed. BUSY while another call is starting it (that call decides).
    None: the chunk is to be failed (this call holds its lease, or nobody does)."""
    claimed = rt.ledger.claim_launch(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        launch_key=chunk.launch_key,
        server_ids=chunk.server_ids,
    )
    if claimed is not None and claimed.job_id:
        return _record_started(rt, chunk, claimed.job_id)
    since = parse_iso((claimed.since if claimed is not None else None) or rt.ledger.now()) - CLAIM_LOOKBACK
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, claimed.job_tag if claimed else chunk.launch_key, since)
    if found:  # the job did start (the task died after StartRecovery): follow it, do not fail it
        logger.warning("chunk reported failed but its job exists", launch_key=chunk.launch_key, reason=reason)
        return _record_started(rt, chunk, found["jobID"])
    held = rt.ledger.lease_launch(
        chunk.execution_id, chunk.wave_id, chunk.attempt, chunk.index, token=uuid.uuid4().hex, seconds=LEASE_SECONDS
    )
    if held is not None and held.job_id:
        return _record_started(rt, chunk, held.job_id)
    if held is not None and held.status is LaunchStatus.STARTING:  # another call is starting it: it decides
        logger.warning("chunk reported failed while another call starts it", launch_key=chunk.launch_key)
        return {"outcome": "BUSY", "jobId": None, "reason": reason}
    return None


def skip_if_stopped_before_launch(
    rt: Runtime, execution: ExecutionRecord, wave_id: str, servers: Mapping[str, ServerResult], *, key: str
) -> bool:
    """LAUNCHING -> SKIPPED ('not launched: plan stopped', skipped for the wave that stopped the plan) when
    `stopped_before_launch`; True when the wave is not to be judged. `servers`: the wave's server results."""
    if not stopped_before_launch(execution, servers):
        return False
    from orchestrator.steps.progress import close_plan_if_done, skip_wave

    skip_wave(
        rt,
        execution,
        wave_id,
        reason=NOT_LAUNCHED_STOPPED,
        because_of=None,
        key=key,
        from_=[WaveStatus.LAUNCHING],
        skipped_for=execution.stopped_by,
    )
    logger.info("wave not launched: the plan stopped while it waited for DRS capacity", wave_id=wave_id)
    close_plan_if_done(rt, execution.execution_id, key=key)
    return True


def stopped_before_launch(execution: ExecutionRecord, servers: Mapping[str, ServerResult]) -> bool:
    """The plan stopped (a STOP failure elsewhere, a cancel) while this wave's launches waited for DRS
    capacity, and none of its servers reached DRS: the wave did not run, it is SKIPPED (a retry of the
    wave that stopped the plan runs it again), not judged as if it had launched. A wave with any server
    launched, or failed by a DRS job, is judged from its servers (those never launched: NOT_STARTED)."""
    if execution.status in RUNNABLE_EXECUTION:
        return False
    results = list(servers.values())
    not_started = [s for s in results if s.launch_status is ServerLaunchStatus.NOT_STARTED]
    reached_drs = [s for s in results if s.launched or (s.launch_status is ServerLaunchStatus.FAILED and s.job_id)]
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


# ---- the state machine's JSON ------------------------------------------------------------------


def chunk_from_input(payload: Any, *, action: str = "start_job") -> LaunchChunk:
    """The chunk a task of the wave launch state machine is given (its JSON: `LaunchChunk.from_payload`), checked
    field by field: RefusedChunk when it is not a chunk's JSON (`launch_checks.parse_chunk`)."""
    return parse_chunk(payload, action=action)


def task_output(answer: dict[str, Any]) -> dict[str, Any]:
    """A task's answer (`prepare`, `start_job`, `chunk_failed`) as the state machine reads it: each chunk as its
    JSON (`LaunchChunk.payload`; infra/wave_launch.asl.json passes `chunks` to the Map and `chunk` to NextTry)."""
    output = dict(answer)
    if "chunks" in output:
        output["chunks"] = [chunk.payload() for chunk in output["chunks"]]
    if isinstance(output.get("chunk"), LaunchChunk):
        output["chunk"] = output["chunk"].payload()
    return output


# ---- the capacity queue ------------------------------------------------------------------------


def drain(rt: Runtime) -> dict[str, int]:
    """CapacityTick: start parked launches, oldest first, while they fit; tick again while any wait. A
    launch whose plan has stopped meanwhile is not started: its servers end NOT_STARTED, 'not launched:
    plan stopped' (a refused admission reconciles the capacity record with DRS first: `capacity.admit`)."""
    if rt.settings.drs_packing:
        from orchestrator.steps.packer import drain_packed

        return drain_packed(rt)
    started = dropped = remaining = 0
    reachable, unreachable = capacity.pools(rt)
    fail_unreachable(rt, unreachable)
    for there in reachable:  # each pool's queue, first come, first served within it
        parked = there.ledger.parked(pool=capacity.pool(there))
        done: Counter[Drained] = Counter()
        for entry in parked:
            drained = _drain_checked(there, entry.chunk)
            if drained == "blocked":
                break  # first come, first served: nothing overtakes the oldest parked launch
            done[drained] += 1
        started, dropped = started + done["started"], dropped + done["dropped"]
        remaining += len(parked) - done["started"] - done["dropped"]
    if remaining > 0:
        capacity.schedule_tick(rt)
    logger.info("capacity tick", started=started, dropped=dropped, parked=remaining)
    return {"started": started, "dropped": dropped, "parked": remaining}


def fail_unreachable(rt: Runtime, unreachable: list[tuple[Target, TargetUnavailable]]) -> int:
    """The parked launches of each wave target whose role STS refuses now (changed or revoked since the wave's
    preflight): no tick could ever start them, so each fails (`chunk_failed`: its servers end FAILED with a reason
    naming the role and the account, its wave fails) and leaves the queue, instead of leaving its wave LAUNCHING for
    ever. A launch another call holds stays for the next tick. Returns how many failed."""
    failed = 0
    for target, refused in unreachable:
        pool = pool_of(target, rt.settings.home)
        for entry in rt.ledger.parked(pool=pool):
            ended = chunk_failed(rt, entry.chunk, {}, reason=f"not launched: {refused.reason}"[:1000])
            if ended["outcome"] != "BUSY":
                rt.ledger.unpark(entry.chunk.launch_key, pool=pool)
                failed += 1
    return failed


def _drain_checked(rt: Runtime, chunk: LaunchChunk) -> Drained:
    """`_drain_one`, and a parked chunk the ledger does not back is taken off the queue, logged and counted."""
    try:
        return _drain_one(rt, chunk)
    except RefusedChunk as exc:
        note_refused(exc, source="capacity queue", launch_key=chunk.launch_key)
        rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt))
        return "dropped"


def note_refused(exc: InvalidEvent, **keys: Any) -> None:
    """Log (structured) and count (`InvalidEvents`, alarmed) an input refused because it can never be valid."""
    logger.error("invalid input refused", error=str(exc), **keys)
    metrics.add_metric(name="InvalidEvents", unit="Count", value=1)


def _drain_one(rt: Runtime, chunk: LaunchChunk) -> Drained:
    """One parked launch on a CapacityTick: started (off the queue), dropped (off the queue: its wave moved
    on, or its plan stopped and its servers ended NOT_STARTED), passed (failed for good, or another call is
    deciding it: the next one may go) or blocked (no room, or DRS throttled: it stays first in the queue)."""
    key = chunk.launch_key
    verdict = still_wanted(rt, chunk)
    if verdict == "drop":
        execution = rt.ledger.execution(chunk.execution_id)
        if execution is not None:  # the wave moved on while it waited: what it applied, if anything, goes back
            restore_launch_settings(rt, execution, chunk)
        rt.ledger.unpark(key, pool=capacity.pool(rt))
        return "dropped"
    if verdict == "stop":
        result = chunk_failed(rt, chunk, {}, reason=NOT_LAUNCHED_STOPPED, launch_status="NOT_STARTED")
        if result["outcome"] == "BUSY":
            return "passed"
        rt.ledger.unpark(key, pool=capacity.pool(rt))
        return "dropped"
    try:
        result = start_job(rt, chunk, from_queue=True)
    except DrsError as exc:
        if exc.retryable:  # a read throttled past its retries (admission, the job lookup): it stays parked
            capacity.release(rt, key, unstarted_only=True)
            logger.warning(
                "DRS throttled a parked launch: the next tick tries again", launch_key=key, error=str(exc)[:300]
            )
            return "blocked"
        # permanent: fail the chunk, as the state machine would
        rt.ledger.unpark(key, pool=capacity.pool(rt))
        chunk_failed(rt, chunk, {}, reason=f"{exc.code or type(exc).__name__}: {exc}")
        return "passed"
    if result["outcome"] not in ("STARTED", "DROPPED"):
        return "blocked"
    rt.ledger.unpark(key, pool=capacity.pool(rt))
    return "started" if result["outcome"] == "STARTED" else "dropped"


def still_wanted(rt: Runtime, chunk: LaunchChunk) -> str:
    """launch, drop (the wave moved on: retried or closed) or stop (the plan is stopping: not launched)."""
    wave = rt.ledger.wave(chunk.execution_id, chunk.wave_id)
    if wave is None or wave.status != WaveStatus.LAUNCHING or wave.attempt != chunk.attempt:
        return "drop"
    execution = rt.ledger.execution(chunk.execution_id)
    if execution is None or execution.status not in RUNNABLE_EXECUTION:
        return "stop"
    return "launch"


def is_retryable(exc: Exception) -> bool:
    return isinstance(exc, DrsError) and exc.retryable


__all__ = [
    "RefusedChunk",
    "chunk_failed",
    "chunk_from_input",
    "close_launch",
    "drain",
    "is_retryable",
    "launch_key",
    "note_refused",
    "our_termination_holding",
    "prepare",
    "skip_if_stopped_before_launch",
    "start_job",
    "still_wanted",
    "stopped_before_launch",
    "task_output",
]
