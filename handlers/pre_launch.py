"""WaveReady -> the wave's pre-launch phase -> PreLaunchDone."""

from __future__ import annotations

from typing import Any

from events.envelope import parse_event
from events.models import WaveReady
from handlers._lambda import dispatch, lambda_handler
from orchestrator.phases import on_wave_ready
from orchestrator.runtime import Runtime


def _ready(rt: Runtime, event: dict[str, Any]) -> None:
    on_wave_ready(rt, parse_event(event, WaveReady), str(event["id"]))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, {WaveReady.DETAIL_TYPE: _ready})
