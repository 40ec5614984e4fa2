"""The approval gate (orchestrator/steps/approval.py, control.grant/deny_approval) against fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from events.models import (
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    ApprovalTimeout,
    ControlRejected,
    Mode,
    PreLaunchDone,
    WaveFailed,
    WaveReady,
)
from orchestrator.domain.records.approvals import ApprovalStatus
from orchestrator.steps.control import approval_timeout, deny_approval, grant_approval
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, World, plan, wave

OPS = "arn:aws:iam::123456789012:role/DROps"  # the approvers: every session of the DROps role
ALICE = "arn:aws:sts::123456789012:assumed-role/DROps/alice"  # a verified caller in that role
MALLORY = "arn:aws:sts::123456789012:assumed-role/Developers/mallory"
GATED = plan(wave("db", S1, approval={"required": True, "approvers": [OPS], "timeoutSeconds": 600}))
READY = WaveReady(execution_id="e1", plan_id="p", wave_id="db")


def test_a_gated_wave_asks_for_approval_once_with_one_timeout_tick(world: World) -> None:
    # GIVEN a started plan whose root wave requires an approval
    world.start(GATED)
    deadline = world.clock.now() + timedelta(seconds=600)
    # WHEN its WaveReady arrives twice (a redelivery)
    on_wave_ready(world.rt, READY, "wr-1")
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN the wave awaits approval, with one ApprovalTimeout schedule at the deadline
    assert world.wave_status("e1", "db") == "AWAITING_APPROVAL"
    assert list(world.scheduler.schedules.values()) == [
        (deadline, ApprovalTimeout(execution_id="e1", wave_id="db", request_id="wr-1"))
    ]
    # AND every ApprovalRequested announced is the same request, with the same deadline
    requests = world.published(ApprovalRequested)
    assert requests[0] == ApprovalRequested(
        execution_id="e1",
        plan_id="p",
        wave_id="db",
        approvers=[OPS],
        deadline="2026-01-01T09:10:00.000Z",
        completed_wave_ids=[],
        request_id="wr-1",
    )
    assert all(r == requests[0] for r in requests)
    assert world.ssm.sent == []
    assert world.published(PreLaunchDone) == []


def test_a_granted_wave_passes_the_gate(world: World) -> None:
    # GIVEN a wave awaiting approval
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    # WHEN an approver grants it, and the WaveReady that follows arrives
    grant_approval(world.rt, ApprovalGranted(execution_id="e1", wave_id="db", requested_by=ALICE), "grant-1")
    assert world.wave_status("e1", "db") == "READY"
    [again] = world.published(WaveReady)
    on_wave_ready(world.rt, again, "wr-2")
    # THEN the wave goes on to its pre-launch phase without asking again
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.published(ApprovalRequested) == []
    assert world.published(PreLaunchDone) == [PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db")]


def test_a_denied_approval_fails_the_wave_once(world: World) -> None:
    # GIVEN a wave awaiting approval
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    denied = ApprovalDenied(execution_id="e1", wave_id="db", requested_by=ALICE, reason="not today")
    # WHEN it is denied, and the denial is delivered twice
    deny_approval(world.rt, denied, "deny-1")
    deny_approval(world.rt, denied, "deny-1")
    # THEN the wave failed once, with the denial as its reason (a copy may only announce the same WaveFailed)
    assert world.wave_status("e1", "db") == "FAILED"
    failed, *copies = world.published(WaveFailed)
    assert copies in ([], [failed])
    assert (failed.wave_id, failed.on_failure) == ("db", "STOP")
    assert "not today" in failed.reason


def test_a_root_wave_of_a_real_recovery_is_gated_by_the_plan_default(world: World) -> None:
    # GIVEN a RECOVERY of a plan requiring approval in recovery (no wave asks for one itself)
    document = plan(wave("db", S1), requireApprovalInRecovery=True)
    world.start(document, mode=Mode.RECOVERY, confirm_recovery="p")
    # WHEN its root wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN it awaits approval
    assert world.wave_status("e1", "db") == "AWAITING_APPROVAL"
    assert len(world.published(ApprovalRequested)) == 1


def test_a_decision_handled_after_the_deadline_fails_the_wave_as_the_timeout_would(world: World) -> None:
    # GIVEN a wave awaiting approval whose 600 s deadline has passed, its ApprovalTimeout tick not handled yet
    # (late, or held back behind other deliveries: campaign seed 661)
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    world.clock.at += timedelta(seconds=601)
    # WHEN a listed approver's GRANT is handled, then its copy, then the late tick
    granted = ApprovalGranted(execution_id="e1", wave_id="db", requested_by=ALICE)
    grant_approval(world.rt, granted, "grant-late")
    grant_approval(world.rt, granted, "grant-late")
    # THEN the wave failed at its deadline, not approved, and nothing was released
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.published(WaveFailed)
    assert failed.reason == "approval not granted by its deadline 2026-01-01T09:10:00.000Z"
    assert world.published(WaveReady) == []


def test_the_timeout_tick_fails_the_waiting_wave_once_and_records_itself_as_the_decision(world: World) -> None:
    # GIVEN a wave awaiting approval, past its deadline
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    world.advance(600)
    tick = ApprovalTimeout(execution_id="e1", wave_id="db", request_id="wr-1")
    # WHEN its ApprovalTimeout tick is delivered twice
    approval_timeout(world.rt, tick, "tick-1")
    approval_timeout(world.rt, tick, "tick-1")
    # THEN the wave failed, TIMED_OUT by that tick, and every WaveFailed announced is the same one
    assert world.wave_status("e1", "db") == "FAILED"
    failed, *copies = world.published(WaveFailed)
    assert copies in ([], [failed])
    assert failed.reason == "approval not granted by its deadline 2026-01-01T09:10:00.000Z"
    approval = (world.ledger.wave("e1", "db") or pytest.fail("no wave")).approval
    assert approval is not None
    assert (approval.status, approval.timed_out_at, approval.decision_key) == (
        ApprovalStatus.TIMED_OUT,
        "2026-01-01T09:10:00.000Z",
        "tick-1",
    )


def test_a_timeout_tick_after_the_grant_or_for_an_older_request_changes_nothing(world: World) -> None:
    # GIVEN a wave granted before its deadline
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    grant_approval(world.rt, ApprovalGranted(execution_id="e1", wave_id="db", requested_by=ALICE), "grant-1")
    world.bus.published.clear()
    world.advance(600)
    # WHEN its tick fires, and a tick of a request the wave never made
    approval_timeout(world.rt, ApprovalTimeout(execution_id="e1", wave_id="db", request_id="wr-1"), "tick-1")
    approval_timeout(world.rt, ApprovalTimeout(execution_id="e1", wave_id="db", request_id="wr-0"), "tick-0")
    # THEN the wave stays granted and READY, and nothing is published
    assert world.wave_status("e1", "db") == "READY"
    approval = (world.ledger.wave("e1", "db") or pytest.fail("no wave")).approval
    assert approval is not None
    assert (approval.status, approval.approved_by, approval.decision_key) == (ApprovalStatus.GRANTED, ALICE, "grant-1")
    assert world.bus.published == []


def test_a_decision_by_someone_who_is_not_an_approver_is_refused_and_the_wave_keeps_waiting(world: World) -> None:
    # GIVEN a wave awaiting the approval of the DROps role
    world.start(GATED)
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    # WHEN a session of another role grants it
    grant_approval(world.rt, ApprovalGranted(execution_id="e1", wave_id="db", requested_by=MALLORY), "grant-1")
    # THEN the grant is refused with the reason, and the wave still waits for the same request
    assert world.bus.published == [
        ControlRejected(
            execution_id="e1",
            command="ApprovalGranted",
            reason=f"{MALLORY} may not decide on wave db: it is none of the approvers ({OPS})",
            wave_id="db",
            requested_by=MALLORY,
        )
    ]
    assert world.wave_status("e1", "db") == "AWAITING_APPROVAL"
    approval = (world.ledger.wave("e1", "db") or pytest.fail("no wave")).approval
    assert approval is not None
    assert (approval.status, approval.request_id, approval.decision_key) == (ApprovalStatus.REQUESTED, "wr-1", None)


@pytest.mark.parametrize(
    ("approvers", "caller", "granted"),
    [
        # a role ARN: every session of that role, in that account only
        ([OPS], ALICE, True),
        ([OPS], "arn:aws:sts::210987654321:assumed-role/DROps/alice", False),
        ([OPS], "arn:aws:iam::123456789012:role/DROps", False),  # a role never calls; its sessions do
        # a session pattern: that role's sessions whose name matches (exact account and role)
        (["arn:aws:sts::123456789012:assumed-role/DROps/*@example.com"], ALICE, False),
        (["arn:aws:sts::123456789012:assumed-role/DROps/*@example.com"], ALICE + "@example.com", True),
        (
            ["arn:aws:sts::123456789012:assumed-role/DROps/a*"],
            "arn:aws:sts::123456789012:assumed-role/DROpsX/al",
            False,
        ),
        # a user ARN: that user only; a name that merely contains the approver's is no match
        (["arn:aws:iam::123456789012:user/alice"], "arn:aws:iam::123456789012:user/alice", True),
        (["arn:aws:iam::123456789012:user/alice"], "arn:aws:iam::123456789012:user/alice2", False),
        # a free-form name written into requestedBy is never an approver's ARN
        ([OPS], "ops", False),
    ],
)
def test_an_approval_is_granted_only_to_a_caller_one_of_the_approvers_admits(
    world: World, approvers: list[str], caller: str, granted: bool
) -> None:
    # GIVEN a wave awaiting the approval of `approvers`
    world.start(plan(wave("db", S1, approval={"required": True, "approvers": approvers})))
    on_wave_ready(world.rt, READY, "wr-1")
    # WHEN `caller` (the verified ARN the operator endpoint wrote into requestedBy) grants it
    grant_approval(world.rt, ApprovalGranted(execution_id="e1", wave_id="db", requested_by=caller), "grant-1")
    # THEN the wave is approved by that ARN exactly when an approver admits it
    approval = (world.ledger.wave("e1", "db") or pytest.fail("no wave")).approval
    assert approval is not None
    if granted:
        assert (world.wave_status("e1", "db"), approval.approved_by) == ("READY", caller)
    else:
        assert (world.wave_status("e1", "db"), approval.approved_by) == ("AWAITING_APPROVAL", None)
        [refused] = world.published(ControlRejected)
        assert refused.reason.startswith(f"{caller} may not decide on wave db")


def test_only_an_approver_may_skip_a_gated_wave(world: World) -> None:
    # GIVEN a wave awaiting the approval of the DROps role, with a wave behind it
    from events.models import SkipWave
    from orchestrator.steps.control import decide, skip_wave

    world.start(plan(GATED["waves"][0], wave("app", "s-00000000000000002", dependsOn=["db"])))
    on_wave_ready(world.rt, READY, "wr-1")
    world.bus.published.clear()
    # WHEN a session of another role skips it, then one of the DROps role does
    decide(world.rt, SkipWave(execution_id="e1", wave_id="db", requested_by=MALLORY), "skip-1", skip_wave)
    refused = (list(world.bus.published), world.wave_status("e1", "db"), world.wave_status("e1", "app"))
    decide(world.rt, SkipWave(execution_id="e1", wave_id="db", requested_by=ALICE), "skip-2", skip_wave)
    # THEN the first is refused with the reason (the wave still waits, nothing behind it released); the approver's
    # skip is carried out and releases the wave behind it
    assert refused == (
        [
            ControlRejected(
                execution_id="e1",
                command="SkipWave",
                reason=f"{MALLORY} may not skip wave db: it has an approval gate (wave approval.required) and only "
                f"its approvers may skip it ({OPS})",
                wave_id="db",
                requested_by=MALLORY,
            )
        ],
        "AWAITING_APPROVAL",
        "PENDING",
    )
    assert (world.wave_status("e1", "db"), world.wave_status("e1", "app")) == ("SKIPPED", "READY")
