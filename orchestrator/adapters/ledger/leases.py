"""Leases on claims: who may call DRS for a launch claim (launches.py) or a termination claim
(terminations.py) right now. A claim goes CLAIMED -> STARTING (under a lease, written before the DRS call)
-> STARTED (with its job) or FAILED; a call that started no job gives the lease back (CLAIMED or PARKED).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import LedgerBase, _Update
from orchestrator.adapters.ledger._keys import Key
from orchestrator.domain.clock import iso


class Leases(LedgerBase):
    def _take_lease(
        self, key: Key, *, token: str, seconds: int, sets: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """STARTING with `token` until now + `seconds`, unless the claim has ended (STARTED, FAILED) or another
        caller's lease is still running (a NOT_STARTED claim, cancelled by a stop before any job, may start when
        its wave is reopened). Written before the DRS call it guards, with `mayHaveStarted` and the
        first `startingAt`: a crash during the call leaves the claim saying that a job may exist, so the next
        caller looks for it (DescribeJobs) before it may take the lease again. `seconds` must outlast the
        call (the function's timeout), so two callers never call DRS for the same claim at once.
        None when this call holds the lease now, else the claim's item as it is ({} if there is none: the
        kind's mapping refuses it, `Launches.lease_launch`, `Terminations.lease_termination`)."""
        now = self._clock.now()
        values = {
            ":starting": "STARTING",
            ":started": "STARTED",
            ":failed": "FAILED",
            ":token": token,
            ":until": iso(now + timedelta(seconds=seconds)),
            ":now": iso(now),
            ":yes": True,
            ":one": 1,
        }
        extra = ""
        for index, (name, value) in enumerate((sets or {}).items()):
            extra += f", {name} = :x{index}"
            values[f":x{index}"] = value
        taken = self._write(
            self._table.update_item,
            Key=dict(key),
            UpdateExpression="SET #s = :starting, leaseToken = :token, leaseUntil = :until, mayHaveStarted = :yes, "
            f"startingAt = if_not_exists(startingAt, :now){extra} ADD calls :one",
            ConditionExpression="attribute_exists(pk) AND NOT (#s IN (:started, :failed)) "
            "AND (#s <> :starting OR attribute_not_exists(leaseUntil) OR leaseUntil < :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values,
        )
        return None if taken.ok else (self._get(key) or {})

    def _end_lease(self, key: Key, *, token: str, status: str, sets: Mapping[str, Any] | None = None) -> bool:
        """`status` and `sets`, the lease removed, only while `token` holds it (False when it does not)."""
        update = _Update(sets={"status": status, **(sets or {})}, removes=["leaseToken", "leaseUntil"])
        return self._update(key, update, f"{update.name('leaseToken')} = {update.value(token)}").ok
