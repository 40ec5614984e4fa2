"""Scheduled drills (issue #16 item 5): a stored plan version EventBridge Scheduler starts as a DRILL on a schedule.

A deploy setting (CDK context `drillSchedules`, a JSON list) names, per entry, a stored plan and the version to run
(`drs-orch plan push` gave it: a scheduled drill runs a reviewed version, never "the latest"), an expression in
EventBridge Scheduler's dialect and an IANA time zone. The stack turns each entry into one schedule that publishes a
DRILL StartPlan naming `planRef: {planId, version}`. There is no mode: a schedule is always a drill, and an entry
that says `mode: RECOVERY` (or any mode) is refused by name, as is any key this module does not know.

The expression syntax is EventBridge Scheduler's (https://docs.aws.amazon.com/scheduler/latest/UserGuide/
schedule-types.html): `cron(minutes hours day-of-month month day-of-week year)`, six fields, `?` in exactly one of
day-of-month and day-of-week, day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199; or `rate(value unit)`,
unit minute(s), hour(s) or day(s) (singular for 1, plural above). The one-shot `at(...)` is not a drill schedule.
No AWS here: the stack (infra/constructs/drill_schedules.py), the CLI (drs_orch/schedule_verb.py) and the local cloud
use it. Each entry may set `drillInstanceTtlSeconds` (default four hours): its drills always clean up after themselves.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from events.models import DRILL_TTL_MAX_SECONDS, DRILL_TTL_MIN_SECONDS
from orchestrator.domain.plan.model import PLAN_ID_PATTERN
from orchestrator.domain.stored_plans import MAX_VERSION

#: A Scheduler schedule name: 1 to 64 of letters, digits, `-`, `_` and `.` (CreateSchedule's Name).
NAME_PATTERN = r"^[0-9A-Za-z._-]{1,64}$"
#: EventBridge Scheduler replaces this keyword in a target's input with the time the firing was scheduled for, e.g.
#: 2022-03-22T18:59:43Z (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html)
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
KEYS = frozenset({"name", "planId", "version", "expression", "timezone", "drillInstanceTtlSeconds"})
#: A scheduled drill cleans up after itself: its recovery instances are terminated this long (seconds) after its first
#: launch unless the entry says otherwise (or its plan sets a shorter drillInstanceTtlSeconds). Nobody watches a
#: scheduled drill end; four hours leave the morning's team time to look at what a night's drill brought up.
DEFAULT_SCHEDULED_DRILL_TTL_SECONDS = 4 * 3600

_RATE = re.compile(r"^rate\((?P<value>[0-9]+) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # minute, hour or day (singular whatever was written)

    @property
    def minutes(self) -> int:
        return self.value * {"minute": 1, "hour": 60, "day": 1440}[self.unit]


@dataclass(frozen=True)
class Cron:
    minutes: str
    hours: str
    day_of_month: str
    month: str
    day_of_week: str
    year: str


@dataclass(frozen=True)
class DrillSchedule:
    """One scheduled drill: `name` (the schedule's), the stored plan `plan_id` at `version`, `expression` (as
    written; `parsed` is its meaning), `timezone` (IANA) and `drill_ttl_seconds`, the time to live of the drill's
    recovery instances (seconds after its first launch; the entry's drillInstanceTtlSeconds, 300 to 604,800)."""

    name: str
    plan_id: str
    version: int
    expression: str
    timezone: str
    parsed: Rate | Cron
    drill_ttl_seconds: int = DEFAULT_SCHEDULED_DRILL_TTL_SECONDS

    def start_plan_detail(self, scheduled_time: str = SCHEDULED_TIME) -> dict[str, Any]:
        """The StartPlan detail the schedule publishes: a DRILL of the stored version, requested by the schedule.
        Its executionId is the schedule's name and the time of this firing (`scheduled_time`: on AWS Scheduler's
        placeholder, which it replaces when it fires), the same for every retry or duplicate of one firing: a
        firing delivered twice starts one execution (StartPlan's executionId makes the start idempotent). It carries
        the schedule's time to live: a scheduled drill always cleans up after itself."""
        return {
            "planRef": {"planId": self.plan_id, "version": self.version},
            "mode": "DRILL",
            "drillInstanceTtlSeconds": self.drill_ttl_seconds,
            "executionId": f"{self.name}-{scheduled_time}",
            "requestedBy": f"schedule:{self.name}",
        }


def parse_expression(expression: str) -> Rate | Cron:
    """EventBridge Scheduler's `rate(...)` or `cron(...)`; ValueError saying what is wrong."""
    if not isinstance(expression, str):
        raise ValueError(f"expression must be a string such as 'cron(0 3 ? * SUN *)', not {expression!r}")  # noqa: TRY004 (a bad setting: one error type)
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate["value"]), rate["unit"]
        if value < 1:
            raise ValueError(f"{expression!r}: a rate's value is a positive integer")
        if (value == 1) == unit.endswith("s"):
            raise ValueError(
                f"{expression!r}: the unit is singular for 1 and plural above (rate(1 hour), rate(2 hours))"
            )
        return Rate(value, unit.rstrip("s"))
    if expression.startswith("rate("):
        raise ValueError(f"{expression!r}: a rate is rate(value unit), unit minute(s), hour(s) or day(s)")
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(
            f"{expression!r}: a drill schedule is cron(minutes hours day-of-month month day-of-week year) or "
            "rate(value unit)"
        )
    fields = cron["fields"].split()
    if len(fields) != 6:
        raise ValueError(
            f"{expression!r}: a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), "
            f"not {len(fields)}"
        )
    parsed = Cron(*fields)
    if (parsed.day_of_month == "?") == (parsed.day_of_week == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week is '?'")
    _field(expression, "minutes", parsed.minutes, 0, 59, (), "")
    _field(expression, "hours", parsed.hours, 0, 23, (), "")
    _field(expression, "day-of-month", parsed.day_of_month, 1, 31, (), "?LW")
    _field(expression, "month", parsed.month, 1, 12, _MONTHS, "")
    _field(expression, "day-of-week", parsed.day_of_week, 1, 7, _DAYS, "?L#")
    _field(expression, "year", parsed.year, 1970, 2199, (), "")
    return parsed


def _field(expression: str, label: str, text: str, low: int, high: int, names: tuple[str, ...], extra: str) -> None:
    """One cron field: `*`, `?` where allowed, or a comma list of values, ranges `a-b` and steps `x/n`, values
    numbers in [low, high] or names (JAN, SUN...); `L`, `W` and `#` where AWS allows them."""

    def bad(why: str) -> ValueError:
        return ValueError(f"{expression!r}: {label} {text!r}: {why}")

    if text == "?":
        if "?" not in extra:
            raise bad("'?' is only for day-of-month or day-of-week")
        return
    if text == "*":
        return

    def value(token: str) -> int:
        upper = token.upper()
        if upper in names:
            return names.index(upper) + low
        if not token.isdigit() or not low <= int(token) <= high:
            raise bad(f"{token!r} is not a value from {low} to {high}{' or a name' if names else ''}")
        return int(token)

    for item in text.split(","):
        if _special_item(item, label, extra, value, bad):
            continue
        base, slash, step = item.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise bad(f"{item!r}: a step is a positive integer")
        if base == "*" and slash:
            continue
        start, dash, end = base.partition("-")
        first = value(start)
        if dash and value(end) < first:
            raise bad(f"{item!r}: a range goes up")


def _special_item(
    item: str, label: str, extra: str, value: Callable[[str], int], bad: Callable[[str], ValueError]
) -> bool:
    """Whether `item` is one of AWS's special forms where `extra` allows it (`L`, `nL` in day-of-week, `nW`,
    `d#n`), checked with `value`; False for an ordinary value, range or step."""
    if "L" in extra and item == "L":
        return True
    if "L" in extra and label == "day-of-week" and len(item) > 1 and item.endswith("L"):
        value(item[:-1])
        return True
    if "W" in extra and item.endswith("W") and item[:-1].isdigit():
        value(item[:-1])
        return True
    if "#" in extra and "#" in item:
        day, _, nth = item.partition("#")
        value(day)
        if nth not in {"1", "2", "3", "4", "5"}:
            raise bad(f"{item!r}: the n-th weekday is 1 to 5")
        return True
    return False


def parse_schedule(entry: Any, *, where: str = "drillSchedules") -> DrillSchedule:
    """One entry of the deploy setting; ValueError naming the entry (its name, or its position in `where`)."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each entry is an object {{name, planId, version, expression, timezone}}")  # noqa: TRY004 (a bad setting: one error type)
    label = f"{where} entry {entry.get('name')!r}" if isinstance(entry.get("name"), str) else where
    if "mode" in entry:
        raise ValueError(
            f"{label}: a scheduled run is always a DRILL; remove 'mode' ({entry['mode']!r}): a RECOVERY is never "
            "scheduled"
        )
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise ValueError(f"{label}: unknown keys {unknown} (known: {sorted(KEYS)})")
    missing = sorted(key for key in ("name", "planId", "version", "expression") if key not in entry)
    if missing:
        raise ValueError(f"{label}: missing {missing}")
    name, plan_id, version = entry["name"], entry["planId"], entry["version"]
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        raise ValueError(f"{label}: name must be 1 to 64 letters, digits, '.', '_' or '-'")
    if not isinstance(plan_id, str) or not re.match(PLAN_ID_PATTERN, plan_id):
        raise ValueError(f"{label}: planId {plan_id!r} is not a plan id")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ValueError(
            f"{label}: version must be the stored version to run (an integer from 1, as `drs-orch plan push` "
            f"gave it), not {version!r}"
        )
    timezone = entry.get("timezone", "UTC")
    try:
        parsed = parse_expression(entry["expression"])
        check_timezone(timezone)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None
    ttl = entry.get("drillInstanceTtlSeconds", DEFAULT_SCHEDULED_DRILL_TTL_SECONDS)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not DRILL_TTL_MIN_SECONDS <= ttl <= DRILL_TTL_MAX_SECONDS:
        raise ValueError(
            f"{label}: drillInstanceTtlSeconds must be whole seconds from {DRILL_TTL_MIN_SECONDS} to "
            f"{DRILL_TTL_MAX_SECONDS} (a scheduled drill always cleans up after itself; default "
            f"{DEFAULT_SCHEDULED_DRILL_TTL_SECONDS}), not {ttl!r}"
        )
    return DrillSchedule(name, plan_id, version, entry["expression"], timezone, parsed, ttl)


def check_timezone(timezone: Any) -> zoneinfo.ZoneInfo:
    """An IANA time zone name (Europe/Paris, UTC); ValueError otherwise."""
    if not isinstance(timezone, str) or not timezone:
        raise ValueError(f"timezone must be an IANA time zone name such as 'Europe/Paris', not {timezone!r}")
    try:
        return zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone {timezone!r} is not an IANA time zone (such as 'Europe/Paris' or 'UTC')") from None


def parse_schedules(entries: Any) -> tuple[DrillSchedule, ...]:
    """The whole setting: a list (None: no schedules); names unique."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ValueError("drillSchedules: a JSON list of {name, planId, version, expression, timezone}")  # noqa: TRY004 (a bad setting: one error type)
    schedules = tuple(parse_schedule(entry) for entry in entries)
    names = [schedule.name for schedule in schedules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"drillSchedules: names {duplicated} are used more than once")
    return schedules
