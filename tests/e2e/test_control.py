"""End to end: operator commands on a running plan (cancel, pause and resume, and commands that do not fit)."""

from __future__ import annotations

import pytest

from localcloud.cloud import Stalled
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import (
    assert_choreography_invariants,
    at,
    command,
    events_of,
    execution,
    launch_started,
    ledger_items,
    ledger_waves,
    session,
    sid,
    wave,
    wave_status,
)

W1 = [sid("a", 1), sid("a", 2)]


def _linear_plan():
    return parse_plan(
        {
            "planId": "ops",
            "waves": [
                wave("w1", W1),
                wave("w2", [sid("b", 1)], ["w1"]),
                wave("w3", [sid("c", 1)], ["w2"]),
            ],
        }
    )


def _started_until(cloud, wave_id: str, status: str) -> str:
    """The plan started and `wave_id` in `status` (LAUNCHING: with its DRS job started, `launch_started`)."""
    execution_id = start(cloud, _linear_plan())
    if status == "LAUNCHING":
        cloud.run_until(lambda: launch_started(cloud, execution_id, wave_id), timeout=60)
    else:
        cloud.run_until(lambda: wave_status(cloud, execution_id, wave_id) == status, timeout=60)
    return execution_id


def test_cancel_mid_plan_lets_the_running_wave_finish_and_skips_the_rest(local_cloud):
    # GIVEN a 3-wave plan whose first wave is launching
    cloud = local_cloud()
    execution_id = _started_until(cloud, "w1", "LAUNCHING")
    assert set(cloud.drs.stats.launches) == set(W1)

    # WHEN an operator cancels it
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="test")
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan ends CANCELLED: w1's jobs finished and were recorded, later waves SKIPPED, nothing new launched
    assert result.status == "CANCELLED"
    assert result.report is not None
    waves = {w["waveId"]: w for w in result.report["waves"]}
    assert [waves[w]["status"] for w in ("w2", "w3")] == ["SKIPPED", "SKIPPED"]
    w1 = waves["w1"]
    assert w1["jobs"]
    assert all(job["status"] == "COMPLETED" and job["completedAt"] for job in w1["jobs"])
    assert {s["sourceServerId"]: s["launchStatus"] for s in w1["servers"]} == dict.fromkeys(W1, "LAUNCHED")
    assert all(s["recoveryInstanceId"] for s in w1["servers"])
    assert set(cloud.drs.stats.launches) == set(W1)
    assert {e.wave_id for e in events_of(cloud, "DRSJobStarted", execution_id)} == {"w1"}
    assert {e.wave_id for e in events_of(cloud, "WaveSkipped", execution_id)} == {"w2", "w3"}
    assert f"cancelled by {session('test')}" in (result.report["stopReason"] or "")
    assert not events_of(cloud, "PlanFailed", execution_id)
    assert_choreography_invariants(cloud, execution_id)


def test_pause_holds_the_next_wave_until_resume(local_cloud):
    # GIVEN a 3-wave plan whose first wave is launching
    cloud = local_cloud()
    execution_id = _started_until(cloud, "w1", "LAUNCHING")

    # WHEN it is paused and wave 1 completes
    command(cloud, "PausePlan", {"executionId": execution_id}, by="test")
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "COMPLETED", timeout=60)
    cloud.drain()

    # THEN wave 2 stays PENDING, however long the clock runs
    assert execution(cloud, execution_id)["status"] == "PAUSED"
    with pytest.raises(Stalled):
        cloud.run_until(lambda: False, timeout=30)
    assert wave_status(cloud, execution_id, "w2") == "PENDING"
    assert not events_of(cloud, "WaveReady", execution_id, "w2")
    assert set(cloud.drs.stats.launches) == set(W1)
    paused_until = cloud.clock.now()

    # WHEN it is resumed
    command(cloud, "ResumePlan", {"executionId": execution_id}, by="test")
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan carries on and completes
    assert result.status == "COMPLETED"
    waves = ledger_waves(cloud, execution_id)
    assert at(waves["w2"]["readyAt"]) >= paused_until
    assert at(waves["w3"]["launchStartedAt"]) > at(waves["w2"]["completedAt"])
    assert len(cloud.drs.stats.launches) == 4
    assert_choreography_invariants(cloud, execution_id)


def test_resume_of_a_running_plan_is_rejected_and_changes_nothing(local_cloud):
    # GIVEN a running plan (first wave launching)
    cloud = local_cloud()
    execution_id = _started_until(cloud, "w1", "LAUNCHING")
    before = ledger_items(cloud)

    # WHEN an operator resumes it
    command(cloud, "ResumePlan", {"executionId": execution_id}, by="test")
    cloud.drain()

    # THEN a ControlRejected says why, and the ledger is untouched
    # (once, however often the command is delivered)
    rejected = events_of(cloud, "ControlRejected", execution_id)
    assert [(e.detail["command"], "RUNNING" in e.detail["reason"]) for e in rejected] == [("ResumePlan", True)]
    assert ledger_items(cloud) == before

    # AND the plan still runs to completion
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert_choreography_invariants(cloud, execution_id)


def test_commands_on_a_finished_or_unknown_execution_are_rejected(local_cloud):
    # GIVEN a finished plan
    cloud = local_cloud(**{"drs.launchSeconds": {"min": 0, "max": 0}})
    execution_id = start(cloud, _linear_plan())
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    before = ledger_items(cloud)

    # WHEN each command is sent to it, and a cancel to an execution that does not exist
    commands = [
        ("PausePlan", execution_id),
        ("ResumePlan", execution_id),
        ("CancelPlan", execution_id),
        ("CancelPlan", "no-such-execution"),
    ]
    for kind, target in commands:
        command(cloud, kind, {"executionId": target}, by="test")
    cloud.drain()

    # THEN each is rejected with a ControlRejected, and nothing changed
    rejected = [(e.detail["command"], e.detail["executionId"]) for e in events_of(cloud, "ControlRejected")]
    assert sorted(rejected) == sorted(commands)  # once each, however often delivered
    assert ledger_items(cloud) == before
    assert execution(cloud, execution_id)["status"] == "COMPLETED"
    assert_choreography_invariants(cloud, execution_id)


def test_plan_cancelled_names_who_cancelled_and_what_was_running(local_cloud):
    # GIVEN a plan started by alice whose first wave is launching
    cloud = local_cloud()
    execution_id = start(cloud, _linear_plan(), requested_by="alice")
    cloud.run_until(lambda: launch_started(cloud, execution_id, "w1"), timeout=60)

    # WHEN bob cancels it
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="bob")
    assert wait(cloud, execution_id, timeout=60).status == "CANCELLED"

    # THEN PlanCancelled says bob cancelled it while w1 was running
    [cancelled] = events_of(cloud, "PlanCancelled", execution_id)
    assert cancelled.detail["requestedBy"] == session("bob")
    assert cancelled.detail["runningWaveIds"] == ["w1"]
