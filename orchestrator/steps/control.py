"""Operator commands, each checked against the ledger: a command that does not fit the execution's
state is rejected with a ControlRejected event and changes nothing.

Every command that changes a wave writes its event id on it (`approval.decisionKey`, `retryKey`,
`skipKey`), and a cancel writes `cancelKey` on the execution, so a redelivered command is recognised
as the same command (its idempotent follow-ups are redone after a crash). A rejection is recorded with the
rejected event's id before it is announced (`orchestrator.steps.refusals`): a redelivered command that was
rejected stays rejected, and its ControlRejected is not announced twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from events.models import (
    ApprovalDenied,
    ApprovalGranted,
    ApprovalTimeout,
    CancelPlan,
    ControlEvent,
    PausePlan,
    ResumePlan,
    RetryWave,
    SkipWave,
    WaveFailed,
    WaveReady,
    WaveSkipped,
)
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.principals import admitted
from orchestrator.domain.records import RETRY_CLEARS, ExecutionRecord, WaveAttempt, WaveRecord
from orchestrator.domain.records.approvals import ApprovalRecord, ApprovalStatus
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerResult
from orchestrator.domain.status import (
    NOT_STARTED_WAVE,
    RUNNABLE_EXECUTION,
    STOPPED_EXECUTION,
    ExecutionStatus,
    WaveStatus,
)
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import cleanup
from orchestrator.steps.approval import gate_for
from orchestrator.steps.progress import (
    close_plan_if_done,
    make_ready,
    release_dependents,
    reopen_skipped_for,
    skip_not_started,
    stop_plan,
)
from orchestrator.steps.refusals import refused_before, reject_command
from orchestrator.steps.scripts import end_waits

C = TypeVar("C", bound=ControlEvent)
WaveCommand = ApprovalGranted | ApprovalDenied | RetryWave | SkipWave


def decide(rt: Runtime, command: C, event_id: str, decision: Callable[[Runtime, C, str], None]) -> None:
    """Run `decision` on an operator command, unless the command was refused before (a redelivery): a
    refused command stays refused, whatever the execution's state is by now."""
    if refused_before(rt, event_id):
        return
    decision(rt, command, event_id)


def _execution_and_wave(
    rt: Runtime, execution_id: str, wave_id: str
) -> tuple[ExecutionRecord | None, WaveRecord | None]:
    """The execution and its wave `wave_id` (the wave is not looked for when the execution is unknown)."""
    execution = rt.ledger.execution(execution_id)
    return execution, rt.ledger.wave(execution_id, wave_id) if execution is not None else None


def _command_records(rt: Runtime, command: WaveCommand, event_id: str) -> tuple[ExecutionRecord, WaveRecord] | None:
    """The execution and the wave a command names; None once the command is rejected for naming none."""
    execution, wave = _execution_and_wave(rt, command.execution_id, command.wave_id)
    if execution is None:
        reject_command(rt, command, event_id, "no such execution", command.wave_id)
        return None
    if wave is None:
        reject_command(
            rt, command, event_id, f"execution {command.execution_id} has no wave {command.wave_id}", command.wave_id
        )
        return None
    return execution, wave


# ---- plan commands ---------------------------------------------------------------------------------


def cancel_plan(rt: Runtime, command: CancelPlan, event_id: str) -> None:
    """Nothing new starts; running DRS jobs and SSM scripts finish and are recorded, running WAIT steps end at once
    (Cancelled: `scripts.end_waits`); the plan ends CANCELLED.
    With `terminateDrillInstances` (drills only), the drill's recovery instances are terminated: those up
    now at once, those its running jobs launch afterwards when the plan has ended."""
    execution = rt.ledger.execution(command.execution_id)
    if execution is None:
        reject_command(rt, command, event_id, "no such execution")
        return
    duplicate = execution.cancel_key == event_id
    if not duplicate:
        if execution.status not in RUNNABLE_EXECUTION:
            reject_command(rt, command, event_id, f"execution is {execution.status}, not running")
            return
        if command.terminate_drill_instances and execution.mode != "DRILL":
            reject_command(
                rt,
                command,
                event_id,
                "terminateDrillInstances applies to drills only: a RECOVERY execution's "
                "instances are production; nothing was cancelled",
            )
            return
        if not stop_plan(
            rt,
            execution,
            reason=f"cancelled by {command.requested_by}",
            key=event_id,
            cancel=True,
            cancelled_by=command.requested_by,
            terminate_on_cancel=command.terminate_drill_instances,
            decided_by=event_id,
        ):
            return
    elif execution.status == ExecutionStatus.STOPPING:  # a redelivery: finish the skips a crash may have cut short
        skip_not_started(rt, command.execution_id, key=event_id)
    # a running WAIT step ends now (nothing runs in it): its wave's phase ends and the plan can close (a redelivery
    # redoes the follow-ups of the waits this cancel ended, and ends nothing else)
    end_waits(rt, command.execution_id, key=event_id)
    # what is up now; what the running jobs launch later goes when the plan has ended (PlanCancelled)
    cancelled = rt.ledger.execution(command.execution_id) or execution  # with the cancel's terminateOnCancel
    cleanup.terminate_cancelled_drill(rt, cancelled)
    close_plan_if_done(rt, command.execution_id, key=event_id)


def pause_plan(rt: Runtime, command: PausePlan, event_id: str) -> None:
    """No new wave is released; running waves finish."""
    outcome = rt.ledger.set_execution_status(
        command.execution_id,
        from_=[ExecutionStatus.RUNNING],
        to=ExecutionStatus.PAUSED,
        key=event_id,
        changes=ExecutionChanges(paused_by=command.requested_by),
        decided_by=event_id,
    )
    if outcome is Outcome.REJECTED:
        execution = rt.ledger.execution(command.execution_id)
        reject_command(
            rt,
            command,
            event_id,
            f"execution is {execution.status}, not running" if execution else "no such execution",
        )


def resume_plan(rt: Runtime, command: ResumePlan, event_id: str) -> None:
    """Release what became due while the plan was paused."""
    outcome = rt.ledger.set_execution_status(
        command.execution_id,
        from_=[ExecutionStatus.PAUSED],
        to=ExecutionStatus.RUNNING,
        key=event_id,
        decided_by=event_id,
    )
    execution = rt.ledger.execution(command.execution_id)
    if outcome is Outcome.REJECTED or execution is None:
        reject_command(
            rt,
            command,
            event_id,
            f"execution is {execution.status}, not paused" if execution else "no such execution",
        )
        return
    due = []
    for wave in rt.ledger.waves(command.execution_id):
        if wave.status == WaveStatus.READY or (
            wave.status == WaveStatus.PENDING
            and wave.remaining == 0
            and make_ready(rt, command.execution_id, wave.wave_id, key=f"{event_id}:{wave.wave_id}")
        ):
            due.append(
                WaveReady(
                    execution_id=command.execution_id,
                    plan_id=execution.plan_id,
                    wave_id=wave.wave_id,
                    attempt=wave.attempt,
                )
            )
    if due:
        rt.bus.publish(*due)


# ---- approvals -------------------------------------------------------------------------------------


def _decided_by(wave: WaveRecord, event_id: str) -> bool:
    """Whether event `event_id` decided the wave's approval (a redelivery of the decision)."""
    return wave.approval is not None and wave.approval.decided_by(event_id)


def _approval_fits(
    rt: Runtime,
    command: ApprovalGranted | ApprovalDenied,
    event_id: str,
    execution: ExecutionRecord,
    wave: WaveRecord,
) -> bool:
    if execution.status not in RUNNABLE_EXECUTION:
        reject_command(rt, command, event_id, f"execution is {execution.status}, not running", command.wave_id)
        return False
    if wave.status != WaveStatus.AWAITING_APPROVAL:
        reject_command(
            rt, command, event_id, f"wave {command.wave_id} is {wave.status}, not awaiting approval", command.wave_id
        )
        return False
    approvers = list(wave.approval.approvers or ()) if wave.approval else []
    # `requestedBy` of an operator command is the caller's ARN as AWS authenticated it (the operator endpoint
    # writes it; the bus takes operator commands only from that endpoint): it must be one of the approvers
    if approvers and not admitted(command.requested_by, approvers):
        reject_command(
            rt,
            command,
            event_id,
            f"{command.requested_by} may not decide on wave {command.wave_id}: it is none of the "
            f"approvers ({', '.join(approvers)})",
            command.wave_id,
        )
        return False
    deadline = wave.approval.deadline if wave.approval else None
    if deadline and rt.clock.now() >= parse_iso(deadline):
        # the deadline passed before this decision was handled (its ApprovalTimeout tick is late, or delivered
        # after it): the wave fails as the tick would have failed it, whatever the decision says (campaign
        # seed 661: a DENY 120 s after the deadline decided the wave; a late GRANT would have approved it)
        logger.warning("approval decision after the deadline", wave_id=command.wave_id, deadline=deadline)
        _fail_at_deadline(rt, execution, wave, deadline, key=f"{event_id}:deadline")
        return False
    return True


def _fail_at_deadline(
    rt: Runtime,
    execution: ExecutionRecord,
    wave: WaveRecord,
    deadline: str | None,
    *,
    key: str,
    decision_key: str | None = None,
) -> None:
    """The approval's deadline passed: AWAITING_APPROVAL -> FAILED, TIMED_OUT (the ApprovalTimeout tick, or a
    decision handled after the deadline; only the tick records itself as the approval's decision)."""
    _fail_waiting_wave(
        rt,
        execution,
        wave,
        key=key,
        reason=f"approval not granted by its deadline {deadline}",
        status=ApprovalStatus.TIMED_OUT,
        timed_out_at=rt.ledger.now(),
        **({"decision_key": decision_key} if decision_key is not None else {}),
    )


def grant_approval(rt: Runtime, command: ApprovalGranted, event_id: str) -> None:
    """AWAITING_APPROVAL -> READY with who approved and when; a new WaveReady passes the gate."""
    found = _command_records(rt, command, event_id)
    if found is None:
        return
    execution, wave = found
    if not _decided_by(wave, event_id):
        if not _approval_fits(rt, command, event_id, execution, wave):
            return
        granted = _decided(
            wave,
            status=ApprovalStatus.GRANTED,
            approved_by=command.requested_by,
            approved_at=rt.ledger.now(),
            decision_key=event_id,
            **({"comment": command.comment} if command.comment else {}),
        )
        outcome = rt.ledger.transition_wave(
            command.execution_id,
            command.wave_id,
            from_=[WaveStatus.AWAITING_APPROVAL],
            to=WaveStatus.READY,
            key=event_id,
            changes=WaveChanges(approval=granted),
            decided_by=event_id,
        )
        if outcome is Outcome.REJECTED:
            reject_command(
                rt, command, event_id, f"wave {command.wave_id} is no longer awaiting approval", command.wave_id
            )
            return
        logger.info("approval granted", wave_id=command.wave_id, approved_by=command.requested_by)
        wave = rt.ledger.wave(command.execution_id, command.wave_id) or wave
    if wave.status == WaveStatus.READY and wave.last_key == event_id:
        rt.bus.publish(
            WaveReady(
                execution_id=command.execution_id,
                plan_id=execution.plan_id,
                wave_id=command.wave_id,
                attempt=wave.attempt,
            )
        )


def _decided(wave: WaveRecord, **decision: Any) -> ApprovalRecord:
    """The wave's approval with its decision (`ApprovalRecord` fields). The whole approval is written with the
    transition out of AWAITING_APPROVAL, the only write that changes it once it was requested."""
    asked = wave.approval or ApprovalRecord(status=ApprovalStatus.REQUESTED)
    return replace(asked, **decision)


def _fail_waiting_wave(
    rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, *, key: str, reason: str, **decision: Any
) -> None:
    """AWAITING_APPROVAL -> FAILED, then the wave's onFailure policy (WaveFailed, as a failed launch).
    `decision`: the `ApprovalRecord` fields of the approval's decision."""
    wave_id = wave.wave_id
    outcome = rt.ledger.finish_wave(
        execution.execution_id,
        wave_id,
        from_=[WaveStatus.AWAITING_APPROVAL],
        to=WaveStatus.FAILED,
        key=key,
        changes=WaveChanges(reason=reason, approval=_decided(wave, **decision)),
        decided_by=key,
    )
    if not outcome.proceed:
        return
    rt.ledger.record_execution_failure(execution.execution_id, wave_id)
    logger.warning("wave failed at its approval gate", wave_id=wave_id, reason=reason)
    rt.bus.publish(
        WaveFailed(
            execution_id=execution.execution_id,
            plan_id=execution.plan_id,
            wave_id=wave_id,
            attempt=wave.attempt,  # a wave AWAITING_APPROVAL keeps its attempt until it fails
            reason=reason,
            on_failure=frozen_plan(execution).wave(wave_id).on_failure.value,
        )
    )


def deny_approval(rt: Runtime, command: ApprovalDenied, event_id: str) -> None:
    found = _command_records(rt, command, event_id)
    if found is None:
        return
    execution, wave = found
    if not _decided_by(wave, event_id) and not _approval_fits(rt, command, event_id, execution, wave):
        return
    _fail_waiting_wave(
        rt,
        execution,
        wave,
        key=event_id,
        reason=f"approval denied by {command.requested_by}: {command.reason}",
        status=ApprovalStatus.DENIED,
        denied_by=command.requested_by,
        denied_at=rt.ledger.now(),
        deny_reason=command.reason,
        decision_key=event_id,
    )


def approval_timeout(rt: Runtime, command: ApprovalTimeout, event_id: str) -> None:
    """The deadline of one approval request: fail the wave if it still waits for that request
    (a tick for an older request, or after a decision, changes nothing and is not an error)."""
    execution, wave = _execution_and_wave(rt, command.execution_id, command.wave_id)
    if execution is None or wave is None:
        return
    approval = wave.approval
    asked = approval is not None and approval.request_id == command.request_id
    if not (asked and wave.status == WaveStatus.AWAITING_APPROVAL) and not _decided_by(wave, event_id):
        logger.info("approval timeout after the decision ignored", wave_id=command.wave_id)
        return
    deadline = approval.deadline if approval is not None else None
    _fail_at_deadline(rt, execution, wave, deadline, key=event_id, decision_key=event_id)


# ---- retry and skip --------------------------------------------------------------------------------


def _failed_stoppers(rt: Runtime, execution: ExecutionRecord, but: str) -> list[str]:
    """The FAILED waves (other than `but`) whose onFailure STOP keeps the plan stopped."""
    plan = frozen_plan(execution)
    return sorted(
        w.wave_id
        for w in rt.ledger.waves(execution.execution_id)
        if w.status == WaveStatus.FAILED and w.wave_id != but and plan.wave(w.wave_id).on_failure.value == "STOP"
    )


def _stop_blocks(rt: Runtime, execution: ExecutionRecord, wave_id: str, *, retry: bool) -> str | None:
    """Why a decision on failed wave `wave_id` does not fit the execution (None: it does). A retried wave
    must be able to run, so every other failure that stops the plan must be decided first; a skip may
    come in any order (the plan runs again once the last failure that stopped it is decided)."""
    if execution.cancel_requested or execution.status == ExecutionStatus.CANCELLED:
        return (
            f"execution was cancelled by {'an operator' if execution.cancelled_by is None else execution.cancelled_by}"
        )
    if execution.status == ExecutionStatus.COMPLETED:
        return "execution is COMPLETED"
    if execution.status not in STOPPED_EXECUTION or not retry:
        return None
    others = _failed_stoppers(rt, execution, wave_id)
    if others:
        return f"wave(s) {', '.join(others)} also failed and stop the plan: retry or skip them first"
    return None


def _resume_after_decision(rt: Runtime, execution: ExecutionRecord, wave_id: str, *, key: str) -> ExecutionRecord:
    """After a retry or skip of failed wave `wave_id`: forget its failure; when no failure stops the plan
    any more, take it back to RUNNING; then reopen the waves skipped because of the decided failures.
    Idempotent. Returns the execution now."""
    execution_id = execution.execution_id
    rt.ledger.forget_execution_failure(execution_id, wave_id)
    causes = {wave_id}
    if execution.status in STOPPED_EXECUTION and not execution.cancel_requested:
        if _failed_stoppers(rt, execution, wave_id):
            logger.info("plan stays stopped: other failures stop it", execution_id=execution_id)
            return rt.ledger.execution(execution_id) or execution
        outcome = rt.ledger.reopen_execution(execution_id, from_=sorted(STOPPED_EXECUTION), key=f"{key}:reopen")
        logger.info("execution reopened", execution_id=execution_id, by_wave=wave_id, outcome=outcome.value)
        # every failure the waves were skipped for is decided now (the stop's, and any skipped meanwhile)
        causes |= {w.wave_id for w in rt.ledger.waves(execution_id) if w.status != WaveStatus.FAILED}
    reopen_skipped_for(rt, execution_id, causes, key=key)
    return rt.ledger.execution(execution_id) or execution


def _with_failed_attempt(wave: WaveRecord, servers: Mapping[str, ServerResult]) -> tuple[WaveAttempt, ...]:
    """The wave's `previousAttempts` once a retry has archived its failed attempt (`WaveAttempt.archived`: the
    report's `previousAttempts`). How each server ended it stays in the server's own item (its history, see
    `Ledger.reset_servers`): a wave of thousands of servers would not fit in the wave's."""
    launched = sum(1 for s in servers.values() if s.launched)
    return (*wave.previous_attempts, wave.current.archived(servers_launched=launched))


def retry_wave(rt: Runtime, command: RetryWave, event_id: str) -> None:
    """A FAILED wave runs again (attempt + 1): only its servers that did not launch, unless `allServers`."""
    found = _command_records(rt, command, event_id)
    if found is None:
        return
    execution, wave = found
    if wave.retry_key != event_id:
        if wave.status != WaveStatus.FAILED:
            reject_command(
                rt,
                command,
                event_id,
                f"wave {command.wave_id} is {wave.status}: only a FAILED wave can be retried",
                command.wave_id,
            )
            return
        blocked = _stop_blocks(rt, execution, command.wave_id, retry=True)
        if blocked:
            reject_command(rt, command, event_id, blocked, command.wave_id)
            return
        plan_wave = frozen_plan(execution).wave(command.wave_id)
        servers = rt.ledger.wave_servers(command.execution_id, command.wave_id)
        # a wave with `rollback: TERMINATE` lost the instances it did launch when it failed: all go again
        every = command.all_servers or plan_wave.rollback.value == "TERMINATE"
        launched = {sid for sid, s in servers.items() if s.launched}
        relaunch = [sid for sid in plan_wave.server_ids if every or sid not in launched]
        if not relaunch:
            reject_command(
                rt,
                command,
                event_id,
                f"every server of wave {command.wave_id} launched: retry with allServers to launch them all again",
                command.wave_id,
            )
            return
        # the servers that stay as they were are counted; the relaunched ones start the new attempt clean
        # (Ledger.reset_servers, before the wave is released)
        again = set(relaunch)
        kept = [s.launch_status for sid, s in servers.items() if sid not in again]
        retry = WaveChanges(
            retry_key=event_id,
            retried_by=command.requested_by,
            retried_at=rt.ledger.now(),
            ready_at=rt.ledger.now(),
            launch_servers=tuple(relaunch),
            jobs_expected=0,
            jobs_done=0,
            jobs=(),  # the new attempt's jobs only
            previous_attempts=_with_failed_attempt(wave, servers),
            servers_launched=kept.count(ServerLaunchStatus.LAUNCHED),
            servers_failed=kept.count(ServerLaunchStatus.FAILED),
        )
        outcome = rt.ledger.move_wave(
            command.execution_id,
            command.wave_id,
            from_=[WaveStatus.FAILED],
            to=WaveStatus.READY,
            key=event_id,
            changes=retry,
            removes=RETRY_CLEARS,
            new_attempt=True,
            count=-1,
            decided_by=event_id,
        )
        if outcome is Outcome.REJECTED:
            reject_command(rt, command, event_id, f"wave {command.wave_id} is no longer FAILED", command.wave_id)
            return
        logger.info("wave retried", wave_id=command.wave_id, servers=len(relaunch), by=command.requested_by)
        metrics.add_metric(name="WavesRetried", unit="Count", value=1)
        wave = rt.ledger.wave(command.execution_id, command.wave_id) or wave
    if wave.last_key != event_id:
        return  # a redelivery after the retried wave moved on: everything that follows was done
    # before the wave is released: its relaunched servers are NOT_STARTED again (redone by a redelivery)
    rt.ledger.reset_servers(
        command.execution_id, command.wave_id, list(wave.launch_servers or ()), attempt=wave.attempt
    )
    execution = _resume_after_decision(rt, execution, command.wave_id, key=event_id)
    rt.bus.publish(
        WaveReady(
            execution_id=command.execution_id,
            plan_id=execution.plan_id,
            wave_id=command.wave_id,
            attempt=wave.attempt,
        )
    )


def _not_the_gates_approver(execution: ExecutionRecord, command: SkipWave) -> str | None:
    """Why the caller may not skip the wave (None: it may). A wave with an approval gate in this mode is skipped
    only by one of its approvers: skipping releases what depends on it, so a caller who may not approve the gate
    could otherwise step around it, or undo an approver's denial (red team, issue #13)."""
    gate = gate_for(frozen_plan(execution), command.wave_id, execution.mode)
    if gate is None or not gate.approvers or admitted(command.requested_by, gate.approvers):
        return None
    return (
        f"{command.requested_by} may not skip wave {command.wave_id}: it has an approval gate ({gate.why}) and "
        f"only its approvers may skip it ({', '.join(gate.approvers)})"
    )


def skip_wave(rt: Runtime, command: SkipWave, event_id: str) -> None:
    """A FAILED or not yet started wave is SKIPPED by decision, and its dependents are released."""
    found = _command_records(rt, command, event_id)
    if found is None:
        return
    execution, wave = found
    execution_id = command.execution_id
    reason = f"skipped by {command.requested_by}: {command.reason}"
    if wave.skip_key != event_id:
        refused = _not_the_gates_approver(execution, command)
        if refused:
            reject_command(rt, command, event_id, refused, command.wave_id)
            return
        skip = WaveChanges(
            skip_key=event_id, skipped_by=command.requested_by, skipped_at=rt.ledger.now(), reason=reason
        )
        if wave.status == WaveStatus.FAILED:
            blocked = _stop_blocks(rt, execution, command.wave_id, retry=False)
            if blocked:
                reject_command(rt, command, event_id, blocked, command.wave_id)
                return
            outcome = rt.ledger.move_wave(
                execution_id,
                command.wave_id,
                from_=[WaveStatus.FAILED],
                to=WaveStatus.SKIPPED,
                key=event_id,
                changes=replace(skip, skipped_from=WaveStatus.FAILED.value, failed_reason=wave.current.reason or ""),
                removes=["skipped_for"],
                decided_by=event_id,
            )
        elif wave.status in NOT_STARTED_WAVE:
            if execution.status not in RUNNABLE_EXECUTION:
                reject_command(rt, command, event_id, f"execution is {execution.status}, not running", command.wave_id)
                return
            outcome = rt.ledger.finish_wave(
                execution_id,
                command.wave_id,
                from_=sorted(NOT_STARTED_WAVE),
                to=WaveStatus.SKIPPED,
                key=event_id,
                changes=replace(skip, skipped_from=wave.status.value),
                decided_by=event_id,
            )
        else:
            reject_command(
                rt,
                command,
                event_id,
                f"wave {command.wave_id} is {wave.status}: only a FAILED or not yet started wave can be skipped",
                command.wave_id,
            )
            return
        if outcome is Outcome.REJECTED:
            reject_command(rt, command, event_id, f"wave {command.wave_id} changed meanwhile", command.wave_id)
            return
        logger.info("wave skipped by an operator", wave_id=command.wave_id, by=command.requested_by)
        wave = rt.ledger.wave(execution_id, command.wave_id) or wave
    if wave.last_key != event_id:
        return
    if wave.skipped_from == WaveStatus.FAILED:
        execution = _resume_after_decision(rt, execution, command.wave_id, key=event_id)
    else:
        execution = rt.ledger.execution(execution_id) or execution
    rt.bus.publish(
        WaveSkipped(
            execution_id=execution_id,
            plan_id=execution.plan_id,
            wave_id=command.wave_id,
            attempt=wave.attempt,
            reason=reason,
            skipped_by=command.requested_by,
        )
    )
    release_dependents(rt, execution, wave, key=event_id)
    close_plan_if_done(rt, execution_id, key=event_id)
