"""Scheduled drills (issue #16 item 5): the `drillSchedules` deploy setting becomes one EventBridge Scheduler
schedule per entry, publishing a DRILL StartPlan of a stored plan version; a RECOVERY fails the synth."""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.models import SOURCE
from infra.stack import StackConfig
from tests.infra.conftest import CONTEXT, PUBLISHERS, Synth, synthesize

SCHEDULES = [
    {
        "name": "payments-weekly",
        "planId": "payments",
        "version": 3,
        "expression": "cron(0 3 ? * SUN *)",
        "timezone": "Europe/Paris",
        "drillInstanceTtlSeconds": 7200,
    },
    {"name": "hr-hourly", "planId": "hr", "version": 1, "expression": "rate(1 hour)"},
]


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    # the setting as `-c drillSchedules='[...]'` gives it: JSON text
    return synthesize(tmp_path_factory.mktemp("cdk.drills"), {**CONTEXT, "drillSchedules": json.dumps(SCHEDULES)})


def _role_arn(synth: Synth, role: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [synth.logical_id(role), "Arn"]}


def test_each_entry_is_a_schedule_publishing_a_drill_of_its_stored_version(drills: Synth) -> None:
    # GIVEN two scheduled drills WHEN the stack is synthesized
    schedules = {
        res["Properties"]["Name"]: res["Properties"] for res in drills.of_type("AWS::Scheduler::Schedule").values()
    }
    # THEN there is one schedule each, in the drills' group, with its expression and zone, firing once, no window
    assert sorted(schedules) == ["hr-hourly", "payments-weekly"]
    group_id = drills.stack.resolve(drills.stack.drill_schedules.group.logical_id)
    weekly = schedules["payments-weekly"]
    assert weekly["GroupName"] == drills.template["Resources"][group_id]["Properties"]["Name"]
    assert weekly["GroupName"].endswith("-drills")
    assert (weekly["ScheduleExpression"], weekly["ScheduleExpressionTimezone"]) == (
        "cron(0 3 ? * SUN *)",
        "Europe/Paris",
    )
    assert (schedules["hr-hourly"]["ScheduleExpression"], schedules["hr-hourly"]["ScheduleExpressionTimezone"]) == (
        "rate(1 hour)",
        "UTC",
    )
    assert weekly["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert weekly["State"] == "ENABLED"
    # AND it targets the orchestrator bus as a StartPlan of our source, through the drills' role
    target = weekly["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [drills.logical_id(drills.stack.bus.bus), "Arn"]}
    assert target["RoleArn"] == _role_arn(drills, drills.stack.drill_schedules.role)
    assert target["EventBridgeParameters"] == {"DetailType": "StartPlan", "Source": SOURCE}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}
    # AND the detail is a DRILL of the stored version, its executionId the firing's scheduled time
    assert json.loads(target["Input"]) == {
        "planRef": {"planId": "payments", "version": 3},
        "mode": "DRILL",
        "executionId": "payments-weekly-<aws.scheduler.scheduled-time>",
        "requestedBy": "schedule:payments-weekly",
        "drillInstanceTtlSeconds": 7200,  # a scheduled drill cleans up after itself
    }
    # AND an entry without a time to live gets the default one (four hours)
    assert json.loads(schedules["hr-hourly"]["Target"]["Input"])["drillInstanceTtlSeconds"] == 14_400


def test_the_drills_role_may_put_only_start_plan_and_the_bus_lets_it(drills: Synth) -> None:
    role_id = drills.logical_id(drills.stack.drill_schedules.role)
    role = drills.resources[role_id]["Properties"]
    ((trust,),) = [role["AssumeRolePolicyDocument"]["Statement"]]
    # GIVEN the role Scheduler assumes: only for this account's drill group (confused deputy)
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    group_id = drills.stack.resolve(drills.stack.drill_schedules.group.logical_id)
    assert trust["Condition"]["ArnEquals"] == {"aws:SourceArn": {"Fn::GetAtt": [group_id, "Arn"]}}
    # THEN its only permission is PutEvents of StartPlan with our source on the bus
    (policy,) = [
        p["Properties"]
        for p in drills.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Action": "events:PutEvents",
            "Condition": {"StringEquals": {"events:source": SOURCE, "events:detail-type": "StartPlan"}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [drills.logical_id(drills.stack.bus.bus), "Arn"]},
        }
    ]
    # AND the bus's StartPlan deny spares it (beside the publishers and the operator), not its internal-event deny
    statements = {
        s["Sid"].removeprefix("cdk-"): s
        for p in drills.of_type("AWS::Events::EventBusPolicy").values()
        for s in [p["Properties"]["Statement"]]
    }
    start_plan = statements["OnlyPublishersStartPlans"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    drills_role = _role_arn(drills, drills.stack.drill_schedules.role)
    operator_role = _role_arn(drills, drills.stack.functions.roles["operator"])
    assert sorted(map(json.dumps, start_plan)) == sorted(map(json.dumps, [*PUBLISHERS, operator_role, drills_role]))
    internal = statements["OnlyTheOrchestratorSendsItsEvents"]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert drills_role not in internal


def test_cdk_nag_finds_nothing_unacknowledged_with_schedules(drills: Synth) -> None:
    assert drills.error is None, str(drills.error)
    assert drills.report is not None
    for plugin in drills.report["pluginReports"]:
        assert plugin["violations"] == [], [v["ruleName"] for v in plugin["violations"]]


def test_without_the_setting_there_is_no_drill_schedule(synth: Synth) -> None:
    assert synth.stack.drill_schedules is None
    assert synth.of_type("AWS::Scheduler::Schedule") == {}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            [{**SCHEDULES[0], "mode": "RECOVERY"}],
            "drillSchedules entry 'payments-weekly': a scheduled run is always a DRILL; remove 'mode' ('RECOVERY')",
        ),
        ([{**SCHEDULES[1], "expression": "cron(0 3 * * *)"}], "drillSchedules entry 'hr-hourly': 'cron(0 3 * * *)'"),
        ("[{", "drillSchedules: not JSON"),
    ],
)
def test_a_recovery_or_malformed_schedule_fails_the_synth_naming_the_entry(setting: Any, message: str) -> None:
    # GIVEN the setting as cdk.json (a list) or -c (JSON text) gives it WHEN the stack reads its context
    context = {"drillSchedules": setting if isinstance(setting, str) else json.dumps(setting)}
    # THEN it refuses it before any resource exists
    with pytest.raises(ValueError) as refused:
        StackConfig.from_context(context.get)
    assert message in str(refused.value)


def test_the_setting_reads_as_cdk_json_holds_it() -> None:
    schedules = StackConfig.from_context({"drillSchedules": SCHEDULES}.get).drill_schedules
    assert [(s.name, s.plan_id, s.version, s.timezone) for s in schedules] == [
        ("payments-weekly", "payments", 3, "Europe/Paris"),
        ("hr-hourly", "hr", 1, "UTC"),
    ]
