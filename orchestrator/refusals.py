"""A refused event is answered once, and stays refused.

An invalid StartPlan is answered with PlanFailed, an operator command that does not fit with
ControlRejected. EventBridge delivers at least once: without a record, every redelivery would announce
the refusal again (an alarm on PlanFailed pages twice), and a command refused while its wave was running
could take effect when a late redelivery finds the wave failed. So the refusal is written to the ledger
(keyed by the refused event's id, expiring with the executions) before it is announced: a redelivery finds
it, announces it only if the first delivery died before it could, and is not looked at again.
"""

from __future__ import annotations

import json

from events.models import BY_DETAIL_TYPE, Contract
from orchestrator.observability import logger
from orchestrator.runtime import Runtime


def refuse(rt: Runtime, event_id: str, answer: Contract) -> None:
    """Refuse event `event_id` with `answer` (a PlanFailed or ControlRejected), announced once."""
    earlier = rt.ledger.record_refusal(event_id, answer.DETAIL_TYPE, answer.to_detail())
    if earlier is not None and earlier.get("announced"):
        logger.info("refusal already announced", event_id=event_id, answer=answer.DETAIL_TYPE)
        return
    rt.bus.publish(answer)
    rt.ledger.mark_refusal_announced(event_id)


def refused_before(rt: Runtime, event_id: str) -> bool:
    """Whether event `event_id` was refused before (a redelivery). Its refusal stands; if the delivery
    that refused it died before announcing it, it is announced now."""
    earlier = rt.ledger.get_refusal(event_id)
    if earlier is None:
        return False
    logger.info("redelivered event was refused before: the refusal stands", event_id=event_id)
    if not earlier.get("announced"):
        model = BY_DETAIL_TYPE[str(earlier["detailType"])]
        rt.bus.publish(model.model_validate(json.loads(str(earlier["detail"]))))
        rt.ledger.mark_refusal_announced(event_id)
    return True
