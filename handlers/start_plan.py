"""StartPlan -> validate the plan, create the execution, publish PlanStarted and the root WaveReady. Failback -> the
failback execution of a completed RECOVERY (orchestrator/steps/failback.py); Reprotect, or PlanCompleted of a
failback that asked for it -> protect its servers again (orchestrator/steps/reprotect.py). A StartPlan
comes from the bus's publishers (SOURCE: drills) or from the operator endpoint (OPERATOR_SOURCE: drills and
RECOVERY, for a verified recovery principal); the step is told which, and only once the operator's proof holds
(orchestrator/steps/operator_proof.py): a StartPlan naming the operator source without a valid proof (a direct
Invoke writes the source field itself) is refused like a malformed one (PlanFailed, InvalidEvents), nothing
started."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from events.envelope import InvalidEvent, parse_event
from events.models import OPERATOR_SOURCE, SOURCE, SOURCES, Failback, PlanCompleted, Reprotect, StartPlan
from handlers._lambda import dispatch, lambda_handler
from orchestrator.runtime import Runtime
from orchestrator.steps.failback import start_failback
from orchestrator.steps.operator_proof import proven_command_id
from orchestrator.steps.reprotect import after_failback, on_reprotect
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


def _proven_source(rt: Runtime, event: dict[str, Any]) -> str:
    """The event's source, the operator's only with its valid proof (InvalidEvent otherwise: nothing done)."""
    if event["source"] == OPERATOR_SOURCE:
        proven_command_id(rt, event)
    return str(event["source"])


def _failback(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    detail = parse_event(event, Failback, sources=SOURCES)
    source = _proven_source(rt, event)
    return {"executionId": start_failback(rt, detail, str(event["id"]), source=source)}


def _reprotect(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    detail = parse_event(event, Reprotect, sources=SOURCES)
    source = _proven_source(rt, event)
    return {"reprotected": on_reprotect(rt, detail, str(event["id"]), source=source)}


def _completed(rt: Runtime, event: dict[str, Any]) -> dict[str, Any]:
    detail = parse_event(event, PlanCompleted, sources=(SOURCE,))
    return {"reprotected": after_failback(rt, detail)}


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        {
            StartPlan.DETAIL_TYPE: _start,
            Failback.DETAIL_TYPE: _failback,
            Reprotect.DETAIL_TYPE: _reprotect,
            PlanCompleted.DETAIL_TYPE: _completed,
        },
    )
