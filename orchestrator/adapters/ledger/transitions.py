"""The one way an execution or a wave changes status: a conditional write naming the states it may leave and
the event that causes it (its key, kept as `lastKey`).

The first delivery of that event wins; a redelivery of the *same* event after the write is a REPLAY (the
item is in the target status with that `lastKey`: its caller may safely redo what follows the write, and the
write itself is not made again, so it cannot set the transition's attributes a second time, e.g. a second
`launchStartedAt`); anything else is REJECTED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.adapters.ledger._base import _Update
from orchestrator.adapters.ledger._keys import Key
from orchestrator.adapters.ledger.decisions import Decisions
from orchestrator.domain.outcome import Outcome


class Transitions(Decisions):
    def _transition(
        self,
        key: Key,
        *,
        from_: Iterable[str],
        to: str,
        event_key: str,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, Any] | None = None,
        removes: Iterable[str] = (),
        where: Mapping[str, Any] | None = None,
        also: Iterable[dict[str, Any]] = (),
        decided_by: str | None = None,
    ) -> Outcome:
        """Move the item at `key` to status `to` (with `lastKey` = `event_key`, `sets`, `adds`, `removes`) if
        it exists, its status is one of `from_` and each attribute of `where` has its value.

        Alone, it is one UpdateItem, and the item DynamoDB returns with a failed condition (ALL_OLD) tells a
        REPLAY from a REJECTED. With `also` (TransactWriteItems elements, e.g. the execution's terminalCount)
        or `decided_by` (the operator command event whose ACCEPTED decision is written with it, once: see
        `Decisions._decided`) it is one transaction, which returns no item: the item is read again
        (consistently) to tell them apart."""
        update = _Update(
            sets={"status": to, "lastKey": event_key, **(sets or {})}, adds=dict(adds or {}), removes=list(removes)
        )
        condition = f"attribute_exists(pk) AND {update.one_of('status', list(from_))}"
        for attribute, value in (where or {}).items():
            condition += f" AND {update.name(attribute)} = {update.value(value)}"
        others = [*also, *([self._decided(decided_by)] if decided_by is not None else [])]
        if not others:
            written = self._update(key, update, condition, old_on_failure=True)
            if written.ok:
                return Outcome.WON
            item = written.item
        else:
            if self._transact(self._update_request(key, update, condition), *others):
                return Outcome.WON
            item = self._get(key) or {}
        if item.get("status") == to and item.get("lastKey") == event_key:
            return Outcome.REPLAY
        return Outcome.REJECTED
