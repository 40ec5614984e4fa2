"""Typed changes (orchestrator/domain/records/changes.py) written through the ledger read back as the same
fields of the records, against moto's DynamoDB: a step names no attribute, and what it sets is what it reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger
from orchestrator.adapters.ledger.changes import execution_sets, wave_sets
from orchestrator.domain.records import WaveAttempt, WaveJob
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges
from orchestrator.domain.records.waves import PreflightExclusion
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e"

EVERY_WAVE_FIELD = WaveChanges(
    ready_at="2026-01-01T09:00:01.000Z",
    pre_launch_at="2026-01-01T09:00:02.000Z",
    launch_started_at="2026-01-01T09:00:03.000Z",
    launched_at="2026-01-01T09:00:04.000Z",
    post_launch_at="2026-01-01T09:00:05.000Z",
    completed_at="2026-01-01T09:00:06.000Z",
    reason="why",
    launch_summary="1/1 launched",
    warnings=("w1", "w2"),
    jobs=(WaveJob(job_id="drsjob-1", launch_key="lk", server_count=2, status="STARTED", started_at="t"),),
    jobs_expected=2,
    jobs_done=1,
    servers_launched=3,
    servers_failed=1,
    preflight_excluded=PreflightExclusion(attempt=2, servers=("s-2", "s-3")),
    remaining=1,
    released_by=frozenset({"x", "y"}),
    skipped_for="z",
    retry_key="rk",
    retried_by="op",
    retried_at="2026-01-01T09:00:07.000Z",
    launch_servers=("s-1", "s-2"),
    previous_attempts=(
        WaveAttempt(
            attempt=1,
            status=WaveStatus.FAILED,
            ready_at="t0",
            ended_at="t1",
            reason="failed",
            jobs=(WaveJob(job_id="drsjob-0", status="COMPLETED", started_at="t0", completed_at="t1"),),
            servers_launched=0,
        ),
    ),
    skip_key="sk",
    skipped_by="op",
    skipped_at="2026-01-01T09:00:08.000Z",
    skipped_from="FAILED",
    failed_reason="it failed",
)


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """A RUNNING execution with wave `a` READY."""
    with mock_aws():
        led = Ledger(ledger_table(), SettableClock())
        led.create_execution(
            execution_id=EXECUTION,
            plan_id="p",
            plan_name="the plan",
            plan_document={"planId": "p", "waves": [{"waveId": "a"}]},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[{"waveId": "a", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
        )
        yield led


def test_every_wave_change_reads_back_as_the_same_record_field(ledger: Ledger) -> None:
    # GIVEN every field of a wave change set
    # WHEN a transition writes them
    ledger.transition_wave(
        EXECUTION, "a", from_=[WaveStatus.READY], to=WaveStatus.PRE_LAUNCH, key="k", changes=EVERY_WAVE_FIELD
    )
    # THEN each reads back as the record's field of the same name (on the wave or its current attempt)
    wave = ledger.wave(EXECUTION, "a")
    assert wave is not None
    assert wave.status is WaveStatus.PRE_LAUNCH
    assert wave.last_key == "k"
    for field in fields(WaveChanges):
        written = getattr(EVERY_WAVE_FIELD, field.name)
        holder = wave.current if hasattr(wave.current, field.name) else wave
        read = getattr(holder, field.name)
        if field.name == "released_by":
            assert read == tuple(sorted(written))
        else:
            assert read == written, field.name


def test_a_change_writes_only_the_fields_it_sets(ledger: Ledger) -> None:
    ledger.transition_wave(
        EXECUTION, "a", from_=[WaveStatus.READY], to=WaveStatus.PRE_LAUNCH, key="k1", changes=EVERY_WAVE_FIELD
    )
    ledger.transition_wave(
        EXECUTION,
        "a",
        from_=[WaveStatus.PRE_LAUNCH],
        to=WaveStatus.LAUNCHING,
        key="k2",
        changes=WaveChanges(reason="another"),
    )
    wave = ledger.wave(EXECUTION, "a")
    assert wave is not None
    assert wave.current.reason == "another"
    assert wave.current.launch_summary == "1/1 launched"
    assert wave.skipped_by == "op"


def test_the_attributes_are_those_the_ledger_has_always_written() -> None:
    assert wave_sets(WaveChanges(ready_at="t", released_by=frozenset({"b"}), jobs=(), skipped_from="READY")) == {
        "readyAt": "t",
        "jobs": {},
        "releasedBy": {"b"},
        "skippedFrom": "READY",
    }
    assert wave_sets(None) == {}
    assert execution_sets(ExecutionChanges(stop_reason="r", running_wave_ids=("a", "b"), cancel_requested=True)) == {
        "stopReason": "r",
        "cancelRequested": True,
        "runningWaveIds": ["a", "b"],
    }


def test_every_execution_change_reads_back_as_the_same_record_field(ledger: Ledger) -> None:
    changes = ExecutionChanges(
        stop_reason="wave a failed",
        stopped_by="a",
        paused_by="op",
        cancel_requested=True,
        cancel_key="ck",
        cancelled_by="op",
        running_wave_ids=("a",),
        terminate_on_cancel=False,
    )
    ledger.set_execution_status(
        EXECUTION, from_=[ExecutionStatus.RUNNING], to=ExecutionStatus.STOPPING, key="k", changes=changes
    )
    execution = ledger.execution(EXECUTION)
    assert execution is not None
    assert execution.status is ExecutionStatus.STOPPING
    for field in fields(ExecutionChanges):
        assert getattr(execution, field.name) == getattr(changes, field.name), field.name


def test_a_change_with_a_status_field_cannot_exist() -> None:
    # the status is the transition's, never a change: the dataclass has no such field
    with pytest.raises(TypeError):
        WaveChanges(status="COMPLETED")  # type: ignore[call-arg]
