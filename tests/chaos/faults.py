"""Fixtures the chaos modules share: half of all events delivered twice, over a few seeds, with short
launches (the duplicates matter here, not the duration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def duplicate_delivery(*seeds: int) -> Callable[..., dict[str, Any]]:
    """A `faults` fixture: `faults.duplicateDelivery: 0.5`, one test per seed (ids `dup50-seedN`)."""

    @pytest.fixture(name="faults", params=seeds, ids=[f"dup50-seed{s}" for s in seeds])
    def faults(request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"faults.duplicateDelivery": 0.5, "seed": request.param}

    return faults


@pytest.fixture(name="drs_launch_seconds")
def short_launches() -> dict[str, float]:
    """Shorter DRS launches than the e2e tier (fewer watcher ticks)."""
    return {"min": 5, "max": 20}
