"""The committed registry schemas: in sync with the models, valid Draft 4, and as strict as the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from pydantic import BaseModel, Field

from events.generate import (
    DRAFT4,
    SCHEMAS_DIR,
    SchemaConversionError,
    all_schemas,
    drift,
    load_schema,
    main,
    render,
    schema_for,
    to_draft4,
    write_schemas,
)
from events.models import ALL_EVENTS, OPERATOR_COMMANDS, OPERATOR_SOURCE, SOURCE, Contract, StartPlan, WaveReady

MODELS = pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda model: model.DETAIL_TYPE)


@MODELS
def test_committed_schema_matches_the_model(model: type[Contract]) -> None:
    # GIVEN the committed schema file of a detail-type
    path = SCHEMAS_DIR / f"{model.DETAIL_TYPE}.json"
    assert path.exists(), f"{path} is missing: run `make schemas` and commit events/schemas/"

    # WHEN it is compared with what the model generates today
    committed = path.read_text(encoding="utf-8")

    # THEN they are identical, to the byte
    assert json.loads(committed) == schema_for(model), (
        f"{path.name} has drifted from events.models.{model.__name__}: run `make schemas` and commit it"
    )
    assert committed == render(schema_for(model)), f"{path.name} is not in canonical form: run `make schemas`"


def test_no_schema_file_without_a_model() -> None:
    # GIVEN the detail-types of the models
    expected = {model.DETAIL_TYPE for model in ALL_EVENTS}

    # WHEN the schema directory is listed
    on_disk = {path.stem for path in SCHEMAS_DIR.glob("*.json")}

    # THEN no stale schema would still be deployed to the registry
    assert on_disk == expected, f"stale or missing schemas {on_disk ^ expected}: run `make schemas`"
    assert drift() == [], "run `make schemas`"


@MODELS
def test_schema_is_a_valid_draft4_event_schema(model: type[Contract]) -> None:
    # GIVEN the schema of a detail-type
    schema = load_schema(model.DETAIL_TYPE)

    # THEN it is Draft 4, describes the whole envelope, and pins source and detail-type
    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT4
    # an operator command comes only from the operator endpoint; a StartPlan from the bus's publishers or it
    sources = (
        [OPERATOR_SOURCE]
        if model in OPERATOR_COMMANDS
        else [SOURCE, OPERATOR_SOURCE]
        if model is StartPlan
        else [SOURCE]
    )
    assert schema["properties"]["source"]["enum"] == sources
    assert schema["properties"]["detail-type"]["enum"] == [model.DETAIL_TYPE]
    assert schema["properties"]["detail"] == {"$ref": f"#/definitions/{model.DETAIL_TYPE}"}
    assert set(schema["required"]) >= {"source", "detail-type", "detail", "time", "id"}
    assert schema["x-amazon-events-detail-type"] == model.DETAIL_TYPE
    assert schema["x-amazon-events-source"] == sources[0]


def _keywords(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set(node)
        for value in node.values():
            found |= _keywords(value)
        return found
    if isinstance(node, list):
        return set().union(*(_keywords(item) for item in node)) if node else set()
    return set()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


@MODELS
def test_schema_uses_no_post_draft4_keywords(model: type[Contract]) -> None:
    # GIVEN the schema of a detail-type
    schema = schema_for(model)

    # THEN no Draft 6+ keyword is left and every $ref resolves in definitions
    assert not _keywords(schema) & {"$defs", "const", "examples", "prefixItems", "propertyNames"}
    for ref in _refs(schema):
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in schema["definitions"], ref


def test_detail_is_camel_case_and_closed() -> None:
    # GIVEN a wave event's detail definition
    detail = schema_for(WaveReady)
    definition = detail["definitions"]["WaveReady"]

    # THEN it is by alias, rejects unknown fields, and pins the contract version
    assert {"executionId", "planId", "waveId", "attempt", "version"} <= set(definition["properties"])
    assert definition["additionalProperties"] is False
    assert definition["properties"]["version"]["enum"] == ["1"]
    assert definition["properties"]["attempt"]["minimum"] == 1


def test_all_schemas_is_keyed_by_detail_type() -> None:
    schemas = all_schemas()
    assert list(schemas) == [model.DETAIL_TYPE for model in ALL_EVENTS]


# ---- the Draft 2020-12 -> Draft 4 conversion ---------------------------------------------------


class _Inner(BaseModel):
    tag: str = Field(examples=["blue"])


class _Outer(BaseModel):
    ratio: float = Field(gt=0, lt=1)
    inner: _Inner
    maybe: _Inner | None = None
    fixed: int = Field(default=3, json_schema_extra={"const": 3})


def test_conversion_rewrites_2020_12_keywords() -> None:
    # GIVEN a pydantic schema with $defs, exclusive bounds and examples
    source = _Outer.model_json_schema()

    # WHEN it is converted
    converted = to_draft4(source)

    # THEN it is Draft 4: definitions, boolean exclusive bounds, one-value enums, no examples
    assert "$defs" not in converted
    assert set(converted["definitions"]) == {"_Inner"}
    assert converted["properties"]["inner"] == {"$ref": "#/definitions/_Inner"}
    ratio = converted["properties"]["ratio"]
    assert (ratio["minimum"], ratio["exclusiveMinimum"], ratio["maximum"], ratio["exclusiveMaximum"]) == (
        0,
        True,
        1,
        True,
    )
    assert converted["properties"]["fixed"]["enum"] == [3]
    assert "examples" not in converted["definitions"]["_Inner"]["properties"]["tag"]
    Draft4Validator.check_schema(converted)
    assert Draft4Validator(converted).is_valid({"ratio": 0.5, "inner": {"tag": "x"}})
    assert not Draft4Validator(converted).is_valid({"ratio": 1, "inner": {"tag": "x"}})


def test_conversion_keeps_ref_siblings_meaningful() -> None:
    # GIVEN a $ref with a validating sibling (Draft 4 would ignore it)
    source = {"$ref": "#/$defs/X", "description": "d", "minProperties": 1, "$defs": {"X": {"type": "object"}}}

    # WHEN it is converted
    converted = to_draft4(source)

    # THEN the sibling moves into an allOf next to the $ref
    assert converted["allOf"] == [{"$ref": "#/definitions/X"}]
    assert converted["minProperties"] == 1
    assert converted["description"] == "d"


class _Tuple(BaseModel):
    pair: tuple[int, str]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (_Tuple.model_json_schema(), "prefixItems"),
        ({"$ref": "https://example.com/x.json"}, r"unsupported \$ref"),
        ({"type": "number", "minimum": 0, "exclusiveMinimum": 1}, "one bound per side"),
    ],
)
def test_conversion_refuses_what_draft4_cannot_say(source: dict[str, Any], message: str) -> None:
    with pytest.raises(SchemaConversionError, match=message):
        to_draft4(source)


# ---- the generator command ---------------------------------------------------------------------


def test_write_then_check_then_detect_drift(tmp_path: Path) -> None:
    # GIVEN freshly written schemas
    written = write_schemas(tmp_path)
    assert len(written) == len(ALL_EVENTS)
    assert main(["--check", "--out", str(tmp_path)]) == 0

    # WHEN one is edited by hand and a stale one is left behind
    (tmp_path / "WaveReady.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "Gone.json").write_text("{}\n", encoding="utf-8")

    # THEN the check names both and fails; regenerating fixes both
    assert drift(tmp_path) == [
        "WaveReady.json: differs from the model",
        "Gone.json: no model has this detail-type",
    ]
    assert main(["--check", "--out", str(tmp_path)]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert drift(tmp_path) == []
    assert not (tmp_path / "Gone.json").exists()
    assert (tmp_path / "WaveReady.json").read_text(encoding="utf-8").endswith("}\n")
