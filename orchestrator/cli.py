"""`drs-orch`: validate and show plans, run them on the embedded local cloud, or start them on AWS."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from events.models import Mode
from orchestrator import cli_plan
from orchestrator.plan import Plan, PlanError, load_plan

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.runner import RunResult

app = typer.Typer(help="DRS Orchestrator: recovery plans for AWS Elastic Disaster Recovery.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
cli_plan.register(app)
console = Console()
err = Console(stderr=True)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STATUS_STYLE = {
    "PENDING": "dim", "READY": "cyan", "AWAITING_APPROVAL": "magenta", "PRE_LAUNCH": "blue",
    "LAUNCHING": "yellow", "LAUNCHED": "yellow", "POST_LAUNCH": "blue", "COMPLETED": "green",
    "FAILED": "bold red", "SKIPPED": "dim red", "RUNNING": "yellow", "CANCELLED": "red", "STOPPING": "red",
    "PAUSED": "magenta",
}


def _load(path: Path) -> Plan:
    try:
        return load_plan(path)
    except PlanError as exc:
        for problem in exc.problems:
            err.print(f"[red]✗[/red] {problem}", highlight=False)
        err.print(f"[red]{path}: {len(exc.problems)} problem(s); nothing was started.[/red]")
        raise typer.Exit(2) from None


def _mode(drill: bool, recovery: bool, confirm: bool) -> Mode:
    if drill and recovery:
        err.print("[red]--drill and --recovery exclude each other.[/red]")
        raise typer.Exit(2)
    if recovery and not confirm:
        err.print("[red]--recovery is a real failover: it launches recovery instances for production.\n"
                  "Add --confirm to start it; nothing was started.[/red]")
        raise typer.Exit(2)
    return Mode.RECOVERY if recovery else Mode.DRILL


def _short(moment: str | None) -> str:
    return moment[11:19] if moment else ""


def _progress(cloud: LocalCloud, execution_id: str, plan: Plan) -> Group:
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    execution = ledger.get_execution(execution_id)
    waves = {w["waveId"]: w for w in ledger.list_waves(execution_id)} if execution else {}
    table = Table(expand=False, header_style="bold")
    for column in ("wave", "depends on", "status", "servers", "jobs", "ready", "launch", "done"):
        table.add_column(column)
    for plan_wave in plan.waves:
        wave = waves.get(plan_wave.wave_id, {})
        status = wave.get("status", "—")
        servers = wave.get("servers", {})
        launched = sum(1 for s in servers.values() if s.get("launchStatus") == "LAUNCHED")
        failed = sum(1 for s in servers.values() if s.get("launchStatus") == "FAILED")
        server_text = Text(f"{launched}/{len(plan_wave.servers)}")
        if failed:
            server_text.append(f" {failed}✗", style="red")
        jobs = wave.get("jobs", {})
        table.add_row(plan_wave.wave_id, ", ".join(plan_wave.depends_on) or "—",
                      Text(status, style=STATUS_STYLE.get(status, "")), server_text,
                      f"{sum(1 for j in jobs.values() if j.get('status') == 'COMPLETED')}/{len(jobs)}",
                      _short(wave.get("readyAt")), _short(wave.get("launchStartedAt")),
                      _short(wave.get("endedAt")))
    status = execution["status"] if execution else "STARTING"
    elapsed = ""
    if execution:
        from orchestrator.clock import parse_iso

        seconds = (cloud.clock.now() - parse_iso(execution["startedAt"])).total_seconds()
        elapsed = f"{int(seconds // 60)}m{int(seconds % 60):02d}s simulated"
    header = Text.assemble((f"{plan.name or plan.plan_id}", "bold"), "  ", (execution_id, "dim"), "  ",
                           (status, STATUS_STYLE.get(status, "")), f"  {elapsed}")
    return Group(header, table)


def _summary(result: RunResult) -> Panel:
    report = result.report or {}
    lines = [f"execution {result.execution_id}: [bold]{result.status}[/bold]"]
    if report.get("durationSeconds") is not None:
        seconds = report["durationSeconds"]
        lines.append(f"simulated duration {int(seconds // 60)}m{int(seconds % 60):02d}s")
    for wave in report.get("waves", []):
        launched = sum(1 for s in wave["servers"] if s["launchStatus"] == "LAUNCHED")
        reason = f" — {wave['reason']}" if wave.get("reason") else ""
        lines.append(f"  {wave['waveId']}: {wave['status']} ({launched}/{len(wave['servers'])} servers, "
                     f"{len(wave['jobs'])} job(s)){reason}")
    if report.get("stopReason"):
        lines.append(f"stopped: {report['stopReason']}")
    for rejection in result.rejected:
        lines.append(f"[red]rejected: {rejection.get('reason')}[/red]")
        lines.extend(f"  [red]{e.get('path') or ''} {e.get('message')}[/red]" for e in rejection.get("errors", []))
    style = "green" if result.status == "COMPLETED" else "red"
    return Panel("\n".join(lines), title="summary", border_style=style)


def _run_local(plan: Plan, mode: Mode, *, sim: Path | None, speed: float | None, pace: bool | None,
               report: Path | None, timeout: float) -> int:
    from localcloud.cloud import LocalCloud
    from localcloud.profile import ProfileError, load_profile
    from localcloud.runner import start, wait

    try:
        profile = load_profile(sim, **{"clock.speed": speed, "clock.pace": pace})
    except ProfileError as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    with LocalCloud(profile) as cloud:
        execution_id = start(cloud, plan, mode=mode, confirm=mode is Mode.RECOVERY,
                             requested_by=getpass.getuser())
        with Live(_progress(cloud, execution_id, plan), console=console, refresh_per_second=8,
                  transient=False) as live:
            last = [0.0]

            def refresh() -> None:
                import time

                now = time.monotonic()
                if now - last[0] > 0.1:
                    last[0] = now
                    live.update(_progress(cloud, execution_id, plan))

            result = wait(cloud, execution_id, timeout=timeout, on_progress=refresh)
            live.update(_progress(cloud, execution_id, plan))
    console.print(_summary(result))
    if report is not None and result.report is not None:
        report.write_text(json.dumps(result.report, indent=2) + "\n")
        console.print(f"report written to {report}")
    return result.exit_code


def _publish_aws(plan: Plan, mode: Mode, bus: str, region: str | None) -> int:
    import boto3

    from localcloud.runner import new_execution_id
    from orchestrator.plan import plan_to_document

    execution_id = new_execution_id(plan.plan_id)
    detail: dict[str, Any] = {"plan": plan_to_document(plan), "executionId": execution_id, "mode": mode.value,
                              "requestedBy": getpass.getuser()}
    if mode is Mode.RECOVERY:
        detail["confirmRecovery"] = plan.plan_id
    client = boto3.client("events", region_name=region)
    response = client.put_events(Entries=[{"Source": "drs.orchestrator", "DetailType": "StartPlan",
                                           "Detail": json.dumps(detail), "EventBusName": bus}])
    if response.get("FailedEntryCount"):
        err.print(f"[red]PutEvents refused the StartPlan: {response['Entries'][0].get('ErrorMessage')}[/red]")
        return 1
    console.print(f"StartPlan published to {bus}: execution [bold]{execution_id}[/bold] ({mode.value})")
    return 0


@app.command()
def run(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="recovery plan, YAML or JSON")],
    drill: Annotated[bool, typer.Option("--drill", help="launch drill instances (the default)")] = False,
    recovery: Annotated[bool, typer.Option("--recovery", help="a real failover (needs --confirm)")] = False,
    confirm: Annotated[bool, typer.Option("--confirm", help="confirm a --recovery run")] = False,
    sim: Annotated[Path | None, typer.Option(help="simulation profile (YAML)")] = None,
    speed: Annotated[float | None, typer.Option(help="simulated seconds per real second")] = None,
    pace: Annotated[bool | None, typer.Option("--pace/--no-pace",
                                              help="wait out idle time at --speed instead of skipping it")] = None,
    report: Annotated[Path | None, typer.Option(help="write the execution report (JSON) here")] = None,
    aws: Annotated[bool, typer.Option("--aws", help="publish StartPlan to a deployed bus instead")] = False,
    bus: Annotated[str, typer.Option(help="event bus name for --aws")] = "drs-orchestrator",
    region: Annotated[str | None, typer.Option(help="AWS region for --aws")] = None,
    timeout: Annotated[float, typer.Option(help="give up after this many real seconds")] = 600.0,
) -> None:
    """Run a recovery plan: on the embedded local cloud, or on AWS with --aws."""
    plan = _load(plan_file)
    mode = _mode(drill, recovery, confirm)
    if aws:
        raise typer.Exit(_publish_aws(plan, mode, bus, region))
    raise typer.Exit(_run_local(plan, mode, sim=sim, speed=speed, pace=pace, report=report, timeout=timeout))


@app.command()
def demo(
    report: Annotated[Path | None, typer.Option(help="write the execution report (JSON) here")] = None,
) -> None:
    """Run the three-tier example drill on the local cloud with a fast simulated clock."""
    plan = _load(EXAMPLES / "three-tier.yaml")
    console.print(Panel("Three-tier drill on the embedded local cloud: DynamoDB, EventBridge, Step Functions "
                        "and Scheduler from moto; DRS from our simulator. 1 real second = 60 simulated.",
                        border_style="cyan"))
    code = _run_local(plan, Mode.DRILL, sim=EXAMPLES / "profiles" / "demo.yaml", speed=None, pace=None, report=report,
                      timeout=120)
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - the console script
    app(prog_name="drs-orch")
    sys.exit(0)
