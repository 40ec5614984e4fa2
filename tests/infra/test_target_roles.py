"""The orchestrator's side of a wave's target (issue #15 item 1): with `targetRoleArns`, exactly the functions that
call DRS, EC2 or SSM may sts:AssumeRole, on exactly those role ARNs (no wildcard, each of an account of
`targetAccounts`); without it, no function may assume any role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.target_account import target_functions
from infra.definitions import FUNCTIONS
from infra.stack import StackConfig
from tests.infra.conftest import CONTEXT, Synth, synthesize
from tests.infra.test_grants_match_calls import role_grants

ACCOUNTS = ("333333333333", "444444444444")
ROLES = (
    "arn:aws:iam::333333333333:role/DrsOrchestratorTarget-TargetRole-ABC",
    "arn:aws:iam::444444444444:role/path/DrsOrchestratorTarget-TargetRole-DEF",
)


@pytest.fixture(scope="module")
def targeted(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    context = {**CONTEXT, "targetAccounts": list(ACCOUNTS), "targetRoleArns": ",".join(ROLES)}
    return synthesize(tmp_path_factory.mktemp("cdk.out"), context)


def _assume_statements(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Role logical id -> its Allow statements naming sts:AssumeRole."""
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("sts:") for a in actions):
                for role in resource["Properties"].get("Roles", []):
                    found.setdefault(role["Ref"], []).append(statement)
    return found


def test_exactly_the_functions_that_call_drs_ec2_or_ssm_may_assume_exactly_the_target_roles(targeted: Synth) -> None:
    assert targeted.error is None, str(targeted.error)
    grants = role_grants(targeted.template)
    may_assume = {name for name, statements in grants.items() if any("sts:AssumeRole" in g.actions for g in statements)}
    assert may_assume == set(target_functions()) & set(grants)
    assert may_assume  # the launcher, the watcher, the scripts...
    assert set(FUNCTIONS) - may_assume  # ... and not, say, the report archive
    for statements in _assume_statements(targeted.template).values():
        for statement in statements:
            assert statement["Action"] == "sts:AssumeRole"
            assert sorted(statement["Resource"]) == sorted(ROLES)  # exact ARNs, never a wildcard
            assert "*" not in json.dumps(statement["Resource"])


def test_with_target_roles_the_stack_still_synthesizes_clean_under_cdk_nag(targeted: Synth) -> None:
    assert targeted.report is not None
    for plugin in targeted.report["pluginReports"]:
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]


def test_without_target_roles_no_function_may_assume_a_role(synth: Synth) -> None:
    assert _assume_statements(synth.template) == {}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"targetAccounts": "333333333333", "targetRoleArns": "arn:aws:iam::333333333333:role/*"}, "not an IAM role"),
        ({"targetAccounts": "333333333333", "targetRoleArns": "arn:aws:iam::*:role/x"}, "not an IAM role"),
        (
            {"targetAccounts": "333333333333", "targetRoleArns": "arn:aws:iam::555555555555:role/x"},
            "not a role of an account of targetAccounts",
        ),
        ({"targetRoleArns": "arn:aws:iam::555555555555:role/x"}, "targetAccounts \\(none\\)"),
    ],
)
def test_a_wildcard_or_an_unlisted_account_fails_the_synth(context: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StackConfig.from_context(context.get)


def test_the_setting_is_documented(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "targetRoleArns" in readme
