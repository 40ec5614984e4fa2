"""The wave launcher: the tasks of the wave launch Express state machine, and its scheduled work.

Invoked by the state machine with an `action`: `prepare` cuts the wave into jobs; `start_job` admits,
claims and starts one DRS job (DRS errors that are worth retrying are raised by their class name, which
the state machine's Retry matches); `chunk_failed` records a chunk that could not be launched.

Invoked by EventBridge with CapacityTick: start the launches parked until the DRS quotas had room.
"""

from __future__ import annotations

from typing import Any

from events.envelope import InvalidEvent, parse_event
from events.models import CapacityTick, PreLaunchDone
from handlers._lambda import dispatch, function_name, lambda_handler, parse_known
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime, get_runtime
from orchestrator.steps.handler_failures import give_up
from orchestrator.steps.launch_wave import chunk_failed, chunk_from_input, drain, prepare, start_job, task_output


def _capacity_tick(rt: Runtime, event: dict[str, Any]) -> dict[str, int]:
    parse_event(event, CapacityTick)
    return drain(rt)


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    if action is None:
        return dispatch(event, {CapacityTick.DETAIL_TYPE: _capacity_tick})
    rt = get_runtime()
    if action == "prepare":
        envelope = event.get("event")
        try:
            detail = parse_known(rt, envelope, PreLaunchDone)  # type: ignore[arg-type]
        except InvalidEvent as exc:  # dropped, like every handler drops a malformed event
            logger.error("invalid event dropped", error=str(exc))
            metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
            return {"proceed": False, "reason": str(exc), "chunks": []}
        try:
            return task_output(prepare(rt, detail, str(envelope["id"])))  # type: ignore[index]
        except Exception as exc:  # the state machine retries the task; at the budget the wave fails
            if give_up(rt, envelope, function_name(), exc):  # type: ignore[arg-type]
                return {"proceed": False, "reason": str(exc), "chunks": []}
            raise
    if action == "start_job":
        return task_output(start_job(rt, chunk_from_input(event["chunk"])))
    if action == "chunk_failed":
        return task_output(chunk_failed(rt, chunk_from_input(event["chunk"]), event.get("error") or {}))
    raise ValueError(f"unknown action {action!r}")
