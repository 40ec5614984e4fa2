from __future__ import annotations

import json

from orchestrator.domain.plan.schema import SCHEMA_PATH, plan_schema, render


def test_committed_plan_schema_matches_the_model() -> None:
    # GIVEN the committed plan.schema.json
    committed = SCHEMA_PATH.read_text(encoding="utf-8")

    # WHEN the schema is generated from the model
    generated = render()

    # THEN they are identical (run `python -m orchestrator.domain.plan.schema` after changing the model)
    assert committed == generated, "plan.schema.json is stale: run `python -m orchestrator.domain.plan.schema`"


def test_schema_uses_wire_names_and_forbids_unknown_fields() -> None:
    # GIVEN / WHEN the generated schema
    schema = plan_schema()

    # THEN it has camelCase properties and additionalProperties false everywhere
    assert {"planId", "waves", "defaults"} <= set(schema["properties"])
    assert schema["required"] == ["planId"]
    wave = schema["$defs"]["Wave"]
    assert {"waveId", "dependsOn", "preLaunch", "postLaunch", "healthCheck"} <= set(wave["properties"])
    assert all(
        definition.get("additionalProperties") is False
        for name, definition in schema["$defs"].items()
        if definition.get("type") == "object"
    )
    assert "targets" not in schema["$defs"]["Script"].get("required", [])
    json.dumps(schema)
