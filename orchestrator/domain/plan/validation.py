"""Load and check a recovery plan, reporting every problem at once with where it is.

Pydantic checks the structure piece by piece (the plan header, then each wave on its own) and the
graph checks run on whatever waves are usable, so a malformed wave does not hide a cycle elsewhere.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from orchestrator.domain.plan.graph import graph_problems
from orchestrator.domain.plan.launch import launch_problems
from orchestrator.domain.plan.limits import MAX_PLAN_BYTES, count_problems, data_problems, size_message
from orchestrator.domain.plan.model import GRAPH_CHECKED, Plan, PlanDefaults, Wave, apply_defaults, inherit_target
from orchestrator.domain.plan.problems import PlanError, Problem, join_path
from orchestrator.domain.plan.run_references import reference_problems
from orchestrator.domain.plan.seed import convert_seed, is_seed_format
from orchestrator.domain.plan.selectors import selector_problems
from orchestrator.domain.plan.source import LimitError, Lines, SourceError, line_of, load_text
from orchestrator.domain.plan.suggest import Suggestions, quote
from orchestrator.domain.plan.target import target_problems

_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_Loc = tuple[str | int, ...]
#: The problem code of a malformed value, by the field it is in (else `invalid-value`; `tags` only in launch
#: settings: a script's targets have tags too).
_FIELD_CODES = {
    "sourceServerID": "invalid-server-id",
    "recoverySnapshotID": "invalid-snapshot-id",
    "subnetId": "invalid-subnet-id",
    "securityGroupIds": "invalid-security-group-id",
    "privateIp": "invalid-private-ip",
    "instanceType": "invalid-instance-type",
    "tags": "invalid-tag",
    "sourceServerTags": "invalid-selector",
}
#: Fields that are mappings of the user's own keys: what follows them in a location is a key, not a field.
_MAP_FIELDS = frozenset({"tags", "sourceServerTags", "parameters"})


@dataclass
class _Pieces:
    """The parts of a plan that are well formed on their own (what the cross-field checks look at)."""

    defaults: PlanDefaults | None = None
    waves: list[tuple[int, Wave]] = dataclass_field(default_factory=list)


def load_plan(path: str | Path) -> Plan:
    """Read a plan file (YAML or JSON, native or seed format); raise PlanError with every problem."""
    source = str(path)
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_PLAN_BYTES + 1)  # never more: a huge file or /dev/zero is not read whole
            if len(raw) > MAX_PLAN_BYTES:
                size = Path(path).stat().st_size  # 0 for a device or a pipe
                problem = Problem(size_message(size if size > MAX_PLAN_BYTES else None), "too-large", source=source)
                raise PlanError([problem], source)
        text = raw.decode("utf-8")
    except FileNotFoundError as exc:
        raise PlanError([Problem("no such file", "unreadable", source=source)], source) from exc
    except IsADirectoryError as exc:
        raise PlanError([Problem("is a directory, not a plan file", "unreadable", source=source)], source) from exc
    except UnicodeDecodeError as exc:
        problem = Problem("not a text file (expected YAML or JSON in UTF-8)", "not-yaml", source=source)
        raise PlanError([problem], source) from exc
    except OSError as exc:
        problem = Problem(f"cannot read the file: {exc.strerror or exc}", "unreadable", source=source)
        raise PlanError([problem], source) from exc
    return parse_plan(text, source)


def parse_plan(data: dict[str, Any] | str, source: str | None = None) -> Plan:
    """A plan from an already loaded dict (e.g. a StartPlan event) or YAML/JSON text."""
    lines: Lines | None = None
    early: list[Problem] = []
    loaded: Any = data
    if isinstance(data, str):
        try:
            loaded, lines, early = load_text(data)
        except LimitError as exc:
            raise PlanError([Problem(exc.message, exc.code, line=exc.line, source=source)], source) from exc
        except SourceError as exc:
            problem = Problem(f"not valid YAML or JSON: {exc.message}", "not-yaml", line=exc.line, source=source)
            raise PlanError([problem], source) from exc
    plan, problems = check_plan(loaded, source, lines)
    problems = _sorted([_with(problem, source, lines) for problem in early]) + problems
    if plan is None or problems:
        raise PlanError(_sorted(problems), source)
    return plan


def check_plan(data: Any, source: str | None = None, lines: Lines | None = None) -> tuple[Plan | None, list[Problem]]:
    """Check a loaded plan: (the plan, []) when valid, else (None, every problem). Never raises."""
    if data is None:
        message = "the plan is empty (expected a mapping with planId and waves)"
        return None, [Problem(message, "not-a-mapping", source=source)]
    if not isinstance(data, dict):
        message = f"the top level must be a mapping with planId and waves, not a {_kind(data)}"
        line = (lines or {}).get("")
        return None, [Problem(message, "not-a-mapping", line=line, source=source)]
    limits = data_problems(data)  # first: every later check may recurse or take time in the input's size
    if not limits and is_seed_format(data):
        data, lines = convert_seed(data, lines, source)
    limits = limits or count_problems(data)
    if limits:
        return None, [_with(problem, source, lines) for problem in limits]
    pieces = _Pieces()
    problems = [
        *_structure_problems(data, pieces),
        *graph_problems(data),
        *_piece_problems(pieces),
        *reference_problems(data),
    ]
    problems = _sorted(_dedupe([_with(problem, source, lines) for problem in problems]))
    if problems:
        return None, problems
    try:
        return Plan.model_validate(data, context={GRAPH_CHECKED: True}), []
    except ValidationError as exc:  # pragma: no cover - every case is caught piecewise above
        return None, [_with(problem, source, lines) for problem in _errors(exc, Plan, data, ())]


def _piece_problems(pieces: _Pieces) -> list[Problem]:
    """The launch-settings and selector checks, on the well-formed waves (the defaults must be well formed:
    every server's settings depend on them)."""
    static = selector_problems(pieces.waves) + target_problems(pieces.waves)
    if pieces.defaults is None:
        return static
    return launch_problems(pieces.defaults, pieces.waves) + static


def _structure_problems(data: dict[str, Any], pieces: _Pieces) -> list[Problem]:
    """Pydantic's problems with the plan header and with each wave on its own; `pieces` gets the parts that
    are well formed."""
    problems: list[Problem] = []
    suggestions = Suggestions()
    waves = data.get("waves")
    header = {key: value for key, value in data.items() if key != "waves"}
    try:
        pieces.defaults = Plan.model_validate({**header, "waves": []}, context={GRAPH_CHECKED: True}).defaults
    except ValidationError as exc:
        problems.extend(_errors(exc, Plan, header, (), suggestions))
    if waves is not None and not isinstance(waves, list):
        problems.append(Problem(f"waves must be a list of waves, not a {_kind(waves)}", "invalid-value", path="waves"))
        return problems
    for index, wave in enumerate(inherit_target(apply_defaults(data)).get("waves") or []):
        prefix: _Loc = ("waves", index)
        if not isinstance(wave, dict):
            problems.append(
                Problem(f"a wave must be a mapping, not a {_kind(wave)}", "invalid-value", path=join_path(*prefix))
            )
            continue
        try:
            pieces.waves.append((index, Wave.model_validate(wave)))
        except ValidationError as exc:
            wave_id = wave.get("waveId", wave.get("wave_id"))
            found = _errors(exc, Wave, wave, prefix, suggestions)
            problems.extend(
                Problem(p.message, p.code, wave_id if isinstance(wave_id, str) else None, p.path) for p in found
            )
    return problems


def _errors(
    exc: ValidationError, model: type[BaseModel], data: Any, prefix: _Loc, suggestions: Suggestions | None = None
) -> list[Problem]:
    suggestions = suggestions or Suggestions()
    found = (_problem(error, model, data, prefix, suggestions) for error in exc.errors())
    return [problem for problem in found if problem is not None]


def _problem(
    error: Mapping[str, Any], model: type[BaseModel], data: Any, prefix: _Loc, suggestions: Suggestions
) -> Problem | None:
    """One pydantic error as a problem at its place in the data (None: it is reported on its own)."""
    kind = error["type"]
    loc = _real_loc(data, tuple(error["loc"]), keep_last=kind in {"missing", "extra_forbidden"})
    if kind == "missing" and loc and isinstance(loc[-1], str):
        loc = (*loc[:-1], _camel_key(loc[-1]))  # a field validated when left out is named by its Python name
    if kind == "missing" and loc and loc[-1] == "targets":
        return None  # the wave's id is missing or malformed, reported on its own
    name = str(next((part for part in reversed(loc) if isinstance(part, str)), "value"))
    path = join_path(*prefix, *loc)
    if kind == "extra_forbidden":
        return _unknown_field(model, loc, name, path, suggestions)
    if kind == "missing":
        return Problem(f"missing required field '{name}'", "missing-field", path=path)
    if "parameters" in loc and loc.index("parameters") < len(loc) - 1:
        cut = loc[: loc.index("parameters") + 2]
        return Problem(
            f"parameter '{quote(cut[-1])}' must be a string or a list of strings",
            "invalid-value",
            path=join_path(*prefix, *cut),
        )
    if kind in _RANGE_ERRORS:
        return _out_of_range(error, model, loc, name, path)
    return _invalid_value(error, name, path)


def _unknown_field(model: type[BaseModel], loc: _Loc, name: str, path: str, suggestions: Suggestions) -> Problem:
    """A field the model does not have, with the closest known one (or the known ones) as a hint."""
    known = _known_fields(model, loc[:-1])
    close = suggestions.closest(name, known)
    hint = f" (did you mean '{close}'?)" if close else f" (known: {', '.join(known)})" if known else ""
    return Problem(f"unknown field '{quote(name)}'{hint}", "unknown-field", path=path)


def _out_of_range(error: Mapping[str, Any], model: type[BaseModel], loc: _Loc, name: str, path: str) -> Problem:
    """A number outside its field's bounds, with the bounds."""
    span = _span(_field_info(model, loc)) or error["msg"].lower()
    code = "timeout-out-of-range" if "timeout" in name.lower() else "out-of-range"
    return Problem(f"{name} {error.get('input')!r} is out of range ({span})", code, path=path)


def _invalid_value(error: Mapping[str, Any], name: str, path: str) -> Problem:
    """Any other error: pydantic's message (a validator's own as it is), coded by the field when it has a code."""
    message = error["msg"].removeprefix("Value error, ")
    code = _field_code(tuple(error["loc"]))
    if error["type"] != "value_error":
        message = f"{name}: {message[:1].lower()}{message[1:]} (got {_short(error.get('input'))})"
    return Problem(message, code, path=path)


def _field_code(loc: _Loc) -> str:
    """The code of the innermost field of `loc` that has one; past a mapping of the user's keys (a tag key
    may be spelt like a field), nothing more is a field."""
    code = "invalid-value"
    in_launch_settings = False
    for part in loc:
        in_launch_settings = in_launch_settings or part in ("launchSettings", "launch_settings")
        if isinstance(part, str) and part in _FIELD_CODES and (part != "tags" or in_launch_settings):
            code = _FIELD_CODES[part]
        if part in _MAP_FIELDS:
            break
    return code


def _real_loc(data: Any, loc: _Loc, *, keep_last: bool) -> _Loc:
    """Drop the parts of a pydantic error location that are not in the data (union member labels)."""
    out: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if _has(current, part):
            current = current[part]
        elif last and keep_last:
            out.append(part)
            break
        elif isinstance(current, dict) and isinstance(part, str) and _snake_key(part) in current:
            current = current[_snake_key(part)]
            part = _snake_key(part)
        else:
            break
        out.append(part)
    return tuple(out)


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _camel_key(name: str) -> str:
    """`document_name` -> `documentName` (a field that is validated when left out is named by its Python name)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake_key(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _unwrap(annotation: Any, part: str | int) -> Any:
    """The type one step down `part` from `annotation` (through Optional, list and dict)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            if arg is not type(None):
                found = _unwrap(arg, part)
                if found is not None:
                    return found
        return None
    if isinstance(part, int) and origin is list:
        return get_args(annotation)[0]
    if isinstance(part, str) and origin is dict:
        return get_args(annotation)[1]
    if isinstance(part, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = _field_named(annotation, part)
        return None if field is None else field.annotation
    return None


def _field_named(model: type[BaseModel], name: str) -> FieldInfo | None:
    for attribute, field in model.model_fields.items():
        if name in (attribute, field.alias):
            return field
    return None


def _model_at(model: type[BaseModel], loc: _Loc) -> Any:
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    while get_origin(current) in (Union, types.UnionType):
        current = next((arg for arg in get_args(current) if arg is not type(None)), None)
    return current


def _known_fields(model: type[BaseModel], loc: _Loc) -> list[str]:
    target = _model_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [field.alias or name for name, field in target.model_fields.items()]
    return []


def _field_info(model: type[BaseModel], loc: _Loc) -> FieldInfo | None:
    parent = _model_at(model, loc[:-1]) if loc else None
    if isinstance(parent, type) and issubclass(parent, BaseModel) and isinstance(loc[-1], str):
        return _field_named(parent, loc[-1])
    return None


def _span(field: FieldInfo | None) -> str | None:
    """The field's bounds as a reader takes them: `1..600` when both are inclusive, else in words (`above 0, at
    most 525600`: an exclusive bound written as `0..` would read as if 0 were allowed); None without both."""
    bounds: dict[str, Any] = {}
    for item in field.metadata if field else []:
        for kind in ("ge", "gt", "le", "lt"):
            if getattr(item, kind, None) is not None:
                bounds[kind] = getattr(item, kind)
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low is None or high is None:
        return None
    if low[0] == "ge" and high[0] == "le":
        return f"{low[1]}..{high[1]}"
    words = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}
    return f"{words[low[0]]} {low[1]}, {words[high[0]]} {high[1]}"


def _with(problem: Problem, source: str | None, lines: Lines | None) -> Problem:
    line = problem.line if problem.line is not None else line_of(lines, problem.path)
    return Problem(problem.message, problem.code, problem.wave_id, problem.path, line, source)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str | None]] = set()
    out: list[Problem] = []
    for problem in problems:
        key = (problem.message, problem.path)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
