"""The DRS actions of the failback engine (issue #15 item 4), each granted to the function that calls it and no
other, as the Service Authorization Reference scopes it: the wave launcher's StartFailbackLaunch on recovery-instance
ARNs (its required resource type) and tagging only as part of it; the start function's ReverseReplication (a failback
and a reprotect of EC2 origins) on recovery-instance ARNs with its dependent reads on "*", and StartReplication (a
reprotect of other origins) on source-server ARNs; the control function's StopFailback on recovery-instance ARNs.
tests/infra/test_grants_match_calls.py runs both failback paths and their reprotect and checks every call is granted."""

from __future__ import annotations

from typing import Any

from infra.constructs.nag import render
from tests.infra.conftest import Synth

RECOVERY_INSTANCES = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:recovery-instance/*"
SOURCE_SERVERS = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:source-server/*"
JOBS = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:job/*"


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _by_function(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Function name -> the statements of its role's policies."""
    resources = template["Resources"]
    role_of = {
        res["Properties"]["Role"]["Fn::GetAtt"][0]: res["Properties"]["Environment"]["Variables"][
            "POWERTOOLS_SERVICE_NAME"
        ].removeprefix("drs-orch-")
        for res in resources.values()
        if res["Type"] == "AWS::Lambda::Function" and "Environment" in res["Properties"]
    }
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in role_of.values()}
    for res in resources.values():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in res["Properties"].get("Roles", []):
                if role.get("Ref") in role_of:
                    found[role_of[role["Ref"]]].extend(res["Properties"]["PolicyDocument"]["Statement"])
    return found


def _holding(statements: dict[str, list[dict[str, Any]]], action: str) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [s for s in found if action in _listify(s["Action"])]
        for name, found in statements.items()
        if any(action in _listify(s["Action"]) for s in found)
    }


def _only(synth: Synth, action: str, function: str) -> dict[str, Any]:
    holders = _holding(_by_function(synth.template), action)
    assert set(holders) == {function}, (action, set(holders))
    [statement] = holders[function]
    return statement


def test_only_the_launcher_starts_a_failback_launch_on_recovery_instances(synth: Synth) -> None:
    statement = _only(synth, "drs:StartFailbackLaunch", "launch_wave")
    assert [render(r) for r in _listify(statement["Resource"])] == [RECOVERY_INSTANCES]
    assert "Condition" not in statement


def test_only_the_start_function_reverses_replication_on_recovery_instances(synth: Synth) -> None:
    statement = _only(synth, "drs:ReverseReplication", "start_plan")
    assert [render(r) for r in _listify(statement["Resource"])] == [RECOVERY_INSTANCES]
    # its dependent reads have no resource-level permissions
    for action in (
        "drs:DescribeReplicationConfigurationTemplates",
        "drs:DescribeSourceServers",
        "ec2:DescribeInstances",
    ):
        holders = _holding(_by_function(synth.template), action)
        assert all(s["Resource"] == "*" for s in holders["start_plan"]), action


def test_only_the_start_function_restarts_replication_on_source_servers(synth: Synth) -> None:
    statement = _only(synth, "drs:StartReplication", "start_plan")
    assert [render(r) for r in _listify(statement["Resource"])] == [SOURCE_SERVERS]


def test_only_the_control_function_stops_a_failback_on_recovery_instances(synth: Synth) -> None:
    statement = _only(synth, "drs:StopFailback", "control")
    assert [render(r) for r in _listify(statement["Resource"])] == [RECOVERY_INSTANCES]


def test_a_failback_job_is_tagged_only_as_part_of_start_failback_launch(synth: Synth) -> None:
    tagging = _holding(_by_function(synth.template), "drs:TagResource")
    create_actions = {
        statement["Condition"]["StringEquals"]["drs:CreateAction"] for found in tagging.values() for statement in found
    }
    assert create_actions == {"StartRecovery", "StartFailbackLaunch"}  # never on existing resources
    [failback] = [
        s for s in tagging["launch_wave"] if s["Condition"]["StringEquals"]["drs:CreateAction"] == "StartFailbackLaunch"
    ]
    assert [render(r) for r in _listify(failback["Resource"])] == [JOBS]


def test_no_create_recovery_instance_is_added_for_the_failback_launch(synth: Synth) -> None:
    # StartFailbackLaunch lists no dependent action: CreateRecoveryInstanceForDrs stays StartRecovery's, on servers
    statement = _only(synth, "drs:CreateRecoveryInstanceForDrs", "launch_wave")
    assert [render(r) for r in _listify(statement["Resource"])] == [SOURCE_SERVERS]


def test_only_the_start_function_may_query_the_executions_index(synth: Synth) -> None:
    # GIVEN every function's role
    from infra.definitions import EXECUTIONS_INDEX

    table_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.ledger.table), "Arn"]}
    index_arn = {"Fn::Join": ["", [table_arn, f"/index/{EXECUTIONS_INDEX}"]]}

    def queries_index(name: str) -> bool:
        role_id = synth.logical_id(synth.stack.functions.roles[name])
        return any(
            statement["Resource"] == index_arn and statement["Action"] == "dynamodb:Query"
            for policy in synth.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )

    # THEN the start function (StartPlan and Failback look for a plan's RUNNING executions) queries the index, and
    # no other function does
    assert [name for name in synth.stack.functions.roles if queries_index(name)] == ["start_plan"]
