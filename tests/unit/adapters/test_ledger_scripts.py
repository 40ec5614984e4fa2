"""The script run's typed records (orchestrator/domain/records/scripts.py) and their mapping to items
(orchestrator/adapters/ledger/scripts.py), against moto's DynamoDB (the adapter tier): every item the ledger
writes through a script's life (claimed, deferred to a resend, sent, counted, failed and retried, ended with
its per-instance results, expired with its execution) reads back as a record that maps to the same item; the
command index entry and a failed try's result too; the fields are the right ones; what a record does not name
is kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, LedgerError, Outcome, command_pk, exec_pk, script_sk
from orchestrator.adapters.ledger.scripts import (
    command_item,
    command_record,
    invocation_map,
    script_item,
    script_record,
    try_map,
)
from orchestrator.domain.plan import ScriptOnFailure
from orchestrator.domain.records.scripts import (
    CommandIndexEntry,
    InvocationResult,
    ScriptId,
    ScriptRun,
    ScriptSpec,
    ScriptStatus,
    ScriptTry,
    SendDeferral,
)
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "e"
SCRIPT = ScriptId(execution_id=EXECUTION, wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=1)
SPEC = ScriptSpec(
    id=SCRIPT,
    plan_id="p",
    document_name="Smoke",
    on_failure=ScriptOnFailure.WARN,
    health_check=False,
    retries=1,
    timeout_seconds=60,
)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    """A RUNNING execution of one wave `db`."""
    with mock_aws():
        led = Ledger(ledger_table(), clock, finished_ttl_days=90)  # the time to live maps too
        led.create_execution(
            execution_id=EXECUTION,
            plan_id="p",
            plan_name="p",
            plan_document={"planId": "p", "waves": [{"waveId": "db"}]},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[{"waveId": "db", "dependsOn": [], "dependents": [], "onFailure": "STOP", "servers": {}}],
        )
        yield led


def _item(ledger: Ledger) -> dict[str, Any]:
    item = ledger._get({"pk": exec_pk(EXECUTION), "sk": script_sk("db", 1, "POST_LAUNCH", 1)})
    assert item is not None
    return item


def _assert_round_trips(ledger: Ledger) -> ScriptRun:
    item = _item(ledger)
    run = script_record(item)
    assert script_item(run) == item
    assert ledger.get_script(SCRIPT) == run
    return run


def _tick(clock: SettableClock, seconds: float = 1) -> None:
    clock.at += timedelta(seconds=seconds)


def test_every_item_of_a_script_deferred_sent_retried_and_ended_maps_to_its_record_and_back(
    ledger: Ledger, clock: SettableClock
) -> None:
    # GIVEN / WHEN a script claimed, deferred to a resend tick and claimed by it
    outcome, claimed = ledger.claim_script(SPEC, key="jc-1")
    assert outcome is Outcome.WON
    run = _assert_round_trips(ledger)
    assert claimed == run
    assert (run.status, run.try_number, run.send_key, run.started_at) == (
        ScriptStatus.SENDING,
        1,
        "jc-1",
        "2026-01-01T09:00:00.000Z",
    )
    deferral = SendDeferral(resend=1, resend_at="2026-01-01T09:00:15.000Z", deferred_by="jc-1", send_error="slow")
    assert ledger.rekey_send(SCRIPT, try_number=1, from_key="jc-1", to_key="defer:1:1", deferral=deferral)[0] is (
        Outcome.WON
    )
    run = _assert_round_trips(ledger)
    assert (run.resends, run.resend_try, run.resend_at, run.deferred_by, run.send_error) == (
        1,
        1,
        "2026-01-01T09:00:15.000Z",
        "jc-1",
        "slow",
    )
    _tick(clock, 15)
    assert ledger.rekey_send(SCRIPT, try_number=1, from_key="defer:1:1", to_key="tick-1")[0] is Outcome.WON

    # AND sent to tagged instances, one of its two invocations counted
    assert ledger.record_sent(
        SCRIPT,
        try_number=1,
        key="tick-1",
        command_ids=["cmd-1"],
        expected=2,
        deadline=clock.at + timedelta(seconds=60),
        tags={"Role": "db"},
    )
    assert ledger.record_invocation_done(SCRIPT, try_number=1, instance_id="i-1") == 1
    run = _assert_round_trips(ledger)
    assert (run.status, run.command_ids, run.expected, run.target_count, run.tags) == (
        ScriptStatus.RUNNING,
        ("cmd-1",),
        2,
        2,
        {"Role": "db"},
    )
    assert (run.deadline, run.done_count, run.done_instances) == ("2026-01-01T09:01:15+00:00", 1, ("i-1",))

    # AND its try failed and waits for a retry, which is claimed and sent
    failed = ScriptTry(
        try_number=1,
        status=ScriptStatus.FAILED,
        command_ids=("cmd-1",),
        instances_failed=1,
        ended_at=ledger.now(),
        reason="exit 1",
    )
    assert ledger.script_retry_wait(SCRIPT, result=failed) is Outcome.WON
    run = _assert_round_trips(ledger)
    assert (run.status, run.history, run.last_result) == (ScriptStatus.RETRY_WAIT, (failed,), failed)
    _tick(clock, 10)
    outcome, retried = ledger.claim_retry(SCRIPT, try_number=2, key="retry-1")
    assert outcome is Outcome.WON
    assert retried == _assert_round_trips(ledger)
    assert (retried.status, retried.try_number, retried.done_instances) == (ScriptStatus.SENDING, 2, None)
    assert ledger.record_sent(SCRIPT, try_number=2, key="retry-1", command_ids=["cmd-2"], expected=1, deadline=clock.at)

    # AND it ends with its per-instance results
    sent = _assert_round_trips(ledger)
    results = [InvocationResult(instance_id="i-1", status="Success", output="ok", duration_seconds=2.5)]
    ended = ledger.finish_script(
        sent,
        try_number=2,
        from_=[ScriptStatus.RUNNING],
        status=ScriptStatus.SUCCESS,
        instances=results,
        reason=None,
        warnings=[],
        key="ev-1",
    )

    # THEN every stage maps to its record and back; the ended one with its results as `list_scripts` gives them
    assert ended is Outcome.WON
    run = _assert_round_trips(ledger)
    assert (run.status, run.done_key, run.instance_count, run.instances, run.warnings) == (
        ScriptStatus.SUCCESS,
        "ev-1",
        1,
        None,
        (),
    )
    [listed] = ledger.list_scripts(EXECUTION, "db", 1)
    assert listed.instances == tuple(results)
    assert script_item(listed) == {**_item(ledger), "instances": [invocation_map(r) for r in results]}
    # AND the wave's summary is the one the step always wrote
    wave = ledger.get_wave(EXECUTION, "db") or {}
    assert wave["scripts"] == [
        {
            "phase": "POST_LAUNCH",
            "index": 1,
            "documentName": "Smoke",
            "status": "Success",
            "onFailure": "WARN",
            "attempts": 2,
            "startedAt": "2026-01-01T09:00:00.000Z",
            "endedAt": run.ended_at,
            "waveAttempt": 1,
            "commandIds": ["cmd-2"],
            "instanceCount": 1,
        }
    ]
    # AND once the execution has ended, the time to live is a field too
    ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="COMPLETED", key="end")
    assert _assert_round_trips(ledger).expires_at is not None


def test_the_command_index_entry_maps_to_its_record_and_back(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN a script sent as two commands
    ledger.claim_script(SPEC, key="jc-1")
    ledger.record_sent(SCRIPT, try_number=1, key="jc-1", command_ids=["c-1", "c-2"], expected=51, deadline=clock.at)

    # WHEN their index items are read
    items = [ledger._get({"pk": command_pk(c), "sk": "#COMMAND"}) or {} for c in ("c-1", "c-2")]

    # THEN each names its script, try and invocations, and maps back to the same item
    for command_id, item in zip(("c-1", "c-2"), items, strict=True):
        entry = command_record(item)
        assert command_item(entry) == item
        assert ledger.command_index(command_id) == entry
        assert (entry.command_id, entry.script, entry.try_number, entry.expected) == (command_id, SCRIPT, 1, 51)
        assert entry.expires_at is not None
    assert ledger.command_index("c-3") is None
    assert (
        ledger.get_script(ScriptId(execution_id=EXECUTION, wave_id="x", wave_attempt=1, phase="PRE_LAUNCH", index=0))
        is None
    )


def test_a_wave_id_with_a_hash_names_its_script_in_the_command_index(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN an index entry of a script whose wave id has a `#` in it
    script = ScriptId(execution_id=EXECUTION, wave_id="a#b", wave_attempt=12, phase="PRE_LAUNCH", index=3)
    entry = CommandIndexEntry(command_id="c-9", script=script, try_number=2, expected=1)

    # WHEN / THEN it maps to its item and back
    assert command_record(command_item(entry)) == entry


def test_attributes_a_record_does_not_name_are_kept_in_extra_and_written_back(ledger: Ledger) -> None:
    # GIVEN a script item, a try result and an instance result with attributes no record names
    ledger.claim_script(SPEC, key="jc-1")
    item = {**_item(ledger), "futureThing": {"x": 1}}
    failed = {"tryNumber": 1, "status": "Failed", "commandIds": [], "instancesFailed": 0, "zone": "z"}

    # WHEN read as records and mapped back, THEN they are kept as they are
    run = script_record({**item, "history": [failed], "lastResult": failed})
    assert run.extra == {"futureThing": {"x": 1}}
    assert run.history[0].extra == {"zone": "z"}
    assert try_map(run.history[0]) == failed
    assert script_item(run) == {**item, "history": [failed], "lastResult": failed}
    result = InvocationResult(instance_id="i-1", status="Failed", extra={"exitCode": 2})
    assert invocation_map(result) == {"instanceId": "i-1", "status": "Failed", "exitCode": 2}


def test_an_item_that_is_not_a_script_or_a_command_index_is_refused_clearly() -> None:
    # GIVEN items without their status, or with a sort key that is not a script's, WHEN / THEN
    with pytest.raises(LedgerError, match="not a script item"):
        script_record({"pk": "EXEC#e", "sk": "SCRIPT#a#001#PRE_LAUNCH#000", "executionId": "e", "waveId": "a"})
    with pytest.raises(LedgerError, match="not a command index item"):
        command_record({"pk": "CMD#c", "sk": "#COMMAND", "executionId": "e", "scriptSk": "LAUNCH#a#001#0000"})
