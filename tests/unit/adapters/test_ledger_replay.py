"""A redelivered transition is a REPLAY that writes nothing (the adapter tier, moto's DynamoDB): found by the
campaign, a duplicated PreLaunchDone set launchStartedAt again after the wave's first DRS job, and one
arriving after a job was recorded done set jobsDone back to 0 (the wave would wait for that job forever)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, Outcome
from orchestrator.domain.records.changes import WaveChanges
from tests.unit.moto_ledger import SettableClock, ledger_table


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    with mock_aws():
        led = Ledger(ledger_table(), clock)
        led.create_execution(
            execution_id="e",
            plan_id="p",
            plan_name="p",
            plan_document={},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[{"waveId": "w", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
        )
        yield led


def test_a_redelivered_transition_is_a_replay_that_changes_nothing(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN a wave moved READY -> PRE_LAUNCH -> LAUNCHING by event "ev-1", then one of its jobs recorded done
    assert ledger.transition_wave("e", "w", from_=["READY"], to="PRE_LAUNCH", key="ev-0") is Outcome.WON
    first = ledger.transition_wave(
        "e",
        "w",
        from_=["PRE_LAUNCH"],
        to="LAUNCHING",
        key="ev-1",
        changes=WaveChanges(launch_started_at=ledger.now(), jobs_expected=2, jobs_done=0),
    )
    started = ledger.get_wave("e", "w")["launchStartedAt"]
    ledger.add_job("e", "w", job_id="drsjob-1", launch_key="lk-1", server_ids=[])
    ledger.record_job_done("e", "w", job_id="drsjob-1", servers={}, key="done-1")

    # WHEN event "ev-1" is delivered again a minute later
    clock.at += timedelta(minutes=1)
    again = ledger.transition_wave(
        "e",
        "w",
        from_=["PRE_LAUNCH"],
        to="LAUNCHING",
        key="ev-1",
        changes=WaveChanges(launch_started_at=ledger.now(), jobs_expected=2, jobs_done=0),
    )

    # THEN it is a REPLAY (its caller may redo what follows) and the wave is as the job left it
    assert (first, again) == (Outcome.WON, Outcome.REPLAY)
    wave = ledger.get_wave("e", "w")
    assert wave["jobsDone"] == 1
    assert wave["launchStartedAt"] == started


def test_another_event_is_rejected(ledger: Ledger) -> None:
    # GIVEN a wave moved READY -> PRE_LAUNCH by event "ev-0"
    ledger.transition_wave("e", "w", from_=["READY"], to="PRE_LAUNCH", key="ev-0")

    # WHEN another event asks for the same move
    outcome = ledger.transition_wave("e", "w", from_=["READY"], to="PRE_LAUNCH", key="ev-other")

    # THEN it is rejected
    assert outcome is Outcome.REJECTED
    assert ledger.get_wave("e", "w")["lastKey"] == "ev-0"
