"""The decision on an event as a typed record (orchestrator/domain/records/decisions.py) and its item
(orchestrator/adapters/ledger/decisions.py): an ACCEPTED command and a REFUSED event, before and after its
refusal is announced, read back as the record that maps to the same item."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from events.models import ControlRejected
from orchestrator.adapters.ledger import Ledger, LedgerError, decision_pk
from orchestrator.adapters.ledger._keys import DECISION_SK
from orchestrator.adapters.ledger.decisions import decision_item, decision_record
from orchestrator.domain.records.decisions import DecisionRecord, Verdict
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e"
NOW = "2026-01-01T09:00:00.000Z"
REFUSAL = ControlRejected(execution_id=EXECUTION, command="SkipWave", reason="wave w is RUNNING", wave_id="w")


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    """A RUNNING execution with one READY wave `w`."""
    with mock_aws():
        led = Ledger(ledger_table(), clock, finished_ttl_days=90)  # the time to live maps too
        led.create_execution(
            execution_id=EXECUTION,
            plan_id="p",
            plan_name="p",
            plan_document={"planId": "p", "waves": [{"waveId": "w"}]},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[{"waveId": "w", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
        )
        yield led


def _item(ledger: Ledger, event_id: str) -> dict[str, Any]:
    item = ledger._get({"pk": decision_pk(event_id), "sk": DECISION_SK})
    assert item is not None
    return item


def _expires(ledger: Ledger) -> int:
    return ledger._expires_at()


def test_an_accepted_command_reads_as_its_record_and_maps_back(ledger: Ledger) -> None:
    # GIVEN / WHEN command "cmd-1" skips the wave, its decision written with the transition
    ledger.finish_wave(EXECUTION, "w", from_=["READY"], to="SKIPPED", key="cmd-1", decided_by="cmd-1")
    # THEN it reads as ACCEPTED, with nothing of a refusal, and maps back to its item
    decision = ledger.get_decision("cmd-1")
    assert decision == DecisionRecord(event_id="cmd-1", verdict=Verdict.ACCEPTED, at=NOW, expires_at=_expires(ledger))
    assert decision.accepted
    assert decision_item(decision) == _item(ledger, "cmd-1")
    assert ledger.get_decision("cmd-2") is None


def test_a_refusal_keeps_its_answer_and_reads_as_announced_once_it_is(ledger: Ledger) -> None:
    # GIVEN / WHEN event "cmd-1" is refused, refused again, then its refusal announced
    first = ledger.record_refusal("cmd-1", REFUSAL)
    recorded = ledger.get_decision("cmd-1")
    again = ledger.record_refusal("cmd-1", REFUSAL)
    ledger.mark_refusal_announced("cmd-1")
    announced = ledger.get_decision("cmd-1")
    # THEN the first recorded it, the second got the earlier refusal, not announced, with its answer
    expected = DecisionRecord(
        event_id="cmd-1",
        verdict=Verdict.REFUSED,
        at=NOW,
        answer_type="ControlRejected",
        answer={
            "version": "1",
            "executionId": EXECUTION,
            "command": "SkipWave",
            "reason": "wave w is RUNNING",
            "waveId": "w",
        },
        announced=False,
        expires_at=_expires(ledger),
    )
    assert (first, recorded, again) == (None, expected, expected)
    assert announced is not None
    assert (announced.announced, announced.accepted) == (True, False)
    # AND the answer is the one that was refused, and each record maps back to its item
    assert ControlRejected.model_validate(expected.answer) == REFUSAL
    assert decision_item(announced) == _item(ledger, "cmd-1")
    assert _item(ledger, "cmd-1")["detail"] == (
        '{"version":"1","executionId":"e","command":"SkipWave","reason":"wave w is RUNNING","waveId":"w"}'
    )
    assert decision_item(expected) == {**_item(ledger, "cmd-1"), "announced": False}


def test_refusing_an_accepted_command_gives_back_the_acceptance(ledger: Ledger) -> None:
    # GIVEN command "cmd-1" accepted
    ledger.finish_wave(EXECUTION, "w", from_=["READY"], to="SKIPPED", key="cmd-1", decided_by="cmd-1")
    # WHEN a late copy of it is refused
    earlier = ledger.record_refusal("cmd-1", REFUSAL)
    # THEN the acceptance stands, and is what comes back
    assert earlier is not None
    assert earlier.verdict is Verdict.ACCEPTED
    assert ledger.get_decision("cmd-1") == earlier


def test_an_item_that_is_not_a_decision_is_refused_clearly() -> None:
    # GIVEN / WHEN / THEN an item without a decision, and one whose decision is unknown
    with pytest.raises(LedgerError, match="not a decision item"):
        decision_record({"pk": "EVENT#x", "sk": DECISION_SK, "at": NOW})
    with pytest.raises(LedgerError, match="not a decision item"):
        decision_record({"pk": "EVENT#x", "sk": DECISION_SK, "decision": "MAYBE"})
