"""The CloudWatch dashboard's custom widget (issue #17 item 2): the latest executions, or one execution's graph and
waves, read from the ledger (orchestrator/steps/console_widget.py answers, orchestrator/reporting/console_widget.py
draws).

Invoked synchronously by the CloudWatch console with the permissions of whoever views the dashboard (they need
lambda:InvokeFunction on this function); it returns HTML, or `{"markdown": ...}` for `describe`. Not
`handlers._lambda.lambda_handler`: that builds the whole runtime (bus, scheduler), and this function has only the
ledger's name in its environment and may only read the ledger (GetItem, Query).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3

from orchestrator.observability import logger, tracer
from orchestrator.steps.console_widget import answer, ledger_on

TABLE_VARIABLE = "LEDGER_TABLE_NAME"  # as every function's (infra/definitions.py ENV_TABLE)


@cache
def _ledger() -> Any:
    """The ledger on the table the stack names (RuntimeError, at the first invocation, when it names none)."""
    name = os.environ.get(TABLE_VARIABLE, "").strip()
    if not name:
        raise RuntimeError(f"environment variable {TABLE_VARIABLE} missing or empty (the stack sets it; redeploy it)")
    return ledger_on(boto3.resource("dynamodb").Table(name))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> str | dict[str, str]:
    endpoint = str(getattr(context, "invoked_function_arn", "") or "")
    return answer(_ledger(), event if isinstance(event, dict) else {}, endpoint=endpoint)
