"""The execution ledger: one DynamoDB table, one execution item, one item per wave and one per server of a wave.

Every state change is a conditional write. A transition names the states it may leave and the event
that causes it (`key`): the first delivery of that event wins, a redelivery of the *same* event after a
crash is a REPLAY (so its caller may safely redo what follows the write), and anything else is
REJECTED. Releasing a dependent wave is an atomic decrement guarded by a set of the waves that already
released it, so each dependency counts once, and only the write that reaches zero releases the wave.

A wave item holds its status, its jobs and counts of its servers; each server's result lives in an item of
its own (`server_sk`), so the wave item stays small whatever the wave's size (DynamoDB items are limited to
400 KB). Server items are written in batches (`_batch_put`), and only while the wave's item says the write
is due (a job's results while the job is not COMPLETED on the wave): see `record_job_done`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.domain.clock import Clock, iso
from orchestrator.domain.status import (
    EXECUTION_FINAL,
    TERMINAL_WAVE,
    ExecutionStatus,
    WaveStatus,
    check_execution_transition,
    check_no_status,
    check_wave_transition,
)


class Outcome(StrEnum):
    WON = "WON"
    REPLAY = "REPLAY"
    REJECTED = "REJECTED"

    @property
    def proceed(self) -> bool:
        return self is not Outcome.REJECTED


class LedgerError(RuntimeError):
    pass


def exec_pk(execution_id: str) -> str:
    return f"EXEC#{execution_id}"


EXEC_SK = "#EXECUTION"
PLAN_SK = "#PLAN"


def wave_sk(wave_id: str) -> str:
    return f"WAVE#{wave_id}"


def server_sk(wave_id: str, server_id: str) -> str:
    return f"{SERVER_PREFIX}{wave_id}#{server_id}"


SERVER_PREFIX = "SERVER#"


def launch_sk(wave_id: str, attempt: int, chunk: int) -> str:
    return f"LAUNCH#{wave_id}#{attempt:03d}#{chunk:04d}"


def script_sk(wave_id: str, wave_attempt: int, phase: str, index: int) -> str:
    return f"SCRIPT#{wave_id}#{wave_attempt:03d}#{phase}#{index:03d}"


def invocation_prefix(script_sk_: str) -> str:
    """The sort key prefix of a script's per-instance results: `INVOCATION#<wave>#<attempt>#<phase>#<index>#`."""
    return f"{INVOCATION_PREFIX}{script_sk_.removeprefix('SCRIPT#')}#"


INVOCATION_PREFIX = "INVOCATION#"
BULK_PREFIXES = (SERVER_PREFIX, INVOCATION_PREFIX)  # item kinds an execution has thousands of (TTL in batches)


def command_pk(command_id: str) -> str:
    return f"CMD#{command_id}"


COMMAND_SK = "#COMMAND"


def failure_pk(event_id: str) -> str:
    return f"FAILURE#{event_id}"


def decision_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


DECISION_SK = "#DECISION"
ACCEPTED, REFUSED = "ACCEPTED", "REFUSED"


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


_CONDITION_REASONS = frozenset({"None", "ConditionalCheckFailed"})


def _string(attribute: Any) -> str | None:
    """A string attribute as DynamoDB returns it with a failed condition (`{"S": "..."}`)."""
    if isinstance(attribute, Mapping):
        value = attribute.get("S")
        return str(value) if value is not None else None
    return None if attribute is None else str(attribute)


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
    """Builds an UpdateExpression with safe placeholders."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
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

    def expression(self) -> str:
        clauses = []
        if self.sets:
            clauses.append("SET " + ", ".join(f"{self.name(k)} = {self.value(v)}" for k, v in self.sets.items()))
        if self.adds:
            clauses.append("ADD " + ", ".join(f"{self.name(k)} {self.value(v)}" for k, v in self.adds.items()))
        return " ".join(clauses)


class Ledger:
    """The ledger adapter; `table` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any, clock: Clock, *, finished_ttl_days: int = 90,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._table = table
        self._client = table.meta.client
        self._clock = clock
        self._sleep = sleep  # the backoff before sending a batch's unprocessed items again
        self._ttl = timedelta(days=finished_ttl_days)
        self._plans: dict[str, str] = {}  # frozen plan documents by execution id (immutable)

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def now(self) -> str:
        return iso(self._clock.now())

    def _expires_at(self) -> int:
        """The TTL attribute's value for an item that expires with a finished execution (epoch seconds)."""
        return int((self._clock.now() + self._ttl).timestamp())

    # ---- reads ---------------------------------------------------------------------------------

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        """The execution item, with its frozen plan as `planDocument` (JSON text).

        The plan is its own immutable item, read once per process and cached: the execution item that
        every handler reads stays small however large the plan."""
        item = self._table.get_item(
            Key={"pk": exec_pk(execution_id), "sk": EXEC_SK}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        execution: dict[str, Any] = _plain(item)
        document = self._plans.get(execution_id)
        if document is None:
            plan_item = self._table.get_item(Key={"pk": exec_pk(execution_id), "sk": PLAN_SK},
                                             ConsistentRead=True).get("Item")
            document = str(plan_item["planDocument"]) if plan_item else "{}"
            if plan_item:
                self._plans[execution_id] = document
        execution["planDocument"] = document
        return execution

    def get_wave(self, execution_id: str, wave_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)}, ConsistentRead=True
        ).get("Item")
        return _plain(item) if item else None

    def _query(self, execution_id: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": exec_pk(execution_id), ":prefix": prefix},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_waves(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, "WAVE#")

    def list_launches(self, execution_id: str, wave_id: str | None = None) -> list[dict[str, Any]]:
        return self._query(execution_id, f"LAUNCH#{wave_id}#" if wave_id else "LAUNCH#")

    def wave_servers(self, execution_id: str, wave_id: str) -> dict[str, dict[str, Any]]:
        """The servers of a wave by source server id, in id order (one Query, paginated): `criticality`,
        `launchStatus` (NOT_STARTED until the server's job has ended), `attempt` (the wave attempt that
        wrote it) and, when known, `jobId`, `recoveryInstanceId` and `reason`."""
        return {str(item["sourceServerId"]): _server_view(item)
                for item in self._query(execution_id, f"{SERVER_PREFIX}{wave_id}#")}

    def wave_detail(self, execution_id: str, wave: Mapping[str, Any]) -> dict[str, Any]:
        """`wave` (an item of `list_waves`) with what lives in items of their own: `servers` (as
        `wave_servers`), each job's `servers` (the source server ids of its launch claim) and, in each of
        `previousAttempts`, `servers`: how each server had ended that attempt (`sourceServerId`,
        `launchStatus`, and `recoveryInstanceId`, `jobId`, `reason` when known), and in each script summary
        its `instances` (the per-instance results). Two Queries, three when the wave ran scripts."""
        wave_id = str(wave["waveId"])
        items = self._query(execution_id, f"{SERVER_PREFIX}{wave_id}#")
        claims = {c.get("launchKey"): list(c.get("servers", [])) for c in self.list_launches(execution_id, wave_id)}
        detail = {
            **wave,
            "servers": {str(item["sourceServerId"]): _server_view(item) for item in items},
            "jobs": {job_id: {**job, "servers": claims.get(job.get("launchKey"), [])}
                     for job_id, job in (wave.get("jobs") or {}).items()},
        }
        if "previousAttempts" in wave:
            detail["previousAttempts"] = [{**record, "servers": _servers_at(items, int(record.get("attempt", 1)))}
                                          for record in wave["previousAttempts"]]
        if any("instanceCount" in summary for summary in wave.get("scripts") or []):
            results = self._invocations(execution_id, f"{INVOCATION_PREFIX}{wave_id}#")
            detail["scripts"] = [
                {**summary, "instances": results.get(invocation_prefix(script_sk(
                    wave_id, int(summary.get("waveAttempt", 1)), str(summary["phase"]), int(summary["index"]))), [])}
                if "instanceCount" in summary else summary
                for summary in wave["scripts"]]
        return detail

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

    def _batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
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
                    raise LedgerError(f"BatchGetItem left {len(unprocessed['Keys'])} key(s) unprocessed "
                                      f"after {tries} calls")
                request = unprocessed
                self._sleep(_backoff(tries))
        return found

    def plan_document(self, execution: Mapping[str, Any]) -> dict[str, Any]:
        return dict(json.loads(execution["planDocument"]))

    # ---- execution -----------------------------------------------------------------------------

    def create_execution(
        self,
        *,
        execution_id: str,
        plan_id: str,
        plan_name: str,
        plan_document: dict[str, Any],
        mode: str,
        requested_by: str,
        waves: list[dict[str, Any]],
        key: str,
    ) -> Outcome:
        """Create the execution, its waves and their servers. `waves`: waveId, dependsOn, dependents, onFailure,
        servers (`{sourceServerId: {criticality, launchStatus}}`)."""
        check_execution_transition([ExecutionStatus.CREATING], ExecutionStatus.RUNNING)
        now = self.now()
        execution = {
            "pk": exec_pk(execution_id), "sk": EXEC_SK, "kind": "EXECUTION",
            "executionId": execution_id, "planId": plan_id, "planName": plan_name, "mode": mode,
            "status": "CREATING",
            "waveCount": len(waves), "terminalCount": 0, "requestedBy": requested_by,
            "startedAt": now, "lastKey": key, "failedWaves": [], "paused": False,
        }
        try:
            self._table.put_item(
                Item=execution,
                ConditionExpression="attribute_not_exists(pk) OR (lastKey = :key AND #s = :creating)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":key": key, ":creating": "CREATING"},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_execution(execution_id)
            if existing and existing.get("startKey", existing.get("lastKey")) == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        items: list[dict[str, Any]] = [{"pk": exec_pk(execution_id), "sk": PLAN_SK, "kind": "PLAN",
                                        "planDocument": json.dumps(plan_document, sort_keys=True)}]
        for wave in waves:
            remaining = len(wave["dependsOn"])
            items.append({
                "pk": exec_pk(execution_id), "sk": wave_sk(wave["waveId"]), "kind": "WAVE",
                "executionId": execution_id, "waveId": wave["waveId"],
                "status": "PENDING" if remaining else "READY",
                "attempt": 1, "remaining": remaining,
                "dependsOn": wave["dependsOn"], "dependents": wave["dependents"],
                "onFailure": wave["onFailure"], "jobs": {},
                "serverCount": len(wave["servers"]), "serversLaunched": 0, "serversFailed": 0,
                "jobsExpected": 0, "jobsDone": 0, "scripts": [], "warnings": [],
                "lastKey": key, **({} if remaining else {"readyAt": now}),
            })
            items.extend({
                "pk": exec_pk(execution_id), "sk": server_sk(wave["waveId"], server_id), "kind": "SERVER",
                "waveId": wave["waveId"], "sourceServerId": server_id, "attempt": 1,
                "criticality": server.get("criticality"), "launchStatus": server.get("launchStatus", "NOT_STARTED"),
            } for server_id, server in wave["servers"].items())
        self._batch_put(items)
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": EXEC_SK},
            UpdateExpression="SET #s = :running, startKey = :key",
            ConditionExpression="#s = :creating",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": "RUNNING", ":creating": "CREATING", ":key": key},
        )
        return Outcome.WON

    def set_execution_status(
        self, execution_id: str, *, from_: Iterable[str], to: str, key: str, sets: Mapping[str, Any] | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """`decided_by`: the operator command event whose acceptance this is (see `_decided`)."""
        from_, to = check_execution_transition(from_, to)
        update = _Update(sets={"status": to, "lastKey": key, **(sets or {})})
        expires = self._expires_at()
        if to in EXECUTION_FINAL:
            update.sets["endedAt"] = self.now()
            update.sets["expiresAt"] = expires
        outcome = self._conditional(exec_pk(execution_id), EXEC_SK, update, from_, to, key, decided_by)
        if to in EXECUTION_FINAL and outcome is Outcome.WON:
            self._expire_items(execution_id, expires)
        return outcome

    def _expire_items(self, execution_id: str, expires: int) -> None:
        """A finished execution's plan, wave, script, launch, server and script result items expire with it
        (TTL)."""
        keys = [{"pk": exec_pk(execution_id), "sk": PLAN_SK}]
        for prefix in ("WAVE#", "SCRIPT#", "LAUNCH#"):
            keys += [{"pk": exec_pk(execution_id), "sk": item["sk"]} for item in self._query(execution_id, prefix)]
        for key in keys:
            self._table.update_item(Key=key, UpdateExpression="SET expiresAt = :e",
                                    ExpressionAttributeValues={":e": expires})
        self._set_bulk_expiry(execution_id, expires)

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

    def record_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Remember a failed wave on the execution (once)."""
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": EXEC_SK},
                UpdateExpression="SET failedWaves = list_append(failedWaves, :w)",
                ConditionExpression="NOT contains(failedWaves, :wid)",
                ExpressionAttributeValues={":w": [wave_id], ":wid": wave_id},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    # ---- waves ---------------------------------------------------------------------------------

    def _conditional(
        self, pk: str, sk: str, update: _Update, from_: Iterable[str], to: str, key: str,
        decided_by: str | None = None,
    ) -> Outcome:
        froms = list(from_)
        status = update.name("status")
        # only a move from one of `froms` writes: a redelivery of `key` after the write changes nothing (it
        # would set the transition's attributes again: a second launchStartedAt, jobsDone back to 0) and is
        # recognised from the item DynamoDB returns with the failed condition
        condition = f"attribute_exists(pk) AND {status} IN ({', '.join(update.value(s) for s in froms)})"
        expression = update.expression()
        if decided_by is not None:
            return self._decided({"Update": {
                "TableName": self.table_name, "Key": {"pk": pk, "sk": sk}, "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": update.names, "ExpressionAttributeValues": update.values,
            }}, event_id=decided_by, to=to, key=key)
        try:
            self._table.update_item(
                Key={"pk": pk, "sk": sk},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            item = exc.response.get("Item") or {}
            if _string(item.get("status")) == to and _string(item.get("lastKey")) == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def _decided(self, *writes: dict[str, Any], event_id: str, to: str, key: str,
                 extra: Iterable[dict[str, Any]] = ()) -> Outcome:
        """An operator command's state change (`writes`, the first one the item that moves to `to`), in one
        transaction with the record that the command event `event_id` was ACCEPTED. Only one decision is
        ever recorded per event: a command refused before, or already accepted, changes nothing here. A
        redelivery that finds the item as this command left it is a REPLAY (its follow-ups may be redone)."""
        expires = self._expires_at()
        decision = {"Put": {
            "TableName": self.table_name,
            "Item": _dynamo({"pk": decision_pk(event_id), "sk": DECISION_SK, "kind": "DECISION",
                             "decision": ACCEPTED, "at": self.now(), "expiresAt": expires}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }}
        try:
            self._client.transact_write_items(TransactItems=[*writes, *extra, decision])
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            target = writes[0]["Update"]["Key"]
            item = self._table.get_item(Key=dict(target), ConsistentRead=True).get("Item") or {}
            if item.get("status") == to and item.get("lastKey") == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def _guarded_update(self, key: Mapping[str, str], update: _Update, condition: str) -> bool:
        """UpdateItem `update` on `key` while `condition` (built with `update`'s placeholders) holds.
        False when it does not hold; any other error is raised."""
        expression = update.expression()
        try:
            self._table.update_item(Key=dict(key), UpdateExpression=expression, ConditionExpression=condition,
                                    ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def transition_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        sets: Mapping[str, Any] | None = None,
        adds: Mapping[str, Any] | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Move a wave to `to` if it is in one of `from_` (terminal states go through `finish_wave`).
        `decided_by`: the operator command event whose acceptance this is (see `_decided`)."""
        from_, to = check_wave_transition(from_, to)
        if to in TERMINAL_WAVE:
            raise LedgerError("terminal wave states are written by finish_wave")
        update = _Update(sets={"status": to, "lastKey": key, **(sets or {})}, adds=dict(adds or {}))
        return self._conditional(exec_pk(execution_id), wave_sk(wave_id), update, from_, to, key, decided_by)

    def finish_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        sets: Mapping[str, Any] | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Move a wave to a terminal state and count it on the execution, in one transaction."""
        from_, to = check_wave_transition(from_, to)
        if to not in TERMINAL_WAVE:
            raise LedgerError(f"{to} is not terminal")
        return self.move_wave(execution_id, wave_id, from_=from_, to=to, key=key, count=1,
                              sets={"endedAt": self.now(), **(sets or {})}, decided_by=decided_by)

    def release(self, execution_id: str, wave_id: str, *, released_by: str) -> int | None:
        """Count one met dependency of `wave_id`. Returns the remaining count, or None when this
        dependency was already counted (a duplicate) or the wave is no longer PENDING."""
        try:
            response = self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                UpdateExpression="ADD remaining :minus, releasedBy :by",
                ConditionExpression="#s = :pending AND NOT contains(releasedBy, :dep)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":minus": -1, ":by": {released_by}, ":dep": released_by,
                                           ":pending": "PENDING"},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return int(response["Attributes"]["remaining"])

    def release_last(self, execution_id: str, wave_id: str, *, released_by: str, key: str,
                     sets: Mapping[str, Any]) -> bool:
        """Count `released_by` as the *last* met dependency of `wave_id` and make it READY, in one write:
        PENDING with one dependency left, not yet counted -> READY. False when that does not hold (more
        dependencies left, a duplicate, or no longer PENDING): count it with `release` then."""
        check_wave_transition([WaveStatus.PENDING], WaveStatus.READY)
        update = _Update(sets={"status": "READY", "lastKey": key, "remaining": 0, **sets},
                         adds={"releasedBy": {released_by}})
        status, remaining, released = update.name("status"), update.name("remaining"), update.name("releasedBy")
        condition = (f"{status} = {update.value('PENDING')} AND {remaining} = {update.value(1)} "
                     f"AND NOT contains({released}, {update.value(released_by)})")
        return self._guarded_update({"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)}, update, condition)

    def record_job_done(
        self, execution_id: str, wave_id: str, *, job_id: str, servers: Mapping[str, Mapping[str, Any]],
        key: str,
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Record a finished DRS job of a wave once; returns the wave after the write.

        `servers`: `{sourceServerId: {launchStatus, recoveryInstanceId, reason}}`. While the job is not
        COMPLETED on the wave, its servers' results are written to their items (`record_server_results`);
        then one conditional write marks the job COMPLETED and counts it and its launched and failed servers
        on the wave. A crash in between is redone by the redelivery; a redelivery after the job is COMPLETED
        writes nothing (REPLAY when it is the event that completed it, else REJECTED)."""
        wave = self.get_wave(execution_id, wave_id)
        job = (wave or {}).get("jobs", {}).get(job_id)
        if wave is not None and job is not None and job.get("status") != "COMPLETED":
            self.record_server_results(execution_id, wave_id, servers, attempt=int(wave.get("attempt", 1)),
                                       job_id=job_id)
        statuses = [result.get("launchStatus") for result in servers.values()]
        update = _Update(sets={f"jobs.{job_id}.status": "COMPLETED", f"jobs.{job_id}.doneKey": key,
                               f"jobs.{job_id}.completedAt": self.now()},
                         adds={"jobsDone": 1, "serversLaunched": statuses.count("LAUNCHED"),
                               "serversFailed": statuses.count("FAILED")})
        job_status = update.name(f"jobs.{job_id}.status")
        expression = update.expression()
        condition = f"attribute_exists({job_status}) AND {job_status} <> {update.value('COMPLETED')}"
        try:
            response = self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            wave = self.get_wave(execution_id, wave_id)
            job = (wave or {}).get("jobs", {}).get(job_id, {})
            if job.get("status") == "COMPLETED" and job.get("doneKey") == key:
                return Outcome.REPLAY, wave
            return Outcome.REJECTED, wave
        return Outcome.WON, _plain(response["Attributes"])

    def record_server_results(self, execution_id: str, wave_id: str, results: Mapping[str, Mapping[str, Any]], *,
                              attempt: int, job_id: str | None = None) -> None:
        """Write how servers of a wave ended (`{sourceServerId: {launchStatus, recoveryInstanceId, reason}}`)
        to their items, with `attempt` and `job_id`; a recovery instance id or reason the result lacks is
        left as it was. Idempotent (the same results write the same items; items already so are not
        written again). The caller makes sure the write is due (a job not yet COMPLETED, a wave still
        READY). LedgerError names servers that are not in the wave (nothing is written then)."""
        if not results:
            return
        keys = [{"pk": exec_pk(execution_id), "sk": server_sk(wave_id, server_id)} for server_id in results]
        current = {str(item["sourceServerId"]): item for item in self._batch_get(keys)}
        unknown = sorted(set(results) - set(current))
        if unknown:
            raise LedgerError(f"{len(unknown)} server(s) not in wave {wave_id}: {', '.join(unknown[:5])}")
        items = []
        for server_id, result in results.items():
            item = {**current[server_id], "launchStatus": result.get("launchStatus"), "attempt": attempt}
            if job_id is not None:
                item["jobId"] = job_id
            for name in ("recoveryInstanceId", "reason"):
                if result.get(name):
                    item[name] = result[name]
            if item != current[server_id]:
                items.append(item)
        self._batch_put(items)

    def reset_servers(self, execution_id: str, wave_id: str, server_ids: Iterable[str], *, attempt: int) -> None:
        """Servers a RetryWave launches again in wave attempt `attempt`: NOT_STARTED, without the earlier
        attempt's job, recovery instance and reason (the report never shows them as the new attempt's). How
        each had ended is appended to its `history` (`{attempt, launchStatus, jobId, recoveryInstanceId,
        reason}`: the state it had at the end of attempt `attempt - 1`), from which `wave_detail` tells the
        previous attempts. Idempotent: a server written for `attempt` already is left alone. Runs before the
        retried wave is released, so no job of the wave writes meanwhile."""
        keys = [{"pk": exec_pk(execution_id), "sk": server_sk(wave_id, server_id)} for server_id in server_ids]
        items = []
        for item in self._batch_get(keys):
            if int(item.get("attempt", 1)) >= attempt:
                continue
            ended = {"attempt": attempt - 1, "launchStatus": item.get("launchStatus", "NOT_STARTED"),
                     **{name: item[name] for name in ATTEMPT_RESULT if item.get(name)}}
            for name in ATTEMPT_RESULT:
                item.pop(name, None)
            items.append({**item, "launchStatus": "NOT_STARTED", "attempt": attempt,
                          "history": [*item.get("history", []), ended]})
        self._batch_put(items)

    def add_job(self, execution_id: str, wave_id: str, *, job_id: str, launch_key: str,
                server_ids: list[str]) -> None:
        """Note a started DRS job on its wave (idempotent). Its servers are those of its launch claim
        (`list_launches`); each server's jobId and launch status are written when the job ends."""
        update = _Update(sets={f"jobs.{job_id}": {"launchKey": launch_key, "serverCount": len(server_ids),
                                                  "status": "STARTED", "startedAt": self.now()}})
        job = update.name(f"jobs.{job_id}")
        expression = update.expression()
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_not_exists({job})",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def update_wave(self, execution_id: str, wave_id: str, sets: Mapping[str, Any]) -> None:
        check_no_status(sets)
        update = _Update(sets=dict(sets))
        expression = update.expression()
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values,
        )

    def append_to_wave(self, execution_id: str, wave_id: str, attribute: str, values: list[Any]) -> None:
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
            UpdateExpression="SET #a = list_append(if_not_exists(#a, :empty), :vals)",
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={":vals": values, ":empty": []},
        )

    # ---- operator decisions (approval, retry, skip) ---------------------------------------------

    def move_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        sets: Mapping[str, Any] | None = None,
        removes: Iterable[str] = (),
        adds: Mapping[str, Any] | None = None,
        count: int = 0,
        where: Mapping[str, Any] | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Any wave transition an operator decision makes, terminal or not, in one transaction with
        `count` added to the execution's terminalCount (-1 when a terminal wave is reopened, +1 when a
        wave is closed, 0 between two terminal or two open states). `where`: attributes that must
        also hold (e.g. `skippedFor`). A redelivery of `key` after the write is a REPLAY.
        `decided_by`: the operator command event whose acceptance this is (see `_decided`)."""
        from_, to = check_wave_transition(from_, to)
        froms = list(from_)
        update = _Update(sets={"status": to, "lastKey": key, **(sets or {})}, adds=dict(adds or {}))
        status = update.name("status")
        condition = f"{status} IN ({', '.join(update.value(s) for s in froms)})"
        for attribute, value in (where or {}).items():
            condition += f" AND {update.name(attribute)} = {update.value(value)}"
        expression = update.expression()
        removed = [update.name(path) for path in removes]
        if removed:
            expression += " REMOVE " + ", ".join(removed)
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self.table_name,
            "Key": {"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": update.names,
            "ExpressionAttributeValues": update.values,
        }}]
        if count:
            items.append({"Update": {
                "TableName": self.table_name,
                "Key": {"pk": exec_pk(execution_id), "sk": EXEC_SK},
                "UpdateExpression": "ADD terminalCount :n",
                "ExpressionAttributeValues": {":n": count},
            }})
        if decided_by is not None:
            return self._decided(*items, event_id=decided_by, to=to, key=key)
        try:
            if len(items) == 1:
                self._table.update_item(Key=items[0]["Update"]["Key"], UpdateExpression=expression,
                                        ConditionExpression=condition, ExpressionAttributeNames=update.names,
                                        ExpressionAttributeValues=update.values)
            else:
                self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            wave = self.get_wave(execution_id, wave_id)
            if wave and wave.get("status") == to and wave.get("lastKey") == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def reopen_execution(self, execution_id: str, *, from_: Iterable[str], key: str,
                         where: Mapping[str, Any] | None = None) -> Outcome:
        """A stopped or failed execution runs again (RetryWave, SkipWave of the wave that stopped it):
        back to RUNNING, its stop and end forgotten, and nothing of it left to expire."""
        from_, _ = check_execution_transition(from_, ExecutionStatus.RUNNING)
        froms = list(from_)
        update = _Update(sets={"status": "RUNNING", "lastKey": key})
        status, last_key = update.name("status"), update.name("lastKey")
        condition = f"{status} IN ({', '.join(update.value(s) for s in froms)})"
        for attribute, value in (where or {}).items():
            condition += f" AND {update.name(attribute)} = {update.value(value)}"
        expression = update.expression() + " REMOVE " + ", ".join(
            update.name(a) for a in ("endedAt", "expiresAt", "stopReason", "stoppedBy"))
        replay = f"{status} = {update.value('RUNNING')} AND {last_key} = {update.value(key)}"
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": EXEC_SK}, UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND (({condition}) OR ({replay}))",
                ExpressionAttributeNames=update.names, ExpressionAttributeValues=update.values,
                ReturnValues="UPDATED_OLD")
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return Outcome.REJECTED
            raise
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": exec_pk(execution_id)},
                                  "ProjectionExpression": "pk, sk, expiresAt", "ConsistentRead": True}
        bulk_expires = False
        while True:
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                if "expiresAt" not in item:
                    continue
                if str(item["sk"]).startswith(BULK_PREFIXES):
                    bulk_expires = True
                    continue
                self._table.update_item(Key={"pk": item["pk"], "sk": item["sk"]}, UpdateExpression="REMOVE expiresAt")
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if bulk_expires:
            self._set_bulk_expiry(execution_id, None)
        return Outcome.WON

    def forget_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Take a wave off the execution's failedWaves (it is retried or skipped by an operator)."""
        execution = self.get_execution(execution_id) or {}
        failed = list(execution.get("failedWaves", []))
        if wave_id not in failed:
            return
        index = failed.index(wave_id)
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": EXEC_SK},
                UpdateExpression=f"REMOVE failedWaves[{index}]",
                ConditionExpression=f"failedWaves[{index}] = :w",
                ExpressionAttributeValues={":w": wave_id},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    # ---- launch claims -------------------------------------------------------------------------

    def claim_launch(self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, launch_key: str,
                     server_ids: list[str], lease: tuple[str, int] | None = None) -> dict[str, Any] | None:
        """Claim one DRS launch before calling StartRecovery. Returns None when this call made the
        claim, or the existing claim (which may already hold the job id) when one was there. `lease`
        (token, seconds): the new claim is made already leased to this caller (see `lease_launch`), in
        the same write."""
        now = self._clock.now()
        item: dict[str, Any] = {
            "pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk), "kind": "LAUNCH",
            "launchKey": launch_key, "waveId": wave_id, "attempt": attempt, "chunk": chunk,
            "servers": server_ids, "status": "CLAIMED", "claimedAt": iso(now),
        }
        if lease is not None:
            item.update({"status": "STARTING", "leaseToken": lease[0], "mayHaveStarted": True, "calls": 1,
                         "leaseUntil": iso(now + timedelta(seconds=lease[1])), "startingAt": iso(now)})
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self._table.get_item(
                Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True).get("Item")
            return _plain(existing) if existing else {}
        return None

    def complete_launch(self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, job_id: str | None,
                        status: str, reason: str | None = None) -> None:
        sets: dict[str, Any] = {"status": status, "endedAt": self.now()}
        if job_id:
            sets["jobId"] = job_id
        if reason:
            sets["reason"] = reason
        update = _Update(sets=sets)
        expression = update.expression() + " REMOVE leaseToken, leaseUntil"
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)},
            UpdateExpression=expression,
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values,
        )

    def lease_launch(self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, token: str,
                     seconds: int) -> dict[str, Any] | None:
        """Take the right to call StartRecovery for a claimed launch (see `_take_lease`). None when this
        call holds it now; else the claim as it is (with its `jobId` when the launch has its job, or held
        by another caller until its `leaseUntil`)."""
        return self._take_lease({"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)},
                                token=token, seconds=seconds)

    def end_launch_lease(self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, token: str,
                         status: str, sets: Mapping[str, Any] | None = None) -> bool:
        """Give the lease back after a call that started no job (throttled, no capacity): `status` (CLAIMED
        or PARKED) and `sets`, only while `token` still holds it. `mayHaveStarted` stays: whoever comes next
        looks for a job by tag first."""
        return self._end_lease({"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)},
                               token=token, status=status, sets=sets)

    def _take_lease(self, key: Mapping[str, str], *, token: str, seconds: int) -> dict[str, Any] | None:
        """STARTING with `token` until now + `seconds`, unless the claim has ended (STARTED, FAILED) or another
        caller's lease is still running (a NOT_STARTED claim, cancelled by a stop before any job, may start when
        its wave is reopened). Written before the DRS call it guards, with `mayHaveStarted` and the
        first `startingAt`: a crash during the call leaves the claim saying that a job may exist, so the next
        caller looks for it (DescribeJobs) before it may take the lease again. `seconds` must outlast the
        call (the function's timeout), so two callers never call DRS for the same claim at once."""
        now = self._clock.now()
        values = {":starting": "STARTING", ":started": "STARTED", ":failed": "FAILED", ":token": token,
                  ":until": iso(now + timedelta(seconds=seconds)), ":now": iso(now), ":yes": True, ":one": 1}
        try:
            self._table.update_item(
                Key=dict(key),
                UpdateExpression="SET #s = :starting, leaseToken = :token, leaseUntil = :until, mayHaveStarted = :yes, "
                                 "startingAt = if_not_exists(startingAt, :now) ADD calls :one",
                ConditionExpression="attribute_exists(pk) AND NOT (#s IN (:started, :failed)) "
                                    "AND (#s <> :starting OR attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            item = self._table.get_item(Key=dict(key), ConsistentRead=True).get("Item")
            return _plain(item) if item else {}
        return None

    def _end_lease(self, key: Mapping[str, str], *, token: str, status: str,
                   sets: Mapping[str, Any] | None = None) -> bool:
        update = _Update(sets={"status": status, **(sets or {})})
        expression = update.expression() + " REMOVE leaseToken, leaseUntil"
        values = {**update.values, ":token": token}
        try:
            self._table.update_item(Key=dict(key), UpdateExpression=expression,
                                    ConditionExpression="leaseToken = :token",
                                    ExpressionAttributeNames=update.names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    # ---- scripts (SSM Run Command) -----------------------------------------------------------------
    #
    # One item per script of a wave attempt (`script_sk`), one index item per SSM command (`command_pk`).
    # A script is claimed before anything is sent (so a duplicate event never sends twice), and every
    # step of its life is a conditional write on its `status` and `tryNumber` (1, then +1 per retry).

    def get_script(self, execution_id: str, sk: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": exec_pk(execution_id), "sk": sk}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def list_scripts(self, execution_id: str, wave_id: str, wave_attempt: int | None = None) -> list[dict[str, Any]]:
        """The script items of a wave (of one wave attempt), each ended one with its `instances` (the
        per-instance results, from their own items: a script may run on thousands of instances)."""
        suffix = f"{wave_id}#" + (f"{wave_attempt:03d}#" if wave_attempt is not None else "")
        scripts = self._query(execution_id, f"SCRIPT#{suffix}")
        if any(item.get("instanceCount") for item in scripts):
            results = self._invocations(execution_id, f"{INVOCATION_PREFIX}{suffix}")
            for item in scripts:
                if "instanceCount" in item:
                    item["instances"] = results.get(invocation_prefix(str(item["sk"])), [])
        return scripts

    def _invocations(self, execution_id: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
        """Per-instance script results under `prefix`, by their script's `invocation_prefix`, in instance order."""
        found: dict[str, list[dict[str, Any]]] = {}
        for item in self._query(execution_id, prefix):
            sk = str(item["sk"])
            found.setdefault(sk[: sk.rindex("#") + 1], []).append(
                {name: value for name, value in item.items() if name not in _INVOCATION_KEYS})
        return found

    def claim_script(self, execution_id: str, sk: str, *, key: str,
                     record: Mapping[str, Any]) -> tuple[Outcome, dict[str, Any] | None]:
        """Create the script item (status SENDING, try 1) unless it exists. Returns WON, REPLAY (the
        same key claimed it: the caller redoes what follows) or REJECTED, with the existing item."""
        item = {"pk": exec_pk(execution_id), "sk": sk, "kind": "SCRIPT", **_dynamo(record), "status": "SENDING",
                "tryNumber": 1, "sendKey": key, "claimedAt": self.now(), "commandIds": [], "history": []}
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_script(execution_id, sk)
            if existing and existing.get("sendKey") == key and int(existing.get("tryNumber", 0)) == 1:
                return Outcome.REPLAY, existing
            return Outcome.REJECTED, existing
        return Outcome.WON, _plain(item)

    def claim_retry(self, execution_id: str, sk: str, *, try_number: int,
                    key: str) -> tuple[Outcome, dict[str, Any] | None]:
        """RETRY_WAIT (try n-1) -> SENDING (try n), once."""
        try:
            response = self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": sk},
                UpdateExpression="SET #s = :sending, tryNumber = :n, sendKey = :k, claimedAt = :now, "
                                 "commandIds = :empty, expected = :zero, doneCount = :zero REMOVE doneInstances",
                ConditionExpression="#s = :wait AND tryNumber = :previous",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sending": "SENDING", ":wait": "RETRY_WAIT", ":n": try_number,
                                           ":previous": try_number - 1, ":k": key, ":now": self.now(),
                                           ":empty": [], ":zero": 0},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_script(execution_id, sk)
            if existing and existing.get("sendKey") == key and int(existing.get("tryNumber", 0)) == try_number:
                return Outcome.REPLAY, existing
            return Outcome.REJECTED, existing
        return Outcome.WON, _plain(response["Attributes"])

    def rekey_send(self, execution_id: str, sk: str, *, try_number: int, from_key: str, to_key: str,
                   sets: Mapping[str, Any] | None = None) -> tuple[Outcome, dict[str, Any] | None]:
        """Hand a try that is still SENDING from the holder of `from_key` to `to_key` (a resend deferred to a
        scheduler tick, then that tick's claim), once. REPLAY when the item is already held by `to_key`."""
        update = _Update(sets={"sendKey": to_key, **_dynamo(dict(sets or {}))})
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (f"{status} = {update.value('SENDING')} AND {send_key} = {update.value(from_key)} AND "
                     f"{try_name} = {update.value(try_number)}")
        try:
            response = self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": sk}, UpdateExpression=update.expression(),
                ConditionExpression=condition, ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_script(execution_id, sk)
            if existing and existing.get("status") == "SENDING" and existing.get("sendKey") == to_key \
                    and int(existing.get("tryNumber", 0)) == try_number:
                return Outcome.REPLAY, existing
            return Outcome.REJECTED, existing
        return Outcome.WON, _plain(response["Attributes"])

    def record_sent(self, execution_id: str, sk: str, *, try_number: int, key: str, command_ids: list[str],
                    expected: int, sets: Mapping[str, Any], index: Mapping[str, Any]) -> bool:
        """SENDING -> RUNNING with the command ids (and an index item per command, so an SSM status
        event finds its script). Returns False when the send was already recorded or superseded."""
        expires = self._expires_at()
        with self._table.batch_writer() as batch:
            for command_id in command_ids:
                batch.put_item(Item={"pk": command_pk(command_id), "sk": COMMAND_SK, "kind": "COMMAND",
                                     "executionId": execution_id, "scriptSk": sk, "tryNumber": try_number,
                                     "expected": expected, "expiresAt": expires, **index})
        update = _Update(sets={"status": "RUNNING", "commandIds": command_ids, "expected": expected,
                               "doneCount": 0, "sentAt": self.now(), **_dynamo(sets)})
        status, send_key, try_name = update.name("status"), update.name("sendKey"), update.name("tryNumber")
        condition = (f"{status} = {update.value('SENDING')} AND {send_key} = {update.value(key)} AND "
                     f"{try_name} = {update.value(try_number)}")
        return self._guarded_update({"pk": exec_pk(execution_id), "sk": sk}, update, condition)

    # ---- decisions on events (orchestrator/steps/refusals.py) ----------------------------------------

    def record_refusal(self, event_id: str, detail_type: str, detail: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record that event `event_id` is REFUSED, with the event that says so (not yet announced), unless
        a decision on it is recorded already. Returns None when this is the decision, else the earlier
        one (REFUSED, or ACCEPTED: a late copy of a command that was carried out)."""
        expires = self._expires_at()
        try:
            self._table.put_item(
                Item={"pk": decision_pk(event_id), "sk": DECISION_SK, "kind": "DECISION", "decision": REFUSED,
                      "detailType": detail_type, "detail": json.dumps(detail, separators=(",", ":")),
                      "announced": False, "at": self.now(), "expiresAt": expires},
                ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return self.get_decision(event_id) or {}
        return None

    def get_decision(self, event_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": decision_pk(event_id), "sk": DECISION_SK},
                                    ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def mark_refusal_announced(self, event_id: str) -> None:
        self._table.update_item(Key={"pk": decision_pk(event_id), "sk": DECISION_SK},
                                UpdateExpression="SET announced = :yes", ExpressionAttributeValues={":yes": True})

    def count_handler_failure(self, event_id: str, function: str, error: str) -> int:
        """Count one failed handling of event `event_id` by `function` (every delivery of an event carries
        its id, so Lambda's retries and EventBridge's duplicates count together). Returns the failures so
        far, this one included."""
        response = self._table.update_item(
            Key={"pk": failure_pk(event_id), "sk": function},
            UpdateExpression="ADD attempts :one SET kind = :kind, lastError = :error, lastAt = :at, "
                             "expiresAt = :expires",
            ExpressionAttributeValues={":one": 1, ":kind": "HANDLER_FAILURE", ":error": error[:1000],
                                       ":at": self.now(), ":expires": self._expires_at()},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["attempts"])

    def command_index(self, command_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"pk": command_pk(command_id), "sk": COMMAND_SK},
                                    ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def record_invocation_done(self, execution_id: str, sk: str, *, try_number: int, instance_id: str) -> int | None:
        """Count one finished invocation of the running try once. Returns the count of finished
        invocations, or None when it was already counted or the try is no longer running."""
        try:
            response = self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": sk},
                UpdateExpression="ADD doneCount :one, doneInstances :set",
                ConditionExpression="#s = :running AND tryNumber = :n AND NOT contains(doneInstances, :iid)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":one": 1, ":set": {instance_id}, ":iid": instance_id,
                                           ":running": "RUNNING", ":n": try_number},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return int(response["Attributes"]["doneCount"])

    def script_retry_wait(self, execution_id: str, sk: str, *, try_number: int, result: Mapping[str, Any],
                          from_: Iterable[str] = ("RUNNING",)) -> Outcome:
        """RUNNING (or SENDING, when SendCommand was refused) try n -> RETRY_WAIT, keeping the failed
        try's result in `history`."""
        froms = {f":from{i}": status for i, status in enumerate(from_)}
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": sk},
                UpdateExpression="SET #s = :wait, history = list_append(if_not_exists(history, :empty), :r), "
                                 "lastResult = :result",
                ConditionExpression=f"#s IN ({', '.join(froms)}) AND tryNumber = :n",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":wait": "RETRY_WAIT", ":n": try_number, **froms,
                                           ":r": [_dynamo(result)], ":result": _dynamo(result), ":empty": []},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_script(execution_id, sk) or {}
            if existing.get("status") == "RETRY_WAIT" and int(existing.get("tryNumber", 0)) == try_number:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def finish_script(self, execution_id: str, wave_id: str, sk: str, *, try_number: int, from_: Iterable[str],
                      status: str, sets: Mapping[str, Any], summary: Mapping[str, Any],
                      warnings: list[str], key: str) -> Outcome:
        """End a script and append its summary (and warnings) to the wave, in one transaction, once.
        REPLAY when the same event (`key`) ended it already.

        The per-instance results (`instances` of `sets`, one a dict with `instanceId`) go to items of their
        own first, while the script is still in `from_` at `try_number` (a crash after them is redone by
        the redelivery); the script item and the wave's summary keep `instanceCount` instead (`list_scripts`
        and `wave_detail` give them back), so neither grows with the number of instances."""
        froms = list(from_)
        instances = list(sets.get("instances") or [])
        sets = {**{k: v for k, v in sets.items() if k != "instances"}, "instanceCount": len(instances)}
        summary = {**{k: v for k, v in summary.items() if k != "instances"}, "instanceCount": len(instances)}
        if instances:
            current = self.get_script(execution_id, sk) or {}
            if current.get("status") in froms and int(current.get("tryNumber", 0)) == try_number:
                prefix = invocation_prefix(sk)
                self._batch_put([{"pk": exec_pk(execution_id), "sk": f"{prefix}{instance['instanceId']}",
                                  "kind": "INVOCATION", "tryNumber": try_number, **instance} for instance in instances])
        update = _Update(sets={"status": status, "endedAt": self.now(), "doneKey": key, **_dynamo(sets)})
        status_name, try_name = update.name("status"), update.name("tryNumber")
        condition = (f"{status_name} IN ({', '.join(update.value(s) for s in froms)}) AND "
                     f"{try_name} = {update.value(try_number)}")
        expression = update.expression()
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": sk},
                    "UpdateExpression": expression,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                }},
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                    "UpdateExpression": "SET scripts = list_append(if_not_exists(scripts, :empty), :s), "
                                        "warnings = list_append(if_not_exists(warnings, :empty), :w)",
                    "ExpressionAttributeValues": {":s": [_dynamo(summary)], ":w": list(warnings), ":empty": []},
                }},
            ])
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self.get_script(execution_id, sk) or {}
            if existing.get("status") == status and int(existing.get("tryNumber", 0)) == try_number \
                    and existing.get("doneKey") == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def mark_job_reported(self, execution_id: str, wave_id: str, job_id: str) -> bool:
        """Note (once) that a job's end was reported: True for the first caller only."""
        update = _Update(sets={f"jobs.{job_id}.reportedAt": self.now()})
        job = update.name(f"jobs.{job_id}")
        reported = update.name(f"jobs.{job_id}.reportedAt")
        return self._guarded_update({"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)}, update,
                                    f"attribute_exists({job}) AND attribute_not_exists({reported})")

    def note_wave_if(self, execution_id: str, wave_id: str, *, status: str, sets: Mapping[str, Any]) -> bool:
        """Write `sets` on the wave only while it is in `status` (False when it is not)."""
        check_no_status(sets)
        update = _Update(sets=dict(sets))
        status_name = update.name("status")
        return self._guarded_update({"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)}, update,
                                    f"{status_name} = {update.value(status)}")

    # ---- DRS capacity shared by every execution (see orchestrator/steps/capacity.py) -----------------

    def capacity_item(self) -> dict[str, Any]:
        item = self._table.get_item(Key={"pk": CAPACITY_PK, "sk": CAPACITY_SK}, ConsistentRead=True).get("Item")
        return _plain(item) if item else {}

    def capacity_admit(self, holder: str, value: Mapping[str, Any], *, servers: int, max_jobs: int,
                       max_servers: int, behind_queue: bool) -> str:
        """Count one job of `servers` servers in the shared DRS capacity if it fits under the quotas.
        Returns ADMITTED, HELD (this holder was admitted before) or FULL. `behind_queue`: a fresh
        launch is not admitted while launches are parked (first come, first served)."""
        condition = ("(attribute_not_exists(activeJobs) OR activeJobs < :maxJobs) AND "
                     "(attribute_not_exists(activeServers) OR activeServers <= :room) AND attribute_not_exists(#h)")
        values: dict[str, Any] = {":one": 1, ":n": servers, ":holder": dict(value), ":maxJobs": max_jobs,
                                  ":room": max_servers - servers}
        if behind_queue:
            condition += " AND (attribute_not_exists(queued) OR queued <= :zero)"
            values[":zero"] = 0
        try:
            self._table.update_item(
                Key={"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                UpdateExpression="ADD activeJobs :one, activeServers :n SET #h = :holder",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#h": holder},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            return "HELD" if holder in self.capacity_item() else "FULL"
        return "ADMITTED"

    def capacity_reconcile_due(self, *, seconds: int) -> bool:
        """True for one caller per `seconds`: that caller reconciles the capacity record with DRS now."""
        now = self._clock.now()
        try:
            self._table.update_item(
                Key={"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                UpdateExpression="SET reconciledAt = :now",
                ConditionExpression="attribute_not_exists(reconciledAt) OR reconciledAt <= :due",
                ExpressionAttributeValues={":now": iso(now), ":due": iso(now - timedelta(seconds=seconds))},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def capacity_release(self, holder: str, *, unstarted_only: bool = False) -> dict[str, Any] | None:
        """Give back what `holder` was admitted with (once). Returns the capacity item after the write, or
        None when the holder held nothing (already released). `unstarted_only`: only while no job id is
        noted on it (a job another call started with it still runs)."""
        for _ in range(5):
            item = self.capacity_item()
            held = item.get(holder)
            if not isinstance(held, dict) or (unstarted_only and held.get("jobId")):
                return None
            servers = int(held.get("servers", 0))
            try:
                response = self._table.update_item(
                    Key={"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                    UpdateExpression="ADD activeJobs :minus, activeServers :n REMOVE #h",
                    ConditionExpression="#h.servers = :servers"
                    + (" AND attribute_not_exists(#h.jobId)" if unstarted_only else ""),
                    ExpressionAttributeNames={"#h": holder},
                    ExpressionAttributeValues={":minus": -1, ":n": -servers, ":servers": servers},
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if not _is_conditional_failure(exc):
                    raise
                continue
            after: dict[str, Any] = _plain(response.get("Attributes", {}))
            return after
        return None

    def capacity_note_job(self, holder: str, job_id: str) -> None:
        try:
            self._table.update_item(
                Key={"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                UpdateExpression="SET #h.jobId = :job",
                ConditionExpression="attribute_exists(#h)",
                ExpressionAttributeNames={"#h": holder},
                ExpressionAttributeValues={":job": job_id},
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise

    def park(self, key: str, chunk: Mapping[str, Any]) -> bool:
        """Queue a launch that does not fit now (once per key). False when it was already parked."""
        try:
            self._client.transact_write_items(TransactItems=[
                {"Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": CAPACITY_PK, "sk": f"{QUEUE_PREFIX}{key}", "kind": "PARKED",
                        "launchKey": key, "enqueuedAt": self.now(), "chunk": json.dumps(dict(chunk)),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }},
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                    "UpdateExpression": "ADD queued :one",
                    "ExpressionAttributeValues": {":one": 1},
                }},
            ])
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def unpark(self, key: str) -> bool:
        try:
            self._client.transact_write_items(TransactItems=[
                {"Delete": {
                    "TableName": self.table_name,
                    "Key": {"pk": CAPACITY_PK, "sk": f"{QUEUE_PREFIX}{key}"},
                    "ConditionExpression": "attribute_exists(pk)",
                }},
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": CAPACITY_PK, "sk": CAPACITY_SK},
                    "UpdateExpression": "ADD queued :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }},
            ])
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def parked(self) -> list[dict[str, Any]]:
        """Parked launches, oldest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": CAPACITY_PK, ":prefix": QUEUE_PREFIX},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda i: (i["enqueuedAt"], i["sk"]))

    # ---- terminations (rollback, drill time to live, clean-up) ----------------------------------

    def claim_termination(self, execution_id: str, key: str, *, instance_ids: list[str],
                          sets: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Claim one TerminateRecoveryInstances call for the batch `instance_ids` (its `key`: a digest of the
        batch) before it is made. None when this call made the claim, else the existing claim (with the
        `jobId` of the terminate job once known). Its `status` and lease follow a launch claim's: CLAIMED,
        STARTING (a call may be under way or may have created a job), STARTED."""
        item = _dynamo({"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}",
                        "kind": "TERMINATE_CLAIM", "terminationKey": key, "instances": list(instance_ids),
                        "status": "CLAIMED", "claimedAt": self.now(), "expiresAt": self._expires_at(), **(sets or {})})
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            existing = self._table.get_item(Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True).get("Item")
            return _plain(existing) if existing else {}
        return None

    def lease_termination(self, execution_id: str, key: str, *, token: str, seconds: int) -> dict[str, Any] | None:
        """Take the right to call TerminateRecoveryInstances for a claimed batch (as `lease_launch`)."""
        return self._take_lease({"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
                                token=token, seconds=seconds)

    def end_termination_lease(self, execution_id: str, key: str, *, token: str, status: str = "CLAIMED") -> bool:
        return self._end_lease({"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
                               token=token, status=status)

    def complete_termination(self, execution_id: str, key: str, *, job_id: str) -> None:
        """The batch's terminate job is known: STARTED with its id."""
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
            UpdateExpression="SET #s = :started, jobId = :job, startedAt = :now REMOVE leaseToken, leaseUntil",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":started": "STARTED", ":job": job_id, ":now": self.now()},
        )

    def reclaim_termination(self, execution_id: str, key: str, *, failed_job_id: str) -> bool:
        """The batch's terminate job ended with instances still running (it failed; settled): the claim goes
        back to CLAIMED, once (conditional on that job id), so the batch may be terminated again. What each
        job failed to terminate (`notTerminated`) stays."""
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
                UpdateExpression="SET #s = :claimed, #failed = list_append(if_not_exists(#failed, :none), :failed), "
                                 "#claimed = :now REMOVE #job, #may, #starting, #settled, #r, #a, #recorded",
                ConditionExpression="#job = :job",
                ExpressionAttributeNames={"#s": "status", "#failed": "failedJobIds", "#claimed": "claimedAt",
                                          "#job": "jobId", "#may": "mayHaveStarted", "#starting": "startingAt",
                                          "#settled": "settledAt", "#r": "recordSk", "#a": "announced",
                                          "#recorded": "recordedAt"},
                ExpressionAttributeValues={":claimed": "CLAIMED", ":failed": [failed_job_id], ":none": [],
                                           ":now": self.now(), ":job": failed_job_id},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def note_termination_recorded(self, execution_id: str, key: str, *, record_sk: str = "",
                                  announced: bool = False) -> None:
        """The batch's termination is in the record `record_sk` (`record_termination`): later calls do not
        report it again, and its outcome is written there when its job ends. `announced`: what was asked
        was announced already (an operator's clean-up), so its end is not announced again."""
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
            UpdateExpression="SET #recorded = if_not_exists(#recorded, :now), #r = if_not_exists(#r, :r), #a = :a",
            ExpressionAttributeNames={"#recorded": "recordedAt", "#r": "recordSk", "#a": "announced"},
            ExpressionAttributeValues={":now": self.now(), ":r": record_sk, ":a": announced},
        )

    def settle_termination(self, execution_id: str, key: str, *, job_id: str, terminated: list[str],
                           not_terminated: list[dict[str, str]]) -> bool:
        """The batch's terminate job `job_id` has ended: note what it terminated and what not (appended to
        what earlier jobs of the batch failed to terminate). True for the first caller only."""
        try:
            self._table.update_item(
                Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_CLAIM_PREFIX}{key}"},
                UpdateExpression="SET #settled = :now, #t = :t, #nt = list_append(if_not_exists(#nt, :none), :nt)",
                ConditionExpression="#job = :job AND attribute_not_exists(#settled)",
                ExpressionAttributeNames={"#settled": "settledAt", "#t": "terminated", "#nt": "notTerminated",
                                          "#job": "jobId"},
                ExpressionAttributeValues={":now": self.now(), ":t": terminated, ":nt": not_terminated, ":none": [],
                                           ":job": job_id},
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return False
            raise
        return True

    def settle_termination_record(self, execution_id: str, record_sk: str, *, job_id: str, terminated: list[str],
                                  not_terminated: list[dict[str, str]]) -> dict[str, Any]:
        """Add a terminate job's outcome to the termination record that asked for it; returns the record."""
        response = self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"TERMINATE#{record_sk}"},
            UpdateExpression="SET #t = list_append(if_not_exists(#t, :none), :t), "
                             "#nt = list_append(if_not_exists(#nt, :none), :nt), "
                             "#jobs = list_append(if_not_exists(#jobs, :none), :job), #ended = :now",
            ExpressionAttributeNames={"#t": "terminated", "#nt": "notTerminated", "#jobs": "endedJobIds",
                                      "#ended": "endedAt"},
            ExpressionAttributeValues={":t": terminated, ":nt": not_terminated, ":none": [], ":job": [job_id],
                                       ":now": self.now()},
            ReturnValues="ALL_NEW",
        )
        return dict(_plain(response.get("Attributes", {})))

    def note_termination_deferred(self, execution_id: str, scope: str, *, restart: bool = False) -> str:
        """Count one deferral of a termination (`scope`: ROLLBACK#wave#attempt, TIME_TO_LIVE, CANCEL); returns
        when it was first deferred since it last made progress (`restart`: it made progress just now)."""
        first = ":now" if restart else "if_not_exists(firstAt, :now)"
        response = self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_WAIT_PREFIX}{scope}"},
            UpdateExpression=f"SET firstAt = {first}, lastAt = :now, expiresAt = :e, "
                             "#k = :kind ADD deferrals :one",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={":now": self.now(), ":one": 1, ":e": self._expires_at(),
                                       ":kind": "TERMINATE_WAIT"},
            ReturnValues="ALL_NEW",
        )
        return str(response["Attributes"]["firstAt"])

    def list_termination_claims(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, TERMINATION_CLAIM_PREFIX)

    def record_termination(self, execution_id: str, scope: str, sets: Mapping[str, Any]) -> None:
        update = _Update(sets=dict(sets))
        expression = update.expression()
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"TERMINATE#{scope}"},
            UpdateExpression=expression,
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values,
        )

    def list_terminations(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, "TERMINATE#")


BATCH_WRITE = 25  # BatchWriteItem: at most 25 items per call
BATCH_GET = 100  # BatchGetItem: at most 100 keys per call
BATCH_TRIES = 8  # calls per batch before its unprocessed items raise (backoff 0.05 s doubling, 6.35 s in all)
CAPACITY_PK = "CAPACITY"
CAPACITY_SK = "DRS"
QUEUE_PREFIX = "QUEUE#"
TERMINATION_CLAIM_PREFIX = "TERMJOB#"  # not under TERMINATE#: those are the records of what was terminated
TERMINATION_WAIT_PREFIX = "TERMWAIT#"


def _backoff(tries: int) -> float:
    """Seconds to wait before sending a batch's unprocessed items again (after `tries` calls)."""
    return 0.05 * 2.0 ** (tries - 1)


_SERVER_KEYS = frozenset({"pk", "sk", "kind", "waveId", "sourceServerId", "expiresAt", "history"})
ATTEMPT_RESULT = ("recoveryInstanceId", "jobId", "reason")  # what a server's launch in an attempt left on it
_INVOCATION_KEYS = frozenset({"pk", "sk", "kind", "tryNumber", "expiresAt"})


def _server_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """A server item as `wave_servers` gives it."""
    return {name: value for name, value in item.items() if name not in _SERVER_KEYS}


def _servers_at(items: list[dict[str, Any]], attempt: int) -> list[dict[str, Any]]:
    """How each server (of `items`, server items of one wave) had ended wave attempt `attempt`: the first
    state its history kept for that attempt or a later one (it was not launched again in between), else
    its current state."""
    servers = []
    for item in sorted(items, key=lambda i: str(i["sourceServerId"])):
        state = next((h for h in item.get("history", []) if int(h.get("attempt", 0)) >= attempt), item)
        servers.append({"sourceServerId": item["sourceServerId"],
                        "launchStatus": state.get("launchStatus", "NOT_STARTED"),
                        **{name: state[name] for name in ATTEMPT_RESULT if state.get(name)}})
    return servers
