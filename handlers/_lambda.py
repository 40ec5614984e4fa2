"""What every handler shares: Powertools decorators, dispatch by detail-type, and parsing an event into
its contract while checking that it names what exists (`parse_known`).

A malformed event, or one naming an execution, plan, wave or server that does not exist, is logged,
counted (`InvalidEvents`) and dropped (returned, not raised): retrying it could never make it valid, so it
must not crash-loop into the dead-letter queue or reach anything with side effects. Any other failure is
logged and counted; it is raised for the platform to retry until the retry budget is spent, and then the
wave the event names fails with the error as its reason (`orchestrator.steps.handler_failures`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from events.envelope import InvalidEvent, detail_type_of, parse_event
from events.models import Contract
from orchestrator.observability import logger, metrics, tracer
from orchestrator.runtime import Runtime, get_runtime
from orchestrator.steps.handler_failures import give_up
from orchestrator.steps.references import check_references

Route = Callable[[Runtime, dict[str, Any]], Any]
T = TypeVar("T", bound=Contract)


def parse_known(rt: Runtime, event: dict[str, Any], model: type[T]) -> T:
    """`parse_event`, then `InvalidEvent` unless the execution, plan, wave and servers it names exist."""
    detail = parse_event(event, model)
    check_references(rt, detail)
    return detail


_FUNCTION: ContextVar[str] = ContextVar("function", default="unknown")


def lambda_handler(fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    @wraps(fn)
    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler(capture_response=False)
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        _FUNCTION.set(str(getattr(context, "function_name", None) or fn.__module__))
        return fn(event, context)

    return wrapped


def function_name() -> str:
    """The name of the function handling the current invocation."""
    return _FUNCTION.get()


def dispatch(event: dict[str, Any], routes: dict[str, Route]) -> dict[str, Any]:
    runtime = get_runtime()
    try:
        detail_type = detail_type_of(event)
        route = routes.get(detail_type)
        if route is None:
            raise InvalidEvent(detail_type, [f"this function does not handle {detail_type!r}"])
        logger.append_keys(detail_type=detail_type, event_id=event.get("id"))
        result = route(runtime, event)
    except InvalidEvent as exc:
        logger.error("invalid event dropped", error=str(exc))
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return {"status": "rejected", "error": str(exc)}
    except Exception as exc:
        if give_up(runtime, event, function_name(), exc):
            return {"status": "gave-up", "error": str(exc)}
        raise
    return {"status": "ok", **({"result": result} if isinstance(result, dict) else {})}
