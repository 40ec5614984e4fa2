"""The EventBridge envelope around our contracts: parse incoming events, build outgoing PutEvents entries.

Handlers parse with `parse_event(event, Model)`; it uses Powertools' parser with `EventBridgeEnvelope`,
checks that the event is ours (`source`) and of the expected kind (`detail-type`), and turns every
validation failure into one `InvalidEvent` whose message names the detail-type and each field error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.parser import envelopes, parse
from aws_lambda_powertools.utilities.parser.exceptions import InvalidEnvelopeError
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ValidationError

from events.models import BY_DETAIL_TYPE, SOURCE, Contract

T = TypeVar("T", bound=Contract)

# PutEvents' limit for one entry (Source + DetailType + Detail + Resources + Time, in UTF-8 bytes).
MAX_ENTRY_BYTES = 256 * 1024
_TIME_FIELD_BYTES = 14  # EventBridge counts a Time field as 14 bytes whether it is set or not


class InvalidEvent(ValueError):
    """An event that is not the contract its consumer expects.

    `detail_type` is what the event claimed (or `None` when it had none); `errors` lists one readable
    line per problem (`detail.executionId: Field required`).
    """

    def __init__(self, detail_type: str | None, errors: list[str]) -> None:
        self.detail_type = detail_type
        self.errors = list(errors)
        label = detail_type if detail_type is not None else "<no detail-type>"
        super().__init__(f"invalid {label} event: " + "; ".join(self.errors))


class EventTooLarge(ValueError):
    """A PutEvents entry over EventBridge's 256 KiB limit."""


def detail_type_of(event: Any) -> str:
    """The `detail-type` of an EventBridge event, or `InvalidEvent` when it has none."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(None, [f"event must be a JSON object, got {type(event).__name__}"])
    detail_type = event.get("detail-type")
    if not isinstance(detail_type, str) or not detail_type:
        raise InvalidEvent(None, ["detail-type: missing or not a non-empty string"])
    return detail_type


def parse_event(event: dict[str, Any], model: type[T], *, sources: tuple[str, ...] = (SOURCE,)) -> T:
    """Parse an EventBridge event (the dict a Lambda target receives) into its detail model.

    Raises `InvalidEvent` when the event is not a JSON object, its `source` is not one of `sources` (ours;
    an operator command's is `OPERATOR_SOURCE`), its `detail-type` is not `model.DETAIL_TYPE`, or its
    envelope or detail does not validate.
    """
    detail_type = detail_type_of(event)
    expected = model.DETAIL_TYPE
    errors: list[str] = []
    if event.get("source") not in sources:
        wanted = repr(sources[0]) if len(sources) == 1 else " or ".join(repr(s) for s in sources)
        errors.append(f"source: expected {wanted}, got {event.get('source')!r}")
    if detail_type != expected:
        errors.append(f"detail-type: expected {expected!r}, got {detail_type!r}")
    if "detail" in event and not isinstance(event["detail"], Mapping):
        errors.append(f"detail: must be a JSON object, got {type(event['detail']).__name__}")
    if errors:
        raise InvalidEvent(detail_type, errors)
    try:
        parsed = parse(event=dict(event), model=model, envelope=envelopes.EventBridgeEnvelope)
    except ValidationError as exc:
        prefix = "" if exc.title == EventBridgeModel.__name__ else "detail."
        raise InvalidEvent(detail_type, _describe(exc, prefix)) from exc
    except InvalidEnvelopeError as exc:
        raise InvalidEvent(detail_type, [f"envelope: {exc}"]) from exc
    if not isinstance(parsed, model):  # the envelope returns None for a null detail
        raise InvalidEvent(detail_type, ["detail: missing"])
    return parsed


def _describe(exc: ValidationError, prefix: str) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in error["loc"])
        lines.append(f"{prefix}{location}: {error['msg']}" if location else f"{prefix.rstrip('.')}: {error['msg']}")
    return lines or [str(exc)]


def put_events_entry(
    detail: Contract, bus_name: str, resources: list[str] | None = None, *, source: str = SOURCE
) -> dict[str, Any]:
    """One `Entries` item for `events.put_events`: our source (`source`: SOURCE, or OPERATOR_SOURCE for the
    operator endpoint's commands), the model's detail-type, the JSON detail.

    Only top-level contracts (those in `ALL_EVENTS`) can be published; nested shapes such as `Problem`
    cannot. Raises `EventTooLarge` past PutEvents' 256 KiB entry limit.
    """
    detail_type = type(detail).DETAIL_TYPE
    if BY_DETAIL_TYPE.get(detail_type) is not type(detail):
        raise TypeError(f"{type(detail).__name__} is not an event contract (not in ALL_EVENTS)")
    if not bus_name:
        raise ValueError("bus_name must not be empty")
    try:
        body = json.dumps(detail.to_detail(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN or Infinity: EventBridge refuses the entry
        raise ValueError(f"{detail_type} detail is not valid JSON: {exc}") from exc
    entry: dict[str, Any] = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": body,
        "EventBusName": bus_name,
        "Resources": list(resources or []),
    }
    size = _TIME_FIELD_BYTES + sum(
        len(part.encode("utf-8")) for part in (source, detail_type, body, *entry["Resources"])
    )
    if size > MAX_ENTRY_BYTES:
        raise EventTooLarge(
            f"{detail_type} entry is {size} bytes; PutEvents accepts at most {MAX_ENTRY_BYTES} (256 KB, EventBridge's "
            "limit for one entry)"
        )
    return entry
