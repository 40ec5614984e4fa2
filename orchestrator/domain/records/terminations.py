"""What the ledger holds about terminating recovery instances, as typed records.

    TerminationClaim    the ledger's claim on one TerminateRecoveryInstances call for a batch of instances
                        (`Ledger.claim_termination`, `lease_termination`, `termination_claims`)
    TerminationRecord   one termination asked for (a rollback, a drill's time to live, a cancel, a clean-up):
                        what it asked, and once its jobs have ended what they terminated and what not
                        (`Ledger.record_termination`, `settle_termination_record`, `terminations`)
    NotTerminated       an instance a terminate job did not terminate, with DRS's reason (or why it was given up)

Like the wave records (`orchestrator.domain.records.waves`), they use Python names; the ledger adapter
(`orchestrator.adapters.ledger.terminations`) maps an item to a record and back. Times are ISO 8601 text; a
field is None when its attribute is absent; `extra` keeps the attributes a record does not name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

TerminationReason = Literal["ROLLBACK", "TIME_TO_LIVE", "CANCEL", "CLEANUP"]
"""Why instances are terminated: a failed wave's rollback, a drill's time to live, a drill cancelled with
`terminateDrillInstances`, an operator's `drs-orch cleanup` (RecoveryInstancesTerminated's `reason`)."""


class TerminationStatus(StrEnum):
    """A termination claim's `status`: CLAIMED -> STARTING (leased, written before the call) -> STARTED (with
    its terminate job); a call that started no job gives the lease back (CLAIMED), and a job that ended with
    instances still running reopens the claim (CLAIMED, `failed_job_ids`)."""

    CLAIMED = "CLAIMED"
    STARTING = "STARTING"
    STARTED = "STARTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotTerminated:
    """A recovery instance a terminate job did not terminate (`source_server_id`: its source server, when DRS
    named it), and why."""

    recovery_instance_id: str
    reason: str
    source_server_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminationClaim:
    """The ledger's claim on one TerminateRecoveryInstances call for `instance_ids` (`termination_key`: a digest
    of the batch), made before the call, leased like a launch claim (`lease_token` until `lease_until`,
    `may_have_started`, `calls`, `starting_at`). `ref` names the termination's scope
    (`<execution id>/<wave id or *>`). Once its job is known: `job_id`, `started_at`; once the termination is
    in a record: `record_id`, `recorded_at`, `announced` (its end is not announced again); once its job has
    ended: `settled_at`, what it `terminated` and what not (appended over the batch's jobs). A job that ended
    without terminating its instances is kept in `failed_job_ids` when the claim is reopened."""

    execution_id: str
    termination_key: str
    instance_ids: tuple[str, ...]
    status: TerminationStatus
    claimed_at: str | None = None
    expires_at: int | None = None  # TTL, epoch seconds
    ref: str | None = None
    lease_token: str | None = None
    lease_until: str | None = None
    may_have_started: bool | None = None
    calls: int | None = None
    starting_at: str | None = None
    job_id: str | None = None
    started_at: str | None = None
    failed_job_ids: tuple[str, ...] | None = None
    settled_at: str | None = None
    terminated: tuple[str, ...] | None = None
    not_terminated: tuple[NotTerminated, ...] | None = None
    record_id: str | None = None
    announced: bool | None = None
    recorded_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def called(self) -> bool:
        """A TerminateRecoveryInstances may have been called for this claim (a job may exist without a
        `job_id`)."""
        return self.status is TerminationStatus.STARTING or bool(self.may_have_started)

    @property
    def since(self) -> str | None:
        """When its first call was made (or, before any, when it was claimed): where to look for its job."""
        return self.starting_at or self.claimed_at

    @property
    def awaiting_outcome(self) -> bool:
        """Its terminate job is in a record and has not been settled: its outcome is to be written when it ends."""
        return bool(self.job_id and self.record_id and not self.settled_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminationRecord:
    """One termination asked for, which the report shows: why (`reason`), when (`at`), the wave (and its
    `attempt`, for a rollback; None: the whole execution), the recovery instances asked for and the DRS
    terminate jobs. Once those jobs have ended: what they terminated, what not (`not_terminated`), which jobs
    have ended and when the last did. A termination given up has no job and an `error` (its instances in
    `not_terminated`). `record_id` is `<wave id or EXECUTION>#<ISO time>`."""

    execution_id: str
    record_id: str
    reason: TerminationReason | None = None
    at: str | None = None
    wave_id: str | None = None
    attempt: int | None = None
    job_ids: tuple[str, ...] = ()
    instance_ids: tuple[str, ...] = ()
    terminated: tuple[str, ...] | None = None
    not_terminated: tuple[NotTerminated, ...] | None = None
    ended_job_ids: tuple[str, ...] | None = None
    ended_at: str | None = None
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
