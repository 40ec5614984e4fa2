"""What the ledger holds of each server of a wave, as typed records: how its launch ended in the wave's current
(or last) attempt, and how it had ended each earlier attempt.

    ServerLaunchStatus  a server's launch status: NOT_STARTED until its job has ended, then DRS's word
    ServerOutcome       how one server ended (a DRS job's end, or the preflight): what the ledger is told
    ServerAttempt       how one server had ended one earlier attempt of its wave (an entry of its history)
    ServerResult        one server of a wave, as `Ledger.wave_servers` gives it

A server's result lives in an item of its own (`SERVER#<wave>#<server>`), so a wave item stays small whatever
the wave's size. Like the wave records (`orchestrator.domain.records.waves`), these use Python names; only the
ledger adapter (`orchestrator.adapters.ledger.servers`) knows the items' attribute names and maps an item to a
record and back. A field is None when its attribute is absent from the item; `extra` keeps the attributes a
record does not name, so writing it back loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.domain.plan import Criticality


class ServerLaunchStatus(StrEnum):
    """A server's launch status in the ledger: NOT_STARTED until a job's end (or the preflight) says how it
    ended, then LAUNCHED or FAILED. The other values are DRS's own words for a participating server
    (`events.models.ServerLaunch.launch_status`): a job's end reports what DRS says, and the ledger keeps it."""

    NOT_STARTED = "NOT_STARTED"
    LAUNCHED = "LAUNCHED"
    FAILED = "FAILED"
    PENDING = "PENDING"  # DRS: not launched yet
    IN_PROGRESS = "IN_PROGRESS"  # DRS: launching
    TERMINATED = "TERMINATED"  # DRS: launched, and its recovery instance terminated since


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOutcome:
    """How one server ended: its launch status and, when known, its recovery instance (EC2 id of DRS's
    recovery instance, `i-…`) and why it did not launch (DRS's job log, or the preflight's problem)."""

    launch_status: ServerLaunchStatus
    recovery_instance_id: str | None = None
    reason: str | None = None
    # the point-in-time snapshot its recovery instance was launched from (DescribeRecoveryInstances'
    # pointInTimeSnapshotDateTime, ISO), when DRS gives it: the server's recovery point (RPO)
    recovery_point_at: str | None = None
    # its recovery instance's private IP (DescribeRecoveryInstances: the primary network interface's first IP)
    private_ip: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAttempt:
    """How a server had ended attempt `attempt` of its wave (1, 2, ...): its launch status, and when known the
    DRS job (`jobID`) that launched it, its recovery instance and the reason it did not launch."""

    attempt: int
    launch_status: ServerLaunchStatus
    recovery_instance_id: str | None = None
    job_id: str | None = None
    reason: str | None = None
    recovery_point_at: str | None = None
    private_ip: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerResult:
    """One source server of a wave of an execution: its criticality (as the plan gave it; None when the
    plan's server item had none), its launch status in wave attempt `attempt` (the attempt that last wrote it),
    and when known the DRS job that launched it, its recovery instance and the reason it did not launch.
    `history`: how it had ended each earlier attempt it was launched in again from (oldest first; a retry
    appends one when it resets the server). `expires_at`: when the item expires (epoch seconds, DynamoDB's
    time to live), once its execution has ended. `recovery_point_at`: the point-in-time snapshot its recovery
    instance was launched from (ISO; DRS's DescribeRecoveryInstances), when known; `private_ip`: its recovery
    instance's private IP, when known."""

    execution_id: str
    wave_id: str
    source_server_id: str
    criticality: Criticality | None
    launch_status: ServerLaunchStatus
    attempt: int
    job_id: str | None = None
    recovery_instance_id: str | None = None
    reason: str | None = None
    recovery_point_at: str | None = None
    private_ip: str | None = None
    history: tuple[ServerAttempt, ...] = ()
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def launched(self) -> bool:
        return self.launch_status is ServerLaunchStatus.LAUNCHED

    def current(self) -> ServerAttempt:
        """How the server stands in attempt `attempt`, as an entry of its history would keep it."""
        return ServerAttempt(
            attempt=self.attempt,
            launch_status=self.launch_status,
            recovery_instance_id=self.recovery_instance_id,
            job_id=self.job_id,
            reason=self.reason,
            recovery_point_at=self.recovery_point_at,
            private_ip=self.private_ip,
        )

    def ended(self, attempt: int) -> ServerAttempt:
        """How the server had ended wave attempt `attempt`: the first state its history kept for that attempt
        or a later one (it was not launched again in between), else its current state."""
        return next((h for h in self.history if h.attempt >= attempt), self.current())
