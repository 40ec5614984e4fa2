"""Reading a simulator's section of a simulation profile: camelCase keys, every unknown key named."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def mapping(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):  # a ValueError, like every other profile mistake
        raise ValueError(f"profile key {path} must be a mapping, got {type(value).__name__}")  # noqa: TRY004
    return value


def reject_unknown(service: str, path: str, section: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(str(key) for key in section if key not in allowed)
    if unknown:
        names = ", ".join(f"{path}.{key}" for key in unknown)
        raise ValueError(f"unknown {service} profile key(s): {names} (allowed under {path}: {sorted(allowed)})")


def named_sections(service: str, path: str, entries: Mapping[Any, Any], keys: Mapping[str, str],
                   model: type[M]) -> dict[str, M]:
    """`{name: {camelKey: value}}` -> `{name: model(snake_key=value)}`, naming any unknown key."""
    out: dict[str, M] = {}
    for name, raw in entries.items():
        settings = mapping(f"{path}.{name}", raw or {})
        reject_unknown(service, f"{path}.{name}", settings, set(keys))
        out[str(name)] = model(**{keys[key]: value for key, value in settings.items()})
    return out
