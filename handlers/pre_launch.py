"""WaveReady -> the wave's pre-launch phase (its scripts) -> PreLaunchDone; PreLaunchTick polls, times out
or retries a pre-launch script."""

from __future__ import annotations

from typing import Any

from events.models import PreLaunchTick, WaveReady
from handlers._lambda import dispatch, lambda_handler, parse_known
from orchestrator.runtime import Runtime
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import on_tick


def _ready(rt: Runtime, event: dict[str, Any]) -> None:
    on_wave_ready(rt, parse_known(rt, event, WaveReady), str(event["id"]))


def _tick(rt: Runtime, event: dict[str, Any]) -> None:
    on_tick(rt, parse_known(rt, event, PreLaunchTick), str(event["id"]))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {WaveReady.DETAIL_TYPE: _ready, PreLaunchTick.DETAIL_TYPE: _tick})
