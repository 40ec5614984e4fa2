"""Terminations (a rollback, a drill's time to live, a cancel, `drs-orch cleanup`):
- a claim per TerminateRecoveryInstances call (`TERMJOB#<key>`, the key a digest of its batch), with a lease
  as a launch claim's (leases.py), so a batch is never terminated by two calls at once;
- a record per termination asked for (`TERMINATE#<record id>`: what it asked, what its jobs terminated and
  what not), which the report shows;
- a wait per deferred termination (`TERMWAIT#<scope>`: when it was first deferred, how often).

`termination_claim(item)` / `termination_claim_item(claim)` and `termination_record(item)` /
`termination_item(record)` map those items to their records (`orchestrator.domain.records.terminations`)
and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerError, _dynamo, _plain, _Update
from orchestrator.adapters.ledger._keys import (
    TERMINATE_PREFIX,
    TERMINATION_CLAIM_PREFIX,
    TERMINATION_WAIT_PREFIX,
    Key,
    exec_pk,
    execution_id_of,
    termination_claim_key,
)
from orchestrator.adapters.ledger.leases import Leases
from orchestrator.adapters.ledger.records import _BOOL, _INT, _LIST, _SAME, _attributes, _Convert, _extra, _fields
from orchestrator.domain.records.terminations import (
    NotTerminated,
    TerminationClaim,
    TerminationRecord,
    TerminationStatus,
)

_NOT_TERMINATED: dict[str, tuple[str, _Convert]] = {
    "recovery_instance_id": ("recoveryInstanceId", _SAME),
    "source_server_id": ("sourceServerId", _SAME),
    "reason": ("reason", _SAME),
}


def _not_terminated(item: Mapping[str, Any]) -> NotTerminated:
    return NotTerminated(**_fields(item, _NOT_TERMINATED), extra=_extra(item, _NOT_TERMINATED))


def _not_terminated_map(failed: NotTerminated) -> dict[str, Any]:
    return {**_attributes(failed, _NOT_TERMINATED), **failed.extra}


_NOT_TERMINATED_LIST: _Convert = (
    lambda items: tuple(_not_terminated(i) for i in items),
    lambda failed: [_not_terminated_map(f) for f in failed],
)
_CLAIM: dict[str, tuple[str, _Convert]] = {  # field -> (attribute, conversion), in the order a claim is written
    "termination_key": ("terminationKey", _SAME),
    "instance_ids": ("instances", _LIST),
    "status": ("status", (TerminationStatus, str)),
    "claimed_at": ("claimedAt", _SAME),
    "expires_at": ("expiresAt", _INT),
    "ref": ("ref", _SAME),
    "lease_token": ("leaseToken", _SAME),
    "lease_until": ("leaseUntil", _SAME),
    "may_have_started": ("mayHaveStarted", _BOOL),
    "calls": ("calls", _INT),
    "starting_at": ("startingAt", _SAME),
    "job_id": ("jobId", _SAME),
    "started_at": ("startedAt", _SAME),
    "failed_job_ids": ("failedJobIds", _LIST),
    "settled_at": ("settledAt", _SAME),
    "terminated": ("terminated", _LIST),
    "not_terminated": ("notTerminated", _NOT_TERMINATED_LIST),
    "record_id": ("recordSk", _SAME),
    "announced": ("announced", _BOOL),
    "recorded_at": ("recordedAt", _SAME),
}
_RECORD: dict[str, tuple[str, _Convert]] = {  # waveId: see termination_record
    "reason": ("reason", _SAME),
    "job_ids": ("jobIds", _LIST),
    "instance_ids": ("instances", _LIST),
    "at": ("at", _SAME),
    "attempt": ("attempt", _INT),
    "terminated": ("terminated", _LIST),
    "not_terminated": ("notTerminated", _NOT_TERMINATED_LIST),
    "ended_job_ids": ("endedJobIds", _LIST),
    "ended_at": ("endedAt", _SAME),
    "error": ("error", _SAME),
}
_KEYS = ("pk", "sk", "kind")


def termination_claim(item: Mapping[str, Any]) -> TerminationClaim:
    """A termination claim's item as its record. LedgerError when it lacks an attribute every claim has (or is
    none: {})."""
    try:
        return TerminationClaim(
            execution_id=execution_id_of(item),
            **_fields(item, _CLAIM),
            extra=_extra(item, _CLAIM, own=_KEYS),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a termination claim: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def termination_claim_item(claim: TerminationClaim) -> dict[str, Any]:
    """The item of a termination claim, as the ledger reads it."""
    return {
        **termination_claim_key(claim.execution_id, claim.termination_key),
        "kind": "TERMINATE_CLAIM",
        **_attributes(claim, _CLAIM),
        **claim.extra,
    }


def termination_record(item: Mapping[str, Any]) -> TerminationRecord:
    """A termination record's item as its record (`waveId` "" is the whole execution: None). LedgerError when
    it is not one."""
    try:
        return TerminationRecord(
            execution_id=execution_id_of(item),
            record_id=str(item["sk"]).removeprefix(TERMINATE_PREFIX),
            wave_id=item.get("waveId") or None,
            **_fields(item, _RECORD),
            extra=_extra(item, _RECORD, own=[*_KEYS, "waveId"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LedgerError(f"not a termination record: {exc} ({item.get('pk')} {item.get('sk')})") from exc


def _record_attributes(record: TerminationRecord) -> dict[str, Any]:
    return {"kind": "TERMINATE", "waveId": record.wave_id or "", **_attributes(record, _RECORD), **record.extra}


def termination_item(record: TerminationRecord) -> dict[str, Any]:
    """The item of a termination record, as the ledger reads it."""
    return {**_record_key(record.execution_id, record.record_id), **_record_attributes(record)}


def _record_key(execution_id: str, record_id: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": f"{TERMINATE_PREFIX}{record_id}"}


class Terminations(Leases):
    # ---- claims ----------------------------------------------------------------------------------

    def claim_termination(
        self, execution_id: str, key: str, *, instance_ids: list[str], ref: str | None = None
    ) -> TerminationClaim | None:
        """Claim one TerminateRecoveryInstances call for the batch `instance_ids` (its `key`: a digest of the
        batch; `ref`: the termination's scope) before it is made. None when this call made the claim, else the
        existing claim (with the `job_id` of the terminate job once known). Its `status` and lease follow a
        launch claim's: CLAIMED, STARTING (a call may be under way or may have created a job), STARTED."""
        claim = TerminationClaim(
            execution_id=execution_id,
            termination_key=key,
            instance_ids=tuple(instance_ids),
            status=TerminationStatus.CLAIMED,
            claimed_at=self.now(),
            expires_at=self._expires_at(),
            ref=ref,
        )
        existing = self._create(_dynamo(termination_claim_item(claim)))
        return None if existing is None else termination_claim(existing)

    def lease_termination(self, execution_id: str, key: str, *, token: str, seconds: int) -> TerminationClaim | None:
        """Take the right to call TerminateRecoveryInstances for a claimed batch (as `lease_launch`). None when
        this call holds it now, else the claim as it is. LedgerError when there is no claim."""
        held = self._take_lease(termination_claim_key(execution_id, key), token=token, seconds=seconds)
        return None if held is None else termination_claim(held)

    def end_termination_lease(
        self, execution_id: str, key: str, *, token: str, status: TerminationStatus = TerminationStatus.CLAIMED
    ) -> bool:
        return self._end_lease(termination_claim_key(execution_id, key), token=token, status=str(status))

    def complete_termination(self, execution_id: str, key: str, *, job_id: str) -> None:
        """The batch's terminate job is known: STARTED with its id."""
        self._table.update_item(
            Key=termination_claim_key(execution_id, key),
            UpdateExpression="SET #s = :started, jobId = :job, startedAt = :now REMOVE leaseToken, leaseUntil",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":started": "STARTED", ":job": job_id, ":now": self.now()},
        )

    def reclaim_termination(self, execution_id: str, key: str, *, failed_job_id: str) -> bool:
        """The batch's terminate job ended with instances still running (it failed; settled): the claim goes
        back to CLAIMED, once (conditional on that job id), so the batch may be terminated again. What each
        job failed to terminate (`notTerminated`) stays."""
        return self._write(
            self._table.update_item,
            Key=termination_claim_key(execution_id, key),
            UpdateExpression="SET #s = :claimed, #failed = list_append(if_not_exists(#failed, :none), :failed), "
            "#claimed = :now REMOVE #job, #may, #starting, #settled, #r, #a, #recorded",
            ConditionExpression="#job = :job",
            ExpressionAttributeNames={
                "#s": "status",
                "#failed": "failedJobIds",
                "#claimed": "claimedAt",
                "#job": "jobId",
                "#may": "mayHaveStarted",
                "#starting": "startingAt",
                "#settled": "settledAt",
                "#r": "recordSk",
                "#a": "announced",
                "#recorded": "recordedAt",
            },
            ExpressionAttributeValues={
                ":claimed": "CLAIMED",
                ":failed": [failed_job_id],
                ":none": [],
                ":now": self.now(),
                ":job": failed_job_id,
            },
        ).ok

    def note_termination_recorded(
        self, execution_id: str, key: str, *, record_id: str = "", announced: bool = False
    ) -> None:
        """The batch's termination is in the record `record_id` (`record_termination`): later calls do not
        report it again, and its outcome is written there when its job ends. `announced`: what was asked
        was announced already (an operator's clean-up), so its end is not announced again."""
        self._table.update_item(
            Key=termination_claim_key(execution_id, key),
            UpdateExpression="SET #recorded = if_not_exists(#recorded, :now), #r = if_not_exists(#r, :r), #a = :a",
            ExpressionAttributeNames={"#recorded": "recordedAt", "#r": "recordSk", "#a": "announced"},
            ExpressionAttributeValues={":now": self.now(), ":r": record_id, ":a": announced},
        )

    def settle_termination(
        self,
        execution_id: str,
        key: str,
        *,
        job_id: str,
        terminated: list[str],
        not_terminated: list[NotTerminated],
    ) -> bool:
        """The batch's terminate job `job_id` has ended: note what it terminated and what not (appended to
        what earlier jobs of the batch failed to terminate). True for the first caller only."""
        return self._write(
            self._table.update_item,
            Key=termination_claim_key(execution_id, key),
            UpdateExpression="SET #settled = :now, #t = :t, #nt = list_append(if_not_exists(#nt, :none), :nt)",
            ConditionExpression="#job = :job AND attribute_not_exists(#settled)",
            ExpressionAttributeNames={
                "#settled": "settledAt",
                "#t": "terminated",
                "#nt": "notTerminated",
                "#job": "jobId",
            },
            ExpressionAttributeValues={
                ":now": self.now(),
                ":t": terminated,
                ":nt": [_not_terminated_map(failed) for failed in not_terminated],
                ":none": [],
                ":job": job_id,
            },
        ).ok

    def termination_claims(self, execution_id: str) -> list[TerminationClaim]:
        """The execution's termination claims, by key."""
        return [termination_claim(item) for item in self._query(execution_id, TERMINATION_CLAIM_PREFIX)]

    # ---- records and waits -------------------------------------------------------------------------

    def record_termination(self, record: TerminationRecord) -> None:
        """Write the record of a termination asked for (over one of the same id)."""
        self._update(
            _record_key(record.execution_id, record.record_id), _Update(sets=_dynamo(_record_attributes(record)))
        )

    def settle_termination_record(
        self,
        execution_id: str,
        record_id: str,
        *,
        job_id: str,
        terminated: list[str],
        not_terminated: list[NotTerminated],
    ) -> TerminationRecord:
        """Add a terminate job's outcome to the termination record that asked for it; returns the record."""
        response = self._table.update_item(
            Key=_record_key(execution_id, record_id),
            UpdateExpression="SET #t = list_append(if_not_exists(#t, :none), :t), "
            "#nt = list_append(if_not_exists(#nt, :none), :nt), "
            "#jobs = list_append(if_not_exists(#jobs, :none), :job), #ended = :now",
            ExpressionAttributeNames={
                "#t": "terminated",
                "#nt": "notTerminated",
                "#jobs": "endedJobIds",
                "#ended": "endedAt",
            },
            ExpressionAttributeValues={
                ":t": terminated,
                ":nt": [_not_terminated_map(failed) for failed in not_terminated],
                ":none": [],
                ":job": [job_id],
                ":now": self.now(),
            },
            ReturnValues="ALL_NEW",
        )
        return termination_record(_plain(response.get("Attributes", {})))

    def list_terminations(self, execution_id: str) -> list[dict[str, Any]]:
        """The termination records' items (the report and the chaos campaign read them; the steps do not)."""
        return self._query(execution_id, TERMINATE_PREFIX)

    def terminations(self, execution_id: str) -> list[TerminationRecord]:
        """The execution's termination records, by record id (wave or EXECUTION, then time)."""
        return [termination_record(item) for item in self.list_terminations(execution_id)]

    def note_termination_deferred(self, execution_id: str, scope: str, *, restart: bool = False) -> str:
        """Count one deferral of a termination (`scope`: ROLLBACK#wave#attempt, TIME_TO_LIVE, CANCEL); returns
        when it was first deferred since it last made progress (`restart`: it made progress just now)."""
        first = ":now" if restart else "if_not_exists(firstAt, :now)"
        expires = self._expires_at()
        values: dict[str, Any] = {":now": self.now(), ":one": 1, ":kind": "TERMINATE_WAIT"}
        if expires is not None:
            values[":e"] = expires
        response = self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_WAIT_PREFIX}{scope}"},
            UpdateExpression=f"SET firstAt = {first}, lastAt = :now, "
            + ("expiresAt = :e, " if expires is not None else "")
            + "#k = :kind ADD deferrals :one",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return str(response["Attributes"]["firstAt"])
