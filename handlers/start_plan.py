"""StartPlan -> validate the plan, create the execution, publish PlanStarted and the root WaveReady. A StartPlan
comes from the bus's publishers (SOURCE: drills) or from the operator endpoint (OPERATOR_SOURCE: drills and
RECOVERY, for a verified recovery principal); the step is told which, and only once the operator's proof holds
(orchestrator/steps/operator_proof.py): a StartPlan naming the operator source without a valid proof (a direct
Invoke writes the source field itself) is refused like a malformed one (PlanFailed, InvalidEvents), nothing
started."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from events.envelope import InvalidEvent, parse_event
from events.models import OPERATOR_SOURCE, SOURCES, StartPlan
from handlers._lambda import dispatch, lambda_handler
from orchestrator.runtime import Runtime
from orchestrator.steps.operator_proof import proven_command_id
from orchestrator.steps.start_plan import reject_start, reject_unproven, start_plan


def _start(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = parse_event(event, StartPlan, sources=SOURCES)
    except InvalidEvent as exc:
        if isinstance(exc.__cause__, ValidationError) and event.get("source") and isinstance(event.get("detail"), dict):
            event_id = event.get("id")
            reject_start(rt, event["detail"], str(event_id) if event_id else None, exc.__cause__)
        raise
    if event["source"] == OPERATOR_SOURCE:
        try:
            proven_command_id(rt, event)
        except InvalidEvent as exc:
            reject_unproven(rt, detail, str(event["id"]), exc)
            raise
    return {"executionId": start_plan(rt, detail, str(event["id"]), source=str(event["source"]))}


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {StartPlan.DETAIL_TYPE: _start})
