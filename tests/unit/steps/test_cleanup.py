"""Terminating recovery instances (orchestrator/steps/cleanup.py) against a fake DRS: rollback of a failed
wave, the operator's cleanup, and what DRS throttling does."""

from __future__ import annotations

from events.models import TerminationTick, WaveFailed
from orchestrator.adapters.drs import DrsThrottled
from orchestrator.steps import cleanup as cleanup_step
from orchestrator.steps.cleanup import cleanup, on_wave_failed
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, S2, World, launching, plan, wave


def _failed_with_one_instance_up(
    world: World, defaults: dict[str, object] | None = None, **wave_fields: object
) -> WaveFailed:
    """A drill wave of two CRITICAL servers: S1 launched (instance i-…1), S2 failed; its WaveFailed."""
    from events.models import DRSJobCompleted, JobWatchTick
    from orchestrator.steps.job_watcher import on_tick

    [job] = launching(world, plan(wave("db", S1, S2, **wave_fields), **(defaults or {})))
    world.drs.finish_job(job, {S2: "FAILED"})
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", tick=1))
    [completed] = world.bus.of(DRSJobCompleted)
    on_job_completed(world.rt, completed, "jc-1")
    [failed] = world.bus.of(WaveFailed)
    world.bus.published.clear()
    return failed


def test_a_failed_wave_with_rollback_terminates_what_it_launched_once(world: World) -> None:
    # GIVEN a failed wave with rollback TERMINATE, one of whose servers launched
    failed = _failed_with_one_instance_up(world, rollback="TERMINATE")
    # WHEN its WaveFailed reaches the clean-up twice
    on_wave_failed(world.rt, failed)
    on_wave_failed(world.rt, failed)
    # THEN DRS was asked once to terminate that instance, and a tick watches the terminate job
    assert world.drs.terminated == [["i-00000000000000001"]]
    ticks = world.scheduler.of(TerminationTick)
    assert [(t.reason, t.wave_id) for t in ticks] == [("ROLLBACK", "db")]


def test_a_failed_wave_without_rollback_keeps_its_instances(world: World) -> None:
    # GIVEN a failed wave without rollback
    failed = _failed_with_one_instance_up(world)
    # WHEN its WaveFailed reaches the clean-up
    on_wave_failed(world.rt, failed)
    # THEN nothing is terminated
    assert world.drs.terminated == []


def test_a_throttled_termination_is_deferred_not_lost(world: World) -> None:
    # GIVEN a drill with an instance up, and DRS throttling DescribeRecoveryInstances
    _failed_with_one_instance_up(world)
    world.drs.fail("describe_recovery_instances", DrsThrottled("ThrottlingException: x", "ThrottlingException", 20))
    # WHEN the operator cleans the execution up, then again
    first = cleanup(world.rt, "e1")
    second = cleanup(world.rt, "e1")
    # THEN the first is deferred with DRS's wait, and the second terminates the instance
    assert (first.deferred, first.wait_seconds, first.instance_ids) == (True, 20.0, [])
    assert second.instance_ids == ["i-00000000000000001"]
    assert world.drs.terminated == [["i-00000000000000001"]]


def test_cleanup_of_a_recovery_is_refused_unless_asked_for(world: World) -> None:
    # GIVEN a RECOVERY execution
    from events.models import Mode

    launching(world, plan(wave("db", S1)), mode=Mode.RECOVERY, confirm_recovery="p")
    # WHEN the operator cleans it up without --include-recovery
    result = cleanup(world.rt, "e1")
    # THEN nothing is terminated, and the refusal says why
    assert result.refused is not None
    assert result.refused.startswith("a RECOVERY execution runs production")
    assert world.drs.terminated == []


def test_a_time_to_live_tick_terminates_an_ended_drills_instances_once_it_is_over(world: World) -> None:
    # GIVEN a drill kept 600 s after its first launch, whose wave failed with an instance up, and which has ended
    from orchestrator.steps.progress import on_wave_failed as plan_on_wave_failed

    failed = _failed_with_one_instance_up(world, {"drillInstanceTtlSeconds": 600})
    plan_on_wave_failed(world.rt, failed, "wf-1")
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.status == "FAILED"
    tick = TerminationTick(execution_id="e1", plan_id="p", reason="TIME_TO_LIVE")
    # WHEN its TIME_TO_LIVE tick comes early (forged), then once it is over, twice
    cleanup_step.on_tick(world.rt, tick)
    early = list(world.drs.terminated)
    world.advance(600)
    cleanup_step.on_tick(world.rt, tick)
    cleanup_step.on_tick(world.rt, tick)
    # THEN nothing was terminated early; the instance once, recorded as a TIME_TO_LIVE of the execution
    assert early == []
    assert world.drs.terminated == [["i-00000000000000001"]]
    [record] = world.ledger.terminations("e1")
    assert (record.reason, record.wave_id, record.instance_ids) == ("TIME_TO_LIVE", None, ("i-00000000000000001",))


def test_a_drill_cancelled_with_terminate_drill_instances_terminates_what_it_launched_once(world: World) -> None:
    # GIVEN a running drill whose wave's job has launched its one server
    from events.models import CancelPlan
    from orchestrator.steps.control import cancel_plan

    [job] = launching(world, plan(wave("db", S1)))
    world.drs.finish_job(job)
    cancel = CancelPlan(execution_id="e1", requested_by="ops", terminate_drill_instances=True)
    # WHEN the operator cancels it asking for its instances to go, and the command is delivered twice
    cancel_plan(world.rt, cancel, "cancel-1")
    cancel_plan(world.rt, cancel, "cancel-1")
    # THEN DRS terminated the instance once, recorded as CANCEL, and ticks watch the terminate job
    assert world.drs.terminated == [["i-00000000000000001"]]
    [record] = world.ledger.terminations("e1")
    assert (record.reason, record.instance_ids) == ("CANCEL", ("i-00000000000000001",))
    assert {t.reason for t in world.scheduler.of(TerminationTick)} == {"CANCEL"}
