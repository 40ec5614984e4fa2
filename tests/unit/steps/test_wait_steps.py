"""WAIT steps at run time (orchestrator/steps/scripts.py) against fakes: claimed once in the ledger like a script,
nothing sent to SSM, one scheduler tick at claim + seconds that concludes the wait Success and starts what follows;
an early, foreign or late tick concludes nothing. A cancel ends a wait at once (Cancelled, its tick deleted, its
phase's Done published, once under a duplicated cancel); a pause does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from events.models import (
    CancelPlan,
    DRSJobCompleted,
    PausePlan,
    PostLaunchDone,
    PostLaunchTick,
    PreLaunchDone,
    PreLaunchTick,
    ServerLaunch,
    WaveReady,
)
from orchestrator.adapters.bus import PublishError
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records.scripts import ScriptId, ScriptRun, ScriptStatus
from orchestrator.domain.status import ExecutionStatus
from orchestrator.steps.control import cancel_plan, decide, pause_plan
from orchestrator.steps.launch_wave import prepare
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.progress import on_post_launch_done
from orchestrator.steps.references import check_references
from orchestrator.steps.scripts import _tick_name, on_command_status, on_tick
from tests.fakes import FakeBus
from tests.unit.steps.world import S1, World, launching, plan, wave

I1 = "i-00000000000000001"
WAIT = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)
FENCE = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=1)


def _ready(world: World, key: str = "wr-1") -> None:
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), key)


def _waiting(world: World, *after: dict[str, Any]) -> None:
    """Wave `db` in PRE_LAUNCH, its first pre-launch step a 600 s WAIT (then `after`), just started (bus emptied)."""
    world.start(plan(wave("db", S1, preLaunch=[{"type": "WAIT", "seconds": 600}, *after])))
    _ready(world)
    world.bus.published.clear()


def _run(world: World, script: ScriptId = WAIT) -> ScriptRun:
    run = world.ledger.get_script(script)
    assert run is not None
    return run


def _ticks(world: World) -> list[tuple[Any, Any]]:
    """Every pending schedule of a script: (when, its tick)."""
    return [
        (when, t) for when, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick | PostLaunchTick)
    ]


def _tick(world: World, purpose: str = "timeout") -> PreLaunchTick:
    return PreLaunchTick(
        execution_id="e1", plan_id="p", wave_id="db", phase="PRE_LAUNCH", index=0, try_number=1, purpose=purpose
    )


def test_a_wait_claimed_under_a_duplicated_event_sends_nothing_and_schedules_one_tick_at_its_end(
    world: World,
) -> None:
    # GIVEN a wave whose pre-launch is a 600 s wait, ready a quarter second past a whole second
    world.start(plan(wave("db", S1, preLaunch=[{"type": "WAIT", "seconds": 600}])))
    world.clock.at += timedelta(milliseconds=250)
    started = world.clock.now()

    # WHEN its WaveReady is delivered twice (and a third time, later)
    _ready(world)
    _ready(world)
    world.advance(30)
    _ready(world)

    # THEN the wait is RUNNING once, named by its length, its deadline 600 s after its claim
    run = _run(world)
    assert (run.status, run.try_number, run.document_name, run.command_ids, run.expected) == (
        ScriptStatus.RUNNING,
        1,
        "WAIT 600 s",
        (),
        0,
    )
    assert parse_iso(str(run.deadline)) == started + timedelta(seconds=600)
    # AND nothing went to SSM, nothing was published, and exactly one tick waits, at the deadline, in whole seconds
    assert (world.ssm.sent, world.ssm.cancelled, world.bus.published) == ([], [], [])
    [(when, tick)] = _ticks(world)
    assert (when, tick.purpose, tick.try_number, tick.index) == (
        (started + timedelta(seconds=600)).replace(microsecond=0) + timedelta(seconds=1),
        "timeout",
        1,
        0,
    )
    assert when >= started + timedelta(seconds=600)  # never early


def test_the_tick_at_the_end_concludes_the_wait_success_once_and_ends_the_phase(world: World) -> None:
    # GIVEN a running 600 s wait, the only pre-launch step
    _waiting(world)
    started = parse_iso(str(_run(world).started_at))

    # WHEN its tick comes at the end of the wait, delivered twice
    [tick] = [
        t for t in world.scheduler.due(world.clock.now() + timedelta(seconds=601)) if isinstance(t, PreLaunchTick)
    ]
    world.advance(601)
    on_tick(world.rt, tick, "tick-1")
    on_tick(world.rt, tick, "tick-1")

    # THEN the wait succeeded once, and the phase's PreLaunchDone reports it with its start and end
    run = _run(world)
    assert (run.status, run.instance_count) == (ScriptStatus.SUCCESS, 0)
    [done] = world.published(PreLaunchDone)
    [result] = done.scripts
    assert (result.document_name, result.status, result.attempts, result.instances, result.instance_count) == (
        "WAIT 600 s",
        "Success",
        1,
        [],
        0,
    )
    assert parse_iso(str(result.ended_at)) - started == timedelta(seconds=601)
    assert world.bus.types() == ["PreLaunchDone"]
    assert (world.ssm.sent, _ticks(world)) == ([], [])


def test_the_end_of_a_wait_starts_the_next_step(world: World) -> None:
    # GIVEN a 600 s wait followed by a script
    world.ssm.add_document("Fence")
    _waiting(world, {"documentName": "Fence", "targets": {"instanceIds": [I1]}, "timeoutSeconds": 60})
    assert world.ledger.get_script(FENCE) is None

    # WHEN the wait's tick comes
    world.advance(601)
    on_tick(world.rt, _tick(world), "tick-1")

    # THEN the script is sent then, and the phase is not done yet
    assert _run(world).status is ScriptStatus.SUCCESS
    assert _run(world, FENCE).status is ScriptStatus.RUNNING
    assert [c["InstanceIds"] for c in world.ssm.commands.values()] == [[I1]]
    assert world.published(PreLaunchDone) == []


def test_an_early_tick_concludes_nothing_and_the_real_one_still_does(world: World) -> None:
    # GIVEN a 600 s wait, 100 s in
    _waiting(world)
    world.advance(100)

    # WHEN a timeout tick arrives now (forged, or misdirected), and a poll tick (a wait never schedules one)
    on_tick(world.rt, _tick(world), "forged-timeout")
    on_tick(world.rt, _tick(world, "poll"), "forged-poll")

    # THEN the wait still runs and nothing is published
    assert _run(world).status is ScriptStatus.RUNNING
    assert world.bus.published == []
    # AND at its end, its own tick concludes it
    [tick] = [
        t for t in world.scheduler.due(world.clock.now() + timedelta(seconds=501)) if isinstance(t, PreLaunchTick)
    ]
    world.advance(501)
    on_tick(world.rt, tick, "tick-1")
    assert _run(world).status is ScriptStatus.SUCCESS
    assert world.bus.types() == ["PreLaunchDone"]


def test_a_tick_just_inside_the_clock_skew_allowance_concludes_the_wait(world: World) -> None:
    # GIVEN a 600 s wait WHEN its tick comes 4 s early (the scheduler's clock is not ours)
    _waiting(world)
    world.advance(596)
    on_tick(world.rt, _tick(world), "tick-1")

    # THEN the wait has ended (the early-tick rule of every timeout tick: TIMEOUT_EARLY_SECONDS)
    assert _run(world).status is ScriptStatus.SUCCESS


def _cancel(world: World, key: str = "cancel-1") -> None:
    decide(world.rt, CancelPlan(execution_id="e1", requested_by="ops"), key, cancel_plan)


TICK_NAME = _tick_name(WAIT, 1, "timeout")
CUT = "cut short: the plan was cancelled by ops"


def _ending(run: ScriptRun) -> tuple[Any, ...]:
    """How a script ended: status, reason, when, by which event, its try."""
    return (run.status, run.reason, run.ended_at, run.done_key, run.try_number)


def test_a_cancel_ends_a_running_wait_at_once_cancels_its_tick_and_ends_the_phase(world: World) -> None:
    # GIVEN a 600 s wait followed by a script, 100 s in
    world.ssm.add_document("Fence")
    _waiting(world, {"documentName": "Fence", "targets": {"instanceIds": [I1]}, "timeoutSeconds": 60})
    world.advance(100)
    assert TICK_NAME in world.scheduler.schedules

    # WHEN the plan is cancelled
    _cancel(world)

    # THEN the wait ended now, Cancelled, saying why, and its tick is gone
    run = _run(world)
    assert (run.status, run.reason, run.ended_at, run.instance_count) == (
        ScriptStatus.CANCELLED,
        CUT,
        world.ledger.now(),
        0,
    )
    assert (world.scheduler.cancelled, _ticks(world)) == ([TICK_NAME], [])
    # AND the phase ended as after its last step: PreLaunchDone reports the wait; the script after it never started
    [done] = world.published(PreLaunchDone)
    assert [(r.document_name, r.status, r.reason) for r in done.scripts] == [("WAIT 600 s", "Cancelled", CUT)]
    assert world.bus.types() == ["PreLaunchDone"]
    assert (world.ledger.get_script(FENCE), world.ssm.sent) == (None, [])
    # AND the wave's summary lists the wait once
    wave_record = world.ledger.wave("e1", "db")
    assert wave_record is not None
    assert [(x["documentName"], x["status"]) for x in wave_record.scripts] == [("WAIT 600 s", "Cancelled")]


def test_the_cut_phase_lets_the_cancelled_plan_close_at_once_with_nothing_launched(world: World) -> None:
    # GIVEN a cancelled plan whose wave's 600 s wait was cut 100 s in
    _waiting(world)
    world.advance(100)
    _cancel(world)
    [done] = world.published(PreLaunchDone)

    # WHEN the launch step takes the phase's PreLaunchDone (its claims hold: the phase ended at the cut wait)
    check_references(world.rt, done)
    answer = prepare(world.rt, done, "pld-1")

    # THEN nothing launches, the wave is SKIPPED and the plan is CANCELLED
    assert (answer["proceed"], answer["chunks"]) == (False, [])
    assert world.drs.started == []
    assert world.wave_status("e1", "db") == "SKIPPED"
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.status is ExecutionStatus.CANCELLED
    assert world.bus.types()[-1] == "PlanCancelled"


def test_a_duplicated_cancel_ends_the_wait_once_and_only_redoes_its_phase_end(world: World) -> None:
    # GIVEN a wait cut by a cancel 100 s in
    _waiting(world)
    world.advance(100)
    _cancel(world)
    first = _ending(_run(world))
    [done] = world.published(PreLaunchDone)
    world.bus.published.clear()

    # WHEN the same CancelPlan is delivered again, 5 s later (the launch has not taken the Done yet)
    world.advance(5)
    _cancel(world)

    # THEN the wait is as the first delivery ended it (once in the wave's summary); only the Done went out again
    assert _ending(_run(world)) == first
    wave_record = world.ledger.wave("e1", "db")
    assert wave_record is not None
    assert len(wave_record.scripts) == 1
    assert world.bus.published == [done]

    # AND once the launch took it (wave SKIPPED, plan CANCELLED), a third delivery publishes nothing
    prepare(world.rt, done, "pld-1")
    world.bus.published.clear()
    _cancel(world)
    assert (world.bus.published, _ending(_run(world))) == ([], first)


def test_a_cancel_whose_phase_end_was_lost_publishes_it_when_redelivered(world: World) -> None:
    # GIVEN a cancel that cut the wait, then failed to publish the phase's Done (the bus refused it: the handler fails)
    _waiting(world)
    world.bus.fail("publish", FakeBus.refused())
    with pytest.raises(PublishError):
        _cancel(world)
    assert (_run(world).status, world.bus.published) == (ScriptStatus.CANCELLED, [])

    # WHEN the CancelPlan is delivered again
    _cancel(world)

    # THEN the Done goes out, reporting the wait Cancelled
    [done] = world.published(PreLaunchDone)
    assert [(r.document_name, r.status) for r in done.scripts] == [("WAIT 600 s", "Cancelled")]


def test_the_late_tick_of_a_cut_wait_concludes_nothing(world: World) -> None:
    # GIVEN a wait cut by a cancel, its tick taken before the cancel deleted it (it fires anyway)
    _waiting(world)
    [(_, tick)] = _ticks(world)
    _cancel(world)
    cut = _run(world)
    world.bus.published.clear()

    # WHEN the tick comes at the wait's end
    world.advance(601)
    on_tick(world.rt, tick, "tick-1")

    # THEN nothing is concluded, started or published
    assert _run(world) == cut
    assert (world.bus.published, world.ssm.sent) == ([], [])


def test_a_wait_started_after_the_cancel_ends_at_once(world: World) -> None:
    # GIVEN a script running, then a 600 s wait, in a plan cancelled while the script runs
    world.ssm.add_document("Fence")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    fence = {"documentName": "Fence", "targets": {"instanceIds": [I1]}, "timeoutSeconds": 60}
    world.start(plan(wave("db", S1, preLaunch=[fence, {"type": "WAIT", "seconds": 600}])))
    _ready(world)
    _cancel(world)
    assert world.bus.published == []  # the script still runs: the cancel lets it finish
    [command_id] = world.ssm.commands

    # WHEN the script ends (its completion event)
    world.ssm.finish(command_id, "Success")
    on_command_status(world.rt, {"command-id": command_id, "instance-id": I1, "status": "Success"}, "ssm-1")

    # THEN the wait after it is claimed and ends at once, Cancelled, with no tick; the phase's Done goes out
    waited = _run(world, replace(WAIT, index=1))
    assert (waited.status, waited.reason, waited.started_at, waited.ended_at) == (
        ScriptStatus.CANCELLED,
        CUT,
        world.ledger.now(),
        world.ledger.now(),
    )
    assert [t for _, t in _ticks(world) if t.index == 1] == []
    [done] = world.published(PreLaunchDone)
    assert [r.status for r in done.scripts] == ["Success", "Cancelled"]


def test_a_cancel_ends_a_post_launch_wait_and_the_wave_completes(world: World) -> None:
    # GIVEN a launched wave in its post-launch phase: a 600 s wait, then a health check
    world.ssm.add_document("Health")
    health = {"documentName": "Health", "timeoutSeconds": 60}
    [job] = launching(world, plan(wave("db", S1, postLaunch=[{"type": "WAIT", "seconds": 600}], healthCheck=health)))
    world.drs.finish_job(job)
    launched = ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id=I1)
    on_job_completed(
        world.rt, DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", job_id=job, servers=[launched]), "jc-1"
    )
    post_wait = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)
    assert _run(world, post_wait).status is ScriptStatus.RUNNING
    world.bus.published.clear()

    # WHEN the plan is cancelled
    _cancel(world)

    # THEN the wait ended Cancelled, the health check never started, and PostLaunchDone went out
    assert _run(world, post_wait).status is ScriptStatus.CANCELLED
    assert world.ledger.get_script(replace(post_wait, index=1)) is None
    assert world.ssm.sent == []
    [done] = world.published(PostLaunchDone)
    assert [(r.phase, r.status) for r in done.scripts] == [("POST_LAUNCH", "Cancelled")]

    # AND the wave completes on it (its claims hold: the phase ended at the cut wait) and the plan ends CANCELLED
    check_references(world.rt, done)
    on_post_launch_done(world.rt, done, "pold-1")
    assert world.wave_status("e1", "db") == "COMPLETED"
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.status is ExecutionStatus.CANCELLED


def test_a_post_launch_wait_of_a_plan_cancelled_during_its_launch_ends_as_soon_as_it_starts(world: World) -> None:
    # GIVEN a wave launching, whose post-launch phase is a 7,200 s wait, and a cancel while its job runs
    [job] = launching(world, plan(wave("db", S1, postLaunch=[{"type": "WAIT", "seconds": 7200}])))
    _cancel(world)
    world.bus.published.clear()
    world.drs.finish_job(job)
    launched = ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id=I1)
    completed = DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", job_id=job, servers=[launched])
    post_wait = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)

    # WHEN the job's completion arrives, and the bus refuses the phase's Done (the handler fails)
    world.bus.fail("publish", FakeBus.refused())
    with pytest.raises(PublishError):
        on_job_completed(world.rt, completed, "jc-1")

    # THEN the wait was claimed and ended at once, Cancelled, with no tick armed
    run = _run(world, post_wait)
    assert (run.status, run.reason, run.started_at, run.ended_at) == (
        ScriptStatus.CANCELLED,
        CUT,
        world.ledger.now(),
        world.ledger.now(),
    )
    assert _ticks(world) == []
    # AND the redelivered completion publishes the phase's Done, reporting the wait
    on_job_completed(world.rt, completed, "jc-1")
    [done] = world.published(PostLaunchDone)
    assert [(r.document_name, r.status) for r in done.scripts] == [("WAIT 7200 s", "Cancelled")]
    assert _ending(_run(world, post_wait)) == _ending(run)


def test_a_pause_does_not_end_a_wait(world: World) -> None:
    # GIVEN a running 600 s wait
    _waiting(world)

    # WHEN the plan is paused
    decide(world.rt, PausePlan(execution_id="e1", requested_by="ops"), "pause-1", pause_plan)

    # THEN the wait still runs, its tick still armed, nothing published
    assert _run(world).status is ScriptStatus.RUNNING
    assert TICK_NAME in world.scheduler.schedules
    assert world.bus.published == []
    # AND at its end its tick concludes it Success and ends the phase (a pause holds new waves only)
    world.advance(601)
    on_tick(world.rt, _tick(world), "tick-1")
    assert _run(world).status is ScriptStatus.SUCCESS
    assert world.bus.types() == ["PreLaunchDone"]


def test_a_redelivered_claim_after_a_crash_before_the_tick_arms_the_same_tick(world: World) -> None:
    # GIVEN a wait recorded RUNNING whose tick was lost (a crash between the ledger write and the schedule)
    world.start(plan(wave("db", S1, preLaunch=[{"type": "WAIT", "seconds": 600}])))
    _ready(world)
    world.scheduler.schedules.clear()

    # WHEN the WaveReady that claimed it is delivered again, 10 s later
    world.advance(10)
    _ready(world)

    # THEN the tick is armed again, at the recorded deadline (not 600 s from now)
    [(when, tick)] = _ticks(world)
    assert (when, tick.purpose) == (parse_iso(str(_run(world).deadline)), "timeout")
    assert when == world.clock.now() + timedelta(seconds=590)
