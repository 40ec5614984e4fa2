"""The wave launcher: the tasks of the wave launch Express state machine, and its scheduled work.

Invoked by the state machine with an `action`: `prepare` cuts the wave into jobs; `start_job` admits,
claims and starts one DRS job (DRS errors that are worth retrying are raised by their class name, which
the state machine's Retry matches); `chunk_failed` records a chunk that could not be launched.

Invoked by EventBridge with CapacityTick: start the launches parked until the DRS quotas had room.

Anyone allowed `lambda:InvokeFunction` may call it too, with any payload: nothing in it is trusted. The
PreLaunchDone of `prepare` is checked like every event (`parse_known`), and a chunk against the ledger
(`orchestrator.steps.launch_checks`). An input that can never be valid (malformed, an unknown action, a chunk
the ledger does not back: a made-up execution, a drill flag its execution's mode contradicts, servers that are
not that job's) changes nothing: it is logged, counted (`InvalidEvents`) and answered with the reason
(`status: rejected`; `outcome: REFUSED` for a chunk, which the state machine ends like any handled job),
never raised, so never retried.
"""

from __future__ import annotations

from typing import Any

from events.envelope import InvalidEvent, parse_event
from events.models import CapacityTick, PreLaunchDone
from handlers._lambda import dispatch, function_name, lambda_handler, parse_known
from orchestrator.runtime import Runtime, get_runtime
from orchestrator.steps.handler_failures import give_up
from orchestrator.steps.launch_wave import (
    chunk_failed,
    chunk_from_input,
    drain,
    note_refused,
    prepare,
    start_job,
    task_output,
)

ACTIONS = ("prepare", "start_job", "chunk_failed")


def _capacity_tick(rt: Runtime, event: dict[str, Any]) -> dict[str, int]:
    parse_event(event, CapacityTick)
    return drain(rt)


def _refused(action: str, exc: InvalidEvent, **answer: Any) -> dict[str, Any]:
    note_refused(exc, action=action, source="invocation")
    return {**answer, "status": "rejected", "error": str(exc)}


def _prepare(rt: Runtime, envelope: Any) -> dict[str, Any]:
    try:
        detail = parse_known(rt, envelope, PreLaunchDone)
    except InvalidEvent as exc:  # dropped, like every handler drops a malformed event
        return _refused("prepare", exc, proceed=False, reason=str(exc), chunks=[])
    try:
        return task_output(prepare(rt, detail, str(envelope["id"])))
    except Exception as exc:  # the state machine retries the task; at the budget the wave fails
        if give_up(rt, envelope, function_name(), exc):
            return {"proceed": False, "reason": str(exc), "chunks": []}
        raise


def _chunk_task(rt: Runtime, action: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        chunk = chunk_from_input(event.get("chunk"), action=action)
        if action == "start_job":
            return task_output(start_job(rt, chunk))
        error = event.get("error")
        return task_output(chunk_failed(rt, chunk, error if isinstance(error, dict) else {}))
    except InvalidEvent as exc:
        return _refused(action, exc, outcome="REFUSED", reason=str(exc))


@lambda_handler
def handler(event: Any, context: Any) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action is None:
        return dispatch(event, {CapacityTick.DETAIL_TYPE: _capacity_tick})
    rt = get_runtime()
    if action == "prepare":
        return _prepare(rt, event.get("event"))
    if action in ACTIONS:
        return _chunk_task(rt, str(action), event)
    listed = ", ".join(ACTIONS)
    return _refused(str(action)[:64], InvalidEvent(None, [f"action: {str(action)[:64]!r} is not one of {listed}"]))
