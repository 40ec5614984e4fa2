"""Terminating recovery instances: a failed wave's rollback, a drill's time to live, a drill cancelled with
`terminateDrillInstances`, `drs-orch cleanup`.

Only instances our own jobs launched are terminated: DescribeRecoveryInstances of the servers of the
execution's launches (the ledger's launch claims, of one wave attempt for a rollback), kept when their
`jobID` is one of those launches' jobs and they are not already shutting down.

Each TerminateRecoveryInstances call is claimed in the ledger first, per batch of instances (`TERMJOB#`
items, keyed by a digest of the batch), like a launch: the claim is leased and marked STARTING before the
call, so a duplicate event, a crash after the call or a concurrent clean-up finds the terminate job (the
claim's job id, or DescribeJobs: a TERMINATE job whose participating recovery instances are exactly the
batch, since TerminateRecoveryInstances takes no tags) instead of calling again. A terminate job counts
against the DRS quotas like a launch: it is admitted in the shared capacity record first (and released
when the job is seen to end). A running terminate job is watched by TerminationTicks (every 15 s): when
it has ended, its record gets what it terminated and what it did not, with DRS's reason from the job
log (an instance DRS failed to terminate is tried again, at most MAX_TERMINATE_TRIES jobs), and
RecoveryInstancesTerminated names only what it did terminate. When there is no room, DRS throttles or fails
transiently, or another call is terminating the batch now, the work comes back on a TerminationTick
after a backoff (exponential with full jitter, never sooner than DRS's `retryAfterSeconds`): nothing
sleeps in a function, and nothing is dead-lettered. A termination still deferred MAX_WAIT after its first
deferral is given up and recorded with its reason (the instances named), for an operator's
`drs-orch cleanup`.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from events.models import PlanCancelled, RecoveryInstancesTerminated, TerminationTick, WaveFailed
from orchestrator.adapters.bus import PublishError
from orchestrator.adapters.drs import DrsConflict, DrsError, DrsQuotaExceeded
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import drill_ttl_seconds, frozen_plan
from orchestrator.domain.plan import Rollback, Target
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.launches import Admission, LaunchClaim
from orchestrator.domain.records.terminations import (
    NotTerminated,
    TerminationClaim,
    TerminationReason,
    TerminationRecord,
)
from orchestrator.domain.status import EXECUTION_FINAL, WaveStatus
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import capacity
from orchestrator.steps.targets import wave_target, waves_by_target

GONE = frozenset({"SHUTTING-DOWN", "TERMINATED", "STOPPING"})
RETRY_SECONDS = 15  # no DRS capacity now: the shortest wait before trying again
TTL_RECHECK_SECONDS = 300
LEASE_SECONDS = 90  # one call's right to TerminateRecoveryInstances: longer than the function's timeout
LOOKBACK = timedelta(minutes=10)  # DescribeJobs from this long before the first call (clock skew)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0
MAX_WAIT = timedelta(hours=6)  # a termination deferred this long after its first deferral is given up
MAX_TERMINATE_TRIES = 3  # terminate jobs that failed to terminate one instance before it is left to an operator
WATCH_SECONDS = 15  # a running terminate job is looked at again this often
Reason = TerminationReason


@dataclass
class Termination:
    instance_ids: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    deferred: bool = False  # something was left to do later (no DRS capacity, throttled, busy)
    deferred_reason: str | None = None
    wait_seconds: float = RETRY_SECONDS  # when deferred: the least wait before trying again
    refused: str | None = None
    unannounced: str | None = None  # why RecoveryInstancesTerminated could not be published (best effort)
    pending: bool = False  # a terminate job still runs: its outcome is recorded (and announced) when it ends


class _Deferred(Exception):  # a control-flow signal, not an error
    """The batch cannot be terminated now; try again in at least `seconds`."""

    def __init__(self, reason: str, seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


def termination_key(batch: list[str]) -> str:
    """The claim and capacity key of one TerminateRecoveryInstances call for `batch`."""
    return "term-" + hashlib.sha256("|".join(sorted(batch)).encode()).hexdigest()[:32]


def _our_instances(
    rt: Runtime,
    execution_id: str,
    wave_id: str | None,
    attempt: int | None = None,
    within: Collection[str] | None = None,
) -> list[str]:
    """The running recovery instances the execution's own launches created (of `wave_id`, and of that wave
    `attempt`; None: of every wave, or of the waves `within`: those of one target, whose DRS `rt` is): the launch
    claims in the ledger hold each launch's job id and servers."""
    launches = [
        launch
        for launch in rt.ledger.launches(execution_id, wave_id)
        if _ours(launch, wave_id, attempt) and (within is None or launch.wave_id in within)
    ]
    job_ids = {launch.job_id for launch in launches}
    servers = sorted({sid for launch in launches for sid in launch.server_ids})
    if not servers:  # (no launch with its job, or none with servers)
        return []
    found = rt.drs.describe_recovery_instances(source_server_ids=servers)
    return sorted(i["recoveryInstanceID"] for i in found if i.get("jobID") in job_ids and _up(i))


def _ours(launch: LaunchClaim, wave_id: str | None, attempt: int | None) -> bool:
    """A launch that started its job, of wave `wave_id` and its `attempt` (None: of any)."""
    return bool(launch.job_id) and wave_id in (None, launch.wave_id) and attempt in (None, launch.attempt)


def _up(instance: dict[str, Any]) -> bool:
    """A recovery instance (DescribeRecoveryInstances) whose EC2 instance is not shutting down or gone."""
    return instance.get("ec2InstanceState") not in GONE


def _existing_termination(rt: Runtime, claim: TerminationClaim, batch: list[str]) -> tuple[str, bool] | None:
    """The terminate job an earlier call for this batch started, with whether it is still to be recorded
    (None: there is none, or it ended without terminating them, so the batch may be terminated again)."""
    if claim.job_id:
        return _known_termination(rt, claim, claim.job_id, batch)
    if not claim.called:
        return None
    since = parse_iso(claim.since or rt.ledger.now()) - LOOKBACK
    found = rt.drs.find_terminate_job(batch, since)
    if found is None:
        return None
    job_id = str(found["jobID"])
    logger.warning("recovered a terminate job started by a crashed call", job_id=job_id)
    metrics.add_metric(name="TerminationsRecovered", unit="Count", value=1)
    rt.ledger.complete_termination(claim.execution_id, claim.termination_key, job_id=job_id)
    capacity.note_job(rt, claim.termination_key, job_id)
    return job_id, True


def _known_termination(rt: Runtime, claim: TerminationClaim, job_id: str, batch: list[str]) -> tuple[str, bool] | None:
    """The claim's terminate job `job_id`, with whether it is still to be recorded; None when that job ended
    without terminating its instances and was settled: the claim is reopened (once) for another job."""
    jobs = rt.drs.describe_jobs([job_id])
    if (
        claim.settled_at
        and _ended_undone(jobs)
        and rt.ledger.reclaim_termination(claim.execution_id, claim.termination_key, failed_job_id=job_id)
    ):
        logger.warning(
            "a terminate job ended without terminating its instances: terminating again",
            job_id=job_id,
            instances=len(batch),
        )
        return None
    return job_id, not claim.recorded_at


def _ended_undone(jobs: list[dict[str, Any]]) -> bool:
    """The (one) terminate job of `jobs` has ended with some of its instances not terminated."""
    return (
        bool(jobs)
        and jobs[0].get("status") == "COMPLETED"
        and any(p.get("launchStatus") != "TERMINATED" for p in jobs[0].get("participatingServers", []))
    )


def _terminate_job(rt: Runtime, execution_id: str, batch: list[str], ref: str) -> tuple[str, bool]:
    """One TerminateRecoveryInstances job for `batch`, claimed in the ledger and admitted in the DRS
    capacity record first. Returns its job id and whether this call is the first to report it (False: an
    earlier call started and recorded it). Raises `_Deferred` when it cannot be done now, and DrsConflict
    when DRS says some of the batch is in a terminate job already (the capacity this call took is given
    back; a job an earlier call started keeps its own until the reconcile sees it end)."""
    key = termination_key(batch)
    claim = rt.ledger.claim_termination(execution_id, key, instance_ids=batch, ref=ref)
    if claim is not None:
        found = _existing_termination(rt, claim, batch)
        if found is not None:
            return found
    token = uuid.uuid4().hex
    held = rt.ledger.lease_termination(execution_id, key, token=token, seconds=LEASE_SECONDS)
    if held is not None:
        if held.job_id:
            return held.job_id, not held.recorded_at
        until = parse_iso(held.lease_until or rt.ledger.now())
        raise _Deferred(
            "another call is terminating these instances now", max(1.0, (until - rt.clock.now()).total_seconds() + 1)
        )
    admission = capacity.admit(rt, key, len(batch), ref=ref, kind="TERMINATE", behind_queue=False)
    if admission is Admission.FULL:
        rt.ledger.end_termination_lease(execution_id, key, token=token)
        raise _Deferred("DRS quotas are in use", RETRY_SECONDS)
    job_id = _call_terminate(rt, execution_id, batch, key=key, token=token, admission=admission)
    rt.ledger.complete_termination(execution_id, key, job_id=job_id)
    capacity.note_job(rt, key, job_id)  # released by the capacity reconcile once it ends
    return job_id, True


def _call_terminate(
    rt: Runtime, execution_id: str, batch: list[str], *, key: str, token: str, admission: Admission
) -> str:
    """TerminateRecoveryInstances for `batch` (this call holds its claim's lease, and `admission`): the job id.
    A DRS error gives back the capacity this call took and the lease; `_Deferred` when it is worth trying
    again later (no quota, throttled, a 500), else the error is raised."""
    try:
        return str(rt.drs.terminate_recovery_instances(batch)["jobID"])
    except DrsError as exc:
        if admission is Admission.ADMITTED:
            capacity.release(rt, key, unstarted_only=True)
        rt.ledger.end_termination_lease(execution_id, key, token=token)
        if isinstance(exc, DrsQuotaExceeded):  # jobs outside the orchestrator use the quotas too
            raise _Deferred(str(exc), RETRY_SECONDS) from exc
        if exc.retryable:  # throttled, or a 500 (a job it may have created is found by the next call)
            metrics.add_metric(name="TerminationsThrottled", unit="Count", value=1)
            raise _Deferred(str(exc), max(1.0, exc.retry_after or 0.0)) from exc
        raise


def _unreported(rt: Runtime, execution_id: str, ref: str) -> list[tuple[list[str], str]]:
    """Terminate jobs an earlier call of the same scope (`ref`) started but did not record (it died after
    TerminateRecoveryInstances): found by their claim, so the record and the capacity count are right even
    when their instances, shutting down by now, are no longer selected."""
    found: list[tuple[list[str], str]] = []
    for claim in rt.ledger.termination_claims(execution_id):
        if claim.ref != ref or claim.recorded_at or not (claim.job_id or claim.called):
            continue
        batch = list(claim.instance_ids)
        existing = _existing_termination(rt, claim, batch)
        if existing is not None and existing[1]:
            found.append((batch, existing[0]))
    return found


def _terminate_jobs(rt: Runtime, execution_id: str, batch: list[str], ref: str) -> list[tuple[list[str], str, bool]]:
    """Terminate `batch` in as few jobs as DRS takes: when some of it is in a terminate job already (a
    duplicate), each half is tried again, down to the single instances DRS refuses, so a few instances
    already terminating cost a few extra jobs, not one per instance. Raises `_Deferred` (what was done
    before it is lost to this call's result but kept in the claims, so the next call reports it)."""
    try:
        job_id, fresh = _terminate_job(rt, execution_id, batch, ref)
        return [(batch, job_id, fresh)]
    except DrsConflict as exc:
        if exc.resource_type == "SOURCE_SERVER":
            # the instance's source server is in a launch job still running (a packed job other waves share: issue
            # #19): not "already terminating", so the whole termination waits for that job instead of skipping it
            raise _Deferred(f"{exc} (terminated once that job has ended)", RETRY_SECONDS) from exc
        if len(batch) == 1:
            return []
    half = len(batch) // 2
    return _terminate_jobs(rt, execution_id, batch[:half], ref) + _terminate_jobs(rt, execution_id, batch[half:], ref)


def terminate(
    rt: Runtime,
    execution: ExecutionRecord,
    *,
    reason: Reason,
    wave_id: str | None = None,
    attempt: int | None = None,
    announce_best_effort: bool = False,
) -> Termination:
    """Terminate the recovery instances the execution (or one wave attempt of it) launched and still runs.

    First settles the execution's terminate jobs that have ended (`_settle`); then asks DRS to terminate
    what still runs (but not an instance DRS failed to terminate MAX_TERMINATE_TRIES times) and records
    what it asked. RecoveryInstancesTerminated goes out when a job has ended, naming what it did terminate;
    `pending` in the result says a job still runs (the caller watches it with a TerminationTick).
    `announce_best_effort` (an operator's `drs-orch cleanup`, which does not wait for the jobs): what was
    asked is announced at once, and a publishing failure is reported in the result instead of raised (the
    bus takes orchestrator events only from the orchestrator's roles; the ledger records it either way)."""
    result = Termination()
    recorded: list[str] = []  # the claims of the jobs reported in `result`
    try:
        _ask(rt, execution, result, recorded, wave_id=wave_id, attempt=attempt)
    except _Deferred as deferred:
        result.deferred, result.deferred_reason, result.wait_seconds = True, deferred.reason, deferred.seconds
        logger.info(
            "termination deferred", reason=reason, wave_id=wave_id, why=deferred.reason, wait_seconds=deferred.seconds
        )
    except DrsError as exc:  # a read (DescribeJobs, DescribeRecoveryInstances) still throttled after its retries
        if not exc.retryable:
            raise
        result.deferred, result.deferred_reason = True, inert(str(exc))
        result.wait_seconds = max(float(RETRY_SECONDS), exc.retry_after or 0.0)
        logger.info("termination deferred", reason=reason, wave_id=wave_id, why=str(exc))
    if result.instance_ids:
        _record_asked(
            rt,
            execution,
            result,
            recorded,
            reason=reason,
            wave_id=wave_id,
            attempt=attempt,
            announce_best_effort=announce_best_effort,
        )
    return result


def _ask(
    rt: Runtime,
    execution: ExecutionRecord,
    result: Termination,
    recorded: list[str],
    *,
    wave_id: str | None,
    attempt: int | None,
) -> None:
    """Report the terminate jobs an earlier call started and did not record, settle those that have ended,
    then terminate what still runs, in batches of the DRS job size; each job is added to `result` (and its
    claim's key to `recorded`) once, as it is found. Raises `_Deferred`, or a DrsError a read was answered."""
    execution_id = execution.execution_id

    def report(instance_ids: list[str], job_id: str, fresh: bool) -> None:
        key = termination_key(instance_ids)
        if fresh and key not in recorded:
            result.instance_ids.extend(instance_ids)
            result.job_ids.append(job_id)
            recorded.append(key)

    scopes = _scopes(rt, execution, wave_id)  # one per wave target (a plan without targets: the own account)
    for there, _, ref in scopes:
        for instance_ids, job_id in _unreported(there, execution_id, ref):
            report(instance_ids, job_id, True)
    result.pending, given_up = _settle(rt, execution)
    for there, waves, ref in scopes:
        instances = [i for i in _our_instances(there, execution_id, wave_id, attempt, waves) if i not in given_up]
        size = capacity.quotas(there).job_size
        for start in range(0, len(instances), size):
            batch = instances[start : start + size]
            for instance_ids, job_id, fresh in _terminate_jobs(there, execution_id, batch, ref):
                report(instance_ids, job_id, fresh)


def _scopes(
    rt: Runtime, execution: ExecutionRecord, wave_id: str | None
) -> list[tuple[Runtime, list[str] | None, str]]:
    """Where to terminate: (the runtime of a target, its waves, the claims' ref) per wave target. The own account's
    ref is `<execution>/<wave or *>` as it always was; a target's adds `@<account>/<region>` (`_target_of_ref`), so
    a claim is settled in the account and Region its job runs in."""
    base = f"{execution.execution_id}/{wave_id or '*'}"
    if wave_id is not None:
        target = wave_target(execution, wave_id)
        return [(rt.at(target), None, _ref(base, target))]
    groups = waves_by_target(frozen_plan(execution))
    if len(groups) == 1 and groups[0][0] is None:
        return [(rt, None, base)]
    return [(rt.at(target), waves, _ref(base, target)) for target, waves in groups]


def _ref(base: str, target: Target | None) -> str:
    return f"{base}@{target.label}" if target is not None else base


def _target_of_ref(execution: ExecutionRecord, ref: str | None) -> Target | None:
    """The target a claim's ref names (None: the own account)."""
    _, at, label = (ref or "").partition("@")
    if not at:
        return None
    return next((w.target for w in frozen_plan(execution).waves if w.target and w.target.label == label), None)


def _record_asked(
    rt: Runtime,
    execution: ExecutionRecord,
    result: Termination,
    recorded: list[str],
    *,
    reason: Reason,
    wave_id: str | None,
    attempt: int | None,
    announce_best_effort: bool,
) -> None:
    """Record what `result` asked DRS to terminate (a TerminationRecord, named on each claim of `recorded`),
    and with `announce_best_effort` announce it at once (a publishing failure kept in `result.unannounced`)."""
    result.pending = True
    record_id = f"{wave_id or 'EXECUTION'}#{rt.ledger.now()}"
    rt.ledger.record_termination(
        TerminationRecord(
            execution_id=execution.execution_id,
            record_id=record_id,
            reason=reason,
            wave_id=wave_id,
            job_ids=tuple(result.job_ids),
            instance_ids=tuple(result.instance_ids),
            at=rt.ledger.now(),
            attempt=attempt,
        )
    )
    for key in recorded:
        rt.ledger.note_termination_recorded(
            execution.execution_id, key, record_id=record_id, announced=announce_best_effort
        )
    metrics.add_metric(name="RecoveryInstancesTerminating", unit="Count", value=len(result.instance_ids))
    logger.info("recovery instances terminating", reason=reason, wave_id=wave_id, instances=len(result.instance_ids))
    if not announce_best_effort:
        return
    try:
        rt.bus.publish(
            RecoveryInstancesTerminated(
                execution_id=execution.execution_id,
                plan_id=execution.plan_id,
                wave_id=wave_id,
                reason=reason,
                job_ids=result.job_ids,
                recovery_instance_ids=result.instance_ids,
            )
        )
    except (ClientError, PublishError) as exc:
        result.unannounced = str(exc)
        logger.warning("RecoveryInstancesTerminated not published", error=str(exc))


def _settle(rt: Runtime, execution: ExecutionRecord) -> tuple[bool, set[str]]:
    """Record how each of the execution's terminate jobs that has ended went, once per job: its record names
    the instances it terminated and those it did not (with DRS's reason from the job log); its capacity is
    released; RecoveryInstancesTerminated names what it terminated. Returns whether a job still runs, and
    the instances DRS failed to terminate MAX_TERMINATE_TRIES times (given up: left to an operator)."""
    claims = rt.ledger.termination_claims(execution.execution_id)
    open_claims = [claim for claim in claims if claim.awaiting_outcome]
    if not open_claims:
        return False, _given_up(claims)
    by_ref: dict[str, list[TerminationClaim]] = {}
    for claim in open_claims:  # each claim's job is read in the account and Region its ref names
        by_ref.setdefault((claim.ref or "").partition("@")[2], []).append(claim)
    running = False
    for group in by_ref.values():
        there = rt.at(_target_of_ref(execution, group[0].ref))
        jobs = {j["jobID"]: j for j in there.drs.describe_jobs(sorted({str(c.job_id) for c in group}))}
        for claim in group:
            job = jobs.get(str(claim.job_id))
            if job is not None and job.get("status") == "COMPLETED":
                _settle_job(there, execution, claim, job)
            else:
                running = True
    return running, _given_up(rt.ledger.termination_claims(execution.execution_id))


def _given_up(claims: list[TerminationClaim]) -> set[str]:
    """The instances DRS failed to terminate MAX_TERMINATE_TRIES times (by the claims' `not_terminated`)."""
    failures = Counter(failed.recovery_instance_id for claim in claims for failed in claim.not_terminated or ())
    return {instance for instance, count in failures.items() if count >= MAX_TERMINATE_TRIES}


def _job_outcome(rt: Runtime, job: dict[str, Any]) -> tuple[list[str], list[NotTerminated]]:
    """What an ended terminate job terminated (recovery instance ids, sorted), and what not with DRS's reason
    from the job log (or, when the log gives none, how DRS reported it)."""
    participants = job.get("participatingServers", [])
    terminated = sorted(
        str(p["recoveryInstanceID"])
        for p in participants
        if p.get("launchStatus") == "TERMINATED" and p.get("recoveryInstanceID")
    )
    failed = [p for p in participants if p.get("launchStatus") != "TERMINATED"]
    reasons = rt.drs.job_failure_reasons(str(job["jobID"])) if failed else {}
    not_terminated = [
        NotTerminated(
            recovery_instance_id=str(p.get("recoveryInstanceID")),
            source_server_id=str(p.get("sourceServerID")),
            reason=inert(  # DRS's words (the job log's rawError): inert, as every text DRS reports
                reasons.get(str(p.get("sourceServerID")))
                or f"DRS reported the termination {p.get('launchStatus', 'unknown')} and its job log gives no reason"
            ),
        )
        for p in failed
    ]
    return terminated, not_terminated


def _settle_job(rt: Runtime, execution: ExecutionRecord, claim: TerminationClaim, job: dict[str, Any]) -> None:
    execution_id, key, job_id = claim.execution_id, claim.termination_key, str(job["jobID"])
    terminated, not_terminated = _job_outcome(rt, job)
    if not rt.ledger.settle_termination(
        execution_id, key, job_id=job_id, terminated=terminated, not_terminated=not_terminated
    ):
        return  # another call settled it
    capacity.release(rt, key)
    record = rt.ledger.settle_termination_record(
        execution_id, str(claim.record_id), job_id=job_id, terminated=terminated, not_terminated=not_terminated
    )
    if not_terminated:
        logger.warning("DRS did not terminate every instance", job_id=job_id, failed=len(not_terminated))
        metrics.add_metric(name="RecoveryInstancesNotTerminated", unit="Count", value=len(not_terminated))
    logger.info(
        "recovery instances terminated",
        reason=record.reason,
        wave_id=record.wave_id,
        job_id=job_id,
        instances=len(terminated),
    )
    if terminated and not claim.announced:
        metrics.add_metric(name="RecoveryInstancesTerminated", unit="Count", value=len(terminated))
        rt.bus.publish(
            RecoveryInstancesTerminated(
                execution_id=execution_id,
                plan_id=execution.plan_id,
                wave_id=record.wave_id,
                reason=record.reason or "CLEANUP",
                job_ids=[job_id],
                recovery_instance_ids=terminated,
            )
        )


def backoff_seconds(deferrals: int, least: float, *, rng: random.Random | None = None) -> int:
    """Seconds before the next TerminationTick after `deferrals` ticks in a row that could start nothing:
    exponential backoff with full jitter, never under `least`."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(deferrals, 16)))
    return int(max(least, (rng or random).uniform(0, ceiling), 1.0)) + 1


def _again(rt: Runtime, tick: TerminationTick, seconds: float, *, deferrals: int = 0) -> None:
    nxt = tick.model_copy(update={"tick": tick.tick + 1, "deferrals": deferrals})
    name = schedule_name(
        "terminate", tick.execution_id, tick.wave_id or "*", tick.reason, str(tick.attempt), str(nxt.tick)
    )
    rt.scheduler.at(name, rt.clock.now() + timedelta(seconds=seconds), nxt)


def _defer(rt: Runtime, tick: TerminationTick, result: Termination, *, scope: str) -> None:
    """Come back later for what `result` left undone, with backoff; give up (recorded, with its reason)
    once the termination has made no progress for MAX_WAIT. A tick that started a terminate job is
    progress: the backoff and the MAX_WAIT clock start again (a rollback of many instances under a small
    DRS quota goes on in rounds, each one deferred until the previous round ends; seed 679 of the campaign
    waited up to 300 s between rounds because its backoff counted every tick since the first)."""
    progressed = bool(result.job_ids)
    first = rt.ledger.note_termination_deferred(tick.execution_id, scope, restart=progressed)
    if rt.clock.now() - parse_iso(first) >= MAX_WAIT:
        left = _left(rt, tick)
        error = (
            f"gave up after {MAX_WAIT} of deferrals (last: {result.deferred_reason}): "
            f"{len(left)} instance(s) still run; terminate them with drs-orch cleanup"
        )
        rt.ledger.record_termination(
            TerminationRecord(
                execution_id=tick.execution_id,
                record_id=f"{tick.wave_id or 'EXECUTION'}#{rt.ledger.now()}",
                reason=tick.reason,
                wave_id=tick.wave_id,
                not_terminated=tuple(NotTerminated(recovery_instance_id=i, reason=error) for i in left),
                error=error,
                at=rt.ledger.now(),
            )
        )
        logger.error("termination given up", reason=tick.reason, wave_id=tick.wave_id, error=error)
        metrics.add_metric(name="TerminationsAbandoned", unit="Count", value=1)
        return
    deferrals = 0 if progressed else tick.deferrals + 1
    _again(rt, tick, backoff_seconds(deferrals, result.wait_seconds), deferrals=deferrals)


def _left(rt: Runtime, tick: TerminationTick) -> list[str]:
    """The recovery instances of the tick's scope that still run, in each wave target."""
    attempt = tick.attempt if tick.reason == "ROLLBACK" else None
    execution = rt.ledger.execution(tick.execution_id)
    if execution is None:
        return _our_instances(rt, tick.execution_id, tick.wave_id, attempt)
    return [
        instance
        for there, waves, _ in _scopes(rt, execution, tick.wave_id)
        for instance in _our_instances(there, tick.execution_id, tick.wave_id, attempt, waves)
    ]


def _follow_up(rt: Runtime, tick: TerminationTick, result: Termination, *, scope: str) -> None:
    """Come back for what is left: deferred work with backoff (`_defer`), else a running terminate job
    every WATCH_SECONDS until it has ended and its outcome is recorded (and what it failed to terminate
    is tried again)."""
    if result.deferred:
        _defer(rt, tick, result, scope=scope)
    elif result.pending:
        _again(rt, tick, WATCH_SECONDS)


def _time_to_live_over(rt: Runtime, execution: ExecutionRecord) -> bool:
    """The drill has a time to live (its plan's or its StartPlan's `drillInstanceTtlSeconds`) and that long has
    passed since its first launch: a TIME_TO_LIVE tick that does not match the ledger (forged, or early) terminates
    nothing."""
    ttl = drill_ttl_seconds(execution)
    launches = [
        parse_iso(moment)
        for wave in rt.ledger.waves(execution.execution_id)
        for attempt in (wave.current, *wave.previous_attempts)
        if (moment := attempt.times().get("launch_started_at"))
    ]
    # the tick's at() expression drops the launch's sub-second part: it may come up to a second early
    if not ttl or not launches or rt.clock.now() + timedelta(seconds=1) < min(launches) + timedelta(seconds=ttl):
        logger.warning(
            "time-to-live termination refused: the drill has no time to live, or it is not over",
            execution_id=execution.execution_id,
            ttl=ttl,
        )
        metrics.add_metric(name="TerminationsRefused", unit="Count", value=1)
        return False
    return True


def _rollback_is_due(rt: Runtime, execution_id: str, wave_id: str | None, attempt: int) -> bool:
    """The ledger says attempt `attempt` of `wave_id` FAILED (the wave is FAILED at that attempt, or a retry
    has kept that failed attempt in `previous_attempts`): a WaveFailed or ROLLBACK tick that does not match
    the ledger (forged, or for a wave that completed) terminates nothing."""
    wave = rt.ledger.wave(execution_id, wave_id) if wave_id else None
    if wave is None:
        return False
    return any(
        past.attempt == attempt and past.status == WaveStatus.FAILED for past in (wave.current, *wave.previous_attempts)
    )


def _rollback(rt: Runtime, execution: ExecutionRecord, tick: TerminationTick) -> None:
    plan = frozen_plan(execution)
    if tick.wave_id is None or tick.wave_id not in plan.wave_ids:
        logger.warning("rollback for a wave the plan lacks ignored", wave_id=tick.wave_id)
        return
    if plan.wave(tick.wave_id).rollback is not Rollback.TERMINATE:
        return
    if not _rollback_is_due(rt, tick.execution_id, tick.wave_id, tick.attempt):
        logger.warning(
            "rollback refused: the ledger does not say that wave attempt failed",
            wave_id=tick.wave_id,
            attempt=tick.attempt,
        )
        metrics.add_metric(name="RollbacksRefused", unit="Count", value=1)
        return
    result = terminate(rt, execution, reason="ROLLBACK", wave_id=tick.wave_id, attempt=tick.attempt)
    _follow_up(rt, tick, result, scope=f"ROLLBACK#{tick.wave_id}#{tick.attempt}")


def on_wave_failed(rt: Runtime, detail: WaveFailed) -> None:
    """`rollback: TERMINATE`: a failed wave terminates the instances that attempt launched."""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        return
    _rollback(
        rt,
        execution,
        TerminationTick(
            execution_id=detail.execution_id,
            plan_id=detail.plan_id,
            wave_id=detail.wave_id,
            attempt=detail.attempt,
            reason="ROLLBACK",
        ),
    )


def terminate_cancelled_drill(rt: Runtime, execution: ExecutionRecord, *, tick: int = 1) -> None:
    """A drill cancelled with `terminateDrillInstances`: terminate what it launched. Called when the
    cancel is accepted (the instances up by then) and again when the plan has ended CANCELLED (the ones
    the jobs running at the cancel launched afterwards); each call terminates only what still runs."""
    if execution.mode != "DRILL" or not execution.terminate_on_cancel:
        return
    result = terminate(rt, execution, reason="CANCEL")
    _follow_up(
        rt,
        TerminationTick(execution_id=execution.execution_id, plan_id=execution.plan_id, reason="CANCEL", tick=tick),
        result,
        scope="CANCEL",
    )


def on_plan_cancelled(rt: Runtime, detail: PlanCancelled) -> None:
    execution = rt.ledger.execution(detail.execution_id)
    if execution is not None:
        terminate_cancelled_drill(rt, execution)


def on_tick(rt: Runtime, tick: TerminationTick) -> None:
    execution = rt.ledger.execution(tick.execution_id)
    if execution is None:
        return
    if tick.reason == "TIME_TO_LIVE":
        if execution.mode == "RECOVERY" or not _time_to_live_over(rt, execution):
            return
        if execution.status not in EXECUTION_FINAL:
            logger.info(
                "drill time to live over, execution still running: checking again later", execution_id=tick.execution_id
            )
            _again(rt, tick, TTL_RECHECK_SECONDS)
            return
        result = terminate(rt, execution, reason="TIME_TO_LIVE")
        _follow_up(rt, tick, result, scope="TIME_TO_LIVE")
    elif tick.reason == "CANCEL":
        terminate_cancelled_drill(rt, execution, tick=tick.tick)  # drills cancelled with terminateDrillInstances
    else:
        _rollback(rt, execution, tick)


def cleanup(rt: Runtime, execution_id: str, *, include_recovery: bool = False) -> Termination:
    """`drs-orch cleanup EXECUTION`: terminate every recovery instance the execution launched."""
    execution = rt.ledger.execution(execution_id)
    if execution is None:
        return Termination(refused=f"no execution {execution_id} in the ledger")
    if execution.mode == "RECOVERY" and not include_recovery:
        return Termination(
            refused="a RECOVERY execution runs production: its instances are kept "
            "(add --include-recovery to terminate them anyway)"
        )
    return terminate(rt, execution, reason="CLEANUP", announce_best_effort=True)
