"""PostLaunchDone and WaveFailed -> close the wave, release dependents or apply the failure policy,
close the plan; ObjectiveTick -> ObjectiveAtRisk / ObjectiveMissed for a recovery time objective still running."""

from __future__ import annotations

from typing import Any

from events.models import ObjectiveTick, PostLaunchDone, WaveFailed
from handlers._lambda import dispatch, lambda_handler, parse_known
from orchestrator.runtime import Runtime
from orchestrator.steps import objectives
from orchestrator.steps.progress import on_post_launch_done, on_wave_failed


def _post_launch_done(rt: Runtime, event: dict[str, Any]) -> None:
    on_post_launch_done(rt, parse_known(rt, event, PostLaunchDone), str(event["id"]))


def _wave_failed(rt: Runtime, event: dict[str, Any]) -> None:
    on_wave_failed(rt, parse_known(rt, event, WaveFailed), str(event["id"]))


def _objective_tick(rt: Runtime, event: dict[str, Any]) -> None:
    objectives.on_tick(rt, parse_known(rt, event, ObjectiveTick))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        {
            PostLaunchDone.DETAIL_TYPE: _post_launch_done,
            WaveFailed.DETAIL_TYPE: _wave_failed,
            ObjectiveTick.DETAIL_TYPE: _objective_tick,
        },
    )
