"""The launch, capacity and termination records (orchestrator/domain/records/launches.py, terminations.py) and
their mapping to items (orchestrator/adapters/ledger/launches.py, capacity.py, terminations.py), against moto's
DynamoDB (the adapter tier): every item the ledger writes through a launch claim's, the shared capacity's, a
termination claim's and a termination record's life reads back as a record that maps to the same item; the
items have the layout they always had; a launch chunk's JSON (the state machine's) maps back to itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import CAPACITY_PK, CAPACITY_SK, QUEUE_PREFIX, Ledger, LedgerError, exec_pk
from orchestrator.adapters.ledger.capacity import capacity_item, capacity_state, parked_item, parked_launch
from orchestrator.adapters.ledger.launches import launch_claim, launch_item
from orchestrator.adapters.ledger.terminations import (
    termination_claim,
    termination_claim_item,
    termination_item,
    termination_record,
)
from orchestrator.domain.records.launches import (
    Admission,
    CapacityHold,
    ChunkServer,
    LaunchChunk,
    LaunchStatus,
)
from orchestrator.domain.records.terminations import NotTerminated, TerminationRecord, TerminationStatus
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e"
PK = exec_pk(EXECUTION)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    with mock_aws():
        yield Ledger(ledger_table(), clock)


def _items(ledger: Ledger, pk: str, prefix: str) -> list[dict[str, Any]]:
    return list(ledger._query_all(pk, prefix))


def _chunk(key: str = "lk-1", *, tries: int = 0) -> LaunchChunk:
    return LaunchChunk(
        execution_id=EXECUTION,
        plan_id="p",
        wave_id="db",
        attempt=2,
        index=1,
        is_drill=True,
        launch_key=key,
        servers=(
            ChunkServer(source_server_id="s-00000000000000001", recovery_snapshot_id="pit-1"),
            ChunkServer(source_server_id="s-00000000000000002"),
        ),
        tries=tries,
    )


# ---- a launch chunk: the state machine's JSON ------------------------------------------------------------


def test_a_chunk_is_the_json_the_state_machine_has_always_carried() -> None:
    # GIVEN a chunk on its second try
    chunk = _chunk(tries=1)
    # WHEN it is given to the state machine and read back
    payload = chunk.payload()
    # THEN its JSON is the one prepare always wrote (a snapshot only when set, tries once retried)
    assert payload == {
        "executionId": EXECUTION,
        "planId": "p",
        "waveId": "db",
        "attempt": 2,
        "index": 1,
        "isDrill": True,
        "launchKey": "lk-1",
        "servers": [
            {"sourceServerID": "s-00000000000000001", "recoverySnapshotID": "pit-1"},
            {"sourceServerID": "s-00000000000000002"},
        ],
        "tries": 1,
    }
    assert LaunchChunk.from_payload(payload) == chunk
    assert "tries" not in _chunk().payload()
    assert LaunchChunk.from_payload({**payload, "newer": 1}).payload() == {**payload, "newer": 1}


# ---- launch claims ----------------------------------------------------------------------------------------


def test_every_launch_claim_the_ledger_writes_reads_back_as_a_record_of_the_same_item(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN claims through each of their lives: leased in the claim and started; claimed, leased and parked;
    # failed; and one with an attribute no record names
    assert (
        ledger.claim_launch(EXECUTION, "db", 1, 0, launch_key="lk-a", server_ids=["s-1", "s-2"], lease=("t", 90))
        is None
    )
    clock.at += timedelta(seconds=5)
    ledger.complete_launch(EXECUTION, "db", 1, 0, job_id="drsjob-1", status=LaunchStatus.STARTED)
    assert ledger.claim_launch(EXECUTION, "db", 1, 1, launch_key="lk-b", server_ids=["s-3"]) is None
    assert ledger.lease_launch(EXECUTION, "db", 1, 1, token="u", seconds=90) is None
    assert ledger.end_launch_lease(EXECUTION, "db", 1, 1, token="u", status=LaunchStatus.PARKED, park_reason="full")
    assert ledger.claim_launch(EXECUTION, "web", 2, 0, launch_key="lk-c", server_ids=["s-4"]) is None
    ledger.complete_launch(EXECUTION, "web", 2, 0, job_id=None, status=LaunchStatus.NOT_STARTED, reason="stopped")
    ledger._table.update_item(
        Key={"pk": PK, "sk": "LAUNCH#web#002#0000"},
        UpdateExpression="SET expiresAt = :e, future = :f",
        ExpressionAttributeValues={":e": 1800000000, ":f": "x"},
    )
    items = ledger.list_launches(EXECUTION)

    # WHEN each is read as its record
    claims = [launch_claim(item) for item in items]

    # THEN each maps back to its item, and the records say what the items say
    assert [launch_item(claim) for claim in claims] == items
    started, parked, failed = claims
    assert (started.status, started.job_id, started.calls, started.called, started.since) == (
        LaunchStatus.STARTED,
        "drsjob-1",
        1,
        True,
        "2026-01-01T09:00:00.000Z",
    )
    assert (started.lease_token, started.ended_at, started.server_ids) == (
        None,
        "2026-01-01T09:00:05.000Z",
        ("s-1", "s-2"),
    )
    assert (parked.status, parked.park_reason, parked.may_have_started, parked.index) == ("PARKED", "full", True, 1)
    assert (failed.status, failed.reason, failed.attempt, failed.expires_at, failed.extra) == (
        "NOT_STARTED",
        "stopped",
        2,
        1800000000,
        {"future": "x"},
    )
    assert ledger.launches(EXECUTION, "web") == [failed]


def test_a_new_launch_claim_has_the_layout_it_always_had(ledger: Ledger) -> None:
    # GIVEN / WHEN a launch claimed with its lease
    ledger.claim_launch(EXECUTION, "db", 1, 3, launch_key="lk-a", server_ids=["s-1"], lease=("t", 90))
    # THEN its item is the one the ledger has always written
    [item] = ledger.list_launches(EXECUTION)
    assert item == {
        "pk": PK,
        "sk": "LAUNCH#db#001#0003",
        "kind": "LAUNCH",
        "launchKey": "lk-a",
        "waveId": "db",
        "attempt": 1,
        "chunk": 3,
        "servers": ["s-1"],
        "status": "STARTING",
        "claimedAt": "2026-01-01T09:00:00.000Z",
        "leaseToken": "t",
        "mayHaveStarted": True,
        "calls": 1,
        "leaseUntil": "2026-01-01T09:01:30.000Z",
        "startingAt": "2026-01-01T09:00:00.000Z",
    }


def test_an_item_that_is_not_a_launch_claim_is_refused() -> None:
    # GIVEN / WHEN / THEN
    with pytest.raises(LedgerError, match="not a launch claim"):
        launch_claim({})


# ---- the shared capacity and its queue ----------------------------------------------------------------


def test_the_capacity_and_its_queue_read_back_as_records_of_the_same_items(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN a launch and a termination admitted (the launch's job noted), a reconcile, and a parked launch
    launch = CapacityHold(key="lk-a", servers=2, at=ledger.now(), kind="LAUNCH", ref=f"{EXECUTION}/db")
    terminate = CapacityHold(key="term-1", servers=1, at=ledger.now(), kind="TERMINATE", ref=f"{EXECUTION}/*")
    admit = {"max_jobs": 20, "max_servers": 500, "behind_queue": False}
    assert ledger.capacity_admit(launch, **admit) is Admission.ADMITTED
    assert ledger.capacity_admit(terminate, **admit) is Admission.ADMITTED
    assert ledger.capacity_admit(launch, **admit) is Admission.HELD
    ledger.capacity_note_job("lk-a", "drsjob-1")
    assert ledger.capacity_reconcile_due(seconds=10)
    clock.at += timedelta(seconds=1)
    assert ledger.park(_chunk("lk-b", tries=3))
    assert not ledger.park(_chunk("lk-b"))
    item = ledger._get({"pk": CAPACITY_PK, "sk": CAPACITY_SK})
    assert item is not None
    [queued] = _items(ledger, CAPACITY_PK, QUEUE_PREFIX)

    # WHEN they are read as records
    state = ledger.capacity()
    [parked] = ledger.parked()

    # THEN each maps back to its item; the holds are by key; the parked chunk lost its tries only
    assert capacity_state(item) == state
    assert capacity_item(state) == item
    assert parked_launch(queued) == parked
    assert parked_item(parked) == queued
    assert (state.active_jobs, state.active_servers, state.queued, state.reconciled_at) == (
        2,
        3,
        1,
        "2026-01-01T09:00:00.000Z",
    )
    assert state.holds == {
        "lk-a": CapacityHold(key="lk-a", servers=2, at=launch.at, kind="LAUNCH", ref="e/db", job_id="drsjob-1"),
        "term-1": terminate,
    }
    assert (parked.launch_key, parked.enqueued_at, parked.chunk) == ("lk-b", "2026-01-01T09:00:01.000Z", _chunk("lk-b"))
    # the layout as it always was: one map attribute per holder, the chunk as JSON text
    assert item["h#lk-a"] == {"servers": 2, "at": launch.at, "kind": "LAUNCH", "ref": "e/db", "jobId": "drsjob-1"}
    assert queued["kind"] == "PARKED"
    assert isinstance(queued["chunk"], str)


def test_releasing_capacity_gives_the_capacity_after_once(ledger: Ledger) -> None:
    # GIVEN one admitted launch
    hold = CapacityHold(key="lk-a", servers=2, at=ledger.now(), kind="LAUNCH", ref="e/db")
    ledger.capacity_admit(hold, max_jobs=20, max_servers=500, behind_queue=True)
    # WHEN it is released twice
    first = ledger.capacity_release("lk-a")
    second = ledger.capacity_release("lk-a")
    # THEN the first gives the capacity after it, the second nothing
    assert first is not None
    assert (first.active_jobs, first.active_servers, first.holds) == (0, 0, {})
    assert second is None
    assert ledger.capacity().holds == {}


# ---- termination claims and records ----------------------------------------------------------------------


def test_every_termination_claim_the_ledger_writes_reads_back_as_a_record_of_the_same_item(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN a claim through its life: claimed for a scope, leased, started, recorded, settled with one
    # instance not terminated, reopened; and a second claim only claimed
    failed = NotTerminated(recovery_instance_id="i-2", source_server_id="s-2", reason="EC2: in use")
    assert ledger.claim_termination(EXECUTION, "term-1", instance_ids=["i-1", "i-2"], ref="e/db") is None
    assert ledger.lease_termination(EXECUTION, "term-1", token="t", seconds=90) is None
    stages = [ledger.termination_claims(EXECUTION)]
    ledger.complete_termination(EXECUTION, "term-1", job_id="drsjob-9")
    ledger.note_termination_recorded(EXECUTION, "term-1", record_id="db#2026-01-01T09:00:00.000Z", announced=True)
    clock.at += timedelta(seconds=30)
    assert ledger.settle_termination(
        EXECUTION, "term-1", job_id="drsjob-9", terminated=["i-1"], not_terminated=[failed]
    )
    stages.append(ledger.termination_claims(EXECUTION))
    assert ledger.reclaim_termination(EXECUTION, "term-1", failed_job_id="drsjob-9")
    assert ledger.claim_termination(EXECUTION, "term-2", instance_ids=["i-3"]) is None
    stages.append(ledger.termination_claims(EXECUTION))
    items = _items(ledger, PK, "TERMJOB#")

    # WHEN / THEN each item maps to a record and back
    assert [termination_claim_item(termination_claim(item)) for item in items] == items
    leased, settled, (reopened, fresh) = stages[0][0], stages[1][0], stages[2]
    assert (leased.status, leased.lease_token, leased.called, leased.ref) == (
        TerminationStatus.STARTING,
        "t",
        True,
        "e/db",
    )
    assert (settled.status, settled.job_id, settled.record_id, settled.announced) == (
        "STARTED",
        "drsjob-9",
        "db#2026-01-01T09:00:00.000Z",
        True,
    )
    assert (settled.terminated, settled.not_terminated) == (("i-1",), (failed,))
    assert (reopened.status, reopened.job_id, reopened.failed_job_ids, reopened.not_terminated) == (
        "CLAIMED",
        None,
        ("drsjob-9",),
        (failed,),
    )
    assert (fresh.termination_key, fresh.instance_ids, fresh.ref, fresh.called) == ("term-2", ("i-3",), None, False)
    assert items[0]["notTerminated"] == [
        {"recoveryInstanceId": "i-2", "sourceServerId": "s-2", "reason": "EC2: in use"}
    ]


def test_termination_records_read_back_as_records_of_the_same_items_with_the_layout_they_always_had(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN a rollback asked for (then its job's outcome added), and a termination of the execution given up
    rollback = TerminationRecord(
        execution_id=EXECUTION,
        record_id="db#2026-01-01T09:00:00.000Z",
        reason="ROLLBACK",
        wave_id="db",
        attempt=2,
        job_ids=("drsjob-9",),
        instance_ids=("i-1", "i-2"),
        at="2026-01-01T09:00:00.000Z",
    )
    ledger.record_termination(rollback)
    asked = _items(ledger, PK, "TERMINATE#")
    clock.at += timedelta(minutes=2)
    failed = NotTerminated(recovery_instance_id="i-2", source_server_id="s-2", reason="EC2: in use")
    settled = ledger.settle_termination_record(
        EXECUTION, rollback.record_id, job_id="drsjob-9", terminated=["i-1"], not_terminated=[failed]
    )
    given_up = TerminationRecord(
        execution_id=EXECUTION,
        record_id="EXECUTION#2026-01-01T15:00:00.000Z",
        reason="TIME_TO_LIVE",
        not_terminated=(NotTerminated(recovery_instance_id="i-3", reason="gave up"),),
        error="gave up",
        at="2026-01-01T15:00:00.000Z",
    )
    ledger.record_termination(given_up)
    items = ledger.list_terminations(EXECUTION)

    # WHEN they are read as records
    records = ledger.terminations(EXECUTION)

    # THEN each maps back to its item, as the ledger has always written it
    assert [termination_item(record) for record in records] == items
    assert asked == [
        {
            "pk": PK,
            "sk": "TERMINATE#db#2026-01-01T09:00:00.000Z",
            "kind": "TERMINATE",
            "reason": "ROLLBACK",
            "waveId": "db",
            "jobIds": ["drsjob-9"],
            "instances": ["i-1", "i-2"],
            "at": "2026-01-01T09:00:00.000Z",
            "attempt": 2,
        }
    ]
    assert items[0] == {
        "pk": PK,
        "sk": "TERMINATE#EXECUTION#2026-01-01T15:00:00.000Z",
        "kind": "TERMINATE",
        "reason": "TIME_TO_LIVE",
        "waveId": "",
        "jobIds": [],
        "instances": [],
        "notTerminated": [{"recoveryInstanceId": "i-3", "reason": "gave up"}],
        "error": "gave up",
        "at": "2026-01-01T15:00:00.000Z",
    }
    assert records == [given_up, settled]
    assert (settled.terminated, settled.not_terminated, settled.ended_job_ids, settled.ended_at) == (
        ("i-1",),
        (failed,),
        ("drsjob-9",),
        "2026-01-01T09:02:00.000Z",
    )
    assert termination_record(items[1]).wave_id == "db"
