"""Property tests: every contract survives the wire (to_detail -> model_validate) and its schema agrees.

Hypothesis' `from_type` cannot see pydantic's field constraints (min_length, ge, pattern, ...), so the
strategy of a model is derived from its fields: annotation plus constraint metadata.
"""

from __future__ import annotations

import json
import types
from enum import Enum
from functools import cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from events.envelope import parse_event, put_events_entry
from events.generate import load_schema
from events.models import ALL_EVENTS, ApprovalDenied, Contract, ServerLaunch, StartPlan
from events.samples import load_sample

M = TypeVar("M", bound=BaseModel)

MODELS = pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda model: model.DETAIL_TYPE)
PROFILE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for name in ("min_length", "max_length", "ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def _strategy(annotation: Any, limits: dict[str, Any]) -> st.SearchStrategy[Any]:
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(st.none() if arg is type(None) else _strategy(arg, limits) for arg in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_strategy(args[0], {}), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=6), _JSON, max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):  # a contract, or a nested shape
        return model_strategy(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = limits.get("ge", limits["gt"] + 1 if "gt" in limits else -(2**31))
        return st.integers(min_value=low, max_value=limits.get("le", 2**31))
    if annotation is float:
        return st.floats(
            min_value=limits.get("ge", limits.get("gt")),
            max_value=limits.get("le", limits.get("lt")),
            exclude_min="gt" in limits,
            exclude_max="lt" in limits,
            allow_nan=False,
            allow_infinity=False,
        )
    if annotation is str:
        low, high = limits.get("min_length", 0), min(limits.get("max_length", 24), 24)
        if "pattern" in limits:
            return st.from_regex(limits["pattern"], fullmatch=True).filter(lambda s: low <= len(s) <= high)
        return st.text(min_size=low, max_size=high)
    raise NotImplementedError(f"no strategy for {annotation!r}: teach tests/unit/events/test_roundtrip.py")


def _field(info: FieldInfo) -> st.SearchStrategy[Any]:
    return _strategy(info.annotation, _constraints(info.metadata))


# Rules that a validator enforces (the field strategies cannot see them): StartPlan carries exactly one of plan
# and planRef, and a time to live only in a drill; a denial's reason is not blank.
_ACROSS_FIELDS: dict[type[BaseModel], Any] = {
    ApprovalDenied: lambda values: bool(values["reason"].strip()),
    StartPlan: lambda values: (
        (values["plan"] is None) != (values["plan_ref"] is None)
        and (values["drill_instance_ttl_seconds"] is None or values["mode"] == "DRILL")
    ),
}


@cache
def model_strategy(model: type[M]) -> st.SearchStrategy[M]:
    fields = {name: _field(info) for name, info in model.model_fields.items()}
    values = st.fixed_dictionaries(fields)
    if model in _ACROSS_FIELDS:
        values = values.filter(_ACROSS_FIELDS[model])
    return values.map(lambda chosen: model(**chosen))


@MODELS
def test_detail_round_trips(model: type[Contract]) -> None:
    @PROFILE
    @given(model_strategy(model))
    def check(original: Contract) -> None:
        # GIVEN any valid detail, WHEN it goes to the wire and back, THEN nothing is lost
        wire = json.loads(json.dumps(original.to_detail()))
        assert model.model_validate(wire) == original

    check()


@MODELS
def test_published_event_parses_and_matches_its_schema(model: type[Contract]) -> None:
    validator = Draft4Validator(load_schema(model.DETAIL_TYPE))
    envelope = load_sample(model.DETAIL_TYPE)

    @PROFILE
    @given(model_strategy(model))
    def check(original: Contract) -> None:
        # GIVEN any valid detail published through put_events_entry (with the sample's source: an operator
        # command's is the operator endpoint's)
        entry = put_events_entry(original, "bus", source=envelope["source"])
        delivered = envelope | {"detail": json.loads(entry["Detail"]), "source": entry["Source"]}

        # THEN the registry schema accepts what the model produced, and the consumer parses it back
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(delivered)]
        assert problems == []
        assert parse_event(delivered, model, sources=(envelope["source"],)) == original

    check()


def test_from_type_works_for_a_plain_contract() -> None:
    # `st.from_type` alone is enough where a model has no constraints beyond its types
    @PROFILE
    @given(st.from_type(ServerLaunch))
    def check(original: ServerLaunch) -> None:
        assert ServerLaunch.model_validate(original.to_detail()) == original

    check()
