"""StartPlan -> validate the plan, create the execution, publish PlanStarted and the root WaveReady."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from events.envelope import InvalidEvent, parse_event
from events.models import StartPlan
from handlers._lambda import dispatch, lambda_handler
from orchestrator.runtime import Runtime
from orchestrator.steps.start_plan import reject_start, start_plan


def _start(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = parse_event(event, StartPlan)
    except InvalidEvent as exc:
        if isinstance(exc.__cause__, ValidationError) and event.get("source") and isinstance(event.get("detail"), dict):
            event_id = event.get("id")
            reject_start(rt, event["detail"], str(event_id) if event_id else None, exc.__cause__)
        raise
    return {"executionId": start_plan(rt, detail, str(event["id"]))}


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {StartPlan.DETAIL_TYPE: _start})
