"""The decision on one event, as a typed record: an operator command ACCEPTED, or an event REFUSED.

The ledger keeps one decision per event id, written once, whichever comes first (see
`orchestrator.steps.refusals`): a command's state change is written with its ACCEPTED decision in one
transaction, and a refusal is recorded REFUSED, with the answer that announces it, before it is announced.
Only the ledger adapter knows the item's layout (`orchestrator.adapters.ledger.decisions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """A decision's `decision` in the ledger (equal to its string, as the ledger stores it)."""

    ACCEPTED = "ACCEPTED"  # an operator command that was carried out
    REFUSED = "REFUSED"  # an event answered with a refusal (PlanFailed, ControlRejected)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRecord:
    """The decision on event `event_id`, taken `at` (ISO 8601 text), expiring at `expires_at` (epoch
    seconds) with the executions.

    A REFUSED one also holds its answer, the event that says so: `answer_type` (its detail-type, a key of
    `events.models.BY_DETAIL_TYPE`) and `answer` (its detail, as published: camelCase JSON), and whether
    it was `announced` (published) yet. An ACCEPTED one has none of them (None). `extra` keeps the
    attributes the record does not name.
    """

    event_id: str
    verdict: Verdict
    at: str | None = None
    answer_type: str | None = None
    answer: Mapping[str, Any] | None = None
    announced: bool | None = None
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED
