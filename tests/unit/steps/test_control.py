"""Operator commands (orchestrator/steps/control.py) against fakes: pause, resume, cancel, refusals."""

from __future__ import annotations

from events.models import CancelPlan, ControlRejected, PausePlan, PlanCancelled, ResumePlan, WaveReady, WaveSkipped
from orchestrator.steps.control import cancel_plan, decide, pause_plan, resume_plan
from tests.unit.steps.world import S1, S2, World, launching, plan, wave

TWO = plan(wave("db", S1), wave("app", S2, dependsOn=["db"]))


def test_pause_then_resume(world: World) -> None:
    # GIVEN a running plan
    world.start(TWO)
    # WHEN it is paused, then resumed
    decide(world.rt, PausePlan(execution_id="e1", requested_by="ops"), "pause-1", pause_plan)
    paused = world.ledger.get_execution("e1")["status"]
    decide(world.rt, ResumePlan(execution_id="e1", requested_by="ops"), "resume-1", resume_plan)
    # THEN it was PAUSED, and is RUNNING again, with nothing refused
    assert paused == "PAUSED"
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"
    assert world.published(ControlRejected) == []


def test_a_late_copy_of_an_accepted_pause_does_not_pause_again_after_the_resume(world: World) -> None:
    # GIVEN a plan paused by pause-1, then resumed
    world.start(TWO)
    decide(world.rt, PausePlan(execution_id="e1"), "pause-1", pause_plan)
    decide(world.rt, ResumePlan(execution_id="e1"), "resume-1", resume_plan)
    world.bus.published.clear()
    # WHEN a late copy of pause-1 arrives
    decide(world.rt, PausePlan(execution_id="e1"), "pause-1", pause_plan)
    # THEN the plan keeps running and the copy is not refused either (it was carried out)
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"
    assert world.bus.published == []


def test_a_refused_command_is_refused_once_and_stays_refused(world: World) -> None:
    # GIVEN a paused plan
    world.start(TWO)
    decide(world.rt, PausePlan(execution_id="e1"), "pause-1", pause_plan)
    world.bus.published.clear()
    # WHEN a second pause (pause-2) arrives twice, then the plan is resumed and pause-2 arrives again
    decide(world.rt, PausePlan(execution_id="e1", requested_by="bob"), "pause-2", pause_plan)
    decide(world.rt, PausePlan(execution_id="e1", requested_by="bob"), "pause-2", pause_plan)
    decide(world.rt, ResumePlan(execution_id="e1"), "resume-1", resume_plan)
    decide(world.rt, PausePlan(execution_id="e1", requested_by="bob"), "pause-2", pause_plan)
    # THEN pause-2 was refused once, and its late copy did not pause the resumed plan
    assert world.published(ControlRejected) == [
        ControlRejected(
            execution_id="e1", command="PausePlan", reason="execution is PAUSED, not running", requested_by="bob"
        )
    ]
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"


def test_cancel_skips_what_has_not_started_and_ends_the_plan_when_the_running_wave_ends(world: World) -> None:
    # GIVEN a plan whose first wave is launching
    launching(world, TWO)
    # WHEN it is cancelled (twice: a redelivery)
    command = CancelPlan(execution_id="e1", requested_by="ops")
    decide(world.rt, command, "cancel-1", cancel_plan)
    decide(world.rt, command, "cancel-1", cancel_plan)
    # THEN the waiting wave is skipped once, the running one goes on, and the plan is STOPPING
    assert [s.wave_id for s in world.published(WaveSkipped)] == ["app"]
    assert (world.wave_status("e1", "db"), world.wave_status("e1", "app")) == ("LAUNCHING", "SKIPPED")
    assert world.ledger.get_execution("e1")["status"] == "STOPPING"
    assert world.published(PlanCancelled) == []
    assert world.published(WaveReady) == []


def test_cancelling_an_unknown_execution_is_refused(world: World) -> None:
    # GIVEN no execution
    # WHEN a CancelPlan names one
    decide(world.rt, CancelPlan(execution_id="nope", requested_by="ops"), "cancel-1", cancel_plan)
    # THEN it is refused with the reason
    assert world.bus.published == [
        ControlRejected(execution_id="nope", command="CancelPlan", reason="no such execution", requested_by="ops")
    ]
