"""One decision per event (orchestrator/steps/refusals.py) and failing a wave (steps/wave_failure.py)."""

from __future__ import annotations

import pytest

from events.models import ControlRejected, WaveFailed
from orchestrator.adapters.bus import PublishError
from orchestrator.steps.refusals import refuse, refused_before
from orchestrator.steps.wave_failure import REASON_LIMIT, fail_wave
from tests.unit.steps.world import S1, World, plan, wave

NO = ControlRejected(execution_id="e1", command="PausePlan", reason="no")


def test_a_refusal_is_announced_once_however_often_its_event_arrives(world: World) -> None:
    # GIVEN / WHEN an event is refused twice
    refuse(world.rt, "evt-1", NO)
    refuse(world.rt, "evt-1", NO)
    # THEN it was announced once, and is known as refused
    assert world.bus.published == [NO]
    assert refused_before(world.rt, "evt-1") is True
    assert refused_before(world.rt, "evt-2") is False


def test_a_refusal_whose_announcement_failed_is_announced_by_the_redelivery(world: World) -> None:
    # GIVEN the bus refusing the first announcement
    world.bus.fail("publish", PublishError("PutEvents rejected 1 entries"))
    with pytest.raises(PublishError):
        refuse(world.rt, "evt-1", NO)
    # WHEN the event is redelivered
    assert refused_before(world.rt, "evt-1") is True
    # THEN the recorded refusal is announced now, once
    assert world.bus.published == [NO]
    assert refused_before(world.rt, "evt-1") is True
    assert world.bus.published == [NO]


def test_fail_wave_writes_once_and_announces_the_reason_and_policy(world: World) -> None:
    # GIVEN a READY wave
    world.start(plan(wave("db", S1, onFailure="CONTINUE")))
    execution = world.ledger.execution("e1")
    assert execution is not None
    # WHEN it is failed with a very long reason, then failed again from READY with another key
    first = fail_wave(world.rt, execution, "db", from_=["READY"], reason="x" * 5000, key="k1", attempt=1)
    second = fail_wave(world.rt, execution, "db", from_=["READY"], reason="again", key="k2", attempt=1)
    # THEN only the first wrote, and WaveFailed carries the reason cut to REASON_LIMIT and CONTINUE
    assert (first, second) == (True, False)
    assert world.bus.published == [
        WaveFailed(
            execution_id="e1",
            plan_id="p",
            wave_id="db",
            reason="x" * REASON_LIMIT,
            on_failure="CONTINUE",
            failed_servers_total=0,
        )
    ]
    assert world.ledger.get_wave("e1", "db")["reason"] == "x" * REASON_LIMIT


def test_fail_wave_takes_the_execution_record_and_fails_from_the_states_it_names_only(world: World) -> None:
    # GIVEN a READY wave of a plan that stops on its failure, and the execution's record
    world.start(plan(wave("db", S1)))
    execution = world.ledger.execution("e1")
    assert execution is not None
    # WHEN it is failed from PRE_LAUNCH (it is not there), then from READY
    missed = fail_wave(world.rt, execution, "db", from_=["PRE_LAUNCH"], reason="late", key="k1", attempt=1)
    failed = fail_wave(world.rt, execution, "db", from_=["READY"], reason="broken", key="k2", attempt=1)
    # THEN only the second wrote: the wave is FAILED, the execution remembers it, and WaveFailed says STOP
    assert (missed, failed) == (False, True)
    assert world.wave_status("e1", "db") == "FAILED"
    assert (world.ledger.execution("e1") or pytest.fail("no execution")).failed_waves == ("db",)
    assert world.bus.published == [
        WaveFailed(
            execution_id="e1", plan_id="p", wave_id="db", reason="broken", on_failure="STOP", failed_servers_total=0
        )
    ]
