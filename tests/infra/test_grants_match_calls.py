"""Every AWS operation a function makes is granted to its role, and every grant of a role is used (issue #13).

The local cloud records the IAM action of every AWS operation each function makes (`localcloud/call_record.py`:
botocore's service model gives the prefix and the operation; a DynamoDB transaction counts as its items'
actions, a tagged StartRecovery also needs drs:TagResource, a schedule with a role needs iam:PassRole). The
scenarios below drive every path of the code that calls AWS, each on its own local cloud; the tests compare
what they recorded with each function's role in the synthesized template (function -> role by the template's
`Role` attribute; the function is named by its POWERTOOLS_SERVICE_NAME).

Why scenarios of its own rather than the e2e suite's record: `make test` runs the suite on two xdist workers,
so a session fixture sees only the tests of its worker, and no test can be ordered after all the others; the
scenarios here are few (about 20 s) and each asserts its outcome, so a scenario that stops reaching its path
fails here instead of silently recording less. The e2e suite's own record was compared by hand when this file
was written (the same (function, action) pairs; see the report of issue #13's grants branch).

The local cloud runs every function on one runtime, so a per-process cache one function filled (the SSM
adapter's DescribeDocument cache) can hide another function's call in the same cloud: each scenario has a cloud
of its own, and between them each function makes such a call first at least once (post-launch scripts run
first in the first scenario, a pre-launch script in the third).

A grant nothing calls is either a mistake (removed) or needed by AWS itself, never by our code: Lambda writes
logs, traces and failed events with the function's role, and DRS launches and terminates EC2 resources with
the caller's credentials. Those are listed in `NEEDED_BY_AWS`, each with its reason; a statement conditioned on
`aws:ViaAWSService` or `aws:CalledVia` can only serve an AWS service acting for the role, so a direct call never
counts as using it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from events.models import Mode
from infra.definitions import FUNCTIONS
from localcloud.call_record import CallRecord
from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import RunResult, finish_drill_cleanup, run_failback, run_plan, start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.stored_plans import PlanRef
from tests.e2e.helpers import command, events_of, sid, wave
from tests.infra.conftest import Synth

# ---- what AWS needs although no code of ours calls it -------------------------------------------------

_LAMBDA_LOGS = "Lambda writes the function's logs to its log group with the execution role (Lambda developer guide)"
_TRACING = "active tracing: Lambda and the X-Ray SDK send the function's segments and telemetry with the execution role"
_ON_FAILURE = (
    "Lambda sends an asynchronous invocation that failed every retry to the on-failure destination (the "
    "failed-invocations queue) with the function's execution role (Lambda developer guide, destinations)"
)
_DRS_LAUNCH = (
    "DRS performs it with the credentials of StartRecovery's caller while it launches (a dependent action of "
    "drs:StartRecovery in the Service Authorization Reference); the function never calls it"
)
_DRS_REVERSE = (
    "a dependent action of drs:ReverseReplication (Service Authorization Reference): DRS reads it with the caller's "
    "credentials when the start function reverses a recovery instance's replication; the function never calls it"
)
_DRS_TERMINATE = (
    "DRS performs it with the credentials of TerminateRecoveryInstances' caller (dependent action); the function "
    "never calls it"
)
_DRS_EC2_LAUNCH = (
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:RunInstances",
    "ec2:CreateVolume",
    "ec2:CreateSnapshot",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:AttachVolume",
    "ec2:DetachVolume",
    "ec2:DeleteVolume",
    "ec2:DeleteSnapshot",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:ModifyLaunchTemplate",
    "ec2:DeleteLaunchTemplateVersions",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
)

_LAUNCHER_CALLS = ("ec2:DescribeLaunchTemplateVersions", "ec2:DescribeInstances")

# (function, or "*" for every function; IAM action) -> why the role holds it although no code of ours calls it
NEEDED_BY_AWS: dict[tuple[str, str], str] = {
    ("*", "logs:CreateLogStream"): _LAMBDA_LOGS,
    ("*", "logs:PutLogEvents"): _LAMBDA_LOGS,
    ("*", "xray:PutTraceSegments"): _TRACING,
    ("*", "xray:PutTelemetryRecords"): _TRACING,
    ("*", "sqs:SendMessage"): _ON_FAILURE,
    ("launch_wave", "drs:CreateRecoveryInstanceForDrs"): "a permission-only action: DRS checks that the caller "
    "of StartRecovery may create the recovery instance of each source server (Service Authorization Reference)",
    ("launch_wave", "iam:PassRole"): "EC2 checks that the caller of StartRecovery may pass the recovery instance "
    "role when DRS launches the instance for it (only to ec2.amazonaws.com, only through DRS)",
    # (DescribeLaunchTemplateVersions and DescribeInstances, also DRS's, are the launcher's own calls when it applies
    # a plan's launch settings: the second is drs:UpdateLaunchConfiguration's dependent action too)
    **{("launch_wave", action): _DRS_LAUNCH for action in _DRS_EC2_LAUNCH if action not in _LAUNCHER_CALLS},
    ("start_plan", "drs:DescribeReplicationConfigurationTemplates"): _DRS_REVERSE,
    ("start_plan", "ec2:DescribeInstances"): _DRS_REVERSE,
    ("control", "ec2:TerminateInstances"): _DRS_TERMINATE,
    ("control", "ec2:DeleteVolume"): _DRS_TERMINATE,
}

_FAILBACK = (
    "granted ahead for the failback engine (issue #15 item 4): a cancelled failback will stop it on the recovery "
    "instances; no code calls it yet"
)
#: What is granted for the failback engine before its code calls it (tests/infra/test_failback_grants.py pins its
#: scope).
FOR_THE_FAILBACK_ENGINE: dict[tuple[str, str], str] = {
    ("control", "drs:StopFailback"): _FAILBACK,
}

# The ledger is one statement for every function: any step may reach any ledger method through the port, and
# within one table the actions are not a boundary (UpdateItem creates items, BatchWriteItem puts and deletes),
# so a DynamoDB action counts as used when any function uses it.
SHARED_PREFIXES = ("dynamodb:",)
ON_BEHALF_KEYS = frozenset({"aws:viaawsservice", "aws:calledvia"})

# ---- the scenarios -----------------------------------------------------------------------------------------

AGENT = "DRSOrch-WaitForSsmAgent"  # the project's own documents: the default script allow-list
NOT_MANAGED = "i-0bbbbbbbbbbbbbbb2"  # an instance that never registers with SSM
FAST = {"drs.launchSeconds": {"min": 30, "max": 120}}
Scenario = Callable[[Callable[..., LocalCloud]], None]


def _run(cloud: LocalCloud, plan: dict[str, Any], *, timeout: float = 120.0) -> RunResult:
    return run_plan(cloud, parse_plan(plan), timeout=timeout)


def scripts_everywhere_and_a_drill_time_to_live(make: Callable[..., LocalCloud]) -> None:
    """Pre-launch scripts on an upstream wave's recovery instances, post-launch scripts, the drill's clean-up."""
    cloud = make()
    plan = {
        "planId": "grants-scripts",
        "defaults": {"drillInstanceTtlSeconds": 600},
        "waves": [
            wave("db", [sid("d", 1)], postLaunch=[{"documentName": AGENT}]),
            wave(
                "app",
                [sid("a", 1)],
                ["db"],
                preLaunch=[{"documentName": AGENT, "targets": {"wave": "db"}}],
                postLaunch=[{"documentName": AGENT}],
            ),
        ],
    }
    result = finish_drill_cleanup(cloud, _run(cloud, plan), timeout=60)
    assert (result.status, result.problem) == ("COMPLETED", None)
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 1


def scripts_cancelled_at_their_timeout(make: Callable[..., LocalCloud]) -> None:
    """A pre-launch and a post-launch script still running at their timeout are cancelled."""
    cloud = make(**{f"ssm.documents.{AGENT}.durationSeconds": 600})
    slow = {"documentName": AGENT, "timeoutSeconds": 60, "onFailure": "WARN"}
    plan = {
        "planId": "grants-timeouts",
        "waves": [
            wave("db", [sid("t", 1)], postLaunch=[slow]),
            wave("app", [sid("t", 2)], ["db"], preLaunch=[{**slow, "targets": {"wave": "db"}}]),
        ],
    }
    assert _run(cloud, plan).status == "COMPLETED"
    assert cloud.ssm.stats.calls["CancelCommand"] == 2


def sends_resent_after_invalid_instance_ids(make: Callable[..., LocalCloud]) -> None:
    """SendCommand refused with InvalidInstanceId is sent again; the resend first looks for the commands the
    earlier send left (ListCommands), before launch (an instance never managed) and after (agents online late)."""
    cloud = make(**{"ssm.agentOnlineAfterSeconds": 90})
    fence = {
        "documentName": AGENT,
        "targets": {"instanceIds": [NOT_MANAGED]},
        "timeoutSeconds": 60,
        "onFailure": "WARN",
    }
    plan = {
        "planId": "grants-resend",
        "waves": [wave("db", [sid("g", 1)], preLaunch=[fence], postLaunch=[{"documentName": AGENT}])],
    }
    assert _run(cloud, plan).status == "COMPLETED"
    # each resend looks first: twice in pre_launch (the fence, until its timeout), four times in post_launch
    # (until the recovery instance's agent is online)
    assert cloud.ssm.stats.calls["ListCommands"] == 6


def launches_parked_for_drs_capacity(make: Callable[..., LocalCloud]) -> None:
    """Three parallel waves and room for one DRS job: launches wait in the capacity queue."""
    cloud = make(**{"drs.quotas": {"concurrentJobs": 1, "serversPerJob": 5, "serversInAllJobs": 50}})
    plan = {
        "planId": "grants-capacity",
        "waves": [wave(f"w{i}", [sid(f"w{i}", n) for n in range(2)]) for i in range(3)],
    }
    assert _run(cloud, plan).status == "COMPLETED"
    assert cloud.drs.stats.max_concurrent_jobs == 1


def a_rollback_whose_terminations_fail(make: Callable[..., LocalCloud]) -> None:
    """A CRITICAL server fails to launch (its job log is read), the rollback's terminate jobs fail (theirs too)."""
    launched, failing = sid("b", 1), sid("b", 2)
    cloud = make(**{f"drs.servers.{failing}.launch": "FAILED", f"drs.servers.{launched}.terminate": "FAILED"})
    result = _run(cloud, {"planId": "grants-rollback", "waves": [wave("B", [launched, failing], rollback="TERMINATE")]})
    assert result.status == "FAILED"
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger

    def three_terminate_jobs_ended() -> bool:
        return sum(len(t.get("endedJobIds", [])) for t in ledger.list_terminations(result.execution_id)) == 3

    cloud.run_until(three_terminate_jobs_ended, timeout=60)
    cloud.drain()
    assert cloud.drs.stats.terminations_failed == 3


def preflight_and_an_operator_retry(make: Callable[..., LocalCloud]) -> None:
    """A RECOVERY started through the operator endpoint (signed by the operator function, verified by StartPlan);
    the preflight leaves a stalled OPTIONAL server out and checks a pinned snapshot; a wave whose CRITICAL
    server failed is retried by an operator once the server is fixed (verified by the control function)."""
    optional, failing, pinned = sid("o", 1), sid("r", 2), sid("p", 1)
    cloud = make(**{f"drs.servers.{optional}.replicationState": "STALLED", f"drs.servers.{failing}.launch": "FAILED"})
    cloud.drs.ensure_servers([pinned])
    assert cloud.runtime is not None
    snapshot = sorted(cloud.runtime.drs.recovery_snapshot_ids(pinned))[0]
    plan = parse_plan(
        {
            "planId": "grants-retry",
            "waves": [
                wave("A", [sid("r", 1), failing, {"sourceServerID": optional, "criticality": "OPTIONAL"}]),
                wave("B", [{"sourceServerID": pinned, "recoverySnapshotID": snapshot}], ["A"]),
            ],
        }
    )
    execution_id = start(cloud, plan, mode=Mode.RECOVERY, confirm=True)  # a local session: a recovery principal
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    cloud.drs.set_launch_outcome(failing, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": execution_id, "waveId": "A"}, by="ops")  # the operator endpoint
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"


NETWORK_VPC = "vpc-0a0000000000000a1"
NETWORK_SUBNET = "subnet-0a0000000000000a1"
NETWORK_GROUP = "sg-0a0000000000000a1"
RECOVERY_NETWORK = {
    "vpcs": [
        {
            "vpcId": NETWORK_VPC,
            "cidrBlock": "10.0.0.0/16",
            "subnets": [{"subnetId": NETWORK_SUBNET, "cidrBlock": "10.0.3.0/24", "availabilityZone": "us-east-1a"}],
            "securityGroups": [{"groupId": NETWORK_GROUP, "groupName": "db"}],
        }
    ]
}


def launch_settings_checked_applied_and_restored(make: Callable[..., LocalCloud]) -> None:
    """StartPlan and the wave preflight check a server's subnet, groups, static IP and instance type against EC2;
    the launcher applies the settings (launch configuration, a template version made the default) before
    StartRecovery; once the job ended, post_launch reads where the instance landed and restores both. Drilled
    again: the static IP is held by the server's own earlier recovery instance (DescribeRecoveryInstances, at
    StartPlan and in the preflight), which DRS replaces."""
    cloud = make(**{"ec2.vpcs": RECOVERY_NETWORK["vpcs"]})
    settings = {
        "subnetId": NETWORK_SUBNET,
        "securityGroupIds": [NETWORK_GROUP],
        "privateIp": "10.0.3.20",
        "instanceType": "m5.large",
    }
    server = {"sourceServerID": sid("n", 1), "launchSettings": settings}
    plan = {"planId": "grants-network", "waves": [wave("db", [server])]}
    for _ in range(2):
        result = _run(cloud, plan)
        assert (result.status, result.problem) == ("COMPLETED", None)
        assert cloud.runtime is not None
        [record] = cloud.runtime.ledger.settings_records(result.execution_id)
        assert (record.status.value, record.subnet_id, record.private_ip) == ("RESTORED", NETWORK_SUBNET, "10.0.3.20")
    network_reads = {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstanceTypeOfferings",
        "drs:DescribeRecoveryInstances",
    }
    assert cloud.calls.calls["pre_launch"] >= network_reads  # the wave preflight
    assert cloud.calls.calls["start_plan"] >= network_reads  # the whole plan, before anything launches
    assert cloud.calls.calls["launch_wave"] >= {"ec2:CreateLaunchTemplateVersion", "drs:UpdateLaunchConfiguration"}
    assert cloud.calls.calls["post_launch"] >= {"ec2:ModifyLaunchTemplate", "ec2:DescribeInstances"}


def servers_chosen_by_tag(make: Callable[..., LocalCloud]) -> None:
    """A wave selects its servers by source-server tags: StartPlan reads every source server
    (DescribeSourceServers) to resolve it."""
    tagged = sid("t", 1)
    cloud = make(**{f"drs.servers.{tagged}.tags": {"app": "grants"}})
    plan = {"planId": "grants-tags", "waves": [{"waveId": "tagged", "sourceServerTags": {"app": "grants"}}]}
    result = _run(cloud, plan)
    assert result.status == "COMPLETED"
    assert result.report is not None
    assert [s["sourceServerId"] for s in result.report["waves"][0]["servers"]] == [tagged]


def a_stored_plan_and_an_unknown_version(make: Callable[..., LocalCloud]) -> None:
    """A plan pushed to the plan store and started by reference: StartPlan reads the version (GetObject); one
    naming a version that does not exist is refused, the error naming the versions there are (ListObjectsV2)."""
    cloud = make()
    plan = parse_plan({"planId": "grants-stored", "waves": [{"waveId": "db", "servers": [sid("p", 1)]}]})
    assert run_plan(cloud, plan, stored=True, timeout=120).status == "COMPLETED"
    execution_id = start(cloud, plan, plan_ref=PlanRef("grants-stored", 9))
    cloud.drain()
    assert [e.detail["errors"][0]["code"] for e in events_of(cloud, "PlanFailed", execution_id)] == [
        "unknown_plan_version"
    ]


def a_wait_cut_short_by_a_cancel(make: Callable[..., LocalCloud]) -> None:
    """A cancel while a wave's pre-launch WAIT step runs: the control function ends it and deletes its tick."""
    cloud = make()
    plan = parse_plan(
        {"planId": "grants-wait", "waves": [wave("db", [sid("w", 1)], preLaunch=[{"type": "WAIT", "seconds": 7200}])]}
    )
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: "scheduler:CreateSchedule" in cloud.calls.calls.get("pre_launch", set()), timeout=60)
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="ops")
    assert wait(cloud, execution_id, timeout=60).status == "CANCELLED"
    assert "scheduler:DeleteSchedule" in cloud.calls.calls["control"]


def lambda_steps_in_both_phases(make: Callable[..., LocalCloud]) -> None:
    """A LAMBDA step before the launch and one after: the pre- and post-launch functions invoke the profile's
    functions (lambda:InvokeFunction on the allowed ARNs), whose records come back on the bus."""
    cloud = make(**{"lambda.functions": [{"name": "dns-cutover", "durationSeconds": 5}]})
    step = {"type": "LAMBDA", "functionName": "dns-cutover", "timeoutSeconds": 60}
    plan = {"planId": "grants-lambda", "waves": [wave("db", [sid("l", 1)], preLaunch=[step], postLaunch=[step])]}
    assert _run(cloud, plan).status == "COMPLETED"
    assert [name for name, _ in cloud.lambda_sim.invocations] == ["dns-cutover", "dns-cutover"]


def runbooks_before_and_after_a_launch(make: Callable[..., LocalCloud]) -> None:
    """SSM_AUTOMATION steps: a pre-launch and a post-launch runbook stopped at their timeout, and a post-launch one
    that ends; all run as the Automation role (their AutomationAssumeRole: iam:PassRole)."""
    cloud = make()
    for name, duration in (("DRSOrch-GrantsQuick", "PT5S"), ("DRSOrch-GrantsSlow", "PT1H")):
        step = {"name": "nap", "action": "aws:sleep", "inputs": {"Duration": duration}}
        parameters = {"AutomationAssumeRole": {"type": "String", "default": ""}}
        cloud.ssm.register_runbook(name, {"schemaVersion": "0.3", "parameters": parameters, "mainSteps": [step]})
    plan = {
        "planId": "grants-runbooks",
        "waves": [
            wave(
                "db",
                [sid("r", 1)],
                preLaunch=[
                    {
                        "type": "SSM_AUTOMATION",
                        "documentName": "DRSOrch-GrantsSlow",
                        "timeoutSeconds": 60,
                        "onFailure": "WARN",
                    }
                ],
                postLaunch=[
                    {"type": "SSM_AUTOMATION", "documentName": "DRSOrch-GrantsQuick"},
                    {
                        "type": "SSM_AUTOMATION",
                        "documentName": "DRSOrch-GrantsSlow",
                        "timeoutSeconds": 60,
                        "onFailure": "WARN",
                    },
                ],
            )
        ],
    }
    assert _run(cloud, plan).status == "COMPLETED"
    assert cloud.ssm.stats.calls["StopAutomationExecution"] == 2
    runbook_calls = {"ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "ssm:StopAutomationExecution"}
    assert runbook_calls | {"iam:PassRole"} <= cloud.calls.calls["pre_launch"]
    assert runbook_calls | {"iam:PassRole"} <= cloud.calls.calls["post_launch"]


def a_runbook_stopped_by_a_cancel(make: Callable[..., LocalCloud]) -> None:
    """A cancel while a wave's pre-launch runbook runs: the control function stops it (StopAutomationExecution)."""
    cloud = make()
    nap = {
        "schemaVersion": "0.3",
        "mainSteps": [{"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}}],
    }
    cloud.ssm.register_runbook("DRSOrch-GrantsNap", nap)
    step = {"type": "SSM_AUTOMATION", "documentName": "DRSOrch-GrantsNap", "timeoutSeconds": 7200}
    execution_id = start(
        cloud, parse_plan({"planId": "grants-stop", "waves": [wave("db", [sid("s", 1)], preLaunch=[step])]})
    )
    cloud.run_until(lambda: "ssm:StartAutomationExecution" in cloud.calls.calls.get("pre_launch", set()), timeout=60)
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="ops")
    assert wait(cloud, execution_id, timeout=60).status == "CANCELLED"
    assert "ssm:StopAutomationExecution" in cloud.calls.calls["control"]


_FAILBACK_SIM = {"startAfterSeconds": 30, "readyAfterSeconds": 120, "launchSeconds": 200}


def an_on_premises_failback_and_its_reprotect(make: Callable[..., LocalCloud]) -> None:
    """A RECOVERY failed back through StartFailbackLaunch (the wave launcher), then reprotected (StartReplication, by
    the start function): the failback engine's calls for non-EC2 origins."""
    # launches of 300 s: each failback client is ready (120 s after it starts) before the failback's preflight
    cloud = make(**{"drs.failback": _FAILBACK_SIM, "drs.launchSeconds": {"min": 300, "max": 300}})
    plan = {"planId": "grants-onprem", "waves": [wave("db", [sid("f", 1)]), wave("app", [sid("f", 2)], ["db"])]}
    recovery = run_plan(cloud, parse_plan(plan), mode=Mode.RECOVERY, confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report
    failback = run_failback(cloud, recovery.execution_id, confirm_plan_id="grants-onprem", timeout=120)
    assert failback.status == "COMPLETED", (failback.problem, failback.report)
    cloud.publish("Reprotect", {"executionId": failback.execution_id})
    cloud.drain()
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 2
    assert cloud.drs.stats.calls["StartReplication"] == 2


def a_cross_region_recovery_failed_back_and_reprotected(make: Callable[..., LocalCloud]) -> None:
    """A RECOVERY of us-east-1 EC2 instances in us-west-2 of the own account (a role-less target: targetRegions),
    failed back (ReverseReplication, then StartRecovery of the reversed servers in us-east-1) and reprotected
    (ReverseReplication again): the failback engine's calls for EC2 origins."""
    servers = [sid("x", 1), sid("x", 2)]
    failback = {
        **_FAILBACK_SIM,
        "reverseReplicationSeconds": 300,
        "servers": {key: {"originRegion": "us-east-1"} for key in servers},
    }
    cloud = make(
        **{"drs.launchSeconds": {"min": 300, "max": 300}},
        accounts=[
            {"accountId": "123456789012", "roleName": None, "regions": {"us-west-2": {"drs": {"failback": failback}}}}
        ],
    )
    plan = {
        "planId": "grants-cross-region",
        "target": {"accountId": "123456789012", "region": "us-west-2"},
        "waves": [wave("db", servers[:1]), wave("app", servers[1:], ["db"])],
    }
    recovery = run_plan(cloud, parse_plan(plan), mode=Mode.RECOVERY, confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report
    result = run_failback(
        cloud, recovery.execution_id, confirm_plan_id="grants-cross-region", reprotect=True, timeout=120
    )
    assert result.status == "COMPLETED", (result.problem, result.report)
    cloud.drain()
    assert cloud.drs_for("123456789012", "us-west-2").stats.calls["ReverseReplication"] >= 2


SCENARIOS: tuple[Scenario, ...] = (
    an_on_premises_failback_and_its_reprotect,
    a_cross_region_recovery_failed_back_and_reprotected,
    a_runbook_stopped_by_a_cancel,
    runbooks_before_and_after_a_launch,
    a_stored_plan_and_an_unknown_version,
    servers_chosen_by_tag,
    scripts_everywhere_and_a_drill_time_to_live,
    scripts_cancelled_at_their_timeout,
    sends_resent_after_invalid_instance_ids,
    launches_parked_for_drs_capacity,
    a_rollback_whose_terminations_fail,
    preflight_and_an_operator_retry,
    launch_settings_checked_applied_and_restored,
    a_wait_cut_short_by_a_cancel,
    lambda_steps_in_both_phases,
)


def run_scenario(scenario: Scenario) -> dict[str, set[str]]:
    """What the functions called in `scenario`, on local clouds of its own (one at a time: a cloud installs
    process-wide hooks)."""
    clouds: list[LocalCloud] = []

    def make(**overrides: Any) -> LocalCloud:
        cloud = LocalCloud(load_profile(None, **{**FAST, **overrides}))
        cloud.start()
        clouds.append(cloud)
        return cloud

    calls: dict[str, set[str]] = {}
    try:
        scenario(make)
    finally:
        for cloud in clouds:
            for function, actions in cloud.calls.calls.items():
                calls.setdefault(function, set()).update(actions)
            cloud.stop()
    return calls


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> CallRecord:
    """The calls of every scenario; also written to calls.json in the test's temporary folder."""
    record = CallRecord()
    for scenario in SCENARIOS:
        record.add(run_scenario(scenario))
    record.write(tmp_path_factory.mktemp("grants") / "calls.json")
    return record


# ---- the roles of the template ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    on_behalf: bool  # conditioned on aws:ViaAWSService / aws:CalledVia: only an AWS service acting for us uses it


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(document: dict[str, Any]) -> Iterator[Grant]:
    for statement in document["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        keys = {key.lower() for operator in statement.get("Condition", {}).values() for key in operator}
        yield Grant(
            sid=str(statement.get("Sid", "-")),
            actions=tuple(_listify(statement["Action"])),
            on_behalf=bool(keys & ON_BEHALF_KEYS),
        )


#: Functions outside the choreography, which no scenario here runs, and where their grants are checked instead.
CHECKED_ELSEWHERE = {
    "console_widget": "CloudWatch invokes it, not the bus: tests/infra/test_console_widget.py pins its role's "
    "statements, tests/unit/reporting/test_console_widget.py the calls it makes",
}


def role_grants(template: dict[str, Any]) -> dict[str, list[Grant]]:
    """function name -> the Allow statements of its role (the role's own, and the policies attached to it), for
    every function but those CHECKED_ELSEWHERE."""
    resources: dict[str, dict[str, Any]] = template["Resources"]
    role_of: dict[str, str] = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::Function":
            props = resource["Properties"]
            name = props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].removeprefix("drs-orch-")
            if name not in CHECKED_ELSEWHERE:
                role_of[name] = props["Role"]["Fn::GetAtt"][0]
    grants: dict[str, list[Grant]] = {name: [] for name in role_of}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for name, role in role_of.items():
                if {"Ref": role} in props.get("Roles", []):
                    grants[name].extend(_grants(props["PolicyDocument"]))
        elif resource["Type"] == "AWS::IAM::Role":
            for name, role in role_of.items():
                if logical_id == role:
                    assert not props.get("ManagedPolicyArns"), f"{name}: a managed policy grants what no test sees"
                    for policy in props.get("Policies", []):
                        grants[name].extend(_grants(policy["PolicyDocument"]))
    return grants


def _needed_by_aws(function: str, action: str) -> bool:
    allowed = {**NEEDED_BY_AWS, **FOR_THE_FAILBACK_ENGINE}
    return (function, action) in allowed or ("*", action) in allowed


def unused_grants(grants: dict[str, list[Grant]], record: CallRecord) -> set[tuple[str, str, str]]:
    """(function, statement Sid, action) of every grant no recorded call uses (before the allow-list)."""
    calls = record.calls
    anyone = {action for actions in calls.values() for action in actions}
    unused = set()
    for function, statements in grants.items():
        mine = calls.get(function, set())
        for grant in statements:
            for action in grant.actions:
                shared = action.startswith(SHARED_PREFIXES) and action in anyone
                if grant.on_behalf or not (action in mine or shared):
                    unused.add((function, grant.sid, action))
    return unused


# ---- the tests ---------------------------------------------------------------------------------------------------


def test_the_scenarios_run_every_function(recorded: CallRecord) -> None:
    assert set(recorded.calls) == set(FUNCTIONS)


def test_every_call_a_function_makes_is_granted_to_its_role(synth: Synth, recorded: CallRecord) -> None:
    # GIVEN each function's role in the synthesized template, and what each function called in the scenarios
    grants = role_grants(synth.template)
    assert set(grants) == set(FUNCTIONS)

    # WHEN the calls are compared with the statements a direct call can use
    missing = {
        (function, action)
        for function, actions in recorded.calls.items()
        for action in actions
        if not any(action in g.actions for g in grants[function] if not g.on_behalf)
    }

    # THEN nothing a function calls is missing from its role (it would fail on AWS with AccessDenied)
    assert missing == set(), sorted(missing)


def test_every_grant_is_used_by_a_call_or_needed_by_aws(synth: Synth, recorded: CallRecord) -> None:
    unused = unused_grants(role_grants(synth.template), recorded)
    unexplained = {(f, sid, a) for f, sid, a in unused if not _needed_by_aws(f, a)}
    assert unexplained == set(), sorted(unexplained)


def test_every_entry_of_the_allow_list_explains_a_grant(synth: Synth, recorded: CallRecord) -> None:
    # an entry no unused grant needs any more is stale: it would hide the next unused grant of that action
    unused = unused_grants(role_grants(synth.template), recorded)
    explained = {(f, a) for f, _, a in unused} | {("*", a) for _, _, a in unused}
    stale = {key for key in {**NEEDED_BY_AWS, **FOR_THE_FAILBACK_ENGINE} if key not in explained}
    assert stale == set(), sorted(stale)
    assert all(len(reason) > 40 for reason in [*NEEDED_BY_AWS.values(), *FOR_THE_FAILBACK_ENGINE.values()])


def test_the_record_attributes_only_the_functions_calls(tmp_path: Path) -> None:
    # GIVEN a local cloud that ran nothing but its own set-up and a publish by the test
    cloud = LocalCloud(load_profile(None, **FAST))
    cloud.start()
    try:
        cloud.events_client.list_event_buses()
        # WHEN a simulator publishes its service event while a function runs
        from localcloud.call_record import invoking

        with invoking("job_watcher"):
            cloud._publish_aws_event({"Source": "aws.drs", "DetailType": "x", "Detail": "{}"})
            cloud.dynamodb.describe_table(TableName="drs-orchestrator-ledger")
        recorded = cloud.calls.to_json()
    finally:
        cloud.stop()
    # THEN only the call made for the function is its: set-up, the test's publish and the service event are not
    assert recorded == {"job_watcher": ["dynamodb:DescribeTable"]}
