"""The DRS capacity every execution shares (see orchestrator/steps/capacity.py): one record (`CAPACITY`/`DRS`)
counting the jobs and servers in flight (`activeJobs`, `activeServers`, one attribute `h#<key>` per holder: what
it was admitted with) and the launches parked because they did not fit (`CAPACITY`/`QUEUE#<launch key>`, oldest
first, counted in `queued`).

`capacity_state(item)` / `capacity_item(state)` and `parked_launch(item)` / `parked_item(parked)` map those
items to their records (`orchestrator.domain.records.launches`: CapacityState, ParkedLaunch) and back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError
from orchestrator.adapters.ledger._keys import CAPACITY_PK, CAPACITY_SK, POOL_PREFIX, QUEUE_PREFIX, Key, capacity_pk
from orchestrator.adapters.ledger.records import _INT, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.clock import iso
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records.launches import Admission, CapacityHold, CapacityState, LaunchChunk, ParkedLaunch
from orchestrator.domain.targets import pool_of

CAPACITY_RELEASE_TRIES = 5  # reads and conditional writes before capacity_release gives up (others moved it)
HOLDER_PREFIX = "h#"  # the capacity item's attribute of one admitted job: h#<launch or termination key>

_STATE: dict[str, tuple[str, _Convert]] = {
    "active_jobs": ("activeJobs", _INT),
    "active_servers": ("activeServers", _INT),
    "queued": ("queued", _INT),
    "reconciled_at": ("reconciledAt", _SAME),
}
_HOLD: dict[str, tuple[str, _Convert]] = {
    "servers": ("servers", _INT),
    "at": ("at", _SAME),
    "kind": ("kind", _SAME),
    "ref": ("ref", _SAME),
    "job_id": ("jobId", _SAME),
}
_PARKED_OWN = ("pk", "sk", "kind", "launchKey", "enqueuedAt", "chunk")


def _capacity_key(pool: str | None = None) -> Key:
    return {"pk": capacity_pk(pool), "sk": CAPACITY_SK}


def _holder(key: str) -> str:
    return f"{HOLDER_PREFIX}{key}"


def _is_hold(name: str, value: Any) -> bool:
    return name.startswith(HOLDER_PREFIX) and isinstance(value, Mapping)


def _hold(key: str, value: Mapping[str, Any]) -> CapacityHold:
    return CapacityHold(key=key, **_fields(value, _HOLD), extra=_extra(value, _HOLD))


def _hold_map(hold: CapacityHold) -> dict[str, Any]:
    return {**_attributes(hold, _HOLD), **hold.extra}


def capacity_state(item: Mapping[str, Any]) -> CapacityState:
    """The capacity item as its record ({}: nothing was ever counted). LedgerError for a malformed hold."""
    try:
        holds = {
            name.removeprefix(HOLDER_PREFIX): _hold(name.removeprefix(HOLDER_PREFIX), value)
            for name, value in item.items()
            if _is_hold(name, value)
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a capacity item: {exc}") from exc
    named = {name for name, value in item.items() if _is_hold(name, value)}
    return CapacityState(**_fields(item, _STATE), holds=holds, extra=_extra(item, _STATE, own=["pk", "sk", *named]))


def capacity_item(state: CapacityState) -> dict[str, Any]:
    """The capacity item of `state`, as the ledger reads it."""
    return {
        **_capacity_key(),
        **_attributes(state, _STATE),
        **{_holder(key): _hold_map(hold) for key, hold in state.holds.items()},
        **state.extra,
    }


def parked_launch(item: Mapping[str, Any]) -> ParkedLaunch:
    """A queue item as its record (its chunk is JSON text; a map is read too). LedgerError when it is not one."""
    try:
        chunk = item["chunk"]
        return ParkedLaunch(
            launch_key=str(item["launchKey"]),
            enqueued_at=str(item["enqueuedAt"]),
            chunk=LaunchChunk.from_payload(chunk if isinstance(chunk, Mapping) else json.loads(chunk)),
            extra=_extra(item, own=_PARKED_OWN),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a parked launch: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def parked_item(parked: ParkedLaunch, pool: str | None = None) -> dict[str, Any]:
    """The queue item of a parked launch (its chunk as JSON text, without `tries`), in its pool's partition."""
    return {
        "pk": capacity_pk(pool),
        "sk": f"{QUEUE_PREFIX}{parked.launch_key}",
        "kind": "PARKED",
        "launchKey": parked.launch_key,
        "enqueuedAt": parked.enqueued_at,
        "chunk": json.dumps(parked.chunk.payload()),
        **parked.extra,
    }


class Capacity(LedgerBase):
    def capacity(self, *, pool: str | None = None) -> CapacityState:
        """The shared DRS capacity of `pool` (None: the own account and Region) as it is now (consistent read)."""
        return capacity_state(self._get(_capacity_key(pool)) or {})

    def capacity_admit(
        self,
        hold: CapacityHold,
        *,
        max_jobs: int,
        max_servers: int,
        behind_queue: bool,
        pool: str | None = None,
    ) -> Admission:
        """Count one job (`hold`: its key, servers, when, kind and ref) in the shared DRS capacity if it fits
        under the quotas. ADMITTED, HELD (this key was admitted before) or FULL. `behind_queue`: a fresh
        launch is not admitted while launches are parked (first come, first served)."""
        condition = (
            "(attribute_not_exists(activeJobs) OR activeJobs < :maxJobs) AND "
            "(attribute_not_exists(activeServers) OR activeServers <= :room) AND attribute_not_exists(#h)"
        )
        values: dict[str, Any] = {
            ":one": 1,
            ":n": hold.servers,
            ":holder": _hold_map(hold),
            ":maxJobs": max_jobs,
            ":room": max_servers - hold.servers,
        }
        if behind_queue:
            condition += " AND (attribute_not_exists(queued) OR queued <= :zero)"
            values[":zero"] = 0
        admitted = self._write(
            self._table.update_item,
            Key=_capacity_key(pool),
            UpdateExpression="ADD activeJobs :one, activeServers :n SET #h = :holder",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#h": _holder(hold.key)},
            ExpressionAttributeValues=values,
        )
        if admitted.ok:
            return Admission.ADMITTED
        return Admission.HELD if hold.key in self.capacity(pool=pool).holds else Admission.FULL

    def capacity_reconcile_due(self, *, seconds: int, pool: str | None = None) -> bool:
        """True for one caller per `seconds`: that caller reconciles the capacity record with DRS now."""
        now = self._clock.now()
        return self._write(
            self._table.update_item,
            Key=_capacity_key(pool),
            UpdateExpression="SET reconciledAt = :now",
            ConditionExpression="attribute_not_exists(reconciledAt) OR reconciledAt <= :due",
            ExpressionAttributeValues={":now": iso(now), ":due": iso(now - timedelta(seconds=seconds))},
        ).ok

    def capacity_release(
        self, key: str, *, unstarted_only: bool = False, pool: str | None = None
    ) -> CapacityState | None:
        """Give back what `key` was admitted with (once). Returns the capacity after the write, or None when
        the key held nothing (already released). `unstarted_only`: only while no job id is noted on it (a
        job another call started with it still runs)."""
        holder = _holder(key)
        for _ in range(CAPACITY_RELEASE_TRIES):
            held = self.capacity(pool=pool).holds.get(key)
            if held is None or (unstarted_only and held.job_id):
                return None
            released = self._write(
                self._table.update_item,
                Key=_capacity_key(pool),
                UpdateExpression="ADD activeJobs :minus, activeServers :n REMOVE #h",
                ConditionExpression="#h.servers = :servers"
                + (" AND attribute_not_exists(#h.jobId)" if unstarted_only else ""),
                ExpressionAttributeNames={"#h": holder},
                ExpressionAttributeValues={":minus": -1, ":n": -held.servers, ":servers": held.servers},
                ReturnValues="ALL_NEW",
            )
            if released.ok:
                return capacity_state(released.item)
        return None

    def capacity_note_job(self, key: str, job_id: str, *, pool: str | None = None) -> None:
        """Note the job `key`'s admission started (while it still holds capacity)."""
        self._write(
            self._table.update_item,
            Key=_capacity_key(pool),
            UpdateExpression="SET #h.jobId = :job",
            ConditionExpression="attribute_exists(#h)",
            ExpressionAttributeNames={"#h": _holder(key)},
            ExpressionAttributeValues={":job": job_id},
        )

    def park(self, chunk: LaunchChunk, *, pool: str | None = None) -> bool:
        """Queue a launch that does not fit now (once per launch key; its `tries` are not kept). False when it
        was already parked."""
        parked = ParkedLaunch(launch_key=chunk.launch_key, enqueued_at=self.now(), chunk=replace(chunk, tries=0))
        return self._transact(
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": parked_item(parked, pool),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _capacity_key(pool),
                    "UpdateExpression": "ADD queued :one",
                    "ExpressionAttributeValues": {":one": 1},
                }
            },
        )

    def unpark(self, launch_key: str, *, pool: str | None = None) -> bool:
        """Take a launch off the queue (once). False when it was not parked (any more)."""
        return self._transact(
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": {"pk": capacity_pk(pool), "sk": f"{QUEUE_PREFIX}{launch_key}"},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _capacity_key(pool),
                    "UpdateExpression": "ADD queued :minus",
                    "ExpressionAttributeValues": {":minus": -1},
                }
            },
        )

    def parked(self, *, pool: str | None = None) -> list[ParkedLaunch]:
        """Parked launches of `pool`, oldest first."""
        items = sorted(self._query_all(capacity_pk(pool), QUEUE_PREFIX), key=lambda i: (i["enqueuedAt"], i["sk"]))
        return [parked_launch(item) for item in items]

    def note_pool(self, target: Target) -> None:
        """Remember a wave target's capacity pool (`CAPACITY`/`POOL#<account>#<region>`, with the target to reach it):
        the CapacityTick drains and reconciles every pool it knows. The latest target written for a pool is kept
        (any role that may act in that account and Region will do for its reads and launches of its own chunks)."""
        self._table.put_item(
            Item={
                "pk": CAPACITY_PK,
                "sk": f"{POOL_PREFIX}{pool_of(target)}",
                "kind": "POOL",
                "target": json.dumps(target.model_dump(by_alias=True, mode="json"), separators=(",", ":")),
            }
        )

    def pools(self) -> list[Target]:
        """The wave targets whose capacity pools the ledger knows, by pool."""
        items = sorted(self._query_all(CAPACITY_PK, POOL_PREFIX), key=lambda i: i["sk"])
        try:
            return [Target.model_validate(json.loads(item["target"])) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerError(f"not a capacity pool: {exc}") from exc
