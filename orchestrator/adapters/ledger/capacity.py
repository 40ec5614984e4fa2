"""The DRS capacity every execution shares (see orchestrator/steps/capacity.py): one record (`CAPACITY`/`DRS`)
counting the jobs and servers in flight (`activeJobs`, `activeServers`, one attribute per holder: what it was
admitted with) and the launches parked because they did not fit (`CAPACITY`/`QUEUE#<launch key>`, oldest first,
counted in `queued`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase
from orchestrator.adapters.ledger._keys import CAPACITY_PK, CAPACITY_SK, QUEUE_PREFIX, Key
from orchestrator.domain.clock import iso

CAPACITY_RELEASE_TRIES = 5  # reads and conditional writes before capacity_release gives up (others moved it)


def _capacity_key() -> Key:
    return {"pk": CAPACITY_PK, "sk": CAPACITY_SK}


class Capacity(LedgerBase):
    def capacity_item(self) -> dict[str, Any]:
        return self._get(_capacity_key()) or {}

    def capacity_admit(
        self,
        holder: str,
        value: Mapping[str, Any],
        *,
        servers: int,
        max_jobs: int,
        max_servers: int,
        behind_queue: bool,
    ) -> str:
        """Count one job of `servers` servers in the shared DRS capacity if it fits under the quotas.
        Returns ADMITTED, HELD (this holder was admitted before) or FULL. `behind_queue`: a fresh
        launch is not admitted while launches are parked (first come, first served)."""
        condition = (
            "(attribute_not_exists(activeJobs) OR activeJobs < :maxJobs) AND "
            "(attribute_not_exists(activeServers) OR activeServers <= :room) AND attribute_not_exists(#h)"
        )
        values: dict[str, Any] = {
            ":one": 1,
            ":n": servers,
            ":holder": dict(value),
            ":maxJobs": max_jobs,
            ":room": max_servers - servers,
        }
        if behind_queue:
            condition += " AND (attribute_not_exists(queued) OR queued <= :zero)"
            values[":zero"] = 0
        admitted = self._write(
            self._table.update_item,
            Key=_capacity_key(),
            UpdateExpression="ADD activeJobs :one, activeServers :n SET #h = :holder",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#h": holder},
            ExpressionAttributeValues=values,
        )
        if admitted.ok:
            return "ADMITTED"
        return "HELD" if holder in self.capacity_item() else "FULL"

    def capacity_reconcile_due(self, *, seconds: int) -> bool:
        """True for one caller per `seconds`: that caller reconciles the capacity record with DRS now."""
        now = self._clock.now()
        return self._write(
            self._table.update_item,
            Key=_capacity_key(),
            UpdateExpression="SET reconciledAt = :now",
            ConditionExpression="attribute_not_exists(reconciledAt) OR reconciledAt <= :due",
            ExpressionAttributeValues={":now": iso(now), ":due": iso(now - timedelta(seconds=seconds))},
        ).ok

    def capacity_release(self, holder: str, *, unstarted_only: bool = False) -> dict[str, Any] | None:
        """Give back what `holder` was admitted with (once). Returns the capacity item after the write, or
        None when the holder held nothing (already released). `unstarted_only`: only while no job id is
        noted on it (a job another call started with it still runs)."""
        for _ in range(CAPACITY_RELEASE_TRIES):
            item = self.capacity_item()
            held = item.get(holder)
            if not isinstance(held, dict) or (unstarted_only and held.get("jobId")):
                return None
            servers = int(held.get("servers", 0))
            released = self._write(
                self._table.update_item,
                Key=_capacity_key(),
                UpdateExpression="ADD activeJobs :minus, activeServers :n REMOVE #h",
                ConditionExpression="#h.servers = :servers"
                + (" AND attribute_not_exists(#h.jobId)" if unstarted_only else ""),
                ExpressionAttributeNames={"#h": holder},
                ExpressionAttributeValues={":minus": -1, ":n": -servers, ":servers": servers},
                ReturnValues="ALL_NEW",
            )
            if released.ok:
                return released.item
        return None

    def capacity_note_job(self, holder: str, job_id: str) -> None:
        """Note the job a holder's admission started (while it still holds capacity)."""
        self._write(
            self._table.update_item,
            Key=_capacity_key(),
            UpdateExpression="SET #h.jobId = :job",
            ConditionExpression="attribute_exists(#h)",
            ExpressionAttributeNames={"#h": holder},
            ExpressionAttributeValues={":job": job_id},
        )

    def park(self, key: str, chunk: Mapping[str, Any]) -> bool:
        """Queue a launch that does not fit now (once per key). False when it was already parked."""
        return self._transact(
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": {
                        "pk": CAPACITY_PK,
                        "sk": f"{QUEUE_PREFIX}{key}",
                        "kind": "PARKED",
                        "launchKey": key,
                        "enqueuedAt": self.now(),
                        "chunk": json.dumps(dict(chunk)),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _capacity_key(),
                    "UpdateExpression": "ADD queued :one",
                    "ExpressionAttributeValues": {":one": 1},
                }
            },
        )

    def unpark(self, key: str) -> bool:
        """Take a launch off the queue (once). False when it was not parked (any more)."""
        return self._transact(
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": {"pk": CAPACITY_PK, "sk": f"{QUEUE_PREFIX}{key}"},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _capacity_key(),
                    "UpdateExpression": "ADD queued :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            },
        )

    def parked(self) -> list[dict[str, Any]]:
        """Parked launches, oldest first."""
        return sorted(self._query_all(CAPACITY_PK, QUEUE_PREFIX), key=lambda i: (i["enqueuedAt"], i["sk"]))
