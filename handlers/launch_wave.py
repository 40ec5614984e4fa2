"""The tasks of the wave launch Express state machine (`infra/wave_launch.asl.json`).

`prepare` cuts the wave into jobs; `start_job` claims and starts one DRS job (DRS errors that are worth
retrying are raised by their class name, which the state machine's Retry matches); `chunk_failed`
records a chunk that could not be launched.
"""

from __future__ import annotations

from typing import Any

from events.envelope import InvalidEvent, parse_event
from events.models import PreLaunchDone
from handlers._lambda import lambda_handler
from orchestrator.launcher import chunk_failed, prepare, start_job
from orchestrator.observability import logger, metrics
from orchestrator.runtime import get_runtime


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rt = get_runtime()
    action = event.get("action")
    if action == "prepare":
        envelope = event.get("event")
        try:
            detail = parse_event(envelope, PreLaunchDone)  # type: ignore[arg-type]
        except InvalidEvent as exc:  # dropped, like every handler drops a malformed event
            logger.error("invalid event dropped", error=str(exc))
            metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
            return {"proceed": False, "reason": str(exc), "chunks": []}
        return prepare(rt, detail, str(envelope["id"]))  # type: ignore[index]
    if action == "start_job":
        return start_job(rt, event["chunk"])
    if action == "chunk_failed":
        return chunk_failed(rt, event["chunk"], event.get("error") or {})
    raise ValueError(f"unknown action {action!r}")
