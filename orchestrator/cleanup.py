"""Terminating recovery instances: a failed wave's rollback, a drill's time to live, a drill cancelled with
`terminateDrillInstances`, `drs-orch cleanup`.

Only instances our own jobs launched are terminated: DescribeRecoveryInstances of the wave's source
servers, kept when their `jobID` is one of the execution's DRS jobs (the ledger knows them) and they
are not already shutting down, so a duplicate event or a second clean-up terminates nothing twice (and
DRS's ConflictException for an instance already being terminated is taken as done). A terminate job
counts against the DRS quotas like a launch: it is admitted in the shared capacity record first, and
when there is no room the work comes back on a TerminationTick.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from events.models import PlanCancelled, RecoveryInstancesTerminated, TerminationTick, WaveFailed
from orchestrator import capacity
from orchestrator.bus import PublishError
from orchestrator.capacity import Admission
from orchestrator.drs import DrsConflict, DrsQuotaExceeded
from orchestrator.execution import frozen_plan
from orchestrator.ledger import EXECUTION_FINAL
from orchestrator.observability import logger, metrics
from orchestrator.plan import Rollback
from orchestrator.runtime import Runtime
from orchestrator.scheduler import schedule_name

GONE = frozenset({"SHUTTING-DOWN", "TERMINATED", "STOPPING"})
RETRY_SECONDS = 15
TTL_RECHECK_SECONDS = 300
Reason = Literal["ROLLBACK", "TIME_TO_LIVE", "CANCEL", "CLEANUP"]


@dataclass
class Termination:
    instance_ids: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    deferred: bool = False  # no DRS capacity now
    refused: str | None = None
    unannounced: str | None = None  # why RecoveryInstancesTerminated could not be published (best effort)


def _our_instances(rt: Runtime, execution_id: str, wave_ids: list[str] | None,
                   attempt: int | None = None) -> list[str]:
    waves = [w for w in rt.ledger.list_waves(execution_id) if wave_ids is None or w["waveId"] in wave_ids]
    job_ids = {jid for w in waves for jid, job in (w.get("jobs") or {}).items()
               if not jid.startswith("not-started-") and (attempt is None or int(w.get("attempt", 1)) == attempt)}
    servers = sorted({sid for w in waves if w.get("jobs")
                      for sid in rt.ledger.wave_servers(execution_id, w["waveId"])})
    if not job_ids or not servers:
        return []
    found = []
    for start in range(0, len(servers), 200):
        found.extend(rt.drs.describe_recovery_instances(source_server_ids=servers[start : start + 200]))
    return sorted(i["recoveryInstanceID"] for i in found
                  if i.get("jobID") in job_ids and i.get("ec2InstanceState") not in GONE)


def _terminate_job(rt: Runtime, batch: list[str], ref: str) -> str | None:
    """One TerminateRecoveryInstances job for `batch`, admitted in the DRS capacity record first. Returns
    its job id, or None when DRS has no room now. DrsConflict (some of the batch are in a terminate job
    already) is raised; the capacity this call took is given back, but not one an earlier call holds
    for the same batch (its job may be running: the reconcile releases it when it ends)."""
    key = "term-" + hashlib.sha256("|".join(batch).encode()).hexdigest()[:32]
    admission = capacity.admit(rt, key, len(batch), ref=ref, kind="TERMINATE", behind_queue=False)
    if admission is Admission.FULL:
        return None
    try:
        job = rt.drs.terminate_recovery_instances(batch)
    except (DrsConflict, DrsQuotaExceeded) as exc:
        if admission is Admission.ADMITTED:
            capacity.release(rt, key, unstarted_only=True)
        if isinstance(exc, DrsQuotaExceeded):
            return None
        raise
    capacity.note_job(rt, key, job["jobID"])  # released by the capacity reconcile once it ends
    return str(job["jobID"])


def _terminate_jobs(rt: Runtime, batch: list[str], ref: str) -> list[tuple[list[str], str | None]]:
    """Terminate `batch` in as few jobs as DRS takes: when some of it is in a terminate job already (a
    duplicate), each half is tried again, down to the single instances DRS refuses, so a few instances
    already terminating cost a few extra jobs, not one per instance. A job id None: no capacity now
    (nothing after it was tried)."""
    try:
        return [(batch, _terminate_job(rt, batch, ref))]
    except DrsConflict:
        if len(batch) == 1:
            return []
    half = len(batch) // 2
    first = _terminate_jobs(rt, batch[:half], ref)
    if first and first[-1][1] is None:
        return first
    return first + _terminate_jobs(rt, batch[half:], ref)


def terminate(rt: Runtime, execution: dict[str, Any], *, reason: Reason, wave_id: str | None = None,
              attempt: int | None = None, announce_best_effort: bool = False) -> Termination:
    """Terminate the recovery instances the execution (or one wave of it) launched and still runs.
    `announce_best_effort`: a publishing failure of RecoveryInstancesTerminated is reported in the result
    instead of raised (an operator's `drs-orch cleanup`: the bus takes orchestrator events only from the
    orchestrator's roles; the ledger records the termination either way)."""
    execution_id = execution["executionId"]
    instances = _our_instances(rt, execution_id, [wave_id] if wave_id else None, attempt)
    result = Termination()
    per_job = capacity.quotas(rt).servers_per_job
    ref = f"{execution_id}/{wave_id or '*'}"
    for start in range(0, len(instances), per_job):
        batch = instances[start : start + per_job]
        for instance_ids, job in _terminate_jobs(rt, batch, ref):
            if job is None:
                result.deferred = True
                break
            result.instance_ids.extend(instance_ids)
            result.job_ids.append(job)
        if result.deferred:
            break
    if result.instance_ids:
        scope = wave_id or "EXECUTION"
        rt.ledger.record_termination(execution_id, f"{scope}#{rt.ledger.now()}", {
            "kind": "TERMINATE", "reason": reason, "waveId": wave_id or "", "jobIds": result.job_ids,
            "instances": result.instance_ids, "at": rt.ledger.now()})
        metrics.add_metric(name="RecoveryInstancesTerminated", unit="Count", value=len(result.instance_ids))
        logger.info("recovery instances terminated", reason=reason, wave_id=wave_id,
                    instances=len(result.instance_ids))
        announcement = RecoveryInstancesTerminated(
            execution_id=execution_id, plan_id=execution["planId"], wave_id=wave_id, reason=reason,
            job_ids=result.job_ids, recovery_instance_ids=result.instance_ids)
        try:
            rt.bus.publish(announcement)
        except (ClientError, PublishError) as exc:
            if not announce_best_effort:
                raise
            result.unannounced = str(exc)
            logger.warning("RecoveryInstancesTerminated not published", error=str(exc))
    return result


def _again(rt: Runtime, tick: TerminationTick, seconds: int) -> None:
    nxt = tick.model_copy(update={"tick": tick.tick + 1})
    name = schedule_name("terminate", tick.execution_id, tick.wave_id or "*", tick.reason, str(nxt.tick))
    rt.scheduler.at(name, rt.clock.now() + timedelta(seconds=seconds), nxt)


def on_wave_failed(rt: Runtime, detail: WaveFailed) -> None:
    """`rollback: TERMINATE`: a failed wave terminates the instances it launched."""
    execution = rt.ledger.get_execution(detail.execution_id)
    if execution is None:
        return
    if frozen_plan(execution).wave(detail.wave_id).rollback is not Rollback.TERMINATE:
        return
    result = terminate(rt, execution, reason="ROLLBACK", wave_id=detail.wave_id, attempt=detail.attempt)
    if result.deferred:
        _again(rt, TerminationTick(execution_id=detail.execution_id, plan_id=detail.plan_id,
                                   wave_id=detail.wave_id, attempt=detail.attempt, reason="ROLLBACK"),
               RETRY_SECONDS)


def terminate_cancelled_drill(rt: Runtime, execution: dict[str, Any], *, tick: int = 1) -> None:
    """A drill cancelled with `terminateDrillInstances`: terminate what it launched. Called when the
    cancel is accepted (the instances up by then) and again when the plan has ended CANCELLED (the ones
    the jobs running at the cancel launched afterwards); each call terminates only what still runs."""
    if execution["mode"] != "DRILL" or not execution.get("terminateOnCancel"):
        return
    if terminate(rt, execution, reason="CANCEL").deferred:
        _again(rt, TerminationTick(execution_id=execution["executionId"], plan_id=execution["planId"],
                                   reason="CANCEL", tick=tick), RETRY_SECONDS)


def on_plan_cancelled(rt: Runtime, detail: PlanCancelled) -> None:
    execution = rt.ledger.get_execution(detail.execution_id)
    if execution is not None:
        terminate_cancelled_drill(rt, execution)


def on_tick(rt: Runtime, tick: TerminationTick) -> None:
    execution = rt.ledger.get_execution(tick.execution_id)
    if execution is None:
        return
    if tick.reason == "TIME_TO_LIVE":
        if execution["mode"] == "RECOVERY":
            return
        if execution["status"] not in EXECUTION_FINAL:
            logger.info("drill time to live over, execution still running: checking again later",
                        execution_id=tick.execution_id)
            _again(rt, tick, TTL_RECHECK_SECONDS)
            return
        result = terminate(rt, execution, reason="TIME_TO_LIVE")
    elif tick.reason == "CANCEL":
        terminate_cancelled_drill(rt, execution, tick=tick.tick)  # drills cancelled with terminateDrillInstances
        return
    else:
        result = terminate(rt, execution, reason="ROLLBACK", wave_id=tick.wave_id, attempt=tick.attempt)
    if result.deferred:
        _again(rt, tick, RETRY_SECONDS)


def cleanup(rt: Runtime, execution_id: str, *, include_recovery: bool = False) -> Termination:
    """`drs-orch cleanup EXECUTION`: terminate every recovery instance the execution launched."""
    execution = rt.ledger.get_execution(execution_id)
    if execution is None:
        return Termination(refused=f"no execution {execution_id} in the ledger")
    if execution["mode"] == "RECOVERY" and not include_recovery:
        return Termination(refused="a RECOVERY execution runs production: its instances are kept "
                                   "(add --include-recovery to terminate them anyway)")
    return terminate(rt, execution, reason="CLEANUP", announce_best_effort=True)
