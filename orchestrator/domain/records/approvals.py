"""The approval of a wave, as a typed record: what the gate asked, and how it was decided.

A wave with an approval gate (`orchestrator.steps.approval.gate_for`) holds one approval at a time
(`WaveRecord.approval`, None for a wave that never waited at a gate): the request that READY ->
AWAITING_APPROVAL wrote, then the decision on it, GRANTED (AWAITING_APPROVAL -> READY), DENIED or
TIMED_OUT (-> FAILED). A retried wave keeps a GRANTED approval, so it is not asked again.

Times are ISO 8601 text (`orchestrator.domain.clock.iso`), as the ledger writes them; a field is None when
the item lacks it; `extra` keeps what the record does not name. Only the ledger adapter knows the attribute
names (`orchestrator.adapters.ledger.records.approval_record` / `approval_map`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ApprovalStatus(StrEnum):
    """An approval's `status` in the ledger (equal to its string, as the ledger stores it)."""

    REQUESTED = "REQUESTED"  # the wave is AWAITING_APPROVAL, ApprovalRequested announced it
    GRANTED = "GRANTED"  # an approver granted it: the wave went back to READY
    DENIED = "DENIED"  # an approver denied it: the wave FAILED
    TIMED_OUT = "TIMED_OUT"  # its deadline passed first: the wave FAILED


APPROVAL_TIMES: tuple[str, ...] = ("requested_at", "approved_at", "denied_at", "timed_out_at")
"""The moments of an approval (fields of `ApprovalRecord`), in the order they may happen."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRecord:
    """One approval request of a wave and its decision.

    The request: `request_id` (the id of the WaveReady event that asked, also the ApprovalTimeout tick's
    `requestId`), `requested_at`, `deadline` (whole seconds: the tick fires then), `approvers` (who may
    decide; empty: anyone), `gate` (why the wave is gated: the wave's `approval.required`, or the plan's
    `defaults.requireApprovalInRecovery`) and the wave's `attempt` when it asked.
    The decision: GRANTED by `approved_by` at `approved_at` (with the approver's `comment`), DENIED by
    `denied_by` at `denied_at` for `deny_reason`, or TIMED_OUT at `timed_out_at`; `decision_key` is the
    id of the command (or timeout tick) event that decided it, so a redelivery is recognised.
    """

    status: ApprovalStatus
    request_id: str | None = None
    requested_at: str | None = None
    deadline: str | None = None
    approvers: tuple[str, ...] | None = None  # None: not recorded; (): anyone may decide
    gate: str | None = None
    attempt: int | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    comment: str | None = None
    denied_by: str | None = None
    denied_at: str | None = None
    deny_reason: str | None = None
    timed_out_at: str | None = None
    decision_key: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def decided_by(self, event_id: str) -> bool:
        """Whether event `event_id` (a command, or the timeout tick) is the one that decided this approval."""
        return self.decision_key == event_id
