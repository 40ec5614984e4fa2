"""Decisions on events: one item per event (`EVENT#<event id>`) saying whether an operator command was
ACCEPTED or REFUSED, written once, whichever comes first (see orchestrator/steps/refusals.py).

An accepted command writes its decision in the same transaction as the state change it decided (`_decided`,
used by `Transitions._transition`), so a copy of a refused command changes nothing however late or concurrent
it is, and a command is never carried out twice.

The item: `decision` (ACCEPTED, REFUSED), `at`, `expiresAt` (TTL); a refusal also `detailType` and `detail`
(the answer that announces it, its detail as JSON text) and `announced`. `decision_record(item)` /
`decision_item(record)` map it to its record (`orchestrator.domain.records.decisions.DecisionRecord`) and back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from events.models import Contract
from orchestrator.adapters.ledger._base import LedgerBase, LedgerError, _dynamo
from orchestrator.adapters.ledger._keys import DECISION_SK, decision_key, decision_pk
from orchestrator.domain.records.decisions import DecisionRecord, Verdict

ACCEPTED, REFUSED = Verdict.ACCEPTED, Verdict.REFUSED

_NAMED = frozenset({"pk", "sk", "kind", "decision", "at", "detailType", "detail", "announced", "expiresAt"})


def decision_record(item: Mapping[str, Any]) -> DecisionRecord:
    """A decision item as its record. LedgerError when it is not one."""
    try:
        detail, announced, expires = item.get("detail"), item.get("announced"), item.get("expiresAt")
        return DecisionRecord(
            event_id=str(item["pk"]).removeprefix(decision_pk("")),
            verdict=Verdict(item["decision"]),
            at=item.get("at"),
            answer_type=item.get("detailType"),
            answer=json.loads(detail) if detail is not None else None,
            announced=bool(announced) if announced is not None else None,
            expires_at=int(expires) if expires is not None else None,
            extra={attr: value for attr, value in item.items() if attr not in _NAMED},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a decision item: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def decision_item(record: DecisionRecord) -> dict[str, Any]:
    """The item of `record`, as the ledger reads it."""
    answer = json.dumps(dict(record.answer), separators=(",", ":")) if record.answer is not None else None
    optional = {
        "detailType": record.answer_type,
        "detail": answer,
        "announced": record.announced,
        "at": record.at,
        "expiresAt": record.expires_at,
    }
    return {
        "pk": decision_pk(record.event_id),
        "sk": DECISION_SK,
        "kind": "DECISION",
        "decision": record.verdict.value,
        **{attr: value for attr, value in optional.items() if value is not None},
        **record.extra,
    }


class Decisions(LedgerBase):
    def _decided(self, event_id: str) -> dict[str, Any]:
        """The record that command event `event_id` was ACCEPTED, as a TransactWriteItems element to write
        with the state change it decided: only if no decision on the event is recorded yet."""
        accepted = DecisionRecord(event_id=event_id, verdict=ACCEPTED, at=self.now(), expires_at=self._expires_at())
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": _dynamo(decision_item(accepted)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def record_refusal(self, event_id: str, answer: Contract) -> DecisionRecord | None:
        """Record that event `event_id` is REFUSED, with `answer`, the event that says so (not yet announced),
        unless a decision on it is recorded already. Returns None when this is the decision (or the earlier
        one has expired meanwhile: nothing stands in the way of announcing this one), else the earlier one
        (REFUSED, or ACCEPTED: a late copy of a command that was carried out)."""
        refused = DecisionRecord(
            event_id=event_id,
            verdict=REFUSED,
            at=self.now(),
            answer_type=answer.DETAIL_TYPE,
            answer=answer.to_detail(),
            announced=False,
            expires_at=self._expires_at(),
        )
        earlier = self._create(decision_item(refused))
        return decision_record(earlier) if earlier else None

    def get_decision(self, event_id: str) -> DecisionRecord | None:
        """The decision on event `event_id`, or None when none is recorded."""
        item = self._get(decision_key(event_id))
        return decision_record(item) if item is not None else None

    def mark_refusal_announced(self, event_id: str) -> None:
        self._table.update_item(
            Key=decision_key(event_id),
            UpdateExpression="SET announced = :yes",
            ExpressionAttributeValues={":yes": True},
        )
