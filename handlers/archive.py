"""PlanCompleted, PlanFailed and PlanCancelled -> the execution's report in the evidence bucket.

Not `handlers._lambda.dispatch`: that counts a failed handling in the ledger (a write), and this function may only
read the ledger. A malformed event, or a PlanCompleted or PlanCancelled naming an execution (or plan) that does not
exist, is logged, counted (InvalidEvents) and dropped, as every handler does (`parse_known`); a PlanFailed may name
no execution (a StartPlan refused before its execution existed announces itself so): the step stores nothing for it.
Any other failure is raised for Lambda's retries and then the failed-invocations queue (alarmed).
"""

from __future__ import annotations

from typing import Any

from events.envelope import InvalidEvent, detail_type_of, parse_event
from events.models import PlanCancelled, PlanCompleted, PlanFailed
from handlers._lambda import lambda_handler, parse_known
from orchestrator.observability import logger, metrics
from orchestrator.runtime import get_runtime
from orchestrator.steps.archive import archive_execution

ENDINGS = {model.DETAIL_TYPE: model for model in (PlanCompleted, PlanFailed, PlanCancelled)}


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runtime = get_runtime()
    try:
        detail_type = detail_type_of(event)
        model = ENDINGS.get(detail_type)
        if model is None:
            raise InvalidEvent(detail_type, [f"this function does not handle {detail_type!r}"])
        detail = parse_event(event, model) if model is PlanFailed else parse_known(runtime, event, model)
    except InvalidEvent as exc:
        logger.error("invalid event dropped", error=str(exc))
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return {"status": "rejected", "error": str(exc)}
    logger.append_keys(detail_type=detail_type, event_id=event.get("id"), execution_id=detail.execution_id)
    stored = archive_execution(runtime, detail.execution_id)
    return {"status": "ok", "result": {name: outcome.value for name, outcome in stored.items()}}
