"""WAIT steps at run time (orchestrator/steps/scripts.py) against fakes: claimed once in the ledger like a script,
nothing sent to SSM, one scheduler tick at claim + seconds that concludes the wait Success and starts what follows;
an early, foreign or late tick concludes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.models import CancelPlan, PostLaunchTick, PreLaunchDone, PreLaunchTick, WaveReady
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records.scripts import ScriptId, ScriptRun, ScriptStatus
from orchestrator.domain.status import ExecutionStatus
from orchestrator.steps.control import cancel_plan, decide
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import on_tick
from tests.unit.steps.world import S1, World, plan, wave

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


def test_the_tick_of_a_wait_in_a_cancelled_execution_concludes_nothing(world: World) -> None:
    # GIVEN a running 600 s wait, whose plan was cancelled and has since ended CANCELLED
    _waiting(world)
    decide(world.rt, CancelPlan(execution_id="e1", requested_by="ops"), "cancel-1", cancel_plan)
    world.ledger.set_execution_status("e1", from_=["STOPPING"], to=ExecutionStatus.CANCELLED, key="close-1")
    world.bus.published.clear()

    # WHEN the wait's tick comes at its end
    world.advance(601)
    on_tick(world.rt, _tick(world), "tick-1")

    # THEN nothing is concluded, started or published
    assert _run(world).status is ScriptStatus.RUNNING
    assert (world.bus.published, world.ssm.sent) == ([], [])


def test_a_wait_in_a_cancelling_execution_runs_out_like_a_running_script(world: World) -> None:
    # GIVEN a running 600 s wait whose plan is being cancelled (STOPPING: running waves finish)
    _waiting(world)
    decide(world.rt, CancelPlan(execution_id="e1", requested_by="ops"), "cancel-1", cancel_plan)
    world.bus.published.clear()

    # WHEN its tick comes THEN it ends and the phase is done (the launch then refuses a stopping execution)
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
