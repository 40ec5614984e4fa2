"""`drs-orch`: validate and show plans, run them on the embedded local cloud, or start them on AWS."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from drs_orch import (
    cleanup_verb,
    control,
    extend_verb,
    native_verbs,
    plan_verbs,
    report_verb,
    schedule_verb,
    stored_plan_verbs,
)
from drs_orch.errors import EXIT_FAILED, GuardedGroup, log_dir, log_level, run_log, write_traceback
from drs_orch.failback_local import FailbackRun, fail_back, reprotect_table
from drs_orch.live_view import LiveView, short_time, summary
from drs_orch.ui import cli as ui_cli
from events.models import Contract, Mode
from orchestrator.domain.plan import Plan, PlanError, load_plan
from orchestrator.domain.stored_plans import PlanRef
from orchestrator.domain.untrusted import inert

if TYPE_CHECKING:
    import socket

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
extend_verb.register(app)
stored_plan_verbs.register(app)
schedule_verb.register(app)
ui_cli.register(app)
console = Console()
err = Console(stderr=True)

# Package data (pyproject.toml): the demo runs from an installed wheel, outside any checkout.
EXAMPLES = Path(__file__).resolve().parent / "examples"


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
    ui_port: int | None = None,
    failback: FailbackRun | None = None,
    failback_report: Path | None = None,
) -> int:
    """Run `plan` on the local cloud with the live table (and, with `ui_port`, the dashboard on 127.0.0.1); with
    `failback`, a completed recovery is then failed back in the same local cloud (`drs_orch.failback_local`)."""
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
        ui_cli.reserved(ui_port) as listening,  # first: a taken port is Exit(2) before anything starts
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
        with (
            _dashboard(cloud, execution_id, caller, listening) as refresh_ui,
            LiveView(console, cloud, execution_id, plan) as view,
        ):

            def refresh() -> None:
                refresh_ui()
                view.refresh()

            result = run_session(cloud, execution_id, server, timeout=timeout, linger=linger, on_progress=refresh)
        traceback_in = write_traceback(result.error, log) if result.error is not None else None
        back = _fail_back_local(cloud, server, result, plan, caller=caller, timeout=timeout, options=failback)
    console.print(summary(result))
    if traceback_in is not None:
        err.print(f"[red]the traceback is in {escape(str(traceback_in))}[/red]", highlight=False, soft_wrap=True)
    written = _write_outputs(result, report=report, timeline=timeline, html=html)
    if back is not None:
        written &= _show_failback(back, failback_report)
        return max(result.exit_code, back.exit_code) if written else EXIT_FAILED
    return result.exit_code if written else max(result.exit_code, EXIT_FAILED)


def _write_outputs(result: RunResult, *, report: Path | None, timeline: Path | None, html: Path | None) -> bool:
    """The run's report (JSON), timeline (SVG) and evidence report (HTML) where asked: whether all were written."""
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
    return written


def _failback_run(
    failback: bool, reprotect: bool | None, failback_report: Path | None, *, mode: Mode, aws: bool
) -> FailbackRun | None:
    """`run --failback [--reprotect] [--failback-report]`: what to do after the recovery (None: no failback); exit 2
    when they do not go with this run (not a local --recovery, or --reprotect/--failback-report alone)."""
    if (failback or reprotect is not None or failback_report) and (mode is not Mode.RECOVERY or aws):
        err.print(
            "[red]--failback (--reprotect, --failback-report) follows a local --recovery run; on AWS fail back a "
            "completed recovery with drs-orch failback EXECUTION --confirm PLAN --aws[/red]"
        )
        raise typer.Exit(2)
    if (reprotect is not None or failback_report) and not failback:
        err.print("[red]--reprotect and --failback-report go with --failback[/red]")
        raise typer.Exit(2)
    return FailbackRun(reprotect=reprotect) if failback else None


def _fail_back_local(
    cloud: LocalCloud,
    server: Any,
    result: RunResult,
    plan: Plan,
    *,
    caller: str | None,
    timeout: float,
    options: FailbackRun | None,
) -> RunResult | None:
    """`run --failback`: the failback of the completed recovery `result` (None without --failback); a recovery that
    did not complete is not failed back (said why)."""
    if options is None:
        return None
    if result.status != "COMPLETED":
        err.print(f"[red]the recovery is {result.status}, not COMPLETED: no failback was started[/red]")
        return None
    return fail_back(
        console,
        cloud,
        server,
        result,
        plan_id=plan.plan_id,
        caller=caller or getpass.getuser(),
        timeout=timeout,
        options=options,
    )


def _show_failback(back: RunResult, report: Path | None) -> bool:
    """The failback's summary (its reprotect's table) and report (`--failback-report`): whether it was written."""
    if back.status == "REJECTED":
        err.print(f"[red]Failback refused: {_shown(str(back.problem))}[/red]", highlight=False, soft_wrap=True)
        return True
    console.print(summary(back))
    table = reprotect_table(back.report)
    if table is not None:
        console.print(table)
    if report is not None and back.report is not None:
        from orchestrator.reporting.report import report_json

        return _write(report, report_json(back.report), "failback report")
    return True


def _dashboard(
    cloud: LocalCloud, execution_id: str, caller: str | None, listening: socket.socket | None
) -> AbstractContextManager[Callable[[], None]]:
    """`run --ui`/`demo --ui`: the dashboard of the run on its reserved socket while it lasts (its refresh, for the
    loop thread); without --ui, a refresh that does nothing."""
    if listening is None:
        return nullcontext(lambda: None)
    return ui_cli.local_dashboard(cloud, execution_id, caller=caller, listening=listening)


def _ui_port(ui: bool, ui_port: int | None) -> int | None:
    """The dashboard's port of `--ui`/`--ui-port` (`--ui-port N` implies --ui; --ui alone: 0, a free port), or None
    without a dashboard."""
    if ui_port is not None:
        return ui_port
    return 0 if ui else None


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
    outcome = control.send_aws(command, url=endpoint.url, stack=endpoint.stack, region=region)
    if outcome.applied:
        console.print(
            _shown(
                f"{command.DETAIL_TYPE} published by the operator endpoint for execution "
                f"{outcome.answer.get('executionId')} as {outcome.answer.get('requestedBy')}"
            ),
            highlight=False,
            soft_wrap=True,
        )
        return 0
    if outcome.sent is control.Sent.REJECTED:
        err.print(f"[red]{_shown(f'{command.DETAIL_TYPE} rejected: {outcome.reason}')}[/red]", highlight=False)
        return refused_exit
    if outcome.http_status is not None:
        err.print(
            f"[red]{_shown(outcome.reason)} (nothing was published: check your credentials and that your role may "
            "call the URL, lambda:InvokeFunctionUrl)[/red]",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    err.print(f"[red]{escape(outcome.reason)}; nothing was sent[/red]", highlight=False, soft_wrap=True)
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

UiOption = Annotated[
    bool,
    typer.Option(
        "--ui",
        help="serve the live dashboard of the run on 127.0.0.1 while it runs (its URL is printed; --linger keeps it "
        "up after the end)",
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
    ui: UiOption = False,
    ui_port: ui_cli.Port = None,
    failback: Annotated[
        bool,
        typer.Option(
            "--failback",
            help="local --recovery only: once the recovery completed, fail it back (same local cloud, same plan)",
        ),
    ] = False,
    reprotect: Annotated[
        bool | None,
        typer.Option(
            "--reprotect/--no-reprotect",
            help="with --failback: protect the servers again in the original direction once failed back (default: "
            "the plan's failback.reprotect)",
        ),
    ] = None,
    failback_report: Annotated[
        Path | None, typer.Option(help="with --failback: write the failback execution's report (JSON) here")
    ] = None,
) -> None:
    """Run a recovery plan: on the embedded local cloud, or on AWS with --aws.

    A local run takes operator commands on a control socket while it runs: `drs-orch approve EXECUTION
    --wave W` (and deny, pause, resume, cancel, retry, skip, inspect) from another shell."""
    if aws and (ui or ui_port is not None):
        err.print(
            "[red]--ui and --ui-port serve a local run's dashboard; a deployed stack's: drs-orch ui --aws --table "
            "<LedgerTableName>[/red]"
        )
        raise typer.Exit(2)
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
    after = _failback_run(failback, reprotect, failback_report, mode=mode, aws=aws)
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
            ui_port=_ui_port(ui, ui_port),
            failback=after,
            failback_report=failback_report,
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
    ui: UiOption = False,
    ui_port: ui_cli.Port = None,
    linger: Annotated[
        float,
        typer.Option(min=0, help="after the plan ends, keep the run (and its --ui dashboard) up this many seconds"),
    ] = 0.0,
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
        linger=linger,
        ui_port=_ui_port(ui, ui_port),
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
    applied: Callable[[dict[str, Any] | None], None] | None = None,
) -> int:
    """Send an operator command: with --aws to the stack's operator URL, signed with your credentials (who you
    are is what AWS authenticates); else to the local run's control socket, as the local caller `--as`
    (`drs_orch.control`, the path the dashboard's buttons take too). `applied`: called once the command was
    applied, with the local run's answer (None with --aws: the operator URL only publishes it)."""
    _local_identity(as_, aws)
    try:
        event = control.command_event(detail_type, execution_id, extra)
    except control.CommandInvalid as exc:
        err.print(f"[red]invalid {detail_type}: {escape(str(exc))}[/red]", highlight=False)
        return 2
    if aws:
        code = _send_to_operator(event, endpoint, region=region, refused_exit=1)
        if code == 0 and applied is not None:
            applied(None)
        return code
    outcome = control.send_local(event, as_=as_)
    if outcome.sent is control.Sent.UNAVAILABLE:
        err.print(
            f"[red]{escape(outcome.reason)}: start it with drs-orch run, or use --aws for a deployed stack[/red]",
            highlight=False,
        )
        return 2
    if not outcome.applied:
        err.print(f"[red]{detail_type} rejected: {_shown(outcome.reason)}[/red]", highlight=False)
        return 1
    answer = outcome.answer
    waves = ", ".join(f"{w} {s}" for w, s in answer.get("waves", {}).items())
    console.print(_shown(f"{detail_type} applied: execution {answer.get('status')} ({waves})"), highlight=False)
    if applied is not None:
        applied(answer)
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
    reason: Annotated[
        str, typer.Option(help="why (required, not blank): the approval's audit record and the report keep it")
    ],
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
    """Start nothing new, let running jobs finish, end CANCELLED (CancelPlan). Returns once the cancel is applied
    (local) or published (--aws); with --terminate-drill-instances it then says what DRS was asked to terminate so
    far and what is left to the orchestrator: it does not wait for the terminations."""
    raise typer.Exit(
        _send_control(
            "CancelPlan",
            execution,
            {"terminateDrillInstances": terminate_drill_instances},
            as_=as_,
            aws=aws,
            endpoint=OperatorEndpoint(operator_url, stack),
            region=region,
            applied=(lambda answer: _termination_note(execution, answer)) if terminate_drill_instances else None,
        )
    )


def _termination_note(execution: str, answer: dict[str, Any] | None) -> None:
    """After a cancel with --terminate-drill-instances: exactly what was asked of DRS so far (`answer`: the local
    run's, with its CANCEL `terminations`; None with --aws, whose operator URL only publishes the command), what
    the orchestrator still does, and where to see how it ended. This command does not wait for any of it."""
    if answer is None:
        console.print(
            "the control function terminates the drill's recovery instances that are up when it takes the cancel, "
            "and those the running jobs still launch once the plan has ended; this command does not wait for them",
            highlight=False,
            soft_wrap=True,
        )
    else:
        asked = [t for t in answer.get("terminations") or [] if isinstance(t, dict)]
        instances = sorted({str(i) for t in asked for i in t.get("recoveryInstanceIds") or []})
        jobs = sorted({str(j) for t in asked for j in t.get("jobIds") or []})
        now = (
            f"asked DRS to terminate {len(instances)} recovery instance(s) now: {', '.join(instances)} "
            f"(terminate job(s) {', '.join(jobs) or 'not started yet: no DRS capacity, retried on a tick'})"
            if instances
            else "no recovery instance of the drill was up to terminate now"
        )
        console.print(
            _shown(f"{now}; those the running jobs still launch are terminated once the plan has ended"),
            highlight=False,
            soft_wrap=True,
        )
    where = f"drs-orch report {execution} --region ..." if answer is None else "the report of drs-orch run --report"
    console.print(
        _shown(
            "this command does not wait for the terminations: what each terminated, and what not with DRS's reason, "
            f"is in the report's terminations ({where})"
        ),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def failback(
    execution: Execution,
    confirm: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            metavar="PLAN_ID",
            help="a real failback moves production back: confirm it with the plan's id (not needed for --drill)",
        ),
    ] = None,
    drill: Annotated[
        bool, typer.Option("--drill", help="a failback drill (EC2 origins only): nothing moves for real")
    ] = False,
    reprotect: Annotated[
        bool | None,
        typer.Option("--reprotect/--no-reprotect", help="reprotect once failed back (default: the plan's)"),
    ] = None,
    failback_execution_id: Annotated[
        str | None, typer.Option(help="the failback execution's id (default: failback-EXECUTION)")
    ] = None,
    aws: Aws = False,
    bus: Bus = "drs-orchestrator",
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Fail back a completed RECOVERY execution with the same plan: a FAILBACK execution (Failback)."""
    from pydantic import ValidationError

    from events.models import Failback

    if not aws:
        err.print(
            "[red]the local cloud lives as long as one run: fail a local recovery back in the same run, drs-orch run "
            "PLAN --recovery --confirm --failback [--reprotect]; on AWS add --aws[/red]"
        )
        raise typer.Exit(2)
    if not drill and confirm is None:
        err.print("[red]a failback moves production back: --confirm PLAN_ID (the plan's id), or --drill[/red]")
        raise typer.Exit(2)
    try:
        command = Failback(
            execution_id=execution,
            confirm_failback=None if drill else confirm,
            drill=drill,
            reprotect=reprotect,
            failback_execution_id=failback_execution_id,
            requested_by=getpass.getuser(),
        )
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        names = {
            "executionId": "EXECUTION",
            "failbackExecutionId": "--failback-execution-id",
            "confirmFailback": "--confirm",
        }
        field = str(error["loc"][0]) if error["loc"] else ""
        err.print(f"[red]invalid Failback: {escape(names.get(field, field))}: {escape(str(error['msg']))}[/red]")
        raise typer.Exit(2) from None
    if not drill:
        raise typer.Exit(
            _send_to_operator(command, OperatorEndpoint(operator_url, stack), region=region, refused_exit=1)
        )
    refused = _put_event(command, bus=bus, region=region)
    if refused is not None:
        err.print(f"[red]{escape(refused)}[/red]", highlight=False)
        raise typer.Exit(1)
    console.print(f"Failback (drill) published to {escape(bus)} for execution {escape(execution)}", highlight=False)


@app.command()
def reprotect(
    execution: Execution,
    terminate_recovery_instances: Annotated[
        bool,
        typer.Option(
            "--terminate-recovery-instances",
            help="also terminate the recovery side's instances (the RECOVERY execution's): a recovery principal only",
        ),
    ] = False,
    aws: Aws = False,
    operator_url: OperatorUrl = None,
    stack: Stack = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Protect a completed failback's servers again in the original direction (Reprotect)."""
    from events.models import Reprotect

    if not aws:
        err.print(
            "[red]a local failback reprotects in the same run: drs-orch run PLAN --recovery --confirm --failback "
            "--reprotect; on AWS add --aws[/red]"
        )
        raise typer.Exit(2)
    command = Reprotect(
        execution_id=execution,
        terminate_recovery_instances=terminate_recovery_instances,
        requested_by=getpass.getuser(),
    )
    raise typer.Exit(_send_to_operator(command, OperatorEndpoint(operator_url, stack), region=region, refused_exit=1))


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
    reason: Annotated[str, typer.Option()] = control.SKIP_REASON,
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
                short_time(wave.get("firstAt")),
                short_time(wave.get("lastAt")),
            )
        console.print(grid)
        for difference in result["differences"]:
            console.print(f"[red]≠ {_shown(difference)}[/red]", highlight=False)
        if result.get("ledger") is not None and not result["differences"]:
            console.print("[green]the events and the ledger agree[/green]")
    raise typer.Exit(1 if result["differences"] else 0)
