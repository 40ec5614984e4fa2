"""Sections of a simulation profile: camelCase keys, and every mistake named by its camelCase key path.

Each section is a pydantic model whose fields are snake_case in Python and camelCase in the file
(``lag_seconds`` is written ``lagSeconds``). pydantic reports a wrong value at the key's own path by its
alias (``drs.servers.s-….lagSeconds: Input should be greater than or equal to 0``); an unknown key is
reported at its own path too, with the keys allowed there, and a snake_case spelling of a known key is
unknown (the file is camelCase).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError


class ProfileSection(BaseModel):
    """Base of every profile section (and of its nested mappings)."""

    # no infinity or NaN anywhere in a profile: a speed or a duration of .inf overflowed the clock (a crash)
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_name=False, validate_by_alias=True, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _name_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # pydantic names the wrong type
        allowed = sorted(field.alias or name for name, field in cls.model_fields.items())
        unknown = [key for key in data if key not in allowed]
        if unknown:
            message = PydanticCustomError(
                "unknown_key", "unknown key (allowed here: {allowed})", {"allowed": ", ".join(allowed)}
            )
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=message, loc=(str(key),), input=data[key]) for key in unknown]
            )
        return data


def invalid(message: str) -> PydanticCustomError:
    """What a section's own check raises: reported as `message` at the section's path (a plain ValueError
    would read "Value error, ..."). `message` is literal text (no format placeholders)."""
    return PydanticCustomError("invalid_profile", message.replace("{", "(").replace("}", ")"))


def problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """``path: message`` for each error, the path as the profile spells it (camelCase keys)."""
    found = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(f"{path}: {message}" if path else message)
    return found


def section_error(exc: ValidationError, prefix: str) -> ValueError:
    """A ValueError naming every problem of the ``prefix`` section by its camelCase key path."""
    return ValueError("; ".join(problems(exc, prefix)))
