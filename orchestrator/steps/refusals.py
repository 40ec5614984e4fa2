"""One decision per event: a refused event is answered once and stays refused; an accepted command is
never refused afterwards.

An invalid StartPlan is answered with PlanFailed, an operator command that does not fit with
ControlRejected. EventBridge delivers at least once: without a record, every redelivery would announce
the refusal again (an alarm on PlanFailed pages twice), a command refused while its wave was running
could take effect when a late copy finds the wave failed, and a late copy of an accepted PausePlan
could pause the plan again after a resume. So the ledger keeps one decision per event id (expiring
with the executions), written only if none is there yet:

- a command's state change is written in one transaction with its ACCEPTED decision
  (`Ledger._transition`, decided_by): a copy of a refused command changes nothing, however late or concurrent it is,
  and a copy of an accepted one only redoes the follow-ups of its own write (a REPLAY);
- a refusal is recorded REFUSED before it is announced: a later copy announces it only if the delivery
  that refused it died before it could; two copies refusing at the same moment may both announce it
  (at least once, never lost).
"""

from __future__ import annotations

from events.models import BY_DETAIL_TYPE, Contract, ControlEvent, ControlRejected
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime


def refuse(rt: Runtime, event_id: str, answer: Contract) -> None:
    """Refuse event `event_id` with `answer` (a PlanFailed or ControlRejected), announced once; nothing
    when the event was accepted before (a late copy of a command that was carried out)."""
    earlier = rt.ledger.record_refusal(event_id, answer)
    if earlier is not None:
        if earlier.accepted:
            logger.info("late copy of an accepted command: not refused", event_id=event_id, answer=answer.DETAIL_TYPE)
            return
        if earlier.announced:
            logger.info("refusal already announced", event_id=event_id, answer=answer.DETAIL_TYPE)
            return
    rt.bus.publish(answer)
    rt.ledger.mark_refusal_announced(event_id)


def refused_before(rt: Runtime, event_id: str) -> bool:
    """Whether event `event_id` was refused before (a redelivery). Its refusal stands; if the delivery
    that refused it died before announcing it, it is announced now."""
    earlier = rt.ledger.get_decision(event_id)
    if earlier is None or earlier.accepted:
        return False
    logger.info("redelivered event was refused before: the refusal stands", event_id=event_id)
    if not earlier.announced:
        model = BY_DETAIL_TYPE[str(earlier.answer_type)]
        rt.bus.publish(model.model_validate(earlier.answer))
        rt.ledger.mark_refusal_announced(event_id)
    return True


def reject_command(rt: Runtime, command: ControlEvent, event_id: str, reason: str, wave_id: str | None = None) -> None:
    """Refuse an operator command (a control verb, a Failback, a Reprotect) with ControlRejected naming it, once."""
    logger.warning("command rejected", command=command.DETAIL_TYPE, execution_id=command.execution_id, reason=reason)
    metrics.add_metric(name="ControlRejected", unit="Count", value=1)
    refuse(
        rt,
        event_id,
        ControlRejected(
            execution_id=command.execution_id,
            command=command.DETAIL_TYPE,
            reason=reason,
            wave_id=wave_id,
            requested_by=command.requested_by,
        ),
    )
