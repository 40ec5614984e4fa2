"""Pre-launch and post-launch scripts (issue 5 builds these out on SSM Run Command)."""

from __future__ import annotations

from typing import Any, Literal

from events.models import PostLaunchDone, PreLaunchDone
from orchestrator.runtime import Runtime

Phase = Literal["PRE_LAUNCH", "POST_LAUNCH"]


def run_phase(rt: Runtime, execution: dict[str, Any], *, wave_id: str, attempt: int, phase: Phase,
              key: str) -> None:
    """Start the wave's scripts of `phase`; the phase's Done event is published when they end.
    Scripts are not executed yet: the phase passes straight through."""
    del key
    event = PreLaunchDone if phase == "PRE_LAUNCH" else PostLaunchDone
    rt.bus.publish(event(execution_id=execution["executionId"], plan_id=execution["planId"], wave_id=wave_id,
                         attempt=attempt))
