"""The Automation role (infra/constructs/automation_role.py) grants exactly what the ready runbooks call.

The runbooks' AWS calls are read from the runbooks themselves (infra/ssm_documents/*.yaml, schemaVersion 0.3):
every aws:executeAwsApi, aws:waitForAwsResourceProperty and aws:assertAwsResourceProperty step, also inside an
aws:loop, is one IAM action `<signing name of Service>:<Api>` (botocore's service model gives the IAM prefix:
elbv2 signs as elasticloadbalancing). A runbook that calls something the role lacks, or a grant no runbook uses,
fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import yaml

from infra.constructs.automation_role import RUNBOOK_ACTIONS
from infra.constructs.nag import render
from infra.definitions import SSM_DOCUMENTS_DIR
from tests.infra.conftest import Synth

API_ACTIONS = ("aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty")


def _steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for step in steps:
        yield step
        if step.get("action") == "aws:loop":
            yield from _steps(list((step.get("inputs") or {}).get("Steps") or []))


def runbook_actions() -> dict[str, set[str]]:
    """IAM action -> the runbooks calling it, from every ready runbook's API steps."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for path in sorted(SSM_DOCUMENTS_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        if str(document.get("schemaVersion")) != "0.3":
            continue
        for step in _steps(document["mainSteps"]):
            if step["action"] in API_ACTIONS:
                inputs = step["inputs"]
                model = session.get_service_model(inputs["Service"])
                assert inputs["Api"] in model.operation_names, (path.stem, inputs["Api"])
                found.setdefault(f"{model.signing_name}:{inputs['Api']}", set()).add(path.stem)
    return found


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(synth: Synth) -> list[dict[str, Any]]:
    role_id = synth.logical_id(synth.stack.automation_role.role)
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_runbooks_call_what_the_role_module_lists() -> None:
    # GIVEN the actions read from the ready runbooks
    called = runbook_actions()

    # THEN they are the role's list, each runbook contributing (five runbooks, no API step unaccounted for)
    assert set(called) == RUNBOOK_ACTIONS
    assert set().union(*called.values()) == {
        "DRSOrch-AuroraGlobalFailover",
        "DRSOrch-DnsCutover",
        "DRSOrch-RegisterTargets",
        "DRSOrch-ScaleEcsService",
    }
    assert called["rds:SwitchoverGlobalCluster"] == {"DRSOrch-AuroraGlobalFailover"}
    assert called["elasticloadbalancing:DescribeTargetHealth"] == {"DRSOrch-RegisterTargets"}


def test_the_synthesized_role_grants_each_runbook_action_and_nothing_else(synth: Synth) -> None:
    # GIVEN the Automation role's statements in the synthesized stack
    statements = role_statements(synth)
    granted = {action for s in statements for action in _listify(s["Action"])}

    # THEN it allows exactly the runbooks' actions
    assert all(s["Effect"] == "Allow" for s in statements)
    assert granted == set(runbook_actions())
    # AND only the action IAM cannot scope (DescribeTargetHealth) is granted on "*"; the rest name this account's
    # resources of the right type
    by_sid = {s["Sid"]: [render(r) for r in _listify(s["Resource"])] for s in statements}
    assert [sid for sid, resources in by_sid.items() if "*" in resources] == ["AutomationElbTargetHealth"]
    assert by_sid["AutomationRoute53Records"] == ["arn:<AWS::Partition>:route53:::hostedzone/*"]
    assert by_sid["AutomationAuroraGlobalFailover"] == [
        "arn:<AWS::Partition>:rds::<AWS::AccountId>:global-cluster:*",
        "arn:<AWS::Partition>:rds:*:<AWS::AccountId>:cluster:*",
    ]
    assert by_sid["AutomationElbRegisterTargets"] == [
        "arn:<AWS::Partition>:elasticloadbalancing:<AWS::Region>:<AWS::AccountId>:targetgroup/*/*"
    ]
    assert by_sid["AutomationEcsServices"] == ["arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:service/*/*"]
