"""Chaos: every path that calls StartRecovery or TerminateRecoveryInstances claims the call in the ledger
first and, after a crash, finds the job the crashed call created instead of calling again (issue #11,
fault 1): the wave launch state machine, a launch parked for DRS capacity and started by a CapacityTick,
a RetryWave's new attempt, and the terminations of a rollback, a cancel, a drill's time to live and
`drs-orch cleanup`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from localcloud.cloud import CrashInjected, LocalCloud
from localcloud.runner import run_plan, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records import ExecutionRecord
from tests.e2e.helpers import command, events_of, sid, start_recovery_calls, wave

ONE_JOB_AT_A_TIME = {"serversPerJob": 10, "concurrentJobs": 1, "serversInAllJobs": 10}


@pytest.fixture(name="drs_launch_seconds")
def zero_launch_time() -> dict[str, float]:
    return {"min": 0, "max": 0}


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "unpacked"])
@pytest.mark.parametrize("depends", [False, True], ids=["independent", "dependent"])
def test_a_crash_after_every_start_recovery_launches_each_server_once_parked_or_not(local_cloud, depends, packing):
    # GIVEN two one-server waves, room for one DRS job at a time, and a launch function that dies right
    # after every StartRecovery (independent waves: the second one is parked and started by a CapacityTick)
    # (independent: each job takes a simulated minute, so the first holds the quota while the second is admitted;
    # with zero launch time the first job could end first under load, and nothing would be parked)
    hold = {} if depends else {"drs.launchSeconds": {"min": 60, "max": 60}}
    cloud = local_cloud(
        **{"drs.quotas": ONE_JOB_AT_A_TIME, "faults.crashAfterStartRecovery": 1.0, "packing.enabled": packing, **hold}
    )
    plan = parse_plan(
        {
            "planId": "crash-parked",
            "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"] if depends else None)],
        }
    )

    # WHEN the plan runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN each server was launched by exactly one StartRecovery, whose job the retry found by its tag
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("b", 1): 1}
    # (packed, the two independent waves ready together share one job)
    calls = 1 if packing and not depends else 2
    assert start_recovery_calls(cloud) == calls
    assert cloud.stats.crashes_injected == calls
    assert sum(cloud.dead_letters().values()) == 0
    # the state machine retries its own task; a CapacityTick's crash is one failed delivery, redelivered (packed,
    # every StartRecovery is the packer's, on a CapacityTick)
    assert cloud.stats.handler_errors == (calls if packing else 0 if depends else 1)
    jobs = {w["waveId"]: [j["jobId"] for j in w["jobs"]] for w in result.report["waves"]}
    assert all(len(ids) == 1 for ids in jobs.values()), jobs
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers, capacity.queued or 0) == (0, 0, 0)


def _claimed_and_leased_by_another_call(cloud: LocalCloud) -> Any:
    """A launching wave whose launch is claimed, and whose lease another call holds (it is calling StartRecovery
    right now): the steps run by hand on the local cloud's runtime, nothing delivered. Returns the chunk."""
    from events.models import PreLaunchDone, StartPlan, WaveReady
    from orchestrator.steps import launch_wave
    from orchestrator.steps.pre_launch import on_wave_ready
    from orchestrator.steps.start_plan import start_plan

    rt = cloud.runtime
    cloud.drs.ensure_servers([sid("a", 1)])
    document = {"planId": "p", "waves": [wave("w", [sid("a", 1)])]}
    start_plan(rt, StartPlan(plan=document, execution_id="e-1"), "sp-1")
    on_wave_ready(rt, WaveReady(execution_id="e-1", plan_id="p", wave_id="w"), "wr-1")
    assert [e.wave_id for e in events_of(cloud, "PreLaunchDone", "e-1")] == ["w"]
    done = PreLaunchDone(execution_id="e-1", plan_id="p", wave_id="w")
    [chunk] = launch_wave.prepare(rt, done, "pld-1")["chunks"]
    key = chunk.launch_key
    assert rt.ledger.claim_launch("e-1", "w", 1, 0, launch_key=key, server_ids=[sid("a", 1)]) is None
    assert rt.ledger.lease_launch("e-1", "w", 1, 0, token="other", seconds=launch_wave.LEASE_SECONDS) is None
    return chunk


def test_a_launch_another_call_is_starting_waits_for_it_instead_of_calling_drs(local_cloud):
    # GIVEN a launch another call is starting (packing off: the state machine calls StartRecovery itself)
    from orchestrator.steps import launch_wave

    cloud = local_cloud(**{"packing.enabled": False})
    chunk = _claimed_and_leased_by_another_call(cloud)
    key = chunk.launch_key
    rt = cloud.runtime

    # WHEN the state machine and a CapacityTick each try to start it
    from_machine = launch_wave.start_job(rt, chunk)
    from_queue = launch_wave.start_job(rt, chunk, from_queue=True)

    # THEN neither calls DRS: the state machine waits (a Wait state), the queue leaves it parked
    assert from_machine == {
        "outcome": "RETRY",
        "waitSeconds": launch_wave.MAX_WAIT_SECONDS,
        "chunk": replace(chunk, tries=1),
    }
    assert from_queue == {"outcome": "BUSY", "launchKey": key}
    assert start_recovery_calls(cloud) == 0


def test_a_packed_launch_another_call_is_starting_stays_parked_instead_of_calling_drs(local_cloud):
    # GIVEN the same launch with packing on, and no gathering window (the packer may start it at once)
    from orchestrator.steps import launch_wave

    cloud = local_cloud(**{"packing.windowSeconds": 0})
    chunk = _claimed_and_leased_by_another_call(cloud)
    rt = cloud.runtime

    # WHEN the state machine's StartJob gathers it and a CapacityTick packs
    gathered = launch_wave.start_job(rt, chunk)
    packed = launch_wave.drain(rt)

    # THEN it waits in the queue: the packer could not lease it, so it called no DRS
    assert gathered["outcome"] == "PARKED"
    assert (packed["jobs"], packed["started"], packed["parked"]) == (0, 0, 1)
    assert [entry.chunk.launch_key for entry in rt.ledger.parked()] == [chunk.launch_key]
    assert rt.ledger.packings() == []
    assert start_recovery_calls(cloud) == 0


def test_a_retried_wave_whose_start_recovery_crashes_launches_each_server_once_per_attempt(local_cloud):
    # GIVEN a wave whose CRITICAL server failed, and a launch function that dies after every StartRecovery
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED", "faults.crashAfterStartRecovery": 1.0})
    plan = parse_plan({"planId": "retry-crash", "waves": [wave("B", [sid("b", 1), failing])]})
    first = run_plan(cloud, plan, timeout=60)
    assert first.status == "FAILED"

    # WHEN the server is fixed and the wave retried (attempt 2 launches the failed server only)
    cloud.drs.set_launch_outcome(failing, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": first.execution_id, "waveId": "B"}, by="ops")
    result = wait(cloud, first.execution_id, timeout=60)

    # THEN one StartRecovery per attempt: the retry of the crashed call found attempt 2's job by its tag
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("b", 1): 1, failing: 2}
    assert start_recovery_calls(cloud) == 2
    assert cloud.stats.crashes_injected == 2
    assert sum(cloud.dead_letters().values()) == 0


# ---- terminations: claimed, and found after a crash ---------------------------------------------


def _crash_after_first_terminate(cloud: LocalCloud) -> list[str]:
    """The first TerminateRecoveryInstances succeeds at DRS, then the function dies before recording it."""
    drs = cloud.runtime.drs
    terminate = drs.terminate_recovery_instances
    crashed: list[str] = []

    def crashing(ids: list[str]) -> dict[str, Any]:
        job = terminate(ids)
        if not crashed:
            crashed.append(str(job["jobID"]))
            cloud.stats.crashes_injected += 1
            raise CrashInjected("injected: died right after TerminateRecoveryInstances")
        return job

    drs.terminate_recovery_instances = crashing  # type: ignore[method-assign]
    return crashed


def _terminated_records(cloud: LocalCloud, execution_id: str) -> list[tuple[str, list[str], int]]:
    return [
        (r["reason"], list(r["jobIds"]), len(r["instances"]))
        for r in cloud.runtime.ledger.list_terminations(execution_id)
    ]


def test_a_rollback_that_crashes_after_terminate_recovery_instances_finds_its_job(local_cloud):
    # GIVEN a wave with rollback TERMINATE whose CRITICAL server fails, and a clean-up function that dies
    # right after its first TerminateRecoveryInstances
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    crashed = _crash_after_first_terminate(cloud)
    plan = parse_plan(
        {"planId": "rollback-crash", "waves": [wave("B", [sid("b", 1), sid("b", 3), failing], rollback="TERMINATE")]}
    )

    # WHEN it runs (the WaveFailed delivery that crashed is delivered again)
    result = run_plan(cloud, plan, timeout=60)
    cloud.run_until(lambda: bool(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)), timeout=30)

    # THEN one terminate job for both instances: the redelivery found it (DescribeJobs: TERMINATE, same
    # instances) and recorded and announced it once
    assert result.status == "FAILED"
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 1
    assert _terminated_records(cloud, result.execution_id) == [("ROLLBACK", crashed, 2)]
    [announced] = events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)
    assert announced.detail["jobIds"] == crashed
    assert cloud.stats.handler_errors == 1
    assert sum(cloud.dead_letters().values()) == 0


def _completed_drill(local_cloud: Any) -> tuple[LocalCloud, ExecutionRecord]:
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "term-crash",
            "defaults": {"drillInstanceTtlSeconds": 3600},
            "waves": [wave("A", [sid("a", 1), sid("a", 2)])],
        }
    )
    result = run_plan(cloud, plan, timeout=60)
    assert result.status == "COMPLETED"
    execution = cloud.runtime.ledger.execution(result.execution_id)
    assert execution is not None
    return cloud, execution


def _cancel(cloud: LocalCloud, execution: ExecutionRecord) -> None:
    from orchestrator.steps import cleanup

    cleanup.terminate_cancelled_drill(cloud.runtime, replace(execution, terminate_on_cancel=True))


def _time_to_live(cloud: LocalCloud, execution: ExecutionRecord) -> None:
    from events.models import TerminationTick
    from orchestrator.steps import cleanup

    cloud.clock.jump_to(max(cloud.clock.now(), _ttl_over(cloud, execution)))  # the tick comes when it is due
    cleanup.on_tick(
        cloud.runtime,
        TerminationTick(execution_id=execution.execution_id, plan_id="term-crash", reason="TIME_TO_LIVE"),
    )


def _ttl_over(cloud: LocalCloud, execution: ExecutionRecord) -> Any:
    from datetime import timedelta

    from orchestrator.domain.clock import parse_iso

    waves = cloud.runtime.ledger.list_waves(execution.execution_id)
    return min(parse_iso(w["launchStartedAt"]) for w in waves) + timedelta(seconds=3600)


def _operator_cleanup(cloud: LocalCloud, execution: ExecutionRecord) -> None:
    from orchestrator.steps import cleanup

    cleanup.cleanup(cloud.runtime, execution.execution_id)


@pytest.mark.parametrize(
    ("path", "reason"),
    [(_cancel, "CANCEL"), (_time_to_live, "TIME_TO_LIVE"), (_operator_cleanup, "CLEANUP")],
    ids=["cancel", "ttl", "cleanup"],
)
def test_every_termination_path_that_crashes_after_the_call_finds_its_job_instead_of_calling_again(
    local_cloud, path, reason
):
    # GIVEN a completed drill, and a function that dies right after its first TerminateRecoveryInstances
    cloud, execution = _completed_drill(local_cloud)
    crashed = _crash_after_first_terminate(cloud)

    # WHEN the termination runs, dies, and is delivered (or run) again
    with pytest.raises(CrashInjected):
        path(cloud, execution)
    path(cloud, execution)

    # THEN DRS was called once; the second run found the job by its claim and recorded it, with its capacity
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 1
    assert _terminated_records(cloud, execution.execution_id) == [(reason, crashed, 2)]
    holders = {k: v for k, v in cloud.runtime.ledger.capacity().holds.items() if k.startswith("term-")}
    assert [v.job_id for v in holders.values()] == crashed
