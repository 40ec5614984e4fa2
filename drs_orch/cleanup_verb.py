"""`drs-orch cleanup EXECUTION`: terminate the recovery instances a drill launched."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def cleanup(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION", help="the execution id")],
    table: Annotated[str | None, typer.Option(help="ledger table (default: LEDGER_TABLE_NAME)")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION)")] = None,
    include_recovery: Annotated[
        bool,
        typer.Option("--include-recovery", help="also terminate the instances of a RECOVERY execution (production!)"),
    ] = False,
) -> None:
    """Terminate the drill's recovery instances (only those its own DRS jobs launched)."""
    from orchestrator.config import get_settings
    from orchestrator.runtime import build_runtime, get_runtime
    from orchestrator.steps.cleanup import cleanup as run_cleanup

    console, err = Console(), Console(stderr=True)
    overrides = {name: value for name, value in (("table_name", table), ("region", region)) if value}
    runtime = build_runtime(get_settings().model_copy(update=overrides)) if overrides else get_runtime()
    result = run_cleanup(runtime, execution_id, include_recovery=include_recovery)
    if result.refused:
        err.print(f"[red]{escape(result.refused)}; nothing was terminated.[/red]", highlight=False)
        raise typer.Exit(2)
    if result.instance_ids:
        console.print(
            escape(
                f"terminating {len(result.instance_ids)} recovery instance(s) of {execution_id} "
                f"(DRS job(s) {', '.join(result.job_ids)})"
            ),
            highlight=False,
        )
    if result.unannounced:
        err.print(
            "[yellow]the ledger records the termination, but its RecoveryInstancesTerminated event was not "
            f"published: {escape(result.unannounced)}[/yellow]"
        )
    if result.deferred:
        err.print(
            f"[yellow]{escape(result.deferred_reason or 'DRS quotas are in use')}: some instances were not "
            "terminated yet; run cleanup again in a minute.[/yellow]"
        )
        raise typer.Exit(1)
    if not result.instance_ids:
        console.print(f"no running recovery instance of {escape(execution_id)}: nothing to terminate", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `cleanup` to the main CLI."""
    app.command("cleanup")(cleanup)
