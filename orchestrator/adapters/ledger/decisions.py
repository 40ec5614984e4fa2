"""Decisions on events: one item per event (`EVENT#<event id>`) saying whether an operator command was
ACCEPTED or REFUSED, written once, whichever comes first (see orchestrator/steps/refusals.py).

An accepted command writes its decision in the same transaction as the state change it decided (`_decided`,
used by `Transitions._transition`), so a copy of a refused command changes nothing however late or concurrent
it is, and a command is never carried out twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, _dynamo
from orchestrator.adapters.ledger._keys import DECISION_SK, decision_key, decision_pk

ACCEPTED, REFUSED = "ACCEPTED", "REFUSED"


class Decisions(LedgerBase):
    def _decided(self, event_id: str) -> dict[str, Any]:
        """The record that command event `event_id` was ACCEPTED, as a TransactWriteItems element to write
        with the state change it decided: only if no decision on the event is recorded yet."""
        expires = self._expires_at()
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _dynamo(
                    {
                        "pk": decision_pk(event_id),
                        "sk": DECISION_SK,
                        "kind": "DECISION",
                        "decision": ACCEPTED,
                        "at": self.now(),
                        "expiresAt": expires,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def record_refusal(self, event_id: str, detail_type: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record that event `event_id` is REFUSED, with the event that says so (not yet announced), unless
        a decision on it is recorded already. Returns None when this is the decision, else the earlier
        one (REFUSED, or ACCEPTED: a late copy of a command that was carried out)."""
        return self._create(
            {
                "pk": decision_pk(event_id),
                "sk": DECISION_SK,
                "kind": "DECISION",
                "decision": REFUSED,
                "detailType": detail_type,
                "detail": json.dumps(detail, separators=(",", ":")),
                "announced": False,
                "at": self.now(),
                "expiresAt": self._expires_at(),
            }
        )

    def get_decision(self, event_id: str) -> dict[str, Any] | None:
        return self._get(decision_key(event_id))

    def mark_refusal_announced(self, event_id: str) -> None:
        self._table.update_item(
            Key=decision_key(event_id),
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
