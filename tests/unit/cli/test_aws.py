"""`drs-orch run --aws` and the operator commands with `--aws` publish the PutEvents entry every function
builds (`events.envelope.put_events_entry`), checked against botocore's model by a Stubber."""

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
from events.envelope import MAX_ENTRY_BYTES, parse_event, put_events_entry
from events.models import SOURCE, RetryWave, StartPlan
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


def test_run_aws_recovery_carries_its_confirmation(bus: Bus) -> None:
    # GIVEN a deployed bus that takes the entry
    bus.expect()
    # WHEN the CLI starts a confirmed RECOVERY
    result = runner.invoke(
        cli.app, ["run", str(EXAMPLES / "diamond.yaml"), "--recovery", "--confirm", "--aws", "--bus", "my-bus"]
    )
    # THEN the StartPlan says RECOVERY and confirms it with the plan's id
    assert result.exit_code == 0, result.output
    detail = json.loads(bus.sent[0]["Entries"][0]["Detail"])
    assert (detail["mode"], detail["confirmRecovery"]) == ("RECOVERY", "diamond")


def test_an_operator_command_with_aws_puts_its_entry(bus: Bus) -> None:
    # GIVEN a deployed bus that takes the entry
    bus.expect()
    # WHEN an operator retries wave db of exec-1 on every server
    result = runner.invoke(
        cli.app, ["retry", "exec-1", "--wave", "db", "--all", "--aws", "--bus", "my-bus", "--by", "alice"]
    )
    # THEN the RetryWave entry is put_events_entry's for that command
    assert result.exit_code == 0, result.output
    expected = RetryWave(execution_id="exec-1", wave_id="db", all_servers=True, requested_by="alice")
    assert bus.sent == [{"Entries": [put_events_entry(expected, "my-bus")]}]
    assert json.loads(bus.sent[0]["Entries"][0]["Detail"]) == {
        "version": "1",
        "executionId": "exec-1",
        "requestedBy": "alice",
        "waveId": "db",
        "allServers": True,
    }


def test_a_refused_entry_exits_1_with_eventbridges_reason(bus: Bus) -> None:
    # GIVEN a bus that refuses the entry
    bus.expect(failed="the bus is being deleted")
    # WHEN an operator cancels an execution
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--aws", "--bus", "my-bus"])
    # THEN the command fails with EventBridge's reason
    assert result.exit_code == 1
    assert "PutEvents refused the CancelPlan: the bus is being deleted" in " ".join(result.output.split())


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
