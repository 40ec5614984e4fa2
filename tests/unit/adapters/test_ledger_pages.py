"""The ledger reads every page of a Query (the adapter tier, moto's DynamoDB): a Query answers at most 1 MB
of items (before any projection) and says where to go on with `LastEvaluatedKey`; whatever reads one page
only misses the rest of an execution's items once they outgrow 1 MB (a wave of a few thousand servers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, Outcome, exec_pk, wave_sk
from orchestrator.domain.records.launches import ChunkServer, LaunchChunk
from tests.unit.moto_ledger import SettableClock, ledger_table, write_wave_attributes

EXECUTION = "exec-1"


class _SmallPages:
    """The ledger's table, but every Query answers at most `limit` items (as if each were large), counting
    the Query calls: the ledger must follow `LastEvaluatedKey` as it would past 1 MB."""

    def __init__(self, table: Any, *, limit: int) -> None:
        self._table, self._limit = table, limit
        self.queries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def query(self, **kwargs: Any) -> Any:
        self.queries += 1
        return self._table.query(Limit=self._limit, **kwargs)


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield ledger_table()


@pytest.fixture
def ledger(table: Any) -> Ledger:
    return Ledger(table, SettableClock(), finished_ttl_days=1)


def _create(ledger: Ledger, waves: list[str]) -> None:
    outcome = ledger.create_execution(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="p",
        plan_document={"planId": "p"},
        mode="DRILL",
        requested_by="test",
        key="start",
        waves=[{"waveId": w, "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}} for w in waves],
    )
    assert outcome is Outcome.WON


def _expires_at(table: Any, wave_id: str) -> Any:
    item = table.get_item(Key={"pk": exec_pk(EXECUTION), "sk": wave_sk(wave_id)}, ConsistentRead=True)["Item"]
    return item.get("expiresAt")


def test_reopening_an_execution_stops_every_item_expiring_past_the_first_page(ledger: Ledger, table: Any) -> None:
    # GIVEN a failed execution whose four waves hold 300 KB each (1.2 MB: more than one Query page), all expiring
    waves = ["w1", "w2", "w3", "w4"]
    _create(ledger, waves)
    for wave_id in waves:
        write_wave_attributes(ledger, EXECUTION, wave_id, {"note": "x" * 300_000})
    assert ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="FAILED", key="close") is Outcome.WON
    assert [_expires_at(table, w) is not None for w in waves] == [True, True, True, True]
    first_page = table.query(
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": exec_pk(EXECUTION)},
        ProjectionExpression="sk",
    )
    assert "LastEvaluatedKey" in first_page  # the fixture does outgrow one page

    # WHEN an operator reopens it
    outcome = ledger.reopen_execution(EXECUTION, from_=["FAILED"], key="retry")

    # THEN none of its waves expires any more, the last one (on the second page) included
    assert outcome is Outcome.WON
    assert [_expires_at(table, w) for w in waves] == [None, None, None, None]


def test_reopening_reads_every_page_of_small_pages(ledger: Ledger, table: Any) -> None:
    # GIVEN a failed execution of five waves (seven items with the execution and the plan), read two items a page
    waves = [f"w{n}" for n in range(5)]
    _create(ledger, waves)
    ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="FAILED", key="close")
    paged = _SmallPages(table, limit=2)
    ledger._table = paged

    # WHEN it is reopened
    ledger.reopen_execution(EXECUTION, from_=["FAILED"], key="retry")

    # THEN no wave expires any more: the Query went on for four pages (7 items, 2 a page)
    assert [_expires_at(table, w) for w in waves] == [None] * 5
    assert paged.queries == 4


def _chunk(key: str) -> LaunchChunk:
    return LaunchChunk(
        execution_id=EXECUTION,
        plan_id="p",
        wave_id="w0",
        attempt=1,
        index=0,
        is_drill=True,
        launch_key=key,
        servers=(ChunkServer(source_server_id="s-1"),),
    )


def test_the_lists_of_an_execution_and_the_parked_queue_read_every_page(ledger: Ledger, table: Any) -> None:
    # GIVEN five waves and five parked launches, read two items a page
    waves = [f"w{n}" for n in range(5)]
    _create(ledger, waves)
    for n in range(5):
        assert ledger.park(_chunk(f"lk-{n}")) is True
    paged = _SmallPages(table, limit=2)
    ledger._table = paged

    # WHEN the waves and the parked launches are listed
    listed = [w["waveId"] for w in ledger.list_waves(EXECUTION)]
    parked = [p.launch_key for p in ledger.parked()]

    # THEN every one is there, in order, from three pages each
    assert listed == waves
    assert parked == [f"lk-{n}" for n in range(5)]
    assert paged.queries == 6
