"""Handler failure counters (`FAILURE#<event id>`, one item per function that failed to handle the event):
every delivery of an event carries its id, so Lambda's retries and EventBridge's duplicates count together
(see orchestrator/steps/handler_failures.py)."""

from __future__ import annotations

from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase
from orchestrator.adapters.ledger._keys import failure_pk


class Failures(LedgerBase):
    def count_handler_failure(self, event_id: str, function: str, error: str) -> int:
        """Count one failed handling of event `event_id` by `function` (every delivery of an event carries
        its id, so Lambda's retries and EventBridge's duplicates count together). Returns the failures so
        far, this one included."""
        expires = self._expires_at()
        values: dict[str, Any] = {":one": 1, ":kind": "HANDLER_FAILURE", ":error": error[:1000], ":at": self.now()}
        if expires is not None:
            values[":expires"] = expires
        response = self._table.update_item(
            Key={"pk": failure_pk(event_id), "sk": function},
            UpdateExpression="ADD attempts :one SET kind = :kind, lastError = :error, lastAt = :at"
            + (", expiresAt = :expires" if expires is not None else ""),
            ExpressionAttributeValues=values,
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["attempts"])
