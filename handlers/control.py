"""Operator commands on the bus: cancel, pause, resume (approval, retry and skip build on these)."""

from __future__ import annotations

from typing import Any

from events.envelope import parse_event
from events.models import CancelPlan, PausePlan, ResumePlan
from handlers._lambda import dispatch, lambda_handler
from orchestrator.control import cancel_plan, pause_plan, resume_plan
from orchestrator.runtime import Runtime


def _cancel(rt: Runtime, event: dict[str, Any]) -> None:
    cancel_plan(rt, parse_event(event, CancelPlan), str(event["id"]))


def _pause(rt: Runtime, event: dict[str, Any]) -> None:
    pause_plan(rt, parse_event(event, PausePlan), str(event["id"]))


def _resume(rt: Runtime, event: dict[str, Any]) -> None:
    resume_plan(rt, parse_event(event, ResumePlan), str(event["id"]))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {CancelPlan.DETAIL_TYPE: _cancel, PausePlan.DETAIL_TYPE: _pause,
                            ResumePlan.DETAIL_TYPE: _resume})
