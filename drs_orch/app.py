"""`drs-orch`: validate and show plans, run them on the embedded local cloud, or start them on AWS."""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from drs_orch import cleanup_verb, native_verbs, plan_verbs, report_verb, schedule_verb, stored_plan_verbs
from drs_orch.errors import EXIT_FAILED, GuardedGroup, log_dir, log_level, run_log, write_traceback
from events.models import Contract, Mode
from orchestrator.domain.plan import Plan, PlanError, Wave, load_plan
from orchestrator.domain.records import WaveRecord
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from orchestrator.domain.stored_plans import PlanRef
from orchestrator.domain.untrusted import inert
from orchestrator.reporting.timeline import lambda_request_id

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.runner import RunResult

app = typer.Typer(
    help="DRS Orchestrator: recovery plans for AWS Elastic Disaster Recovery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=GuardedGroup,
)
plan_verbs.register(app)
cleanup_verb.register(app)
report_verb.register(app)
native_verbs.register(app)
stored_plan_verbs.register(app)
schedule_verb.register(app)
console = Console()
err = Console(stderr=True)

# Package data (pyproject.toml): the demo runs from an installed wheel, outside any checkout.
EXAMPLES = Path(__file__).resolve().parent / "examples"
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


def _shown(value: object) -> str:
    """`value` as Rich markup that prints it literally and inert: its own markup escaped, and no terminal control
    sequence (`orchestrator.domain.untrusted.inert`). For what the CLI prints that it did not write itself: what
    the ledger, a report, a local run's control socket or the operator endpoint answer."""
    return escape(inert(str(value)))


def _load(path: Path) -> Plan:
    try:
        return load_plan(path)
    except PlanError as exc:
        for problem in exc.problems:
            err.print(f"[red]✗[/red] {escape(str(problem))}", highlight=False)
        err.print(
            f"[red]{escape(str(path))}: {len(exc.problems)} problem(s); nothing was started.[/red]", highlight=False
        )
        raise typer.Exit(2) from None


def _mode(drill: bool, recovery: bool, confirm: bool) -> Mode:
    if drill and recovery:
        err.print("[red]--drill and --recovery exclude each other.[/red]")
        raise typer.Exit(2)
    if recovery and not confirm:
        err.print(
            "[red]--recovery is a real failover: it launches recovery instances for production.\n"
            "Add --confirm to start it; nothing was started.[/red]"
        )
        raise typer.Exit(2)
    if confirm and not recovery:
        err.print(
            "[red]--confirm confirms a --recovery run; without --recovery this would be a drill, not the failover "
            "you confirmed. Add --recovery for a failover, or drop --confirm for a drill; nothing was started.[/red]"
        )
        raise typer.Exit(2)
    return Mode.RECOVERY if recovery else Mode.DRILL


def _short(moment: str | None) -> str:
    return moment[11:19] if moment else ""


def _progress(cloud: LocalCloud, execution_id: str, plan: Plan) -> Group:
    assert cloud.ledger is not None
    ledger = cloud.ledger
    execution = ledger.execution(execution_id)
    waves = {w.wave_id: w for w in ledger.waves(execution_id)} if execution else {}
    table = Table(expand=False, header_style="bold")
    for column in ("wave", "depends on", "status", "servers", "jobs", "scripts", "ready", "launch", "done"):
        table.add_column(column)
    for plan_wave in plan.waves:
        table.add_row(*_progress_row(plan_wave, waves.get(plan_wave.wave_id)))
    status = execution.status.value if execution else "STARTING"
    elapsed = ""
    if execution and execution.started_at:
        from orchestrator.domain.clock import parse_iso

        # the plan's own time: from its start to its end once it has ended (lingering or a drill's time
        # to live running on after it is not the plan's)
        until = parse_iso(execution.ended_at) if execution.ended_at else cloud.clock.now()
        seconds = (until - parse_iso(execution.started_at)).total_seconds()
        elapsed = f"{int(seconds // 60)}m{int(seconds % 60):02d}s simulated"
    header = Text.assemble(
        (f"{plan.name or plan.plan_id}", "bold"),
        "  ",
        (execution_id, "dim"),
        "  ",
        (status, STATUS_STYLE.get(status, "")),
        f"  {elapsed}",
    )
    return Group(header, table)


def _progress_row(plan_wave: Wave, wave: WaveRecord | None) -> tuple[Text | str, ...]:
    """A wave's row of the live progress table (`wave`: None until the execution has written it)."""
    head = (Text(plan_wave.wave_id), Text(", ".join(plan_wave.depends_on) or "—"))
    planned_servers, planned_scripts = len(plan_wave.servers), len(plan_wave.scripts)
    if wave is None:
        return (*head, Text("—"), Text(f"0/{planned_servers}"), "0/0", _scripts_cell((), planned_scripts), "", "", "")
    launched, failed = wave.current.servers_launched or 0, wave.servers_failed
    # the execution's own count: a wave choosing servers by tag lists none, its selection is frozen at the start
    server_text = Text(f"{launched}/{wave.server_count}")
    if failed:
        server_text.append(f" {failed}✗", style="red")
    jobs = wave.current.jobs
    return (
        *head,
        Text(wave.status.value, style=STATUS_STYLE.get(wave.status, "")),
        server_text,
        f"{sum(1 for job in jobs if job.status == 'COMPLETED')}/{len(jobs)}",
        _scripts_cell(wave.scripts, planned_scripts),
        _short(wave.current.ready_at),
        _short(wave.current.launch_started_at),
        _short(wave.current.ended_at),
    )


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
                f"{_short(termination.get('at'))} ({termination.get('reason')}; DRS job(s) {jobs})"
                + (f": {', '.join(done)}" if done else "")
            )
        else:
            lines.append(
                f"asked DRS to terminate {len(asked)} recovery instance(s) of {scope} at "
                f"{_short(termination.get('at'))} ({termination.get('reason')}; DRS job(s) {jobs}): "
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


def _summary(result: RunResult) -> Panel:
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


def _gated(plan: Plan, mode: Mode) -> list[str]:
    from orchestrator.steps.approval import gate_for

    return [w.wave_id for w in plan.waves if gate_for(plan, w.wave_id, mode.value) is not None]


def _writable(*paths: Path | None) -> str | None:
    """Why one of the output files could not be written (checked before anything runs), or None."""
    for path in paths:
        if path is not None and not path.parent.is_dir():
            return f"{path}: no such directory {path.parent}"
        if path is not None and path.is_dir():
            return f"{path}: is a directory"
    return None


def _write(path: Path, text: str, what: str) -> bool:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        err.print(
            f"[red]{escape(f'{path}: cannot write the {what}: {exc.strerror or exc}')}[/red]",
            highlight=False,
            soft_wrap=True,
        )
        return False
    console.print(f"{what} written to {escape(str(path))}", highlight=False, soft_wrap=True)
    return True


def _start_local(
    cloud: LocalCloud, plan: Plan, mode: Mode, *, execution_id: str, caller: str | None, stored: bool
) -> bool:
    """Start the plan on the local cloud (`stored`: pushed to its plan store first, then named by reference, as on
    AWS); False when it was refused before anything started (said why)."""
    from events.envelope import EventTooLarge
    from localcloud.runner import StartRefused, push, start

    plan_ref = None
    if stored:
        pushed = push(cloud, plan)
        plan_ref = PlanRef(pushed.plan_id, pushed.version)
        console.print(f"plan pushed to the local plan store as {escape(str(plan_ref))} (sha256 {pushed.sha256})")
    try:
        start(
            cloud,
            plan,
            mode=mode,
            confirm=mode is Mode.RECOVERY,
            requested_by=caller or getpass.getuser(),
            execution_id=execution_id,
            plan_ref=plan_ref,
        )
    except StartRefused as exc:  # a RECOVERY by a caller who is none of the recovery principals
        err.print(f"[red]{escape(str(exc))}; nothing was started.[/red]", highlight=False, soft_wrap=True)
        return False
    except EventTooLarge as exc:  # PutEvents would refuse it on AWS: the local cloud refuses it too
        err.print(f"[red]{escape(_too_large(str(exc)))}[/red]", highlight=False, soft_wrap=True)
        return False
    return True


def _run_local(
    plan: Plan,
    mode: Mode,
    *,
    sim: Path | None,
    speed: float | None,
    pace: bool | None,
    report: Path | None,
    timeout: float,
    linger: float = 0.0,
    timeline: Path | None = None,
    level: str | None = None,
    caller: str | None = None,
    html: Path | None = None,
    stored: bool = False,
) -> int:
    from localcloud.cloud import LocalCloud
    from localcloud.control_socket import ControlServer, run_session, socket_path
    from localcloud.profile import ProfileError, load_profile
    from localcloud.runner import new_execution_id

    level = log_level(level)
    try:
        profile = load_profile(sim, **{"clock.speed": speed, "clock.pace": pace})
    except ProfileError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        return 2
    logs = log_dir()
    unwritable = _writable(report, timeline, html) or (
        None if logs.is_dir() else f"{logs} (the log directory, $DRS_ORCH_LOG_DIR): no such directory"
    )
    if unwritable:
        err.print(f"[red]{escape(unwritable)}; nothing was started.[/red]", highlight=False, soft_wrap=True)
        return 2
    execution_id = new_execution_id(plan.plan_id)
    gated = _gated(plan, mode)
    with (
        run_log(logs / f"drs-orch-{execution_id}.log") as log,
        LocalCloud(profile, log_level=level) as cloud,
        ControlServer(socket_path(execution_id)) as server,
    ):
        if gated and pace is None and profile.approvals.decision == "NONE":
            cloud.pace = True  # an approval waits for a person: idle time is not skipped to its deadline
        if not _start_local(cloud, plan, mode, execution_id=execution_id, caller=caller, stored=stored):
            return 2
        console.print(
            f"execution [bold]{escape(execution_id)}[/bold]; operate it from another shell: drs-orch "
            f"approve|deny|pause|resume|cancel|retry|skip|inspect {escape(execution_id)} \\[--wave W]"
            + (f"\n[magenta]approval gates: {escape(', '.join(gated))}[/magenta] (the clock is paced)" if gated else "")
            + f"\nlog ({level}): {escape(str(log))}",
            highlight=False,
        )
        with Live(_progress(cloud, execution_id, plan), console=console, refresh_per_second=8, transient=False) as live:
            last = [0.0]

            def refresh() -> None:
                import time

                now = time.monotonic()
                if now - last[0] > 0.1:
                    last[0] = now
                    live.update(_progress(cloud, execution_id, plan))

            result = run_session(cloud, execution_id, server, timeout=timeout, linger=linger, on_progress=refresh)
            live.update(_progress(cloud, execution_id, plan))
        if not console.is_terminal:
            console.line()  # Live leaves its last frame without a line end off a terminal
        traceback_in = write_traceback(result.error, log) if result.error is not None else None
    console.print(_summary(result))
    if traceback_in is not None:
        err.print(f"[red]the traceback is in {escape(str(traceback_in))}[/red]", highlight=False, soft_wrap=True)
    written = True
    if report is not None and result.report is not None:
        from orchestrator.reporting.report import report_json

        written &= _write(report, report_json(result.report), "report")
    if timeline is not None and result.report is not None:
        from orchestrator.reporting.timeline import render_svg

        written &= _write(timeline, render_svg(result.report), "timeline")
    if html is not None and result.report is not None:
        from orchestrator.reporting.html import render_html

        written &= _write(html, render_html(result.report), "evidence report")
    return result.exit_code if written else max(result.exit_code, EXIT_FAILED)


def _too_large(message: str) -> str:
    """Why an inline StartPlan was not sent, and what to do instead."""
    return (
        f"the StartPlan was not published: {message}; nothing was started. A plan this large travels as a stored "
        "plan: drs-orch run PLAN --push (--aws: it pushes the plan to the stack's plan store and starts it by "
        "reference), or drs-orch plan push PLAN --aws, then drs-orch run --plan-ref ID:VERSION --aws"
    )


def _publish_aws(plan: Plan | PlanRef, mode: Mode, bus: str, region: str | None, endpoint: OperatorEndpoint) -> int:
    """A DRILL's StartPlan put on the deployed bus (PutEvents: the bus policy admits its publishers); a
    RECOVERY's sent through the operator endpoint, which starts it only for a verified recovery principal. `plan`:
    the plan itself (carried inline), or a stored plan's version (named by planRef)."""
    from events.models import PlanRef as StoredRef
    from events.models import StartPlan
    from localcloud.runner import new_execution_id
    from orchestrator.domain.plan import plan_to_document

    execution_id = new_execution_id(plan.plan_id)
    what: dict[str, Any]
    if isinstance(plan, Plan):
        what = {"plan": plan_to_document(plan)}
    elif plan.version is None:  # the CLI resolves the latest version before it publishes
        raise ValueError(f"stored plan {plan.plan_id}: no version to start")
    else:
        what = {"plan_ref": StoredRef(plan_id=plan.plan_id, version=plan.version)}
    start = StartPlan(
        **what,
        execution_id=execution_id,
        mode=mode,
        requested_by=getpass.getuser(),
        confirm_recovery=plan.plan_id if mode is Mode.RECOVERY else None,
    )
    if mode is Mode.RECOVERY:
        return _send_to_operator(start, endpoint, region=region, refused_exit=2)
    refused = _put_event(start, bus=bus, region=region)
    if refused is not None:
        err.print(f"[red]{escape(refused)}[/red]", highlight=False)
        return 1
    named = "" if isinstance(plan, Plan) else f" of stored plan {escape(str(plan))}"
    console.print(
        f"StartPlan published to {escape(bus)}: execution [bold]{escape(execution_id)}[/bold] ({mode.value}){named}",
        highlight=False,
    )
    return 0


@dataclass(frozen=True)
class OperatorEndpoint:
    """Where the operator endpoint is: `url` (--operator-url), else the `OperatorUrl` output of `stack`."""

    url: str | None = None
    stack: str = "DrsOrchestrator"


def _send_to_operator(command: Contract, endpoint: OperatorEndpoint, *, region: str | None, refused_exit: int) -> int:
    """POST `command` (its requestedBy left out: the endpoint writes the caller's verified ARN) to the operator
    URL, signed with SigV4. 0 when published; `refused_exit` when the operator function refused it (its reason
    printed); 2 when the URL answered otherwise (IAM refused the signature or the caller: HTTP 403 Forbidden)."""
    from drs_orch import operator_client

    detail = {key: value for key, value in command.to_detail().items() if key != "requestedBy"}
    try:
        url = operator_client.operator_url(endpoint.url, stack=endpoint.stack, region=region)
    except operator_client.OperatorUnavailable as exc:
        err.print(f"[red]{escape(str(exc))}; nothing was sent[/red]", highlight=False, soft_wrap=True)
        return 2
    answer = operator_client.send(url, command.DETAIL_TYPE, detail, region=region)
    if answer.accepted:
        console.print(
            _shown(
                f"{command.DETAIL_TYPE} published by the operator endpoint for execution "
                f"{answer.body.get('executionId')} as {answer.body.get('requestedBy')}"
            ),
            highlight=False,
            soft_wrap=True,
        )
        return 0
    if answer.refused_by_the_function:
        err.print(f"[red]{_shown(f'{command.DETAIL_TYPE} rejected: {answer.reason}')}[/red]", highlight=False)
        return refused_exit
    err.print(
        f"[red]{_shown(f'the operator URL answered HTTP {answer.status}: {answer.reason}')} (nothing was "
        "published: check your credentials and that your role may call the URL, lambda:InvokeFunctionUrl)[/red]",
        highlight=False,
        soft_wrap=True,
    )
    return 2


def _put_event(event: Contract, *, bus: str, region: str | None) -> str | None:
    """Publish `event` on the deployed bus `bus`, its entry built as every function builds its own
    (`put_events_entry`); None when EventBridge took it, else why not."""
    import boto3

    from events.envelope import EventTooLarge, put_events_entry

    try:
        entry = put_events_entry(event, bus)
    except EventTooLarge as exc:  # over PutEvents' size limit: nothing is sent
        return (
            _too_large(str(exc))
            if event.DETAIL_TYPE == "StartPlan"
            else f"the {event.DETAIL_TYPE} was not published: {exc}"
        )
    except ValueError as exc:  # no bus name: nothing is sent
        return f"the {event.DETAIL_TYPE} was not published: {exc}"
    response = boto3.client("events", region_name=region).put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        return f"PutEvents refused the {event.DETAIL_TYPE}: {response['Entries'][0].get('ErrorMessage')}"
    return None


OperatorUrl = Annotated[
    str | None,
    typer.Option(
        "--operator-url",
        envvar="DRS_ORCH_OPERATOR_URL",
        help="--aws: the operator endpoint (stack output OperatorUrl; default: read from --stack)",
    ),
]
Stack = Annotated[str, typer.Option(help="--aws: the stack whose OperatorUrl output to use")]
As = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="local runs only: who you are (a session name of the local role, or an IAM ARN such as an "
        "approver's session); default: your login name. On AWS, your credentials say who you are",
    ),
]

HtmlOption = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE.html",
        help="write the evidence report here: one self-contained HTML page (summary, dependency graph, timeline, "
        "every wave's servers, jobs, scripts, approvals and decisions, the event log; the JSON report's SHA-256)",
    ),
]

LogLevel = Annotated[
    str | None,
    typer.Option(
        help="level of the local run's log file (DEBUG, INFO, WARNING, ERROR; default: $DRS_ORCH_LOG_LEVEL, "
        "else INFO); the file is drs-orch-EXECUTION.log in $DRS_ORCH_LOG_DIR, else the temporary directory"
    ),
]


@app.command()
def run(
    plan_file: Annotated[
        Path | None, typer.Argument(metavar="[PLAN]", help="recovery plan, YAML or JSON (or --plan-ref)")
    ] = None,
    drill: Annotated[bool, typer.Option("--drill", help="launch drill instances (the default)")] = False,
    recovery: Annotated[bool, typer.Option("--recovery", help="a real failover (needs --confirm)")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="confirm a --recovery run")] = False,
    sim: Annotated[Path | None, typer.Option(help="simulation profile (YAML)")] = None,
    speed: Annotated[float | None, typer.Option(help="simulated seconds per real second")] = None,
    pace: Annotated[
        bool | None, typer.Option("--pace/--no-pace", help="wait out idle time at --speed instead of skipping it")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="write the execution report (JSON) here")] = None,
    timeline: Annotated[Path | None, typer.Option(help="draw the execution as a timeline (SVG) here")] = None,
    html: HtmlOption = None,
    aws: Annotated[
        bool,
        typer.Option(
            "--aws", help="start it on a deployed stack: a drill on its bus, a recovery through its operator URL"
        ),
    ] = False,
    bus: Annotated[str, typer.Option(help="event bus name for --aws")] = "drs-orchestrator",
    region: Annotated[str | None, typer.Option(help="AWS region for --aws")] = None,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    as_: As = None,
    timeout: Annotated[float, typer.Option(min=1, help="give up after this many real seconds")] = 600.0,
    linger: Annotated[
        float,
        typer.Option(
            min=0, help="after the plan ends, keep taking control commands (retry, skip) for this many real seconds"
        ),
    ] = 0.0,
    log_level: LogLevel = None,
    plan_ref: Annotated[
        str | None,
        typer.Option(
            "--plan-ref",
            metavar="ID[:VERSION]",
            help="--aws: start a stored plan's version (drs-orch plan push) instead of a file; a drill without "
            "VERSION runs the latest, a --recovery names its version",
        ),
    ] = None,
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="push PLAN to the plan store (the stack's with --aws, else the local run's) and start it by "
            "reference: for a plan too large for an event (256 KB)",
        ),
    ] = False,
    bucket: stored_plan_verbs.Bucket = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            metavar="EXPRESSION",
            help="do not run: check PLAN and show the next five run times of this EventBridge Scheduler cron(...) "
            "or rate(...) expression (a scheduled drill: deploy setting drillSchedules)",
        ),
    ] = None,
    timezone: schedule_verb.Timezone = "UTC",
    from_: schedule_verb.From = None,
) -> None:
    """Run a recovery plan: on the embedded local cloud, or on AWS with --aws.

    A local run takes operator commands on a control socket while it runs: `drs-orch approve EXECUTION
    --wave W` (and deny, pause, resume, cancel, retry, skip, inspect) from another shell."""
    if aws and (report or timeline or html or sim):
        err.print(
            "[red]--report, --timeline, --html and --sim apply to a local run: a run on AWS is recorded in the "
            "ledger (drs-orch report EXECUTION --table <LedgerTableName>)[/red]"
        )
        raise typer.Exit(2)
    _local_identity(as_, aws)
    if schedule is not None:
        if recovery or aws or plan_ref is not None:
            err.print(
                "[red]--schedule shows a scheduled drill's run times (a schedule is always a drill): a PLAN file, "
                "no --recovery, --aws or --plan-ref; nothing was started[/red]"
            )
            raise typer.Exit(2)
        if plan_file is not None:
            _load(plan_file)
        raise typer.Exit(schedule_verb.show(schedule, timezone, schedule_verb.moment(from_)))
    mode = _mode(drill, recovery, confirm)
    if plan_ref is not None:
        raise typer.Exit(
            _run_stored(
                plan_file,
                plan_ref,
                push,
                aws=aws,
                mode=mode,
                bucket=bucket,
                stack=stack,
                region=region,
                bus=bus,
                endpoint=OperatorEndpoint(operator_url, stack),
            )
        )
    if plan_file is None:
        err.print("[red]give a PLAN file, or --plan-ref ID[:VERSION] for a stored plan (--aws)[/red]")
        raise typer.Exit(2)
    plan = _load(plan_file)
    if aws:
        endpoint = OperatorEndpoint(operator_url, stack)
        if push:
            pushed = stored_plan_verbs.push_file(
                plan_file, lambda: stored_plan_verbs.store_of(bucket, stack=stack, region=region)
            )
            raise typer.Exit(_publish_aws(PlanRef(pushed.plan_id, pushed.version), mode, bus, region, endpoint))
        raise typer.Exit(_publish_aws(plan, mode, bus, region, endpoint))
    raise typer.Exit(
        _run_local(
            plan,
            mode,
            sim=sim,
            speed=speed,
            pace=pace,
            report=report,
            timeout=timeout,
            linger=linger,
            timeline=timeline,
            level=log_level,
            caller=as_,
            html=html,
            stored=push,
        )
    )


def _run_stored(
    plan_file: Path | None,
    ref_text: str,
    push: bool,
    *,
    aws: bool,
    mode: Mode,
    bucket: str | None,
    stack: str,
    region: str | None,
    bus: str,
    endpoint: OperatorEndpoint,
) -> int:
    """`run --plan-ref ID[:VERSION] --aws`: start a stored version. A DRILL without a version runs the latest; a
    RECOVERY must name its version (a failover runs what was reviewed, not whatever was pushed last). The version
    must exist (HeadObject, its digest printed) before anything is published."""
    if plan_file is not None or push:
        err.print("[red]--plan-ref starts a stored plan: give no PLAN file and no --push with it[/red]")
        return 2
    if not aws:
        err.print(
            "[red]--plan-ref names a plan of a deployed stack's plan store (--aws); a local run starts from a file: "
            "drs-orch run PLAN --push stores it in the local run's own plan store first[/red]"
        )
        return 2
    ref = stored_plan_verbs.parsed_ref(ref_text, "--plan-ref")
    store = stored_plan_verbs.store_of(bucket, stack=stack, region=region)
    if ref.version is None and mode is Mode.RECOVERY:
        latest = store.latest(ref.plan_id)
        err.print(
            f"[red]a RECOVERY names the version it runs: --plan-ref {escape(ref.plan_id)}:VERSION"
            + (f" (the latest is {latest}: drs-orch plan show {escape(ref.plan_id)}:{latest} --aws)" if latest else "")
            + "; nothing was started[/red]"
        )
        return 2
    ref = stored_plan_verbs.resolve(store, ref)
    assert ref.version is not None
    sha = store.digest_of(ref.plan_id, ref.version)
    if sha is None:
        from orchestrator.domain.stored_plans import UnknownStoredPlan

        latest = store.latest(ref.plan_id)
        err.print(f"[red]{escape(str(UnknownStoredPlan(ref.plan_id, ref.version, latest)))}; nothing was started[/red]")
        return 2
    console.print(f"stored plan {escape(str(ref))} (sha256 {sha})", highlight=False)
    return _publish_aws(ref, mode, bus, region, endpoint)


@app.command()
def demo(
    report: Annotated[Path | None, typer.Option(help="write the execution report (JSON) here")] = None,
    timeline: Annotated[Path | None, typer.Option(help="draw the execution as a timeline (SVG) here")] = None,
    html: HtmlOption = None,
    log_level: LogLevel = None,
) -> None:
    """Run the three-tier example drill on the local cloud with a fast simulated clock."""
    plan = _load(EXAMPLES / "three-tier.yaml")
    console.print(
        Panel(
            "Three-tier drill on the embedded local cloud: DynamoDB, EventBridge, Step Functions "
            "and Scheduler from moto; DRS from our simulator. 1 real second = 60 simulated.",
            border_style="cyan",
        )
    )
    code = _run_local(
        plan,
        Mode.DRILL,
        sim=EXAMPLES / "profiles" / "demo.yaml",
        speed=None,
        pace=None,
        report=report,
        timeout=120,
        timeline=timeline,
        level=log_level,
        html=html,
    )
    raise typer.Exit(code)


@app.command("timeline")
def timeline_command(
    report_file: Annotated[
        Path, typer.Argument(metavar="REPORT", help="an execution report (JSON) written by run or demo --report")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="OUT.svg", help="where to write the SVG (default: REPORT with .svg)"),
    ] = None,
) -> None:
    """Draw an execution report as a timeline (SVG): per wave its phases, dependencies and outcome.

    Open the picture in a browser: every bar and marker has a tooltip with its times."""
    from orchestrator.reporting.timeline import ReportError, render_svg

    def fail(message: str) -> typer.Exit:
        one_line = message.replace("\r", " ").replace("\n", " ")
        err.print(f"[red]{escape(one_line)}[/red]", highlight=False, soft_wrap=True)
        return typer.Exit(2)

    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"{report_file}: no such file") from None
    except OSError as exc:
        raise fail(f"{report_file}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise fail(f"{report_file}: not a text file (expected an execution report in JSON)") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{report_file}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise fail(f"{report_file}: not an execution report: JSON nested too deeply") from None
    try:
        svg = render_svg(report)
    except ReportError as exc:
        raise fail(f"{report_file}: {exc}") from None
    out = output or report_file.with_suffix(".svg")
    try:
        out.write_text(svg, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{out}: cannot write: {exc.strerror or exc}") from None
    console.print(f"timeline written to {escape(str(out))}", highlight=False, soft_wrap=True)


# ---- operating an execution: local (the control socket of `drs-orch run`) or on AWS (the operator URL) ----

Execution = Annotated[str, typer.Argument(metavar="EXECUTION", help="execution id")]
WaveOpt = Annotated[str, typer.Option("--wave", help="wave id")]
Aws = Annotated[
    bool, typer.Option("--aws", help="send it to a deployed stack's operator URL (SigV4) instead of a local run")
]
Bus = Annotated[str, typer.Option(help="event bus name for --aws")]
Region = Annotated[str | None, typer.Option(help="AWS region for --aws")]


def _send_control(
    detail_type: str,
    execution_id: str,
    extra: dict[str, Any],
    *,
    as_: str | None,
    aws: bool,
    endpoint: OperatorEndpoint,
    region: str | None,
) -> int:
    """Send an operator command: with --aws to the stack's operator URL, signed with your credentials (who you
    are is what AWS authenticates); else to the local run's control socket, as the local caller `--as`."""
    from pydantic import ValidationError

    from events.models import BY_DETAIL_TYPE

    _local_identity(as_, aws)
    try:
        event = BY_DETAIL_TYPE[detail_type].model_validate({"executionId": execution_id, **extra})
    except ValidationError as exc:
        err.print(
            f"[red]invalid {detail_type}: {escape(exc.errors(include_url=False)[0]['msg'])}[/red]", highlight=False
        )
        return 2
    if aws:
        return _send_to_operator(event, endpoint, region=region, refused_exit=1)
    from localcloud.control_socket import ControlUnavailable, send, socket_path
    from localcloud.operators import local_caller

    detail = {key: value for key, value in event.to_detail().items() if key != "requestedBy"}
    request = {"op": "command", "detailType": detail_type, "detail": detail, "as": local_caller(as_)}
    try:
        answer = send(socket_path(execution_id), request)
    except ControlUnavailable as exc:
        err.print(
            f"[red]{escape(str(exc))}: start it with drs-orch run, or use --aws for a deployed stack[/red]",
            highlight=False,
        )
        return 2
    if not answer.get("ok"):
        err.print(f"[red]{detail_type} rejected: {_shown(answer.get('reason'))}[/red]", highlight=False)
        return 1
    waves = ", ".join(f"{w} {s}" for w, s in answer.get("waves", {}).items())
    console.print(_shown(f"{detail_type} applied: execution {answer.get('status')} ({waves})"), highlight=False)
    return 0


def _local_identity(as_: str | None, aws: bool) -> None:
    """--as names who you are on the local cloud only: on AWS you are who your credentials say (exit 2)."""
    if as_ is not None and aws:
        err.print(
            "[red]--as applies to a local run: with --aws the operator endpoint records the identity AWS "
            "authenticates from your credentials (use a profile or role for another identity)[/red]"
        )
        raise typer.Exit(2)


@app.command()
def approve(
    execution: Execution,
    wave: WaveOpt,
    comment: Annotated[str | None, typer.Option()] = None,
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Approve a wave waiting at its approval gate (ApprovalGranted): only one of its approvers may."""
    raise typer.Exit(
        _send_control(
            "ApprovalGranted",
            execution,
            {"waveId": wave, "comment": comment},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
        )
    )


@app.command()
def deny(
    execution: Execution,
    wave: WaveOpt,
    reason: Annotated[str, typer.Option()] = "denied",
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Deny a wave's approval: the wave fails and its onFailure policy applies (ApprovalDenied)."""
    raise typer.Exit(
        _send_control(
            "ApprovalDenied",
            execution,
            {"waveId": wave, "reason": reason},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
        )
    )


@app.command()
def pause(
    execution: Execution,
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Release no new wave; running waves finish (PausePlan)."""
    endpoint = OperatorEndpoint(operator_url, stack)
    raise typer.Exit(_send_control("PausePlan", execution, {}, as_=as_, aws=aws, endpoint=endpoint, region=region))


@app.command()
def resume(
    execution: Execution,
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Release what became due while the plan was paused (ResumePlan)."""
    endpoint = OperatorEndpoint(operator_url, stack)
    raise typer.Exit(_send_control("ResumePlan", execution, {}, as_=as_, aws=aws, endpoint=endpoint, region=region))


@app.command()
def cancel(
    execution: Execution,
    terminate_drill_instances: Annotated[
        bool,
        typer.Option(
            "--terminate-drill-instances",
            help="also terminate the drill instances: those up now and those still launching",
        ),
    ] = False,
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Start nothing new, let running jobs finish, end CANCELLED (CancelPlan)."""
    raise typer.Exit(
        _send_control(
            "CancelPlan",
            execution,
            {"terminateDrillInstances": terminate_drill_instances},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
        )
    )


@app.command()
def retry(
    execution: Execution,
    wave: WaveOpt,
    all_servers: Annotated[bool, typer.Option("--all", help="relaunch every server, not only the failed")] = False,
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Run a FAILED wave again: its servers that did not launch (RetryWave)."""
    raise typer.Exit(
        _send_control(
            "RetryWave",
            execution,
            {"waveId": wave, "allServers": all_servers},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
        )
    )


@app.command()
def skip(
    execution: Execution,
    wave: WaveOpt,
    reason: Annotated[str, typer.Option()] = "skipped by operator",
    as_: As = None,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Mark a FAILED or not yet started wave SKIPPED and release its dependents (SkipWave)."""
    raise typer.Exit(
        _send_control(
            "SkipWave",
            execution,
            {"waveId": wave, "reason": reason},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
        )
    )


def _when(value: str | None, option: str) -> Any:
    """`value` as an aware datetime (UTC when it names no zone); typer.BadParameter (exit 2) when it is not
    ISO 8601."""
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time (e.g. 2026-11-30T20:12:40Z)", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def inspect(
    execution: Execution,
    from_: Annotated[str | None, typer.Option("--from", help="replay from (ISO 8601; default: a day ago)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="replay to (ISO 8601; default: now)")] = None,
    aws: Aws = False,
    bus: Bus = "drs-orchestrator",
    region: Region = None,
    archive: Annotated[str | None, typer.Option(help="the bus archive (stack output ArchiveName), for --aws")] = None,
    table: Annotated[
        str | None, typer.Option(help="the ledger table (stack output LedgerTableName), for --aws")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
    settle: Annotated[
        float, typer.Option(help="--aws: seconds without a delivery before the replay is read as complete")
    ] = 5.0,
) -> None:
    """Replay the execution's archived events, rebuild it from them and compare with the ledger.
    Exits 0 when they agree, 1 on any difference."""
    from datetime import UTC, datetime, timedelta

    start, end = _when(from_, "--from"), _when(to, "--to")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(f"--from {from_} is not before --to {to}", param_hint="--from")
    if aws:
        import boto3

        from orchestrator.reporting.inspect import inspect_events, replay_archive

        if not archive:
            err.print("[red]--aws needs --archive (the stack output ArchiveName)[/red]")
            raise typer.Exit(2)
        session = boto3.session.Session(region_name=region)
        now = datetime.now(UTC)
        events = replay_archive(
            session.client("events"),
            session.client("sqs"),
            bus_name=bus,
            archive_name=archive,
            start=start or now - timedelta(days=1),
            end=end or now,
            execution_id=execution,
            quiet_seconds=settle,
        )
        ledger = None
        if table:
            from orchestrator.adapters.ledger import Ledger
            from orchestrator.domain.clock import SystemClock

            ledger = Ledger(session.resource("dynamodb").Table(table), SystemClock())
        result = inspect_events(events, ledger, execution)
        if ledger is None:
            result["differences"] = []
    else:
        from localcloud.control_socket import ControlUnavailable, send, socket_path

        try:
            result = send(socket_path(execution), {"op": "inspect", "from": from_, "to": to})
        except ControlUnavailable as exc:
            err.print(
                f"[red]{escape(str(exc))}: inspect needs a running drs-orch run (or --aws)[/red]", highlight=False
            )
            raise typer.Exit(2) from None
        if not result.get("ok"):
            err.print(f"[red]inspect failed: {_shown(result.get('reason'))}[/red]", highlight=False)
            raise typer.Exit(1)
    if as_json:  # \u-escaped: valid JSON, and no control character (C1 included) reaches the terminal
        console.print_json(json.dumps(result), ensure_ascii=True)
    else:
        rebuilt = result["rebuilt"]
        grid = Table(title=_shown(f"{execution}: {rebuilt['status']} from {result['events']} replayed event(s)"))
        for column in ("wave", "status", "attempt", "servers launched", "first event", "last event"):
            grid.add_column(column)
        for wave_id, wave in rebuilt["waves"].items():
            grid.add_row(
                Text(inert(wave_id)),
                Text(inert(str(wave["status"]))),
                str(wave["attempt"]),
                str(len(wave["serversLaunched"])),
                _short(wave.get("firstAt")),
                _short(wave.get("lastAt")),
            )
        console.print(grid)
        for difference in result["differences"]:
            console.print(f"[red]≠ {_shown(difference)}[/red]", highlight=False)
        if result.get("ledger") is not None and not result["differences"]:
            console.print("[green]the events and the ledger agree[/green]")
    raise typer.Exit(1 if result["differences"] else 0)
