"""The live view of a local run (drs_orch/live_view.py, issue #17 item 3): at 80 columns a wave's name and status are
never cut, columns are dropped by priority instead; off a terminal, one plain line per status change with the
simulated time; the summary starts on a line of its own."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from drs_orch.live_view import COLUMNS, LiveView, progress, progress_table, summary
from localcloud.runner import RunResult
from orchestrator.domain.plan import Plan, parse_plan
from orchestrator.domain.records import ExecutionRecord, WaveAttempt, WaveRecord
from orchestrator.domain.status import ExecutionStatus, WaveStatus

# the plan's waves by name length: a long one, a dependent of two, a short one
WAVES = ("database-primary", "application-tier", "web")
STATUSES = (WaveStatus.COMPLETED, WaveStatus.AWAITING_APPROVAL, WaveStatus.POST_LAUNCH)


def _plan() -> Plan:
    servers = iter(f"s-{n:017d}" for n in range(1, 10))
    return parse_plan(
        {
            "planId": "p",
            "name": "Fits plan",
            "version": "1",
            "waves": [
                {"waveId": WAVES[0], "servers": [{"sourceServerID": next(servers)}]},
                {"waveId": WAVES[1], "dependsOn": [WAVES[0]], "servers": [{"sourceServerID": next(servers)}]},
                {"waveId": WAVES[2], "dependsOn": [WAVES[0], WAVES[1]], "servers": [{"sourceServerID": next(servers)}]},
            ],
        }
    )


def _wave(wave_id: str, status: WaveStatus, **times: Any) -> WaveRecord:
    return WaveRecord(
        execution_id="ex-1",
        wave_id=wave_id,
        current=WaveAttempt(attempt=1, status=status, servers_launched=1, **times),
        remaining=0,
        depends_on=(),
        dependents=(),
        on_failure="STOP",
        server_count=1,
        servers_failed=0,
        jobs_expected=1,
        jobs_done=1,
    )


def _execution(status: ExecutionStatus = ExecutionStatus.RUNNING, ended_at: str | None = None) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id="ex-1",
        plan_id="p",
        mode="DRILL",
        status=status,
        wave_count=3,
        terminal_count=0,
        plan_document="{}",
        started_at="2026-01-01T09:00:00.000Z",
        ended_at=ended_at,
    )


TIMES = {
    "ready_at": "2026-01-01T09:00:00.000Z",
    "launch_started_at": "2026-01-01T09:01:00.000Z",
    "ended_at": "2026-01-01T09:05:00.000Z",
}


def _waves() -> dict[str, WaveRecord]:
    return {w: _wave(w, s, **TIMES) for w, s in zip(WAVES, STATUSES, strict=True)}


def _render(renderable: Any, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def _header(lines: list[str]) -> list[str]:
    """The column names of a rendered table: its heading row, split at its borders."""
    [heading] = [line for line in lines if line.startswith("┃")]
    return [cell.strip() for cell in heading.strip("┃").split("┃")]


def _cells(lines: list[str], column: int) -> list[str]:
    """The non-empty cells of a column, one per table line (a cell that wrapped gives one per line)."""
    cells = [line.strip("│").split("│")[column].strip() for line in lines if line.startswith("│")]
    return [cell for cell in cells if cell]


@pytest.mark.parametrize("width", [80, 120])
def test_wave_names_and_statuses_are_never_cut_and_the_table_fits_the_width(width: int) -> None:
    # GIVEN three waves, one AWAITING_APPROVAL (the longest status) and long wave names
    # WHEN the table is rendered at the width
    lines = _render(progress_table(_plan(), _waves(), width), width)

    # THEN no line is wider than the terminal and nothing is cut with an ellipsis
    assert max(len(line) for line in lines) <= width
    assert not any("…" in line for line in lines)
    # AND each wave's name and status are whole, on one line, in their columns
    header = _header(lines)
    assert _cells(lines, header.index("wave")) == list(WAVES)
    assert _cells(lines, header.index("status")) == [str(s) for s in STATUSES]


def test_at_80_columns_the_lowest_priority_columns_are_dropped_and_at_120_none() -> None:
    # GIVEN the same waves
    # WHEN rendered at 80 and at 120 columns
    narrow = _header(_render(progress_table(_plan(), _waves(), 80), 80))
    wide = _header(_render(progress_table(_plan(), _waves(), 120), 120))

    # THEN 120 shows every column; 80 takes them by rank while they fit: wave, status, servers, dependencies (then
    # done, 1 column too wide, is left out for scripts, which fits exactly), in display order
    assert wide == [column.name for column in COLUMNS]
    assert narrow == ["wave", "depends on", "status", "servers", "scripts"]


def test_a_wave_with_two_dependencies_wraps_them_between_names_never_inside_one() -> None:
    # GIVEN web depends on database-primary and application-tier
    # WHEN rendered at 80 columns
    lines = _render(progress_table(_plan(), _waves(), 80), 80)

    # THEN its dependencies are listed whole, one or more per line
    column = _header(lines).index("depends on")
    dependencies = _cells(lines, column)
    assert dependencies == ["—", "database-primary", "database-primary,", "application-tier"]


def test_too_narrow_for_a_table_each_wave_is_one_line_with_its_whole_status() -> None:
    # GIVEN a terminal narrower than the wave and status columns together
    # WHEN rendered at 36 columns
    lines = _render(progress_table(_plan(), _waves(), 36), 36)

    # THEN one line per wave, name and status whole
    assert lines == [f"{w}: {s}" for w, s in zip(WAVES, STATUSES, strict=True)]


def test_the_header_says_plan_execution_status_and_elapsed_time() -> None:
    # GIVEN a running execution / WHEN its frame is rendered
    lines = _render(progress(_plan(), "ex-1", _execution(), _waves(), width=80, elapsed="4m00s simulated"), 80)
    # THEN its first line is the header
    assert lines[0] == "Fits plan  ex-1  RUNNING  4m00s simulated"


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class _Ledger:
    """What the live view reads of the local cloud's ledger: the execution and its waves, as a test sets them."""

    def __init__(self) -> None:
        self.execution_record: ExecutionRecord | None = None
        self.wave_records: dict[str, WaveRecord] = {}

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        return self.execution_record

    def waves(self, execution_id: str) -> list[WaveRecord]:
        return list(self.wave_records.values())


class _Cloud:
    def __init__(self) -> None:
        self.ledger = _Ledger()
        self.clock = _Clock()


def _run(console: Console) -> _Cloud:
    """A run seen through a LiveView on `console`: database READY at 09:00, LAUNCHING at 09:01, COMPLETED with the
    execution at 09:05 (the view refreshed at each, and once more with nothing changed)."""
    cloud = _Cloud()
    ledger = cloud.ledger
    with LiveView(console, cloud, "ex-1", _plan()) as view:  # type: ignore[arg-type]
        ledger.execution_record = _execution()
        ledger.wave_records = {WAVES[0]: _wave(WAVES[0], WaveStatus.READY)}
        view.refresh(force=True)
        cloud.clock.at += timedelta(minutes=1)
        ledger.wave_records = {WAVES[0]: _wave(WAVES[0], WaveStatus.LAUNCHING)}
        view.refresh(force=True)
        view.refresh(force=True)
        cloud.clock.at += timedelta(minutes=4)
        ledger.wave_records = {WAVES[0]: _wave(WAVES[0], WaveStatus.COMPLETED)}
        ledger.execution_record = _execution(ExecutionStatus.COMPLETED, ended_at="2026-01-01T09:05:00.000Z")
    console.print(summary(RunResult("ex-1", "COMPLETED", {"waves": []})))
    return cloud


def test_off_a_terminal_each_status_change_is_one_plain_line_with_the_simulated_time() -> None:
    # GIVEN a console that is not a terminal (output piped to a file)
    out = io.StringIO()
    console = Console(file=out, width=80)
    assert not console.is_terminal

    # WHEN a run is seen through the live view, then its summary printed
    _run(console)

    # THEN one line per change, with the simulated time, no table, then the summary on a line of its own
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "09:00:00 execution ex-1 RUNNING",
        f"09:00:00 {WAVES[0]} READY (1/1 servers)",
        f"09:01:00 {WAVES[0]} LAUNCHING (1/1 servers)",
        f"09:05:00 {WAVES[0]} COMPLETED (1/1 servers)",
    ]
    assert lines[4] == "09:05:00 execution ex-1 COMPLETED"
    assert lines[5].startswith("╭")
    assert "summary" in lines[5]
    assert not any("┃" in line or "\x1b" in line for line in lines)


def test_on_a_terminal_the_table_is_redrawn_and_the_summary_starts_on_its_own_line() -> None:
    # GIVEN an 80-column terminal
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)

    # WHEN a run is seen through the live view, then its summary printed
    _run(console)

    # THEN the last frame shows the wave COMPLETED and the plan's simulated time, whole at 80 columns
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "")
    last = text[text.rindex("Fits plan") :]
    lines = last.splitlines()
    assert lines[0] == "Fits plan  ex-1  COMPLETED  5m00s simulated"
    assert f"│ {WAVES[0]} │" in last
    assert "│ COMPLETED │" in last
    assert max(len(line) for line in lines) <= 80
    # AND the summary's top border begins a line, right after the table's bottom border
    bottom = next(i for i, line in enumerate(lines) if line.startswith("└"))
    assert lines[bottom].endswith("┘")
    assert lines[bottom + 1].startswith("╭")
    assert "summary" in lines[bottom + 1]


def test_an_error_leaving_the_view_is_not_hidden_by_a_last_read_of_the_ledger() -> None:
    # GIVEN a view whose ledger fails every read once the run broke
    class BrokenLedger(_Ledger):
        def execution(self, execution_id: str) -> ExecutionRecord | None:
            raise RuntimeError("the ledger is gone")

    cloud = _Cloud()
    console = Console(file=io.StringIO(), width=80)
    view = LiveView(console, cloud, "ex-1", _plan())  # type: ignore[arg-type]

    def interrupted() -> None:
        with view:
            cloud.ledger = BrokenLedger()
            raise KeyboardInterrupt

    # WHEN the run is interrupted inside the view, the ledger broken by then
    # THEN the interruption is what leaves, not the failed read
    with pytest.raises(KeyboardInterrupt):
        interrupted()
