"""What the DRS and SSM simulators share: a clock, one lock, and AWS service events that are produced
under the lock and delivered outside it (so a callback may call the simulator again)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from orchestrator.domain.clock import Clock

EventCallback = Callable[[dict[str, Any]], None]


class ClockedSimulator:
    def __init__(self, clock: Clock, *, on_event: EventCallback | None, account_id: str, region: str) -> None:
        self.clock = clock
        self.on_event = on_event
        self.account_id = account_id
        self.region = region
        self._lock = threading.RLock()
        self._seq = 0

    def _process_due(self) -> list[dict[str, Any]]:
        """Apply every transition due up to ``clock.now()`` (called under the lock); the events made."""
        raise NotImplementedError

    def advance(self) -> None:
        """Apply every transition due up to ``clock.now()`` and deliver the resulting events."""
        with self._lock:
            events = self._process_due()
        self._deliver(events)

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        """Call ``on_event`` outside the lock, so a callback may call the simulator again."""
        callback = self.on_event
        if callback is None:
            return
        for event in events:
            callback(event)
