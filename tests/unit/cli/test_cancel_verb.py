"""`drs-orch cancel --terminate-drill-instances` returns once the cancel is applied (local) or published (--aws):
it says exactly what DRS was asked to terminate by then (the local run's answer carries the cancel's terminations:
localcloud/control_socket.py), that the instances still launching go when the plan has ended, and that it does not
wait for the terminations; without the flag it says nothing about them."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from drs_orch import app as cli
from drs_orch import control
from events.models import Contract

runner = CliRunner()
NO_WAIT = "this command does not wait for the terminations"


def _local(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any]) -> list[Contract]:
    sent: list[Contract] = []

    def send_local(command: Contract, **_: Any) -> control.Outcome:
        sent.append(command)
        return control.Outcome(
            control.Sent.APPLIED, answer={"status": "STOPPING", "waves": {"db": "LAUNCHING"}, **answer}
        )

    monkeypatch.setattr(control, "send_local", send_local)
    return sent


def _out(result: Any) -> str:
    return " ".join(result.output.split())


def test_a_local_cancel_names_what_drs_was_asked_to_terminate_and_does_not_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = {
        "reason": "CANCEL",
        "recoveryInstanceIds": ["i-0000000000000000b", "i-0000000000000000a"],
        "jobIds": ["drsjob-1"],
    }
    sent = _local(monkeypatch, {"terminations": [asked]})
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--terminate-drill-instances"])
    assert result.exit_code == 0, result.output
    assert [c.to_detail()["terminateDrillInstances"] for c in sent] == [True]
    assert (
        "asked DRS to terminate 2 recovery instance(s) now: i-0000000000000000a, i-0000000000000000b "
        "(terminate job(s) drsjob-1); those the running jobs still launch are terminated once the plan has ended"
    ) in _out(result)
    assert NO_WAIT in _out(result)


def test_a_local_cancel_with_nothing_up_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _local(monkeypatch, {"terminations": []})
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--terminate-drill-instances"])
    assert result.exit_code == 0, result.output
    assert "no recovery instance of the drill was up to terminate now" in _out(result)
    assert NO_WAIT in _out(result)


def test_a_cancel_without_the_flag_says_nothing_of_terminations(monkeypatch: pytest.MonkeyPatch) -> None:
    _local(monkeypatch, {})
    result = runner.invoke(cli.app, ["cancel", "exec-1"])
    assert result.exit_code == 0, result.output
    assert "terminat" not in _out(result)


def test_an_aws_cancel_says_what_the_control_function_will_do_and_does_not_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def send_aws(command: Contract, **_: Any) -> control.Outcome:
        return control.Outcome(control.Sent.APPLIED, answer={"executionId": "exec-1", "requestedBy": "arn:x"})

    monkeypatch.setattr(control, "send_aws", send_aws)
    result = runner.invoke(
        cli.app, ["cancel", "exec-1", "--terminate-drill-instances", "--aws", "--region", "eu-west-1"]
    )
    assert result.exit_code == 0, result.output
    assert "CancelPlan published by the operator endpoint" in _out(result)
    assert "those the running jobs still launch once the plan has ended; this command does not wait" in _out(result)
    assert "drs-orch report exec-1 --region" in _out(result)


def test_a_refused_cancel_reports_no_termination(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        control, "send_local", lambda command, **_: control.Outcome(control.Sent.REJECTED, "execution is COMPLETED")
    )
    result = runner.invoke(cli.app, ["cancel", "exec-1", "--terminate-drill-instances"])
    assert result.exit_code == 1
    assert "terminat" not in result.stdout
