"""Terminations (a rollback, a drill's time to live, a cancel, `drs-orch cleanup`):
- a claim per TerminateRecoveryInstances call (`TERMJOB#<key>`, the key a digest of its batch), with a lease
  as a launch claim's (leases.py), so a batch is never terminated by two calls at once;
- a record per termination asked for (`TERMINATE#<scope>`: what it asked, what its jobs terminated and what
  not), which the report shows;
- a wait per deferred termination (`TERMWAIT#<scope>`: when it was first deferred, how often).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.adapters.ledger._base import _dynamo, _plain, _Update
from orchestrator.adapters.ledger._keys import (
    TERMINATE_PREFIX,
    TERMINATION_CLAIM_PREFIX,
    TERMINATION_WAIT_PREFIX,
    Key,
    exec_pk,
    termination_claim_key,
)
from orchestrator.adapters.ledger.leases import Leases


def _record_key(execution_id: str, scope: str) -> Key:
    return {"pk": exec_pk(execution_id), "sk": f"{TERMINATE_PREFIX}{scope}"}


class Terminations(Leases):
    # ---- claims ----------------------------------------------------------------------------------

    def claim_termination(
        self, execution_id: str, key: str, *, instance_ids: list[str], sets: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Claim one TerminateRecoveryInstances call for the batch `instance_ids` (its `key`: a digest of the
        batch) before it is made. None when this call made the claim, else the existing claim (with the
        `jobId` of the terminate job once known). Its `status` and lease follow a launch claim's: CLAIMED,
        STARTING (a call may be under way or may have created a job), STARTED."""
        return self._create(
            _dynamo(
                {
                    **termination_claim_key(execution_id, key),
                    "kind": "TERMINATE_CLAIM",
                    "terminationKey": key,
                    "instances": list(instance_ids),
                    "status": "CLAIMED",
                    "claimedAt": self.now(),
                    "expiresAt": self._expires_at(),
                    **(sets or {}),
                }
            )
        )

    def lease_termination(self, execution_id: str, key: str, *, token: str, seconds: int) -> dict[str, Any] | None:
        """Take the right to call TerminateRecoveryInstances for a claimed batch (as `lease_launch`)."""
        return self._take_lease(termination_claim_key(execution_id, key), token=token, seconds=seconds)

    def end_termination_lease(self, execution_id: str, key: str, *, token: str, status: str = "CLAIMED") -> bool:
        return self._end_lease(termination_claim_key(execution_id, key), token=token, status=status)

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
        self, execution_id: str, key: str, *, record_sk: str = "", announced: bool = False
    ) -> None:
        """The batch's termination is in the record `record_sk` (`record_termination`): later calls do not
        report it again, and its outcome is written there when its job ends. `announced`: what was asked
        was announced already (an operator's clean-up), so its end is not announced again."""
        self._table.update_item(
            Key=termination_claim_key(execution_id, key),
            UpdateExpression="SET #recorded = if_not_exists(#recorded, :now), #r = if_not_exists(#r, :r), #a = :a",
            ExpressionAttributeNames={"#recorded": "recordedAt", "#r": "recordSk", "#a": "announced"},
            ExpressionAttributeValues={":now": self.now(), ":r": record_sk, ":a": announced},
        )

    def settle_termination(
        self, execution_id: str, key: str, *, job_id: str, terminated: list[str], not_terminated: list[dict[str, str]]
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
                ":nt": not_terminated,
                ":none": [],
                ":job": job_id,
            },
        ).ok

    def list_termination_claims(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, TERMINATION_CLAIM_PREFIX)

    # ---- records and waits -------------------------------------------------------------------------

    def record_termination(self, execution_id: str, scope: str, sets: Mapping[str, Any]) -> None:
        self._update(_record_key(execution_id, scope), _Update(sets=dict(sets)))

    def settle_termination_record(
        self,
        execution_id: str,
        record_sk: str,
        *,
        job_id: str,
        terminated: list[str],
        not_terminated: list[dict[str, str]],
    ) -> dict[str, Any]:
        """Add a terminate job's outcome to the termination record that asked for it; returns the record."""
        response = self._table.update_item(
            Key=_record_key(execution_id, record_sk),
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
                ":nt": not_terminated,
                ":none": [],
                ":job": [job_id],
                ":now": self.now(),
            },
            ReturnValues="ALL_NEW",
        )
        return dict(_plain(response.get("Attributes", {})))

    def list_terminations(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, TERMINATE_PREFIX)

    def note_termination_deferred(self, execution_id: str, scope: str, *, restart: bool = False) -> str:
        """Count one deferral of a termination (`scope`: ROLLBACK#wave#attempt, TIME_TO_LIVE, CANCEL); returns
        when it was first deferred since it last made progress (`restart`: it made progress just now)."""
        first = ":now" if restart else "if_not_exists(firstAt, :now)"
        response = self._table.update_item(
            Key={"pk": exec_pk(execution_id), "sk": f"{TERMINATION_WAIT_PREFIX}{scope}"},
            UpdateExpression=f"SET firstAt = {first}, lastAt = :now, expiresAt = :e, #k = :kind ADD deferrals :one",
            ExpressionAttributeNames={"#k": "kind"},
            ExpressionAttributeValues={
                ":now": self.now(),
                ":one": 1,
                ":e": self._expires_at(),
                ":kind": "TERMINATE_WAIT",
            },
            ReturnValues="ALL_NEW",
        )
        return str(response["Attributes"]["firstAt"])
