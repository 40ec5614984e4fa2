"""The simulated clock of the local cloud.

Time flows at `speed` times real time while work is being done, and when every component is idle the
cloud moves it to the next moment something is due (a DRS job step, a scheduler tick). With `pace`,
the cloud waits out that gap in real time divided by `speed` instead, so a person can watch a drill.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)


class SimClock:
    def __init__(self, start: datetime | None = None, *, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self.speed = speed
        self._lock = threading.Lock()
        self._start = start or DEFAULT_START
        self._anchor_sim = self._start
        self._anchor_real = time.perf_counter()

    def restart(self) -> None:
        """Start the simulated time again from its start (the cloud's own setup does not count)."""
        with self._lock:
            self._anchor_sim = self._start
            self._anchor_real = time.perf_counter()

    def now(self) -> datetime:
        with self._lock:
            return self._anchor_sim + timedelta(seconds=(time.perf_counter() - self._anchor_real) * self.speed)

    def jump_to(self, moment: datetime) -> None:
        """Move time forward to `moment` (never backward)."""
        with self._lock:
            current = self._anchor_sim + timedelta(seconds=(time.perf_counter() - self._anchor_real) * self.speed)
            self._anchor_sim = max(current, moment)
            self._anchor_real = time.perf_counter()

    def real_seconds_until(self, moment: datetime) -> float:
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)
