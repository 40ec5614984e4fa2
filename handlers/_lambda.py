"""What every handler shares: Powertools decorators and dispatch by detail-type.

A malformed event is logged, counted and dropped (returned, not raised): retrying it could never make
it valid, so it must not crash-loop or reach anything with side effects.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from events.envelope import InvalidEvent, detail_type_of
from orchestrator.observability import logger, metrics, tracer
from orchestrator.runtime import Runtime, get_runtime

Route = Callable[[Runtime, dict[str, Any]], Any]


def lambda_handler(fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    @wraps(fn)
    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        return fn(event, context)

    return wrapped


def dispatch(event: dict[str, Any], routes: dict[str, Route]) -> dict[str, Any]:
    try:
        detail_type = detail_type_of(event)
        route = routes.get(detail_type)
        if route is None:
            raise InvalidEvent(detail_type, [f"this function does not handle {detail_type!r}"])
        logger.append_keys(detail_type=detail_type, event_id=event.get("id"))
        result = route(get_runtime(), event)
    except InvalidEvent as exc:
        logger.error("invalid event dropped", error=str(exc))
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return {"status": "rejected", "error": str(exc)}
    return {"status": "ok", **({"result": result} if isinstance(result, dict) else {})}
