"""The target-account stack (issue #15 item 3) and the orchestrator bus's side of it, synthesized with target
accounts configured: who may assume the target role, what it may do (exactly the orchestrator functions' DRS, EC2
and SSM grants), which events it forwards (exactly the orchestrator's own patterns), and which the bus admits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.constructs.target_account import MANAGED_POLICY_CHARACTERS, forwarded_routes, target_functions
from infra.definitions import FUNCTIONS, ROUTES
from infra.stack import StackConfig
from infra.target_stack import BUS_ARN_PATTERN, EXTERNAL_ID_PATTERN, ROLE_ARN_PATTERN
from tests.infra.conftest import CONTEXT, PUBLISHERS, Synth, synthesize

TARGET_ACCOUNTS = ("333333333333", "444444444444")
TARGET_SERVICES = ("drs:", "ec2:", "ssm:", "iam:PassRole")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, dict[str, Any]]:
    synth = synthesize(tmp_path_factory.mktemp("cdk.out"), {**CONTEXT, "targetAccounts": list(TARGET_ACCOUNTS)})
    target = json.loads((synth.outdir / "DrsOrchestratorTarget.template.json").read_text())
    return synth, target


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: res for key, res in template["Resources"].items() if res["Type"] == kind}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _target_role(target: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    roles = {k: r for k, r in _of_type(target, "AWS::IAM::Role").items() if k.startswith("TargetRole")}
    assert len(roles) == 1, sorted(roles)
    return next(iter(roles.items()))


def _target_statements(target: dict[str, Any]) -> dict[str, dict[str, Any]]:
    role, _ = _target_role(target)
    statements: dict[str, dict[str, Any]] = {}
    for policy in _of_type(target, "AWS::IAM::ManagedPolicy").values():
        assert policy["Properties"]["Roles"] == [{"Ref": role}]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Sid"] not in statements, statement["Sid"]
            statements[statement["Sid"]] = statement
    return statements


def _shape(statement: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in statement.items() if k != "Action"}, sort_keys=True)


def test_the_target_role_trusts_only_the_given_function_roles_and_only_with_the_external_id(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    _, target = both
    _, role = _target_role(target)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {
        "Action": "sts:AssumeRole",
        "Effect": "Allow",
        "Principal": {"AWS": {"Ref": "OrchestratorFunctionRoleArns"}},
        "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
    }
    assert role["Properties"].get("ManagedPolicyArns") is None  # no AWS managed policy
    parameters = target["Parameters"]
    assert parameters["OrchestratorFunctionRoleArns"]["Type"] == "CommaDelimitedList"
    assert parameters["OrchestratorFunctionRoleArns"]["AllowedPattern"] == ROLE_ARN_PATTERN
    assert parameters["ExternalId"]["NoEcho"] is True


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (
            ROLE_ARN_PATTERN,
            "arn:aws:iam::123456789012:role/DrsOrchestrator-FunctionsLaunchWaveRole908C9A06-AbC",
            ["arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/alice", "*", "123456789012"],
        ),
        (
            BUS_ARN_PATTERN,
            "arn:aws:events:us-east-1:123456789012:event-bus/DrsOrchestratorBus95A03305",
            ["arn:aws:events:us-east-1:123456789012:rule/x", "arn:aws:sqs:us-east-1:123456789012:q"],
        ),
        (EXTERNAL_ID_PATTERN, "drs-orch:2f6c-recovery=1", ["x", "has space", "a" * 1225]),
    ],
)
def test_the_parameters_refuse_what_is_not_theirs(pattern: str, good: str, bad: list[str]) -> None:
    assert re.match(pattern, good)
    for value in bad:
        assert not re.match(pattern, value), value


def test_the_orchestrator_outputs_exactly_the_roles_of_the_functions_that_call_drs_ec2_or_ssm(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    synth, _ = both
    # the functions whose roles hold a DRS, EC2 or SSM grant, read from the orchestrator's template
    calling = set()
    for name in FUNCTIONS:
        role = synth.logical_id(synth.stack.functions.roles[name])
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for res in synth.of_type(kind).values():
                if {"Ref": role} not in res["Properties"].get("Roles", []):
                    continue
                for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                    if any(a.startswith(("drs:", "ec2:", "ssm:")) for a in _list(statement["Action"])):
                        calling.add(name)
    assert set(target_functions()) == calling
    joined = synth.template["Outputs"]["TargetTrustedRoleArns"]["Value"]["Fn::Join"]
    assert joined[0] == ","
    assert joined[1] == [
        {"Fn::GetAtt": [synth.logical_id(synth.stack.functions.roles[name]), "Arn"]} for name in target_functions()
    ]


def test_the_target_role_holds_exactly_the_functions_drs_ec2_and_ssm_statements(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    synth, target = both
    # GIVEN every DRS, EC2, SSM and PassRole statement the orchestrator's function roles hold (by Sid)
    expected: dict[str, dict[str, Any]] = {}
    roles = {synth.logical_id(synth.stack.functions.roles[name]) for name in target_functions()}
    # the tick scheduler's role is passed to the orchestrator account's EventBridge Scheduler, not a target's
    scheduler_role = {"Fn::GetAtt": [synth.logical_id(synth.stack.ticks.role), "Arn"]}
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for res in synth.of_type(kind).values():
            if not roles & {ref["Ref"] for ref in res["Properties"].get("Roles", [])}:
                continue
            for statement in res["Properties"]["PolicyDocument"]["Statement"]:
                actions = _list(statement["Action"])
                if actions == ["iam:PassRole"] and statement["Resource"] == scheduler_role:
                    continue
                if not all(a.startswith(TARGET_SERVICES) for a in actions):
                    assert not any(a.startswith(TARGET_SERVICES) for a in actions), statement
                    continue
                known = expected.setdefault(statement["Sid"], {**statement, "Action": []})
                assert _shape(known) == _shape(statement), statement["Sid"]
                known["Action"] = sorted({*known["Action"], *actions})
    # the automation role lives in the orchestrator's account: the target role passes none
    assert expected.pop("SsmAutomationPassRole")["Resource"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.automation_role.role), "Arn"]
    }
    # THEN the target role holds exactly these, statement by statement, actions, resources and conditions
    got = {sid: {**s, "Action": sorted(_list(s["Action"]))} for sid, s in _target_statements(target).items()}
    assert got == expected


def test_no_wildcard_action_and_each_policy_within_iams_quota(both: tuple[Synth, dict[str, Any]]) -> None:
    _, target = both
    for key in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, res in _of_type(target, key).items():
            document = res["Properties"]["PolicyDocument"]
            assert len(json.dumps(document, separators=(",", ":"))) <= MANAGED_POLICY_CHARACTERS, name
            for statement in document["Statement"]:
                assert statement["Effect"] == "Allow"
                for action in _list(statement["Action"]):
                    assert "*" not in action, (name, action)


def test_the_forwarding_rules_match_exactly_the_orchestrators_patterns_and_target_its_bus(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    synth, target = both
    rules = _of_type(target, "AWS::Events::Rule")
    orchestrator_patterns = [
        synth.resources[synth.logical_id(synth.stack.routes.rules[route.name])]["Properties"]["EventPattern"]
        for route in ROUTES
        if route.bus == "default"
    ]
    assert sorted(json.dumps(r["Properties"]["EventPattern"], sort_keys=True) for r in rules.values()) == sorted(
        json.dumps(p, sort_keys=True) for p in orchestrator_patterns
    )
    assert {tuple(p["source"]) for p in orchestrator_patterns} == {("aws.drs",), ("aws.ssm",)}
    forward_roles = {k for k in _of_type(target, "AWS::IAM::Role") if k.startswith("ForwardingForwardRole")}
    (forward_role,) = forward_roles
    for rule in rules.values():
        assert rule["Properties"]["EventBusName"] == "default"
        (rule_target,) = rule["Properties"]["Targets"]
        assert rule_target["Arn"] == {"Ref": "OrchestratorEventBusArn"}
        assert rule_target["RoleArn"] == {"Fn::GetAtt": [forward_role, "Arn"]}
        assert "DeadLetterConfig" in rule_target
    (policy,) = [
        p for p in _of_type(target, "AWS::IAM::Policy").values() if p["Properties"]["Roles"] == [{"Ref": forward_role}]
    ]
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Action": "events:PutEvents",
            "Effect": "Allow",
            "Resource": {"Ref": "OrchestratorEventBusArn"},
        }
    ]


def test_the_orchestrator_routes_the_forwarded_events_from_the_target_accounts_only(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    synth, _ = both
    bus = synth.logical_id(synth.stack.bus.bus)
    for route in forwarded_routes():
        rule = synth.resources[synth.logical_id(synth.stack.routes.forwarded_rules[route.name])]["Properties"]
        local = synth.resources[synth.logical_id(synth.stack.routes.rules[route.name])]["Properties"]
        assert rule["EventBusName"] == {"Ref": bus}
        assert rule["EventPattern"] == {**route.pattern, "account": list(TARGET_ACCOUNTS)}
        assert rule["Targets"][0]["Arn"] == local["Targets"][0]["Arn"]


# ---- the bus policy: who may put what --------------------------------------------------------------------


def _bus_statements(synth: Synth) -> list[dict[str, Any]]:
    return [
        statement
        for res in synth.of_type("AWS::Events::EventBusPolicy").values()
        for statement in _list(res["Properties"]["Statement"])
    ]


def _principal_accounts(statement: dict[str, Any]) -> set[str]:
    accounts = set()
    for principal in _list(statement["Principal"]["AWS"]):
        text = json.dumps(principal)
        found = re.search(r":iam::([0-9]{12}):", text)
        assert found, text
        accounts.add(found.group(1))
    return accounts


def _condition_passes(conditions: dict[str, dict[str, Any]], entry: dict[str, str]) -> bool:
    """IAM's evaluation of the operators the bus policy uses, for one PutEvents entry's keys."""
    for operator, keys in conditions.items():
        for key, wanted in keys.items():
            value = entry.get(key)
            if operator in ("StringEquals", "ForAllValues:StringEquals"):
                if value is None:
                    if operator == "StringEquals":
                        return False
                    continue  # ForAllValues with no value passes: what the Null condition is for
                if value not in _list(wanted):
                    return False
            elif operator == "Null":
                if (value is None) != (wanted == "true"):
                    return False
            else:
                raise AssertionError(f"operator {operator} not modelled")
    return True


def _admitted(synth: Synth, account: str, source: str, detail_type: str | None) -> bool:
    entry = {"events:source": source, **({"events:detail-type": detail_type} if detail_type else {})}
    return any(
        statement["Effect"] == "Allow"
        and account in _principal_accounts(statement)
        and _condition_passes(statement.get("Condition", {}), entry)
        for statement in _bus_statements(synth)
    )


def test_the_bus_admits_exactly_the_target_accounts_for_exactly_the_drs_and_ssm_sources(
    both: tuple[Synth, dict[str, Any]],
) -> None:
    synth, _ = both
    (statement,) = [s for s in _bus_statements(synth) if s["Sid"].endswith("TargetAccountsForwardDrsAndSsmEvents")]
    assert _principal_accounts(statement) == set(TARGET_ACCOUNTS)
    assert statement["Condition"]["ForAllValues:StringEquals"]["events:source"] == ["aws.drs", "aws.ssm"]
    for account in TARGET_ACCOUNTS:
        for route in forwarded_routes():
            for detail_type in route.detail_types:
                assert _admitted(synth, account, route.source, detail_type)
        # a forged StartPlan, operator command or choreography event from a target account has no Allow
        for source, detail_type in [
            ("drs.orchestrator", "StartPlan"),
            ("drs.orchestrator.operator", "StartPlan"),
            ("drs.orchestrator.operator", "ApprovalGranted"),
            ("drs.orchestrator", "DRSJobCompleted"),
            ("aws.drs", "StartPlan"),
            ("aws.drs", None),
            ("aws.ec2", "EC2 Instance State-change Notification"),
        ]:
            assert not _admitted(synth, account, source, detail_type), (source, detail_type)
    # an account that is not configured: nothing
    assert not _admitted(synth, "555555555555", "aws.drs", "DRS Source Server Launch Result")
    # the publishers' Allow stays theirs alone (and the evaluation above does see an Allow that admits)
    publisher_accounts = {arn.split(":")[4] for arn in PUBLISHERS}
    assert not publisher_accounts & set(TARGET_ACCOUNTS)
    assert all(_admitted(synth, account, "drs.orchestrator", "StartPlan") for account in publisher_accounts)


def test_without_target_accounts_the_bus_admits_no_account_for_drs_or_ssm(synth: Synth) -> None:
    assert not any("TargetAccounts" in s["Sid"] for s in _bus_statements(synth))
    assert synth.stack.routes.forwarded_rules == {}
    for account in TARGET_ACCOUNTS:
        assert not _admitted(synth, account, "aws.drs", "DRS Source Server Launch Result")


def test_a_malformed_target_account_fails_the_synth() -> None:
    context = {"targetAccounts": "333333333333,12345"}
    with pytest.raises(ValueError, match="targetAccounts: '12345' is not an AWS account id"):
        StackConfig.from_context(context.get)


def test_the_target_stack_synthesizes_clean_under_cdk_nag(both: tuple[Synth, dict[str, Any]]) -> None:
    synth, _ = both
    assert synth.error is None, str(synth.error)
    assert synth.report is not None
    for plugin in synth.report["pluginReports"]:
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]
    suppressed = [
        v
        for plugin in synth.report["pluginReports"]
        for v in plugin["suppressedViolations"]
        if any("DrsOrchestratorTarget/" in str(location) for location in [json.dumps(v)])
    ]
    assert suppressed  # the target stack was checked (its wildcard resources are acknowledged, with reasons)
    for violation in suppressed:
        assert len(violation["reason"].strip()) > 20


def test_the_template_lands_beside_the_orchestrators(both: tuple[Synth, dict[str, Any]]) -> None:
    synth, _ = both
    assert sorted(p.name for p in Path(synth.outdir).glob("*.template.json")) == [
        "DrsOrchestrator.template.json",
        "DrsOrchestratorTarget.template.json",
    ]


# ---- the merge and the packing, without a synth ---------------------------------------------------------------


def _bare_stack() -> Any:
    from aws_cdk import App, Stack

    return Stack(App(), "Bare")


def test_statements_of_one_sid_merge_their_actions_and_refuse_to_merge_different_resources() -> None:
    from aws_cdk import aws_iam as iam

    from infra.constructs.target_account import merge_statements

    launcher = iam.PolicyStatement(
        sid="S", actions=["drs:GetLaunchConfiguration", "drs:UpdateLaunchConfiguration"], resources=["arn:a"]
    )
    restorer = iam.PolicyStatement(sid="S", actions=["drs:UpdateLaunchConfiguration"], resources=["arn:a"])
    (merged,) = merge_statements([restorer, launcher])
    assert sorted(merged.actions) == ["drs:GetLaunchConfiguration", "drs:UpdateLaunchConfiguration"]
    elsewhere = iam.PolicyStatement(sid="S", actions=["drs:UpdateLaunchConfiguration"], resources=["arn:b"])
    with pytest.raises(ValueError, match="statements 'S' differ in resources or conditions"):
        merge_statements([launcher, elsewhere])
    with pytest.raises(ValueError, match="has no Sid"):
        merge_statements([iam.PolicyStatement(actions=["drs:DescribeJobs"], resources=["*"])])


def test_a_concern_past_a_managed_policys_quota_is_split_and_an_oversized_statement_refused() -> None:
    from aws_cdk import aws_iam as iam

    from infra.constructs.target_account import pack_policies

    stack = _bare_stack()
    resources = [f"arn:aws:ec2:us-east-1:123456789012:instance/i-{n:017d}" for n in range(40)]  # ~2,400 characters
    statements = [
        iam.PolicyStatement(sid=f"Drs{n}", actions=["ec2:StartInstances"], resources=resources) for n in range(3)
    ]
    packed = pack_policies(stack, statements)
    assert sorted(packed) == ["Ec2", "Ec2Part2"]
    assert [len(part) for part in packed.values()] == [2, 1]
    many = [f"arn:aws:ec2:us-east-1:123456789012:instance/i-{n:017d}" for n in range(120)]  # ~7,300 characters
    huge = iam.PolicyStatement(sid="DrsHuge", actions=["ec2:StartInstances"], resources=many)
    with pytest.raises(ValueError, match=r"statement DrsHuge alone is [0-9]+ characters"):
        pack_policies(stack, [huge])
