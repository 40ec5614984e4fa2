"""SSM_AUTOMATION steps in the plan model (orchestrator/domain/plan/model.py): a runbook run in the account, with the
SSM document checks (allow-list, parameters) of an SSM_DOCUMENT step. Its refusals, each with its plan line, are in
invalid/automation-step-errors.yaml (test_invalid_corpus.py)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from orchestrator.domain.plan import ScriptType, parse_plan, plan_to_document, plan_warnings
from orchestrator.domain.plan.documents import (
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
)
from orchestrator.domain.plan.schema import SCHEMA_PATH
from tests.unit.domain.plan.conftest import server_id

CUTOVER = {
    "type": "SSM_AUTOMATION",
    "documentName": "DRSOrch-DnsCutover",
    "parameters": {"HostedZoneId": "Z1", "RecordName": "web.example.internal.", "Value": "10.0.0.7"},
}


def _plan(**wave: Any) -> dict[str, Any]:
    return {
        "planId": "p",
        "defaults": {"scriptTimeoutSeconds": 120},
        "waves": [{"waveId": "web", "servers": [server_id(1)], **wave}],
    }


def test_an_automation_step_loads_without_targets_and_with_the_plan_defaults() -> None:
    # GIVEN a wave whose post-launch runs a runbook with the wave's instances, and whose health check is one
    document = _plan(
        postLaunch=[{**CUTOVER, "recoveryInstancesParameter": "InstanceIds", "onFailure": "WARN", "retries": 2}],
        healthCheck={"type": "SSM_AUTOMATION", "documentName": "DRSOrch-DnsCutover"},
    )

    # WHEN it is loaded
    plan = parse_plan(document)

    # THEN the step is a runbook with no targets, the plan's default timeout, and its own onFailure and retries
    step = plan.waves[0].post_launch[0]
    assert (step.type, step.is_automation, step.is_wait, step.targets) == (ScriptType.SSM_AUTOMATION, True, False, None)
    assert (step.name, step.document, step.timeout_seconds, step.on_failure, step.retries) == (
        "DRSOrch-DnsCutover",
        "DRSOrch-DnsCutover",
        120,
        "WARN",
        2,
    )
    assert step.supplied_parameters == frozenset({"InstanceIds"})
    assert plan.waves[0].health_check is not None
    assert plan.waves[0].health_check.is_automation
    # AND it is written back without targets and reads back equal
    written = plan_to_document(plan)
    assert "targets" not in written["waves"][0]["postLaunch"][0]
    assert parse_plan(written) == plan


def test_the_allow_list_and_the_parameter_checks_apply_to_runbooks() -> None:
    # GIVEN a runbook outside the allow-list, and an allowed one with an unknown and a missing parameter
    plan = parse_plan(
        _plan(
            preLaunch=[{"type": "SSM_AUTOMATION", "documentName": "AWS-RestartEC2Instance"}],
            postLaunch=[{**CUTOVER, "parameters": {"Valeu": "10.0.0.7"}, "recoveryInstancesParameter": "Ids"}],
        )
    )
    declared = DocumentParameters(
        frozenset({"HostedZoneId", "RecordName", "Value", "InstanceIds"}), frozenset({"Value"})
    )

    # WHEN StartPlan's checks look at it
    refused = disallowed_documents(plan, AllowList.parse("DRSOrch-*"))
    described = documents_to_describe(plan, AllowList.parse("DRSOrch-*"))
    wrong = parameter_problems(plan, {"DRSOrch-DnsCutover": declared})

    # THEN the other runbook is refused at its documentName, and each parameter problem is at its own place
    assert [(p.code, p.path) for p in refused] == [("document-not-allowed", "waves[0].preLaunch[0].documentName")]
    assert described == ["DRSOrch-DnsCutover"]
    assert [(p.code, p.path) for p in wrong] == [
        ("unknown-parameter", "waves[0].postLaunch[0].parameters.Valeu"),
        ("unknown-parameter", "waves[0].postLaunch[0].recoveryInstancesParameter"),
        ("missing-parameter", "waves[0].postLaunch[0].parameters"),
    ]
    assert "(did you mean 'Value'?)" in wrong[0].message


def test_the_recovery_instances_parameter_counts_as_given_and_may_not_be_set_twice() -> None:
    # GIVEN a runbook that requires InstanceIds, filled by recoveryInstancesParameter, and a step that also sets it
    declared = DocumentParameters(frozenset({"InstanceIds", "Value"}), frozenset({"InstanceIds"}))
    filled = parse_plan(
        _plan(postLaunch=[{**CUTOVER, "parameters": {"Value": "1"}, "recoveryInstancesParameter": "InstanceIds"}])
    )
    twice = parse_plan(
        _plan(
            postLaunch=[{**CUTOVER, "parameters": {"InstanceIds": "i-1"}, "recoveryInstancesParameter": "InstanceIds"}]
        )
    )

    # WHEN the parameter checks look at them
    # THEN the first has no problem, the second one at its recoveryInstancesParameter
    assert parameter_problems(filled, {"DRSOrch-DnsCutover": declared}) == []
    assert [(p.code, p.path) for p in parameter_problems(twice, {"DRSOrch-DnsCutover": declared})] == [
        ("context-parameter", "waves[0].postLaunch[0].recoveryInstancesParameter")
    ]


@pytest.mark.parametrize(
    ("step", "valid"),
    [
        ({**CUTOVER, "recoveryInstancesParameter": "InstanceIds"}, True),
        ({**CUTOVER, "targets": {"wave": "web"}}, False),
        ({**CUTOVER, "seconds": 5}, False),
        ({"type": "SSM_AUTOMATION"}, False),
        ({"documentName": "DRSOrch-HealthCheck", "recoveryInstancesParameter": "InstanceIds"}, False),
        ({"type": "WAIT", "seconds": 5, "recoveryInstancesParameter": "InstanceIds"}, False),
    ],
)
def test_the_json_schema_says_what_an_automation_step_takes(step: dict[str, Any], valid: bool) -> None:
    # GIVEN the committed plan schema (what editors check plans against)
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    # WHEN a plan with the step is checked against it
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(_plan(postLaunch=[step])))

    # THEN it is valid exactly when the model loads it
    assert (errors == []) is valid


def test_a_plan_may_not_name_the_role_a_runbook_runs_as() -> None:
    # GIVEN a runbook step that sets AutomationAssumeRole itself (it would run the runbook with that role's powers)
    plan = parse_plan(
        _plan(postLaunch=[{**CUTOVER, "parameters": {"AutomationAssumeRole": "arn:aws:iam::1:role/Admin"}}])
    )
    declared = DocumentParameters(frozenset({"AutomationAssumeRole", "HostedZoneId"}), frozenset())

    # WHEN the parameter checks look at it
    problems = parameter_problems(plan, {"DRSOrch-DnsCutover": declared})

    # THEN it is refused at that parameter, saying what runbooks run as
    assert [(p.code, p.path) for p in problems] == [
        ("context-parameter", "waves[0].postLaunch[0].parameters.AutomationAssumeRole")
    ]
    assert "runbooks run as the Automation role the stack made" in problems[0].message


def test_validate_warns_of_a_pre_launch_runbook_given_the_waves_own_instances() -> None:
    # GIVEN a pre-launch runbook given this wave's recovery instances, and a post-launch one (which has them)
    step = {**CUTOVER, "recoveryInstancesParameter": "InstanceIds"}
    plan = parse_plan(_plan(preLaunch=[step], postLaunch=[step]))

    # WHEN validate looks for warnings
    warnings = plan_warnings(plan)

    # THEN only the pre-launch one is warned of, at its recoveryInstancesParameter
    assert [(w.code, w.path) for w in warnings] == [("no-targets", "waves[0].preLaunch[0].recoveryInstancesParameter")]
    assert "which do not exist before its launch" in warnings[0].message
