"""`drs-orch demo` piped to a file (no terminal, issue #17 item 3): plain progress lines, one per status change with
the simulated time, instead of a redrawn table; then the summary on a line of its own."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from drs_orch.app import app

LINE = re.compile(r"^(\d\d:\d\d:\d\d) (execution \S+|\S+) ([A-Z_]+)(?: \((\d+)/(\d+) servers(?:, \d+ failed)?\))?$")


def test_demo_piped_prints_a_progress_line_per_status_change_with_the_simulated_time(tmp_path: Path) -> None:
    # GIVEN the demo, its output not a terminal (CliRunner captures it)
    report = tmp_path / "report.json"

    # WHEN it runs
    result = CliRunner().invoke(app, ["demo", "--report", str(report)])

    # THEN it completes
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    ended = {wave["waveId"]: wave["endedAt"][11:19] for wave in data["waves"]}
    lines = result.output.splitlines()
    progress = [match for match in map(LINE.match, lines) if match]
    # AND the progress lines start with the execution RUNNING and end with it COMPLETED, in simulated time order
    execution = f"execution {data['executionId']}"
    assert (progress[0][2], progress[0][3]) == (execution, "RUNNING")
    assert (progress[-1][2], progress[-1][3]) == (execution, "COMPLETED")
    times = [match[1] for match in progress]
    assert times == sorted(times)
    # AND each wave's lines change its status each time and end COMPLETED with all its servers, seen at or after the
    # moment the ledger says it ended
    for wave_id in ("database", "application", "web"):
        _check_wave(progress, wave_id, ended[wave_id])
    # AND web waited for its approval gate
    assert "AWAITING_APPROVAL" in [match[3] for match in progress if match[2] == "web"]
    # AND no table is drawn, and the summary's box starts the line after the last progress line
    assert not any(mark in result.output for mark in ("┏", "┃", "┡"))
    after = lines.index(progress[-1][0]) + 1
    assert lines[after].startswith("╭")
    assert "summary" in lines[after]


def _check_wave(progress: list[re.Match[str]], wave_id: str, ended: str) -> None:
    """The progress lines of `wave_id` change its status each time, never to FAILED or SKIPPED, and end COMPLETED
    with all its servers launched, seen at or after `ended` (HH:MM:SS, the ledger's end of the wave)."""
    mine = [match for match in progress if match[2] == wave_id]
    statuses = [match[3] for match in mine]
    assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
    assert not {"FAILED", "SKIPPED"} & set(statuses)
    assert statuses[-1] == "COMPLETED"
    assert mine[-1][4] == mine[-1][5]
    assert mine[-1][1] >= ended
