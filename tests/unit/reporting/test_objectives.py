"""Recovery objectives in the report: achieved RTO and RPO, margin and verdict, exact to the hundredth of a minute
(orchestrator/domain/objectives.py, orchestrator/reporting/objectives.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from events.models import DRSJobCompleted, JobWatchTick
from orchestrator.domain.objectives import Alert, Figure, deadline, judge, rpo_minutes, rto_minutes, worst
from orchestrator.domain.plan import parse_plan
from orchestrator.reporting.objectives import add_objectives, objective_lines
from orchestrator.reporting.report import build_report
from orchestrator.steps.job_watcher import on_tick
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.moto_ledger import ledger_table
from tests.unit.steps.world import World, launching, plan, wave

DECLARED = "2026-03-01T09:00:00.000Z"


# ---- the arithmetic ------------------------------------------------------------------------------------


def test_rto_counts_from_the_declared_time_to_the_end_in_minutes() -> None:
    # GIVEN / WHEN a wave that ended 47 min 30.6 s after the declared time / THEN its RTO is exactly that
    assert rto_minutes(DECLARED, "2026-03-01T09:47:30.600Z") == pytest.approx(47.51, abs=1e-12)
    # AND an end before the declared time counts as 0 (declared after the fact, within the clock skew)
    assert rto_minutes(DECLARED, "2026-03-01T08:59:00.000Z") == 0.0


def test_rpo_counts_from_the_snapshot_to_the_declared_time_and_never_below_zero() -> None:
    # GIVEN / WHEN a snapshot 12 min 15 s before the declared time / THEN the RPO is 12.25 minutes
    assert rpo_minutes(DECLARED, "2026-03-01T08:47:45.000Z") == 12.25
    # AND a snapshot taken after the declared time lost nothing before it: 0; no snapshot time: None
    assert rpo_minutes(DECLARED, "2026-03-01T09:03:00.000Z") == 0.0
    assert rpo_minutes(DECLARED, None) is None


def test_judge_met_missed_and_not_measured_with_exact_margins() -> None:
    # GIVEN an objective of 60 minutes
    # WHEN achieved in 47.512 minutes, in 61 minutes, exactly at 60, and not measured
    met, missed, edge, unmeasured = (
        judge(60, Figure(47.512)),
        judge(60, Figure(61.0)),
        judge(60, Figure(60.0)),
        judge(60, Figure.unmeasured("the wave is FAILED, not COMPLETED")),
    )
    # THEN the figures are rounded to the hundredth, the margin is objective - achieved, and 60 of 60 is MET
    assert met == {"objectiveMinutes": 60.0, "achievedMinutes": 47.51, "marginMinutes": 12.49, "verdict": "MET"}
    assert missed == {"objectiveMinutes": 60.0, "achievedMinutes": 61.0, "marginMinutes": -1.0, "verdict": "MISSED"}
    assert edge["verdict"] == "MET"
    assert edge["marginMinutes"] == 0.0
    assert unmeasured == {
        "objectiveMinutes": 60.0,
        "achievedMinutes": None,
        "marginMinutes": None,
        "verdict": "NOT_MEASURED",
        "reason": "the wave is FAILED, not COMPLETED",
    }


def test_worst_is_the_largest_figure_or_names_the_first_unmeasured_one() -> None:
    assert worst([("a", Figure(3.0)), ("b", Figure(9.5)), ("c", Figure(1.0))]) == Figure(9.5)
    assert worst([("a", Figure(3.0)), ("b", Figure.unmeasured("no snapshot time recorded"))]) == Figure(
        None, "b: no snapshot time recorded"
    )
    assert worst([]) == Figure(None, "nothing to measure")


def test_the_deadlines_of_an_rto_at_its_at_risk_share_and_at_its_end() -> None:
    # GIVEN an RTO of 45 minutes declared at 09:00 / WHEN its deadlines are asked / THEN 80 % is 09:36, all 09:45
    assert deadline(DECLARED, 45, Alert.AT_RISK) == datetime(2026, 3, 1, 9, 36, tzinfo=UTC)
    assert deadline(DECLARED, 45, Alert.AT_RISK, at_risk_percent=50) == datetime(2026, 3, 1, 9, 22, 30, tzinfo=UTC)
    assert deadline(DECLARED, 45, Alert.MISSED) == datetime(2026, 3, 1, 9, 45, tzinfo=UTC)


# ---- the report -----------------------------------------------------------------------------------------

S1, S2, S3 = "s-00000000000000001", "s-00000000000000002", "s-00000000000000003"


def _server(sid: str, status: str = "LAUNCHED", point: str | None = None) -> dict[str, Any]:
    return {"sourceServerId": sid, "launchStatus": status, "recoveryPointAt": point}


def _report(*waves: dict[str, Any]) -> dict[str, Any]:
    return {"declaredAt": DECLARED, "waves": list(waves)}


PLAN = parse_plan(
    {
        "planId": "p",
        "objectives": {"rtoMinutes": 60, "rpoMinutes": 15},
        "waves": [
            {"waveId": "db", "servers": [S1, S2], "objectives": {"rtoMinutes": 20, "rpoMinutes": 10}},
            {
                "waveId": "app",
                "servers": [S3],
                "dependsOn": ["db"],
                "postLaunch": [{"documentName": "DRSOrch-HealthCheck"}],
            },
        ],
    }
)


def test_the_report_judges_each_wave_and_the_plan_against_its_objectives() -> None:
    # GIVEN db launched (no post-launch step) 18.5 min after the declaration and completed a moment later, app
    # completed its post-launch script 52 min 6 s after it; snapshots 4, 11.5 and 3 minutes before the declaration
    db = {
        "waveId": "db",
        "status": "COMPLETED",
        "launchedAt": "2026-03-01T09:18:30.000Z",
        "completedAt": "2026-03-01T09:18:31.000Z",
        "servers": [_server(S1, point="2026-03-01T08:56:00.000Z"), _server(S2, point="2026-03-01T08:48:30.000Z")],
    }
    app = {
        "waveId": "app",
        "status": "COMPLETED",
        "launchedAt": "2026-03-01T09:40:00.000Z",
        "completedAt": "2026-03-01T09:52:06.000Z",
        "servers": [_server(S3, point="2026-03-01T08:57:00.000Z")],
    }
    # WHEN the objectives are added
    report = add_objectives(_report(db, app), PLAN)
    # THEN each server has its RPO, db its own verdicts (its RTO at its launch end; RPO missed by its worst server)
    assert [s["rpoMinutes"] for s in db["servers"]] == [4.0, 11.5]
    assert app["servers"][0]["rpoMinutes"] == 3.0
    assert db["objectives"] == {
        "rto": {"objectiveMinutes": 20.0, "achievedMinutes": 18.5, "marginMinutes": 1.5, "verdict": "MET"},
        "rpo": {"objectiveMinutes": 10.0, "achievedMinutes": 11.5, "marginMinutes": -1.5, "verdict": "MISSED"},
    }
    # AND app, with no objectives of its own, has none (it does not inherit the plan's)
    assert "objectives" not in app
    # AND the plan's RTO is its last wave's (app's COMPLETED), its RPO its worst server's
    assert report["objectives"] == {
        "rto": {"objectiveMinutes": 60.0, "achievedMinutes": 52.1, "marginMinutes": 7.9, "verdict": "MET"},
        "rpo": {"objectiveMinutes": 15.0, "achievedMinutes": 11.5, "marginMinutes": 3.5, "verdict": "MET"},
    }


def test_a_failed_wave_and_a_missing_snapshot_time_are_not_measured_with_their_reason() -> None:
    # GIVEN db completed, but one launched server has no recorded snapshot time (an OPTIONAL one failed: not
    # counted), and app FAILED
    db = {
        "waveId": "db",
        "status": "COMPLETED",
        "launchedAt": "2026-03-01T09:10:00.000Z",
        "completedAt": "2026-03-01T09:10:01.000Z",
        "servers": [_server(S1, point=None), _server(S2, status="FAILED")],
    }
    app = {"waveId": "app", "status": "FAILED", "launchedAt": None, "completedAt": None, "servers": [_server(S3)]}
    # WHEN the objectives are added
    report = add_objectives(_report(db, app), PLAN)
    # THEN db's RTO is measured, its RPO is not (naming the server); the plan's are not (naming the failed wave)
    assert db["objectives"]["rto"]["verdict"] == "MET"
    assert db["objectives"]["rpo"]["reason"] == f"{S1}: no snapshot time recorded"
    assert [s["rpoMinutes"] for s in db["servers"]] == [None, None]
    assert report["objectives"]["rto"] == {
        "objectiveMinutes": 60.0,
        "achievedMinutes": None,
        "marginMinutes": None,
        "verdict": "NOT_MEASURED",
        "reason": "wave app: the wave is FAILED, not COMPLETED",
    }
    assert report["objectives"]["rpo"]["reason"] == f"wave db: {S1}: no snapshot time recorded"


def test_a_plan_without_objectives_gets_only_its_servers_figures() -> None:
    # GIVEN a plan that declares no objectives
    plan = parse_plan({"planId": "p", "waves": [{"waveId": "db", "servers": [S1]}]})
    db = {
        "waveId": "db",
        "status": "COMPLETED",
        "launchedAt": "2026-03-01T09:10:00.000Z",
        "completedAt": "2026-03-01T09:10:01.000Z",
        "servers": [_server(S1, point="2026-03-01T08:30:00.000Z")],
    }
    # WHEN the objectives are added
    report = add_objectives(_report(db), plan)
    # THEN no objectives key anywhere, and the server has its RPO figure
    assert "objectives" not in report
    assert "objectives" not in db
    assert db["servers"][0]["rpoMinutes"] == 30.0


# ---- from the ledger ----------------------------------------------------------------------------------------


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        boto3.resource("dynamodb", region_name="us-east-1")
        yield World(ledger_table())


def test_build_report_reads_the_declared_time_and_recovery_points_from_the_ledger(world: World) -> None:
    # GIVEN a plan with objectives declared 30 minutes before its start (09:00 on the World's clock), whose one
    # wave's job launched S1 from a snapshot of 08:20 one minute later; the wave then runs its post-launch phase
    document = {**plan(wave("db", S1)), "objectives": {"rtoMinutes": 45, "rpoMinutes": 5}}
    [job] = launching(world, document, declared_at="2026-01-01T08:30:00Z")
    world.advance(60)
    world.drs.finish_job(job, snapshots={S1: "2026-01-01T08:20:00Z"})
    [participant] = world.drs.jobs[job]["participatingServers"]
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1))
    [ended] = world.bus.of(DRSJobCompleted)
    on_job_completed(world.rt, ended, "jc-1")
    # WHEN the report is built while db is in its post-launch phase
    report = build_report(world.ledger, "e1")
    # THEN it has the declared time, S1's recovery point and RPO, and the plan's objectives not measured yet
    assert report is not None
    assert report["declaredAt"] == "2026-01-01T08:30:00.000Z"
    [server] = report["waves"][0]["servers"]
    assert (server["recoveryInstanceId"], server["recoveryPointAt"], server["rpoMinutes"]) == (
        participant["recoveryInstanceID"],
        "2026-01-01T08:20:00.000Z",
        10.0,
    )
    assert report["objectives"]["rto"]["reason"] == "wave db: the wave is POST_LAUNCH, not COMPLETED"
    assert report["objectives"]["rpo"]["verdict"] == "NOT_MEASURED"


def test_objective_lines_say_each_verdict_in_one_line() -> None:
    # GIVEN a report whose plan met its RTO, did not measure its RPO, and whose wave db missed its own RTO
    report = {
        "declaredAt": DECLARED,
        "objectives": {
            "rto": judge(60, Figure(52.1)),
            "rpo": judge(15, Figure.unmeasured("wave app: the wave is FAILED, not COMPLETED")),
        },
        "waves": [{"waveId": "db", "objectives": {"rto": judge(20, Figure(21.256))}}, {"waveId": "app"}],
    }
    # WHEN / THEN its lines
    assert objective_lines(report) == [
        "declared at 2026-03-01T09:00:00.000Z",
        "plan RTO 60 min: achieved 52.1, margin +7.9 -> MET",
        "plan RPO 15 min: not measured -> NOT_MEASURED (wave app: the wave is FAILED, not COMPLETED)",
        "wave db RTO 20 min: achieved 21.26, margin -1.26 -> MISSED",
    ]
    assert objective_lines({"declaredAt": DECLARED, "waves": [{"waveId": "db"}]}) == []
