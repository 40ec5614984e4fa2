"""What `drs-orch` prints of data it did not write (the ledger's report, a local run's control socket) reaches
the operator's terminal inert: Rich markup prints literally and no terminal control sequence gets through
(ANSI CSI, OSC 8 hyperlinks, OSC 52 clipboard writes, a lone CR, BEL, NUL, C1 controls, bidi overrides)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from drs_orch import app as cli
from drs_orch.live_view import summary
from localcloud.runner import RunResult
from orchestrator.domain.untrusted import NOT_INERT

R = "\ufffd"
HOSTILE = (
    "\x1b[2J\x1b[31mPASSED\x1b[0m \x1b]52;c;cm0gLXJmIH4K\x07 \x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\ "
    "FAILED\rPASSED \x00\x9b31m \u202eevil\u202c [bold red]x[/] [link=https://evil.example]y[/link]"
)
SHOWN = (
    f"{R}[2J{R}[31mPASSED{R}[0m {R}]52;c;cm0gLXJmIH4K{R} {R}]8;;https://evil.example/{R}\\link{R}]8;;{R}\\ "
    f"FAILED{R}PASSED {R}{R}31m {R}evil{R} [bold red]x[/] [link=https://evil.example]y[/link]"
)


def _printed(renderable: Any) -> str:
    """What the console writes for `renderable` (no colour system: every ESC in it came from the data)."""
    out = io.StringIO()
    Console(file=out, width=2000, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def _lines(text: str) -> list[str]:
    """The printed lines, without the panel's border and padding."""
    return [line.strip().strip("│").strip() for line in text.split("\n")]


def _words(text: str) -> str:
    """`text` with its line breaks (the terminal's width wraps it) and runs of spaces as single spaces."""
    return " ".join(text.split())


def _hostile_report() -> dict[str, Any]:
    return {
        "durationSeconds": 60.0,
        "stopReason": HOSTILE,
        "waves": [
            {
                "waveId": "db",
                "status": "FAILED",
                "jobs": [],
                "reason": HOSTILE,
                "servers": [{"sourceServerId": "s-1", "launchStatus": "FAILED", "reason": HOSTILE}],
                "scripts": [
                    {
                        "phase": "POST_LAUNCH",
                        "healthCheck": True,
                        "documentName": "DRSOrch-HealthCheck",
                        "status": "Failed",
                        "instances": [{"instanceId": "i-1", "status": "Failed", "output": HOSTILE}],
                    }
                ],
                "warnings": [HOSTILE],
                "approval": {"approvedBy": HOSTILE, "approvedAt": "2026-01-01T09:00:00Z"},
                "retriedBy": HOSTILE,
                "attempt": 2,
                "relaunchedServers": [],
            }
        ],
        "terminations": [
            {
                "reason": "ROLLBACK",
                "at": "2026-01-01T09:05:00Z",
                "waveId": "db",
                "recoveryInstanceIds": ["i-1"],
                "jobIds": ["drsjob-1"],
                "terminatedInstanceIds": [],
                "notTerminated": [{"recoveryInstanceId": "i-1", "reason": HOSTILE}],
            }
        ],
    }


def test_the_summary_prints_hostile_text_literally_and_inert() -> None:
    # GIVEN a run whose report holds hostile text wherever the ledger keeps text it did not write
    result = RunResult("ex-1", "FAILED", _hostile_report(), rejected=[{"reason": HOSTILE}], problem=HOSTILE)

    # WHEN its summary is printed
    printed = _printed(summary(result))

    # THEN no control character but newline reaches the terminal
    assert NOT_INERT.search(printed) is None
    # AND each piece of text is printed whole: markup as text, each control character as U+FFFD
    lines = _lines(printed)
    for expected in (
        f"db: FAILED (0/1 servers, 0 job(s)) — {SHOWN}",
        f"s-1 (CRITICAL) FAILED: {SHOWN}",
        "health check DRSOrch-HealthCheck: Failed (1 instance(s))",
        f"warning: {SHOWN}",
        f"approved by {SHOWN} at 2026-01-01T09:00:00Z",
        f"retried by {SHOWN} (attempt 2, 0 server(s) relaunched)",
        f"stopped: {SHOWN}",
        f"LEFT RUNNING: i-1 ({SHOWN}); terminate it with drs-orch cleanup",
        f"rejected: {SHOWN}",
        SHOWN,
    ):
        assert expected in lines, (expected, lines)


def _inspected(**extra: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "executionId": "ex-1",
        "events": 3,
        "rebuilt": {
            "status": HOSTILE,
            "waves": {HOSTILE: {"status": HOSTILE, "attempt": 1, "serversLaunched": [HOSTILE]}},
        },
        "ledger": {"status": "COMPLETED"},
        "differences": [f"wave x status: events say {HOSTILE}, ledger says COMPLETED"],
        **extra,
    }


def _answering(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any]) -> None:
    """A local run whose control socket answers `answer` to every request."""
    from localcloud import control_socket

    monkeypatch.setattr(control_socket, "send", lambda path, request: answer)


def test_inspect_prints_a_hostile_answer_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a local run whose inspection answer holds hostile text
    _answering(monkeypatch, _inspected())

    # WHEN it is inspected
    result = CliRunner().invoke(cli.app, ["inspect", "ex-1"])

    # THEN the table and the difference print the text inert, whole
    assert result.exit_code == 1
    assert NOT_INERT.search(result.output) is None
    printed = _words(result.output)
    assert f"≠ wave x status: events say {SHOWN}, ledger says COMPLETED" in printed
    assert f"ex-1: {SHOWN} from 3 replayed event(s)" in printed


def test_inspect_json_is_the_answer_exactly_with_every_control_character_escaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the same answer
    answer = _inspected()
    _answering(monkeypatch, answer)

    # WHEN it is printed as JSON
    result = CliRunner().invoke(cli.app, ["inspect", "ex-1", "--json"])

    # THEN it is ASCII (each control character a \\u escape) and reads back as the answer, exactly
    assert result.exit_code == 1
    assert result.output.isascii()
    assert json.loads(result.output) == answer


def test_a_hostile_rejection_of_a_control_command_prints_inert(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a local run that rejects a command with hostile text, then one that applies it with hostile statuses
    _answering(monkeypatch, {"ok": False, "reason": HOSTILE})
    rejected = CliRunner().invoke(cli.app, ["approve", "ex-1", "--wave", "w2", "--as", "alice"])
    _answering(monkeypatch, {"ok": True, "status": HOSTILE, "waves": {"w2": HOSTILE}})
    applied = CliRunner().invoke(cli.app, ["resume", "ex-1", "--as", "alice"])

    # THEN both print the text whole and inert
    assert (rejected.exit_code, applied.exit_code) == (1, 0)
    assert NOT_INERT.search(rejected.output + applied.output) is None
    assert _words(rejected.output) == f"ApprovalGranted rejected: {SHOWN}"
    assert _words(applied.output) == f"ResumePlan applied: execution {SHOWN} (w2 {SHOWN})"
