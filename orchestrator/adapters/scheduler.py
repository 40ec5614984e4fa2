"""One-time EventBridge Scheduler schedules that put an event on the bus at a given time.

The job watcher and script timeouts are driven by these ticks; nothing waits inside a workflow.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from events.models import SOURCE, Contract

_NAME_OK = re.compile(r"[^0-9A-Za-z_.-]")


def schedule_name(*parts: str) -> str:
    """A schedule name within Scheduler's 64 characters, stable for the same parts."""
    readable = _NAME_OK.sub("-", "-".join(parts))
    if len(readable) <= 64:
        return readable
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return f"{readable[:47]}-{digest}"


class Scheduler:
    def __init__(self, client: Any, *, group: str, role_arn: str, bus_arn: str) -> None:
        self._client = client
        self._group = group
        self._role_arn = role_arn
        self._bus_arn = bus_arn

    def at(self, name: str, when: datetime, detail: Contract) -> bool:
        """Schedule `detail` to be published at `when`. Returns False when the name already exists
        (so scheduling the same tick twice is harmless)."""
        try:
            self._client.create_schedule(
                Name=name,
                GroupName=self._group,
                ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._bus_arn,
                    "RoleArn": self._role_arn,
                    "EventBridgeParameters": {"DetailType": detail.DETAIL_TYPE, "Source": SOURCE},
                    "Input": json.dumps(detail.to_detail(), separators=(",", ":")),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConflictException":
                return False
            raise
        return True

    def cancel(self, name: str) -> None:
        try:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
