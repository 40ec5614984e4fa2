"""Sample events: one per detail-type, valid against the committed schema and the model."""

from __future__ import annotations

import json
import uuid

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from jsonschema import Draft4Validator, FormatChecker

from events.envelope import parse_event
from events.generate import load_schema
from events.models import (
    ALL_EVENTS,
    DRS_LAUNCH_RESULT,
    DRS_SOURCE,
    LAMBDA_RESULT_FAILURE,
    LAMBDA_RESULT_SUCCESS,
    LAMBDA_SOURCE,
    SOURCES,
    SSM_AUTOMATION_STATUS,
    SSM_COMMAND_STATUS,
    SSM_SOURCE,
    Contract,
)
from events.samples import SAMPLES_DIR, load_sample, sample_detail_types

MODELS = pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda model: model.DETAIL_TYPE)
AWS_EVENTS = {
    DRS_LAUNCH_RESULT: DRS_SOURCE,
    SSM_COMMAND_STATUS: SSM_SOURCE,
    SSM_AUTOMATION_STATUS: SSM_SOURCE,
    LAMBDA_RESULT_SUCCESS: LAMBDA_SOURCE,
    LAMBDA_RESULT_FAILURE: LAMBDA_SOURCE,
}


def test_every_contract_and_consumed_aws_event_has_a_sample() -> None:
    expected = {model.DETAIL_TYPE for model in ALL_EVENTS} | set(AWS_EVENTS)
    assert set(sample_detail_types()) == expected
    assert sample_detail_types() == sorted(expected)


def test_sample_files_are_named_after_their_event() -> None:
    for path in SAMPLES_DIR.glob("*.json"):
        event = json.loads(path.read_text(encoding="utf-8"))
        name = event["detail-type"] if event["source"] in SOURCES else f"{event['source']}-{event['detail-type']}"
        assert path.stem == name, path.name


@MODELS
def test_sample_validates_against_committed_schema(model: type[Contract]) -> None:
    # GIVEN the sample event and the committed schema of a detail-type
    event = load_sample(model.DETAIL_TYPE)
    validator = Draft4Validator(load_schema(model.DETAIL_TYPE), format_checker=FormatChecker())

    # THEN the schema accepts it (listing every problem if not)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
    assert problems == []


@MODELS
def test_sample_parses_with_its_model(model: type[Contract]) -> None:
    # GIVEN the sample event of a detail-type
    event = load_sample(model.DETAIL_TYPE)

    # WHEN a handler parses it (an operator command's source is the operator endpoint's)
    detail = parse_event(event, model, sources=SOURCES)

    # THEN it is the model, and its detail is exactly what the model would publish
    assert isinstance(detail, model)
    assert detail.to_detail() == event["detail"]


@pytest.mark.parametrize("detail_type", sample_detail_types())
def test_sample_is_a_delivered_eventbridge_event(detail_type: str) -> None:
    event = load_sample(detail_type)
    envelope = EventBridgeModel.model_validate(event)
    assert envelope.version == "0"
    assert envelope.account == "123456789012"
    assert envelope.region == "us-east-1"
    assert uuid.UUID(envelope.id).version == 4
    assert envelope.time.tzinfo is not None


def test_drs_launch_result_sample_has_the_documented_shape() -> None:
    event = load_sample(DRS_LAUNCH_RESULT)
    assert event["source"] == DRS_SOURCE
    assert event["detail"]["state"] in {"RECOVERY_LAUNCH_SUCCEEDED", "RECOVERY_LAUNCH_FAILED"}
    assert event["detail"]["job-id"].startswith("drsjob-")
    assert event["detail"]["is-drill"] in {"TRUE", "FALSE"}
    # the source server is only named by its ARN in resources
    assert event["resources"][0].split(":source-server/")[1].startswith("s-")


def test_ssm_command_status_sample_has_the_documented_shape() -> None:
    event = load_sample(SSM_COMMAND_STATUS)
    assert event["source"] == SSM_SOURCE
    documented = {"command-id", "document-name", "instance-id", "requested-date-time", "status"}
    assert documented <= set(event["detail"])


@pytest.mark.parametrize("detail_type", [LAMBDA_RESULT_SUCCESS, LAMBDA_RESULT_FAILURE])
def test_lambda_invocation_record_samples_have_the_documented_shape(detail_type: str) -> None:
    # GIVEN the record Lambda's destination puts on the bus (Lambda developer guide, asynchronous invocation)
    event = load_sample(detail_type)

    # THEN it has the invocation record's parts, the qualified function in resources, and our correlation id
    assert event["source"] == LAMBDA_SOURCE
    assert {"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"} <= set(
        event["detail"]
    )
    context = event["detail"]["requestContext"]
    assert event["resources"] == [context["functionArn"]]
    assert context["condition"] == ("Success" if detail_type == LAMBDA_RESULT_SUCCESS else "RetriesExhausted")
    assert event["detail"]["requestPayload"]["drsOrchestrator"]["correlationId"].startswith("drsorch-")


def test_load_sample_returns_a_fresh_copy() -> None:
    first = load_sample("WaveReady")
    first["detail"]["waveId"] = "changed"
    assert load_sample("WaveReady")["detail"]["waveId"] != "changed"


def test_load_sample_of_unknown_detail_type_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"samples exist for: .*WaveReady"):
        load_sample("NoSuchEvent")
