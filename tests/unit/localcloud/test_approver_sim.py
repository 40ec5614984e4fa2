"""The simulated approver answers `afterSeconds` after a request was published, however late it looks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from localcloud.approver_sim import ApproverSimulator
from localcloud.clock import DEFAULT_START, SimClock
from localcloud.cloud import PublishedEvent
from orchestrator.domain.clock import iso


def _request(wave_id: str, at: Any) -> PublishedEvent:
    detail = {"executionId": "exec-1", "waveId": wave_id, "approvers": ["arn:aws:iam::123456789012:role/DROps"]}
    return PublishedEvent("ApprovalRequested", "drs-orchestrator", iso(at), detail)


def test_an_answer_is_due_after_the_request_was_published_not_after_the_approver_saw_it() -> None:
    # campaign seed 1277: the clock moved 17 s within one round before the approver looked, and the answer
    # came 62 s after a request whose gate had 60 s
    clock = SimClock(DEFAULT_START, speed=1e-9)
    events: list[Any] = [_request("w03", DEFAULT_START)]
    published: list[tuple[str, dict[str, Any]]] = []
    approver = ApproverSimulator(
        clock, events, lambda kind, detail: published.append((kind, detail)), decision="GRANT", after_seconds=45
    )
    clock.jump_to(DEFAULT_START + timedelta(seconds=17))

    assert approver.next_due() == DEFAULT_START + timedelta(seconds=45)
    clock.jump_to(DEFAULT_START + timedelta(seconds=45))
    assert approver.advance()
    assert published == [
        (
            "ApprovalGranted",
            {
                "executionId": "exec-1",
                "waveId": "w03",
                # a session of the first approver's role, named like the simulated approver
                "requestedBy": "arn:aws:sts::123456789012:assumed-role/DROps/simulated-approver",
                "comment": "simulated approver",
            },
        )
    ]


def test_a_redelivered_request_is_answered_once() -> None:
    clock = SimClock(DEFAULT_START, speed=1e-9)
    events: list[Any] = [_request("w01", DEFAULT_START), _request("w01", DEFAULT_START + timedelta(seconds=1))]
    published: list[Any] = []
    approver = ApproverSimulator(clock, events, lambda *a: published.append(a), decision="DENY", after_seconds=5)
    clock.jump_to(DEFAULT_START + timedelta(seconds=10))
    assert approver.advance()
    assert [kind for kind, _ in published] == ["ApprovalDenied"]


def test_a_gate_without_approvers_is_answered_by_the_local_caller_named_by() -> None:
    # GIVEN a request that lists no approvers, and an approver simulator named "night-shift"
    clock = SimClock(DEFAULT_START, speed=1e-9)
    detail = {"executionId": "exec-1", "waveId": "w01", "approvers": []}
    events: list[Any] = [PublishedEvent("ApprovalRequested", "drs-orchestrator", iso(DEFAULT_START), detail)]
    published: list[Any] = []
    approver = ApproverSimulator(
        clock, events, lambda *a: published.append(a), decision="GRANT", after_seconds=5, by="night-shift"
    )
    clock.jump_to(DEFAULT_START + timedelta(seconds=5))
    # WHEN it answers THEN it does so as a session of the local role
    assert approver.advance()
    assert [d["requestedBy"] for _, d in published] == ["arn:aws:sts::123456789012:assumed-role/local/night-shift"]
