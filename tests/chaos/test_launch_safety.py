"""Chaos: every path that calls StartRecovery or TerminateRecoveryInstances claims the call in the ledger
first and, after a crash, finds the job the crashed call created instead of calling again (issue #11,
fault 1): the wave launch state machine, a launch parked for DRS capacity and started by a CapacityTick,
a RetryWave's new attempt, and the terminations of a rollback, a cancel, a drill's time to live and
`drs-orch cleanup`."""

from __future__ import annotations

import pytest

from localcloud.runner import run_plan
from orchestrator.plan import parse_plan
from tests.e2e.helpers import sid, start_recovery_calls, wave

ONE_JOB_AT_A_TIME = {"serversPerJob": 10, "concurrentJobs": 1, "serversInAllJobs": 10}


@pytest.fixture(name="drs_launch_seconds")
def zero_launch_time() -> dict[str, float]:
    return {"min": 0, "max": 0}


@pytest.mark.parametrize("depends", [False, True], ids=["independent", "dependent"])
def test_a_crash_after_every_start_recovery_launches_each_server_once_parked_or_not(local_cloud, depends):
    # GIVEN two one-server waves, room for one DRS job at a time, and a launch function that dies right
    # after every StartRecovery (independent waves: the second one is parked and started by a CapacityTick)
    cloud = local_cloud(**{"drs.quotas": ONE_JOB_AT_A_TIME, "faults.crashAfterStartRecovery": 1.0})
    plan = parse_plan({"planId": "crash-parked", "waves": [
        wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"] if depends else None)]})

    # WHEN the plan runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN each server was launched by exactly one StartRecovery, whose job the retry found by its tag
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("b", 1): 1}
    assert start_recovery_calls(cloud) == 2
    assert cloud.stats.crashes_injected == 2
    assert sum(cloud.dead_letters().values()) == 0
    # the state machine retries its own task; the CapacityTick's crash is one failed delivery, redelivered
    assert cloud.stats.handler_errors == (0 if depends else 1)
    jobs = {w["waveId"]: [j["jobId"] for j in w["jobs"]] for w in result.report["waves"]}
    assert all(len(ids) == 1 for ids in jobs.values()), jobs
    capacity = cloud.runtime.ledger.capacity_item()
    assert (capacity["activeJobs"], capacity["activeServers"], capacity.get("queued", 0)) == (0, 0, 0)
