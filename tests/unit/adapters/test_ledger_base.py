"""The ledger's shared plumbing (the adapter tier, moto's DynamoDB): the one conditional write, the one status
transition and how each tells a REPLAY (a redelivery of the event that made the move) from a REJECTED move,
and the composition of the kinds of item into `Ledger`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from events.models import ControlRejected
from orchestrator.adapters.ledger import Ledger, Outcome, exec_pk, wave_sk
from orchestrator.adapters.ledger._base import _Update
from orchestrator.domain.records.changes import WaveChanges
from tests.unit.moto_ledger import SettableClock, ledger_table, write_wave_attributes

EXECUTION = "exec-1"
WAVE = {"pk": exec_pk(EXECUTION), "sk": wave_sk("w")}


class _Counting:
    """A table or client that counts the calls made through it, by operation."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute) or name == "meta":
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return counted


class _Conflicting:
    """A client whose TransactWriteItems is cancelled by a concurrent write (TransactionConflict)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        response: Any = {
            "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
            "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
        }
        raise ClientError(response, "TransactWriteItems")


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        yield ledger_table()


@pytest.fixture
def ledger(table: Any) -> Ledger:
    led = Ledger(table, SettableClock())
    outcome = led.create_execution(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="p",
        plan_document={},
        mode="DRILL",
        requested_by="me",
        key="start",
        waves=[{"waveId": "w", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
    )
    assert outcome is Outcome.WON
    return led


def _wave(ledger: Ledger) -> dict[str, Any]:
    return ledger.get_wave(EXECUTION, "w") or {}


# ---- the one conditional write ------------------------------------------------------------------------


def test_a_failed_condition_comes_back_with_the_item_as_it_was_in_plain_python(ledger: Ledger) -> None:
    # GIVEN a READY wave with a number and a set
    write_wave_attributes(ledger, EXECUTION, "w", {"remaining": 2, "releasedBy": {"b", "a"}})
    update = _Update(sets={"status": "LAUNCHING"})

    # WHEN a write conditional on another status is made, asking for the item as it was
    written = ledger._update(
        WAVE, update, f"{update.name('status')} = {update.value('PRE_LAUNCH')}", old_on_failure=True
    )

    # THEN it is not made, and the item comes back as DynamoDB had it, in plain Python (int, sorted list)
    assert written.ok is False
    assert (written.item["status"], written.item["remaining"], written.item["releasedBy"]) == ("READY", 2, ["a", "b"])
    assert _wave(ledger)["status"] == "READY"


def test_a_failed_condition_without_the_old_item_asked_comes_back_empty(ledger: Ledger) -> None:
    update = _Update(sets={"status": "LAUNCHING"})

    written = ledger._update(WAVE, update, f"{update.name('status')} = {update.value('PRE_LAUNCH')}")

    assert (written.ok, written.item) == (False, {})


def test_a_write_that_holds_comes_back_with_the_attributes_asked_for(ledger: Ledger) -> None:
    update = _Update(sets={"note": "x"}, adds={"jobsDone": 1})

    written = ledger._update(WAVE, update, f"{update.name('status')} = {update.value('READY')}", returns="UPDATED_NEW")

    assert (written.ok, written.item) == (True, {"note": "x", "jobsDone": 1})


def test_an_error_that_is_not_a_failed_condition_is_raised(ledger: Ledger) -> None:
    # GIVEN a write DynamoDB refuses as invalid (a placeholder that is not defined)
    # WHEN it is made
    # THEN the ClientError is raised (its event is retried), not taken for a state that does not fit
    with pytest.raises(ClientError) as raised:
        ledger._write(
            ledger._table.update_item,
            Key=WAVE,
            UpdateExpression="SET note = :undefined",
            ConditionExpression="attribute_exists(pk)",
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_a_transaction_cancelled_by_a_concurrent_write_is_raised_not_rejected(ledger: Ledger) -> None:
    # GIVEN a wave whose closing transaction conflicts with a concurrent write
    ledger._client = _Conflicting(ledger._client)

    # WHEN it is finished
    # THEN the conflict is raised (the event is retried), and nothing was written
    with pytest.raises(ClientError):
        ledger.finish_wave(EXECUTION, "w", from_=["READY"], to="FAILED", key="ev-1")
    assert _wave(ledger)["status"] == "READY"


def test_create_puts_once_and_then_gives_the_existing_item(ledger: Ledger) -> None:
    item = {"pk": exec_pk(EXECUTION), "sk": "TEST#1", "value": 1}

    first = ledger._create(item)
    second = ledger._create({**item, "value": 2})

    assert first is None
    assert second == {**item, "value": 1}


# ---- the one status transition ------------------------------------------------------------------------


def test_a_single_item_transition_tells_a_replay_from_the_item_returned_without_reading_it_again(
    ledger: Ledger, table: Any
) -> None:
    # GIVEN a wave moved READY -> PRE_LAUNCH by event "ev-1"
    assert ledger.transition_wave(EXECUTION, "w", from_=["READY"], to="PRE_LAUNCH", key="ev-1") is Outcome.WON
    counted = _Counting(table)
    ledger._table = counted

    # WHEN "ev-1" is delivered again, and then another event asks for the same move
    again = ledger.transition_wave(EXECUTION, "w", from_=["READY"], to="PRE_LAUNCH", key="ev-1")
    other = ledger.transition_wave(EXECUTION, "w", from_=["READY"], to="PRE_LAUNCH", key="ev-2")

    # THEN the first is a REPLAY and the second REJECTED, each told by its one UpdateItem (ALL_OLD)
    assert (again, other) == (Outcome.REPLAY, Outcome.REJECTED)
    assert counted.calls == ["update_item", "update_item"]


def test_a_counted_transition_is_one_transaction_and_a_redelivery_counts_nothing(ledger: Ledger) -> None:
    # GIVEN a READY wave of an execution that counts no terminal wave yet
    # WHEN it fails for event "ev-1", "ev-1" is delivered again, and another event fails it too
    first = ledger.finish_wave(
        EXECUTION, "w", from_=["READY"], to="FAILED", key="ev-1", changes=WaveChanges(reason="r")
    )
    again = ledger.finish_wave(
        EXECUTION, "w", from_=["READY"], to="FAILED", key="ev-1", changes=WaveChanges(reason="r")
    )
    other = ledger.finish_wave(
        EXECUTION, "w", from_=["READY"], to="FAILED", key="ev-2", changes=WaveChanges(reason="r")
    )

    # THEN only the first wrote: FAILED, ended, counted once on the execution
    assert (first, again, other) == (Outcome.WON, Outcome.REPLAY, Outcome.REJECTED)
    wave = _wave(ledger)
    assert (wave["status"], wave["lastKey"], wave["reason"], wave["endedAt"]) == (
        "FAILED",
        "ev-1",
        "r",
        "2026-01-01T09:00:00.000Z",
    )
    assert (ledger.get_execution(EXECUTION) or {})["terminalCount"] == 1


def test_a_decided_transition_records_its_command_once_and_a_redelivery_is_a_replay(ledger: Ledger) -> None:
    # GIVEN a wave awaiting approval
    assert ledger.transition_wave(EXECUTION, "w", from_=["READY"], to="AWAITING_APPROVAL", key="ev-0") is Outcome.WON

    # WHEN command "cmd-1" approves it, is delivered again, and command "cmd-2" asks for the same
    first = ledger.transition_wave(
        EXECUTION, "w", from_=["AWAITING_APPROVAL"], to="READY", key="cmd-1", decided_by="cmd-1"
    )
    again = ledger.transition_wave(
        EXECUTION, "w", from_=["AWAITING_APPROVAL"], to="READY", key="cmd-1", decided_by="cmd-1"
    )
    other = ledger.transition_wave(
        EXECUTION, "w", from_=["AWAITING_APPROVAL"], to="READY", key="cmd-2", decided_by="cmd-2"
    )

    # THEN "cmd-1" is ACCEPTED once and its copy is a REPLAY; "cmd-2" is rejected and no decision is recorded
    assert (first, again, other) == (Outcome.WON, Outcome.REPLAY, Outcome.REJECTED)
    assert (ledger.get_decision("cmd-1") or pytest.fail("no decision")).verdict == "ACCEPTED"
    assert ledger.get_decision("cmd-2") is None
    assert _wave(ledger)["lastKey"] == "cmd-1"


def test_a_command_refused_before_changes_nothing_when_it_is_decided_later(ledger: Ledger) -> None:
    # GIVEN command "cmd-1" recorded as REFUSED
    refusal = ControlRejected(execution_id=EXECUTION, command="RetryWave", reason="r", wave_id="w")
    assert ledger.record_refusal("cmd-1", refusal) is None

    # WHEN a late copy of it would move the wave
    outcome = ledger.move_wave(EXECUTION, "w", from_=["READY"], to="SKIPPED", key="cmd-1", count=1, decided_by="cmd-1")

    # THEN it is rejected: the wave, the execution's count and the decision stay as they were
    assert outcome is Outcome.REJECTED
    assert _wave(ledger)["status"] == "READY"
    assert (ledger.get_execution(EXECUTION) or {})["terminalCount"] == 0
    assert (ledger.get_decision("cmd-1") or pytest.fail("no decision")).verdict == "REFUSED"


def test_a_transition_moves_only_while_its_other_conditions_hold(ledger: Ledger) -> None:
    # GIVEN a wave skipped for wave "a"
    assert (
        ledger.finish_wave(
            EXECUTION, "w", from_=["READY"], to="SKIPPED", key="ev-0", changes=WaveChanges(skipped_for="a")
        )
        is Outcome.WON
    )

    # WHEN it is reopened as if skipped for "b", then for "a"
    wrong = ledger.move_wave(
        EXECUTION,
        "w",
        from_=["SKIPPED"],
        to="PENDING",
        key="ev-1",
        count=-1,
        removes=["skipped_for", "ended_at"],
        where=WaveChanges(skipped_for="b"),
    )
    right = ledger.move_wave(
        EXECUTION,
        "w",
        from_=["SKIPPED"],
        to="PENDING",
        key="ev-2",
        count=-1,
        removes=["skipped_for", "ended_at"],
        where=WaveChanges(skipped_for="a"),
    )

    # THEN only the second moves it, removing what it names, and the execution counts it open again
    assert (wrong, right) == (Outcome.REJECTED, Outcome.WON)
    wave = _wave(ledger)
    assert (wave["status"], "skippedFor" in wave, "endedAt" in wave) == ("PENDING", False, False)
    assert (ledger.get_execution(EXECUTION) or {})["terminalCount"] == 0


def test_a_transition_of_an_item_that_does_not_exist_is_rejected_and_creates_nothing(ledger: Ledger) -> None:
    outcome = ledger.transition_wave(EXECUTION, "nowhere", from_=["READY"], to="PRE_LAUNCH", key="ev-1")

    assert outcome is Outcome.REJECTED
    assert ledger.get_wave(EXECUTION, "nowhere") is None


# ---- the kinds of item ----------------------------------------------------------------------------------


def test_no_kind_of_item_hides_another_ones_method() -> None:
    # GIVEN the classes Ledger is composed of: each kind of item, and the plumbing under them
    composed = [cls for cls in Ledger.__mro__ if cls not in (Ledger, object)]
    assert {cls.__name__ for cls in composed} == {
        "Executions",
        "Waves",
        "Transitions",
        "Decisions",
        "Servers",
        "Scripts",
        "Launches",
        "LaunchSettingsItems",
        "Leases",
        "Terminations",
        "Capacity",
        "Failures",
        "ObjectiveAlerts",
        "PackedLaunches",
        "LedgerBase",
    }

    # WHEN the names each defines are compared
    defined = {cls: {name for name in vars(cls) if not name.startswith("__")} for cls in composed}
    clashes = sorted(
        f"{a.__name__}.{name} / {b.__name__}"
        for a in composed
        for b in composed
        if a.__name__ < b.__name__
        for name in defined[a] & defined[b]
    )

    # THEN none is defined twice (a method shadowed by another kind's would silently never run)
    assert clashes == []
