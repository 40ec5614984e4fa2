"""`drs-orch run --aws` publishes a drill's StartPlan with the PutEvents entry every function builds
(`events.envelope.put_events_entry`), checked against botocore's model by a Stubber; a RECOVERY and the
operator commands with `--aws` go to the stack's operator URL (`drs_orch.operator_client`), without a
requestedBy: the endpoint writes the caller AWS authenticated. The signing itself is exercised end to end
against a SigV4-checking stand-in of the URL (tests/e2e/test_operator_endpoint.py)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.stub import ANY, Stubber
from typer.testing import CliRunner

from drs_orch import app as cli
from drs_orch import operator_client
from drs_orch.operator_client import OperatorResponse
from events.envelope import MAX_ENTRY_BYTES, parse_event, put_events_entry
from events.models import SOURCE, StartPlan
from orchestrator.domain.plan import parse_plan, plan_to_document

EXAMPLES = Path(cli.__file__).resolve().parent / "examples"
runner = CliRunner()


@dataclass
class Bus:
    """A real botocore EventBridge client answered by a Stubber, with the parameters of every PutEvents."""

    stubber: Stubber
    sent: list[dict[str, Any]] = field(default_factory=list)
    regions: list[str | None] = field(default_factory=list)

    def expect(self, *, failed: str | None = None) -> None:
        answer = {"ErrorCode": "InternalException", "ErrorMessage": failed} if failed else {"EventId": "1"}
        self.stubber.add_response(
            "put_events", {"FailedEntryCount": 1 if failed else 0, "Entries": [answer]}, {"Entries": ANY}
        )


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    client = botocore.session.get_session().create_client(
        "events", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stubbed = Bus(Stubber(client))

    def record(params: dict[str, Any], **_: Any) -> None:
        stubbed.sent.append(copy.deepcopy(params))

    def make_client(service: str, region_name: str | None = None) -> Any:
        assert service == "events"
        stubbed.regions.append(region_name)
        return client

    client.meta.events.register("provide-client-params.events.PutEvents", record)
    monkeypatch.setattr(boto3, "client", make_client)
    monkeypatch.setattr(cli.getpass, "getuser", lambda: "ops")
    monkeypatch.setattr("localcloud.runner.new_execution_id", lambda plan_id: f"{plan_id}-000000000001")
    with stubbed.stubber:
        yield stubbed


def _delivered(entry: dict[str, Any]) -> dict[str, Any]:
    """The event a rule target receives for a PutEvents entry."""
    return {
        "version": "0",
        "id": "1",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": entry["Resources"],
        "detail": json.loads(entry["Detail"]),
    }


def test_run_aws_puts_the_start_plan_entry_the_functions_build(bus: Bus) -> None:
    # GIVEN a deployed bus that takes the entry
    bus.expect()
    plan = parse_plan(yaml.safe_load((EXAMPLES / "diamond.yaml").read_text()))
    # WHEN the CLI starts the diamond plan there as a drill
    result = runner.invoke(
        cli.app, ["run", str(EXAMPLES / "diamond.yaml"), "--aws", "--bus", "my-bus", "--region", "eu-west-1"]
    )
    # THEN it put exactly one entry, shaped as put_events_entry shapes it, in the region asked for
    assert result.exit_code == 0, result.output
    assert "execution diamond-000000000001 (DRILL)" in " ".join(result.output.split())
    assert bus.regions == ["eu-west-1"]
    assert len(bus.sent) == 1
    [entry] = bus.sent[0]["Entries"]
    assert {k: v for k, v in entry.items() if k != "Detail"} == {
        "Source": SOURCE,
        "DetailType": "StartPlan",
        "EventBusName": "my-bus",
        "Resources": [],
    }
    assert json.loads(entry["Detail"]) == {
        "version": "1",
        "plan": plan_to_document(plan),
        "mode": "DRILL",
        "executionId": "diamond-000000000001",
        "requestedBy": "ops",
    }
    # AND the StartPlan function parses it back into the same entry
    assert entry == put_events_entry(parse_event(_delivered(entry), StartPlan), "my-bus")
    bus.stubber.assert_no_pending_responses()


@dataclass
class Operator:
    """`operator_client.send` replaced: every command sent (url, detailType, detail, region), one answer."""

    answer: OperatorResponse = field(
        default_factory=lambda: OperatorResponse(
            202, {"accepted": True, "executionId": "exec-1", "requestedBy": ALICE}, ""
        )
    )
    sent: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)


ALICE = "arn:aws:sts::123456789012:assumed-role/DROps/alice"
URL = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/"


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> Operator:
    recorded = Operator()

    def send(url: str, detail_type: str, detail: dict[str, Any], *, region: str | None) -> OperatorResponse:
        recorded.sent.append((url, detail_type, copy.deepcopy(detail), region))
        return recorded.answer

    monkeypatch.setattr(operator_client, "send", send)
    monkeypatch.setattr("localcloud.runner.new_execution_id", lambda plan_id: f"{plan_id}-000000000001")
    monkeypatch.delenv(operator_client.URL_VARIABLE, raising=False)
    return recorded


def test_run_aws_recovery_goes_to_the_operator_url_with_its_confirmation(bus: Bus, operator: Operator) -> None:
    # GIVEN a deployed stack's operator URL that accepts the command
    # WHEN the CLI starts a confirmed RECOVERY
    result = runner.invoke(
        cli.app,
        ["run", str(EXAMPLES / "diamond.yaml"), "--recovery", "--confirm", "--aws", "--operator-url", URL],
    )
    # THEN the StartPlan went to the operator URL (not the bus), RECOVERY and confirmed with the plan's id, and
    # without a requestedBy (the endpoint records who AWS authenticated)
    assert result.exit_code == 0, result.output
    assert bus.sent == []
    [(url, detail_type, detail, region)] = operator.sent
    assert (url, detail_type, region) == (URL, "StartPlan", None)
    assert (detail["mode"], detail["confirmRecovery"], detail["executionId"]) == (
        "RECOVERY",
        "diamond",
        "diamond-000000000001",
    )
    assert "requestedBy" not in detail


def test_a_recovery_the_operator_refuses_exits_2_with_its_reason(bus: Bus, operator: Operator) -> None:
    # GIVEN an operator URL whose function refuses the caller (no recovery principal)
    operator.answer = OperatorResponse(403, {"error": f"{ALICE} may not start a RECOVERY (a real failover)"}, "")
    # WHEN the CLI starts a confirmed RECOVERY
    result = runner.invoke(
        cli.app,
        ["run", str(EXAMPLES / "diamond.yaml"), "--recovery", "--confirm", "--aws", "--operator-url", URL],
    )
    # THEN it exits 2 (a StartPlan refused: nothing started) with the function's reason
    assert result.exit_code == 2
    assert f"StartPlan rejected: {ALICE} may not start a RECOVERY" in " ".join(result.output.split())


def test_an_operator_command_with_aws_goes_to_the_operator_url_without_a_requested_by(operator: Operator) -> None:
    # WHEN an operator retries wave db of exec-1 on every server, on AWS
    result = runner.invoke(
        cli.app, ["retry", "exec-1", "--wave", "db", "--all", "--aws", "--operator-url", URL, "--region", "eu-west-1"]
    )
    # THEN the RetryWave detail went to the operator URL, without requestedBy, and the CLI says who AWS saw
    assert result.exit_code == 0, result.output
    assert operator.sent == [
        (URL, "RetryWave", {"version": "1", "executionId": "exec-1", "waveId": "db", "allServers": True}, "eu-west-1")
    ]
    assert f"RetryWave published by the operator endpoint for execution exec-1 as {ALICE}" in " ".join(
        result.output.split()
    )


def test_as_is_refused_with_aws(operator: Operator) -> None:
    # WHEN an operator tries to name who they are on AWS
    result = runner.invoke(cli.app, ["approve", "exec-1", "--wave", "db", "--aws", "--as", "alice"])
    # THEN nothing is sent: on AWS the credentials say who you are
    assert result.exit_code == 2
    assert "--as applies to a local run" in " ".join(result.output.split())
    assert operator.sent == []


def test_a_command_the_operator_function_refuses_exits_1_with_its_reason(operator: Operator) -> None:
    # GIVEN an operator function that refuses the command
    operator.answer = OperatorResponse(400, {"error": "invalid CancelPlan: detail.executionId: too long"}, "")
    # WHEN an operator cancels an execution
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--aws", "--operator-url", URL])
    # THEN the command fails with the function's reason
    assert result.exit_code == 1
    assert "CancelPlan rejected: invalid CancelPlan: detail.executionId: too long" in " ".join(result.output.split())


def test_a_request_iam_refuses_exits_2(operator: Operator) -> None:
    # GIVEN a URL that refuses the caller before the function runs (Lambda's answer to a caller without
    # lambda:InvokeFunctionUrl, or a bad signature)
    operator.answer = OperatorResponse(403, {"Message": "Forbidden"}, '{"Message":"Forbidden"}')
    # WHEN an operator cancels an execution
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--aws", "--operator-url", URL])
    # THEN it exits 2 with the HTTP status and Lambda's message
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "the operator URL answered HTTP 403: Forbidden" in output
    assert "lambda:InvokeFunctionUrl" in output


def test_the_operator_url_is_read_from_the_stack_output(operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stack whose outputs name the operator URL (DescribeStacks, checked against botocore's model)
    client = botocore.session.get_session().create_client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stubber = Stubber(client)
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "DrsOrchestrator",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": "OperatorUrl", "OutputValue": URL}],
                }
            ]
        },
        {"StackName": "DrsOrchestrator"},
    )
    monkeypatch.setattr(boto3, "client", lambda service, region_name=None: client)
    # WHEN a command is sent without --operator-url
    with stubber:
        result = runner.invoke(cli.app, ["pause", "exec-1", "--aws", "--region", "eu-west-1"])
    # THEN it went to the URL the stack output names
    assert result.exit_code == 0, result.output
    assert [sent[0] for sent in operator.sent] == [URL]


def test_the_region_of_a_function_url_is_the_signing_region() -> None:
    assert operator_client.region_of(URL) == "eu-west-1"
    assert operator_client.region_of("http://127.0.0.1:8080/") is None


def test_a_plan_too_large_for_one_entry_is_not_sent(bus: Bus, tmp_path: Path) -> None:
    # GIVEN a valid plan whose StartPlan is over PutEvents' entry limit (plans may be up to 512 KiB)
    plan = yaml.safe_load((EXAMPLES / "diamond.yaml").read_text())
    health_check = plan["waves"][3]["postLaunch"][0]
    health_check["parameters"] = {f"P{n}": "x" * 16_000 for n in range(20)}
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(plan))
    assert len(json.dumps(plan_to_document(parse_plan(plan)))) > MAX_ENTRY_BYTES
    # WHEN the CLI starts it on AWS
    result = runner.invoke(cli.app, ["run", str(big), "--aws", "--bus", "my-bus"])
    # THEN it says why, exits 1, and put nothing on the bus
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "the StartPlan was not published: StartPlan entry is" in output
    assert f"PutEvents accepts at most {MAX_ENTRY_BYTES}" in output
    assert bus.sent == []
    assert "Traceback" not in result.output


def test_an_operator_url_that_is_not_one_exits_2_and_sends_nothing(operator: Operator) -> None:
    result = runner.invoke(cli.app, ["pause", "exec-1", "--aws", "--operator-url", "lambda-url.example"])
    assert result.exit_code == 2
    assert "the operator URL 'lambda-url.example' is not an https URL" in " ".join(result.output.split())
    assert operator.sent == []


def test_a_plain_http_operator_url_to_another_host_exits_2_and_sends_nothing(operator: Operator) -> None:
    # GIVEN / WHEN an operator URL in clear to a host other than this machine
    result = runner.invoke(
        cli.app, ["pause", "exec-1", "--aws", "--operator-url", "http://abc.lambda-url.eu-west-1.on.aws/"]
    )
    # THEN nothing is signed or sent, and it says why
    assert result.exit_code == 2
    assert "is not an https URL" in " ".join(result.output.split())
    assert operator.sent == []


def test_a_stack_without_the_operator_output_exits_2(operator: Operator, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a stack deployed before the operator endpoint existed (no OperatorUrl output)
    client = botocore.session.get_session().create_client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    stubber = Stubber(client)
    stack = {"StackName": "Old", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "Old"})
    monkeypatch.setattr(boto3, "client", lambda service, region_name=None: client)
    # WHEN a command is sent to it THEN it says what to do, exits 2, and sends nothing
    with stubber:
        result = runner.invoke(cli.app, ["pause", "exec-1", "--aws", "--stack", "Old", "--region", "eu-west-1"])
    assert result.exit_code == 2
    assert "stack Old has no output OperatorUrl" in " ".join(result.output.split())
    assert operator.sent == []
