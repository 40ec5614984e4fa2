"""The CloudWatch dashboard custom widget's request (issue #17 item 2): what the dashboard sends, what it gets back.

The dashboard invokes the function with the widget's parameters as the event's own keys, beside `widgetContext`
(CloudWatch user guide, "Details about custom widgets in CloudWatch",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/add_custom_widget_dashboard_about.html); with
`describe` set (the console's "documentation" of a widget function) the answer is `{"markdown": DOCS}`. Parameters:

- `executionId` (optional): show that execution (its graph and waves) instead of the latest executions;
- `limit` (optional, 1 to `MAX_LIMIT`, default `DEFAULT_LIMIT`): how many of the latest executions to list.

Bad input never raises: the widget says what was wrong in its own frame, and reads nothing for it. What it shows is
rendered by `orchestrator.reporting.console_widget`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.clock import SystemClock
from orchestrator.observability import logger
from orchestrator.reporting.console_widget import WidgetLedger, render_execution, render_list, render_message

DEFAULT_LIMIT = 10
MAX_LIMIT = 50  # a dashboard widget is a few hundred pixels high: more rows would not be seen
EXECUTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")  # the ids `new_execution_id` and StartPlan make
DOCS = f"""## DRS Orchestrator: recovery plans

Lists the latest executions of the recovery plans from the orchestrator's ledger (running first), and for one of
them its dependency graph and each wave's status. Choose an execution in the list to see it.

Parameters (optional):

    {{"executionId": "three-tier-0a1b2c3d4e5f"}}   show that execution
    {{"limit": {DEFAULT_LIMIT}}}                   how many executions to list (1 to {MAX_LIMIT})

Read-only: the function may only read the ledger (GetItem and Query). Whoever views the widget needs
lambda:InvokeFunction on this function.
"""


def ledger_on(table: Any) -> Ledger:
    """The ledger's reads on `table` (a boto3 DynamoDB Table resource), with the system clock."""
    return Ledger(table, SystemClock())


LIMIT_TEXT = re.compile(r"[0-9]{1,4}", re.ASCII)  # a limit given as text: ASCII digits only, a few of them


def _limit(value: object) -> int | str:
    """The `limit` parameter as an integer from 1 to MAX_LIMIT, or why it is not one (naming what was given, cut).
    Text counts only as ASCII digits (`str.isdigit` admits '²', which int() refuses, and int() refuses more than
    4,300 digits): nothing given here can raise."""
    if value is None:
        return DEFAULT_LIMIT
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and LIMIT_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is not None and 1 <= number <= MAX_LIMIT:
        return number
    shown = repr(value) if isinstance(value, str | int | float) else type(value).__name__
    return f"limit must be a whole number from 1 to {MAX_LIMIT}, not {shown[:40]}"


def answer(ledger: WidgetLedger, event: Mapping[str, Any], *, endpoint: str) -> str | dict[str, str]:
    """The widget's answer to `event`: `{"markdown": DOCS}` for `describe`, else HTML: one execution's view
    (`executionId`), or the latest executions. `endpoint`: the function's own ARN, which the widget's links call.
    A parameter that is not understood, or an execution the ledger does not hold, is said in the widget."""
    if event.get("describe"):
        return {"markdown": DOCS}
    execution_id = event.get("executionId")
    if execution_id is not None and execution_id != "":
        if not isinstance(execution_id, str) or not EXECUTION_ID.fullmatch(execution_id):
            logger.info("console widget: not an execution id", execution_id=str(execution_id)[:200])
            return render_message(
                "executionId must be an execution id (letters, digits, '.', '_', ':' or '-', at most 200)",
                endpoint=endpoint,
            )
        execution = ledger.execution(execution_id)
        if execution is None:
            logger.info("console widget: no such execution", execution_id=execution_id)
            return render_message(f"No execution {execution_id} in the ledger.", endpoint=endpoint)
        return render_execution(execution, ledger.waves(execution_id), endpoint=endpoint)
    limit = _limit(event.get("limit"))
    if isinstance(limit, str):
        return render_list(ledger.latest_executions(DEFAULT_LIMIT), endpoint=endpoint, note=limit)
    return render_list(ledger.latest_executions(limit), endpoint=endpoint)
