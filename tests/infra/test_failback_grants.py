"""The DRS actions the failback engine (issue #15 item 4) will call, granted ahead as the Service Authorization
Reference scopes them: StartFailbackLaunch, ReverseReplication and StopFailback on recovery-instance ARNs (their
required resource type), StartReplication on source-server ARNs (narrowed like StartRecovery), tagging only as part of
StartFailbackLaunch, DescribeRecoveryInstances and ReverseReplication's dependent reads on "*" (no resource-level
permissions); each to the function that will make the call, and no other."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synth

RECOVERY_INSTANCES = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:recovery-instance/*"
SOURCE_SERVERS = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:source-server/*"
JOBS = "arn:<AWS::Partition>:drs:<AWS::Region>:<AWS::AccountId>:job/*"
FAILBACK_ACTIONS = ("drs:StartFailbackLaunch", "drs:ReverseReplication", "drs:StopFailback", "drs:StartReplication")


def _render(value: Any) -> str:
    from infra.constructs.nag import render

    return render(value)


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


def test_the_failback_launch_and_reverse_replication_are_the_launchers_on_recovery_instances_only(synth: Synth) -> None:
    statements = _by_function(synth.template)
    for action in ("drs:StartFailbackLaunch", "drs:ReverseReplication"):
        holders = _holding(statements, action)
        assert set(holders) == {"launch_wave"}, action
        [statement] = holders["launch_wave"]
        assert [_render(r) for r in _listify(statement["Resource"])] == [RECOVERY_INSTANCES]
        assert "Condition" not in statement


def test_reprotect_starts_replication_on_source_servers_only_from_the_launcher(synth: Synth) -> None:
    holders = _holding(_by_function(synth.template), "drs:StartReplication")
    assert set(holders) == {"launch_wave"}
    [statement] = holders["launch_wave"]
    assert [_render(r) for r in _listify(statement["Resource"])] == [SOURCE_SERVERS]


def test_only_the_control_function_stops_a_failback_on_recovery_instances(synth: Synth) -> None:
    holders = _holding(_by_function(synth.template), "drs:StopFailback")
    assert set(holders) == {"control"}
    [statement] = holders["control"]
    assert [_render(r) for r in _listify(statement["Resource"])] == [RECOVERY_INSTANCES]


def test_a_failback_job_is_tagged_only_as_part_of_start_failback_launch(synth: Synth) -> None:
    tagging = _holding(_by_function(synth.template), "drs:TagResource")
    create_actions = {
        statement["Condition"]["StringEquals"]["drs:CreateAction"] for found in tagging.values() for statement in found
    }
    assert create_actions == {"StartRecovery", "StartFailbackLaunch"}  # never on existing resources
    [failback] = [
        s for s in tagging["launch_wave"] if s["Condition"]["StringEquals"]["drs:CreateAction"] != "StartRecovery"
    ]
    assert [_render(r) for r in _listify(failback["Resource"])] == [JOBS]


def test_the_failback_reads_have_no_resource_level_permissions_and_no_create_recovery_instance_is_added(
    synth: Synth,
) -> None:
    statements = _by_function(synth.template)
    for action in ("drs:DescribeRecoveryInstances", "drs:DescribeReplicationConfigurationTemplates"):
        assert "launch_wave" in _holding(statements, action), action
        assert all(s["Resource"] == "*" for found in _holding(statements, action).values() for s in found)
    # StartFailbackLaunch has no dependent action: CreateRecoveryInstanceForDrs stays StartRecovery's, on source servers
    [create] = _holding(statements, "drs:CreateRecoveryInstanceForDrs")["launch_wave"]
    assert [_render(r) for r in _listify(create["Resource"])] == [SOURCE_SERVERS]
