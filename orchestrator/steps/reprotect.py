"""Reprotect: after a completed failback, protect the servers again in the original direction (issue #15 item 5).

SRM's reprotect, with DRS's two paths (`orchestrator.domain.failback`):

- REVERSE_REPLICATION waves (EC2 origins): the failback recovered each reversed source server in the origin Region;
  ReverseReplication of *that* recovery instance ("for failback instances on origin region - starts replication to
  target region to re-protect them", the DRS API reference) replicates it toward the recovery Region again, through
  the recovery side's source server. An instance reversed already (ConflictException) is found through its source
  server's reversedDirectionSourceServerArn.
- FAILBACK_LAUNCH waves (on premises): the original source server's replication restarts (StartReplication); one
  that replicates already (ConflictException) is reported as it is.

Each server's result (the action, the source server that now protects it and its dataReplicationState as DRS
answers it, or why nothing was done) is recorded on the failback execution (`reprotect`, shown by the report) and
published as `Reprotected`. The recovery instances of the failed-over side (the RECOVERY execution's) are terminated
only when the operator asks (`terminateRecoveryInstances`, from the operator endpoint only): until then they stay, a
way back if the origin misbehaves. A Reprotect asked again does it again (idempotent per server, as above).

Triggers: a `Reprotect` command (the bus's publishers, or `drs-orch reprotect EXECUTION`), or the failback's own
completion (`PlanCompleted` of a failback execution whose plan or Failback asked for `reprotect`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from events.models import (
    OPERATOR_SOURCE,
    Mode,
    PlanCompleted,
    Reprotect,
    Reprotected,
    ReprotectedServer,
)
from orchestrator.adapters.drs import DrsConflict, DrsError
from orchestrator.domain.clock import iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.failback import FailbackDesign, FailbackPath, ReversedServer
from orchestrator.domain.plan import Plan
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.status import ExecutionStatus
from orchestrator.domain.targets import TargetUnavailable
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.failback import reversed_source_server_arn
from orchestrator.steps.refusals import reject_command

TERMINATE_BATCH = 200  # TerminateRecoveryInstancesRequestRecoveryInstanceIDs max in the drs model


class ReprotectRefused(Exception):
    """Why a Reprotect is refused (its ControlRejected reason)."""


def on_reprotect(rt: Runtime, detail: Reprotect, event_id: str, *, source: str) -> bool:
    """Answer a Reprotect command: True when done, False when refused (ControlRejected, nothing done)."""
    try:
        execution = _checked(rt, detail, source)
    except ReprotectRefused as exc:
        reject_command(rt, detail, event_id, quote(str(exc), 2000))
        return False
    reprotect(rt, execution, terminate=detail.terminate_recovery_instances)
    return True


def after_failback(rt: Runtime, detail: PlanCompleted) -> bool:
    """A completed execution: when it is a real failback, its recovery's record may expire now (the ledger's time to
    live; it was kept while production ran on the recovery side); reprotect it when it asked (True: done)."""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None or execution.failback is None:
        return False
    design = FailbackDesign.from_record(execution.failback)
    if execution.mode == Mode.RECOVERY.value:  # production is home: the recovery's record may expire as others do
        rt.ledger.expire_execution(design.of)
    if not design.reprotect:
        return False
    if execution.mode == Mode.DRILL.value:
        logger.info("a failback drill moved nothing back: no reprotect", execution_id=detail.execution_id)
        return False
    if execution.reprotect is not None:
        logger.info("failback reprotected already", execution_id=detail.execution_id)
        return False
    reprotect(rt, execution, terminate=False)
    return True


def _checked(rt: Runtime, detail: Reprotect, source: str) -> ExecutionRecord:
    if detail.terminate_recovery_instances and source != OPERATOR_SOURCE:
        raise ReprotectRefused(
            "terminating the recovery side's instances is for an operator: send the Reprotect through the operator "
            "endpoint (drs-orch reprotect EXECUTION --terminate-recovery-instances --aws)"
        )
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        raise ReprotectRefused(f"unknown execution '{quote(detail.execution_id, 128)}'")
    if execution.failback is None:
        raise ReprotectRefused(
            f"execution '{execution.execution_id}' is not a failback: reprotect follows a completed failback"
        )
    if (
        detail.terminate_recovery_instances
        and rt.ledger.execution(FailbackDesign.from_record(execution.failback).of) is None
    ):
        raise ReprotectRefused(
            f"the recovery failback '{execution.execution_id}' brought back is no longer in the ledger: which recovery "
            "instances are the recovery side's cannot be told, so none is terminated (terminate them in DRS)"
        )
    if execution.mode == Mode.DRILL.value:
        raise ReprotectRefused(
            f"failback '{execution.execution_id}' is a drill: it moved nothing back, production still runs on the "
            "recovery side, so there is nothing to protect again (and nothing there to terminate)"
        )
    if execution.status is not ExecutionStatus.COMPLETED:
        raise ReprotectRefused(
            f"failback '{execution.execution_id}' is {execution.status.value}, not COMPLETED: reprotect follows a "
            "completed failback"
        )
    return execution


def reprotect(rt: Runtime, execution: ExecutionRecord, *, terminate: bool) -> Reprotected:
    """Protect every failed-back server again (see the module), record and publish what was done."""
    assert execution.failback is not None
    design = FailbackDesign.from_record(execution.failback)
    plan = frozen_plan(execution)
    recovery = rt.ledger.execution(design.of)
    recovery_plan = frozen_plan(recovery) if recovery is not None else None
    servers = [
        _protect(rt, design, plan, wave_id, sid, result, _recovery_target(recovery_plan, plan, wave_id))
        for wave_id, sid, result in _failed_back(rt, execution, plan)
    ]
    terminated = (
        _terminate(rt, design, recovery_plan, plan, execution.execution_id)
        if terminate and recovery_plan is not None
        else []
    )
    answer = Reprotected(
        execution_id=execution.execution_id,
        plan_id=execution.plan_id,
        servers=servers,
        terminated_recovery_instance_ids=terminated,
    )
    rt.ledger.record_reprotect(
        execution.execution_id,
        {
            "at": iso(rt.clock.now()),
            "servers": [s.to_detail() for s in servers],
            "terminatedRecoveryInstanceIds": terminated,
        },
    )
    logger.info(
        "failback reprotected",
        execution_id=execution.execution_id,
        servers=len(servers),
        protected=sum(1 for s in servers if s.action != "NONE"),
        terminated=len(terminated),
    )
    metrics.add_metric(name="Reprotects", unit="Count", value=1)
    rt.bus.publish(answer)
    return answer


def _failed_back(rt: Runtime, execution: ExecutionRecord, plan: Plan) -> Iterator[tuple[str, str, Any]]:
    for wave in plan.waves:
        for sid, result in rt.ledger.wave_servers(execution.execution_id, wave.wave_id).items():
            yield wave.wave_id, sid, result


def _recovery_target(recovery_plan: Plan | None, plan: Plan, wave_id: str) -> Target | None:
    """Where the wave recovered (the recovery side): the recovery's wave target (the failback plan's for an
    on-premises wave, which kept it)."""
    source = recovery_plan if recovery_plan is not None and wave_id in recovery_plan.wave_ids else plan
    return source.wave(wave_id).target


def _protect(
    rt: Runtime,
    design: FailbackDesign,
    plan: Plan,
    wave_id: str,
    sid: str,
    result: Any,
    recovery_target: Target | None,
) -> ReprotectedServer:
    if not result.launched:
        return ReprotectedServer(
            source_server_id=sid,
            action="NONE",
            reason=f"not failed back (launch status {result.launch_status.value}): nothing to protect again",
        )
    try:
        if design.path(wave_id) is FailbackPath.REVERSE_REPLICATION:
            origin = rt.at(plan.wave(wave_id).target)  # the failback wave's target: the origin Region
            return _reverse_again(rt, origin, sid, result.recovery_instance_id, recovery_target)
        return _restart(rt.at(recovery_target), sid)
    except TargetUnavailable as exc:
        return ReprotectedServer(source_server_id=sid, action="NONE", reason=inert(exc.reason))
    except DrsError as exc:
        if exc.retryable:
            raise
        return ReprotectedServer(source_server_id=sid, action="NONE", reason=inert(str(exc)))


def _reverse_again(
    rt: Runtime, origin: Runtime, sid: str, instance_id: str | None, recovery_target: Target | None
) -> ReprotectedServer:
    """ReverseReplication of the failback's recovery instance in the origin Region: it replicates toward the
    recovery Region again; the protecting server's state is read there."""
    if not instance_id:
        return ReprotectedServer(source_server_id=sid, action="NONE", reason="no recovery instance recorded")
    try:
        arn = origin.drs.reverse_replication(instance_id)
    except DrsConflict:
        found = reversed_source_server_arn(origin, sid)
        if found is None:
            raise
        arn = found
    protecting = ReversedServer.from_arn(arn)
    return ReprotectedServer(
        source_server_id=sid,
        action="ReverseReplication",
        protected_source_server_id=protecting.source_server_id,
        replication_state=_state(rt.at(recovery_target), protecting.source_server_id),
    )


def _restart(there: Runtime, sid: str) -> ReprotectedServer:
    """StartReplication of an on-premises source server the failback launched back; one replicating already is
    reported as it is."""
    try:
        server = there.drs.start_replication(sid)
        state = (server.get("dataReplicationInfo") or {}).get("dataReplicationState")
    except DrsConflict:
        return ReprotectedServer(
            source_server_id=sid,
            action="NONE",
            protected_source_server_id=sid,
            replication_state=_state(there, sid),
            reason="replicating already (StartReplication: ConflictException)",
        )
    return ReprotectedServer(
        source_server_id=sid,
        action="StartReplication",
        protected_source_server_id=sid,
        replication_state=str(state) if state else _state(there, sid),
    )


def _state(there: Runtime, sid: str) -> str | None:
    found = there.drs.describe_source_servers([sid])
    return next(
        (str((i.get("dataReplicationInfo") or {}).get("dataReplicationState") or "UNKNOWN") for i in found), None
    )


def _terminate(rt: Runtime, design: FailbackDesign, recovery_plan: Plan, plan: Plan, execution_id: str) -> list[str]:
    """TerminateRecoveryInstances of the recovery side's instances of the servers that came home (LAUNCHED by the
    failback: a server of a skipped or failed wave still runs on the recovery side, and stays), per account and
    Region, only those DRS still knows, at most TERMINATE_BATCH per call: the ids DRS was asked to terminate. A batch
    DRS refuses (ConflictException: being terminated already, by an earlier Reprotect) is logged and left out."""
    by_target: dict[tuple[str, ...] | None, tuple[Target | None, list[str]]] = {}
    for wave in plan.waves:
        target = _recovery_target(recovery_plan, plan, wave.wave_id)
        home = [
            design.instances[sid]
            for sid, result in rt.ledger.wave_servers(execution_id, wave.wave_id).items()
            if result.launched and sid in design.instances
        ]
        by_target.setdefault(target.key if target is not None else None, (target, []))[1].extend(home)
    asked: list[str] = []
    for target, ids in by_target.values():
        there = rt.at(target)
        known = {
            str(i.get("recoveryInstanceID")) for i in there.drs.describe_recovery_instances(recovery_instance_ids=ids)
        }
        alive = [rid for rid in ids if rid in known]
        for start in range(0, len(alive), TERMINATE_BATCH):
            batch = alive[start : start + TERMINATE_BATCH]
            try:
                there.drs.terminate_recovery_instances(batch)
            except DrsError as exc:
                if exc.retryable:
                    raise
                logger.warning("recovery instances not terminated", recovery_instance_ids=batch, error=str(exc))
                continue
            asked.extend(batch)
    return asked
