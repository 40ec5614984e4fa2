"""The ledger's typed records (orchestrator/domain/records.py) and their mapping to items
(orchestrator/adapters/ledger/records.py), against moto's DynamoDB (the adapter tier): every item the ledger
writes through a wave's life (started, launched, failed, retried, skipped, reopened) and an execution's
(running, stopped, cancelled) reads back as a record that maps to the same item; the fields are the right ones;
what a record does not name is kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, LedgerError
from orchestrator.adapters.ledger.records import (
    execution_item,
    execution_record,
    wave_attributes,
    wave_item,
    wave_record,
)
from orchestrator.domain.records import (
    ATTEMPT_TIMES,
    REOPEN_CLEARS,
    RETRY_CLEARS,
    ExecutionRecord,
    WaveAttempt,
    WaveJob,
)
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerOutcome
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from tests.unit.moto_ledger import SettableClock, ledger_table, write_wave_attributes

EXECUTION = "e"
JOB = "drsjob-00000000000000001"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    """A RUNNING execution: wave `a` (READY, one server) and wave `b` (PENDING on `a`)."""
    with mock_aws():
        led = Ledger(ledger_table(), clock, finished_ttl_days=90)  # the time to live maps too
        led.create_execution(
            execution_id=EXECUTION,
            plan_id="p",
            plan_name="the plan",
            plan_document={"planId": "p", "waves": [{"waveId": "a"}, {"waveId": "b"}]},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[
                {
                    "waveId": "a",
                    "dependsOn": [],
                    "dependents": ["b"],
                    "onFailure": "STOP",
                    "servers": {"s-1": {"criticality": "CRITICAL", "launchStatus": "NOT_STARTED"}},
                },
                {"waveId": "b", "dependsOn": ["a"], "dependents": [], "onFailure": "STOP", "servers": {}},
            ],
        )
        yield led


def _tick(ledger: Ledger, clock: SettableClock) -> str:
    clock.at += timedelta(seconds=1)
    return ledger.now()


def _fail_a(ledger: Ledger, clock: SettableClock) -> None:
    """Wave `a` goes through pre-launch and a DRS job whose server fails, and fails; the plan stops and `b`
    is skipped for it (the writes the steps make)."""
    ledger.transition_wave(
        EXECUTION,
        "a",
        from_=["READY"],
        to="PRE_LAUNCH",
        key="k1",
        changes=WaveChanges(pre_launch_at=_tick(ledger, clock)),
    )
    ledger.transition_wave(
        EXECUTION,
        "a",
        from_=["PRE_LAUNCH"],
        to="LAUNCHING",
        key="k2",
        changes=WaveChanges(launch_started_at=_tick(ledger, clock), jobs_expected=1, jobs_done=0),
    )
    _tick(ledger, clock)
    ledger.add_job(EXECUTION, "a", job_id=JOB, launch_key="launch-1", server_ids=["s-1"])
    _tick(ledger, clock)
    ledger.record_job_done(
        EXECUTION,
        "a",
        job_id=JOB,
        servers={"s-1": ServerOutcome(launch_status=ServerLaunchStatus.FAILED, reason="no capacity")},
        key="d1",
    )
    _tick(ledger, clock)
    ledger.finish_wave(
        EXECUTION,
        "a",
        from_=["LAUNCHING"],
        to="FAILED",
        key="k3",
        changes=WaveChanges(reason="0 of 1 servers launched", launch_summary="0/1"),
    )
    ledger.set_execution_status(
        EXECUTION,
        from_=["RUNNING"],
        to="STOPPING",
        key="k4",
        changes=ExecutionChanges(stop_reason="wave a failed", stopped_by="a"),
    )
    ledger.finish_wave(
        EXECUTION,
        "b",
        from_=["PENDING"],
        to="SKIPPED",
        key="k5",
        changes=WaveChanges(skipped_for="a", reason="a failed"),
    )


def _retry_a(ledger: Ledger, clock: SettableClock) -> None:
    """RetryWave of `a`, as steps.control.retry_wave writes it with the records."""
    wave = ledger.wave(EXECUTION, "a")
    assert wave is not None
    now = _tick(ledger, clock)
    archived = wave.current.archived(servers_launched=0)
    ledger.move_wave(
        EXECUTION,
        "a",
        from_=["FAILED"],
        to="READY",
        key="retry",
        changes=WaveChanges(
            retry_key="retry",
            retried_by="op",
            retried_at=now,
            ready_at=now,
            launch_servers=("s-1",),
            jobs=(),
            previous_attempts=(*wave.previous_attempts, archived),
        ),
        removes=RETRY_CLEARS,
        new_attempt=True,
        count=-1,
    )


def _every_item(ledger: Ledger) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    execution = ledger.get_execution(EXECUTION)
    assert execution is not None
    return execution, ledger.list_waves(EXECUTION)


def _assert_round_trips(ledger: Ledger) -> None:
    execution, waves = _every_item(ledger)
    assert execution_item(execution_record(execution)) == execution
    for item in waves:
        assert wave_item(wave_record(item)) == item


def test_every_item_of_a_wave_failed_retried_skipped_and_reopened_maps_to_its_record_and_back(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN / WHEN the items at each stage of a wave's life, as the ledger writes and reads them
    _assert_round_trips(ledger)  # created
    _fail_a(ledger, clock)
    _assert_round_trips(ledger)  # failed, plan stopping, b skipped for a
    _retry_a(ledger, clock)
    _assert_round_trips(ledger)  # retried: previousAttempts
    ledger.reopen_execution(EXECUTION, from_=["STOPPING"], key="retry:reopen")
    ledger.move_wave(
        EXECUTION,
        "b",
        from_=["SKIPPED"],
        to="PENDING",
        key="reopen-b",
        changes=WaveChanges(remaining=1),
        removes=[*REOPEN_CLEARS, "released_by"],
        count=-1,
        where=WaveChanges(skipped_for="a"),
    )
    # THEN each maps to its record and back to the same item
    _assert_round_trips(ledger)  # reopened
    write_wave_attributes(ledger, EXECUTION, "a", {"approval": {"status": "GRANTED", "approvedBy": "op"}})
    ledger.set_execution_status(
        EXECUTION,
        from_=["RUNNING"],
        to="STOPPING",
        key="cancel",
        changes=ExecutionChanges(
            cancel_requested=True, cancel_key="cancel", running_wave_ids=(), terminate_on_cancel=False
        ),
    )
    ledger.set_execution_status(EXECUTION, from_=["STOPPING"], to="CANCELLED", key="close")
    _assert_round_trips(ledger)  # cancelled: endedAt, expiresAt
    # and every attribute written on the way is a field of its record (but the time to live)
    assert [set(w.extra) for w in ledger.waves(EXECUTION)] == [{"expiresAt"}, {"expiresAt"}]
    assert set((ledger.execution(EXECUTION) or pytest.fail("no execution")).extra) == {"expiresAt"}


def test_a_retried_wave_keeps_its_failed_attempt_and_starts_the_next_with_only_its_ready_time(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN wave a failed at 09:00:05 after pre-launch (:01), launch (:02) and a job started :03, done :04
    _fail_a(ledger, clock)

    # WHEN it is retried at :06
    _retry_a(ledger, clock)

    # THEN the record has attempt 1 as it was, and attempt 2 ready at :06 with nothing else of attempt 1
    wave = ledger.wave(EXECUTION, "a")
    assert wave is not None
    assert wave.previous_attempts == (
        WaveAttempt(
            attempt=1,
            status=WaveStatus.FAILED,
            ready_at="2026-01-01T09:00:00.000Z",
            pre_launch_at="2026-01-01T09:00:01.000Z",
            launch_started_at="2026-01-01T09:00:02.000Z",
            ended_at="2026-01-01T09:00:05.000Z",
            reason="0 of 1 servers launched",
            launch_summary="0/1",
            jobs=(
                WaveJob(
                    job_id=JOB,
                    status="COMPLETED",
                    started_at="2026-01-01T09:00:03.000Z",
                    completed_at="2026-01-01T09:00:04.000Z",
                ),
            ),
            servers_launched=0,
        ),
    )
    assert (wave.status, wave.attempt, wave.current.times()) == (
        WaveStatus.READY,
        2,
        {"ready_at": "2026-01-01T09:00:06.000Z"},
    )
    assert (wave.current.reason, wave.current.launch_summary, wave.current.jobs) == (None, None, ())
    assert (wave.retried_by, wave.launch_servers, wave.depends_on, wave.dependents) == ("op", ("s-1",), (), ("b",))
    # and the item holds attempt 1 as steps.control has always archived it
    assert (ledger.get_wave(EXECUTION, "a") or {})["previousAttempts"] == [
        {
            "attempt": 1,
            "status": "FAILED",
            "readyAt": "2026-01-01T09:00:00.000Z",
            "preLaunchAt": "2026-01-01T09:00:01.000Z",
            "launchStartedAt": "2026-01-01T09:00:02.000Z",
            "endedAt": "2026-01-01T09:00:05.000Z",
            "reason": "0 of 1 servers launched",
            "launchSummary": "0/1",
            "jobs": [
                {
                    "jobId": JOB,
                    "status": "COMPLETED",
                    "startedAt": "2026-01-01T09:00:03.000Z",
                    "completedAt": "2026-01-01T09:00:04.000Z",
                }
            ],
            "serversLaunched": 0,
        }
    ]


def test_the_execution_record_names_its_stop_and_its_frozen_plan(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN a plan stopped by wave a's failure
    _fail_a(ledger, clock)

    # WHEN the execution is read as a record
    execution = ledger.execution(EXECUTION)

    # THEN
    assert execution == ExecutionRecord(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="the plan",
        mode="DRILL",
        status=ExecutionStatus.STOPPING,
        wave_count=2,
        terminal_count=2,
        requested_by="me",
        started_at="2026-01-01T09:00:00.000Z",
        declared_at="2026-01-01T09:00:00.000Z",  # no declaredAt given: its start
        plan_document='{"planId": "p", "waves": [{"waveId": "a"}, {"waveId": "b"}]}',
        failed_waves=(),
        paused=False,
        last_key="k4",
        start_key="start",
        stop_reason="wave a failed",
        stopped_by="a",
    )
    assert ledger.execution("no-such") is None
    assert ledger.wave(EXECUTION, "no-such") is None


def test_attributes_a_record_does_not_name_are_kept_in_extra_and_written_back(ledger: Ledger) -> None:
    # GIVEN attributes no record names (a newer version's, or not typed yet), on the wave, a job, the execution
    write_wave_attributes(
        ledger, EXECUTION, "a", {"futureThing": {"x": 1}, "jobs": {JOB: {"status": "STARTED", "zone": "z"}}}
    )
    item = ledger.get_wave(EXECUTION, "a") or {}

    # WHEN the wave is read as a record and mapped back
    wave = wave_record(item)

    # THEN they are kept as they are
    assert wave.extra == {"futureThing": {"x": 1}}
    assert wave.current.jobs == (WaveJob(job_id=JOB, status="STARTED", extra={"zone": "z"}),)
    assert wave_item(wave) == item
    assert [w.wave_id for w in ledger.waves(EXECUTION)] == ["a", "b"]


def test_the_declared_field_lists_name_attributes_and_an_unknown_field_is_refused() -> None:
    # GIVEN / WHEN / THEN the attempt's times, and what a retry and a reopen clear, as attributes
    assert wave_attributes(ATTEMPT_TIMES) == [
        "readyAt",
        "preLaunchAt",
        "launchStartedAt",
        "launchedAt",
        "postLaunchAt",
        "completedAt",
        "endedAt",
    ]
    assert wave_attributes(RETRY_CLEARS) == [
        "preLaunchAt",
        "launchStartedAt",
        "launchedAt",
        "postLaunchAt",
        "completedAt",
        "endedAt",
        "reason",
        "launchSummary",
        "launchToken",
    ]
    assert wave_attributes(REOPEN_CLEARS)[:2] == ["reason", "skippedFor"]
    with pytest.raises(LedgerError, match="not a wave field: readyAt"):
        wave_attributes(["readyAt"])


def test_an_item_that_is_not_a_wave_or_an_execution_is_refused_clearly() -> None:
    # GIVEN an item without a status WHEN / THEN
    with pytest.raises(LedgerError, match="not a wave item"):
        wave_record({"pk": "EXEC#e", "sk": "WAVE#a", "executionId": "e", "waveId": "a", "attempt": 1})
    with pytest.raises(LedgerError, match="not an execution item"):
        execution_record({"pk": "EXEC#e", "sk": "#EXECUTION", "executionId": "e"})
