"""The execution ledger: one DynamoDB table, one execution item and one item per wave.

Every state change is a conditional write. A transition names the states it may leave and the event
that causes it (`key`): the first delivery of that event wins, a redelivery of the *same* event after a
crash is a REPLAY (so its caller may safely redo what follows the write), and anything else is
REJECTED. Releasing a dependent wave is an atomic decrement guarded by a set of the waves that already
released it, so each dependency counts once, and only the write that reaches zero releases the wave.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.clock import Clock, iso

WAVE_STATUSES = (
    "PENDING", "READY", "AWAITING_APPROVAL", "PRE_LAUNCH", "LAUNCHING", "LAUNCHED", "POST_LAUNCH",
    "COMPLETED", "FAILED", "SKIPPED",
)
TERMINAL_WAVE = frozenset({"COMPLETED", "FAILED", "SKIPPED"})
ACTIVE_WAVE = frozenset({"PRE_LAUNCH", "LAUNCHING", "LAUNCHED", "POST_LAUNCH"})
NOT_STARTED_WAVE = frozenset({"PENDING", "READY", "AWAITING_APPROVAL"})
EXECUTION_FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


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


def wave_sk(wave_id: str) -> str:
    return f"WAVE#{wave_id}"


def launch_sk(wave_id: str, attempt: int, chunk: int) -> str:
    return f"LAUNCH#{wave_id}#{attempt:03d}#{chunk:04d}"


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


def _is_conditional_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in {"ConditionalCheckFailedException", "TransactionCanceledException"}


@dataclass
class _Update:
    """Builds an UpdateExpression with safe placeholders."""

    sets: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    _n: int = 0

    def name(self, path: str) -> str:
        parts = []
        for part in path.split("."):
            placeholder = f"#n{len(self.names)}"
            self.names[placeholder] = part
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

    def __init__(self, table: Any, clock: Clock, *, finished_ttl_days: int = 90) -> None:
        self._table = table
        self._client = table.meta.client
        self._clock = clock
        self._ttl = timedelta(days=finished_ttl_days)

    @property
    def table_name(self) -> str:
        return str(self._table.name)

    def now(self) -> str:
        return iso(self._clock.now())

    # ---- reads ---------------------------------------------------------------------------------

    def get_execution(self, execution_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(
            Key={"pk": exec_pk(execution_id), "sk": EXEC_SK}, ConsistentRead=True
        ).get("Item")
        return _plain(item) if item else None

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
        """Create the execution and its waves. `waves`: waveId, dependsOn, dependents, onFailure, servers."""
        now = self.now()
        execution = {
            "pk": exec_pk(execution_id), "sk": EXEC_SK, "kind": "EXECUTION",
            "executionId": execution_id, "planId": plan_id, "planName": plan_name, "mode": mode,
            "status": "CREATING", "planDocument": json.dumps(plan_document, sort_keys=True),
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
        with self._table.batch_writer() as batch:
            for wave in waves:
                remaining = len(wave["dependsOn"])
                batch.put_item(Item={
                    "pk": exec_pk(execution_id), "sk": wave_sk(wave["waveId"]), "kind": "WAVE",
                    "executionId": execution_id, "waveId": wave["waveId"],
                    "status": "PENDING" if remaining else "READY",
                    "attempt": 1, "remaining": remaining,
                    "dependsOn": wave["dependsOn"], "dependents": wave["dependents"],
                    "onFailure": wave["onFailure"], "servers": wave["servers"], "jobs": {},
                    "jobsExpected": 0, "jobsDone": 0, "scripts": [], "warnings": [],
                    "lastKey": key, **({} if remaining else {"readyAt": now}),
                })
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": EXEC_SK},
            UpdateExpression="SET #s = :running, startKey = :key",
            ConditionExpression="#s = :creating",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": "RUNNING", ":creating": "CREATING", ":key": key},
        )
        return Outcome.WON

    def set_execution_status(
        self, execution_id: str, *, from_: Iterable[str], to: str, key: str, sets: Mapping[str, Any] | None = None
    ) -> Outcome:
        update = _Update(sets={"status": to, "lastKey": key, **(sets or {})})
        if to in EXECUTION_FINAL:
            update.sets["endedAt"] = self.now()
            update.sets["expiresAt"] = int((self._clock.now() + self._ttl).timestamp())
        return self._conditional(exec_pk(execution_id), EXEC_SK, update, from_, to, key)

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
        self, pk: str, sk: str, update: _Update, from_: Iterable[str], to: str, key: str
    ) -> Outcome:
        froms = list(from_)
        status = update.name("status")
        last_key = update.name("lastKey")
        from_values = ", ".join(update.value(s) for s in froms)
        replay = f"({status} = {update.value(to)} AND {last_key} = {update.value(key)})"
        condition = f"({status} IN ({from_values})) OR {replay}"
        expression = update.expression()
        try:
            response = self._table.update_item(
                Key={"pk": pk, "sk": sk},
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="UPDATED_OLD",  # the old status and lastKey are all a replay check needs
            )
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return Outcome.REJECTED
            raise
        old = response.get("Attributes", {})
        if old.get("status") == to and old.get("lastKey") == key and to not in froms:
            return Outcome.REPLAY
        return Outcome.WON

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
    ) -> Outcome:
        """Move a wave to `to` if it is in one of `from_` (terminal states go through `finish_wave`)."""
        if to in TERMINAL_WAVE:
            raise LedgerError("terminal wave states are written by finish_wave")
        update = _Update(sets={"status": to, "lastKey": key, **(sets or {})}, adds=dict(adds or {}))
        return self._conditional(exec_pk(execution_id), wave_sk(wave_id), update, from_, to, key)

    def finish_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        sets: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Move a wave to a terminal state and count it on the execution, in one transaction."""
        if to not in TERMINAL_WAVE:
            raise LedgerError(f"{to} is not terminal")
        froms = list(from_)
        update = _Update(sets={"status": to, "lastKey": key, "endedAt": self.now(), **(sets or {})})
        status = update.name("status")
        values = ", ".join(update.value(s) for s in froms)
        expression = update.expression()
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                    "UpdateExpression": expression,
                    "ConditionExpression": f"{status} IN ({values})",
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                }},
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": EXEC_SK},
                    "UpdateExpression": "ADD terminalCount :one",
                    "ExpressionAttributeValues": {":one": 1},
                }},
            ])
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            wave = self.get_wave(execution_id, wave_id)
            if wave and wave.get("status") == to and wave.get("lastKey") == key:
                return Outcome.REPLAY
            return Outcome.REJECTED
        return Outcome.WON

    def reopen_wave(self, execution_id: str, wave_id: str, *, from_: Iterable[str], key: str,
                    sets: Mapping[str, Any]) -> Outcome:
        """Take a terminal wave back to READY (RetryWave): uncount it on the execution."""
        froms = list(from_)
        update = _Update(sets={"status": "READY", "lastKey": key, **sets}, adds={"attempt": 1})
        status = update.name("status")
        values = ", ".join(update.value(s) for s in froms)
        expression = update.expression()
        try:
            self._client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": wave_sk(wave_id)},
                    "UpdateExpression": expression,
                    "ConditionExpression": f"{status} IN ({values})",
                    "ExpressionAttributeNames": update.names,
                    "ExpressionAttributeValues": update.values,
                }},
                {"Update": {
                    "TableName": self.table_name,
                    "Key": {"pk": exec_pk(execution_id), "sk": EXEC_SK},
                    "UpdateExpression": "ADD terminalCount :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }},
            ])
        except ClientError as exc:
            if _is_conditional_failure(exc):
                return Outcome.REJECTED
            raise
        return Outcome.WON

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

    def record_job_done(
        self, execution_id: str, wave_id: str, *, job_id: str, servers: Mapping[str, Mapping[str, Any]],
        key: str,
    ) -> tuple[Outcome, dict[str, Any] | None]:
        """Record a finished DRS job of a wave once; returns the wave after the write."""
        update = _Update(sets={f"jobs.{job_id}.status": "COMPLETED", f"jobs.{job_id}.doneKey": key,
                               f"jobs.{job_id}.completedAt": self.now()}, adds={"jobsDone": 1})
        for server_id, result in servers.items():
            update.sets[f"servers.{server_id}.launchStatus"] = result.get("launchStatus")
            if result.get("recoveryInstanceId"):
                update.sets[f"servers.{server_id}.recoveryInstanceId"] = result["recoveryInstanceId"]
            if result.get("reason"):
                update.sets[f"servers.{server_id}.reason"] = result["reason"]
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

    def add_job(self, execution_id: str, wave_id: str, *, job_id: str, launch_key: str,
                server_ids: list[str]) -> None:
        """Note a started DRS job on its wave (idempotent)."""
        update = _Update(sets={f"jobs.{job_id}": {"launchKey": launch_key, "servers": server_ids,
                                                  "status": "STARTED", "startedAt": self.now()}})
        for server_id in server_ids:
            update.sets[f"servers.{server_id}.jobId"] = job_id
            update.sets[f"servers.{server_id}.launchStatus"] = "PENDING"
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

    # ---- launch claims -------------------------------------------------------------------------

    def claim_launch(self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, launch_key: str,
                     server_ids: list[str]) -> dict[str, Any] | None:
        """Claim one DRS launch before calling StartRecovery. Returns None when this call made the
        claim, or the existing claim (which may already hold the job id) when one was there."""
        item = {
            "pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk), "kind": "LAUNCH",
            "launchKey": launch_key, "waveId": wave_id, "attempt": attempt, "chunk": chunk,
            "servers": server_ids, "status": "CLAIMED", "claimedAt": self.now(),
        }
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
        expression = update.expression()
        self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)},
            UpdateExpression=expression,
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values,
        )
