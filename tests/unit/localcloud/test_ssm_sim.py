"""The SSM Run Command simulator, exercised only through real boto3 ``ssm`` clients; and the document library."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud.ssm_sim import (
    LIBRARY_DIR,
    SsmSimConfig,
    SsmSimulator,
    install_globally,
    uninstall_globally,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
I1 = "i-0aaaaaaaaaaaaaaa1"
I2 = "i-0bbbbbbbbbbbbbbb2"
I3 = "i-0ccccccccccccccc3"
WIN = "i-0ddddddddddddddd4"
UNKNOWN = "i-0eeeeeeeeeeeeeee5"
CONTEXT = ("ExecutionId", "PlanId", "WaveId", "Mode", "RecoveryInstances")


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def tick(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def make_client() -> Any:
    # total_max_attempts=1: botocore's own retries must not hide the errors under test
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


def build(
    clock: FakeClock, events: list[dict[str, Any]], config: SsmSimConfig | None = None, **kwargs: Any
) -> tuple[SsmSimulator, Any]:
    sim = SsmSimulator(clock, config, on_event=events.append, **kwargs)
    sim.load_library()
    sim.register_instance(I1, tags={"Name": "db-1", "Role": "db"}, private_ip="10.0.0.1")
    sim.register_instance(I2, tags={"Name": "app-1", "Role": "app"})
    sim.register_instance(I3, tags={"Name": "app-2", "Role": "app"})
    sim.register_instance(WIN, platform="Windows", tags={"Name": "win-1"})
    return sim, sim.attach(make_client())


def shell(client: Any, *ids: str, **kwargs: Any) -> dict[str, Any]:
    params = {"commands": ["echo hi"], **kwargs.pop("Parameters", {})}
    sent: dict[str, Any] = client.send_command(
        DocumentName="AWS-RunShellScript", InstanceIds=list(ids), Parameters=params, **kwargs
    )["Command"]
    return sent


def invocation(client: Any, command_id: str, instance_id: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    return found


def command_of(client: Any, command_id: str) -> dict[str, Any]:
    listed: dict[str, Any] = client.list_commands(CommandId=command_id)["Commands"][0]
    return listed


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# ---------------------------------------------------------------------- lifecycle


def test_invocation_lifecycle_follows_the_clock(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a simulator with a 5 s default script duration
    sim, client = build(clock, events)

    # WHEN a command is sent to two instances
    command = shell(client, I1, I2, Comment="smoke")

    # THEN it is Pending with two targets, and its invocations are not visible yet
    assert command["Status"] == "Pending"
    assert command["TargetCount"] == 2
    assert isinstance(command["RequestedDateTime"], datetime)
    with pytest.raises(ClientError) as excinfo:
        invocation(client, command["CommandId"], I1)
    assert error_code(excinfo) == "InvocationDoesNotExist"
    assert client.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"] == []
    assert sim.next_due() == T0 + timedelta(seconds=1)

    # WHEN one simulated second passes, THEN the invocations run
    clock.tick(1)
    running = invocation(client, command["CommandId"], I1)
    assert running["Status"] == "InProgress"
    assert running["PluginName"] == "runShellScript"
    assert command_of(client, command["CommandId"])["Status"] == "InProgress"
    assert sim.next_due() == T0 + timedelta(seconds=6)

    # WHEN the script duration passes, THEN both succeed and the command aggregates them
    clock.tick(5)
    sim.advance()
    done = invocation(client, command["CommandId"], I1)
    assert done["Status"] == "Success"
    assert done["StatusDetails"] == "Success"
    assert done["ResponseCode"] == 0
    assert done["StandardOutputContent"] == f"ok: AWS-RunShellScript on {I1}"
    assert done["ExecutionStartDateTime"].startswith("2025-03-01T12:00:01")
    assert done["ExecutionEndDateTime"].startswith("2025-03-01T12:00:06")
    final = command_of(client, command["CommandId"])
    assert (final["Status"], final["CompletedCount"], final["ErrorCount"]) == ("Success", 2, 0)
    assert sim.next_due() is None
    assert [json.loads(e["Detail"])["status"] for e in events] == ["Success", "Success"]
    assert sim.stats.commands_sent == 1
    assert sim.stats.invocations["AWS-RunShellScript"] == 2
    assert sim.stats.max_instance_ids_per_call == 2
    assert sim.stats.calls["SendCommand"] == 1


def test_list_command_invocations_with_details(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a finished command on two instances
    _, client = build(clock, events)
    command = shell(client, I1, I2)
    clock.tick(10)

    # WHEN its invocations are listed with details
    listed = client.list_command_invocations(CommandId=command["CommandId"], Details=True)["CommandInvocations"]

    # THEN each has its plugin output and instance name
    assert {(i["InstanceId"], i["InstanceName"], i["Status"]) for i in listed} == {
        (I1, "db-1", "Success"),
        (I2, "app-1", "Success"),
    }
    plugin = listed[0]["CommandPlugins"][0]
    assert plugin["ResponseCode"] == 0
    assert plugin["Output"].startswith("ok: AWS-RunShellScript")


# ---------------------------------------------------------------------- request validation


def test_unknown_document_is_invalid_document(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a simulator
    _, client = build(clock, events)

    # WHEN a command names a document nobody registered, THEN SSM answers InvalidDocument
    with pytest.raises(ClientError) as excinfo:
        client.send_command(DocumentName="No-Such-Doc", InstanceIds=[I1])
    assert error_code(excinfo) == "InvalidDocument"


def test_undeclared_parameter_is_invalid_parameters(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN the library's health check document
    _, client = build(clock, events)

    # WHEN a parameter it does not declare is sent
    with pytest.raises(ClientError) as excinfo:
        client.send_command(
            DocumentName="DRSOrch-HealthCheck",
            InstanceIds=[I1],
            Parameters={"Target": ["tcp://127.0.0.1:5432"], "Bogus": ["1"]},
        )

    # THEN SSM answers InvalidParameters naming it
    assert error_code(excinfo) == "InvalidParameters"
    assert "Bogus" in excinfo.value.response["Error"]["Message"]


def test_missing_required_parameter_is_invalid_parameters(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN AWS-RunShellScript, whose commands parameter has no default
    _, client = build(clock, events)

    # WHEN it is sent without commands, THEN SSM answers InvalidParameters naming it
    with pytest.raises(ClientError) as excinfo:
        client.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[I1], Parameters={})
    assert error_code(excinfo) == "InvalidParameters"
    assert "commands" in excinfo.value.response["Error"]["Message"]


def test_parameter_pattern_is_enforced(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN the health check, whose Mode only takes DRILL or RECOVERY
    _, client = build(clock, events)

    # WHEN another mode is sent, THEN SSM answers InvalidParameters
    with pytest.raises(ClientError) as excinfo:
        client.send_command(
            DocumentName="DRSOrch-HealthCheck",
            InstanceIds=[I1],
            Parameters={"Target": ["http://localhost:8080/health"], "Mode": ["CHAOS"]},
        )
    assert error_code(excinfo) == "InvalidParameters"


def test_more_than_50_instance_ids_is_a_validation_error(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN 51 registered instances
    sim, client = build(clock, events)
    ids = [f"i-{n:017x}" for n in range(51)]
    for iid in ids:
        sim.register_instance(iid)

    # WHEN a command targets all 51, THEN SSM refuses it; 50 are accepted
    with pytest.raises(ClientError) as excinfo:
        shell(client, *ids)
    assert error_code(excinfo) == "ValidationException"
    assert "50" in excinfo.value.response["Error"]["Message"]
    assert shell(client, *ids[:50])["TargetCount"] == 50
    assert sim.stats.max_instance_ids_per_call == 50


def test_all_unknown_instances_is_invalid_instance_id(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a simulator that does not know UNKNOWN
    _, client = build(clock, events)

    # WHEN a command targets only it, THEN SSM answers InvalidInstanceId
    with pytest.raises(ClientError) as excinfo:
        shell(client, UNKNOWN)
    assert error_code(excinfo) == "InvalidInstanceId"


def test_unknown_instance_among_known_ones_is_undeliverable(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a command to a known and an unknown instance
    _, client = build(clock, events)
    command = shell(client, I1, UNKNOWN)

    # WHEN it has run
    clock.tick(10)

    # THEN the unknown instance's invocation failed as Undeliverable and the command Failed
    lost = invocation(client, command["CommandId"], UNKNOWN)
    assert (lost["Status"], lost["StatusDetails"]) == ("Failed", "Undeliverable")
    assert invocation(client, command["CommandId"], I1)["Status"] == "Success"
    assert command_of(client, command["CommandId"])["Status"] == "Failed"


def test_instance_resolver_supplies_instances(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a resolver that knows a recovery instance the simulator never registered
    def resolver(instance_id: str) -> dict[str, Any] | None:
        return {"private_ip": "10.9.9.9", "platform": "Linux"} if instance_id == UNKNOWN else None

    _, client = build(clock, events, instance_resolver=resolver)

    # WHEN a command targets it, THEN it runs there
    command = shell(client, UNKNOWN)
    clock.tick(10)
    assert invocation(client, command["CommandId"], UNKNOWN)["Status"] == "Success"
    info = client.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [UNKNOWN]}])
    assert info["InstanceInformationList"][0]["IPAddress"] == "10.9.9.9"


# ---------------------------------------------------------------------- targets and platforms


def test_tag_targets_resolve_through_instance_tags(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN instances tagged Role=app (I2, I3) and Name=db-1 (I1)
    _, client = build(clock, events)

    # WHEN commands target tag:Role and tag:Name
    by_role = client.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "tag:Role", "Values": ["app"]}],
        Parameters={"commands": ["true"]},
    )["Command"]
    by_name = client.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "tag:Name", "Values": ["db-1"]}],
        Parameters={"commands": ["true"]},
    )["Command"]

    # THEN each runs on the matching instances
    clock.tick(10)
    assert by_role["TargetCount"] == 2
    role_ids = {
        i["InstanceId"] for i in client.list_command_invocations(CommandId=by_role["CommandId"])["CommandInvocations"]
    }
    assert role_ids == {I2, I3}
    assert by_name["TargetCount"] == 1
    assert invocation(client, by_name["CommandId"], I1)["Status"] == "Success"


def test_library_document_picks_the_platform_step(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN the service check on a Linux and a Windows instance
    _, client = build(clock, events)
    command = client.send_command(
        DocumentName="DRSOrch-ServiceCheck",
        InstanceIds=[I1, WIN],
        Parameters={"ServiceName": ["postgresql"], "Mode": ["DRILL"], "RecoveryInstances": ['{"s-1": {}}']},
    )["Command"]

    # WHEN it has run, THEN each instance ran its platform's step
    clock.tick(10)
    assert invocation(client, command["CommandId"], I1)["PluginName"] == "ServiceCheckLinux"
    assert invocation(client, command["CommandId"], WIN)["PluginName"] == "ServiceCheckWindows"


def test_shell_script_on_windows_fails(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN AWS-RunShellScript, which does not run on Windows
    _, client = build(clock, events)

    # WHEN it is sent to a Windows instance, THEN the invocation fails
    command = shell(client, WIN)
    clock.tick(10)
    failed = invocation(client, command["CommandId"], WIN)
    assert failed["Status"] == "Failed"
    assert "Windows" in failed["StandardErrorContent"]


# ---------------------------------------------------------------------- outcomes


def test_execution_timeout_ends_as_timed_out(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a script that runs 120 s and an executionTimeout of 30 s
    sim, client = build(clock, events)
    sim.set_document_behavior("AWS-RunShellScript", duration_seconds=120)
    command = shell(client, I1, Parameters={"executionTimeout": ["30"]}, TimeoutSeconds=60)

    # WHEN 31 s have passed since it started
    clock.tick(1 + 30)
    sim.advance()

    # THEN the invocation and the command timed out
    timed_out = invocation(client, command["CommandId"], I1)
    assert (timed_out["Status"], timed_out["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")
    final = command_of(client, command["CommandId"])
    assert (final["Status"], final["ErrorCount"], final["TimeoutSeconds"]) == ("TimedOut", 1, 60)
    assert json.loads(events[-1]["Detail"])["status"] == "TimedOut"


def test_delivery_timeout_when_the_agent_is_offline(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN an instance whose agent lost its connection
    sim, client = build(clock, events)
    sim.set_ping_status(I1, "ConnectionLost")
    command = shell(client, I1, TimeoutSeconds=30)

    # WHEN the delivery timeout passes without the agent coming back
    clock.tick(15)
    assert invocation(client, command["CommandId"], I1)["Status"] == "Pending"
    clock.tick(15)
    sim.advance()

    # THEN the invocation timed out undelivered
    late = invocation(client, command["CommandId"], I1)
    assert (late["Status"], late["StatusDetails"]) == ("TimedOut", "DeliveryTimedOut")
    assert command_of(client, command["CommandId"])["DeliveryTimedOutCount"] == 1


def test_agent_coming_online_gets_the_command(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a command pending on an offline instance
    sim, client = build(clock, events)
    sim.set_ping_status(I1, "ConnectionLost")
    command = shell(client, I1, TimeoutSeconds=600)
    clock.tick(10)
    sim.advance()

    # WHEN its agent comes online, THEN the command is delivered and succeeds
    sim.set_ping_status(I1, "Online")
    clock.tick(5)
    sim.advance()
    clock.tick(5)
    assert invocation(client, command["CommandId"], I1)["Status"] == "Success"


def test_cancel_command(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a long script in progress on two instances
    sim, client = build(clock, events)
    sim.set_document_behavior("AWS-RunShellScript", duration_seconds=600)
    command = shell(client, I1, I2)
    clock.tick(2)

    # WHEN the command is cancelled
    client.cancel_command(CommandId=command["CommandId"])

    # THEN every invocation and the command are Cancelled, and events say so
    assert invocation(client, command["CommandId"], I1)["Status"] == "Cancelled"
    assert command_of(client, command["CommandId"])["Status"] == "Cancelled"
    assert [json.loads(e["Detail"])["status"] for e in events] == ["Cancelled", "Cancelled"]
    assert sim.next_due() is None
    with pytest.raises(ClientError) as excinfo:
        client.cancel_command(CommandId="00000000-0000-4000-8000-000000000000")
    assert error_code(excinfo) == "InvalidCommandId"


def test_fail_on_fails_only_the_named_instance(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a profile that fails the health check on I2
    config = SsmSimConfig.from_profile({"documents": {"DRSOrch-HealthCheck": {"failOn": [I2]}}})
    _, client = build(clock, events, config)
    command = client.send_command(
        DocumentName="DRSOrch-HealthCheck",
        InstanceIds=[I1, I2],
        Parameters={"Target": ["http://localhost:8080/health"]},
    )["Command"]

    # WHEN it has run
    clock.tick(10)

    # THEN I2 failed with a non-zero code, I1 succeeded, and the command Failed
    failed = invocation(client, command["CommandId"], I2)
    assert (failed["Status"], failed["ResponseCode"]) == ("Failed", 1)
    assert "DRSOrch-HealthCheck" in failed["StandardErrorContent"]
    assert invocation(client, command["CommandId"], I1)["Status"] == "Success"
    final = command_of(client, command["CommandId"])
    assert (final["Status"], final["ErrorCount"], final["CompletedCount"]) == ("Failed", 1, 2)


def test_profile_document_unknown_to_the_library_accepts_any_parameters(
    clock: FakeClock, events: list[dict[str, Any]]
) -> None:
    # GIVEN a profile naming a customer document that fails after 30 s
    config = SsmSimConfig.from_profile({"documents": {"erp-smoke-test": {"status": "Failed", "durationSeconds": 30}}})
    _, client = build(clock, events, config)

    # WHEN it is sent with arbitrary parameters
    command = client.send_command(
        DocumentName="erp-smoke-test", InstanceIds=[I1], Parameters={"Anything": ["x"], "More": ["y", "z"]}
    )["Command"]
    clock.tick(31)

    # THEN it is accepted and fails as configured
    assert invocation(client, command["CommandId"], I1)["Status"] == "Failed"


# ---------------------------------------------------------------------- events


def test_status_change_events_follow_the_documented_shape(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a command that completed
    _, client = build(clock, events)
    command = shell(client, I1)
    clock.tick(10)
    client.list_commands()

    # THEN one event per terminal invocation, with the fields of the sample event
    samples = Path(__file__).resolve().parents[3] / "events" / "samples"
    sample_path = samples / "aws.ssm-EC2 Command Invocation Status-change Notification.json"
    sample = json.loads(sample_path.read_text())
    (event,) = events
    detail = json.loads(event["Detail"])
    assert event["Source"] == sample["source"]
    assert event["DetailType"] == sample["detail-type"]
    assert event["Resources"] == [f"arn:aws:ec2:us-east-1:123456789012:instance/{I1}"]
    assert event["Time"] == T0 + timedelta(seconds=6)
    assert set(detail) == set(sample["detail"])
    assert detail["command-id"] == command["CommandId"]
    assert detail["requested-date-time"] == "2025-03-01T12:00:00.000Z"
    assert (detail["document-name"], detail["instance-id"], detail["status"]) == ("AWS-RunShellScript", I1, "Success")


def test_events_can_be_dropped(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN a profile that drops status-change events
    sim, client = build(clock, events, SsmSimConfig.from_profile({"events": "drop"}))

    # WHEN a command completes
    command = shell(client, I1)
    clock.tick(10)
    sim.advance()

    # THEN nothing was emitted, though the invocation succeeded
    assert invocation(client, command["CommandId"], I1)["Status"] == "Success"
    assert events == []
    assert sim.stats.events_dropped == 1


# ---------------------------------------------------------------------- documents and instances


def test_describe_and_get_document(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN the library
    _, client = build(clock, events)

    # WHEN the health check is described and fetched
    described = client.describe_document(Name="DRSOrch-HealthCheck")["Document"]
    fetched = client.get_document(Name="DRSOrch-HealthCheck", DocumentFormat="YAML")

    # THEN its parameters, platforms and YAML source are served
    params = {p["Name"]: p for p in described["Parameters"]}
    assert params["ExpectedStatus"]["DefaultValue"] == "200"
    assert "DefaultValue" not in params["Target"]
    assert set(CONTEXT) <= set(params)
    assert described["PlatformTypes"] == ["Linux", "Windows"]
    assert described["SchemaVersion"] == "2.2"
    assert yaml.safe_load(fetched["Content"])["schemaVersion"] == "2.2"
    assert json.loads(client.get_document(Name="AWS-RunShellScript")["Content"])["mainSteps"]
    with pytest.raises(ClientError) as excinfo:
        client.describe_document(Name="No-Such-Doc")
    assert error_code(excinfo) == "InvalidDocument"


def test_describe_instance_information_filters(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN Linux and Windows instances, one offline
    sim, client = build(clock, events)
    sim.set_ping_status(I3, "ConnectionLost")

    # WHEN instances are described by platform and ping status
    windows = client.describe_instance_information(Filters=[{"Key": "PlatformTypes", "Values": ["Windows"]}])
    online = client.describe_instance_information(
        InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}]
    )

    # THEN the filters apply
    assert [i["InstanceId"] for i in windows["InstanceInformationList"]] == [WIN]
    assert {i["InstanceId"] for i in online["InstanceInformationList"]} == {I1, I2, WIN}


# ---------------------------------------------------------------------- wiring


def test_works_next_to_moto_for_other_ssm_calls(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN moto and the simulator installed globally
    with mock_aws():
        sim = SsmSimulator(clock, on_event=events.append)
        sim.register_instance(I1)
        install_globally(sim)
        try:
            client = make_client()

            # WHEN parameters and Run Command are used on the same client
            client.put_parameter(Name="/drs/x", Value="1", Type="String")
            command = shell(client, I1)
            clock.tick(10)

            # THEN moto serves the parameters and the simulator the commands
            assert client.get_parameter(Name="/drs/x")["Parameter"]["Value"] == "1"
            assert invocation(client, command["CommandId"], I1)["Status"] == "Success"
            assert sim.stats.calls["PutParameter"] == 0
        finally:
            uninstall_globally()

        # AND after uninstalling, moto answers SendCommand again
        moto_command = shell(make_client(), I1)
        assert moto_command["CommandId"] != command["CommandId"]
        assert sim.stats.calls["SendCommand"] == 1


def test_profile_rejects_unknown_keys() -> None:
    # GIVEN profile sections with typos, THEN the error names the key
    with pytest.raises(ValueError, match=r"ssm\.eventz"):
        SsmSimConfig.from_profile({"eventz": "drop"})
    with pytest.raises(ValueError, match=r"ssm\.documents\.X\.failon"):
        SsmSimConfig.from_profile({"documents": {"X": {"failon": []}}})
    config = SsmSimConfig.from_profile(
        {"seed": 3, "defaultDurationSeconds": 2, "invocationVisibleAfterSeconds": 0, "events": "emit"}
    )
    assert (config.seed, config.default_duration_seconds, config.invocation_visible_after_seconds) == (3, 2, 0)


def test_zero_visibility_delay_and_empty_tag_target(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN invocations visible at once
    _, client = build(clock, events, SsmSimConfig(invocation_visible_after_seconds=0))

    # WHEN a command is sent, THEN its invocation is visible and running right away
    command = shell(client, I1)
    assert invocation(client, command["CommandId"], I1)["Status"] == "InProgress"

    # AND a tag target matching nothing gives an empty, successful command
    empty = client.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "tag:Role", "Values": ["nothing"]}],
        Parameters={"commands": ["true"]},
    )["Command"]
    assert (empty["TargetCount"], command_of(client, empty["CommandId"])["Status"]) == (0, "Success")


# ---------------------------------------------------------------------- the document library


LIBRARY = sorted(LIBRARY_DIR.glob("*.yaml"))
#: The Automation runbooks (schemaVersion 0.3: tests/unit/localcloud/test_ssm_automation.py); the rest are Command
#: documents.
RUNBOOKS = {
    "DRSOrch-AuroraGlobalFailover",
    "DRSOrch-DnsCutover",
    "DRSOrch-RegisterTargets",
    "DRSOrch-ScaleEcsService",
}
COMMAND_DOCUMENTS = [path for path in LIBRARY if path.stem not in RUNBOOKS]


def test_library_holds_the_three_documents_and_the_runbook() -> None:
    assert {p.stem for p in COMMAND_DOCUMENTS} == {
        "DRSOrch-HealthCheck",
        "DRSOrch-ServiceCheck",
        "DRSOrch-WaitForSsmAgent",
    }
    assert {p.stem for p in LIBRARY} - {p.stem for p in COMMAND_DOCUMENTS} == RUNBOOKS
    assert all(
        str(yaml.safe_load((LIBRARY_DIR / f"{name}.yaml").read_text())["schemaVersion"]) == "0.3" for name in RUNBOOKS
    )


@pytest.mark.parametrize("path", COMMAND_DOCUMENTS, ids=lambda p: p.stem)
def test_library_document_is_a_valid_command_document(path: Path, tmp_path: Path) -> None:
    # GIVEN a library document
    document = yaml.safe_load(path.read_text())

    # THEN it is schema 2.2 with typed parameters, optional run-context parameters and one step per platform
    assert document["schemaVersion"] == "2.2"
    assert document["description"]
    for name, spec in document["parameters"].items():
        assert spec["type"] in {"String", "StringList"}, name
        assert spec.get("description"), name
    for name in CONTEXT:
        assert document["parameters"][name]["default"] == "", name
    steps = {s["precondition"]["StringEquals"][1]: s for s in document["mainSteps"]}
    assert set(steps) == {"Linux", "Windows"}
    assert steps["Linux"]["action"] == "aws:runShellScript"
    assert steps["Windows"]["action"] == "aws:runPowerShellScript"
    assert all(s["precondition"]["StringEquals"][0] == "platformType" for s in document["mainSteps"])

    # AND bash accepts the Linux script
    script = tmp_path / "script.sh"
    script.write_text("\n".join(steps["Linux"]["inputs"]["runCommand"]) + "\n")
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_placeholders_name_declared_parameters(path: Path) -> None:
    # GIVEN a library document, THEN every {{ name }} it interpolates is one of its parameters
    text = path.read_text()
    document = yaml.safe_load(text)
    used = set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", text))
    assert used
    assert used <= set(document["parameters"])


def test_concurrent_clients_share_one_consistent_simulator(clock: FakeClock, events: list[dict[str, Any]]) -> None:
    # GIVEN one simulator and eight clients on eight threads
    sim, _ = build(clock, events)

    def send(_: int) -> str:
        return str(shell(sim.attach(make_client()), I1, I2)["CommandId"])

    # WHEN they send 40 commands at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(send, range(40)))

    # THEN every command is distinct and completes
    clock.tick(10)
    sim.advance()
    assert len(set(ids)) == 40
    assert sim.stats.commands_sent == 40
    assert len(events) == 80
