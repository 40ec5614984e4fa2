"""parse_event / detail_type_of / put_events_entry: the EventBridge envelope around the contracts."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from jsonschema import Draft4Validator

from events.envelope import (
    MAX_ENTRY_BYTES,
    EventTooLarge,
    InvalidEvent,
    detail_type_of,
    parse_event,
    put_events_entry,
)
from events.generate import load_schema
from events.models import SOURCE, Mode, PlanCompleted, Problem, StartPlan, WaveCompleted, WaveReady
from events.samples import load_sample


def _wave_ready(**changes: Any) -> dict[str, Any]:
    event = load_sample("WaveReady")
    event.update(changes)
    return event


def _schema_accepts(event: dict[str, Any]) -> bool:
    return bool(Draft4Validator(load_schema("WaveReady")).is_valid(event))


def test_parse_event_returns_the_detail_model() -> None:
    detail = parse_event(load_sample("WaveReady"), WaveReady)
    assert detail.execution_id == "exec-2026-03-14T09-30-00Z-7f3a"
    assert detail.wave_id == "app-tier"
    assert detail.attempt == 1


def test_missing_execution_id_is_named() -> None:
    # GIVEN a WaveReady without executionId
    event = load_sample("WaveReady")
    del event["detail"]["executionId"]

    # WHEN it is parsed
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, WaveReady)

    # THEN the error names the detail-type and the field, and so does the schema
    assert str(caught.value) == "invalid WaveReady event: detail.executionId: Field required"
    assert caught.value.detail_type == "WaveReady"
    assert caught.value.errors == ["detail.executionId: Field required"]
    assert not _schema_accepts(event)


def test_extra_field_is_named() -> None:
    event = load_sample("WaveReady")
    event["detail"]["executionID"] = "typo"
    with pytest.raises(InvalidEvent, match=r"detail\.executionID: Extra inputs are not permitted"):
        parse_event(event, WaveReady)
    assert not _schema_accepts(event)


def test_every_field_error_is_listed() -> None:
    event = load_sample("WaveReady")
    event["detail"].update({"attempt": 0, "waveId": "", "bogus": True})
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event, WaveReady)
    assert sorted(caught.value.errors) == [
        "detail.attempt: Input should be greater than or equal to 1",
        "detail.bogus: Extra inputs are not permitted",
        "detail.waveId: String should have at least 1 character",
    ]


def test_wrong_detail_type_is_refused() -> None:
    event = _wave_ready(**{"detail-type": "WaveCompleted"})
    with pytest.raises(InvalidEvent, match="detail-type: expected 'WaveReady', got 'WaveCompleted'"):
        parse_event(event, WaveReady)
    assert not _schema_accepts(event)


def test_wrong_source_is_refused() -> None:
    event = _wave_ready(source="attacker.app")
    with pytest.raises(InvalidEvent, match=r"source: expected 'drs\.orchestrator', got 'attacker\.app'"):
        parse_event(event, WaveReady)
    assert not _schema_accepts(event)


def test_wrong_source_and_detail_type_are_both_reported() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(_wave_ready(source="aws.drs", **{"detail-type": "Other"}), WaveReady)
    assert len(caught.value.errors) == 2


@pytest.mark.parametrize(("detail", "kind"), [("a string", "str"), ([1, 2], "list"), (None, "NoneType"), (7, "int")])
def test_non_object_detail_is_refused(detail: Any, kind: str) -> None:
    event = _wave_ready(detail=detail)
    with pytest.raises(InvalidEvent, match=f"detail: must be a JSON object, got {kind}"):
        parse_event(event, WaveReady)
    assert not _schema_accepts(event)


def test_missing_detail_is_refused() -> None:
    event = load_sample("WaveReady")
    del event["detail"]
    with pytest.raises(InvalidEvent, match="invalid WaveReady event: detail: Field required"):
        parse_event(event, WaveReady)


def test_broken_envelope_is_named_without_detail_prefix() -> None:
    event = _wave_ready(time="yesterday")
    with pytest.raises(InvalidEvent, match=r"^invalid WaveReady event: time: Input should be a valid datetime"):
        parse_event(event, WaveReady)


def test_non_dict_event_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="event must be a JSON object, got list"):
        parse_event([], WaveReady)  # type: ignore[arg-type]


def test_invalid_event_is_a_value_error() -> None:
    assert issubclass(InvalidEvent, ValueError)


def test_detail_type_of() -> None:
    assert detail_type_of(load_sample("WaveReady")) == "WaveReady"
    assert detail_type_of(load_sample("DRS Source Server Launch Result")) == "DRS Source Server Launch Result"
    with pytest.raises(InvalidEvent, match="detail-type: missing"):
        detail_type_of({"source": SOURCE})
    with pytest.raises(InvalidEvent, match="event must be a JSON object"):
        detail_type_of("WaveReady")


def test_put_events_entry_round_trips_through_parse_event() -> None:
    # GIVEN a detail
    detail = WaveCompleted(execution_id="e-1", plan_id="p", wave_id="w", servers_launched=2, servers_failed=0)

    # WHEN it becomes a PutEvents entry and EventBridge delivers it
    entry = put_events_entry(detail, "drs-orchestrator", resources=["arn:aws:drs:us-east-1:1:job/drsjob-1"])
    delivered = load_sample("WaveCompleted") | {
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "detail": json.loads(entry["Detail"]),
        "resources": entry["Resources"],
    }

    # THEN the entry is well formed and the consumer gets the same detail back
    assert entry["Source"] == SOURCE
    assert entry["DetailType"] == "WaveCompleted"
    assert entry["EventBusName"] == "drs-orchestrator"
    assert json.loads(entry["Detail"])["serversLaunched"] == 2
    assert parse_event(delivered, WaveCompleted) == detail
    assert Draft4Validator(load_schema("WaveCompleted")).is_valid(delivered)


def test_put_events_entry_defaults_resources_to_empty() -> None:
    entry = put_events_entry(WaveReady(execution_id="e", plan_id="p", wave_id="w"), "bus")
    assert entry["Resources"] == []
    assert set(entry) == {"Source", "DetailType", "Detail", "EventBusName", "Resources"}


def test_put_events_entry_refuses_nested_shapes_and_empty_bus() -> None:
    with pytest.raises(TypeError, match="Problem is not an event contract"):
        put_events_entry(Problem(message="x"), "bus")
    with pytest.raises(ValueError, match="bus_name"):
        put_events_entry(WaveReady(execution_id="e", plan_id="p", wave_id="w"), "")


def test_put_events_entry_refuses_non_json_floats() -> None:
    # GIVEN a detail that bypassed validation with Infinity (EventBridge rejects `Infinity`/`NaN`)
    detail = PlanCompleted.model_construct(
        execution_id="e",
        plan_id="p",
        mode=Mode.DRILL,
        waves_completed=1,
        waves_skipped=0,
        duration_seconds=math.inf,
        version="1",
    )
    # WHEN it is published THEN the publisher refuses it, naming the detail-type
    with pytest.raises(ValueError, match="PlanCompleted detail is not valid JSON"):
        put_events_entry(detail, "bus")


def test_models_refuse_non_json_floats() -> None:
    # GIVEN / WHEN a duration of Infinity THEN the model itself refuses it
    with pytest.raises(ValueError, match="finite"):
        PlanCompleted(
            execution_id="e",
            plan_id="p",
            mode=Mode.DRILL,
            waves_completed=1,
            waves_skipped=0,
            duration_seconds=math.inf,
        )


def test_put_events_entry_refuses_oversized_events() -> None:
    huge = StartPlan(plan={"planId": "p", "blob": "x" * MAX_ENTRY_BYTES})
    with pytest.raises(EventTooLarge, match=r"StartPlan entry is \d+ bytes"):
        put_events_entry(huge, "bus")
