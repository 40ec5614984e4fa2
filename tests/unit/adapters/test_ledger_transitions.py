"""The ledger refuses a status change the transition table does not declare (orchestrator/domain/status.py),
before any DynamoDB call: against moto's DynamoDB (the adapter tier), a refused transition leaves every item
as it was, and an allowed one writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, Outcome
from orchestrator.domain.status import ExecutionStatus, IllegalTransition, WaveStatus
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e"


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield ledger_table()


@pytest.fixture
def ledger(table: Any) -> Ledger:
    """A RUNNING execution with wave `a` READY and wave `b` PENDING on it."""
    led = Ledger(table, SettableClock())
    led.create_execution(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="p",
        plan_document={},
        mode="DRILL",
        requested_by="me",
        key="start",
        waves=[
            {"waveId": "a", "dependsOn": [], "dependents": ["b"], "onFailure": "STOP", "servers": {}},
            {"waveId": "b", "dependsOn": ["a"], "dependents": [], "onFailure": "STOP", "servers": {}},
        ],
    )
    return led


def _items(table: Any) -> list[dict[str, Any]]:
    return sorted(table.scan(ConsistentRead=True)["Items"], key=lambda item: (item["pk"], item["sk"]))


# Each would be written as asked without the check: the item is in the status the write leaves.
FORBIDDEN: dict[str, Callable[[Ledger], object]] = {
    "transition_wave READY -> LAUNCHING (skips pre-launch)": lambda led: led.transition_wave(
        EXECUTION, "a", from_=["READY"], to="LAUNCHING", key="k"
    ),
    "finish_wave READY -> COMPLETED (never launched)": lambda led: led.finish_wave(
        EXECUTION, "a", from_=[WaveStatus.READY], to=WaveStatus.COMPLETED, key="k"
    ),
    "finish_wave PENDING | READY -> FAILED (a PENDING wave does not fail)": lambda led: led.finish_wave(
        EXECUTION, "b", from_=["PENDING", "READY"], to="FAILED", key="k"
    ),
    "move_wave PENDING -> POST_LAUNCH": lambda led: led.move_wave(
        EXECUTION, "b", from_=["PENDING"], to="POST_LAUNCH", key="k", count=1
    ),
    "set_execution_status RUNNING -> CREATING": lambda led: led.set_execution_status(
        EXECUTION, from_=["RUNNING"], to="CREATING", key="k"
    ),
    "set_execution_status RUNNING -> READY (a wave status)": lambda led: led.set_execution_status(
        EXECUTION, from_=[ExecutionStatus.RUNNING], to="READY", key="k"
    ),
    "reopen_execution RUNNING -> RUNNING": lambda led: led.reopen_execution(EXECUTION, from_=["RUNNING"], key="k"),
}


@pytest.mark.parametrize("write", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_a_forbidden_transition_raises_and_writes_nothing(
    ledger: Ledger, table: Any, write: Callable[[Ledger], object]
) -> None:
    # GIVEN the execution as created, and the items it left
    before = _items(table)

    # WHEN a status change the table does not declare is asked of the ledger
    with pytest.raises(IllegalTransition):
        write(ledger)

    # THEN every item is as it was
    assert _items(table) == before


class _NoDynamoDB:
    """A table whose every use fails the test: a refused transition must not reach DynamoDB at all."""

    name = "ledger"

    class meta:  # noqa: N801 (boto3's attribute name)
        client = None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"DynamoDB was called ({name}) before the transition was refused")


@pytest.mark.parametrize("write", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_a_forbidden_transition_is_refused_before_any_dynamodb_call(write: Callable[[Ledger], object]) -> None:
    # GIVEN a ledger whose table fails on any call
    ledger = Ledger(_NoDynamoDB(), SettableClock())

    # WHEN a status change the table does not declare is asked of it
    # THEN it is refused by the check (not by DynamoDB, which is never called)
    with pytest.raises(IllegalTransition):
        write(ledger)


def test_an_allowed_transition_writes(ledger: Ledger) -> None:
    # GIVEN the created execution (wave a READY, wave b PENDING)
    # WHEN declared transitions are asked, with enum members and with strings
    moved = ledger.transition_wave(EXECUTION, "a", from_=[WaveStatus.READY], to=WaveStatus.PRE_LAUNCH, key="k1")
    paused = ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="PAUSED", key="k2")
    skipped = ledger.finish_wave(
        EXECUTION, "b", from_=sorted({WaveStatus.PENDING, WaveStatus.READY}), to=WaveStatus.SKIPPED, key="k3"
    )

    # THEN each is written, as the plain string
    assert (moved, paused, skipped) == (Outcome.WON, Outcome.WON, Outcome.WON)
    wave_a, wave_b = ledger.get_wave(EXECUTION, "a") or {}, ledger.get_wave(EXECUTION, "b") or {}
    execution = ledger.get_execution(EXECUTION) or {}
    assert (wave_a["status"], wave_b["status"], execution["status"]) == ("PRE_LAUNCH", "SKIPPED", "PAUSED")
    assert execution["terminalCount"] == 1
    assert [type(s) for s in (wave_a["status"], execution["status"])] == [str, str]


def test_an_allowed_transition_from_another_status_is_still_rejected_by_dynamodb(ledger: Ledger, table: Any) -> None:
    # GIVEN wave a READY
    before = _items(table)

    # WHEN a declared transition that leaves another status is asked (POST_LAUNCH -> COMPLETED)
    outcome = ledger.finish_wave(EXECUTION, "a", from_=["POST_LAUNCH"], to="COMPLETED", key="k")

    # THEN the check lets it through, the conditional write does not hold, and nothing is written
    assert outcome is Outcome.REJECTED
    assert _items(table) == before
