"""The launch claims (`LAUNCH#<wave>#<attempt>#<chunk>`): one per StartRecovery call a wave attempt makes,
claimed before the call so that a duplicated event, a retried execution or a crash after StartRecovery finds
the existing job instead of launching twice. Its lease (leases.py) lets one caller at a time call DRS.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import _Update
from orchestrator.adapters.ledger._keys import LAUNCH_PREFIX, Key, exec_pk, launch_sk
from orchestrator.adapters.ledger.leases import Leases
from orchestrator.domain.clock import iso


def _launch_key(execution_id: str, wave_id: str, attempt: int, chunk: int) -> Key:
    return {"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)}


class Launches(Leases):
    def list_launches(self, execution_id: str, wave_id: str | None = None) -> list[dict[str, Any]]:
        """The launch claims of the execution (of one wave), in sort key order."""
        return self._query(execution_id, f"{LAUNCH_PREFIX}{wave_id}#" if wave_id else LAUNCH_PREFIX)

    def claim_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        launch_key: str,
        server_ids: list[str],
        lease: tuple[str, int] | None = None,
    ) -> dict[str, Any] | None:
        """Claim one DRS launch before calling StartRecovery. Returns None when this call made the
        claim, or the existing claim (which may already hold the job id) when one was there. `lease`
        (token, seconds): the new claim is made already leased to this caller (see `lease_launch`), in
        the same write."""
        now = self._clock.now()
        item: dict[str, Any] = {
            "pk": exec_pk(execution_id),
            "sk": launch_sk(wave_id, attempt, chunk),
            "kind": "LAUNCH",
            "launchKey": launch_key,
            "waveId": wave_id,
            "attempt": attempt,
            "chunk": chunk,
            "servers": server_ids,
            "status": "CLAIMED",
            "claimedAt": iso(now),
        }
        if lease is not None:
            item.update(
                {
                    "status": "STARTING",
                    "leaseToken": lease[0],
                    "mayHaveStarted": True,
                    "calls": 1,
                    "leaseUntil": iso(now + timedelta(seconds=lease[1])),
                    "startingAt": iso(now),
                }
            )
        return self._create(item)

    def complete_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        job_id: str | None,
        status: str,
        reason: str | None = None,
    ) -> None:
        """The launch has ended (`status`: STARTED with its job, or FAILED with a reason); its lease goes."""
        sets: dict[str, Any] = {"status": status, "endedAt": self.now()}
        if job_id:
            sets["jobId"] = job_id
        if reason:
            sets["reason"] = reason
        self._update(
            _launch_key(execution_id, wave_id, attempt, chunk), _Update(sets=sets, removes=["leaseToken", "leaseUntil"])
        )

    def lease_launch(
        self, execution_id: str, wave_id: str, attempt: int, chunk: int, *, token: str, seconds: int
    ) -> dict[str, Any] | None:
        """Take the right to call StartRecovery for a claimed launch (see `Leases._take_lease`). None when
        this call holds it now; else the claim as it is (with its `jobId` when the launch has its job, or
        held by another caller until its `leaseUntil`)."""
        return self._take_lease(_launch_key(execution_id, wave_id, attempt, chunk), token=token, seconds=seconds)

    def end_launch_lease(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        token: str,
        status: str,
        sets: Mapping[str, Any] | None = None,
    ) -> bool:
        """Give the lease back after a call that started no job (throttled, no capacity): `status` (CLAIMED
        or PARKED) and `sets`, only while `token` still holds it. `mayHaveStarted` stays: whoever comes next
        looks for a job by tag first."""
        return self._end_lease(
            _launch_key(execution_id, wave_id, attempt, chunk), token=token, status=status, sets=sets
        )
