"""The launch packer's items (issue #19; orchestrator/steps/packer.py), in the capacity partition (`CAPACITY`):

- `PACKER`: the packer's lock (`lockToken`, `lockUntil`): one packer call at a time decides and starts packed jobs,
  so two never put a chunk in two jobs;
- `PACKING#<key>`: a packed job being started: written before its StartRecovery with its chunks and the token its
  chunks' claims are leased with; a packer that finds one it did not write (its writer died) looks for the job by
  its tag, then finishes or abandons it;
- `PACKED#<key>`: a packed job started: its job id and chunks (how a DRS Launch Result event of the job finds its
  waves: the job is tagged with the key only, DRS allowing 50 tags per resource), deleted when the job's capacity
  is given back (`forget_packed`: DRS reported the job COMPLETED).

`packed_launch(item)` / `packed_item(record, prefix)` map an item to its record (`PackedLaunch`) and back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, LedgerError
from orchestrator.adapters.ledger._keys import capacity_pk
from orchestrator.adapters.ledger.records import _extra
from orchestrator.domain.clock import iso
from orchestrator.domain.records.launches import LaunchChunk, PackedLaunch, PackedStatus

PACKER_SK = "PACKER"
PACKING_PREFIX = "PACKING#"
PACKED_PREFIX = "PACKED#"
_OWN = ("pk", "sk", "kind", "key", "token", "status", "chunks", "at", "isDrill", "jobId", "expiresAt")


def packed_launch(item: Mapping[str, Any]) -> PackedLaunch:
    """A packing or packed item as its record. LedgerError when it is not one."""
    try:
        chunks = json.loads(item["chunks"]) if isinstance(item["chunks"], str) else item["chunks"]
        return PackedLaunch(
            key=str(item["key"]),
            token=str(item["token"]),
            status=PackedStatus(item["status"]),
            chunks=tuple(LaunchChunk.from_payload(chunk) for chunk in chunks),
            at=str(item["at"]),
            is_drill=bool(item["isDrill"]),
            job_id=item.get("jobId"),
            expires_at=int(item["expiresAt"]) if item.get("expiresAt") is not None else None,
            extra=_extra(item, own=_OWN),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a packed launch: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def packed_item(record: PackedLaunch, prefix: str, pool: str | None = None) -> dict[str, Any]:
    """The item of `record` under `prefix` (PACKING_PREFIX or PACKED_PREFIX) in its pool's partition; its chunks as
    JSON text."""
    item: dict[str, Any] = {
        "pk": capacity_pk(pool),
        "sk": f"{prefix}{record.key}",
        "kind": "PACKED" if prefix == PACKED_PREFIX else "PACKING",
        "key": record.key,
        "token": record.token,
        "status": str(record.status),
        "chunks": json.dumps([chunk.payload() for chunk in record.chunks], separators=(",", ":")),
        "at": record.at,
        "isDrill": record.is_drill,
        **record.extra,
    }
    if record.job_id:
        item["jobId"] = record.job_id
    if record.expires_at is not None:
        item["expiresAt"] = record.expires_at
    return item


class PackedLaunches(LedgerBase):
    def take_packer_lock(self, token: str, seconds: int, *, pool: str | None = None) -> bool:
        """Hold the packer's lock for `seconds` from now (or extend it, when `token` holds it). False while another
        call's lock runs: that call packs; this one does nothing."""
        now = self._clock.now()
        return self._write(
            self._table.update_item,
            Key={"pk": capacity_pk(pool), "sk": PACKER_SK},
            UpdateExpression="SET lockToken = :token, lockUntil = :until",
            ConditionExpression="attribute_not_exists(lockUntil) OR lockUntil < :now OR lockToken = :token",
            ExpressionAttributeValues={
                ":token": token,
                ":until": iso(now + timedelta(seconds=seconds)),
                ":now": iso(now),
            },
        ).ok

    def release_packer_lock(self, token: str, *, pool: str | None = None) -> None:
        """Give the lock back (only while `token` holds it)."""
        self._write(
            self._table.update_item,
            Key={"pk": capacity_pk(pool), "sk": PACKER_SK},
            UpdateExpression="REMOVE lockToken, lockUntil",
            ConditionExpression="lockToken = :token",
            ExpressionAttributeValues={":token": token},
        )

    def begin_packing(self, record: PackedLaunch, *, pool: str | None = None) -> bool:
        """Write a packed job about to be started (`PACKING#<key>`); False when one with its key is there."""
        return self._create(packed_item(record, PACKING_PREFIX, pool)) is None

    def packings(self, *, pool: str | None = None) -> list[PackedLaunch]:
        """The packed jobs of `pool` being started (written, not yet finished or abandoned), oldest first."""
        items = self._query_all(capacity_pk(pool), PACKING_PREFIX)
        return sorted((packed_launch(item) for item in items), key=lambda record: (record.at, record.key))

    def finish_packing(self, record: PackedLaunch, job_id: str, *, pool: str | None = None) -> PackedLaunch:
        """The packed job started as `job_id`: its `PACKED#` record written and its `PACKING#` item gone, in one
        transaction (again: a no-op). Returns the started record."""
        started = replace(record, status=PackedStatus.STARTED, job_id=job_id)
        self._transact(
            {"Put": {"TableName": self.table_name, "Item": packed_item(started, PACKED_PREFIX, pool)}},
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": {"pk": capacity_pk(pool), "sk": f"{PACKING_PREFIX}{record.key}"},
                }
            },
        )
        return started

    def abandon_packing(self, key: str, *, pool: str | None = None) -> None:
        """No job was created for the packed job `key`: its `PACKING#` item goes (its chunks are packed again)."""
        self._table.delete_item(Key={"pk": capacity_pk(pool), "sk": f"{PACKING_PREFIX}{key}"})

    def forget_packed(self, key: str, *, pool: str | None = None) -> None:
        """The packed job `key` has ended (its capacity given back): its record goes (again: a no-op)."""
        self._table.delete_item(Key={"pk": capacity_pk(pool), "sk": f"{PACKED_PREFIX}{key}"})

    def packed(self, key: str, *, pool: str | None = None) -> PackedLaunch | None:
        """The started packed job of `key`, or None."""
        item = self._get({"pk": capacity_pk(pool), "sk": f"{PACKED_PREFIX}{key}"})
        return packed_launch(item) if item else None

    def packed_jobs(self, *, pool: str | None = None) -> list[PackedLaunch]:
        """Every started packed job of `pool` whose capacity is not given back yet (`PACKED#` items: DRS may still
        run it)."""
        return [packed_launch(item) for item in self._query_all(capacity_pk(pool), PACKED_PREFIX)]
