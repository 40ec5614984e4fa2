"""What the ledger holds about DRS launches, as typed records: the chunk of servers one StartRecovery launches,
its launch claim, the queue of launches parked for want of DRS capacity, and that shared capacity.

    LaunchChunk     one StartRecovery's servers, as the wave launch state machine carries it (and the queue)
    LaunchClaim     the ledger's claim on that StartRecovery (`Ledger.claim_launch`, `lease_launch`, `launches`)
    ParkedLaunch    a chunk waiting in the capacity queue (`Ledger.parked`)
    CapacityState   the DRS jobs and servers every execution has in flight (`Ledger.capacity`), one
                    CapacityHold per admitted job

Like the wave records (`orchestrator.domain.records.waves`), they use Python names; the ledger adapter
(`orchestrator.adapters.ledger.launches`, `.capacity`) maps an item to a record and back. Times are ISO 8601
text (`orchestrator.domain.clock.iso`); a field is None when its attribute is absent; `extra` keeps the
attributes a record does not name.

A chunk is also a message: the wave launch state machine (infra/wave_launch.asl.json) passes it from
PrepareLaunch to StartJob, back through a Wait (with `tries`), and to ChunkFailed, and the capacity queue stores
it as JSON text. `LaunchChunk.payload()` / `LaunchChunk.from_payload()` are that JSON shape, and only the
handler of the state machine's tasks and the queue's adapter convert it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal


class LaunchStatus(StrEnum):
    """A launch claim's `status` in the ledger: CLAIMED -> STARTING (leased, written before StartRecovery) ->
    STARTED (with its job) or FAILED; a call that started no job gives the lease back (CLAIMED, or PARKED for
    want of capacity); NOT_STARTED: the plan stopped while it waited for capacity (a reopened wave may start
    it again)."""

    CLAIMED = "CLAIMED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    FAILED = "FAILED"
    PARKED = "PARKED"
    NOT_STARTED = "NOT_STARTED"


class Admission(StrEnum):
    """What a request for DRS capacity came to (`Ledger.capacity_admit`)."""

    ADMITTED = "ADMITTED"
    HELD = "HELD"  # admitted before (a retry): still counted once
    FULL = "FULL"


HoldKind = Literal["LAUNCH", "TERMINATE"]  # the kind of DRS job a capacity hold counts


# ---- the chunk -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkServer:
    """A source server to launch, and the point-in-time snapshot to launch it from (None: the latest)."""

    source_server_id: str
    recovery_snapshot_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchChunk:
    """The servers one StartRecovery launches: chunk `index` of attempt `attempt` of a wave (at most the DRS
    job size: `orchestrator.steps.capacity.Quotas.job_size`), its `launch_key` (the claim and the DRS job's
    tag), its `launch_token` (the secret `prepare` wrote on the wave with LAUNCHING: the launch key can be
    derived by anyone, the token only read in the ledger) and `tries`, the StartRecovery calls the state
    machine made for it so far (0 in the queue)."""

    execution_id: str
    plan_id: str
    wave_id: str
    attempt: int
    index: int
    is_drill: bool
    launch_key: str
    servers: tuple[ChunkServer, ...]
    launch_token: str | None = None
    tries: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def server_ids(self) -> list[str]:
        return [server.source_server_id for server in self.servers]

    def next_try(self) -> LaunchChunk:
        return replace(self, tries=self.tries + 1)

    def source_servers(self) -> list[dict[str, str]]:
        """StartRecovery's `sourceServers` (DRS's shape: `sourceServerID` and, when set, `recoverySnapshotID`)."""
        return [
            {
                "sourceServerID": server.source_server_id,
                **({"recoverySnapshotID": server.recovery_snapshot_id} if server.recovery_snapshot_id else {}),
            }
            for server in self.servers
        ]

    def payload(self) -> dict[str, Any]:
        """The chunk as JSON: `{executionId, planId, waveId, attempt, index, isDrill, launchKey, launchToken?,
        servers: [{sourceServerID, recoverySnapshotID?}], tries?}` (`tries` only once a call was retried)."""
        return {
            "executionId": self.execution_id,
            "planId": self.plan_id,
            "waveId": self.wave_id,
            "attempt": self.attempt,
            "index": self.index,
            "isDrill": self.is_drill,
            "launchKey": self.launch_key,
            **({"launchToken": self.launch_token} if self.launch_token is not None else {}),
            "servers": self.source_servers(),
            **({"tries": self.tries} if self.tries else {}),
            **self.extra,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> LaunchChunk:
        """The chunk of its JSON (`payload()`). KeyError, TypeError or ValueError when it is not one."""
        named = {
            *("executionId", "planId", "waveId", "attempt", "index", "isDrill", "launchKey", "launchToken"),
            *("servers", "tries"),
        }
        return cls(
            execution_id=str(payload["executionId"]),
            plan_id=str(payload["planId"]),
            wave_id=str(payload["waveId"]),
            attempt=int(payload["attempt"]),
            index=int(payload["index"]),
            is_drill=bool(payload["isDrill"]),
            launch_key=str(payload["launchKey"]),
            launch_token=None if payload.get("launchToken") is None else str(payload["launchToken"]),
            servers=tuple(
                ChunkServer(
                    source_server_id=str(server["sourceServerID"]),
                    recovery_snapshot_id=server.get("recoverySnapshotID") or None,
                )
                for server in payload["servers"]
            ),
            tries=int(payload.get("tries") or 0),
            extra={name: value for name, value in payload.items() if name not in named},
        )


# ---- the claim -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LaunchClaim:
    """The ledger's claim on one StartRecovery (chunk `index` of a wave attempt), made before the call so that a
    duplicate, a retry or a crash finds the job instead of launching twice. `lease_token` holds the right to call
    DRS until `lease_until`; `may_have_started` says a call was made (its job is looked for by tag before
    another); `calls` counts the leases taken; `starting_at` is when the first was."""

    execution_id: str
    wave_id: str
    attempt: int
    index: int
    launch_key: str
    server_ids: tuple[str, ...]
    status: LaunchStatus
    claimed_at: str | None = None
    lease_token: str | None = None
    lease_until: str | None = None
    may_have_started: bool | None = None
    calls: int | None = None
    starting_at: str | None = None
    job_id: str | None = None  # DRS's jobID once known
    ended_at: str | None = None
    reason: str | None = None  # why it FAILED (or was NOT_STARTED)
    park_reason: str | None = None  # why it was PARKED
    expires_at: int | None = None  # TTL (epoch seconds) once its execution has ended
    packed_key: str | None = None  # the packed job it was put in (its DRS tag; orchestrator/steps/packer.py)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def job_tag(self) -> str:
        """The launch-key tag its DRS job carries: the packed job's key when the packer put it in one, else its own."""
        return self.packed_key or self.launch_key

    @property
    def called(self) -> bool:
        """A StartRecovery may have been called for this claim (a job may exist even without a `job_id`)."""
        return self.status is LaunchStatus.STARTING or bool(self.may_have_started)

    @property
    def since(self) -> str | None:
        """When its first call was made (or, before any, when it was claimed): where to look for its job."""
        return self.starting_at or self.claimed_at


# ---- the capacity queue and the capacity state ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedLaunch:
    """A launch waiting for DRS capacity in the queue every execution shares (oldest `enqueued_at` first)."""

    launch_key: str
    enqueued_at: str
    chunk: LaunchChunk
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityHold:
    """One admitted DRS job in the shared capacity: `key` (a launch key, or a termination key), its `servers`,
    when it was admitted (`at`), what for (`ref`: `<execution id>/<wave id or *>`) and its `job_id` once
    started."""

    key: str
    servers: int
    at: str | None = None
    kind: HoldKind | None = None
    ref: str | None = None
    job_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityState:
    """The DRS jobs and servers in flight across every execution (counted against DRS's quotas), the launches
    `queued` behind them, when it was last reconciled with DRS, and what each job was admitted with (`holds`,
    by key). A count is None until something has been counted."""

    active_jobs: int | None = None
    active_servers: int | None = None
    queued: int | None = None
    reconciled_at: str | None = None
    holds: Mapping[str, CapacityHold] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


# ---- packed launches (issue #19) -----------------------------------------------------------------------


class PackedStatus(StrEnum):
    """A packed job's record: STARTING (written before StartRecovery, under the packer's lock) -> STARTED (its job
    id known, every chunk recorded on its wave) or ABANDONED (no job was created: its chunks go back to the pool)."""

    STARTING = "STARTING"
    STARTED = "STARTED"
    ABANDONED = "ABANDONED"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedLaunch:
    """One StartRecovery the packer makes for several chunks (`orchestrator.steps.packer`): its `key` (the job's
    launch-key tag, `orchestrator.domain.packing.PackedJob.key`), the `token` of the packer call that wrote it (its
    chunks' claims are leased with it), its `chunks`, when it was written (`at`), and its `job_id` once started."""

    key: str
    token: str
    status: PackedStatus
    chunks: tuple[LaunchChunk, ...]
    at: str
    is_drill: bool
    job_id: str | None = None
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def server_ids(self) -> list[str]:
        return [sid for chunk in self.chunks for sid in chunk.server_ids]

    @property
    def waves(self) -> list[str]:
        """`<execution id>/<wave id>` of each chunk, in the job's order (the report's "shared with")."""
        return [f"{chunk.execution_id}/{chunk.wave_id}" for chunk in self.chunks]
