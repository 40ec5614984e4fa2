"""Failback in the DRS simulator: recovery instances' failback states, StartFailbackLaunch, StopFailback and
EC2-to-EC2 ReverseReplication (``drs.failback`` in a simulation profile).

Without ``drs.failback`` nothing here is active: recovery instances carry no ``failback`` block and never change
failback state, so a profile without the section behaves as before (the one exception needs failback elsewhere:
an instance launched from a reversed server another Region's ReverseReplication created). With it::

    drs:
      failback:
        startAfterSeconds: 60           # the failback client starts replicating (FAILBACK_IN_PROGRESS)
        readyAfterSeconds: 600          # ... and is ready (FAILBACK_READY_FOR_LAUNCH), from the instance's launch
        launchSeconds: 300              # a StartFailbackLaunch job's launch of one instance
        reverseReplicationSeconds: 300  # a reversed source server's initial sync before CONTINUOUS
        reprotectSeconds: 300           # StartReplication of a failed-back server until CONTINUOUS
        servers:                        # by source server id
          s-0123456789abcdef0: {neverReady: true}        # the failback client never gets ready
          s-0123456789abcdef2: {failbackError: true}     # the failback client reports an error
          s-0123456789abcdef1: {originRegion: us-east-1}  # an EC2 instance of us-east-1 (ReverseReplication)

Wire shapes are botocore's drs model's (RecoveryInstanceFailback, StartFailbackLaunch, StopFailback,
ReverseReplication). Fidelity notes (the choices where DRS does not document its behaviour):

- An on-premises origin's recovery instance is FAILBACK_NOT_STARTED at launch; its failback client (booted by
  the operator on the origin side, not modelled) moves it to FAILBACK_IN_PROGRESS after ``startAfterSeconds`` and
  to FAILBACK_READY_FOR_LAUNCH after ``readyAfterSeconds``; a ``neverReady`` server's instance stays
  FAILBACK_IN_PROGRESS, a ``failbackError`` server's becomes FAILBACK_ERROR at ``readyAfterSeconds`` instead (its
  failback client reports an error; StopFailback puts it back to FAILBACK_NOT_STARTED, for good; the fault is
  refused with ``neverReady`` or ``originRegion``). Each change emits "DRS Recovery Instance Failback State
  Change" (source ``aws.drs``, ``resources`` the recovery instance ARN, ``detail`` ``{"state": <FailbackState>,
  "recovery-instance-id": id, "source-server-id": id}``): the detail's fields are this simulator's choice, only a
  real account shows DRS's.
- StartFailbackLaunch (1 to 200 ids): an unknown id or an instance not FAILBACK_READY_FOR_LAUNCH is a
  ValidationException (fieldValidationFailed; the model lists no ResourceNotFoundException for it), an instance
  already in a failback job a ConflictException. The job is a LAUNCH job initiated by FAILBACK; each instance's
  failback block gets the job id, and the instance becomes FAILBACK_COMPLETED when its launch ends; its
  on-premises source server's replication is then STOPPED until StartReplication re-protects it
  (``localcloud.drs_sim_reprotect``, ``reprotectSeconds``). The recovery quotas do not refuse it (it counts as an
  active job for later StartRecovery calls).
- GetFailbackReplicationConfiguration answers fixed values (name: the instance's hostname, no bandwidth
  throttling, public IP, IPV4): the simulator has no UpdateFailbackReplicationConfiguration.
- StopFailback (unknown id: ResourceNotFoundException) puts the instance back to FAILBACK_NOT_STARTED, as the API
  reference says, and cancels its pending progress; an instance in a failback job cannot be stopped
  (ConflictException, not in the model's error list: only a real account shows what DRS answers).
- ReverseReplication applies to instances whose server has ``originRegion``: it creates a source server in the
  origin Region's simulator of the same account (replicationDirection FAILBACK, reversedDirectionSourceServerArn
  the recovery side's server), in INITIAL_SYNC until ``reverseReplicationSeconds`` pass, then CONTINUOUS with a
  recovery snapshot; the recovery side's source server gets the reversed server's ARN. The recovery instance is
  FAILBACK_IN_PROGRESS meanwhile and FAILBACK_READY_FOR_LAUNCH once the reversed server replicates continuously.
  Unknown id: ResourceNotFoundException; an on-premises origin: ValidationException; reversed already:
  ConflictException; an origin Region without a simulator: UninitializedAccountException naming it.
- Re-protection after an EC2 failback ("For failback instances on origin region - starts replication to target
  region to re-protect them", the API reference): an instance launched from a reversed (FAILBACK-direction)
  server has a failback record even where the profile has no ``drs.failback`` (FAILBACK_NOT_STARTED, no failback
  client), and its ReverseReplication re-protects the server it failed back from (the reversed server's
  ``reversedDirectionSourceServerArn``, in the recovery Region) instead of creating one: that server is
  INITIAL_SYNC, then CONTINUOUS with a recovery snapshot after ``reverseReplicationSeconds`` (this Region's
  section, else the recovery Region's), and the answer's ``reversedDirectionSourceServerArn`` is its ARN; the
  instance is FAILBACK_IN_PROGRESS, then FAILBACK_READY_FOR_LAUNCH. Again: ConflictException; the reversed server
  keeps existing (DRS's cleanup of it is not modelled).
- An EC2-originated server (``originRegion``, or a reversed server: the Region of the instance it replicates
  from) shows ``sourceCloudProperties`` (``originAccountID`` this account, ``originRegion``,
  ``originAvailabilityZone`` the Region's first zone, ``<region>a``; ``identificationHints`` without
  ``vmWareUuid``, a reversed server's with ``awsInstanceID`` the recovery instance), and its recovery instances
  ``originEnvironment: AWS`` and ``originAvailabilityZone``; an on-premises server shows none, as before. Every
  server shows ``replicationDirection``; both servers of a reversed pair ``reversedDirectionSourceServerArn``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from localcloud.drs_sim_wire import DrsError
from localcloud.profile_keys import ProfileSection, invalid
from orchestrator.domain.clock import iso

FAILBACK_DETAIL_TYPE = "DRS Recovery Instance Failback State Change"
STATES = (
    "FAILBACK_NOT_STARTED",
    "FAILBACK_IN_PROGRESS",
    "FAILBACK_READY_FOR_LAUNCH",
    "FAILBACK_COMPLETED",
    "FAILBACK_ERROR",
    "FAILBACK_NOT_READY_FOR_LAUNCH",
    "FAILBACK_LAUNCH_STATE_NOT_AVAILABLE",
)
NOT_STARTED, IN_PROGRESS, READY, COMPLETED, ERROR = range(5)
MAX_FAILBACK_IDS = 200  # StartFailbackRequestRecoveryInstanceIDs max in the drs model
_GENERATION = 100  # a transition's index: generation * _GENERATION + state index

SourceServerId = Annotated[str, StringConstraints(pattern=r"^s-[0-9a-zA-Z]{17}$")]  # SourceServerID in the model
Operation = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]


# ---------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class FailbackServerSettings:
    never_ready: bool = False
    failback_error: bool = False
    origin_region: str | None = None


@dataclass(frozen=True)
class FailbackSettings:
    start_after_seconds: float = 60.0
    ready_after_seconds: float = 600.0
    launch_seconds: float = 300.0
    reverse_replication_seconds: float = 300.0
    reprotect_seconds: float = 300.0
    servers: dict[str, FailbackServerSettings] = field(default_factory=dict)


class FailbackServerProfile(ProfileSection):
    never_ready: bool = False
    failback_error: bool = False
    origin_region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @model_validator(mode="after")
    def _one_fault(self) -> FailbackServerProfile:
        if self.failback_error and self.never_ready:
            raise invalid("failbackError and neverReady exclude each other (the client errs, or never gets ready)")
        if self.failback_error and self.origin_region is not None:
            raise invalid(
                "failbackError is a fault of the failback client of an on-premises origin: an EC2 origin "
                "(originRegion) fails back by ReverseReplication, without one"
            )
        return self


class FailbackProfile(ProfileSection):
    """The ``drs.failback`` section of a simulation profile."""

    start_after_seconds: float = Field(default=60.0, ge=0, le=366 * 86_400)
    ready_after_seconds: float = Field(default=600.0, ge=0, le=366 * 86_400)
    launch_seconds: float = Field(default=300.0, ge=0, le=366 * 86_400)
    reverse_replication_seconds: float = Field(default=300.0, ge=0, le=366 * 86_400)
    reprotect_seconds: float = Field(default=300.0, ge=0, le=366 * 86_400)
    servers: dict[SourceServerId, FailbackServerProfile | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> FailbackProfile:
        if self.start_after_seconds > self.ready_after_seconds:
            raise invalid(
                f"startAfterSeconds ({self.start_after_seconds:g}) must not exceed readyAfterSeconds "
                f"({self.ready_after_seconds:g})"
            )
        return self

    def to_settings(self) -> FailbackSettings:
        return FailbackSettings(
            start_after_seconds=self.start_after_seconds,
            ready_after_seconds=self.ready_after_seconds,
            launch_seconds=self.launch_seconds,
            reverse_replication_seconds=self.reverse_replication_seconds,
            reprotect_seconds=self.reprotect_seconds,
            servers={
                sid: FailbackServerSettings(
                    never_ready=s.never_ready, failback_error=s.failback_error, origin_region=s.origin_region
                )
                if s
                else FailbackServerSettings()
                for sid, s in self.servers.items()
            },
        )


# ---------------------------------------------------------------------- the simulator's side


@dataclass(frozen=True)
class InstanceRef:
    """What failback needs of a recovery instance (the simulator's view of it)."""

    recovery_instance_id: str
    arn: str
    source_server_id: str
    hostname: str


@dataclass(frozen=True)
class FailbackHooks:
    """What failback needs of its simulator (called under its lock)."""

    now: Callable[[], datetime]
    instance: Callable[[str], InstanceRef | None]
    schedule: Callable[[datetime, str, str, int], None]  # (at, kind, key, index): a transition of the simulator
    start_job: Callable[[list[InstanceRef], dict[str, str], float], dict[str, Any]]  # a FAILBACK job's view
    server_arn: Callable[[str], str]
    set_reversed: Callable[[str, str], None]  # (source server id, reversed server ARN)
    reversed_of: Callable[[str], str | None]  # a FAILBACK-direction server's reversed server's ARN, else None
    peer: Callable[[str], Any]  # region -> that Region's DrsSimulator of this account, or None
    account_id: str
    region: str


@dataclass
class _Record:
    state: int = NOT_STARTED
    generation: int = 0
    job_id: str | None = None  # the failback job holding the instance until its launch ends
    last_job_id: str | None = None
    initiated: datetime | None = None
    reversed_arn: str | None = None


class Failback:
    """Failback states of this simulator's recovery instances, and the failback operations."""

    def __init__(self, settings: FailbackSettings | None, hooks: FailbackHooks) -> None:
        self.settings = settings
        self.hooks = hooks
        self._records: dict[str, _Record] = {}

    def operations(self) -> dict[str, Operation]:
        return {
            "StartFailbackLaunch": self._op_start_failback_launch,
            "StopFailback": self._op_stop_failback,
            "ReverseReplication": self._op_reverse_replication,
            "GetFailbackReplicationConfiguration": self._op_get_failback_replication_configuration,
        }

    def _server(self, source_server_id: str) -> FailbackServerSettings:
        if self.settings is None:
            return FailbackServerSettings()
        return self.settings.servers.get(source_server_id, FailbackServerSettings())

    def origin_region(self, source_server_id: str) -> str | None:
        """The EC2 Region a source server replicates from: the profile's ``originRegion``, or for a reversed
        (FAILBACK-direction) server the Region of the recovery instance it replicates from; None on premises."""
        reversed_arn = self.hooks.reversed_of(source_server_id)
        if reversed_arn is not None:
            return reversed_arn.split(":")[3]
        return self._server(source_server_id).origin_region

    def origin_environment(self, source_server_id: str) -> str:
        return "ON_PREMISES" if self.origin_region(source_server_id) is None else "AWS"

    # ---- time

    def launched(self, recovery_instance_id: str, source_server_id: str, at: datetime) -> None:
        """A recovery instance was launched at `at`: an on-premises origin's failback client starts its timer."""
        if self.settings is None and self.hooks.reversed_of(source_server_id) is None:
            return  # a failed-back server's instance has failback state even without drs.failback (re-protection)
        self._records[recovery_instance_id] = _Record()
        if self.origin_region(source_server_id) is not None:
            return  # an EC2 origin fails back (or is re-protected) through ReverseReplication
        self._progress(recovery_instance_id, at, self._server(source_server_id))

    def _progress(self, rid: str, at: datetime, server: FailbackServerSettings) -> None:
        assert self.settings is not None
        record = self._records[rid]
        record.generation += 1
        base = record.generation * _GENERATION
        self.hooks.schedule(
            at + timedelta(seconds=self.settings.start_after_seconds), "failback", rid, base + IN_PROGRESS
        )
        if not server.never_ready:
            ready_at = at + timedelta(seconds=self.settings.ready_after_seconds)
            self.hooks.schedule(ready_at, "failback", rid, base + (ERROR if server.failback_error else READY))

    def apply(self, rid: str, index: int, at: datetime) -> dict[str, Any] | None:
        """A due failback transition: the new state's event, or None when stale (stopped, instance gone)."""
        record = self._records.get(rid)
        generation, state = divmod(index, _GENERATION)
        if record is None or record.generation != generation or self.hooks.instance(rid) is None:
            return None
        return self._set(rid, state, at)

    def _set(self, rid: str, state: int, at: datetime) -> dict[str, Any] | None:
        record = self._records[rid]
        if record.state == state:
            return None
        record.state = state
        instance = self.hooks.instance(rid)
        if instance is None:
            return None
        return {
            "Source": "aws.drs",
            "DetailType": FAILBACK_DETAIL_TYPE,
            "Resources": [instance.arn],
            "Time": at,
            "Detail": _detail(STATES[state], rid, instance.source_server_id),
        }

    def failback_launched(self, rid: str, at: datetime) -> dict[str, Any] | None:
        """A FAILBACK job's launch of `rid` ended: the instance is FAILBACK_COMPLETED."""
        record = self._records.get(rid)
        if record is None:
            return None
        record.job_id = None
        record.generation += 1  # nothing pending applies any more
        return self._set(rid, COMPLETED, at)

    # ---- views

    def view(self, rid: str) -> dict[str, Any] | None:
        """The instance's ``failback`` block (None without ``drs.failback``)."""
        record = self._records.get(rid)
        if record is None:
            return None
        block: dict[str, Any] = {"state": STATES[record.state], "failbackToOriginalServer": True}
        if record.initiated is not None:
            block["failbackInitiationTime"] = iso(record.initiated)
        if record.last_job_id is not None:
            block["failbackJobID"] = record.last_job_id
            block["failbackLaunchType"] = "RECOVERY"
        if record.state != NOT_STARTED:
            block["failbackClientID"] = f"fbc-{rid[2:]}"
            block["failbackClientLastSeenByServiceDateTime"] = iso(self.hooks.now())
        return block

    # ---- operations

    def _op_start_failback_launch(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ids: list[str] = list(args.get("recoveryInstanceIDs") or [])
        refs = self._launchable(ids)
        assert self.settings is not None  # every instance with a record was launched with failback configured
        view = self.hooks.start_job(refs, dict(args.get("tags") or {}), self.settings.launch_seconds)
        now = self.hooks.now()
        for rid in ids:
            record = self._records[rid]
            record.job_id = record.last_job_id = view["jobID"]
            record.initiated = now
        return 200, {"job": view}

    def _launchable(self, ids: list[str]) -> list[InstanceRef]:
        """The instances of a StartFailbackLaunch, each checked as DRS refuses it (nothing changes on a refusal)."""
        if not ids or len(ids) > MAX_FAILBACK_IDS:  # botocore checks neither end of the list client-side
            raise _invalid("recoveryInstanceIDs", f"Between 1 and {MAX_FAILBACK_IDS} recovery instance ids per call")
        duplicates = sorted({rid for rid in ids if ids.count(rid) > 1})
        if duplicates:
            raise _invalid("recoveryInstanceIDs", f"Duplicate recovery instances: {', '.join(duplicates)}")
        refs = {rid: self.hooks.instance(rid) for rid in ids}
        unknown = [rid for rid, ref in refs.items() if ref is None]
        if unknown:
            raise _invalid("recoveryInstanceIDs", f"Recovery instance(s) not found: {', '.join(unknown)}")
        busy = [rid for rid in ids if rid in self._records and self._records[rid].job_id is not None]
        if busy:
            raise DrsError(
                "ConflictException",
                f"Recovery instance(s) already failing back: {', '.join(busy)}",
                resourceId=busy[0],
                resourceType="RECOVERY_INSTANCE",
            )
        not_ready = [rid for rid in ids if self._state_name(rid) != STATES[READY]]
        if not_ready:
            states = ", ".join(f"{rid} ({self._state_name(rid)})" for rid in not_ready)
            raise _invalid("recoveryInstanceIDs", f"Recovery instance(s) not FAILBACK_READY_FOR_LAUNCH: {states}")
        return [ref for ref in refs.values() if ref is not None]

    def _state_name(self, rid: str) -> str:
        record = self._records.get(rid)
        return STATES[record.state] if record is not None else "no failback client"

    def _tracked(self, rid: str) -> tuple[InstanceRef, _Record]:
        """The instance and its failback record: an unknown instance is a ResourceNotFoundException, one launched
        without ``drs.failback`` (no failback state at all) a ValidationException saying so."""
        ref = self.hooks.instance(rid)
        if ref is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"Recovery instance {rid} not found",
                resourceId=rid,
                resourceType="RECOVERY_INSTANCE",
            )
        record = self._records.get(rid)
        if record is None:
            raise _invalid(
                "recoveryInstanceID",
                f"Recovery instance {rid} has no failback state (the simulation profile has no drs.failback "
                f"section for account {self.hooks.account_id} in {self.hooks.region})",
            )
        return ref, record

    def _op_stop_failback(self, args: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        rid = args["recoveryInstanceID"]
        _, record = self._tracked(rid)
        if record.job_id is not None:
            raise DrsError(
                "ConflictException",
                f"Recovery instance {rid} is in failback job {record.job_id}",
                resourceId=rid,
                resourceType="RECOVERY_INSTANCE",
            )
        record.generation += 1  # pending progress no longer applies
        record.state = NOT_STARTED
        return 200, None

    def _op_get_failback_replication_configuration(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """DRS's defaults as the simulator has them (no UpdateFailbackReplicationConfiguration here)."""
        rid = args["recoveryInstanceID"]
        ref, _ = self._tracked(rid)
        return 200, {
            "recoveryInstanceID": rid,
            "name": ref.hostname,
            "bandwidthThrottling": 0,
            "usePrivateIP": False,
            "internetProtocol": "IPV4",
        }

    def _op_reverse_replication(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A recovery instance of an EC2 origin replicates back to its origin Region (a new reversed source server
        there), or a failed-back instance (launched from a reversed server) re-protects the server it failed back
        from (that server, in the recovery Region, replicates again)."""
        rid = args["recoveryInstanceID"]
        ref, record = self._tracked(rid)
        original_arn = self.hooks.reversed_of(ref.source_server_id)
        origin = self.origin_region(ref.source_server_id)
        if origin is None:
            raise _invalid(
                "recoveryInstanceID",
                f"Recovery instance {rid} did not originate in EC2: fail it back with StartFailbackLaunch",
            )
        if record.reversed_arn is not None:
            raise DrsError(
                "ConflictException",
                f"Replication of recovery instance {rid} is already reversed: {record.reversed_arn}",
                resourceId=rid,
                resourceType="RECOVERY_INSTANCE",
            )
        peer = self._peer(origin)
        # the sync time: this Region's section, else (a failed-back instance's origin Region may have none) the peer's
        delay = self.settings.reverse_replication_seconds if self.settings is not None else None
        if original_arn is not None:
            record.reversed_arn = peer.reprotect_server(original_arn, delay)
        else:
            assert delay is not None  # an originRegion comes from this Region's drs.failback section
            server_arn = self.hooks.server_arn(ref.source_server_id)
            record.reversed_arn = peer.add_reversed_server(ref.hostname, server_arn, delay, rid)
            self.hooks.set_reversed(ref.source_server_id, record.reversed_arn)
        now = self.hooks.now()
        record.initiated = now
        record.generation += 1
        wait = peer.failback.reverse_seconds(delay)
        self.hooks.schedule(now, "failback", rid, record.generation * _GENERATION + IN_PROGRESS)
        self.hooks.schedule(now + timedelta(seconds=wait), "failback", rid, record.generation * _GENERATION + READY)
        return 200, {"reversedDirectionSourceServerArn": record.reversed_arn}

    def reverse_seconds(self, given: float | None) -> float:
        """How long a (re-)reversed server's sync takes: `given`, else this Region's section's, else the default."""
        if given is not None:
            return given
        return (self.settings or FailbackSettings()).reverse_replication_seconds

    def _peer(self, region: str) -> Any:
        peer = self.hooks.peer(region)
        if peer is None:
            raise DrsError(
                "UninitializedAccountException",
                f"Account {self.hooks.account_id} is not initialized for DRS in {region} (the simulation "
                f"profile's accounts section must list {region} for account {self.hooks.account_id})",
            )
        return peer


def _detail(state: str, rid: str, sid: str) -> str:
    return json.dumps({"state": state, "recovery-instance-id": rid, "source-server-id": sid})


def _invalid(field_name: str, message: str) -> DrsError:
    return DrsError(
        "ValidationException",
        message,
        reason="fieldValidationFailed",
        fieldList=[{"name": field_name, "message": message}],
    )
