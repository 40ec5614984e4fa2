"""The control function's drill clean-up routes: a failed wave's rollback (`rollback: TERMINATE`), a drill
cancelled with `terminateDrillInstances` once it has ended (PlanCancelled), and the TerminationTick (a
drill's time to live, or a clean-up deferred for DRS capacity). See orchestrator/steps/cleanup.py."""

from __future__ import annotations

from typing import Any

from events.models import PlanCancelled, TerminationTick, WaveFailed
from handlers._lambda import Route, parse_known
from orchestrator.runtime import Runtime
from orchestrator.steps import cleanup


def _wave_failed(rt: Runtime, event: dict[str, Any]) -> None:
    cleanup.on_wave_failed(rt, parse_known(rt, event, WaveFailed))


def _termination_tick(rt: Runtime, event: dict[str, Any]) -> None:
    cleanup.on_tick(rt, parse_known(rt, event, TerminationTick))


def _plan_cancelled(rt: Runtime, event: dict[str, Any]) -> None:
    cleanup.on_plan_cancelled(rt, parse_known(rt, event, PlanCancelled))


CLEANUP_ROUTES: dict[str, Route] = {
    WaveFailed.DETAIL_TYPE: _wave_failed,
    TerminationTick.DETAIL_TYPE: _termination_tick,
    PlanCancelled.DETAIL_TYPE: _plan_cancelled,
}
