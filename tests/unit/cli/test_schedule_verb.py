"""`drs-orch schedule` / `run --schedule`: a scheduled drill's next run times, in AWS's dialect, in its time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from drs_orch.app import app
from drs_orch.schedule_verb import next_runs

FROM = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday


def _iso(runs: list[datetime]) -> list[str]:
    return [run.isoformat() for run in runs]


def test_weekly_on_sunday_in_utc() -> None:
    # GIVEN AWS's day-of-week (SUN; `?` in day-of-month) WHEN the next five runs are asked for
    runs = next_runs("cron(0 3 ? * SUN *)", "UTC", FROM)
    # THEN they are the next five Sundays at 03:00
    assert _iso(runs) == [
        "2026-12-06T03:00:00+00:00",
        "2026-12-13T03:00:00+00:00",
        "2026-12-20T03:00:00+00:00",
        "2026-12-27T03:00:00+00:00",
        "2027-01-03T03:00:00+00:00",
    ]


def test_numeric_day_of_week_counts_from_sunday_as_1() -> None:
    # GIVEN 2-6 (AWS: Monday to Friday; in Unix cron it would be Tuesday to Saturday)
    runs = next_runs("cron(30 6 ? * 2-6 *)", "UTC", datetime(2026, 12, 4, 12, 0, tzinfo=UTC))  # a Friday noon
    # THEN Saturday and Sunday are skipped
    assert _iso(runs) == [
        "2026-12-07T06:30:00+00:00",
        "2026-12-08T06:30:00+00:00",
        "2026-12-09T06:30:00+00:00",
        "2026-12-10T06:30:00+00:00",
        "2026-12-11T06:30:00+00:00",
    ]


def test_last_friday_and_first_monday() -> None:
    assert _iso(next_runs("cron(0 22 ? * 6L *)", "UTC", FROM, 2)) == [
        "2026-12-25T22:00:00+00:00",
        "2027-01-29T22:00:00+00:00",
    ]
    assert _iso(next_runs("cron(0 8 ? * MON#1 *)", "UTC", FROM, 2)) == [
        "2026-12-07T08:00:00+00:00",
        "2027-01-04T08:00:00+00:00",
    ]


def test_the_year_field_limits_the_runs() -> None:
    # GIVEN the 1st of each month in 2027 only THEN the first run is in January 2027
    assert _iso(next_runs("cron(0 0 1 * ? 2027)", "UTC", FROM, 2)) == [
        "2027-01-01T00:00:00+00:00",
        "2027-02-01T00:00:00+00:00",
    ]
    # AND a year field that has ended gives no run
    assert next_runs("cron(0 0 1 * ? 2025)", "UTC", FROM) == []


def test_a_time_zone_keeps_the_wall_clock_across_the_spring_change() -> None:
    # GIVEN every day at 09:00 in Paris, across the last Sunday of March 2027 (CET -> CEST)
    runs = next_runs("cron(0 9 * * ? *)", "Europe/Paris", datetime(2027, 3, 26, 12, 0, tzinfo=UTC))
    # THEN it stays 09:00 local: 08:00 UTC before, 07:00 UTC after
    assert _iso(runs) == [
        "2027-03-27T09:00:00+01:00",
        "2027-03-28T09:00:00+02:00",
        "2027-03-29T09:00:00+02:00",
        "2027-03-30T09:00:00+02:00",
        "2027-03-31T09:00:00+02:00",
    ]


def test_a_run_in_the_skipped_hour_is_skipped_and_the_repeated_hour_runs_once() -> None:
    # GIVEN 02:30 daily in Paris: on 2027-03-28 02:30 does not exist, on 2026-10-25 it happens twice
    spring = next_runs("cron(30 2 * * ? *)", "Europe/Paris", datetime(2027, 3, 26, 12, 0, tzinfo=UTC), 3)
    autumn = next_runs("cron(30 2 * * ? *)", "Europe/Paris", datetime(2026, 10, 24, 12, 0, tzinfo=UTC), 3)
    # THEN spring skips the 28th, and autumn runs once on the 25th (the first 02:30, still summer time)
    assert _iso(spring) == ["2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00", "2027-03-30T02:30:00+02:00"]
    assert _iso(autumn) == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]


def test_a_rate_runs_every_interval_from_creation() -> None:
    assert _iso(next_runs("rate(90 minutes)", "UTC", FROM, 3)) == [
        "2026-12-01T10:30:00+00:00",
        "2026-12-01T12:00:00+00:00",
        "2026-12-01T13:30:00+00:00",
    ]
    assert _iso(next_runs("rate(1 day)", "UTC", FROM, 2)) == ["2026-12-02T09:00:00+00:00", "2026-12-03T09:00:00+00:00"]


def test_the_verb_prints_the_five_times_and_refuses_a_bad_expression() -> None:
    runner = CliRunner()
    # GIVEN the verb with a zone and a start
    shown = runner.invoke(
        app, ["schedule", "cron(0 3 ? * SUN *)", "--timezone", "Europe/Paris", "--from", FROM.isoformat()]
    )
    # THEN it prints five local times, each with its UTC time
    assert shown.exit_code == 0, shown.output
    lines = [line.strip() for line in shown.output.splitlines()]
    assert lines[0] == "next 5 run times of cron(0 3 ? * SUN *) (Europe/Paris):"
    assert lines[1:6] == [
        "2026-12-06T03:00:00+01:00  (2026-12-06T02:00:00Z)",
        "2026-12-13T03:00:00+01:00  (2026-12-13T02:00:00Z)",
        "2026-12-20T03:00:00+01:00  (2026-12-20T02:00:00Z)",
        "2026-12-27T03:00:00+01:00  (2026-12-27T02:00:00Z)",
        "2027-01-03T03:00:00+01:00  (2027-01-03T02:00:00Z)",
    ]
    # AND a Unix cron (5 fields) or an unknown zone is refused, exit 2, saying why
    refused = runner.invoke(app, ["schedule", "cron(0 3 * * 0)"])
    assert refused.exit_code == 2
    assert "a cron expression has 6 fields" in refused.output
    zone = runner.invoke(app, ["schedule", "rate(1 hour)", "--timezone", "Europe/Atlantis"])
    assert zone.exit_code == 2
    assert "'Europe/Atlantis' is not an IANA time zone" in zone.output


def test_run_with_a_schedule_validates_the_plan_and_shows_the_times_without_running(
    tmp_path: Path, plan_path: Path
) -> None:
    # GIVEN a plan and a schedule WHEN run is asked for its schedule
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(plan_path), "--schedule", "rate(1 hour)", "--from", "2026-12-01T09:00:00Z"])
    # THEN it prints the next five hours, and starts nothing (no execution report, no run summary)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert lines[1:6] == [
        f"2026-12-01T{hour}:00:00+00:00  (2026-12-01T{hour}:00:00Z)" for hour in ("10", "11", "12", "13", "14")
    ]
    assert "execution" not in result.output.lower()


@pytest.fixture
def plan_path() -> Path:
    return Path(__file__).resolve().parents[3] / "drs_orch" / "examples" / "three-tier.yaml"
