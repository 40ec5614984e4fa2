"""The execution report (orchestrator/reporting/report.py) read from a ledger on moto that the steps wrote: a wave's
times, jobs and earlier attempts come from its record (`WaveRecord`, `WaveAttempt.times`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from events.models import DRSJobCompleted, JobWatchTick, RetryWave
from orchestrator.reporting.report import build_report
from orchestrator.steps.control import decide, retry_wave
from orchestrator.steps.job_watcher import on_tick
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.moto_ledger import ledger_table
from tests.unit.steps.world import S1, S2, World, launching, plan, wave

T0 = "2026-01-01T09:00:00.000Z"  # the World's clock
T1 = "2026-01-01T09:01:00.000Z"
T2 = "2026-01-01T09:02:00.000Z"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        boto3.resource("dynamodb", region_name="us-east-1")
        yield World(ledger_table())


def _failed_then_retried(world: World) -> str:
    """Wave db (S1, S2 CRITICAL) launched at T0; its job ended at T1 with S2 not launched (db FAILED); an
    operator retried it at T2. Returns the first attempt's job id."""
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.advance(60)
    world.drs.finish_job(job, {S2: "FAILED"}, reasons={S2: "LAUNCH_FAILED: no capacity"})
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1))
    [completed] = world.published(DRSJobCompleted)
    on_job_completed(world.rt, completed, "jc-1")
    world.advance(60)
    decide(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1", retry_wave)
    return job


def test_a_retried_wave_reports_its_current_attempt_and_each_earlier_one_with_how_its_servers_ended(
    world: World,
) -> None:
    # GIVEN wave db failed in attempt 1 (S2 did not launch) and retried
    job = _failed_then_retried(world)
    # WHEN the report is built
    report = build_report(world.ledger, "e1")
    # THEN db is in attempt 2, READY since the retry, with no job yet, relaunching S2 only
    assert report is not None
    [db] = report["waves"]
    assert {k: db[k] for k in ("status", "attempt", "readyAt", "preLaunchAt", "launchStartedAt", "endedAt")} == {
        "status": "READY",
        "attempt": 2,
        "readyAt": T2,
        "preLaunchAt": None,
        "launchStartedAt": None,
        "endedAt": None,
    }
    assert (db["jobs"], db["retriedBy"], db["retriedAt"], db["relaunchedServers"]) == ([], "ops", T2, [S2])
    # AND attempt 1 as it ended: its times, reason, job, launched count and how each server ended it
    reason = f"1 CRITICAL server(s) did not launch: {S2} (LAUNCH_FAILED: no capacity)"
    assert db["previousAttempts"] == [
        {
            "attempt": 1,
            "status": "FAILED",
            "readyAt": T0,
            "preLaunchAt": T0,
            "launchStartedAt": T0,
            "launchedAt": T1,
            "endedAt": T1,
            "reason": reason,
            "jobs": [{"jobId": job, "status": "COMPLETED", "startedAt": T0, "completedAt": T1}],
            "serversLaunched": 1,
            "servers": [
                {
                    "sourceServerId": S1,
                    "launchStatus": "LAUNCHED",
                    "recoveryInstanceId": "i-00000000000000001",
                    "jobId": job,
                },
                {"sourceServerId": S2, "launchStatus": "FAILED", "jobId": job, "reason": "LAUNCH_FAILED: no capacity"},
            ],
        }
    ]


def test_a_launching_wave_reports_its_jobs_with_their_servers_and_its_times_so_far(world: World) -> None:
    # GIVEN wave db launching its one job (S1, S2), at T0
    [job] = launching(world, plan(wave("db", S1, S2)))
    # WHEN the report is built
    report = build_report(world.ledger, "e1")
    # THEN db's times are those reached, its job lists the servers of its launch claim
    assert report is not None
    [db] = report["waves"]
    times: dict[str, Any] = {k: db[k] for k in ("readyAt", "preLaunchAt", "launchStartedAt", "launchedAt", "endedAt")}
    assert times == {"readyAt": T0, "preLaunchAt": T0, "launchStartedAt": T0, "launchedAt": None, "endedAt": None}
    assert db["jobs"] == [
        {"jobId": job, "sourceServerIds": [S1, S2], "status": "STARTED", "startedAt": T0, "completedAt": None}
    ]
    assert [(s["sourceServerId"], s["launchStatus"]) for s in db["servers"]] == [
        (S1, "NOT_STARTED"),
        (S2, "NOT_STARTED"),
    ]
    assert "previousAttempts" not in db


def test_no_report_for_an_unknown_execution(world: World) -> None:
    # GIVEN an empty ledger / WHEN the report of an unknown execution is built / THEN there is none
    assert build_report(world.ledger, "nope") is None


def test_the_report_and_its_wave_page_show_a_target_waves_account_and_region_and_nothing_for_the_own(
    world: World,
) -> None:
    from orchestrator.reporting.html import render_html

    # GIVEN a plan whose wave db recovers in account 222233334444, us-west-2, and web in the own account
    target = {
        "accountId": "222233334444",
        "region": "us-west-2",
        "roleArn": "arn:aws:iam::222233334444:role/drs-orchestrator-target",
        "externalId": "secret-ish-external-id",
    }
    world.start(plan(wave("db", S1, target=target), wave("web", S2)))
    # WHEN the report is built and rendered
    report = build_report(world.ledger, "e1")
    assert report is not None
    by_id = {w["waveId"]: w for w in report["waves"]}
    # THEN db names its account and Region (never its role's external id); web has no target
    assert by_id["db"]["target"] == {"accountId": "222233334444", "region": "us-west-2"}
    assert "target" not in by_id["web"]
    html = render_html(report)
    assert "account 222233334444, us-west-2" in html
    assert "secret-ish-external-id" not in html
    assert html.count(">target</th>") == 1
