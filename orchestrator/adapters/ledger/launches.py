"""The launch claims (`LAUNCH#<wave>#<attempt>#<chunk>`): one per StartRecovery call a wave attempt makes,
claimed before the call so that a duplicated event, a retried execution or a crash after StartRecovery finds
the existing job instead of launching twice. Its lease (leases.py) lets one caller at a time call DRS.

`launch_claim(item)` / `launch_item(claim)` map a claim's item to its record
(`orchestrator.domain.records.launches.LaunchClaim`) and back: `launch_item(launch_claim(item)) == item`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from orchestrator.adapters.ledger._base import LedgerError, _Update
from orchestrator.adapters.ledger._keys import LAUNCH_PREFIX, Key, exec_pk, execution_id_of, launch_sk
from orchestrator.adapters.ledger.leases import Leases
from orchestrator.adapters.ledger.records import _BOOL, _INT, _LIST, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.clock import iso
from orchestrator.domain.records.launches import LaunchClaim, LaunchStatus

_CLAIM: dict[str, tuple[str, _Convert]] = {  # field -> (attribute, conversion), in the order a claim is written
    "launch_key": ("launchKey", _SAME),
    "wave_id": ("waveId", _SAME),
    "attempt": ("attempt", _INT),
    "index": ("chunk", _INT),
    "server_ids": ("servers", _LIST),
    "status": ("status", (LaunchStatus, str)),
    "claimed_at": ("claimedAt", _SAME),
    "lease_token": ("leaseToken", _SAME),
    "may_have_started": ("mayHaveStarted", _BOOL),
    "calls": ("calls", _INT),
    "lease_until": ("leaseUntil", _SAME),
    "starting_at": ("startingAt", _SAME),
    "job_id": ("jobId", _SAME),
    "ended_at": ("endedAt", _SAME),
    "reason": ("reason", _SAME),
    "park_reason": ("parkReason", _SAME),
    "expires_at": ("expiresAt", _INT),
    "packed_key": ("packedKey", _SAME),
}
_KEYS = ("pk", "sk", "kind")


def launch_claim(item: Mapping[str, Any]) -> LaunchClaim:
    """A launch claim's item as its record. LedgerError when it lacks an attribute every claim has (or is none:
    {})."""
    try:
        return LaunchClaim(
            execution_id=execution_id_of(item),
            **_fields(item, _CLAIM),
            extra=_extra(item, _CLAIM, own=_KEYS),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a launch claim: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def launch_item(claim: LaunchClaim) -> dict[str, Any]:
    """The item of a launch claim, as the ledger writes and reads it."""
    return {
        **_claim_key(claim.execution_id, claim.wave_id, claim.attempt, claim.index),
        "kind": "LAUNCH",
        **_attributes(claim, _CLAIM),
        **claim.extra,
    }


def _claim_key(execution_id: str, wave_id: str, attempt: int, chunk: int) -> Key:
    return {"pk": exec_pk(execution_id), "sk": launch_sk(wave_id, attempt, chunk)}


class Launches(Leases):
    def list_launches(self, execution_id: str, wave_id: str | None = None) -> list[dict[str, Any]]:
        """The launch claims' items of the execution (of one wave), in sort key order (`Waves.wave_detail`
        reads each job's servers there; the steps read `launches`)."""
        return self._query(execution_id, f"{LAUNCH_PREFIX}{wave_id}#" if wave_id else LAUNCH_PREFIX)

    def launches(self, execution_id: str, wave_id: str | None = None) -> list[LaunchClaim]:
        """The launch claims of the execution (of one wave), in sort key order (wave, attempt, chunk)."""
        return [launch_claim(item) for item in self.list_launches(execution_id, wave_id)]

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
        parked: str | None = None,
    ) -> LaunchClaim | None:
        """Claim one DRS launch before calling StartRecovery. Returns None when this call made the
        claim, or the existing claim (which may already hold the job id) when one was there. `lease`
        (token, seconds): the new claim is made already leased to this caller (see `lease_launch`), in
        the same write. `parked`: the new claim is made PARKED with this reason (the launch packer's queue)."""
        now = self._clock.now()
        claim = LaunchClaim(
            execution_id=execution_id,
            wave_id=wave_id,
            attempt=attempt,
            index=chunk,
            launch_key=launch_key,
            server_ids=tuple(server_ids),
            status=LaunchStatus.CLAIMED,
            claimed_at=iso(now),
        )
        if parked is not None:
            claim = replace(claim, status=LaunchStatus.PARKED, park_reason=parked[:500])
        if lease is not None:
            claim = replace(
                claim,
                status=LaunchStatus.STARTING,
                lease_token=lease[0],
                may_have_started=True,
                calls=1,
                lease_until=iso(now + timedelta(seconds=lease[1])),
                starting_at=iso(now),
            )
        existing = self._create(launch_item(claim))
        return None if existing is None else launch_claim(existing)

    def complete_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        job_id: str | None,
        status: LaunchStatus,
        reason: str | None = None,
    ) -> None:
        """The launch has ended (`status`: STARTED with its job, or FAILED or NOT_STARTED with a reason); its
        lease goes."""
        sets: dict[str, Any] = {"status": str(status), "endedAt": self.now()}
        if job_id:
            sets["jobId"] = job_id
        if reason:
            sets["reason"] = reason
        self._update(
            _claim_key(execution_id, wave_id, attempt, chunk), _Update(sets=sets, removes=["leaseToken", "leaseUntil"])
        )

    def lease_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        token: str,
        seconds: int,
        packed_key: str | None = None,
    ) -> LaunchClaim | None:
        """Take the right to call StartRecovery for a claimed launch (see `Leases._take_lease`). None when
        this call holds it now; else the claim as it is (with its `job_id` when the launch has its job, or
        held by another caller until its `lease_until`). LedgerError when there is no claim. `packed_key`: the
        packer takes it for a packed job of that key (written in the same write: whoever looks for the chunk's
        job looks for that tag)."""
        held = self._take_lease(
            _claim_key(execution_id, wave_id, attempt, chunk),
            token=token,
            seconds=seconds,
            sets={"packedKey": packed_key} if packed_key else None,
        )
        return None if held is None else launch_claim(held)

    def end_launch_lease(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        token: str,
        status: LaunchStatus,
        park_reason: str | None = None,
    ) -> bool:
        """Give the lease back after a call that started no job (throttled, no capacity): `status` (CLAIMED
        or PARKED, with its `park_reason`), only while `token` still holds it. `mayHaveStarted` stays: whoever
        comes next looks for a job by tag first."""
        return self._end_lease(
            _claim_key(execution_id, wave_id, attempt, chunk),
            token=token,
            status=str(status),
            sets={"parkReason": park_reason} if park_reason else None,
        )
