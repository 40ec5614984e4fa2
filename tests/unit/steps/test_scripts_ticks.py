"""Script ticks and SSM completion events (orchestrator/steps/scripts.py `on_tick`, `on_command_status`) against
fakes: a pre-launch script sent by WaveReady, then its completion events, poll, timeout and retry ticks, each
delivered once, twice, late or stale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events.models import PreLaunchDone, PreLaunchTick, WaveFailed, WaveReady
from orchestrator.adapters.ssm import SsmThrottled
from orchestrator.domain.records.scripts import ScriptId, ScriptRun, ScriptStatus
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import on_command_status, on_tick
from tests.unit.steps.world import S1, World, plan, wave

I1, I2 = "i-00000000000000001", "i-00000000000000002"
SCRIPT = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)


def _fence(**fields: Any) -> dict[str, Any]:
    return {"documentName": "Fence", "targets": {"instanceIds": [I1, I2]}, "timeoutSeconds": 60, **fields}


def _running(world: World, **fence: Any) -> str:
    """Wave `db` in PRE_LAUNCH with its one pre-launch script sent to two instances, still running. Returns the
    command id (bus emptied)."""
    world.ssm.add_document("Fence")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    world.start(plan(wave("db", S1, preLaunch=[_fence(**fence)])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    assert world.bus.published == []
    [command_id] = world.ssm.commands
    return command_id


def _ended(world: World, command_id: str, instance_id: str, status: str = "Success") -> dict[str, Any]:
    """The aws.ssm status-change event's detail of an invocation that ended."""
    return {"command-id": command_id, "instance-id": instance_id, "status": status}


def _script(world: World) -> ScriptRun:
    run = world.ledger.get_script(SCRIPT)
    assert run is not None
    return run


def _due(world: World, seconds: float) -> list[PreLaunchTick]:
    """The script ticks due after `seconds` more (they fire once)."""
    world.advance(seconds)
    return [t for t in world.scheduler.due(world.clock.now()) if isinstance(t, PreLaunchTick)]


# ---- completion events --------------------------------------------------------------------------------


def test_the_last_completion_event_ends_the_script_and_its_phase(world: World) -> None:
    # GIVEN a pre-launch script running on two instances, which both succeed
    command_id = _running(world)
    world.ssm.finish(command_id, "Success", "fenced")

    # WHEN the first completion event arrives, THEN the script waits for the other
    on_command_status(world.rt, _ended(world, command_id, I1), "ev-1")
    assert world.bus.published == []
    assert _script(world).status is ScriptStatus.RUNNING

    # WHEN the second arrives
    on_command_status(world.rt, _ended(world, command_id, I2), "ev-2")

    # THEN the script succeeded on both, the phase is done, and its timeout tick is cancelled
    run = _script(world)
    assert (run.status, run.try_number, run.instance_count) == (ScriptStatus.SUCCESS, 1, 2)
    [done] = world.published(PreLaunchDone)
    [result] = done.scripts
    assert (result.document_name, result.status, result.instance_count) == ("Fence", "Success", 2)
    assert [i.instance_id for i in result.instances] == [I1, I2]
    assert [t.purpose for t in world.scheduler.of(PreLaunchTick)] == ["poll"]
    assert any("timeout" in name for name in world.scheduler.cancelled)


def test_a_duplicate_completion_event_is_counted_once_and_ends_the_script_once(world: World) -> None:
    # GIVEN a pre-launch script running on two instances, which both succeed
    command_id = _running(world)
    world.ssm.finish(command_id, "Success")

    # WHEN the first instance's event is delivered twice, THEN it counts once: the script still waits
    on_command_status(world.rt, _ended(world, command_id, I1), "ev-1")
    on_command_status(world.rt, _ended(world, command_id, I1), "ev-1")
    assert (_script(world).done_count, world.bus.published) == (1, [])

    # WHEN the second instance's event is delivered twice
    on_command_status(world.rt, _ended(world, command_id, I2), "ev-2")
    on_command_status(world.rt, _ended(world, command_id, I2), "ev-2")

    # THEN the script ended once and the phase was published once
    assert _script(world).status is ScriptStatus.SUCCESS
    assert world.bus.types() == ["PreLaunchDone"]
    assert len((world.ledger.get_wave("e1", "db") or {})["scripts"]) == 1


def test_events_that_are_not_an_ended_invocation_of_ours_are_ignored(world: World) -> None:
    # GIVEN a running script
    command_id = _running(world)

    # WHEN events come of a running invocation, of another command, and without ids
    on_command_status(world.rt, _ended(world, command_id, I1, status="InProgress"), "ev-1")
    on_command_status(world.rt, _ended(world, "cmd-not-ours", I1), "ev-2")
    on_command_status(world.rt, {"status": "Success"}, "ev-3")

    # THEN nothing is counted or published
    assert (_script(world).done_count, world.bus.published) == (0, [])


def test_a_failed_try_with_retries_left_is_retried_once_however_often_its_tick_arrives(world: World) -> None:
    # GIVEN a script with one retry whose first try fails on one instance
    command_id = _running(world, retries=1)
    world.ssm.finish(command_id, "Failed", "exit 1")
    on_command_status(world.rt, _ended(world, command_id, I1, "Failed"), "ev-1")
    on_command_status(world.rt, _ended(world, command_id, I2, "Failed"), "ev-2")
    run = _script(world)
    assert (run.status, [t.status for t in run.history]) == (ScriptStatus.RETRY_WAIT, [ScriptStatus.FAILED])

    # WHEN its retry tick (10 s later) is delivered twice
    [retry] = [t for t in _due(world, 10) if t.purpose == "retry"]
    on_tick(world.rt, retry, "retry-1")
    on_tick(world.rt, retry, "retry-1")

    # THEN try 2 was sent once, and nothing is published yet
    assert len(world.ssm.sent) == 2
    assert (_script(world).status, _script(world).try_number) == (ScriptStatus.RUNNING, 2)
    assert world.bus.published == []


# ---- poll ticks -----------------------------------------------------------------------------------------


def test_a_poll_tick_polls_again_later_while_the_script_runs_then_concludes_it(world: World) -> None:
    # GIVEN a running script WHEN its first poll tick comes (5 s), THEN it polls again 10 s later
    command_id = _running(world)
    [poll] = _due(world, 5)
    on_tick(world.rt, poll, "poll-1")
    assert [(t.purpose, t.tick) for t in world.scheduler.of(PreLaunchTick)] == [("timeout", 1), ("poll", 2)]
    assert world.bus.published == []

    # WHEN the command ends but its events are lost, and the second poll tick is delivered twice
    world.ssm.finish(command_id, "Success")
    [second] = _due(world, 10)
    on_tick(world.rt, second, "poll-2")
    on_tick(world.rt, second, "poll-2")

    # THEN the poll concluded the script once
    assert _script(world).status is ScriptStatus.SUCCESS
    assert world.bus.types() == ["PreLaunchDone"]


def test_a_throttled_poll_polls_again_instead_of_failing_its_handler(world: World) -> None:
    # GIVEN a running script, and SSM throttling ListCommandInvocations once
    _running(world)
    world.ssm.fail("invocations", SsmThrottled("ThrottlingException: slow down", "ThrottlingException"))

    # WHEN its poll tick comes
    [poll] = _due(world, 5)
    on_tick(world.rt, poll, "poll-1")

    # THEN the next poll is scheduled and the script still runs
    assert ("poll", 2) in [(t.purpose, t.tick) for t in world.scheduler.of(PreLaunchTick)]
    assert (_script(world).status, world.ssm.unused_errors()) == (ScriptStatus.RUNNING, {})


def test_an_invocation_that_ended_after_the_deadline_counts_as_timed_out(world: World) -> None:
    # GIVEN a WARN script whose invocations ended, one of them after its 60-s deadline (its timeout tick late)
    command_id = _running(world, onFailure="WARN")
    world.ssm.finish(command_id, "Success")
    started = world.clock.now()
    for iid, seconds in ((I1, 30), (I2, 90)):
        world.ssm._invocations[command_id][iid]["CommandPlugins"] = [
            {"ResponseStartDateTime": started, "ResponseFinishDateTime": started + timedelta(seconds=seconds)}
        ]

    # WHEN a poll tick reads them after the deadline
    [poll] = _due(world, 5)
    world.advance(100)
    on_tick(world.rt, poll, "poll-1")

    # THEN the late one is TimedOut and so is the script: a WARN step warns and the phase goes on
    run = _script(world)
    assert (run.status, run.reason) == (ScriptStatus.TIMED_OUT, "1 of 2 invocation(s) did not finish within 60 s")
    [done] = world.published(PreLaunchDone)
    assert [(i.instance_id, i.status) for i in done.scripts[0].instances] == [(I1, "Success"), (I2, "TimedOut")]
    assert done.warnings == [
        "db: pre-launch script #1 Fence TimedOut (1 of 2 invocation(s) did not finish within 60 s) (onFailure WARN)"
    ]


# ---- timeout ticks --------------------------------------------------------------------------------------


def test_a_required_script_still_running_at_its_timeout_is_cancelled_and_fails_its_wave(world: World) -> None:
    # GIVEN a FAIL script still running on both instances at its timeout
    command_id = _running(world)
    [timeout] = [t for t in _due(world, 60) if t.purpose == "timeout"]

    # WHEN its timeout tick is delivered twice
    on_tick(world.rt, timeout, "timeout-1")
    on_tick(world.rt, timeout, "timeout-1")

    # THEN its invocations were cancelled once, the script timed out, and the wave failed once before launch
    assert world.ssm.cancelled == [(command_id, [I1, I2])]
    assert _script(world).status is ScriptStatus.TIMED_OUT
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.published(WaveFailed)
    assert failed.reason == (
        "pre-launch script #1 Fence TimedOut: 2 of 2 invocation(s) did not finish within 60 s: cancelled"
    )
    assert world.bus.types() == ["WaveFailed"]
    assert world.drs.started == []


def test_a_warn_script_that_times_out_warns_and_its_phase_goes_on(world: World) -> None:
    # GIVEN a WARN script whose first instance succeeded, the second still running at the timeout
    command_id = _running(world, onFailure="WARN")
    world.ssm._invocations[command_id][I1]["Status"] = "Success"
    [timeout] = [t for t in _due(world, 60) if t.purpose == "timeout"]

    # WHEN its timeout tick comes
    on_tick(world.rt, timeout, "timeout-1")

    # THEN only the running invocation was cancelled; the wave stays in its phase, which is done with a warning
    assert world.ssm.cancelled == [(command_id, [I2])]
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    [done] = world.published(PreLaunchDone)
    assert [(i.instance_id, i.status) for i in done.scripts[0].instances] == [(I1, "Success"), (I2, "TimedOut")]
    assert done.warnings == [
        "db: pre-launch script #1 Fence TimedOut (1 of 2 invocation(s) did not finish within 60 s: cancelled) "
        "(onFailure WARN)"
    ]


def test_a_timeout_tick_after_the_script_ended_does_nothing(world: World) -> None:
    # GIVEN a script that succeeded, whose timeout tick was already on its way
    command_id = _running(world)
    [timeout] = [t for t in _due(world, 60) if t.purpose == "timeout"]
    world.ssm.finish(command_id, "Success")
    on_command_status(world.rt, _ended(world, command_id, I1), "ev-1")
    on_command_status(world.rt, _ended(world, command_id, I2), "ev-2")
    world.bus.published.clear()

    # WHEN the stale timeout tick is delivered
    on_tick(world.rt, timeout, "timeout-1")

    # THEN nothing is cancelled, written or published
    assert (world.ssm.cancelled, world.bus.published) == ([], [])
    assert _script(world).status is ScriptStatus.SUCCESS


def test_a_timeout_tick_before_the_deadline_cancels_and_concludes_nothing(world: World) -> None:
    # GIVEN a script still running 10 s into its 60 s timeout
    command_id = _running(world)
    world.advance(10)
    # WHEN a timeout tick for its try arrives now (forged: put on the bus, or the function invoked directly)
    forged = PreLaunchTick(
        execution_id="e1", plan_id="p", wave_id="db", phase="PRE_LAUNCH", index=0, try_number=1, purpose="timeout"
    )
    on_tick(world.rt, forged, "forged-timeout")
    # THEN nothing is cancelled or concluded; its own tick, at the deadline, still times it out
    assert world.ssm.cancelled == []
    assert _script(world).status is ScriptStatus.RUNNING
    assert world.bus.published == []
    [timeout] = [t for t in _due(world, 50) if t.purpose == "timeout"]
    on_tick(world.rt, timeout, "timeout-1")
    assert world.ssm.cancelled == [(command_id, [I1, I2])]
    assert _script(world).status is ScriptStatus.TIMED_OUT
