"""Approval gates before a wave (issue 7 builds these out)."""

from __future__ import annotations

from typing import Any

from events.models import WaveReady
from orchestrator.runtime import Runtime


def held_for_approval(rt: Runtime, execution: dict[str, Any], detail: WaveReady, event_id: str) -> bool:
    """Whether the wave must wait for an approval before its pre-launch phase. No gate is built yet."""
    del rt, execution, detail, event_id
    return False
