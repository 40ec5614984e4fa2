"""`drs-orch schedule EXPRESSION` (and `drs-orch run PLAN --schedule EXPRESSION`): the next run times of a scheduled
drill (issue #16 item 5), before it is deployed (`drillSchedules`, README "Scheduled drills").

The expression is EventBridge Scheduler's, checked as the stack checks it (orchestrator/domain/schedules.py). Its
cron dialect differs from Unix cron: six fields (the last is the year), `?` in day-of-month or day-of-week, and
day-of-week 1-7 with 1 for Sunday. It is translated for croniter (a CLI dependency only: not in the Lambda bundle),
which computes the wall-clock times in the schedule's time zone; the year field filters them. Daylight saving time
is handled as Scheduler documents it (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html,
"Daylight saving time"): a wall-clock time that does not exist (the hour skipped in spring) is skipped, a time that
happens twice (the hour repeated in autumn) runs once, the first time. A rate schedule runs every interval from
when the schedule is created (`--from`, default now).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from croniter import croniter
from rich.console import Console

from orchestrator.domain.schedules import Cron, Rate, check_timezone, parse_expression

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: how many wall-clock candidates to look at before giving up on finding `count` times (a year field far ahead)
_SEARCH_LIMIT = 100_000


def _dow(token: str) -> str:
    """An AWS day-of-week value (1-7, 1 Sunday, or SUN-SAT) as croniter's (0-6, 0 Sunday)."""
    upper = token.upper()
    if upper in _DAYS:
        return str(_DAYS.index(upper))
    return str(int(token) - 1)


def _dow_field(text: str) -> str:
    items = []
    for item in text.split(","):
        if item in ("*", "?"):
            items.append("*")
        elif item == "L":
            items.append(str(_DAYS.index("SAT")))  # AWS: L alone in day-of-week is the last day of the week
        elif item.endswith("L"):
            items.append(f"L{_dow(item[:-1])}")
        elif "#" in item:
            day, _, nth = item.partition("#")
            items.append(f"{_dow(day)}#{nth}")
        else:
            base, slash, step = item.partition("/")
            start, dash, end = base.partition("-")
            head = "*" if start == "*" else _dow(start) + (f"-{_dow(end)}" if dash else "")
            items.append(head + (f"/{step}" if slash else ""))
    return ",".join(items)


def unix_cron(cron: Cron) -> str:
    """The five Unix fields croniter reads (minute hour day-of-month month day-of-week); the year is left out."""
    if "W" in cron.day_of_month:
        raise ValueError(
            f"day-of-month {cron.day_of_month!r}: the nearest weekday (W) is valid on AWS but its run times are "
            "not computed locally"
        )
    day_of_month = "*" if cron.day_of_month == "?" else cron.day_of_month
    return " ".join((cron.minutes, cron.hours, day_of_month, cron.month, _dow_field(cron.day_of_week)))


def _years(text: str) -> set[int] | None:
    """The years the year field allows (None: every year)."""
    if text == "*":
        return None
    years: set[int] = set()
    for item in text.split(","):
        base, slash, step = item.partition("/")
        start, dash, end = base.partition("-")
        first = 1970 if start == "*" else int(start)
        last = 2199 if start == "*" or (slash and not dash) else int(end) if dash else first
        years.update(range(first, last + 1, int(step) if slash else 1))
    return years


def next_runs(expression: str, timezone: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` times after `after` (aware) the schedule fires, in its time zone; ValueError when the
    expression or the zone is malformed (the same message the stack gives)."""
    zone = check_timezone(timezone)
    parsed = parse_expression(expression)
    if isinstance(parsed, Rate):
        step = timedelta(minutes=parsed.minutes)
        return [(after + step * k).astimezone(zone) for k in range(1, count + 1)]
    years = _years(parsed.year)
    # wall-clock times in the zone, then each placed on the timeline: croniter never sees a zone
    walls = croniter(unix_cron(parsed), after.astimezone(zone).replace(tzinfo=None))
    runs: list[datetime] = []
    for _ in range(_SEARCH_LIMIT):
        wall: datetime = walls.get_next(datetime)
        if years is not None and wall.year > max(years):
            break
        if years is not None and wall.year not in years:
            continue
        moment = wall.replace(tzinfo=zone, fold=0)
        if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
            continue  # the hour skipped when the clocks go forward: Scheduler skips the run
        if moment > after:
            runs.append(moment)
        if len(runs) == count:
            break
    return runs


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
