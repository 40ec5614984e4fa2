"""The base of every plan model (camelCase on the wire, unknown fields refused) and the scalar coercion
shared by fields that hold strings YAML may have read as numbers or booleans."""

from __future__ import annotations

from typing import Any

from pydantic import AliasGenerator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class PlanModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=AliasGenerator(alias=to_camel),
        str_strip_whitespace=True,
        use_enum_values=False,
    )


def scalar_to_str(value: Any) -> Any:
    """YAML turns `1` or `true` into numbers and booleans; SSM parameters, versions and tag values are
    strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def string_map(value: Any) -> Any:
    """A mapping whose values YAML may have read as scalars (`tier: 1`), with those values as strings."""
    if isinstance(value, dict):
        return {key: scalar_to_str(item) for key, item in value.items()}
    return value
