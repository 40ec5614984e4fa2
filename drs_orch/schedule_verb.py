"""`drs-orch schedule EXPRESSION` (and `drs-orch run PLAN --schedule EXPRESSION`): the next run times of a scheduled
drill (issue #16 item 5), before it is deployed (`drillSchedules`, README "Scheduled drills").

The expression is EventBridge Scheduler's, checked as the stack checks it (orchestrator/domain/schedules.py); its
run times are computed as the local cloud fires them (localcloud/schedule_times.py: Scheduler's cron dialect, time
zones and daylight saving time). A rate schedule runs every interval from when the schedule is created (`--from`,
default now).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from localcloud.schedule_times import next_runs
from orchestrator.domain.schedules import Rate, parse_expression

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time (2026-12-01T09:00:00+00:00)") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no time zone (add Z or +01:00)")
    return moment


def show(expression: str, timezone: str, after: datetime, count: int = 5) -> int:
    """Print the next run times (exit code 0), or why the expression is refused (2)."""
    try:
        runs = next_runs(expression, timezone, after, count)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]", markup=True)
        return 2
    what = "from when the schedule is created" if isinstance(parse_expression(expression), Rate) else timezone
    out.print(f"next {len(runs)} run times of {expression} ({what}):")
    for run in runs:
        out.print(f"  {run.isoformat()}  ({run.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')})")
    if len(runs) < count:
        out.print(f"  (no run after {runs[-1].isoformat() if runs else after.isoformat()}: the year field ends)")
    return 0


Timezone = Annotated[str, typer.Option("--timezone", help="IANA time zone the schedule is evaluated in")]
From = Annotated[
    str | None,
    typer.Option("--from", help="ISO 8601 time to count from (default: now; a rate schedule's creation time)"),
]


def schedule(
    expression: Annotated[
        str, typer.Argument(metavar="EXPRESSION", help="EventBridge Scheduler cron(...) or rate(...) expression")
    ],
    timezone: Timezone = "UTC",
    from_: From = None,
    count: Annotated[int, typer.Option(min=1, max=100, help="how many run times")] = 5,
) -> None:
    """Show the next run times of a scheduled drill's expression (deploy setting drillSchedules)."""
    raise typer.Exit(show(expression, timezone, moment(from_), count))


def register(app: typer.Typer) -> None:
    app.command()(schedule)
