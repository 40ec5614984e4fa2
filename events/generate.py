"""Generate the EventBridge Schema Registry schemas of the event contracts.

`python -m events.generate` (`make schemas`) writes `events/schemas/<DetailType>.json`: one JSON Schema
Draft 4 document per detail-type, in the form `AWS::EventSchemas::Schema` accepts with
`Type: JSONSchemaDraft4`. Each describes the whole event as EventBridge delivers it (the envelope), with
`detail` pointing at the detail model's schema (camelCase, by alias) under `definitions`.

Pydantic emits Draft 2020-12; `to_draft4` converts it: `$defs` become `definitions` (and every `$ref` is
rewritten), `const` becomes a one-value `enum`, numeric `exclusiveMinimum`/`exclusiveMaximum` become
`minimum`/`maximum` plus the Draft 4 boolean, annotations Draft 4 lacks (`examples`, `deprecated`, ...)
are dropped, and keywords with no Draft 4 equivalent (`prefixItems`, `propertyNames`, ...) are refused.

`python -m events.generate --check` writes nothing and exits 1 when the committed files have drifted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from events.models import ALL_EVENTS, OPERATOR_COMMANDS, OPERATOR_SOURCE, SOURCE, Contract, StartPlan

DRAFT4 = "http://json-schema.org/draft-04/schema#"
SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

# Validation and annotation keywords of Draft 4 (besides the schema-valued ones handled one by one).
_DRAFT4_KEYWORDS = frozenset(
    {
        "id",
        "title",
        "description",
        "default",
        "multipleOf",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "enum",
        "type",
        "format",
    }
)
# Keywords that change what validates and that Draft 4 cannot say: refusing them keeps the registry
# schema from silently accepting more than the model does.
_UNSUPPORTED = frozenset(
    {
        "prefixItems",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "unevaluatedProperties",
        "unevaluatedItems",
        "$dynamicRef",
        "$recursiveRef",
    }
)
# Siblings of `$ref` that Draft 4 ignores harmlessly (it ignores every sibling of `$ref`).
_ANNOTATIONS = frozenset({"title", "description", "default"})
_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("not", "additionalItems", "additionalProperties", "items")
_DEFS_PREFIX = "#/$defs/"
_DEFINITIONS_PREFIX = "#/definitions/"

ENVELOPE_REQUIRED = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)


class SchemaConversionError(ValueError):
    """A pydantic schema uses a JSON Schema feature that Draft 4 cannot express."""


def to_draft4(schema: Mapping[str, Any], where: str = "#") -> dict[str, Any]:
    """Convert one pydantic (Draft 2020-12) schema, and everything under it, to Draft 4."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED:
            raise SchemaConversionError(f"{where}: JSON Schema keyword {key!r} has no Draft 4 equivalent")
        if key in ("$defs", "definitions"):
            out["definitions"] = {name: to_draft4(sub, f"{where}/definitions/{name}") for name, sub in value.items()}
        elif key == "$ref":
            out["$ref"] = _rewrite_ref(value, where)
        elif key == "const":
            if "enum" in schema:
                raise SchemaConversionError(f"{where}: both 'const' and 'enum'")
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            _exclusive_bound(out, schema, key, value, where)
        elif key in _SCHEMA_MAPS:
            out[key] = {name: to_draft4(sub, f"{where}/{key}/{name}") for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            out[key] = [to_draft4(sub, f"{where}/{key}/{i}") for i, sub in enumerate(value)]
        elif key in _SCHEMA_VALUES:
            out[key] = _schema_value(value, f"{where}/{key}")
        elif key == "dependencies":
            out[key] = {
                name: list(dep) if isinstance(dep, list) else to_draft4(dep, f"{where}/dependencies/{name}")
                for name, dep in value.items()
            }
        elif key in _DRAFT4_KEYWORDS or key.startswith("x-"):
            out[key] = json.loads(json.dumps(value))  # a deep copy of plain JSON
        # anything else (examples, deprecated, readOnly, writeOnly, discriminator, $comment, ...) is an
        # annotation Draft 4 does not have: dropped.
    return _wrap_ref_siblings(out)


def _rewrite_ref(ref: Any, where: str) -> str:
    if isinstance(ref, str):
        if ref.startswith(_DEFS_PREFIX):
            return _DEFINITIONS_PREFIX + ref[len(_DEFS_PREFIX) :]
        if ref.startswith(_DEFINITIONS_PREFIX):
            return ref
    raise SchemaConversionError(f"{where}: unsupported $ref {ref!r} (only local definitions)")


def _exclusive_bound(out: dict[str, Any], schema: Mapping[str, Any], key: str, value: Any, where: str) -> None:
    if isinstance(value, bool):  # already Draft 4 style
        out[key] = value
        return
    bound = "minimum" if key == "exclusiveMinimum" else "maximum"
    if bound in schema:
        raise SchemaConversionError(f"{where}: both {bound!r} and {key!r}; Draft 4 allows one bound per side")
    out[bound] = value
    out[key] = True


def _schema_value(value: Any, where: str) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):  # Draft 4 tuple form of `items`
        return [to_draft4(sub, f"{where}/{i}") for i, sub in enumerate(value)]
    return to_draft4(value, where)


def _wrap_ref_siblings(out: dict[str, Any]) -> dict[str, Any]:
    """Draft 4 ignores every sibling of `$ref`: move validating siblings into an `allOf`."""
    if "$ref" not in out:
        return out
    validating = {k: v for k, v in out.items() if k != "$ref" and k not in _ANNOTATIONS}
    if not validating:
        return out
    kept = {k: v for k, v in out.items() if k in _ANNOTATIONS}
    all_of = [{"$ref": out["$ref"]}, *validating.pop("allOf", [])]
    return {**kept, **validating, "allOf": all_of}


def sources_of(model: type[Contract]) -> list[str]:
    """The sources an event of `model` carries: an operator command only the operator endpoint's, a StartPlan
    either (a drill from the bus's publishers, a drill or a RECOVERY through the operator endpoint)."""
    if model in OPERATOR_COMMANDS:
        return [OPERATOR_SOURCE]
    if model is StartPlan:
        return [SOURCE, OPERATOR_SOURCE]
    return [SOURCE]


def _envelope_properties(detail_type: str, sources: list[str]) -> dict[str, Any]:
    return {
        "version": {"type": "string", "description": "Always '0' for EventBridge events."},
        "id": {"type": "string", "description": "A UUID EventBridge generates for every event."},
        "detail-type": {"type": "string", "enum": [detail_type]},
        "source": {"type": "string", "enum": sources},
        "account": {"type": "string", "pattern": "^[0-9]{12}$"},
        "time": {"type": "string", "format": "date-time"},
        "region": {"type": "string"},
        "resources": {"type": "array", "items": {"type": "string"}},
        "replay-name": {"type": "string", "description": "Present when the event is an archive replay."},
        "detail": {"$ref": _DEFINITIONS_PREFIX + detail_type},
    }


def schema_for(model: type[Contract]) -> dict[str, Any]:
    """The registry schema (Draft 4, whole EventBridge event) of one detail model."""
    detail_type = model.DETAIL_TYPE
    if not detail_type:
        raise ValueError(f"{model.__name__} has no DETAIL_TYPE")
    detail = to_draft4(model.model_json_schema(by_alias=True, mode="validation"), f"{detail_type}#")
    definitions: dict[str, Any] = detail.pop("definitions", {})
    if detail_type in definitions:
        raise SchemaConversionError(f"{detail_type}: a nested model has the detail-type's own name")
    definitions[detail_type] = detail
    sources = sources_of(model)
    return {
        "$schema": DRAFT4,
        "title": detail_type,
        "description": f"EventBridge event '{detail_type}' from '{' or '.join(sources)}' (the envelope; see 'detail').",
        "type": "object",
        "x-amazon-events-detail-type": detail_type,
        "x-amazon-events-source": sources[0],
        "required": list(ENVELOPE_REQUIRED),
        "properties": _envelope_properties(detail_type, sources),
        "definitions": definitions,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every registry schema, by detail-type, in ALL_EVENTS order."""
    return {model.DETAIL_TYPE: schema_for(model) for model in ALL_EVENTS}


def render(schema: Mapping[str, Any]) -> str:
    """The committed text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(detail_type: str, directory: Path = SCHEMAS_DIR) -> Path:
    return directory / f"{detail_type}.json"


def load_schema(detail_type: str, directory: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """A committed schema file, as the CDK stack reads it."""
    loaded: dict[str, Any] = json.loads(schema_path(detail_type, directory).read_text(encoding="utf-8"))
    return loaded


def drift(directory: Path = SCHEMAS_DIR) -> list[str]:
    """What differs between the models and the files in `directory` (empty when in sync)."""
    problems: list[str] = []
    expected = all_schemas()
    for detail_type, schema in expected.items():
        path = schema_path(detail_type, directory)
        if not path.exists():
            problems.append(f"{path.name}: missing")
        elif path.read_text(encoding="utf-8") != render(schema):
            problems.append(f"{path.name}: differs from the model")
    problems.extend(
        f"{path.name}: no model has this detail-type"
        for path in sorted(directory.glob("*.json"))
        if path.stem not in expected
    )
    return problems


def write_schemas(directory: Path = SCHEMAS_DIR) -> list[Path]:
    """Write every schema and delete files of detail-types that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = all_schemas()
    written = []
    for detail_type, schema in expected.items():
        path = schema_path(detail_type, directory)
        text = render(schema)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in directory.glob("*.json"):
        if stale.stem not in expected:
            stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m events.generate", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files drifted")
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR, help="directory of the schema files")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.out)
        for problem in problems:
            sys.stderr.write(f"{problem}\n")
        if problems:
            sys.stderr.write("event schemas are out of date: run `make schemas`\n")
        return 1 if problems else 0
    written = write_schemas(args.out)
    sys.stdout.write(f"wrote {len(written)} event schemas to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
