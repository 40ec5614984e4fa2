"""A simulated approver: the person who answers approval gates in a local run (profile `approvals`).

With `approvals: {decision: GRANT, afterSeconds: 300}` every ApprovalRequested is answered with an
ApprovalGranted (or, with DENY, an ApprovalDenied) `afterSeconds` of simulated time later, as a caller the
first listed approver admits (a session named `by` of its role), or as the local caller `by` when the gate
lists no approvers. The default, NONE, answers nothing: a gate then waits for
`drs-orch approve` (or a test) until its timeout, as it would on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from localcloud.clock import SimClock
from localcloud.operators import caller_for
from orchestrator.domain.clock import parse_iso


class ApproverSimulator:
    def __init__(
        self,
        clock: SimClock,
        events: list[Any],
        publish: Callable[[str, dict[str, Any]], None],
        *,
        decision: str = "NONE",
        after_seconds: float = 60.0,
        by: str = "simulated-approver",
    ) -> None:
        self._clock = clock
        self._events = events  # the cloud's record of published events (read from `_seen` on)
        self._publish = publish
        self.decision = decision
        self.after = timedelta(seconds=after_seconds)
        self.by = by
        self._seen = 0
        self._due: list[tuple[datetime, str, dict[str, Any]]] = []

    def _collect(self) -> None:
        new, self._seen = self._events[self._seen :], len(self._events)
        if self.decision == "NONE":
            return
        for event in new:
            if event.detail_type != "ApprovalRequested":
                continue
            detail = event.detail
            answer: dict[str, Any] = {
                "executionId": detail["executionId"],
                "waveId": detail["waveId"],
                "requestedBy": caller_for(list(detail.get("approvers") or []), self.by),
            }
            if self.decision == "GRANT":
                answer["comment"] = "simulated approver"
                kind = "ApprovalGranted"
            else:
                answer["reason"] = "simulated approver denies"
                kind = "ApprovalDenied"
            if any(d[1] == kind and d[2] == answer for d in self._due):
                continue  # the same request announced twice (a redelivery)
            # due `afterSeconds` after the request was published, not after this collection: the clock can move
            # within one round (a retry backoff) before the approver looks (campaign seed 1277: a request seen
            # 17 s late was answered 62 s after it, past its 60-s deadline)
            self._due.append((parse_iso(event.time) + self.after, kind, answer))

    def next_due(self) -> datetime | None:
        self._collect()
        return min((d[0] for d in self._due), default=None)

    def advance(self) -> bool:
        """Answer every request that is due. Returns whether it answered any."""
        self._collect()
        now = self._clock.now()
        due = [d for d in self._due if d[0] <= now]
        self._due = [d for d in self._due if d[0] > now]
        for _, kind, answer in due:
            self._publish(kind, answer)
        return bool(due)
