"""DRSJobCompleted -> record the job; after the wave's last job, judge it and run post-launch.
PostLaunchTick polls, times out or retries a script; aws.ssm command and Automation execution status events
complete scripts, and Lambda's invocation records (its destinations on the orchestrator's bus) complete LAMBDA steps
(of either phase: the ledger knows which)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from events.models import (
    LAMBDA_RESULT_FAILURE,
    LAMBDA_RESULT_SUCCESS,
    SSM_AUTOMATION_STATUS,
    SSM_COMMAND_STATUS,
    AutomationStatusChange,
    DRSJobCompleted,
    PostLaunchTick,
)
from handlers._lambda import dispatch, lambda_handler, parse_known
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps.automation import on_automation_status
from orchestrator.steps.lambda_steps import on_result
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.scripts import on_command_status, on_tick


def _job_completed(rt: Runtime, event: dict[str, Any]) -> None:
    on_job_completed(rt, parse_known(rt, event, DRSJobCompleted), str(event["id"]))


def _tick(rt: Runtime, event: dict[str, Any]) -> None:
    on_tick(rt, parse_known(rt, event, PostLaunchTick), str(event["id"]))


def _command_status(rt: Runtime, event: dict[str, Any]) -> None:
    detail = event.get("detail")
    on_command_status(rt, detail if isinstance(detail, dict) else {}, str(event.get("id", "")))


def _lambda_result(rt: Runtime, event: dict[str, Any]) -> None:
    on_result(rt, str(event.get("detail-type", "")), event.get("detail"), str(event.get("id", "")))


def _automation_status(rt: Runtime, event: dict[str, Any]) -> None:
    try:
        detail = AutomationStatusChange.model_validate(event.get("detail"))
    except ValidationError:
        logger.warning("SSM Automation status event without a usable ExecutionId or Status ignored")
        return
    on_automation_status(rt, detail, str(event.get("id", "")))


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(
        event,
        {
            DRSJobCompleted.DETAIL_TYPE: _job_completed,
            PostLaunchTick.DETAIL_TYPE: _tick,
            SSM_COMMAND_STATUS: _command_status,
            LAMBDA_RESULT_SUCCESS: _lambda_result,
            LAMBDA_RESULT_FAILURE: _lambda_result,
            SSM_AUTOMATION_STATUS: _automation_status,
        },
    )
