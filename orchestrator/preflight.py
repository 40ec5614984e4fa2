"""Checks before a wave launches anything (issue 4 builds these out)."""

from __future__ import annotations

from typing import Any

from orchestrator.plan import Wave
from orchestrator.runtime import Runtime


def preflight(rt: Runtime, execution: dict[str, Any], wave: Wave) -> list[str]:
    """Problems that forbid launching `wave`, one line per server and reason. None are checked yet."""
    del rt, execution, wave
    return []
