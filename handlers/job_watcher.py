"""DRSJobStarted arms the watcher (while its wave is launching: `on_job_started`); JobWatchTick polls; aws.drs
Launch Result polls at once."""

from __future__ import annotations

from typing import Any

from events.models import DRS_LAUNCH_RESULT, DRSJobStarted, JobWatchTick
from handlers._lambda import dispatch, lambda_handler, parse_known
from orchestrator.runtime import Runtime
from orchestrator.steps.job_watcher import on_job_started, on_launch_result, on_tick


def _started(rt: Runtime, event: dict[str, Any]) -> None:
    on_job_started(rt, parse_known(rt, event, DRSJobStarted))


def _tick(rt: Runtime, event: dict[str, Any]) -> None:
    on_tick(rt, parse_known(rt, event, JobWatchTick))


def _launch_result(rt: Runtime, event: dict[str, Any]) -> None:
    detail, account, region = event.get("detail"), event.get("account"), event.get("region")
    on_launch_result(
        rt,
        detail if isinstance(detail, dict) else {},
        account=account if isinstance(account, str) else None,
        region=region if isinstance(region, str) else None,
    )


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event, {DRSJobStarted.DETAIL_TYPE: _started, JobWatchTick.DETAIL_TYPE: _tick, DRS_LAUNCH_RESULT: _launch_result}
    )
