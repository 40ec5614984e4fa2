"""The operator's proof (orchestrator/steps/operator_proof.py) and the two functions that check it, against
fakes: a command from the operator source is taken only with a valid, fresh MAC over exactly its detail-type and
detail; KMS being busy retries the event rather than refusing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from events.envelope import InvalidEvent
from events.models import (
    OPERATOR_SOURCE,
    ApprovalGranted,
    CancelPlan,
    PausePlan,
    PlanFailed,
    ResumePlan,
    StartPlan,
)
from orchestrator.adapters.kms import MacUnavailable
from orchestrator.steps.operator_proof import MAX_PROOF_AGE, proof_message, proven_command_id, sign
from tests.unit.steps.world import S1, World, plan, wave

ALICE = "arn:aws:sts::123456789012:assumed-role/DROps/alice"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def _event(command: Any, *, detail: dict[str, Any] | None = None, detail_type: str | None = None) -> dict[str, Any]:
    """An EventBridge event of `command` from the operator source (its detail as published, or `detail`)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type or command.DETAIL_TYPE,
        "source": OPERATOR_SOURCE,
        "account": "123456789012",
        "time": "2026-01-01T09:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": command.to_detail() if detail is None else detail,
    }


def _invalid(world: World, event: dict[str, Any]) -> str:
    with pytest.raises(InvalidEvent) as raised:
        proven_command_id(world.rt, event)
    return str(raised.value)


def test_a_signed_command_is_proven_and_named_by_its_command_id(world: World) -> None:
    # GIVEN a command the operator signed
    command = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="op-req-1")
    # WHEN its event is checked THEN it is proven, and its signed commandId names it
    assert proven_command_id(world.rt, _event(command)) == "op-req-1"
    assert world.mac.calls == ["generate", "verify"]


def test_a_tampered_detail_is_not_proven(world: World) -> None:
    # GIVEN alice's signed approval, whose requestedBy is then changed to bob
    command = sign(world.rt, ApprovalGranted(execution_id="e1", wave_id="w", requested_by=ALICE), command_id="c1")
    detail = {**command.to_detail(), "requestedBy": ALICE.replace("alice", "bob")}
    # WHEN checked THEN it is an invalid event
    assert _invalid(world, _event(command, detail=detail)) == (
        "invalid ApprovalGranted event: detail.operatorProof: its MAC is not the operator endpoint's for this command"
    )


def test_a_command_without_a_proof_is_not_proven(world: World) -> None:
    # GIVEN what a direct Invoke writes: the operator source, no proof WHEN checked THEN invalid, and KMS not asked
    event = _event(ApprovalGranted(execution_id="e1", wave_id="w", requested_by=ALICE))
    assert _invalid(world, event) == (
        "invalid ApprovalGranted event: detail.operatorProof: missing: only the operator endpoint's signed "
        "commands are taken from its source"
    )
    assert world.mac.calls == []


def test_the_mac_of_another_command_proves_nothing(world: World) -> None:
    # GIVEN the proof of alice's PausePlan, copied onto a CancelPlan of the same execution
    pause = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c1")
    cancel = CancelPlan(execution_id="e1", requested_by=ALICE, operator_proof=pause.operator_proof)
    # WHEN checked THEN invalid: the MAC covers the detail-type too
    assert _invalid(world, _event(cancel)).startswith("invalid CancelPlan event: detail.operatorProof: its MAC is not")
    # AND a PausePlan detail under another detail-type is no more proven
    assert _invalid(world, _event(pause, detail_type="ResumePlan")).startswith("invalid ResumePlan event")


def test_a_proof_older_than_its_age_is_refused_without_asking_kms(world: World) -> None:
    # GIVEN a signed command, and its maximum age passed
    command = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c1")
    world.advance(MAX_PROOF_AGE.total_seconds() + 1)
    # WHEN checked THEN invalid (a copy cannot outlive the records that make it the same command)
    assert "outside 2 days, 0:00:00 before now" in _invalid(world, _event(command))
    assert world.mac.calls == ["generate"]


def test_a_proof_issued_in_the_future_is_refused(world: World) -> None:
    world.advance(3600)
    command = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c1")
    world.advance(-3600)
    assert "outside 2 days" in _invalid(world, _event(command))


def test_kms_throttled_retries_the_event_rather_than_refusing_it(world: World) -> None:
    # GIVEN a signed command, and VerifyMac throttled past the client's retries
    command = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c1")
    world.mac.fail("verify", MacUnavailable("VerifyMac failed: ThrottlingException"))
    # WHEN checked THEN the error propagates (the platform redelivers), and the redelivery is proven
    with pytest.raises(MacUnavailable):
        proven_command_id(world.rt, _event(command))
    assert proven_command_id(world.rt, _event(command)) == "c1"


def test_the_message_covers_everything_but_the_mac_in_at_most_4096_bytes() -> None:
    # GIVEN a StartPlan of a large plan, and the same with another MAC
    big = {"plan": {"planId": "p", "notes": "x" * 200_000}, "operatorProof": {"commandId": "c", "mac": "A"}}
    other_mac = {**big, "operatorProof": {"commandId": "c", "mac": "B"}}
    other_id = {**big, "operatorProof": {"commandId": "d", "mac": "A"}}
    # THEN the message fits KMS, ignores the MAC, and changes with anything else
    message = proof_message("StartPlan", big)
    assert len(message) <= 4096
    assert message == proof_message("StartPlan", other_mac)
    assert message != proof_message("StartPlan", other_id) != proof_message("PausePlan", big)


# ---- the functions that check it ---------------------------------------------------------------------------


@pytest.fixture
def handlers(world: World) -> Iterator[Any]:
    from handlers import control, start_plan
    from localcloud.lambda_runtime import LambdaContext
    from orchestrator.runtime import set_runtime

    set_runtime(world.rt)

    def call(name: str, event: dict[str, Any]) -> Any:
        module = {"control": control, "start_plan": start_plan}[name]
        return module.handler(event, LambdaContext(function_name=f"drs-orch-{name}"))

    yield call
    set_runtime(None)


def test_start_plan_refuses_an_unproven_recovery_and_creates_nothing(world: World, handlers: Any) -> None:
    # GIVEN a confirmed RECOVERY StartPlan naming the operator source, without a proof (a direct Invoke)
    document = plan(wave("db", S1))
    world.drs.add_source_server(S1)
    detail = StartPlan(plan=document, mode="RECOVERY", execution_id="x1", confirm_recovery="p", requested_by=ALICE)
    # WHEN the StartPlan function handles it
    answer = handlers("start_plan", _event(detail))
    # THEN it is an invalid event, announced with PlanFailed, and no execution exists
    assert answer["status"] == "rejected"
    [failed] = world.bus.of(PlanFailed)
    assert (failed.execution_id, failed.errors[0].code) == ("x1", "unproven_operator_command")
    assert world.ledger.get_execution("x1") is None


def test_start_plan_starts_a_proven_recovery(world: World, handlers: Any) -> None:
    document = plan(wave("db", S1))
    world.drs.add_source_server(S1)
    detail = StartPlan(plan=document, mode="RECOVERY", execution_id="x1", confirm_recovery="p", requested_by=ALICE)
    answer = handlers("start_plan", _event(sign(world.rt, detail, command_id="c1")))
    assert (answer["status"], world.ledger.get_execution("x1")["mode"]) == ("ok", "RECOVERY")


def test_control_retries_when_kms_is_throttled_and_refuses_nothing(world: World, handlers: Any) -> None:
    # GIVEN a signed PausePlan of a running execution, and VerifyMac throttled
    world.start(plan(wave("db", S1)))
    command = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c1")
    world.mac.fail("verify", MacUnavailable("VerifyMac failed: ThrottlingException"))
    # WHEN the control function handles it THEN it raises (the platform redelivers) and nothing is announced
    with pytest.raises(MacUnavailable):
        handlers("control", _event(command))
    assert world.bus.published == []
    # AND the redelivery pauses the plan
    assert handlers("control", _event(command))["status"] == "ok"
    assert world.ledger.get_execution("e1")["status"] == "PAUSED"


def test_control_decides_a_copy_of_a_command_in_another_event_once(world: World, handlers: Any) -> None:
    # GIVEN a signed PausePlan taken, then a ResumePlan taken
    world.start(plan(wave("db", S1)))
    pause = sign(world.rt, PausePlan(execution_id="e1", requested_by=ALICE), command_id="c-pause")
    assert handlers("control", _event(pause))["status"] == "ok"
    resume = sign(world.rt, ResumePlan(execution_id="e1", requested_by=ALICE), command_id="c-resume")
    assert handlers("control", _event(resume))["status"] == "ok"
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"
    # WHEN the captured PausePlan is sent again in a new event (another id, the same detail)
    handlers("control", _event(pause))
    # THEN it is the same command: the plan stays running
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"


def test_max_age_covers_the_platforms_retries() -> None:
    # EventBridge's maximum event age (at most 24 h) and Lambda's asynchronous retries (6 h)
    assert timedelta(hours=24 + 6) <= MAX_PROOF_AGE
