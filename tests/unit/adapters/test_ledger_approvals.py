"""A wave's approval as a typed record (orchestrator/domain/records/approvals.py) and its mapping to the wave
item's `approval` map (orchestrator/adapters/ledger/records.py): every approval the gate and the operator
commands write (asked, granted, denied, timed out) reads back as the record that maps to the same item."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from moto import mock_aws

from events.models import ApprovalDenied, ApprovalGranted, ApprovalTimeout, WaveReady
from orchestrator.adapters.ledger import LedgerError
from orchestrator.adapters.ledger.records import approval_map, approval_record, wave_item, wave_record
from orchestrator.domain.records.approvals import ApprovalRecord, ApprovalStatus
from orchestrator.steps.control import approval_timeout, deny_approval, grant_approval
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.moto_ledger import ledger_table
from tests.unit.steps.world import S1, S2, S3, World, plan, server_id, wave

OPS, DBA = "arn:aws:iam::123456789012:role/Ops", "arn:aws:iam::123456789012:role/Dba"
OPS_SESSION, DBA_SESSION = (
    "arn:aws:sts::123456789012:assumed-role/Ops/ops1",
    "arn:aws:sts::123456789012:assumed-role/Dba/dba1",
)
GATE = {"required": True, "approvers": [OPS, DBA], "timeoutSeconds": 600}
ASKED_AT, DEADLINE, DECIDED_AT = "2026-01-01T09:00:00.000Z", "2026-01-01T09:10:00.000Z", "2026-01-01T09:01:00.000Z"


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World(ledger_table())


def _asked(wave_id: str) -> ApprovalRecord:
    return ApprovalRecord(
        status=ApprovalStatus.REQUESTED,
        request_id=f"wr-{wave_id}",
        requested_at=ASKED_AT,
        deadline=DEADLINE,
        approvers=(OPS, DBA),
        gate="wave approval.required",
        attempt=1,
    )


def test_every_approval_the_gate_and_the_commands_write_maps_to_its_record_and_back(world: World) -> None:
    # GIVEN four gated root waves, each asked for its approval at 09:00
    world.start(plan(*(wave(w, s, approval=GATE) for w, s in [("a", S1), ("b", S2), ("c", S3), ("d", server_id(4))])))
    for w in "abcd":
        on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id=w), f"wr-{w}")
    # WHEN at 09:01 b is granted with a comment and c denied, and d's deadline tick fires at 09:10 (a stays asked)
    world.advance(60)
    grant_approval(
        world.rt, ApprovalGranted(execution_id="e1", wave_id="b", requested_by=OPS_SESSION, comment="go"), "g-b"
    )
    deny_approval(
        world.rt, ApprovalDenied(execution_id="e1", wave_id="c", requested_by=DBA_SESSION, reason="no"), "d-c"
    )
    world.advance(540)
    approval_timeout(world.rt, ApprovalTimeout(execution_id="e1", wave_id="d", request_id="wr-d"), "tick-d")

    # THEN each wave item maps to its record and back, and so does its approval map
    items = {item["waveId"]: item for item in world.ledger.list_waves("e1")}
    for item in items.values():
        assert wave_item(wave_record(item)) == item
        assert approval_map(approval_record(item["approval"])) == item["approval"]
    # AND the records name every field the gate and the commands wrote (nothing is left in extra)
    approvals = {w: wave_record(item).approval for w, item in items.items()}
    assert approvals == {
        "a": _asked("a"),
        "b": replace(
            _asked("b"),
            status=ApprovalStatus.GRANTED,
            approved_by=OPS_SESSION,
            approved_at=DECIDED_AT,
            comment="go",
            decision_key="g-b",
        ),
        "c": replace(
            _asked("c"),
            status=ApprovalStatus.DENIED,
            denied_by=DBA_SESSION,
            denied_at=DECIDED_AT,
            deny_reason="no",
            decision_key="d-c",
        ),
        "d": replace(_asked("d"), status=ApprovalStatus.TIMED_OUT, timed_out_at=DEADLINE, decision_key="tick-d"),
    }
    # AND the item keeps the attribute names it has always had
    assert items["c"]["approval"] == {
        "requestId": "wr-c",
        "status": "DENIED",
        "requestedAt": ASKED_AT,
        "deadline": DEADLINE,
        "approvers": [OPS, DBA],
        "gate": "wave approval.required",
        "attempt": 1,
        "deniedBy": DBA_SESSION,
        "deniedAt": DECIDED_AT,
        "denyReason": "no",
        "decisionKey": "d-c",
    }


def test_an_approval_map_keeps_what_its_record_does_not_name_and_may_lack_what_it_does() -> None:
    # GIVEN an approval with an attribute no field names, and one that has only a status and who approved
    newer = {"requestId": "wr-1", "status": "REQUESTED", "approvers": [], "escalateTo": {"team": "sre"}}
    sparse = {"status": "GRANTED", "approvedBy": "op"}
    # WHEN they are read as records and mapped back
    # THEN the unnamed attribute is kept, absent ones stay absent, and an empty approvers list stays empty
    assert approval_record(newer) == ApprovalRecord(
        status=ApprovalStatus.REQUESTED, request_id="wr-1", approvers=(), extra={"escalateTo": {"team": "sre"}}
    )
    assert approval_map(approval_record(newer)) == newer
    assert approval_record(sparse) == ApprovalRecord(status=ApprovalStatus.GRANTED, approved_by="op")
    assert approval_map(approval_record(sparse)) == sparse


def test_a_wave_whose_approval_has_no_status_is_refused_clearly() -> None:
    # GIVEN a wave item that reads as a record, but with an approval map that lacks its status
    item = {
        "pk": "EXEC#e",
        "sk": "WAVE#a",
        "kind": "WAVE",
        "executionId": "e",
        "waveId": "a",
        "jobs": {},
        "attempt": 1,
        "status": "AWAITING_APPROVAL",
        "remaining": 0,
        "dependsOn": [],
        "dependents": [],
        "onFailure": "STOP",
        "serverCount": 1,
        "serversFailed": 0,
        "jobsExpected": 0,
        "jobsDone": 0,
        "scripts": [],
        "warnings": [],
    }
    assert wave_item(wave_record(item)) == item
    # WHEN / THEN
    with pytest.raises(LedgerError, match="not a wave item"):
        wave_record({**item, "approval": {"requestId": "wr-1"}})
