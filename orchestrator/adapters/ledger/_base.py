"""The plumbing every kind of ledger item shares: the table and its client, the clock and the time to live,
building update expressions, the one conditional write (the one place a `ClientError` is translated), the
one paginated Query, batch reads and writes, and the expiry of a finished execution's items.

Items go in as Python values (`_dynamo`: floats to Decimals) and come out as JSON-able ones (`_plain`:
Decimals to int or float, sets to sorted lists).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from orchestrator.adapters.ledger._keys import (
    BULK_PREFIXES,
    LAUNCH_PREFIX,
    OBJECTIVE_PREFIX,
    PLAN_SK,
    SCRIPT_PREFIX,
    WAVE_PREFIX,
    Key,
    exec_pk,
)
from orchestrator.domain.clock import Clock, iso

BATCH_WRITE = 25  # BatchWriteItem: at most 25 items per call
BATCH_GET = 100  # BatchGetItem: at most 100 keys per call
BATCH_TRIES = 8  # calls per batch before its unprocessed items raise (backoff 0.05 s doubling, 6.35 s in all)


class LedgerError(RuntimeError):
    pass


def _plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets back to JSON-able Python."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def _dynamo(value: Any) -> Any:
    """Floats to Decimals (the DynamoDB resource refuses floats), recursively."""
    if isinstance(value, float):
        return Decimal(str(round(value, 3)))
    if isinstance(value, Mapping):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo(v) for v in value]
    return value


_DESERIALIZER = TypeDeserializer()
_WIRE_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


def _from_wire(item: Mapping[str, Any] | None) -> dict[str, Any]:
    """An item as an error response carries it (ALL_OLD), in DynamoDB's wire format (`{"status": {"S":
    "READY"}}`), as plain Python (`_plain`); an attribute already deserialized is taken as it is. {} for None."""

    def attribute(value: Any) -> Any:
        if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in _WIRE_TYPES:
            return _plain(_DESERIALIZER.deserialize(value))
        return _plain(value)

    return {name: attribute(value) for name, value in (item or {}).items()}


_CONDITION_REASONS = frozenset({"None", "ConditionalCheckFailed"})


def _is_conditional_failure(exc: ClientError) -> bool:
    """A condition did not hold. A transaction cancelled for another reason (TransactionConflict with a
    concurrent write, throttling, validation) is not one: it is raised, so its event is retried rather
    than taken for a state that does not fit."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = {str(r.get("Code")) for r in exc.response.get("CancellationReasons") or []}
    return not reasons or (reasons <= _CONDITION_REASONS and "ConditionalCheckFailed" in reasons)


@dataclass
class _Update:
    """Builds an UpdateExpression (SET, ADD, REMOVE) with safe placeholders; a dotted path (`jobs.j-1.status`)
    is one placeholder per part."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    _n: int = 0
    _placeholders: dict[str, str] = field(default_factory=dict)

    def name(self, path: str) -> str:
        parts = []
        for part in path.split("."):
            placeholder = self._placeholders.get(part)
            if placeholder is None:  # one placeholder per distinct name keeps big expressions under 4 KB
                placeholder = f"#n{len(self.names)}"
                self.names[placeholder] = part
                self._placeholders[part] = placeholder
            parts.append(placeholder)
        return ".".join(parts)

    def value(self, value: Any) -> str:
        self._n += 1
        placeholder = f":v{self._n}"
        self.values[placeholder] = value
        return placeholder

    def one_of(self, path: str, values: list[str]) -> str:
        """The condition `path IN (values...)`."""
        return f"{self.name(path)} IN ({', '.join(self.value(v) for v in values)})"

    def expression(self) -> str:
        clauses = []
        if self.sets:
            clauses.append("SET " + ", ".join(f"{self.name(k)} = {self.value(v)}" for k, v in self.sets.items()))
        if self.adds:
            clauses.append("ADD " + ", ".join(f"{self.name(k)} {self.value(v)}" for k, v in self.adds.items()))
        if self.removes:
            clauses.append("REMOVE " + ", ".join(self.name(path) for path in self.removes))
        return " ".join(clauses)

    def request(self, condition: str | None = None) -> dict[str, Any]:
        """UpdateExpression, ConditionExpression (built with this update's placeholders) and the placeholders,
        as UpdateItem and a transaction's Update take them."""
        request: dict[str, Any] = {"UpdateExpression": self.expression()}
        if condition is not None:
            request["ConditionExpression"] = condition
        if self.names:
            request["ExpressionAttributeNames"] = self.names
        if self.values:
            request["ExpressionAttributeValues"] = self.values
        return request


@dataclass(frozen=True)
class Written:
    """What a conditional write came to. `ok`: its condition held and it was made. `item`: when ok, the
    attributes asked for with ReturnValues (else {}); when not, the item as it was when the condition was
    checked if ReturnValuesOnConditionCheckFailure=ALL_OLD was asked (a single-item write; else {})."""

    ok: bool
    item: dict[str, Any]


class LedgerBase:
    """The ledger's shared plumbing; `table` is a boto3 DynamoDB Table resource. Each kind of item adds its
    methods in a class of its own over this one (`Ledger` puts them together)."""

    def __init__(
        self,
        table: Any,
        clock: Clock,
        *,
        finished_ttl_days: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._client = table.meta.client
        self._clock = clock
        self._sleep = sleep  # the backoff before sending a batch's unprocessed items again
        # the time to live of a finished execution's items (a deploy setting, off by default: None writes no
        # `expiresAt`, so nothing expires; orchestrator/domain/evidence.py ledger_ttl_problem)
        self._ttl = timedelta(days=finished_ttl_days) if finished_ttl_days else None
        self._plans: dict[str, tuple[str, str | None]] = {}  # frozen plan and resolution by execution id (immutable)

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def now(self) -> str:
        return iso(self._clock.now())

    def _expires_at(self) -> int | None:
        """The TTL attribute's value for an item that expires with a finished execution (epoch seconds); None
        when the ledger keeps everything (no time to live: the item gets no `expiresAt`)."""
        if self._ttl is None:
            return None
        return int((self._clock.now() + self._ttl).timestamp())

    # ---- writes --------------------------------------------------------------------------------

    def _write(self, call: Callable[..., Any], **request: Any) -> Written:
        """Make one conditional write: `call` is the table's put_item, update_item or delete_item, or the
        client's transact_write_items. The one place a ClientError is translated: a condition that did not
        hold (`_is_conditional_failure`) comes back as `Written(ok=False)`; any other error is raised (its
        event is retried)."""
        try:
            response = call(**request)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return Written(ok=False, item=_from_wire(exc.response.get("Item")))
        return Written(ok=True, item=_plain(response.get("Attributes") or {}))

    def _update(
        self,
        key: Key,
        update: _Update,
        condition: str | None = None,
        *,
        returns: str | None = None,
        old_on_failure: bool = False,
    ) -> Written:
        """UpdateItem `update` on `key` while `condition` (built with `update`'s placeholders) holds.
        `returns`: ReturnValues (the written item's attributes in `Written.item`); `old_on_failure`: the item
        as it was when the condition failed, in `Written.item` (ReturnValuesOnConditionCheckFailure)."""
        request = update.request(condition)
        if returns is not None:
            request["ReturnValues"] = returns
        if old_on_failure:
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return self._write(self._table.update_item, Key=dict(key), **request)

    def _update_request(self, key: Key, update: _Update, condition: str | None = None) -> dict[str, Any]:
        """`update` on `key` as a TransactWriteItems element."""
        return {"Update": {"TableName": self.table_name, "Key": dict(key), **update.request(condition)}}

    def _transact(self, *writes: dict[str, Any]) -> bool:
        """TransactWriteItems: every write or none. False when a condition of one of them did not hold."""
        return self._write(self._client.transact_write_items, TransactItems=list(writes)).ok

    def _create(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """PutItem `item` unless an item with its key exists. None when this call created it, else the
        existing item (read again, consistently; {} if it has gone meanwhile)."""
        if self._write(self._table.put_item, Item=dict(item), ConditionExpression="attribute_not_exists(pk)").ok:
            return None
        return self._get({"pk": item["pk"], "sk": item["sk"]}) or {}

    # ---- reads ---------------------------------------------------------------------------------

    def _get(self, key: Key) -> dict[str, Any] | None:
        """The item at `key` (consistent read), or None."""
        item = self._table.get_item(Key=dict(key), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def _query_all(
        self, pk: str, prefix: str | None = None, *, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of partition `pk` (whose sort key begins with `prefix`), in sort key order, from every
        page: a Query answers at most 1 MB of items, the rest from its `LastEvaluatedKey` on (consistent
        reads; `projection`: a ProjectionExpression of plain attribute names)."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": pk},
            "ConsistentRead": True,
        }
        if prefix is not None:
            kwargs["KeyConditionExpression"] = "pk = :pk AND begins_with(sk, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = prefix
        if projection is not None:
            kwargs["ProjectionExpression"] = projection
        while True:
            page = self._table.query(**kwargs)
            yield from (_plain(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, execution_id: str, prefix: str) -> list[dict[str, Any]]:
        """Every item of an execution whose sort key begins with `prefix`."""
        return list(self._query_all(exec_pk(execution_id), prefix))

    # ---- batches -------------------------------------------------------------------------------

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        """PutItem every item with BatchWriteItem, 25 per call (DynamoDB's limit); the items a call leaves
        unprocessed (throttling) are sent again after an exponential backoff. LedgerError when some are
        still unprocessed after BATCH_TRIES calls (the caller's event is retried)."""
        for start in range(0, len(items), BATCH_WRITE):
            pending = [{"PutRequest": {"Item": _dynamo(item)}} for item in items[start : start + BATCH_WRITE]]
            for tries in range(1, BATCH_TRIES + 1):
                response = self._client.batch_write_item(RequestItems={self.table_name: pending})
                pending = (response.get("UnprocessedItems") or {}).get(self.table_name) or []
                if not pending:
                    break
                if tries == BATCH_TRIES:
                    raise LedgerError(f"BatchWriteItem left {len(pending)} item(s) unprocessed after {tries} calls")
                self._sleep(_backoff(tries))

    def _batch_get(self, keys: list[Key]) -> list[dict[str, Any]]:
        """GetItem (consistent) every key with BatchGetItem, 100 per call (DynamoDB's limit); unprocessed
        keys are asked again after an exponential backoff. Items that do not exist are left out."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET):
            request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET], "ConsistentRead": True}
            for tries in range(1, BATCH_TRIES + 1):
                response = self._client.batch_get_item(RequestItems={self.table_name: request})
                found.extend(_plain(item) for item in (response.get("Responses") or {}).get(self.table_name, []))
                unprocessed = (response.get("UnprocessedKeys") or {}).get(self.table_name)
                if not unprocessed or not unprocessed.get("Keys"):
                    break
                if tries == BATCH_TRIES:
                    raise LedgerError(
                        f"BatchGetItem left {len(unprocessed['Keys'])} key(s) unprocessed after {tries} calls"
                    )
                request = unprocessed
                self._sleep(_backoff(tries))
        return found

    # ---- time to live (`expiresAt`): an execution's items expire with it ----------------------------

    def _expire_items(self, execution_id: str, expires: int) -> None:
        """A finished execution's plan, wave, script, launch, server and script result items expire with it
        (TTL)."""
        keys = [{"pk": exec_pk(execution_id), "sk": PLAN_SK}]
        for prefix in (WAVE_PREFIX, SCRIPT_PREFIX, LAUNCH_PREFIX, OBJECTIVE_PREFIX):
            keys += [{"pk": exec_pk(execution_id), "sk": item["sk"]} for item in self._query(execution_id, prefix)]
        for key in keys:
            self._table.update_item(
                Key=key, UpdateExpression="SET expiresAt = :e", ExpressionAttributeValues={":e": expires}
            )
        self._set_bulk_expiry(execution_id, expires)

    def _stop_expiring(self, execution_id: str) -> None:
        """No item of the execution expires any more (it was reopened): one UpdateItem per item, one
        BatchWriteItem per 25 server and script result items (`_set_bulk_expiry`)."""
        bulk_expires = False
        for item in self._query_all(exec_pk(execution_id), projection="pk, sk, expiresAt"):
            if "expiresAt" not in item:
                continue
            if str(item["sk"]).startswith(BULK_PREFIXES):
                bulk_expires = True
                continue
            self._table.update_item(Key={"pk": item["pk"], "sk": item["sk"]}, UpdateExpression="REMOVE expiresAt")
        if bulk_expires:
            self._set_bulk_expiry(execution_id, None)

    def _set_bulk_expiry(self, execution_id: str, expires: int | None) -> None:
        """Every server and script result item of the execution with `expiresAt` = `expires` (None: without).
        The items are read and put back whole, 25 per call (one UpdateItem each would be thousands of calls
        for a large plan): this runs only while nothing of the execution writes them (it has just ended, or
        is reopened by an operator before the retried wave is released)."""
        items = []
        for prefix in BULK_PREFIXES:
            for item in self._query(execution_id, prefix):
                if item.get("expiresAt") == expires:
                    continue
                item.pop("expiresAt", None)
                items.append(item if expires is None else {**item, "expiresAt": expires})
        self._batch_put(items)


def _backoff(tries: int) -> float:
    """Seconds to wait before sending a batch's unprocessed items again (after `tries` calls)."""
    return 0.05 * 2.0 ** (tries - 1)
