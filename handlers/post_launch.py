"""DRSJobCompleted -> record the job; after the wave's last job, judge it and run post-launch."""

from __future__ import annotations

from typing import Any

from events.envelope import parse_event
from events.models import DRSJobCompleted
from handlers._lambda import dispatch, lambda_handler
from orchestrator.phases import on_job_completed
from orchestrator.runtime import Runtime


def _job_completed(rt: Runtime, event: dict[str, Any]) -> None:
    on_job_completed(rt, parse_event(event, DRSJobCompleted), str(event["id"]))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {DRSJobCompleted.DETAIL_TYPE: _job_completed})
