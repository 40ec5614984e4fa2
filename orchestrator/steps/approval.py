"""Approval gates before a wave.

A wave with `approval.required` (and, in RECOVERY mode with `defaults.requireApprovalInRecovery`,
every root wave) stops at READY -> AWAITING_APPROVAL: ApprovalRequested names the wave, the waves
completed so far, who may approve and the deadline, and a scheduler tick (ApprovalTimeout) is armed for
that deadline. ApprovalGranted takes the wave back to READY with the approval recorded, and a new
WaveReady passes the gate; ApprovalDenied or the timeout fails the wave (its onFailure policy applies).
Nothing waits in a workflow: the wave simply stays AWAITING_APPROVAL in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from events.models import ApprovalRequested, ApprovalTimeout, Mode, WaveReady
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import Approval, Plan
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.approvals import ApprovalRecord, ApprovalStatus
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger
from orchestrator.runtime import Runtime


@dataclass(frozen=True)
class Gate:
    approvers: list[str]
    timeout_seconds: int
    why: str


def gate_for(plan: Plan, wave_id: str, mode: str) -> Gate | None:
    """The approval gate of a wave in this mode, if it has one."""
    wave = plan.wave(wave_id)
    approval = wave.approval
    if approval is not None and approval.required:
        return Gate(list(approval.approvers), approval.timeout_seconds, "wave approval.required")
    if mode == Mode.RECOVERY.value and plan.defaults.require_approval_in_recovery and not wave.depends_on:
        settings = approval or Approval()
        return Gate(
            list(settings.approvers),
            settings.timeout_seconds,
            "defaults.requireApprovalInRecovery (a root wave of a real recovery)",
        )
    return None


def _whole_second(moment: datetime) -> datetime:
    """Scheduler `at()` expressions have whole seconds: the deadline is the next one, so the timeout
    fires at the deadline it announces, never before."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def timeout_schedule(execution_id: str, wave_id: str, request_id: str) -> str:
    return schedule_name("approval", execution_id, wave_id, request_id)


def _asked_by(wave: WaveRecord, event_id: str) -> ApprovalRecord | None:
    """The approval the wave awaits if WaveReady `event_id` asked for it (this is a redelivery), else None."""
    approval = wave.approval
    if approval is None or approval.request_id != event_id or wave.status != WaveStatus.AWAITING_APPROVAL:
        return None
    return approval


def held_for_approval(
    rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, detail: WaveReady, event_id: str
) -> bool:
    """Whether the wave must wait for an approval before its pre-launch phase (and if so, ask for it).
    `execution` and `wave` are as the WaveReady found them."""
    gate = gate_for(frozen_plan(execution), detail.wave_id, execution.mode)
    if gate is None:
        return False
    execution_id = detail.execution_id
    if wave.approval is not None and wave.approval.status is ApprovalStatus.GRANTED:
        return False  # this wave was approved (a retried wave is not asked again)
    if wave.status not in {WaveStatus.READY, WaveStatus.AWAITING_APPROVAL}:
        return True  # a stale WaveReady: the transition below would be refused anyway
    # a redelivery of the WaveReady that asked keeps the deadline it announced
    asked = _asked_by(wave, event_id)
    deadline = (
        parse_iso(asked.deadline)
        if asked is not None and asked.deadline
        else _whole_second(rt.clock.now() + timedelta(seconds=gate.timeout_seconds))
    )
    request = ApprovalRecord(
        request_id=event_id,
        status=ApprovalStatus.REQUESTED,
        requested_at=asked.requested_at if asked is not None else rt.ledger.now(),
        deadline=iso(deadline),
        approvers=tuple(gate.approvers),
        gate=gate.why,
        attempt=wave.attempt,
    )
    outcome = rt.ledger.transition_wave(
        execution_id,
        detail.wave_id,
        from_=[WaveStatus.READY],
        to=WaveStatus.AWAITING_APPROVAL,
        key=event_id,
        changes=WaveChanges(approval=request),
    )
    if outcome is Outcome.REJECTED:
        logger.info("duplicate or stale WaveReady at an approval gate", wave_id=detail.wave_id)
        return True
    completed = sorted(w.wave_id for w in rt.ledger.waves(execution_id) if w.status == WaveStatus.COMPLETED)
    rt.scheduler.at(
        timeout_schedule(execution_id, detail.wave_id, event_id),
        deadline,
        ApprovalTimeout(execution_id=execution_id, wave_id=detail.wave_id, request_id=event_id),
    )
    logger.info("wave awaiting approval", wave_id=detail.wave_id, deadline=iso(deadline), approvers=len(gate.approvers))
    rt.bus.publish(
        ApprovalRequested(
            execution_id=execution_id,
            plan_id=detail.plan_id,
            wave_id=detail.wave_id,
            attempt=wave.attempt,
            approvers=gate.approvers,
            deadline=iso(deadline),
            completed_wave_ids=completed,
            request_id=event_id,
        )
    )
    return True
