"""The ledger's release of a dependent wave, against moto's DynamoDB (the adapter tier)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, exec_pk, wave_sk
from orchestrator.domain.clock import SystemClock
from tests.unit.moto_ledger import ledger_table

EXECUTION = "exec-1"


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with mock_aws():
        yield Ledger(ledger_table(), SystemClock())


def _wave(
    ledger: Ledger, wave_id: str, *, status: str = "PENDING", remaining: int, released_by: set[str] | None = None
) -> None:
    item: dict[str, Any] = {
        "pk": exec_pk(EXECUTION),
        "sk": wave_sk(wave_id),
        "waveId": wave_id,
        "status": status,
        "remaining": remaining,
        "lastKey": "created",
    }
    if released_by:
        item["releasedBy"] = released_by
    ledger._table.put_item(Item=item)


def test_the_last_dependency_makes_the_wave_ready_in_one_write(ledger: Ledger) -> None:
    # GIVEN a wave waiting for one dependency (another one already counted)
    _wave(ledger, "b", remaining=1, released_by={"x"})

    # WHEN its last dependency is counted
    released = ledger.release_last(EXECUTION, "b", released_by="a", key="evt:b", ready_at="t1")

    # THEN it is READY, counted, and keyed by the releasing event (a redelivery can recognise it)
    wave = ledger.get_wave(EXECUTION, "b") or {}
    assert released is True
    assert (wave["status"], wave["remaining"], wave["lastKey"], wave["readyAt"]) == ("READY", 0, "evt:b", "t1")
    assert wave["releasedBy"] == ["a", "x"]


@pytest.mark.parametrize(
    ("status", "remaining", "released_by"),
    [
        ("PENDING", 2, None),  # not the last dependency
        ("PENDING", 1, {"a"}),  # this dependency was counted already (a duplicate)
        ("SKIPPED", 1, None),  # the wave will not run
    ],
)
def test_release_last_changes_nothing_when_it_does_not_hold(
    ledger: Ledger, status: str, remaining: int, released_by: set[str] | None
) -> None:
    _wave(ledger, "b", status=status, remaining=remaining, released_by=released_by)
    before = ledger.get_wave(EXECUTION, "b")

    released = ledger.release_last(EXECUTION, "b", released_by="a", key="evt:b", ready_at="t1")

    assert released is False
    assert ledger.get_wave(EXECUTION, "b") == before


def test_release_counts_each_dependency_once(ledger: Ledger) -> None:
    _wave(ledger, "d", remaining=2)

    assert ledger.release(EXECUTION, "d", released_by="b") == 1
    assert ledger.release(EXECUTION, "d", released_by="b") is None  # duplicate
    assert ledger.release(EXECUTION, "d", released_by="c") == 0
    assert (ledger.get_wave(EXECUTION, "d") or {})["status"] == "PENDING"  # READY is the caller's next write


# ---- what counts as "the condition did not hold" ------------------------------------------------------


def _client_error(code: str, reasons: list[str] | None = None) -> Any:
    from botocore.exceptions import ClientError

    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}}
    if reasons is not None:
        response["CancellationReasons"] = [{"Code": r} for r in reasons]
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "reasons", "conditional"),
    [
        ("ConditionalCheckFailedException", None, True),
        ("TransactionCanceledException", ["ConditionalCheckFailed", "None"], True),
        ("TransactionCanceledException", ["None", "TransactionConflict"], False),  # a concurrent write: retry
        ("TransactionCanceledException", ["ThrottlingError", "None"], False),
        ("TransactionCanceledException", ["ConditionalCheckFailed", "ValidationError"], False),
        ("ProvisionedThroughputExceededException", None, False),
    ],
)
def test_only_a_condition_that_did_not_hold_is_a_conditional_failure(
    code: str, reasons: list[str] | None, conditional: bool
) -> None:
    from orchestrator.adapters.ledger import _is_conditional_failure

    assert _is_conditional_failure(_client_error(code, reasons)) is conditional
