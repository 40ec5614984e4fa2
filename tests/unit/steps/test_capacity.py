"""DRS capacity shared by every execution (orchestrator/steps/capacity.py): the quota arithmetic, admission,
the queue and its CapacityTick, against a fake DRS and scheduler."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events.models import CapacityTick, DRSJobCompleted, JobWatchTick
from orchestrator.adapters.drs import DrsThrottled
from orchestrator.domain.records.changes import ExecutionChanges
from orchestrator.domain.records.launches import LaunchStatus
from orchestrator.steps import capacity
from orchestrator.steps.capacity import Quotas
from orchestrator.steps.job_watcher import on_tick
from orchestrator.steps.launch_wave import drain, prepare, start_job
from tests.unit.steps.world import S1, S2, World, plan, pre_launched, wave


@pytest.mark.parametrize(
    ("servers_per_job", "concurrent_jobs", "servers_in_active_jobs", "job_size"),
    [
        (100, 20, 500, 100),  # AWS's quotas: a job holds at most 100 servers
        (300, 20, 500, 200),  # never more than TerminateRecoveryInstances takes in one call
        (100, 20, 50, 50),  # never more than fits in all active jobs
        (100, 20, 100, 100),  # exactly at the active-servers quota
        (1, 1, 1, 1),
    ],
)
def test_job_size_is_the_largest_job_that_can_ever_be_admitted(
    servers_per_job: int, concurrent_jobs: int, servers_in_active_jobs: int, job_size: int
) -> None:
    # GIVEN / WHEN / THEN
    assert Quotas(servers_per_job, concurrent_jobs, servers_in_active_jobs).job_size == job_size


def test_a_job_that_does_not_fit_is_parked_and_the_tick_starts_it_once_capacity_frees(world: World) -> None:
    # GIVEN one concurrent DRS job at most, and a wave of two one-server jobs
    world.configure(drs_servers_per_job=1, drs_concurrent_jobs=1)
    done = pre_launched(world, plan(wave("db", S1, S2)), "db")
    first, second = prepare(world.rt, done, "pld-1")["chunks"]
    # WHEN both are started
    started = start_job(world.rt, first)
    parked = start_job(world.rt, second)
    # THEN the first runs, the second is parked with a CapacityTick scheduled
    assert (started["outcome"], parked["outcome"]) == ("STARTED", "PARKED")
    assert len(world.scheduler.of(CapacityTick)) == 1
    assert drain(world.rt) == {"started": 0, "dropped": 0, "parked": 1}  # still full
    # WHEN the first job ends (its watcher releases the capacity) and the tick comes, twice
    world.drs.finish_job(started["jobId"])
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1))
    results = [drain(world.rt), drain(world.rt)]
    # THEN the parked job started once
    assert results == [{"started": 1, "dropped": 0, "parked": 0}, {"started": 0, "dropped": 0, "parked": 0}]
    assert [s["servers"] for s in world.drs.started] == [[{"sourceServerID": S1}], [{"sourceServerID": S2}]]


def test_a_throttled_tick_leaves_the_launch_parked(world: World) -> None:
    # GIVEN a parked launch (a quota of one job, held by a job of this wave)
    world.configure(drs_servers_per_job=1, drs_concurrent_jobs=1)
    done = pre_launched(world, plan(wave("db", S1, S2)), "db")
    first, second = prepare(world.rt, done, "pld-1")["chunks"]
    job = start_job(world.rt, first)["jobId"]
    start_job(world.rt, second)
    world.drs.finish_job(job)
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1))
    world.scheduler.due(world.clock.now() + timedelta(hours=1))  # the ticks scheduled so far have fired
    # WHEN the CapacityTick finds DRS throttling StartRecovery
    world.drs.fail("start_recovery", DrsThrottled("ThrottlingException: x", "ThrottlingException"))
    result = drain(world.rt)
    # THEN nothing started, the launch stays parked and ticks come again (the release asks for the next
    # 15 s slot after 1 s, the parking for the one after 15 s)
    assert world.drs.unused_errors() == {}
    assert result == {"started": 0, "dropped": 0, "parked": 1}
    assert len(world.drs.started) == 1
    assert [t.due_at for t in world.scheduler.of(CapacityTick)] == [
        "2026-01-01T09:00:15.000Z",
        "2026-01-01T09:00:30.000Z",
    ]


def test_a_parked_launch_whose_plan_stopped_is_not_started_and_leaves_the_queue(world: World) -> None:
    # GIVEN a launch parked behind the wave's first job (one concurrent job at most), and the plan stopping
    world.configure(drs_servers_per_job=1, drs_concurrent_jobs=1)
    done = pre_launched(world, plan(wave("db", S1, S2)), "db")
    first, second = prepare(world.rt, done, "pld-1")["chunks"]
    start_job(world.rt, first)
    assert start_job(world.rt, second)["outcome"] == "PARKED"
    world.ledger.set_execution_status(
        "e1", from_=["RUNNING"], to="STOPPING", key="stop", changes=ExecutionChanges(stop_reason="x")
    )
    # WHEN the CapacityTick comes, twice
    results = [drain(world.rt), drain(world.rt)]
    # THEN its server ends NOT_STARTED ("not launched: plan stopped") once, without a StartRecovery
    assert results == [{"started": 0, "dropped": 1, "parked": 0}, {"started": 0, "dropped": 0, "parked": 0}]
    [completed] = world.published(DRSJobCompleted)
    assert [(s.source_server_id, s.launch_status, s.reason) for s in completed.servers] == [
        (S2, "NOT_STARTED", "not launched: plan stopped")
    ]
    assert world.ledger.parked() == []
    assert [c.status for c in world.ledger.launches("e1", "db")] == [LaunchStatus.STARTED, LaunchStatus.NOT_STARTED]
    assert len(world.drs.started) == 1


def test_reconcile_releases_what_an_ended_job_and_a_dead_launcher_held_once(world: World) -> None:
    # GIVEN three admissions: a terminate job that has ended unseen, a launch whose launcher died before its
    # job 16 minutes ago, and a launch admitted just now
    world.drs.add_source_server(S1)
    job = world.drs.start_recovery([{"sourceServerID": S1}], is_drill=True, tags={})["jobID"]
    world.drs.finish_job(job)
    capacity.admit(world.rt, "term-1", 1, ref="e1/*", kind="TERMINATE", behind_queue=False)
    capacity.note_job(world.rt, "term-1", job)
    capacity.admit(world.rt, "lk-dead", 2, ref="e1/db")
    world.advance(16 * 60)
    capacity.admit(world.rt, "lk-new", 3, ref="e1/db")
    # WHEN the capacity is reconciled with DRS, twice
    released = [capacity.reconcile(world.rt), capacity.reconcile(world.rt)]
    # THEN the ended job and the dead launcher's admission were released, once; the fresh one holds
    assert released == [2, 0]
    state = world.ledger.capacity()
    assert (state.active_jobs, state.active_servers, list(state.holds)) == (1, 3, ["lk-new"])
