"""A denial carries its reason: it is the audit record's `denyReason` (orchestrator/steps/control.py). A deny
with no reason, or one that is only blank, is refused with a clear error before anything is sent, on every
path that builds the command: the contract itself, `drs-orch deny` (local and --aws), and the dashboard's deny
button (`drs_orch.ui.app.command_fields` + `drs_orch.control.command_event`). The operator endpoint and the
control function are covered in tests/unit/steps/test_operator.py and tests/unit/steps/test_control.py."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from drs_orch import app as cli
from drs_orch import control
from drs_orch.ui.app import CommandError, command_fields
from events.envelope import InvalidEvent, parse_event
from events.models import OPERATOR_SOURCE, ApprovalDenied, Contract
from events.samples import load_sample

runner = CliRunner()
BLANKS = ["", " ", "\t\n  "]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Contract]:
    """Every command the CLI hands to a local run or to the operator URL (none of them is reached)."""
    commands: list[Contract] = []

    def local(command: Contract, **_: Any) -> control.Outcome:
        commands.append(command)
        return control.Outcome(control.Sent.APPLIED, answer={"status": "RUNNING", "waves": {}})

    def aws(command: Contract, *_: Any, **__: Any) -> int:
        commands.append(command)
        return 0

    monkeypatch.setattr(control, "send_local", local)
    monkeypatch.setattr(cli, "_send_to_operator", aws)
    return commands


def test_the_contract_requires_a_reason() -> None:
    with pytest.raises(ValidationError, match="reason"):
        ApprovalDenied.model_validate({"executionId": "e1", "waveId": "app"})


@pytest.mark.parametrize("blank", BLANKS)
def test_the_contract_refuses_a_blank_reason(blank: str) -> None:
    with pytest.raises(ValidationError, match="a denial must give its reason"):
        ApprovalDenied.model_validate({"executionId": "e1", "waveId": "app", "reason": blank})


def test_the_contract_keeps_a_reason_without_its_surrounding_blanks() -> None:
    denied = ApprovalDenied.model_validate({"executionId": "e1", "waveId": "app", "reason": "  db not ready \n"})
    assert denied.reason == "db not ready"


@pytest.mark.parametrize("where", [[], ["--aws", "--region", "eu-west-1"]], ids=["local", "aws"])
def test_deny_without_a_reason_is_a_usage_error_and_sends_nothing(sent: list[Contract], where: list[str]) -> None:
    result = runner.invoke(cli.app, ["deny", "exec-1", "--wave", "app", *where])
    assert result.exit_code == 2
    assert "--reason" in result.output
    assert sent == []


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("where", [[], ["--aws", "--region", "eu-west-1"]], ids=["local", "aws"])
def test_deny_with_a_blank_reason_is_refused_and_sends_nothing(
    sent: list[Contract], where: list[str], blank: str
) -> None:
    result = runner.invoke(cli.app, ["deny", "exec-1", "--wave", "app", "--reason", blank, *where])
    assert result.exit_code == 2
    assert "invalid ApprovalDenied: Value error, a denial must give its reason" in " ".join(result.output.split())
    assert sent == []


def test_deny_with_a_reason_sends_it(sent: list[Contract]) -> None:
    result = runner.invoke(cli.app, ["deny", "exec-1", "--wave", "app", "--reason", "db not ready"])
    assert result.exit_code == 0, result.output
    assert [c.to_detail() for c in sent] == [
        {"version": "1", "executionId": "exec-1", "requestedBy": "unknown", "waveId": "app", "reason": "db not ready"}
    ]


@pytest.mark.parametrize("body", [{"waveId": "app"}, {"waveId": "app", "text": ""}, {"waveId": "app", "text": " \t"}])
def test_the_dashboards_deny_without_a_reason_is_refused_400(body: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="a deny must give its reason") as refused:
        command_fields("deny", body)
    assert refused.value.status == 400


def test_the_dashboards_deny_sends_its_reason() -> None:
    detail_type, extra = command_fields("deny", {"waveId": "app", "text": "db not ready"})
    assert control.command_event(detail_type, "exec-1", extra).to_detail()["reason"] == "db not ready"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_the_control_function_takes_no_deny_without_a_reason(reason: str | None) -> None:
    # GIVEN an ApprovalDenied on the bus, as the operator endpoint publishes it, with no reason or a blank one
    event = load_sample("ApprovalDenied")
    event["detail"] = {k: v for k, v in event["detail"].items() if k != "reason"}
    if reason is not None:
        event["detail"]["reason"] = reason
    # WHEN the control function's route parses it THEN it is an invalid event (dropped, nothing decided)
    with pytest.raises(InvalidEvent, match=r"detail\.reason"):
        parse_event(event, ApprovalDenied, sources=(OPERATOR_SOURCE,))
