"""DRSJobStarted arms the watcher; JobWatchTick polls; aws.drs Launch Result polls at once.

A DRSJobStarted arms a tick only while its wave is LAUNCHING in that attempt (when the launcher publishes
it, the wave always is): a late copy, or a forged one for a wave that is not launching, schedules nothing.
"""

from __future__ import annotations

from typing import Any

from events.models import DRS_LAUNCH_RESULT, DRSJobStarted, JobWatchTick
from handlers._lambda import dispatch, lambda_handler, parse_known
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps.job_watcher import on_job_started, on_launch_result, on_tick


def _started(rt: Runtime, event: dict[str, Any]) -> None:
    detail = parse_known(rt, event, DRSJobStarted)
    wave = rt.ledger.get_wave(detail.execution_id, detail.wave_id) or {}
    if wave.get("status") != "LAUNCHING" or int(wave.get("attempt", 1)) != detail.attempt:
        logger.info(
            "DRSJobStarted for a wave that is not launching: nothing to watch",
            wave_id=detail.wave_id,
            status=wave.get("status"),
            attempt=detail.attempt,
        )
        return
    on_job_started(rt, detail)


def _tick(rt: Runtime, event: dict[str, Any]) -> None:
    on_tick(rt, parse_known(rt, event, JobWatchTick))


def _launch_result(rt: Runtime, event: dict[str, Any]) -> None:
    detail = event.get("detail")
    on_launch_result(rt, detail if isinstance(detail, dict) else {})


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event, {DRSJobStarted.DETAIL_TYPE: _started, JobWatchTick.DETAIL_TYPE: _tick, DRS_LAUNCH_RESULT: _launch_result}
    )
