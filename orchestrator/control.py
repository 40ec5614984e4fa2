"""Operator commands, each checked against the ledger: a command that does not fit the execution's
state is rejected with a ControlRejected event and changes nothing."""

from __future__ import annotations

from events.models import CancelPlan, ControlEvent, ControlRejected, PausePlan, ResumePlan, WaveReady
from orchestrator.ledger import Outcome
from orchestrator.observability import logger
from orchestrator.progress import close_plan_if_done, make_ready, stop_plan
from orchestrator.runtime import Runtime


def _reject(rt: Runtime, command: ControlEvent, reason: str, wave_id: str | None = None) -> None:
    logger.warning("control command rejected", command=command.DETAIL_TYPE, reason=reason)
    rt.bus.publish(ControlRejected(execution_id=command.execution_id, command=command.DETAIL_TYPE, reason=reason,
                                   wave_id=wave_id))


def cancel_plan(rt: Runtime, command: CancelPlan, event_id: str) -> None:
    """Nothing new starts; running DRS jobs finish and are recorded; the plan ends CANCELLED."""
    execution = rt.ledger.get_execution(command.execution_id)
    if execution is None:
        _reject(rt, command, "no such execution")
        return
    if execution["status"] not in {"RUNNING", "PAUSED"}:
        _reject(rt, command, f"execution is {execution['status']}, not running")
        return
    if stop_plan(rt, execution, reason=f"cancelled by {command.requested_by}", key=event_id, cancel=True):
        close_plan_if_done(rt, command.execution_id, key=event_id)


def pause_plan(rt: Runtime, command: PausePlan, event_id: str) -> None:
    """No new wave is released; running waves finish."""
    outcome = rt.ledger.set_execution_status(command.execution_id, from_=["RUNNING"], to="PAUSED", key=event_id,
                                             sets={"pausedBy": command.requested_by})
    if outcome is Outcome.REJECTED:
        execution = rt.ledger.get_execution(command.execution_id)
        _reject(rt, command, f"execution is {execution['status']}, not running" if execution
                else "no such execution")


def resume_plan(rt: Runtime, command: ResumePlan, event_id: str) -> None:
    """Release what became due while the plan was paused."""
    outcome = rt.ledger.set_execution_status(command.execution_id, from_=["PAUSED"], to="RUNNING", key=event_id)
    if outcome is Outcome.REJECTED:
        execution = rt.ledger.get_execution(command.execution_id)
        _reject(rt, command, f"execution is {execution['status']}, not paused" if execution
                else "no such execution")
        return
    execution = rt.ledger.get_execution(command.execution_id) or {}
    due = []
    for wave in rt.ledger.list_waves(command.execution_id):
        if wave["status"] == "READY" or (wave["status"] == "PENDING" and int(wave.get("remaining", 1)) == 0
                                         and make_ready(rt, command.execution_id, wave["waveId"],
                                                        key=f"{event_id}:{wave['waveId']}")):
            due.append(wave["waveId"])
    if due:
        rt.bus.publish(*[WaveReady(execution_id=command.execution_id, plan_id=execution["planId"], wave_id=w)
                         for w in due])
