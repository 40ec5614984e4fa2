"""The ready-runbook example plan (drs_orch/examples/three-tier-runbooks.yaml) loads, names only allow-listed ready
runbooks, gives each what it requires (the run context adds Mode and AutomationAssumeRole), and every literal value
satisfies the runbook's own allowedValues/allowedPattern, so StartAutomationExecution would accept it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from infra.definitions import SSM_DOCUMENTS_DIR, project_ssm_documents
from orchestrator.domain.plan import load_plan
from orchestrator.domain.plan.documents import DocumentParameters, parameter_problems
from tests.unit.domain.plan.conftest import EXAMPLES


def _runbook(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SSM_DOCUMENTS_DIR / f"{name}.yaml").read_text()))


def _refused(spec: dict[str, Any], value: str | list[str]) -> list[str]:
    """The literal items of `value` the parameter's allowedValues/allowedPattern refuse."""
    literal = [item for item in (value if isinstance(value, list) else [value]) if "${{" not in item]
    allowed, pattern = spec.get("allowedValues"), spec.get("allowedPattern")
    return [
        item
        for item in literal
        if (allowed and item not in allowed) or (pattern and re.fullmatch(pattern, item) is None)
    ]


def test_the_runbook_example_fits_the_runbooks_it_names() -> None:
    # GIVEN the example plan
    plan = load_plan(EXAMPLES / "three-tier-runbooks.yaml")
    steps = [(w.wave_id, s) for w in plan.waves for s in [*w.pre_launch, *w.post_launch]]
    names = [s.document_name for _, s in steps]

    # THEN it names the ready runbooks, each allow-listed by default
    assert names == ["DRSOrch-AuroraGlobalFailover", "DRSOrch-RegisterTargets", "DRSOrch-DnsCutover"]
    assert set(names) <= set(project_ssm_documents())
    # AND its parameters are those the runbooks declare, the required ones given (or filled by the run context)
    declared = {
        name: DocumentParameters(
            frozenset(_runbook(name)["parameters"]),
            frozenset(p for p, spec in _runbook(name)["parameters"].items() if "default" not in spec),
        )
        for name in names
    }
    assert parameter_problems(plan, declared) == []
    # AND every literal value passes the runbook's own checks (references are resolved at run time)
    for _, step in steps:
        specs = _runbook(str(step.document_name))["parameters"]
        for name, value in step.parameters.items():
            assert _refused(specs[name], value) == [], (step.document_name, name)
    # AND the Aurora failover's mode comes from the run, never from the plan (the drill-safe design)
    assert "Mode" not in steps[0][1].parameters
    assert "Mode" in _runbook("DRSOrch-AuroraGlobalFailover")["parameters"]
