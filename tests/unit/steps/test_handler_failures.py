"""A handler that keeps failing on an event (orchestrator/steps/handler_failures.py) against fakes: it is
retried until the budget is spent, then the wave the event names fails with the error as its reason."""

from __future__ import annotations

from typing import Any

from events.models import WaveFailed, WaveReady
from orchestrator.domain.records.scripts import ScriptId, ScriptStatus
from orchestrator.steps.handler_failures import give_up
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import _tick_name
from tests.unit.steps.world import S1, World, plan, wave

BOOM = RuntimeError("boom\n  at line 3")


def _event(event_id: str = "ev-1", **detail: Any) -> dict[str, Any]:
    return {"id": event_id, "detail-type": "PreLaunchDone", "detail": {"executionId": "e1", "waveId": "db", **detail}}


def test_the_last_failed_delivery_fails_the_wave_with_the_error_once(world: World) -> None:
    # GIVEN a READY wave, and a handler that fails on an event naming it (budget: 3 deliveries)
    world.start(plan(wave("db", S1)))
    # WHEN the event fails three times, then once more (a duplicate)
    answers = [give_up(world.rt, _event(attempt=1), "fn", BOOM) for _ in range(4)]
    # THEN the first two are raised again (retried), the third fails the wave, and the duplicate changes nothing
    assert answers == [False, False, True, False]
    assert world.wave_status("e1", "db") == "FAILED"
    assert world.bus.published == [
        WaveFailed(
            execution_id="e1",
            plan_id="p",
            wave_id="db",
            reason="PreLaunchDone could not be handled after 3 attempts (fn): RuntimeError: boom at line 3",
            on_failure="STOP",
            failed_servers_total=0,
        )
    ]


def test_an_event_of_an_earlier_attempt_is_dropped_without_failing_the_wave(world: World) -> None:
    # GIVEN a READY wave at attempt 1, and an event that names attempt 2
    world.start(plan(wave("db", S1)))
    # WHEN its handler gives up on it
    answers = [give_up(world.rt, _event(attempt=2), "fn", BOOM) for _ in range(3)]
    # THEN the event is dropped at the last delivery, and the wave is untouched
    assert answers == [False, False, True]
    assert world.wave_status("e1", "db") == "READY"
    assert world.bus.published == []


def test_an_event_of_an_unknown_execution_is_dead_lettered(world: World) -> None:
    # GIVEN no execution
    # WHEN a handler gives up on an event naming one
    answers = [give_up(world.rt, _event(), "fn", BOOM) for _ in range(3)]
    # THEN it is raised every time (to the dead-letter queue at the end), and nothing is published
    assert answers == [False, False, False]
    assert world.bus.published == []


def test_a_wait_running_when_the_handler_gives_up_ends_cancelled_with_the_reason(world: World) -> None:
    # GIVEN wave db in PRE_LAUNCH, its first step a running 600 s WAIT (its tick armed)
    world.start(plan(wave("db", S1, preLaunch=[{"type": "WAIT", "seconds": 600}])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    wait = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)
    tick = _tick_name(wait, 1, "timeout")
    assert tick in world.scheduler.schedules
    world.advance(100)
    world.bus.published.clear()

    # WHEN a handler gives up on an event naming the wave (the last of its deliveries, then a duplicate)
    answers = [give_up(world.rt, _event(attempt=1), "fn", BOOM) for _ in range(4)]

    # THEN the wave failed, and its wait ended with it: Cancelled now, with the wave's reason, its tick deleted
    assert answers == [False, False, True, False]
    assert world.wave_status("e1", "db") == "FAILED"
    run = world.ledger.get_script(wait)
    assert run is not None
    reason = "PreLaunchDone could not be handled after 3 attempts (fn): RuntimeError: boom at line 3"
    assert (run.status, run.reason, run.ended_at) == (
        ScriptStatus.CANCELLED,
        f"cut short: wave db failed: {reason}",
        world.ledger.now(),
    )
    assert tick not in world.scheduler.schedules
    # AND the wave's summary lists it once; nothing but the WaveFailed was published (no phase's Done)
    failed = world.ledger.wave("e1", "db")
    assert failed is not None
    assert [(x["documentName"], x["status"]) for x in failed.scripts] == [("WAIT 600 s", "Cancelled")]
    assert world.bus.types() == ["WaveFailed"]
