"""`drs-orch run PLAN --recovery --confirm --failback [--reprotect]` on the local cloud: once the recovery has
completed, fail it back in the same local cloud (the operator endpoint, as the local caller), follow the failback
execution with the live table, and reprotect when asked (issue #15 items 4, 5 and 7).

The local cloud lives as long as one `drs-orch run`: a recovery, its failback and its reprotect are one run here. On
AWS they are separate commands (`drs-orch failback EXECUTION --confirm PLAN --aws`, `drs-orch reprotect EXECUTION
--aws`), since the ledger keeps the recovery between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud
    from localcloud.control_socket import ControlServer
    from localcloud.runner import RunResult


@dataclass(frozen=True)
class FailbackRun:
    """What `run --failback` asks for: `reprotect` (None: the plan's `failback.reprotect`), and a failback drill."""

    reprotect: bool | None = None
    drill: bool = False


def fail_back(
    console: Console,
    cloud: LocalCloud,
    server: ControlServer,
    recovery: RunResult,
    *,
    plan_id: str,
    caller: str,
    timeout: float,
    options: FailbackRun,
) -> RunResult:
    """Fail back the completed `recovery` and run until the failback execution ends (then its reprotect, when
    asked): the failback's RunResult (status REJECTED, with the reason as `problem`, when it was refused)."""
    from drs_orch.live_view import LiveView
    from localcloud.control_socket import run_session
    from localcloud.runner import RunResult, StartRefused, failback_refusals, start_failback
    from orchestrator.domain.execution import frozen_plan

    refused_before = len(failback_refusals(cloud, recovery.execution_id))
    try:
        failback_id = start_failback(
            cloud,
            recovery.execution_id,
            drill=options.drill,
            confirm_plan_id=None if options.drill else plan_id,
            requested_by=caller,
            reprotect=options.reprotect,
        )
    except StartRefused as exc:
        return RunResult(recovery.execution_id, "REJECTED", None, [], str(exc))
    cloud.drain()
    reasons = failback_refusals(cloud, recovery.execution_id)[refused_before:]
    assert cloud.runtime is not None
    execution = cloud.runtime.ledger.execution(failback_id)
    if reasons or execution is None:
        return RunResult(failback_id, "REJECTED", None, [], "; ".join(reasons) or "the Failback was not handled")
    console.print(f"failback execution [bold]{escape(failback_id)}[/bold] of {escape(recovery.execution_id)}")
    with LiveView(console, cloud, failback_id, frozen_plan(execution)) as view:
        result = run_session(cloud, failback_id, server, timeout=timeout, on_progress=view.refresh)
    cloud.drain()  # the reprotect that follows a completed failback, when asked
    return result


def reprotect_table(report: dict[str, object] | None) -> Table | None:
    """Each server's reprotect (the failback report's `reprotect`), or None when there was none."""
    found = (report or {}).get("reprotect")
    if not isinstance(found, dict):
        return None
    table = Table(title="reprotect: replication in the original direction again", title_justify="left")
    for column in ("server", "action", "protected by", "replication", "note"):
        table.add_column(column, overflow="fold")
    for item in found.get("servers") or []:
        table.add_row(
            escape(str(item.get("sourceServerId"))),
            escape(str(item.get("action"))),
            escape(str(item.get("protectedSourceServerId") or "")),
            escape(str(item.get("replicationState") or "")),
            escape(str(item.get("reason") or "")),
        )
    return table
