"""The server results' typed records (orchestrator/domain/records/servers.py) and their mapping to items
(orchestrator/adapters/ledger/servers.py), against moto's DynamoDB (the adapter tier): every server item the
ledger writes through a wave's life (created, launched or failed by a job's end, left out by the preflight,
reset by a retry with its history, expired with its execution) reads back as a record that maps to the same
item; the items have the layout they always had; what a record does not name is kept."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger, LedgerError, exec_pk
from orchestrator.adapters.ledger._keys import SERVER_PREFIX
from orchestrator.adapters.ledger.servers import server_item, server_result
from orchestrator.domain.plan import Criticality
from orchestrator.domain.records.servers import ServerAttempt, ServerLaunchStatus, ServerOutcome, ServerResult
from tests.unit.moto_ledger import SettableClock, ledger_table, write_wave_attributes

EXECUTION = "e"
PK = exec_pk(EXECUTION)
S1, S2, S3 = (f"s-{n:017d}" for n in (1, 2, 3))
JOB1, JOB2 = "drsjob-00000000000000001", "drsjob-00000000000000002"


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """A RUNNING execution of one wave `db` of three servers (S3 OPTIONAL)."""
    with mock_aws():
        led = Ledger(ledger_table(), SettableClock(), finished_ttl_days=1)
        led.create_execution(
            execution_id=EXECUTION,
            plan_id="p",
            plan_name="p",
            plan_document={"planId": "p"},
            mode="DRILL",
            requested_by="me",
            key="start",
            waves=[
                {
                    "waveId": "db",
                    "dependsOn": [],
                    "dependents": [],
                    "onFailure": "STOP",
                    "servers": {
                        S1: {"criticality": "CRITICAL", "launchStatus": "NOT_STARTED"},
                        S2: {"criticality": "CRITICAL", "launchStatus": "NOT_STARTED"},
                        S3: {"criticality": "OPTIONAL", "launchStatus": "NOT_STARTED"},
                    },
                }
            ],
        )
        yield led


def _items(ledger: Ledger) -> dict[str, dict[str, Any]]:
    return {str(item["sourceServerId"]): item for item in ledger._query_all(PK, f"{SERVER_PREFIX}db#")}


def _assert_round_trips(ledger: Ledger) -> dict[str, ServerResult]:
    """Every server item of wave `db` maps to its record and back; `wave_servers` gives those records."""
    items = _items(ledger)
    results = {sid: server_result(item) for sid, item in items.items()}
    assert {sid: server_item(result) for sid, result in results.items()} == items
    assert ledger.wave_servers(EXECUTION, "db") == results
    return results


def _job(ledger: Ledger, job_id: str, servers: list[str], *, attempt: int) -> None:
    ledger.claim_launch(EXECUTION, "db", attempt, 0, launch_key=f"lk-{job_id}", server_ids=servers)
    ledger.add_job(EXECUTION, "db", job_id=job_id, launch_key=f"lk-{job_id}", server_ids=servers)


def test_every_server_item_of_a_launched_failed_and_retried_wave_maps_to_its_record_and_back(ledger: Ledger) -> None:
    # GIVEN / WHEN the wave created
    created = _assert_round_trips(ledger)
    assert created[S3] == ServerResult(
        execution_id=EXECUTION,
        wave_id="db",
        source_server_id=S3,
        criticality=Criticality.OPTIONAL,
        launch_status=ServerLaunchStatus.NOT_STARTED,
        attempt=1,
    )

    # AND S3 left out by the preflight, then a job launching S1 and failing S2
    ledger.record_server_results(
        EXECUTION,
        "db",
        {S3: ServerOutcome(launch_status=ServerLaunchStatus.FAILED, reason="preflight: no snapshot")},
        attempt=1,
    )
    _job(ledger, JOB1, [S1, S2], attempt=1)
    ledger.record_job_done(
        EXECUTION,
        "db",
        job_id=JOB1,
        servers={
            S1: ServerOutcome(launch_status=ServerLaunchStatus.LAUNCHED, recovery_instance_id="i-1"),
            S2: ServerOutcome(launch_status=ServerLaunchStatus.FAILED, reason="LAUNCH_FAILED: no capacity"),
        },
        key="done-1",
    )
    ended = _assert_round_trips(ledger)
    assert (ended[S1].launched, ended[S1].job_id, ended[S1].recovery_instance_id) == (True, JOB1, "i-1")
    assert (ended[S2].launch_status, ended[S2].reason) == (ServerLaunchStatus.FAILED, "LAUNCH_FAILED: no capacity")
    assert (ended[S3].job_id, ended[S3].reason) == (None, "preflight: no snapshot")

    # AND a retry (attempt 2) relaunching S2 and S3, which launch
    ledger.reset_servers(EXECUTION, "db", [S2, S3], attempt=2)
    reset = _assert_round_trips(ledger)
    assert reset[S2].history == (
        ServerAttempt(
            attempt=1, launch_status=ServerLaunchStatus.FAILED, job_id=JOB1, reason="LAUNCH_FAILED: no capacity"
        ),
    )
    assert (reset[S2].launch_status, reset[S2].attempt, reset[S2].job_id, reset[S2].reason) == (
        ServerLaunchStatus.NOT_STARTED,
        2,
        None,
        None,
    )
    _job(ledger, JOB2, [S2, S3], attempt=2)
    write_wave_attributes(ledger, EXECUTION, "db", {"attempt": 2})
    ledger.record_job_done(
        EXECUTION,
        "db",
        job_id=JOB2,
        servers={
            S2: ServerOutcome(launch_status=ServerLaunchStatus.LAUNCHED, recovery_instance_id="i-2"),
            S3: ServerOutcome(launch_status=ServerLaunchStatus.LAUNCHED, recovery_instance_id="i-3"),
        },
        key="done-2",
    )
    relaunched = _assert_round_trips(ledger)

    # THEN each server tells how it ended each attempt
    assert [relaunched[S2].ended(n).launch_status for n in (1, 2)] == ["FAILED", "LAUNCHED"]
    assert relaunched[S1].ended(2) == ServerAttempt(
        attempt=1, launch_status=ServerLaunchStatus.LAUNCHED, job_id=JOB1, recovery_instance_id="i-1"
    )

    # AND once the execution has ended, every item expires (and still maps back)
    ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="COMPLETED", key="close")
    assert {s.expires_at is not None for s in _assert_round_trips(ledger).values()} == {True}


def test_a_server_item_has_the_layout_it_always_had(ledger: Ledger) -> None:
    # GIVEN an item as the ledger has always written it (attempt 2 after a failed attempt 1), with an attribute
    # no record names
    item = {
        "pk": PK,
        "sk": f"{SERVER_PREFIX}db#{S1}",
        "kind": "SERVER",
        "waveId": "db",
        "sourceServerId": S1,
        "attempt": 2,
        "criticality": "CRITICAL",
        "launchStatus": "LAUNCHED",
        "jobId": JOB2,
        "recoveryInstanceId": "i-2",
        "history": [
            {"attempt": 1, "launchStatus": "FAILED", "jobId": JOB1, "reason": "no capacity", "note": "kept"},
        ],
        "expiresAt": 1767344400,
        "newer": {"a": 1},
    }

    # WHEN read as a record
    result = server_result(item)

    # THEN every field is the item's, what no field names is kept, and it maps back to the same item
    assert result == ServerResult(
        execution_id=EXECUTION,
        wave_id="db",
        source_server_id=S1,
        criticality=Criticality.CRITICAL,
        launch_status=ServerLaunchStatus.LAUNCHED,
        attempt=2,
        job_id=JOB2,
        recovery_instance_id="i-2",
        history=(
            ServerAttempt(
                attempt=1,
                launch_status=ServerLaunchStatus.FAILED,
                job_id=JOB1,
                reason="no capacity",
                extra={"note": "kept"},
            ),
        ),
        expires_at=1767344400,
        extra={"newer": {"a": 1}},
    )
    assert server_item(result) == item
    assert server_item(replace(result, history=())) == {k: v for k, v in item.items() if k != "history"}


def test_an_item_that_is_not_a_server_item_is_refused() -> None:
    with pytest.raises(LedgerError, match="not a server item"):
        server_result({"pk": PK, "sk": f"{SERVER_PREFIX}db#{S1}", "launchStatus": "EXPLODED"})
