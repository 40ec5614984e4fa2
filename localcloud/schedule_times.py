"""EventBridge Scheduler's run times of a `cron(...)` or `rate(...)` expression, computed locally: for
`drs-orch schedule` / `run --schedule` (drs_orch/schedule_verb.py) and for the local cloud, which fires scheduled
drills at those times on its simulated clock (localcloud/cloud.py).

Scheduler's cron dialect differs from Unix cron: six fields (the last is the year), `?` in day-of-month or
day-of-week, and day-of-week 1-7 with 1 for Sunday. It is translated for croniter (a dependency of the CLI and the
local cloud only: not in the Lambda bundle), which computes the wall-clock times in the schedule's time zone; the
year field filters them. Daylight saving time is handled as Scheduler documents it
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html, "Daylight saving time"): a wall-clock
time that does not exist (the hour skipped in spring) is skipped, a time that happens twice (the hour repeated in
autumn) runs once, the first time. A rate schedule runs every interval from when the schedule is created. The
nearest-weekday `W` of day-of-month is valid on AWS but not computed here (ValueError).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from orchestrator.domain.schedules import Cron, Rate, check_timezone, parse_expression

#: how many wall-clock candidates to look at before giving up on finding `count` times (a year field far ahead)
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
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
