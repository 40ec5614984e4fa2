"""Every AWS call `drs-orch` makes against a deployed stack is granted by the policy the stack makes for its
users, and every grant of those policies is used (issue #13 item 4: "the same for the CLI's operator role").

The stack makes two customer-managed policies (infra/constructs/operator_policy.py): `operate` for starting
plans and the operator commands, `read` for report, inspect and validate; `VERBS` says which verb each serves.
The scenario below runs every one of those verbs with `--aws` against one local cloud, the CLI's own boto3
clients recorded by `CallRecord.everywhere()` (IAM action names from botocore's service model, as for the
functions) and each request to the operator's Function URL (a SigV4-signed POST, no botocore operation) as the
two actions Lambda authorizes it against. The operator URL is the stand-in of tests/e2e/function_url.py, which
checks the signature as Lambda does; DescribeStacks of the stack is answered by `DeployedStack`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from drs_orch import operator_client, stored_plan_verbs
from drs_orch.app import app
from infra.constructs.nag import render
from infra.constructs.operator_policy import INSPECTOR_PREFIX, OPERATE, READ, REPLAY_PREFIX, VERBS
from localcloud.call_record import FUNCTION_URL_ACTIONS, CallRecord, invoking
from localcloud.cloud import ARCHIVE_NAME, BUS_NAME, EVIDENCE_BUCKET, PLAN_BUCKET, TABLE_NAME, LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import wait
from tests.e2e.function_url import Identity, function_url
from tests.e2e.helpers import DROPS, session, sid, wave
from tests.infra.conftest import Synth
from tests.infra.test_grants_match_calls import FAST, Grant, _grants

ME = session("alice")  # a session of the DROps role: a publisher and a recovery principal of this cloud
ACCESS_KEY, SECRET = "AKIAALICE0000000000A", "alice-secret"
STACK = "DrsOrchestrator"
REGION = ["--region", "us-east-1"]
AGENT = "DRSOrch-WaitForSsmAgent"
SERVERS = [sid("c", 1), sid("c", 2)]
NETWORK_SUBNET = "subnet-0a0000000000000a1"
NETWORK = {
    "ec2.vpcs": [
        {
            "vpcId": "vpc-0a0000000000000a1",
            "cidrBlock": "10.0.0.0/16",
            "subnets": [{"subnetId": NETWORK_SUBNET, "cidrBlock": "10.0.3.0/24", "availabilityZone": "us-east-1a"}],
            "securityGroups": [{"groupId": "sg-0a0000000000000a1", "groupName": "db"}],
        }
    ]
}
# the db server's launch settings make `validate --aws` read the network (every EC2 read of the checks)
DB_SERVER = {
    "sourceServerID": SERVERS[0],
    "launchSettings": {
        "subnetId": NETWORK_SUBNET,
        "securityGroupIds": ["sg-0a0000000000000a1"],
        "privateIp": "10.0.3.20",
        "instanceType": "m5.large",
    },
}
PLAN: dict[str, Any] = {
    "planId": "cli-grants",
    "waves": [wave("db", [DB_SERVER], postLaunch=[{"documentName": AGENT}]), wave("app", SERVERS[1:], ["db"])],
}
# a plan of one server replicated in a staging account, for `extend --aws` (the profile's drs.stagingAccounts)
STAGING_ACCOUNT, STAGING_SERVER = "111122223333", "s-5000000000000000a"
STAGING = {"drs.stagingAccounts": {STAGING_ACCOUNT: {"servers": {STAGING_SERVER: {"hostname": "db-1"}}}}}
EXTEND_PLAN: dict[str, Any] = {
    "planId": "cli-grants-extend",
    "waves": [wave("db", [{"stagingAccountID": STAGING_ACCOUNT, "stagingSourceServerID": STAGING_SERVER}])],
}
# the same plan reordered, for export-native's update of the native plan it created from PLAN
PLAN_V2: dict[str, Any] = {
    "planId": "cli-grants",
    "description": "app first, then db",
    "waves": [wave("app", SERVERS[1:]), wave("db", [SERVERS[0]], ["app"])],
}
OUTPUT_LOGICAL_IDS = {OPERATE: "OperatorPolicyArn", READ: "ReaderPolicyArn"}


@dataclass
class Recorded:
    record: CallRecord
    exit_codes: dict[str, int]
    outputs: dict[str, str]


@dataclass
class DeployedStack:
    """CloudFormation's DescribeStacks of the stack `cdk deploy` left, its `OperatorUrl` output `url`: answers the
    call after botocore built and validated it against its model (`before-call`, as botocore's Stubber does;
    moto's CloudFormation needs packages the lock leaves out). Another stack name is CloudFormation's error."""

    url: str
    event: str = "before-call.cloudformation.DescribeStacks"

    def handle(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        if params["body"].get("StackName") != STACK:
            error = {"Error": {"Code": "ValidationError", "Message": "Stack does not exist"}}
            return AWSResponse(params["url"], 400, {}, None), error
        outputs = [
            {"OutputKey": operator_client.OUTPUT_KEY, "OutputValue": self.url},
            {"OutputKey": stored_plan_verbs.OUTPUT_KEY, "OutputValue": PLAN_BUCKET},
        ]
        stack = {"StackName": STACK, "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}
        return AWSResponse(params["url"], 200, {}, None), {"Stacks": [stack]}


@contextmanager
def deployed_stack(url: str) -> Iterator[DeployedStack]:
    """Every client made while the block runs (the CLI's) gets the stack's DescribeStacks from `DeployedStack`."""
    import boto3
    import botocore.handlers

    stack = DeployedStack(url)
    entry = (stack.event, stack.handle)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield stack
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        if boto3.DEFAULT_SESSION is not None:  # made inside the block: it registered the built-ins then
            boto3.DEFAULT_SESSION._session.unregister(stack.event, stack.handle)


def _verbs(plan_file: Path, execution: str) -> Iterator[tuple[str, list[str]]]:
    """(verb, arguments) of every verb after the drill started, as an operator types them."""
    table, bus = ["--table", TABLE_NAME], ["--bus", BUS_NAME]
    # export-native creates the native plan, then replaces its steps and description from the reordered plan
    yield "export-native --aws", ["export-native", str(plan_file), "--aws", *REGION]
    v2 = plan_file.with_name("plan-v2.json")
    v2.write_text(json.dumps(PLAN_V2))
    yield "export-native --aws", ["export-native", str(v2), "--aws", *REGION]
    extend_plan = plan_file.with_name("extend-plan.json")
    extend_plan.write_text(json.dumps(EXTEND_PLAN))
    yield "extend --aws", ["extend", str(extend_plan), "--yes", "--aws", *REGION]
    yield (
        "import-native --aws",
        ["import-native", "cli-grants", "-o", str(plan_file.with_name("imported.yaml")), "--aws", *REGION],
    )
    # stored plans: push (the bucket from the stack's outputs), list, show, and a drill of the latest version
    yield "plan push --aws", ["plan", "push", str(plan_file), "--aws", *REGION]
    yield "plan list --aws", ["plan", "list", "--aws", *REGION]
    yield "plan show --aws", ["plan", "show", "cli-grants:1", "--aws", "--bucket", PLAN_BUCKET, *REGION]
    yield "run --plan-ref --aws", ["run", "--plan-ref", "cli-grants", "--aws", *bus, *REGION]
    yield "report --table", ["report", execution, *table, *REGION]
    inspect = ["inspect", execution, "--aws", *bus, "--archive", ARCHIVE_NAME, *table, "--json", "--settle", "0"]
    yield "inspect --aws", [*inspect, *REGION]
    yield "run --recovery --confirm --aws", ["run", str(plan_file), "--recovery", "--confirm", "--aws", *REGION]
    stack = ["--aws", "--stack", STACK, *REGION]
    yield "approve --aws", ["approve", execution, "--wave", "db", *stack]
    yield "deny --aws", ["deny", execution, "--wave", "app", "--reason", "not now", *stack]
    yield "pause --aws", ["pause", execution, *stack]
    yield "resume --aws", ["resume", execution, *stack]
    yield "retry --aws", ["retry", execution, "--wave", "db", "--all", *stack]
    yield "skip --aws", ["skip", execution, "--wave", "app", *stack]
    yield "cancel --aws", ["cancel", execution, "--terminate-drill-instances", *stack]


def run_every_verb(tmp: Path) -> Recorded:
    """Every verb of `VERBS` against one local cloud, each inside `invoking(verb)` with the recorder on."""
    record = CallRecord(keep_params=True)
    runner = CliRunner()
    plan_file = tmp / "plan.json"
    plan_file.write_text(json.dumps(PLAN))
    exit_codes: dict[str, int] = {}
    outputs: dict[str, str] = {}

    def cli(verb: str, args: list[str]) -> str:
        with invoking(verb):
            result = runner.invoke(app, args)
        exit_codes[verb], outputs[verb] = result.exit_code, result.output
        return " ".join(result.output.split())

    cloud = LocalCloud(load_profile(None, **{**FAST, **NETWORK, **STAGING, "operators.recoveryPrincipals": [DROPS]}))
    cloud.start()
    try:
        with (
            pytest.MonkeyPatch.context() as env,
            function_url(cloud, {ACCESS_KEY: Identity(SECRET, ME)}) as url,
            deployed_stack(url.url),
            record.everywhere(),
        ):
            # the CLI signs with alice's key (the stand-in URL knows it); moto takes any key
            env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
            env.delenv("AWS_SESSION_TOKEN", raising=False)
            env.delenv(operator_client.URL_VARIABLE, raising=False)
            send = operator_client.send

            def signed_post(*args: Any, **kwargs: Any) -> operator_client.OperatorResponse:
                record.note(FUNCTION_URL_ACTIONS)
                return send(*args, **kwargs)

            env.setattr(operator_client, "send", signed_post)
            cloud.drs.ensure_servers(SERVERS)

            cli("validate --aws", ["validate", str(plan_file), "--aws", *REGION])
            started = cli("run --aws --bus", ["run", str(plan_file), "--aws", "--bus", BUS_NAME, *REGION])
            found = re.search(r"execution (\S+) \(DRILL\)", started)
            assert found, started
            execution = found.group(1)
            ended = wait(cloud, execution, timeout=120)
            assert ended.status == "COMPLETED", json.dumps(ended.report)[:3000]
            for verb, args in _verbs(plan_file, execution):
                cli(verb, args)
            with invoking("ui --aws"):  # what the dashboard's pages read (its buttons are the verbs above)
                exit_codes["ui --aws"], outputs["ui --aws"] = 0, _dashboard_pages(execution)
            cloud.drain()
            # `report --aws` of an execution the ledger no longer holds: its stored report, from the evidence bucket
            _forget(cloud, execution)
            args = ["report", execution, "--aws", "--table", TABLE_NAME, "--bucket", EVIDENCE_BUCKET, *REGION]
            cli("report --aws", args)
    finally:
        cloud.stop()
    return Recorded(record, exit_codes, outputs)


def _dashboard_pages(execution: str) -> str:
    """The list and the execution's page of `drs-orch ui --aws`, rendered on this thread by the code its server runs
    (the server's own threads would not carry the recorder's attribution to the verb)."""
    from drs_orch.ui import views
    from drs_orch.ui.cli import ledger_source

    source = ledger_source(TABLE_NAME, region="us-east-1")
    report = source.report(execution)
    assert report is not None
    return views.list_page(source) + views.execution_page(source, report)


def _forget(cloud: LocalCloud, execution: str) -> None:
    """Delete every ledger item of `execution`, as its time to live would."""
    table = cloud.session.resource("dynamodb").Table(TABLE_NAME)
    items = [item for item in table.scan()["Items"] if execution in str(item["pk"])]
    assert items
    with table.batch_writer() as batch:
        for item in items:
            batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return run_every_verb(tmp_path_factory.mktemp("cli-grants"))


def policy_grants(synth: Synth) -> dict[str, list[Grant]]:
    """`operate` and `read` -> the Allow statements of the managed policy the stack outputs for it."""
    outputs = synth.template["Outputs"]
    grants: dict[str, list[Grant]] = {}
    for policy, output in OUTPUT_LOGICAL_IDS.items():
        logical_id = outputs[output]["Value"]["Ref"]
        resource = synth.resources[logical_id]
        assert resource["Type"] == "AWS::IAM::ManagedPolicy"
        grants[policy] = list(_grants(resource["Properties"]["PolicyDocument"]))
    return grants


def _called(recorded: Recorded, policy: str) -> set[str]:
    return {action for verb in VERBS[policy] for action in recorded.record.calls.get(verb, set())}


def test_every_verb_ran_to_its_end_and_called_aws(recorded: Recorded) -> None:
    verbs = [verb for policy in VERBS.values() for verb in policy]
    # each verb succeeded (a verb that stopped early would record less than it needs)
    assert {verb: code for verb, code in recorded.exit_codes.items() if code != 0} == {}, recorded.outputs
    assert sorted(recorded.exit_codes) == sorted(verbs)
    assert [verb for verb in verbs if not recorded.record.calls.get(verb)] == []
    # the operator commands were published by the operator endpoint as the verified caller
    for verb in VERBS[OPERATE][1:]:
        if verb in {"export-native --aws", "extend --aws", "plan push --aws", "run --plan-ref --aws"}:  # DRS, S3, bus
            continue
        assert f"as {ME}" in " ".join(recorded.outputs[verb].split()), recorded.outputs[verb]


def test_every_call_a_verb_makes_is_granted_by_its_policy(synth: Synth, recorded: Recorded) -> None:
    # GIVEN the two policies of the synthesized template, and what each verb called
    grants = policy_grants(synth)

    # WHEN each verb's calls are compared with the actions its policy grants
    missing = {
        (policy, verb, action)
        for policy, verbs in VERBS.items()
        for verb in verbs
        for action in recorded.record.calls.get(verb, set())
        if not any(action in grant.actions for grant in grants[policy])
    }

    # THEN nothing is missing (it would be refused with AccessDenied on AWS)
    assert missing == set(), sorted(missing)


def test_every_grant_of_a_policy_is_called_by_one_of_its_verbs(synth: Synth, recorded: Recorded) -> None:
    unused = {
        (policy, grant.sid, action)
        for policy, grants in policy_grants(synth).items()
        for grant in grants
        for action in grant.actions
        if action not in _called(recorded, policy)
    }
    assert unused == set(), sorted(unused)


def test_the_exact_actions_of_each_policy(synth: Synth, recorded: Recorded) -> None:
    # what the two tests above hold together, spelled out: a change to either side shows here
    assert _called(recorded, OPERATE) == {
        "cloudformation:DescribeStacks",
        "drs:CreateExtendedSourceServer",
        "drs:CreateRecoveryPlan",
        "drs:CreateRecoveryPlanStep",
        "drs:DeleteRecoveryPlanStep",
        "drs:DescribeSourceServers",
        "drs:GetRecoveryPlan",
        "drs:ListExtensibleSourceServers",
        "drs:ListRecoveryPlanSteps",
        "drs:ListRecoveryPlans",
        "drs:TagResource",
        "drs:UpdateRecoveryPlan",
        "events:PutEvents",
        "lambda:InvokeFunction",
        "lambda:InvokeFunctionUrl",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }
    assert _called(recorded, READ) == {
        "cloudformation:DescribeStacks",
        "drs:GetRecoveryPlan",
        "drs:ListRecoveryPlanSteps",
        "drs:ListRecoveryPlans",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "s3:GetObject",
        "events:DeleteRule",
        "events:DescribeArchive",
        "events:DescribeEventBus",
        "events:DescribeReplay",
        "events:PutRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:StartReplay",
        "sqs:CreateQueue",
        "sqs:DeleteMessage",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SetQueueAttributes",
        "ssm:DescribeDocument",
        "s3:ListBucket",
    }


def test_the_stored_plan_verbs_pushed_listed_showed_and_started_version_1(recorded: Recorded) -> None:
    outputs = {verb: " ".join(recorded.outputs[verb].split()) for verb in VERBS[OPERATE] + VERBS[READ]}
    assert "pushed cli-grants as version 1" in outputs["plan push --aws"]
    assert "cli-grants" in outputs["plan list --aws"]
    assert "cli-grants version 1: 2 wave(s), 2 server(s)" in outputs["plan show --aws"]
    assert "(DRILL) of stored plan cli-grants:1" in outputs["run --plan-ref --aws"]


def test_export_native_created_then_updated_the_native_plan_that_import_native_read_back(recorded: Recorded) -> None:
    outputs = {
        verb: " ".join(recorded.outputs[verb].split()) for verb in ("export-native --aws", "import-native --aws")
    }
    # the second export (the last output kept) replaced the steps of the plan the first created
    assert (
        "updated native recovery plan 'cli-grants': arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-"
        in (outputs["export-native --aws"])
    )
    assert "1. app: SERVER 1 server(s)" in outputs["export-native --aws"]
    assert "2. db: SERVER 1 server(s)" in outputs["export-native --aws"]
    assert "(2 waves in a chain: app -> db)" in outputs["import-native --aws"]


def test_what_inspect_creates_is_named_as_the_read_policy_allows(synth: Synth, recorded: Recorded) -> None:
    # GIVEN the names inspect gave the rule, queue and replay it created, and the patterns its policy grants
    names = {
        action: params.get("QueueName") or params.get("ReplayName") or params.get("Name")
        for verb, action, params in recorded.record.params
        if verb == "inspect --aws" and action in {"sqs:CreateQueue", "events:PutRule", "events:StartReplay"}
    }
    resources = {
        grant.sid: [render(r) for r in _listify(statement["Resource"])] for grant, statement in _read_statements(synth)
    }
    # THEN each name matches its statement's pattern (a renamed prefix would be refused on AWS)
    queue = resources["InspectorQueue"][0].rsplit(":", 1)[1]
    rule = resources["InspectorRule"][0].rsplit("/", 1)[1]
    replay = resources["InspectorReplay"][2].rsplit("/", 1)[1]
    assert (queue, rule, replay) == (f"{INSPECTOR_PREFIX}*", f"{INSPECTOR_PREFIX}*", f"{REPLAY_PREFIX}*")
    assert fnmatch(str(names["sqs:CreateQueue"]), queue), names
    assert fnmatch(str(names["events:PutRule"]), rule), names
    assert fnmatch(str(names["events:StartReplay"]), replay), names


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _read_statements(synth: Synth) -> Iterator[tuple[Grant, dict[str, Any]]]:
    logical_id = synth.template["Outputs"][OUTPUT_LOGICAL_IDS[READ]]["Value"]["Ref"]
    document = synth.resources[logical_id]["Properties"]["PolicyDocument"]
    for statement in document["Statement"]:
        yield next(_grants({"Statement": [statement]})), statement


def test_report_aws_read_the_stored_report_once_the_ledger_had_lost_the_execution(recorded: Recorded) -> None:
    output = " ".join(recorded.outputs["report --aws"].split())
    assert f"read from s3://{EVIDENCE_BUCKET}/executions/" in output
    assert '"status": "COMPLETED"' in output  # the drill completed; the later verbs find it ended
    assert "sha256 " in output
