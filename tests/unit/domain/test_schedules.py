"""Scheduled drills' deploy setting (orchestrator/domain/schedules.py): what a schedule entry may say."""

from __future__ import annotations

import pytest

from events.models import StartPlan
from orchestrator.domain.schedules import Cron, Rate, parse_expression, parse_schedule, parse_schedules

ENTRY = {"name": "weekly", "planId": "payments", "version": 3, "expression": "cron(0 3 ? * SUN *)"}


def test_an_entry_becomes_a_drill_of_the_stored_version() -> None:
    # GIVEN an entry with a time zone
    # WHEN it is parsed
    schedule = parse_schedule({**ENTRY, "timezone": "Europe/Paris"})
    # THEN it names the version, the zone, and publishes a DRILL StartPlan of planRef
    assert schedule.parsed == Cron("0", "3", "?", "*", "SUN", "*")
    assert schedule.timezone == "Europe/Paris"
    assert schedule.start_plan_detail() == {
        "planRef": {"planId": "payments", "version": 3},
        "mode": "DRILL",
        "executionId": "weekly-<aws.scheduler.scheduled-time>",
        "requestedBy": "schedule:weekly",
        "drillInstanceTtlSeconds": 14_400,
    }
    # AND a firing's executionId (the same for every delivery of it) is one StartPlan accepts
    detail = schedule.start_plan_detail("2026-12-06T02:00:00Z")
    assert StartPlan.model_validate(detail).execution_id == "weekly-2026-12-06T02:00:00Z"


def test_the_time_zone_defaults_to_utc() -> None:
    assert parse_schedule(ENTRY).timezone == "UTC"


@pytest.mark.parametrize(
    ("expression", "parsed"),
    [
        ("rate(1 hour)", Rate(1, "hour")),
        ("rate(15 minutes)", Rate(15, "minute")),
        ("rate(2 days)", Rate(2, "day")),
        ("cron(0/15 8-17 ? * MON-FRI *)", Cron("0/15", "8-17", "?", "*", "MON-FRI", "*")),
        ("cron(30 2 L * ? 2026-2030)", Cron("30", "2", "L", "*", "?", "2026-2030")),
        ("cron(0 6 ? JAN,JUL 2#1 *)", Cron("0", "6", "?", "JAN,JUL", "2#1", "*")),
        ("cron(0 6 15W * ? *)", Cron("0", "6", "15W", "*", "?", "*")),
        ("cron(0 6 ? * 6L *)", Cron("0", "6", "?", "*", "6L", "*")),
    ],
)
def test_aws_expressions_are_accepted(expression: str, parsed: Rate | Cron) -> None:
    assert parse_expression(expression) == parsed


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 3 * * ?)", "has 6 fields"),
        ("cron(0 3 * * SUN *)", "exactly one of day-of-month and day-of-week is '?'"),
        ("cron(0 3 ? * ? *)", "exactly one of day-of-month and day-of-week is '?'"),
        ("cron(60 3 ? * SUN *)", "minutes '60': '60' is not a value from 0 to 59"),
        ("cron(0 24 ? * SUN *)", "hours '24'"),
        ("cron(0 3 ? * 8 *)", "day-of-week '8'"),
        ("cron(0 3 ? FOO SUN *)", "month 'FOO'"),
        ("cron(0 3 ? * SUN 1969)", "year '1969'"),
        ("cron(0 ? 1 * ? *)", "'?' is only for day-of-month or day-of-week"),
        ("cron(0 10-2 ? * SUN *)", "a range goes up"),
        ("cron(0/0 3 ? * SUN *)", "a step is a positive integer"),
        ("rate(1 hours)", "singular for 1"),
        ("rate(2 hour)", "singular for 1"),
        ("rate(0 minutes)", "positive integer"),
        ("rate(5 weeks)", "unit minute(s), hour(s) or day(s)"),
        ("at(2026-12-01T03:00:00)", "is cron(minutes hours day-of-month month day-of-week year) or rate"),
        ("0 3 * * *", "is cron("),
    ],
)
def test_malformed_expressions_are_refused(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match="weekly") as refused:
        parse_schedule({**ENTRY, "expression": expression})
    assert message in str(refused.value)


def test_a_mode_is_refused_by_name_even_drill() -> None:
    # GIVEN an entry asking for RECOVERY, and one spelling out DRILL
    # WHEN / THEN both are refused, naming the entry and the key
    refusal = r"entry 'weekly': a scheduled run is always a DRILL; remove 'mode' \('RECOVERY'\)"
    with pytest.raises(ValueError, match=refusal):
        parse_schedule({**ENTRY, "mode": "RECOVERY"})
    with pytest.raises(ValueError, match="remove 'mode'"):
        parse_schedule({**ENTRY, "mode": "DRILL"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA time zone"),
        ({"timezone": ""}, "timezone must be an IANA time zone name"),
        ({"version": None}, "version must be the stored version to run"),
        ({"version": "3"}, "version must be the stored version to run"),
        ({"version": True}, "version must be the stored version to run"),
        ({"version": 0}, "version must be the stored version to run"),
        ({"planId": "no spaces"}, "planId 'no spaces' is not a plan id"),
        ({"name": "a b"}, "name must be 1 to 64"),
        ({"confirmRecovery": "payments"}, "unknown keys ['confirmRecovery']"),
        ({"drillInstanceTtlSeconds": 299}, "drillInstanceTtlSeconds must be whole seconds from 300 to 604800"),
        ({"drillInstanceTtlSeconds": 604_801}, "drillInstanceTtlSeconds must be whole seconds from 300 to 604800"),
        ({"drillInstanceTtlSeconds": None}, "a scheduled drill always cleans up after itself"),
        ({"drillInstanceTtlSeconds": True}, "not True"),
        ({"drillInstanceTtlSeconds": "4h"}, "not '4h'"),
    ],
)
def test_bad_entries_are_refused_by_name(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="drillSchedules") as refused:
        parse_schedule({**ENTRY, **change})
    assert message in str(refused.value)


def test_version_is_required() -> None:
    entry = {key: value for key, value in ENTRY.items() if key != "version"}
    with pytest.raises(ValueError, match=r"drillSchedules entry 'weekly': missing \['version'\]"):
        parse_schedule(entry)


def test_the_setting_is_a_list_of_uniquely_named_entries() -> None:
    assert parse_schedules(None) == ()
    assert [s.name for s in parse_schedules([ENTRY, {**ENTRY, "name": "daily"}])] == ["weekly", "daily"]
    with pytest.raises(ValueError, match=r"names \['weekly'\] are used more than once"):
        parse_schedules([ENTRY, ENTRY])
    with pytest.raises(ValueError, match="a JSON list"):
        parse_schedules(ENTRY)


def test_an_entry_sets_its_drill_time_to_live() -> None:
    # GIVEN an entry whose drills' instances live one hour WHEN parsed THEN its StartPlan carries that time to live
    schedule = parse_schedule({**ENTRY, "drillInstanceTtlSeconds": 3600})
    assert schedule.drill_ttl_seconds == 3600
    assert (
        StartPlan.model_validate(schedule.start_plan_detail("2026-12-06T02:00:00Z")).drill_instance_ttl_seconds == 3600
    )
