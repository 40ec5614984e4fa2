"""The job watcher (orchestrator/steps/job_watcher.py) against a fake DRS and scheduler."""

from __future__ import annotations

from datetime import timedelta

from events.models import DRSJobCompleted, DRSJobStarted, JobWatchTick, ServerLaunch
from orchestrator.adapters.drs import DrsThrottled
from orchestrator.steps.job_watcher import on_job_started, on_launch_result, on_tick
from tests.unit.steps.world import S1, S2, World, launching, plan, wave

TICK = JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1)


def test_a_started_job_arms_the_first_tick_once(world: World) -> None:
    # GIVEN a wave whose job started
    [job] = launching(world, plan(wave("db", S1)))
    started = DRSJobStarted(
        execution_id="e1", plan_id="p", wave_id="db", job_id=job, launch_key="lk", source_server_ids=[S1]
    )
    world.scheduler.schedules.clear()
    # WHEN DRSJobStarted arrives twice
    on_job_started(world.rt, started)
    on_job_started(world.rt, started)
    # THEN one tick is scheduled, 15 s later
    assert list(world.scheduler.schedules.values()) == [(world.clock.now() + timedelta(seconds=15), TICK)]


def test_a_job_started_event_for_a_wave_not_launching_in_that_attempt_arms_nothing(world: World) -> None:
    # GIVEN a wave launching its attempt 1, and a wave not launching at all
    [job] = launching(world, plan(wave("db", S1), wave("app", S2, dependsOn=["db"])))
    world.scheduler.schedules.clear()
    started = DRSJobStarted(
        execution_id="e1", plan_id="p", wave_id="db", job_id=job, launch_key="lk", source_server_ids=[S1]
    )
    # WHEN DRSJobStarted arrives for attempt 2 of the first, and for the second
    on_job_started(world.rt, started.model_copy(update={"attempt": 2}))
    on_job_started(world.rt, started.model_copy(update={"wave_id": "app"}))
    # THEN no tick is armed
    assert world.scheduler.schedules == {}


def test_a_tick_reports_an_ended_job_with_each_servers_result_and_reason(world: World) -> None:
    # GIVEN a wave whose job ended: one server launched, one failed (its reason in the job log)
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.drs.finish_job(job, {S2: "FAILED"}, reasons={S2: "LAUNCH_FAILED: no capacity"})
    world.scheduler.schedules.clear()
    # WHEN the watcher's tick comes
    on_tick(world.rt, TICK)
    # THEN DRSJobCompleted names each server's result, and no further tick is armed
    [completed] = world.bus.published
    assert completed == DRSJobCompleted(
        execution_id="e1",
        plan_id="p",
        wave_id="db",
        job_id=job,
        servers=[
            ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id="i-00000000000000001"),
            ServerLaunch(source_server_id=S2, launch_status="FAILED", reason="LAUNCH_FAILED: no capacity"),
        ],
    )
    assert world.scheduler.schedules == {}


def test_a_running_job_arms_the_next_tick(world: World) -> None:
    # GIVEN a wave whose job still runs
    launching(world, plan(wave("db", S1)))
    world.scheduler.schedules.clear()
    # WHEN a tick comes
    on_tick(world.rt, TICK)
    # THEN nothing is reported and tick 2 is armed 15 s later
    assert world.bus.published == []
    assert list(world.scheduler.schedules.values()) == [
        (world.clock.now() + timedelta(seconds=15), TICK.model_copy(update={"tick": 2}))
    ]


def test_launch_results_of_every_server_report_the_job_once(world: World) -> None:
    # GIVEN an ended job of two servers
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.drs.finish_job(job)
    # WHEN DRS sends one Launch Result event per server
    on_launch_result(world.rt, {"job-id": job, "source-server-id": S1})
    on_launch_result(world.rt, {"job-id": job, "source-server-id": S2})
    # THEN the job's end is reported once
    assert [e.job_id for e in world.published(DRSJobCompleted)] == [job]


def test_drs_throttling_a_tick_polls_again_at_the_next_tick(world: World) -> None:
    # GIVEN an ended job, and DRS throttling DescribeJobs once
    [job] = launching(world, plan(wave("db", S1)))
    world.drs.finish_job(job)
    world.scheduler.schedules.clear()
    world.drs.fail("describe_jobs", DrsThrottled("ThrottlingException: x", "ThrottlingException"))
    # WHEN the tick comes
    on_tick(world.rt, TICK)
    # THEN nothing is reported yet, and the next tick is armed; that tick reports the job
    assert world.bus.published == []
    [(_, next_tick)] = world.scheduler.schedules.values()
    on_tick(world.rt, next_tick)
    assert [e.job_id for e in world.published(DRSJobCompleted)] == [job]
