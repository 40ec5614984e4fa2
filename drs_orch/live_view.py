"""What a local run (`drs-orch run`, `demo`) shows while it runs, and the summary it prints once it has ended.

On a terminal the progress is a table redrawn in place and fitted to the terminal's width: columns are dropped by
priority, and those that may wrap wrap, so that a wave's name and its status are never cut ("datab…", "COMPL…").
Off a terminal (output piped to a file) there is no table to redraw: the run prints one plain line per change of a
wave's or the execution's status, with the simulated time. The summary then starts on a line of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orchestrator.domain.plan import Plan, Wave
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.status import EXECUTION_FINAL, ExecutionStatus, WaveStatus
from orchestrator.domain.untrusted import inert
from orchestrator.reporting.timeline import lambda_request_id

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.runner import RunResult

STATUS_STYLE: dict[str, str] = {  # a wave's status, and the execution's (COMPLETED and FAILED are both)
    WaveStatus.PENDING: "dim",
    WaveStatus.READY: "cyan",
    WaveStatus.AWAITING_APPROVAL: "magenta",
    WaveStatus.PRE_LAUNCH: "blue",
    WaveStatus.LAUNCHING: "yellow",
    WaveStatus.LAUNCHED: "yellow",
    WaveStatus.POST_LAUNCH: "blue",
    WaveStatus.COMPLETED: "green",
    WaveStatus.FAILED: "bold red",
    WaveStatus.SKIPPED: "dim red",
    ExecutionStatus.RUNNING: "yellow",
    ExecutionStatus.CANCELLED: "red",
    ExecutionStatus.STOPPING: "red",
    ExecutionStatus.PAUSED: "magenta",
}
REFRESH_SECONDS = 0.1
"""The least real time between two reads of the ledger for the view (the local cloud calls back after every step)."""


def short_time(moment: str | None) -> str:
    """`HH:MM:SS` of an ISO 8601 moment (`2026-01-01T09:03:12.5Z` -> `09:03:12`); "" for None."""
    return moment[11:19] if moment else ""


# ---- the table, fitted to a width ---------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """A column of the progress table. `rank`: the lower, the longer it is kept when the width runs short (0: never
    dropped); `wraps`: its cells may wrap between words (never inside one), the others are kept on one line whole."""

    name: str
    rank: int
    wraps: bool = False


COLUMNS: tuple[_Column, ...] = (  # in display order
    _Column("wave", 0),
    _Column("depends on", 2, wraps=True),
    _Column("status", 0),
    _Column("servers", 1, wraps=True),
    _Column("jobs", 6),
    _Column("scripts", 4, wraps=True),
    _Column("ready", 7),
    _Column("launch", 5),
    _Column("done", 3),
)


#: Shown (last) only for a plan with a wave target (issue #15): each wave's account and Region, empty for a wave in
#: the orchestrator's own account and Region.
TARGET_COLUMN = _Column("target", 2)


def _target_cell(plan_wave: Wave) -> Text:
    target = plan_wave.target
    return Text(f"{target.account_id} {target.region}" if target is not None else "")


def _natural(cell: Text) -> int:
    """The width `cell` takes on one line per line of its own."""
    return max((cell_len(line) for line in cell.plain.splitlines()), default=0)


def _narrowest(cell: Text) -> int:
    """The width `cell` needs when it wraps between words: its longest word."""
    return max((cell_len(word) for word in cell.plain.split()), default=0)


def _table_width(widths: Sequence[int]) -> int:
    """The width of a Rich table (default box, edges shown, one space of padding each side) whose columns' contents
    are `widths` wide: each column's content and padding, plus a border left of each column and one at the right."""
    return sum(widths) + 3 * len(widths) + 1


def _fit(columns: Sequence[_Column], cells: Sequence[Sequence[Text]], width: int) -> dict[int, int] | None:
    """The columns shown (index -> content width) when the table may be `width` wide, or None when even the columns
    that are never dropped do not fit whole. Columns are taken by rank while the narrowest they can be still fits;
    then those that wrap are narrowed, the widest first, until the table fits."""
    header = [Text(column.name) for column in columns]
    natural = [max(_natural(c) for c in (header[i], *(row[i] for row in cells))) for i in range(len(columns))]
    narrowest = [
        max(_narrowest(c) for c in (header[i], *(row[i] for row in cells))) if column.wraps else natural[i]
        for i, column in enumerate(columns)
    ]
    chosen: list[int] = []
    for index in sorted(range(len(columns)), key=lambda i: columns[i].rank):
        if _table_width([narrowest[i] for i in (*chosen, index)]) <= width:
            chosen.append(index)
        elif columns[index].rank == 0:
            return None
    widths = {i: natural[i] for i in sorted(chosen)}
    while _table_width(list(widths.values())) > width:
        widest = max((i for i in widths if widths[i] > narrowest[i]), key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _row(plan_wave: Wave, wave: WaveRecord | None) -> list[Text]:
    """A wave's cells of the progress table (`wave`: None until the execution has written it), in `COLUMNS` order."""
    head = [Text(plan_wave.wave_id), Text(", ".join(plan_wave.depends_on) or "—")]
    planned_servers, planned_scripts = len(plan_wave.servers), len(plan_wave.scripts)
    if wave is None:
        return [*head, Text("—"), Text(f"0/{planned_servers}"), Text("0/0"), _scripts_cell((), planned_scripts)] + [
            Text("") for _ in range(3)
        ]
    launched, failed = wave.current.servers_launched or 0, wave.servers_failed
    # the execution's own count: a wave choosing servers by tag lists none, its selection is frozen at the start
    server_text = Text(f"{launched}/{wave.server_count}")
    if failed:
        server_text.append(f" {failed}✗", style="red")
    jobs = wave.current.jobs
    return [
        *head,
        Text(wave.status.value, style=STATUS_STYLE.get(wave.status, "")),
        server_text,
        Text(f"{sum(1 for job in jobs if job.status == 'COMPLETED')}/{len(jobs)}"),
        _scripts_cell(wave.scripts, planned_scripts),
        Text(short_time(wave.current.ready_at)),
        Text(short_time(wave.current.launch_started_at)),
        Text(short_time(wave.current.ended_at)),
    ]


SCRIPT_MARK = {
    "Success": ("✓", "green"),
    "Skipped": ("-", "dim"),
    "Failed": ("✗", "red"),
    "TimedOut": ("⏱", "red"),
    "Cancelled": ("✗", "red"),
}


def _scripts_cell(scripts: Sequence[Mapping[str, Any]], planned: int) -> Text:
    """Ended scripts of the wave out of those planned, with a mark per script."""
    if not planned:
        return Text("—")
    text = Text(f"{len(scripts)}/{planned} ")
    for script in scripts:
        mark, style = SCRIPT_MARK.get(str(script.get("status")), ("?", ""))
        text.append(mark, style=style)
    return text


def progress_table(plan: Plan, waves: Mapping[str, WaveRecord], width: int) -> RenderableType:
    """The plan's waves as a table at most `width` columns wide (`waves`: the ledger's records by wave id, those
    not yet written missing). The columns that do not fit are dropped, lowest rank first (`COLUMNS`); a wave's name
    and status are never cut: when even those two do not fit, one line per wave (`wave: STATUS`), wrapped whole."""
    targeted = any(plan_wave.target is not None for plan_wave in plan.waves)
    columns = (*COLUMNS, TARGET_COLUMN) if targeted else COLUMNS
    rows = [
        _row(plan_wave, waves.get(plan_wave.wave_id)) + ([_target_cell(plan_wave)] if targeted else [])
        for plan_wave in plan.waves
    ]
    widths = _fit(columns, rows, width)
    if widths is None:
        return Group(*(Text.assemble(row[0], ": ", row[2], overflow="fold") for row in rows))
    table = Table(expand=False, header_style="bold")
    for index, chosen in widths.items():
        column = columns[index]
        table.add_column(column.name, width=chosen, no_wrap=not column.wraps, overflow="fold")
    for row in rows:
        table.add_row(*(row[index] for index in widths))
    return table


def _elapsed(execution: ExecutionRecord | None, now: Callable[[], Any]) -> str:
    """The plan's own simulated time, from its start to its end once it has ended (lingering, or a drill's time to
    live running on after it, is not the plan's): `12m20s simulated`; "" before it started."""
    if execution is None or not execution.started_at:
        return ""
    from orchestrator.domain.clock import parse_iso

    until = parse_iso(execution.ended_at) if execution.ended_at else now()
    seconds = (until - parse_iso(execution.started_at)).total_seconds()
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s simulated"


def progress(
    plan: Plan,
    execution_id: str,
    execution: ExecutionRecord | None,
    waves: Mapping[str, WaveRecord],
    *,
    width: int,
    elapsed: str = "",
) -> Group:
    """The live view's frame: the plan's name, the execution id, its status and `elapsed` (its simulated time),
    then `progress_table` at `width` (the header wraps between words)."""
    status = execution.status.value if execution else "STARTING"
    header = Text.assemble(
        (f"{plan.name or plan.plan_id}", "bold"),
        "  ",
        (execution_id, "dim"),
        "  ",
        (status, STATUS_STYLE.get(status, "")),
        f"  {elapsed}" if elapsed else "",
    )
    return Group(header, progress_table(plan, waves, width))


# ---- the summary ---------------------------------------------------------------------------------


def _script_lines(wave: dict[str, Any]) -> list[str]:
    lines = []
    for script in wave.get("scripts", []):
        phase = "health check" if script.get("healthCheck") else str(script.get("phase", "")).lower().replace("_", "-")
        status = script.get("status")
        colour = {"Success": "green", "Skipped": "dim"}.get(str(status), "red")
        tries = f", {script['attempts']} tries" if int(script.get("attempts", 1)) > 1 else ""
        request = lambda_request_id(script)  # a LAMBDA step ran no instance: its invocation's request id
        ran = f"request {request}" if request else f"{len(script.get('instances', []))} instance(s)"
        lines.append(
            f"    {escape(phase)} {escape(str(script.get('documentName')))}: "
            f"[{colour}]{escape(str(status))}[/{colour}] "
            f"({escape(ran)}{tries})"
        )
    lines.extend(f"    [yellow]warning: {escape(str(w))}[/yellow]" for w in wave.get("warnings", []))
    return lines


SERVER_LINES = 10  # servers that did not launch listed per wave in the summary (the report has them all)


def _server_lines(wave: dict[str, Any]) -> list[str]:
    """Each server of the wave that did not launch, with its launch status and DRS's reason."""
    missing = [
        s
        for s in wave.get("servers", [])
        if s.get("launchStatus") != "LAUNCHED"
        and wave.get("status") != WaveStatus.SKIPPED
        and s.get("launchStatus") != "NOT_STARTED"
    ]
    lines = [
        escape(
            f"    {s.get('sourceServerId')} ({s.get('criticality') or 'CRITICAL'}) {s.get('launchStatus')}"
            + (f": {s['reason']}" if s.get("reason") else "")
        )
        for s in missing[:SERVER_LINES]
    ]
    if len(missing) > SERVER_LINES:
        lines.append(f"    … and {len(missing) - SERVER_LINES} more server(s) that did not launch (see the report)")
    return lines


def _operator_lines(wave: dict[str, Any]) -> list[str]:
    """Who approved, retried or skipped the wave."""
    lines = []
    approval = wave.get("approval") or {}
    if approval.get("approvedBy"):
        lines.append(f"    approved by {escape(str(approval['approvedBy']))} at {approval.get('approvedAt')}")
    elif approval.get("status") in {"DENIED", "TIMED_OUT"}:
        lines.append(f"    approval {approval['status'].lower().replace('_', ' ')}")
    if wave.get("retriedBy"):
        lines.append(
            f"    retried by {escape(str(wave['retriedBy']))} (attempt {wave.get('attempt')}, "
            f"{len(wave.get('relaunchedServers', []))} server(s) relaunched)"
        )
    if wave.get("skippedBy"):
        lines.append(
            f"    skipped by {escape(str(wave['skippedBy']))}: the operator took responsibility for its dependents"
        )
    return lines


def _termination_lines(report: dict[str, Any]) -> list[str]:
    """The recovery instances the orchestrator asked DRS to terminate: why, when, by which DRS jobs, what
    those jobs terminated and what they did not (with DRS's reason); then every instance left running."""
    lines = []
    gone: set[str] = set()
    left: dict[str, str] = {}
    for termination in report.get("terminations", []):
        scope = f"wave {termination['waveId']}" if termination.get("waveId") else "the execution"
        asked = termination.get("recoveryInstanceIds", [])
        jobs = ", ".join(termination.get("jobIds", [])) or "none"
        if "terminatedInstanceIds" in termination:
            done = termination["terminatedInstanceIds"]
            gone.update(done)
            lines.append(
                f"terminated {len(done)} of {len(asked)} recovery instance(s) of {scope} at "
                f"{short_time(termination.get('at'))} ({termination.get('reason')}; DRS job(s) {jobs})"
                + (f": {', '.join(done)}" if done else "")
            )
        else:
            lines.append(
                f"asked DRS to terminate {len(asked)} recovery instance(s) of {scope} at "
                f"{short_time(termination.get('at'))} ({termination.get('reason')}; DRS job(s) {jobs}): "
                f"{', '.join(asked)}"
            )
        for failed in termination.get("notTerminated", []):
            instance = str(failed.get("recoveryInstanceId"))
            left[instance] = str(failed.get("reason") or termination.get("error") or "not terminated")
    for instance in sorted(set(left) - gone):
        lines.append(f"LEFT RUNNING: {instance} ({left[instance]}); terminate it with drs-orch cleanup")
    return [escape(line) for line in lines]


def _objective_lines(report: dict[str, Any]) -> list[str]:
    """The recovery objectives (issue #16): objective, achieved, margin and verdict, MISSED in red."""
    from orchestrator.reporting.objectives import objective_lines

    found = objective_lines(report)
    if not found:
        return []
    style = {"MET": "green", "MISSED": "red", "NOT_MEASURED": "yellow"}
    lines = ["recovery objectives:"]
    for line in found:
        verdict = next((v for v in style if line.endswith(f"-> {v}") or f"-> {v} (" in line), None)
        text = f"  {escape(line)}"
        lines.append(f"[{style[verdict]}]{text}[/{style[verdict]}]" if verdict else text)
    return lines


def summary(result: RunResult) -> Panel:
    """The run's summary: its status, simulated duration, each wave with the servers that did not launch, its
    scripts, warnings and operators, the objectives, the terminations, the rejections and any problem. Every value
    from the ledger is escaped markup and inert (`orchestrator.domain.untrusted.inert`)."""
    report = result.report or {}
    lines = [f"execution {escape(result.execution_id)}: [bold]{escape(result.status)}[/bold]"]
    if report.get("durationSeconds") is not None:
        seconds = report["durationSeconds"]
        lines.append(f"simulated duration {int(seconds // 60)}m{int(seconds % 60):02d}s")
    for wave in report.get("waves", []):
        launched = sum(1 for s in wave["servers"] if s["launchStatus"] == "LAUNCHED")
        reason = f" — {wave['reason']}" if wave.get("reason") else ""
        lines.append(
            escape(
                f"  {wave['waveId']}: {wave['status']} ({launched}/{len(wave['servers'])} servers, "
                f"{len(wave['jobs'])} job(s)){reason}"
            )
        )
        lines.extend(_server_lines(wave))
        lines.extend(_script_lines(wave))
        lines.extend(_operator_lines(wave))
    if report.get("stopReason"):
        lines.append(f"stopped: {escape(str(report['stopReason']))}")
    lines.extend(_objective_lines(report))
    lines.extend(_termination_lines(report))
    for rejection in result.rejected:
        lines.append(f"[red]rejected: {escape(str(rejection.get('reason')))}[/red]")
        lines.extend(
            f"  [red]{escape(str(e.get('path') or ''))} {escape(str(e.get('message')))}[/red]"
            for e in rejection.get("errors", [])
        )
    if result.problem:
        lines.append(f"[bold red]{escape(result.problem)}[/bold red]")
    style = "green" if result.exit_code == 0 else "red"
    # every value above is escaped markup; inert keeps our markup and drops any terminal control a value held
    return Panel(inert("\n".join(lines)), title="summary", border_style=style)


# ---- the view of one run --------------------------------------------------------------------------


class LiveView:
    """The progress of one local run on `console`, read from the local cloud's ledger. A context manager: enter it
    once the execution is started, call `refresh` as the cloud runs (at most one ledger read per `REFRESH_SECONDS`
    of real time), and leave it before printing the summary, which then starts on its own line.

    On a terminal: `progress` redrawn in place at the console's width. Off one: a line per status change of the
    execution or of a wave, `HH:MM:SS wave STATUS (launched/servers servers)`, the time being the simulated clock's.
    """

    def __init__(self, console: Console, cloud: LocalCloud, execution_id: str, plan: Plan) -> None:
        self.console = console
        self.cloud = cloud
        self.execution_id = execution_id
        self.plan = plan
        self._live: Live | None = None
        self._last = 0.0
        self._seen: dict[str, str] = {}

    def __enter__(self) -> LiveView:
        if self.console.is_terminal:
            self._live = Live(self._frame(), console=self.console, auto_refresh=False, transient=False)
            self._live.start(refresh=True)
        else:
            self._lines()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            if kind is None:  # the last state, read once more; not over an error already on its way out
                self.refresh(force=True)
        finally:
            if self._live is not None:
                self._live.stop()  # on a terminal, Live ends its last frame with a line end

    def refresh(self, *, force: bool = False) -> None:
        """Show the ledger's state now (`force`: even if the last read was under `REFRESH_SECONDS` ago)."""
        now = time.monotonic()
        if not force and now - self._last <= REFRESH_SECONDS:
            return
        self._last = now
        if self._live is not None:
            self._live.update(self._frame(), refresh=True)
        else:
            self._lines()

    def _read(self) -> tuple[ExecutionRecord | None, dict[str, WaveRecord]]:
        ledger = self.cloud.ledger
        assert ledger is not None
        execution = ledger.execution(self.execution_id)
        waves = {w.wave_id: w for w in ledger.waves(self.execution_id)} if execution else {}
        return execution, waves

    def _frame(self) -> Group:
        execution, waves = self._read()
        elapsed = _elapsed(execution, self.cloud.clock.now)
        return progress(self.plan, self.execution_id, execution, waves, width=self.console.width, elapsed=elapsed)

    def _lines(self) -> None:
        execution, waves = self._read()
        if execution is None:
            return
        moment = self.cloud.clock.now().strftime("%H:%M:%S")
        for line in change_lines(self._seen, self.execution_id, execution, waves, self.plan):
            self.console.print(f"{moment} {line}", markup=False, highlight=False, soft_wrap=True)


def change_lines(
    seen: dict[str, str],
    execution_id: str,
    execution: ExecutionRecord,
    waves: Mapping[str, WaveRecord],
    plan: Plan,
) -> list[str]:
    """The lines of what changed since `seen` (key -> status shown, updated in place): the execution's status
    (`execution ID STATUS`: first, or last once it has ended), and each wave's in plan order
    (`WAVE STATUS (launched/count servers[, n failed])`).
    Text from the ledger is made inert (`orchestrator.domain.untrusted.inert`)."""
    lines = []
    for plan_wave in plan.waves:
        wave = waves.get(plan_wave.wave_id)
        if wave is None or seen.get(plan_wave.wave_id) == wave.status.value:
            continue
        seen[plan_wave.wave_id] = wave.status.value
        failed = f", {wave.servers_failed} failed" if wave.servers_failed else ""
        launched = wave.current.servers_launched or 0
        lines.append(inert(f"{plan_wave.wave_id} {wave.status.value} ({launched}/{wave.server_count} servers{failed})"))
    if seen.get("") != execution.status.value:
        seen[""] = execution.status.value
        line = inert(f"execution {execution_id} {execution.status.value}")
        # a status the execution took before its waves moved comes first, its ending after its waves' last changes
        lines.insert(len(lines) if execution.status in EXECUTION_FINAL else 0, line)
    return lines
