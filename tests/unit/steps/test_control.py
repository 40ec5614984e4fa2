"""Operator commands (orchestrator/steps/control.py) against fakes: pause, resume, cancel, refusals."""

from __future__ import annotations

import pytest

from events.models import (
    CancelPlan,
    ControlRejected,
    PausePlan,
    PlanCancelled,
    ResumePlan,
    RetryWave,
    SkipWave,
    WaveReady,
    WaveSkipped,
)
from orchestrator.steps.control import cancel_plan, decide, pause_plan, resume_plan, retry_wave, skip_wave
from orchestrator.steps.pre_launch import on_wave_ready
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


def _failed_at_preflight(world: World) -> None:
    """A started plan TWO whose wave db failed its preflight (S1 stalled), S1 repaired since (bus emptied)."""
    world.drs.add_source_server(S1, replication="STALLED")
    world.start(TWO)
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    assert world.wave_status("e1", "db") == "FAILED"
    world.drs.add_source_server(S1)
    world.bus.published.clear()


def test_a_retried_wave_is_ready_again_as_its_next_attempt(world: World) -> None:
    # GIVEN a wave that failed
    _failed_at_preflight(world)
    # WHEN it is retried (twice: a redelivery)
    command = RetryWave(execution_id="e1", wave_id="db", requested_by="ops")
    decide(world.rt, command, "retry-1", retry_wave)
    decide(world.rt, command, "retry-1", retry_wave)
    # THEN it is READY for attempt 2, retried once by ops, and every WaveReady announced is attempt 2's
    wave = world.ledger.wave("e1", "db") or pytest.fail("no wave")
    assert (wave.status, wave.attempt, wave.retried_by, wave.launch_servers) == ("READY", 2, "ops", (S1,))
    assert [a.attempt for a in wave.previous_attempts] == [1]
    ready, *copies = world.published(WaveReady)
    assert ready == WaveReady(execution_id="e1", plan_id="p", wave_id="db", attempt=2)
    assert all(copy == ready for copy in copies)
    assert world.published(ControlRejected) == []


def test_retrying_a_wave_that_did_not_fail_is_refused(world: World) -> None:
    # GIVEN a running plan whose first wave is READY
    world.start(TWO)
    # WHEN it is retried
    decide(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1", retry_wave)
    # THEN the retry is refused with the reason, and the wave is untouched
    assert world.bus.published == [
        ControlRejected(
            execution_id="e1",
            command="RetryWave",
            reason="wave db is READY: only a FAILED wave can be retried",
            wave_id="db",
            requested_by="ops",
        )
    ]
    assert (world.ledger.wave("e1", "db") or pytest.fail("no wave")).attempt == 1


def test_skipping_a_failed_wave_releases_its_dependents(world: World) -> None:
    # GIVEN a wave that failed, its dependent waiting for it
    _failed_at_preflight(world)
    # WHEN an operator skips it (twice: a redelivery)
    command = SkipWave(execution_id="e1", wave_id="db", requested_by="ops", reason="done by hand")
    decide(world.rt, command, "skip-1", skip_wave)
    decide(world.rt, command, "skip-1", skip_wave)
    # THEN it is SKIPPED by ops, and its dependent is released: the same WaveSkipped and WaveReady each time
    wave = world.ledger.wave("e1", "db") or pytest.fail("no wave")
    assert (wave.status, wave.skipped_by, wave.skip_key) == ("SKIPPED", "ops", "skip-1")
    assert world.wave_status("e1", "app") == "READY"
    skipped = WaveSkipped(
        execution_id="e1", plan_id="p", wave_id="db", reason="skipped by ops: done by hand", skipped_by="ops"
    )
    released = WaveReady(execution_id="e1", plan_id="p", wave_id="app")
    assert world.bus.published in ([skipped, released], [skipped, released, skipped, released])
    assert (world.ledger.execution("e1") or pytest.fail("no execution")).failed_waves == ()


def test_a_command_naming_a_wave_the_execution_lacks_is_refused(world: World) -> None:
    # GIVEN a running plan
    world.start(TWO)
    # WHEN a SkipWave names a wave it does not have
    decide(world.rt, SkipWave(execution_id="e1", wave_id="nope", requested_by="ops"), "skip-1", skip_wave)
    # THEN it is refused, naming the wave
    assert world.bus.published == [
        ControlRejected(
            execution_id="e1",
            command="SkipWave",
            reason="execution e1 has no wave nope",
            wave_id="nope",
            requested_by="ops",
        )
    ]
