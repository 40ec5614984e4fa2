"""The execution item (`#EXECUTION`: status, mode, counts, failed waves) and its frozen plan (`#PLAN`, its
own immutable item, so the execution item that every handler reads stays small however large the plan).

Statuses: CREATING (until its waves and servers are written), RUNNING, PAUSED, STOPPING, then COMPLETED,
FAILED or CANCELLED (`EXECUTION_FINAL`: its items expire `finished_ttl_days` later, when set); an operator may reopen a
stopped or failed one (`reopen_execution`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import Binary

from orchestrator.adapters.ledger._base import LedgerError, _plain, _Update
from orchestrator.adapters.ledger._keys import EXEC_SK, PLAN_SK, exec_pk, execution_key
from orchestrator.adapters.ledger.changes import execution_sets
from orchestrator.adapters.ledger.records import execution_record
from orchestrator.adapters.ledger.servers import new_server_item
from orchestrator.adapters.ledger.transitions import Transitions
from orchestrator.adapters.ledger.waves import new_wave_item
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.changes import ExecutionChanges
from orchestrator.domain.records.waves import ExecutionListing
from orchestrator.domain.status import EXECUTION_FINAL, ExecutionStatus, check_execution_transition

PLAN_ATTRIBUTE = "planDocumentZlib"
"""The frozen plan's attribute on its `#PLAN` item: its JSON text, zlib-compressed (Binary). As text, a plan of 10,000
servers is about 700 KB, over DynamoDB's 400 KB item limit; compressed, about 27 KB. Items written before hold it as
text in `planDocument`, which is still read."""
MAX_PLAN_BYTES = 350_000
"""The largest compressed plan stored: DynamoDB items hold 400 KB, names and keys included
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)."""


def _compressed(plan_document: Mapping[str, Any]) -> bytes:
    """The plan's JSON text (sorted keys), zlib-compressed. LedgerError when even that outgrows an item."""
    packed = zlib.compress(json.dumps(plan_document, sort_keys=True).encode("utf-8"))
    if len(packed) > MAX_PLAN_BYTES:
        raise LedgerError(
            f"the frozen plan is {len(packed):,} bytes compressed: more than the {MAX_PLAN_BYTES:,} a ledger item "
            "may hold (DynamoDB's 400 KB); split the plan"
        )
    return packed


def _plan_text(plan_item: Mapping[str, Any]) -> str:
    """The frozen plan's JSON text from its `#PLAN` item, compressed (`PLAN_ATTRIBUTE`) or, if older, as text."""
    packed = plan_item.get(PLAN_ATTRIBUTE)
    if packed is None:
        return str(plan_item["planDocument"])
    raw = packed.value if isinstance(packed, Binary) else bytes(packed)
    return zlib.decompress(raw).decode("utf-8")


EXECUTIONS_INDEX = "executions-by-start"
"""The table's index of executions by start time (`kind`, `startedAt`; the stack and the local cloud create it:
infra/definitions.py `EXECUTIONS_INDEX`, which tests/unit/adapters check against this name)."""
MAX_LISTED = 100
"""The most executions `latest_executions` lists in one call (one Query page: the index carries a few short
attributes per execution, far under Query's 1 MB page, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Query.html)."""


def _listing(item: Mapping[str, Any]) -> ExecutionListing:
    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value) if value is not None else None

    return ExecutionListing(
        execution_id=str(item.get("executionId") or ""),
        plan_id=str(item.get("planId") or ""),
        status=str(item.get("status") or "UNKNOWN"),
        mode=text("mode"),
        plan_name=text("planName"),
        started_at=text("startedAt"),
        ended_at=text("endedAt"),
        requested_by=text("requestedBy"),
    )


class Executions(Transitions):
    def latest_executions(self, limit: int = 20) -> list[ExecutionListing]:
        """The `limit` (1 to `MAX_LISTED`) latest executions, newest start first: one Query of the executions index
        (eventually consistent, as every index read: an execution started a moment ago may be missing yet).
        ValueError for a limit out of range, before anything is read."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LISTED}, not {limit!r}")
        answer = self._table.query(
            IndexName=EXECUTIONS_INDEX,
            KeyConditionExpression=Key("kind").eq("EXECUTION"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_listing(item) for item in answer.get("Items", [])]

    def running_executions(self, plan_id: str) -> list[str]:
        """The ids of the plan's executions that are RUNNING (every page of the executions index, filtered on the
        plan and the status; eventually consistent: one started a moment ago may be missing yet)."""
        kwargs: dict[str, Any] = {
            "IndexName": EXECUTIONS_INDEX,
            "KeyConditionExpression": Key("kind").eq("EXECUTION"),
            "FilterExpression": Attr("planId").eq(plan_id) & Attr("status").eq("RUNNING"),
        }
        found: list[str] = []
        while True:
            page = self._table.query(**kwargs)
            found.extend(str(item["executionId"]) for item in page.get("Items", []) if item.get("executionId"))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        """The execution item, with its frozen plan as `planDocument` (JSON text).

        The plan is its own immutable item, read once per process and cached: the execution item that
        every handler reads stays small however large the plan."""
        item = self._table.get_item(Key=execution_key(execution_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        execution: dict[str, Any] = _plain(item)
        stored = self._plans.get(execution_id)
        if stored is None:
            plan_item = self._table.get_item(Key={"pk": exec_pk(execution_id), "sk": PLAN_SK}, ConsistentRead=True).get(
                "Item"
            )
            resolution = plan_item.get("resolution") if plan_item else None
            stored = (
                _plan_text(plan_item) if plan_item else "{}",
                str(resolution) if resolution is not None else None,
            )
            if plan_item:
                self._plans[execution_id] = stored
        execution["planDocument"] = stored[0]
        if stored[1] is not None:
            execution["resolution"] = stored[1]
        return execution

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution as its record (`get_execution`'s item, typed), or None."""
        item = self.get_execution(execution_id)
        return execution_record(item) if item is not None else None

    def plan_document(self, execution: Mapping[str, Any]) -> dict[str, Any]:
        return dict(json.loads(execution["planDocument"]))

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
        resolution: Mapping[str, Any] | None = None,
        plan_ref: Mapping[str, Any] | None = None,
        declared_at: str | None = None,
        drill_ttl_seconds: int | None = None,
        failback: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Create the execution, its waves and their servers. `waves`: waveId, dependsOn, dependents, onFailure,
        servers (`{sourceServerId: {criticality, launchStatus}}`). `resolution`: how the plan's tag selectors
        were resolved (kept beside the frozen plan, as JSON text, for the report and a repeated start). `plan_ref`:
        the stored plan version the execution runs (`planRef` on the execution item: planId, version, sha256).
        `declared_at`: when the disaster was declared (ISO), the start of its recovery objectives; default: now
        (the execution's `startedAt`). `drill_ttl_seconds`: a drill's time to live (`drillTtlSeconds` on the
        execution item; see orchestrator.domain.execution.drill_ttl_seconds), left out when None.

        The execution item is put first, CREATING (a redelivery of `key` finds it so and writes the rest
        again: REPLAY), then the plan, wave and server items in batches, then the execution goes RUNNING.
        LedgerError, before anything is written, when the plan outgrows its item even compressed."""
        check_execution_transition([ExecutionStatus.CREATING], ExecutionStatus.RUNNING)
        packed_plan = _compressed(plan_document)
        now = self.now()
        execution = {
            "pk": exec_pk(execution_id),
            "sk": EXEC_SK,
            "kind": "EXECUTION",
            "executionId": execution_id,
            "planId": plan_id,
            "planName": plan_name,
            "mode": mode,
            "status": "CREATING",
            "waveCount": len(waves),
            "terminalCount": 0,
            "requestedBy": requested_by,
            "startedAt": now,
            "declaredAt": declared_at or now,
            "lastKey": key,
            "failedWaves": [],
            "paused": False,
            **({"planRef": dict(plan_ref)} if plan_ref is not None else {}),
            **({"drillTtlSeconds": drill_ttl_seconds} if drill_ttl_seconds is not None else {}),
            **({"failback": dict(failback)} if failback is not None else {}),
        }
        created = self._write(
            self._table.put_item,
            Item=execution,
            ConditionExpression="attribute_not_exists(pk) OR (lastKey = :key AND #s = :creating)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":key": key, ":creating": "CREATING"},
        )
        if not created.ok:
            existing = self.get_execution(execution_id)
            if existing and existing.get("startKey", existing.get("lastKey")) == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        items: list[dict[str, Any]] = [
            {
                "pk": exec_pk(execution_id),
                "sk": PLAN_SK,
                "kind": "PLAN",
                PLAN_ATTRIBUTE: packed_plan,
                **({"resolution": json.dumps(resolution, sort_keys=True)} if resolution is not None else {}),
            }
        ]
        for wave in waves:
            items.append(new_wave_item(execution_id, wave, key=key, now=now))
            items.extend(
                new_server_item(execution_id, wave["waveId"], server_id, server)
                for server_id, server in wave["servers"].items()
            )
        self._batch_put(items)
        self._table.update_item(
            Key=execution_key(execution_id),
            UpdateExpression="SET #s = :running, startKey = :key",
            ConditionExpression="#s = :creating",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": "RUNNING", ":creating": "CREATING", ":key": key},
        )
        return Outcome.WON

    def claim_failback(
        self, execution_id: str, failback_execution_id: str, *, replacing: str | None = None
    ) -> str | None:
        """`failedBackBy` on the recovery's execution item, set once, or taken over from `replacing` (the port)."""
        held = "failedBackBy = :f" + (" OR failedBackBy = :old" if replacing is not None else "")
        written = self._write(
            self._table.update_item,
            Key=execution_key(execution_id),
            UpdateExpression="SET failedBackBy = :f",
            ConditionExpression=f"attribute_exists(pk) AND (attribute_not_exists(failedBackBy) OR {held})",
            ExpressionAttributeValues={
                ":f": failback_execution_id,
                **({":old": replacing} if replacing is not None else {}),
            },
        )
        if written.ok:
            return None
        item = self._table.get_item(Key=execution_key(execution_id), ConsistentRead=True).get("Item") or {}
        return str(item.get("failedBackBy") or "")

    def release_failback(self, execution_id: str, failback_execution_id: str) -> None:
        """Remove `failedBackBy` while `failback_execution_id` holds it (see the port)."""
        self._write(
            self._table.update_item,
            Key=execution_key(execution_id),
            UpdateExpression="REMOVE failedBackBy",
            ConditionExpression="failedBackBy = :f",
            ExpressionAttributeValues={":f": failback_execution_id},
        )

    def record_reprotect(self, execution_id: str, reprotect: Mapping[str, Any]) -> None:
        """Write what a reprotect did on the execution item (`reprotect`), replacing an earlier one."""
        self._table.update_item(
            Key=execution_key(execution_id),
            UpdateExpression="SET reprotect = :r",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":r": dict(reprotect)},
        )

    def set_execution_status(
        self,
        execution_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        changes: ExecutionChanges | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Move the execution from one of `from_` to `to` for the event `key` (`Transitions._transition`).
        To a final status it also gets `endedAt`, and it and its items expire (TTL). `decided_by`: the
        operator command event whose acceptance this is (see `Decisions._decided`)."""
        from_, to = check_execution_transition(from_, to)
        expires = self._expires_at()
        if expires is not None and to == ExecutionStatus.COMPLETED and self._awaits_failback(execution_id):
            expires = None  # production runs on the recovery side until it is failed back: kept (`expire_execution`)
        final: dict[str, Any] = {"endedAt": self.now()} if to in EXECUTION_FINAL else {}
        if final and expires is not None:
            final["expiresAt"] = expires
        outcome = self._transition(
            execution_key(execution_id),
            from_=from_,
            to=to,
            event_key=key,
            sets={**execution_sets(changes), **final},
            decided_by=decided_by,
        )
        if to in EXECUTION_FINAL and outcome is Outcome.WON and expires is not None:
            self._expire_items(execution_id, expires)
        return outcome

    def _awaits_failback(self, execution_id: str) -> bool:
        """A RECOVERY (not a failback itself): once COMPLETED it is what a failback starts from, so it does not expire
        with the ledger's time to live until its failback has completed."""
        item = (
            self._table.get_item(
                Key=execution_key(execution_id),
                ConsistentRead=True,
                ProjectionExpression="#m, failback",
                ExpressionAttributeNames={"#m": "mode"},
            ).get("Item")
            or {}
        )
        return item.get("mode") == "RECOVERY" and "failback" not in item

    def expire_execution(self, execution_id: str) -> None:
        """The finished execution and its items expire with the ledger's time to live from now (nothing without
        one): a RECOVERY kept until its failback completed (`_awaits_failback`)."""
        expires = self._expires_at()
        if expires is None:
            return
        written = self._write(
            self._table.update_item,
            Key=execution_key(execution_id),
            UpdateExpression="SET expiresAt = :e",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":e": expires},
        )
        if written.ok:  # (an execution already gone has nothing left to expire)
            self._expire_items(execution_id, expires)

    def reopen_execution(
        self, execution_id: str, *, from_: Iterable[str], key: str, where: Mapping[str, Any] | None = None
    ) -> Outcome:
        """A stopped or failed execution runs again (RetryWave, SkipWave of the wave that stopped it):
        back to RUNNING, its stop and end forgotten, and nothing of it left to expire (every item of it,
        from every page of the Query).

        Unlike `set_execution_status`, a redelivery of `key` is not told apart: the condition also holds
        when the execution is RUNNING with `lastKey` = `key`, so the redelivery writes again and is WON
        (it redoes the un-expiring that a crash may have cut short); REJECTED otherwise."""
        from_, _ = check_execution_transition(from_, ExecutionStatus.RUNNING)
        update = _Update(
            sets={"status": "RUNNING", "lastKey": key}, removes=["endedAt", "expiresAt", "stopReason", "stoppedBy"]
        )
        condition = update.one_of("status", list(from_))
        for attribute, value in (where or {}).items():
            condition += f" AND {update.name(attribute)} = {update.value(value)}"
        status, last_key = update.name("status"), update.name("lastKey")
        replay = f"{status} = {update.value('RUNNING')} AND {last_key} = {update.value(key)}"
        reopened = self._update(
            execution_key(execution_id),
            update,
            f"attribute_exists(pk) AND (({condition}) OR ({replay}))",
            returns="UPDATED_OLD",
        )
        if not reopened.ok:
            return Outcome.REJECTED
        self._stop_expiring(execution_id)
        return Outcome.WON

    def record_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Remember a failed wave on the execution (once)."""
        self._write(
            self._table.update_item,
            Key=execution_key(execution_id),
            UpdateExpression="SET failedWaves = list_append(failedWaves, :w)",
            ConditionExpression="NOT contains(failedWaves, :wid)",
            ExpressionAttributeValues={":w": [wave_id], ":wid": wave_id},
        )

    def forget_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Take a wave off the execution's failedWaves (it is retried or skipped by an operator)."""
        execution = self.get_execution(execution_id) or {}
        failed = list(execution.get("failedWaves", []))
        if wave_id not in failed:
            return
        index = failed.index(wave_id)
        self._write(
            self._table.update_item,
            Key=execution_key(execution_id),
            UpdateExpression=f"REMOVE failedWaves[{index}]",
            ConditionExpression=f"failedWaves[{index}] = :w",
            ExpressionAttributeValues={":w": wave_id},
        )
