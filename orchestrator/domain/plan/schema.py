"""The plan JSON Schema, generated from the model, for editor completion and validation.

`python -m orchestrator.domain.plan.schema` rewrites `orchestrator/domain/plan/plan.schema.json`; a unit test
fails when the committed file drifts from the model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestrator.domain.plan.model import Plan

SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")
SCHEMA_ID = "https://github.com/drs-orchestrator/drs-orchestrator/orchestrator/domain/plan/plan.schema.json"


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a recovery plan document."""
    schema = Plan.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(plan_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
