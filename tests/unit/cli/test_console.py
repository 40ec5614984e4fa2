"""What `drs-orch` prints is the text it was given: Rich markup never swallows `[i-…]` (issue #11, fault 9),
and an AWS error behind one of our own errors is still named."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from rich.console import Console
from typer.testing import CliRunner

from drs_orch import app as cli
from drs_orch.errors import aws_message
from drs_orch.live_view import summary
from localcloud.runner import RunResult

INSTANCE = "[i-0a1b2c3d4e5f60718]"


def _rendered(renderable: Any) -> str:
    console = Console(record=True, width=400, file=io.StringIO())
    console.print(renderable)
    return " ".join(console.export_text().replace("│", " ").split())


def test_the_summary_prints_bracketed_text_as_it_is():
    # GIVEN a run whose reasons, warnings, operators, rejection and problem all hold bracketed text
    report = {
        "durationSeconds": 75.0,
        "stopReason": f"wave [db] failed on {INSTANCE}",
        "waves": [
            {
                "waveId": "db",
                "status": "FAILED",
                "jobs": [],
                "reason": f"no managed instance among {INSTANCE}",
                "servers": [{"launchStatus": "FAILED"}],
                "scripts": [
                    {"phase": "PRE_LAUNCH", "documentName": "Fence[bold]", "status": "Skipped", "instances": []}
                ],
                "warnings": [f"pre-launch Fence: targets {INSTANCE} are offline"],
                "approval": {"approvedBy": "[alice]", "approvedAt": "2026-01-01T09:00:00Z"},
                "retriedBy": "[bob]",
                "attempt": 2,
                "relaunchedServers": [],
            }
        ],
        "terminations": [
            {
                "reason": "ROLLBACK",
                "at": "2026-01-01T09:05:00Z",
                "waveId": "db",
                "recoveryInstanceIds": ["i-0a1b2c3d4e5f60718"],
                "jobIds": ["drsjob-1"],
            }
        ],
    }
    result = RunResult(
        "ex-1",
        "FAILED",
        report,
        rejected=[{"reason": "invalid [plan]", "errors": [{"path": "waves[0]", "message": "[red] x"}]}],
        problem=f"the run stalled on {INSTANCE}",
    )

    # WHEN the summary is printed
    text = _rendered(summary(result))

    # THEN every piece of text is there, brackets and all
    for expected in (
        f"db: FAILED (0/1 servers, 0 job(s)) — no managed instance among {INSTANCE}",
        "pre-launch Fence[bold]: Skipped (0 instance(s))",
        f"warning: pre-launch Fence: targets {INSTANCE} are offline",
        "approved by [alice] at 2026-01-01T09:00:00Z",
        "retried by [bob] (attempt 2, 0 server(s) relaunched)",
        f"stopped: wave [db] failed on {INSTANCE}",
        "asked DRS to terminate 1 recovery instance(s) of wave db at 09:05:00 (ROLLBACK; DRS job(s) "
        "drsjob-1): "
        "i-0a1b2c3d4e5f60718",
        "rejected: invalid [plan]",
        "waves[0] [red] x",
        f"the run stalled on {INSTANCE}",
    ):
        assert expected in text, (expected, text)


def test_a_rejected_control_command_prints_its_reason_as_it_is(monkeypatch: pytest.MonkeyPatch):
    # GIVEN a local run whose control function rejects a command with bracketed text
    from localcloud import control_socket

    monkeypatch.setattr(
        control_socket,
        "send",
        lambda path, request: {
            "ok": False,
            "reason": f"wave w2 is not awaiting approval: instance {INSTANCE} [bold]x[/bold]",
        },
    )

    # WHEN an operator approves
    result = CliRunner().invoke(cli.app, ["approve", "ex-1", "--wave", "w2", "--as", "alice"])

    # THEN the reason is printed whole
    assert result.exit_code == 1
    assert (
        f"ApprovalGranted rejected: wave w2 is not awaiting approval: instance {INSTANCE} [bold]x[/bold]"
        in " ".join(result.output.split())
    )


def test_an_aws_error_behind_one_of_our_errors_is_named():
    # GIVEN a domain error raised from DRS's AccessDeniedException (the adapters raise `from` the ClientError)
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized: drs:StartRecovery"}}, "StartRecovery"
    )
    try:
        try:
            raise denied
        except ClientError as exc:
            raise RuntimeError("DRS refused the launch") from exc
    except RuntimeError as wrapped:
        wrapped.add_note("wave db")
        message = aws_message(wrapped)

    # THEN the one line is DRS's, with the note
    assert message == "AWS StartRecovery: AccessDeniedException: not authorized: drs:StartRecovery (wave db)"
    # AND an error with no AWS error behind it is not one
    assert aws_message(RuntimeError("boom")) is None


def test_the_summary_names_each_server_that_did_not_launch_and_why():
    # GIVEN a wave with a CRITICAL and an OPTIONAL server that DRS could not launch, and 11 more failures
    why = "LAUNCH_FAILED: InsufficientInstanceCapacity"
    servers = [
        {"sourceServerId": "s-c", "criticality": "CRITICAL", "launchStatus": "FAILED", "reason": why},
        {"sourceServerId": "s-o", "criticality": "OPTIONAL", "launchStatus": "FAILED", "reason": why},
        {"sourceServerId": "s-ok", "criticality": "CRITICAL", "launchStatus": "LAUNCHED"},
    ]
    servers += [
        {"sourceServerId": f"s-x{n:02d}", "criticality": "OPTIONAL", "launchStatus": "FAILED"} for n in range(11)
    ]
    report = {"waves": [{"waveId": "db", "status": "FAILED", "jobs": [], "servers": servers}]}

    # WHEN the summary is printed
    text = _rendered(summary(RunResult("ex-1", "FAILED", report)))

    # THEN the first ten servers that did not launch are named with their reason, and the rest counted
    assert f"s-c (CRITICAL) FAILED: {why}" in text
    assert f"s-o (OPTIONAL) FAILED: {why}" in text
    assert "s-x07 (OPTIONAL) FAILED" in text
    assert "s-x08" not in text
    assert "… and 3 more server(s) that did not launch (see the report)" in text
    assert "s-ok" not in text


def test_the_summary_says_what_a_terminate_job_did_not_terminate_and_what_is_left_running():
    # GIVEN a rollback whose terminate job failed on one instance, retried once (failed again), and a cleanup
    # that terminated the other instance
    fail = {"recoveryInstanceId": "i-0bad", "reason": "CLEANUP_FAIL: simulated failure"}
    report = {
        "waves": [],
        "terminations": [
            {
                "reason": "ROLLBACK",
                "at": "2026-01-01T09:05:00Z",
                "waveId": "db",
                "recoveryInstanceIds": ["i-0ok", "i-0bad"],
                "jobIds": ["drsjob-1"],
                "terminatedInstanceIds": ["i-0ok"],
                "notTerminated": [fail],
            },
            {
                "reason": "ROLLBACK",
                "at": "2026-01-01T09:06:00Z",
                "waveId": "db",
                "recoveryInstanceIds": ["i-0bad"],
                "jobIds": ["drsjob-2"],
                "terminatedInstanceIds": [],
                "notTerminated": [fail],
            },
        ],
    }

    # WHEN the summary is printed
    text = _rendered(summary(RunResult("ex-1", "FAILED", report)))

    # THEN each job says what it terminated out of what was asked, and the instance left running is named with
    # DRS's reason and what to do
    assert (
        "terminated 1 of 2 recovery instance(s) of wave db at 09:05:00 (ROLLBACK; DRS job(s) drsjob-1): i-0ok"
    ) in text
    assert "terminated 0 of 1 recovery instance(s) of wave db at 09:06:00 (ROLLBACK; DRS job(s) drsjob-2)" in text
    assert ("LEFT RUNNING: i-0bad (CLEANUP_FAIL: simulated failure); terminate it with drs-orch cleanup") in text
    assert "LEFT RUNNING: i-0ok" not in text
