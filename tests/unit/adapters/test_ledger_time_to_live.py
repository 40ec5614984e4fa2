"""The ledger's time to live is a deploy setting, off by default (issue #16): without one, nothing the ledger
writes for an execution, ended or not, carries `expiresAt`, so DynamoDB deletes nothing; with one, every item of an
ended execution expires that many days after its end (moto's DynamoDB, the adapter tier)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from moto import mock_aws

from events.models import PlanFailed
from orchestrator.adapters.ledger import Ledger
from orchestrator.config import Settings
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e-ttl"


@pytest.fixture
def table() -> Iterator[object]:
    with mock_aws():
        yield ledger_table()


def _run_and_end(ledger: Ledger) -> None:
    """An execution of two waves that ends FAILED, with what is written around an end: a handler failure's count,
    a deferred termination, a refused command's decision."""
    ledger.create_execution(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="p",
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
    ledger.count_handler_failure("event-1", "progress", "boom")
    ledger.note_termination_deferred(EXECUTION, "CANCEL")
    ledger.record_refusal("cmd-1", PlanFailed(execution_id=EXECUTION, reason="refused"))
    ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="FAILED", key="end")


def _expiries(table: object) -> dict[str, int | None]:
    items = table.scan()["Items"]  # type: ignore[attr-defined]
    return {f"{item['pk']}|{item['sk']}": item.get("expiresAt") for item in items}


def test_without_a_time_to_live_no_item_of_an_ended_execution_expires(table: object) -> None:
    # GIVEN a ledger built as the functions build it from the default settings (no FINISHED_EXECUTION_TTL_DAYS)
    settings = Settings()
    assert settings.finished_ttl_days is None
    ledger = Ledger(table, SettableClock(), finished_ttl_days=settings.finished_ttl_days)
    # WHEN an execution runs and ends, with a failure count, a deferral and a decision written on the way
    _run_and_end(ledger)
    # THEN every item is there, and none has an expiresAt
    expiries = _expiries(table)
    assert len(expiries) >= 7  # execution, plan, two waves, a server, the failure, the deferral, the decision
    assert {key: at for key, at in expiries.items() if at is not None} == {}


def test_with_a_time_to_live_every_item_expires_that_many_days_after_the_end(table: object) -> None:
    # GIVEN a ledger whose deploy sets a time to live of 400 days
    clock = SettableClock()
    ledger = Ledger(table, clock, finished_ttl_days=400)
    # WHEN an execution runs and ends
    _run_and_end(ledger)
    # THEN each of its items (and the failure count, the decision) expires 400 days after now
    expected = int((clock.at + timedelta(days=400)).timestamp())
    assert set(_expiries(table).values()) == {expected}


def test_the_setting_reads_the_environment_and_refuses_a_time_to_live_under_three_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINISHED_EXECUTION_TTL_DAYS", "400")
    assert Settings().finished_ttl_days == 400
    monkeypatch.setenv("FINISHED_EXECUTION_TTL_DAYS", "2")
    with pytest.raises(ValueError, match="greater than or equal to 3"):
        Settings()
