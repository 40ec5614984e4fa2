"""`drs-orch cleanup EXECUTION`: terminate the recovery instances a drill launched."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape


def cleanup(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION", help="the execution id")],
    table: Annotated[str | None, typer.Option(help="ledger table (default: LEDGER_TABLE_NAME)")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: AWS_REGION)")] = None,
    include_recovery: Annotated[bool, typer.Option(
        "--include-recovery", help="also terminate the instances of a RECOVERY execution (production!)")] = False,
) -> None:
    """Terminate the drill's recovery instances (only those its own DRS jobs launched)."""
    from orchestrator.cleanup import cleanup as run_cleanup
    from orchestrator.runtime import get_runtime

    console, err = Console(), Console(stderr=True)
    if table:
        os.environ["LEDGER_TABLE_NAME"] = table
    if region:
        os.environ["AWS_REGION"] = region
    result = run_cleanup(get_runtime(), execution_id, include_recovery=include_recovery)
    if result.refused:
        err.print(f"[red]{result.refused}; nothing was terminated.[/red]")
        raise typer.Exit(2)
    if result.instance_ids:
        console.print(f"terminating {len(result.instance_ids)} recovery instance(s) of {execution_id} "
                      f"(DRS job(s) {', '.join(result.job_ids)})")
    if result.unannounced:
        err.print("[yellow]the ledger records the termination, but its RecoveryInstancesTerminated event was not "
                  f"published: {escape(result.unannounced)}[/yellow]")
    if result.deferred:
        err.print("[yellow]DRS quotas are in use: some instances were not terminated yet; run cleanup again "
                  "in a minute.[/yellow]")
        raise typer.Exit(1)
    if not result.instance_ids:
        console.print(f"no running recovery instance of {execution_id}: nothing to terminate")


def register(app: typer.Typer) -> None:
    """Add `cleanup` to the main CLI."""
    app.command("cleanup")(cleanup)
