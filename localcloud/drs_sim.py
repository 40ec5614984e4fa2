"""An in-process AWS Elastic Disaster Recovery (DRS) simulator served to boto3 ``drs`` clients.

moto has no DRS. The simulator answers botocore's ``before-send.drs`` event with wire-compatible
rest-json responses, so the real client serializes, validates and parses every call with its own
``drs`` service model. Everything runs on an injected clock: nothing sleeps and no thread is started.
A job's state follows from the clock: each API call (and :meth:`DrsSimulator.advance`) first applies
every transition that is due, in time order, then answers.

Fidelity notes (where DRS does not document the behaviour, the choice made here):

- Unknown source server in StartRecovery, unknown snapshot, job or recovery instance id in a request
  body: ``ValidationException`` (reason ``fieldValidationFailed``, ``fieldList`` naming the ids). The
  tagging APIs answer an unknown ARN with ``ResourceNotFoundException`` as their model lists it.
- A launch's outcome (LAUNCHED or FAILED) is decided when the job is created, from the server's
  configured outcome and replication state: servers that are ``STOPPED``, ``INITIATING`` or
  ``INITIAL_SYNC`` or have no recovery snapshot fail to launch; ``STALLED``/``DISCONNECTED`` servers
  launch from their last snapshot (an orchestrator should refuse them beforehand).
- A new launch of a source server replaces its previous recovery instance.
- Terminating recovery instances marks their servers TERMINATED in the terminate job and in the
  launch job that created them; the recovery instances then disappear from DescribeRecoveryInstances.
- A terminate job whose server is configured to fail (``terminate: FAILED``, ``terminateFailureRate``)
  ends with that server FAILED (a ``CLEANUP_FAIL`` log item with the ``rawError``); its recovery instance
  stays RUNNING and can be terminated again.
- Outside jobs (``outsideJobs``) are LAUNCH drills nobody tagged, started on the simulator's clock as if
  from the console: they are listed by DescribeJobs, hold their servers (StartRecovery answers
  ConflictException for them), count against the quotas, and launch recovery instances like any job. A
  named server already in a job when its outside job starts is left out of it.
- Paging (DescribeJobs, DescribeJobLogItems, DescribeSourceServers, DescribeRecoverySnapshots,
  DescribeRecoveryInstances): a page holds at most ``maxResults`` items, and never more than ``pageSize``;
  ``nextToken`` is an opaque cursor bound to its operation (another operation's token, or a made-up one,
  is a ValidationException) that survives items disappearing between pages (a terminated instance).
- Launch configurations, EC2 launch templates and where a launch puts its recovery instance:
  ``localcloud.drs_sim_launch``; native recovery plans and their steps: ``localcloud.drs_sim_plans``; staging
  accounts and extended source servers (``stagingArea``, the ``stagingAccountIDs`` filter):
  ``localcloud.drs_sim_staging``; recovery instances' failback states, StartFailbackLaunch, StopFailback and
  ReverseReplication (``drs.failback``): ``localcloud.drs_sim_failback``; StartReplication and a failed-back
  server's re-protection: ``localcloud.drs_sim_reprotect``.
- "DRS Source Server Launch Result" events follow the DRS user guide sample: ``resources`` holds the
  source server ARN, ``detail`` is ``{"state": "RECOVERY_LAUNCH_SUCCEEDED" | "RECOVERY_LAUNCH_FAILED",
  "job-id": ..., "is-drill": "TRUE" | "FALSE"}`` (drills use the same states, told apart by is-drill).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
import random
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.awsrequest import AWSResponse

from localcloud.drs_sim_config import DrsQuotas, DrsServerSettings, DrsSimConfig, OutsideJob
from localcloud.drs_sim_failback import Failback, FailbackHooks, FailbackSettings, InstanceRef
from localcloud.drs_sim_launch import LaunchSettings, Placement
from localcloud.drs_sim_plans import RecoveryPlans
from localcloud.drs_sim_reprotect import KIND as REPLICATION_STEP
from localcloud.drs_sim_reprotect import Replication, ReplicationHooks
from localcloud.drs_sim_staging import StagingAccounts, StagingHooks
from localcloud.drs_sim_wire import (
    EVENT_NAME,
    DrsError,
    current_simulator,
    error_response,
    install_globally,
    json_response,
    uninstall_globally,
)
from localcloud.sim_base import ClockedSimulator, EventCallback
from orchestrator.domain.clock import Clock, iso, parse_iso

__all__ = [
    "DrsError",
    "DrsQuotas",
    "DrsServerSettings",
    "DrsSimConfig",
    "DrsSimStats",
    "DrsSimulator",
    "current_simulator",
    "install_globally",
    "uninstall_globally",
]

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LAUNCH_RESULT_DETAIL_TYPE = "DRS Source Server Launch Result"
QUOTA_SERVERS_PER_JOB = "L-B827C881"
QUOTA_CONCURRENT_JOBS = "L-D88FAC3A"
QUOTA_SERVERS_IN_ALL_JOBS = "L-05AFA8C6"
_NOT_LAUNCHABLE = {"STOPPED", "INITIATING", "INITIAL_SYNC"}
_SNAPSHOT_INTERVAL = timedelta(minutes=10)
_MAX_SERVERS_PER_CALL = 200  # StartRecoveryRequestSourceServers max in the drs model
_MAX_RECOVERY_INSTANCE_IDS = 200  # DescribeRecoveryInstancesRequestFilters.recoveryInstanceIDs max (the model)
_ALNUM = string.ascii_lowercase + string.digits
T = TypeVar("T")


@dataclass
class DrsSimStats:
    """Counters for tests and benchmarks."""

    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    launches: Counter[str] = field(default_factory=Counter)  # StartRecovery launches per source server
    max_concurrent_jobs: int = 0
    max_servers_in_active_jobs: int = 0
    events_emitted: int = 0
    events_dropped: int = 0
    outside_jobs: int = 0  # jobs started outside the orchestrator (profile outsideJobs)
    terminations_failed: int = 0  # servers a terminate job failed to terminate
    continued_pages: Counter[str] = field(default_factory=Counter)  # answers with a nextToken, per operation


@dataclass
class _Snapshot:
    snapshot_id: str
    source_server_id: str
    taken: datetime


@dataclass
class _Server:
    source_server_id: str
    arn: str
    hostname: str
    hardware_id: str
    replication_state: str
    lag_seconds: int
    snapshots: list[_Snapshot]
    added_at: datetime
    tags: dict[str, str] = field(default_factory=dict)
    ordinal: int = 0  # creation order: the paging cursor
    recovery_instance_id: str | None = None
    last_launch_result: str = "NOT_STARTED"
    last_launch: dict[str, Any] | None = None
    replication_direction: str = "FAILOVER"
    reversed_arn: str | None = None  # reversedDirectionSourceServerArn: the server replicating the other way
    aws_instance_id: str | None = None  # the EC2 instance a reversed server replicates from


@dataclass
class _Participant:
    source_server_id: str
    outcome: str  # LAUNCHED | FAILED | TERMINATED, applied at done_at
    done_at: datetime
    instance_id: str
    launch_status: str = "PENDING"
    recovery_instance_id: str | None = None
    raw_error: str | None = None
    snapshot: _Snapshot | None = None


@dataclass
class _LogItem:
    at: datetime
    event: str
    data: dict[str, Any] | None = None


@dataclass
class _Job:
    job_id: str
    arn: str
    job_type: str  # LAUNCH | TERMINATE
    initiated_by: str
    is_drill: bool
    created_at: datetime
    participants: list[_Participant]
    tags: dict[str, str]
    logs: list[_LogItem] = field(default_factory=list)
    status: str = "PENDING"
    ended_at: datetime | None = None
    ordinal: int = 0

    @property
    def active(self) -> bool:
        return self.status != "COMPLETED"


@dataclass
class _Instance:
    recovery_instance_id: str
    arn: str
    source_server_id: str
    job_id: str
    is_drill: bool
    private_ip: str
    launched_at: datetime
    point_in_time: datetime | None
    hostname: str
    tags: dict[str, str] = field(default_factory=dict)
    state: str = "RUNNING"
    terminating_job_id: str | None = None
    ordinal: int = 0


@dataclass(order=True)
class _Transition:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # start | done | end | outside (index: the outsideJobs entry)
    job_id: str = field(compare=False)
    index: int = field(compare=False, default=-1)


class DrsSimulator(ClockedSimulator):
    """A clock-driven, single-region DRS service answering boto3 ``drs`` clients in-process."""

    def __init__(
        self,
        clock: Clock,
        config: DrsSimConfig | None = None,
        *,
        on_event: EventCallback | None = None,
        account_id: str = ACCOUNT_ID,
        region: str = REGION,
    ) -> None:
        super().__init__(clock, on_event=on_event, account_id=account_id, region=region)
        self.config = config or DrsSimConfig()
        self.stats = DrsSimStats()
        self._rng = random.Random(self.config.seed)
        self._throttle_rng = random.Random(self.config.seed + 1)
        self._terminate_rng = random.Random(self.config.seed + 2)
        self._ordinals = itertools.count(1)
        self._servers: dict[str, _Server] = {}
        self._outcomes: dict[str, str] = {sid: s.launch for sid, s in self.config.servers.items()}
        self._terminate_outcomes: dict[str, str] = {sid: s.terminate for sid, s in self.config.servers.items()}
        self._outside_scheduled = False
        self._jobs: dict[str, _Job] = {}
        self._instances: dict[str, _Instance] = {}
        self._transitions: list[_Transition] = []
        self._injected: list[tuple[str | None, DrsError]] = []
        self.launch = LaunchSettings(region, self.config.servers.get)
        self.plans = RecoveryPlans(
            arn_prefix=f"arn:aws:drs:{region}:{account_id}:",
            account_id=account_id,
            region=region,
            now=self.clock.now,
            new_id=self._new_id,
            next_ordinal=lambda: next(self._ordinals),
            page=self._page,
            server_exists=self._servers.__contains__,
        )
        self.staging = StagingAccounts(
            self.config.staging_accounts,
            region=region,
            quota=self.config.quotas.source_servers,
            hooks=StagingHooks(
                register=self._register_extended,
                server_count=self._servers.__len__,
                server_view=lambda sid: self._server_view(self._servers[sid]),
                new_server_id=self._new_server_id,
                page=self._page,
            ),
        )
        self.failback = Failback(
            self.config.failback,
            FailbackHooks(
                now=self.clock.now,
                instance=self._instance_ref,
                schedule=self._schedule,
                start_job=self._new_failback_job,
                server_arn=lambda sid: self._servers[sid].arn,
                set_reversed=self._set_reversed,
                reversed_of=self._reversed_of,
                peer=lambda region: self.peers(account_id, region),
                account_id=account_id,
                region=region,
            ),
        )
        self.replication = Replication(
            (self.config.failback or FailbackSettings()).reprotect_seconds,
            ReplicationHooks(
                now=self.clock.now,
                schedule=self._schedule,
                state=lambda sid: self._servers[sid].replication_state if sid in self._servers else None,
                set_state=lambda sid, state: self.set_replication(sid, state=state),
                snapshot=self._take_snapshot,
                view=lambda sid: self._server_view(self._servers[sid]),
            ),
        )
        #: (account, Region) -> that Region's simulator, or None; the local cloud sets it (ReverseReplication)
        self.peers: Callable[[str, str], DrsSimulator | None] = lambda _account, _region: None
        self._extensions = {
            **self.replication.operations(),
            **self.launch.operations(),
            **self.plans.operations(),
            **self.staging.operations(),
            **self.failback.operations(),
        }
        self.staging.extend_declared()

    # ------------------------------------------------------------------ wiring

    def attach(self, client: Any) -> Any:
        """Serve this one boto3 ``drs`` client; returns the client."""
        client.meta.events.register(EVENT_NAME, self.handle, unique_id=f"drs-simulator-{id(self)}")
        return client

    def install_globally(self) -> None:
        install_globally(self)

    def bind_ec2(self, client: Any) -> None:
        """Keep launch templates and recovery instances in the EC2 of ``client`` (a boto3 ``ec2`` client on
        moto): see ``localcloud.drs_sim_launch``."""
        with self._lock:
            self.launch.bind_ec2(client)

    # ------------------------------------------------------------------ inventory

    def register_source_server(
        self,
        source_server_id: str,
        *,
        replication_state: str = "CONTINUOUS",
        lag_seconds: int = 0,
        hostname: str | None = None,
        snapshots: int | Sequence[datetime] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Add (or replace) a source server with snapshots (default: config count, 10 min apart)."""
        _check_id(source_server_id, "s-", 17)
        with self._lock:
            now = self.clock.now()
            if snapshots is None:
                snapshots = self.config.snapshots_per_server
            if isinstance(snapshots, int):
                moments = [now - _SNAPSHOT_INTERVAL * (snapshots - 1 - i) for i in range(snapshots)]
            else:
                moments = sorted(snapshots)
            self._servers[source_server_id] = _Server(
                source_server_id=source_server_id,
                arn=self._arn("source-server", source_server_id),
                hostname=hostname or f"host-{source_server_id[-6:]}",
                hardware_id=str(uuid.UUID(int=self._rng.getrandbits(128))),
                replication_state=replication_state,
                lag_seconds=lag_seconds,
                snapshots=[_Snapshot(self._new_id("pit-", 17, _ALNUM), source_server_id, moment) for moment in moments],
                added_at=moments[0] - timedelta(days=1) if moments else now,
                tags=dict(tags or {}),
                ordinal=next(self._ordinals),
            )
            self.launch.register(
                source_server_id, self._servers[source_server_id].hostname, self._tags_getter(source_server_id)
            )

    def _register_extended(
        self, source_server_id: str, hostname: str, tags: dict[str, str], state: str, lag_seconds: int
    ) -> None:
        self.register_source_server(
            source_server_id, replication_state=state, lag_seconds=lag_seconds, hostname=hostname, tags=tags
        )

    def _new_server_id(self) -> str:
        """A source server id no server of this account has (an extended server's: ids are DRS's to choose)."""
        while True:
            sid = self._new_id("s-", 17, _ALNUM)
            if sid not in self._servers:
                return sid

    def _tags_getter(self, source_server_id: str) -> Callable[[], dict[str, str]]:
        return lambda: dict(self._servers[source_server_id].tags)

    def ensure_servers(self, source_server_ids: Iterable[str]) -> None:
        """Register every id not yet known, healthy unless the config's ``servers`` says otherwise."""
        with self._lock:
            for sid in source_server_ids:
                if sid in self._servers:
                    continue
                settings = self.config.servers.get(sid, DrsServerSettings())
                self.register_source_server(
                    sid,
                    replication_state=settings.replication_state,
                    lag_seconds=settings.lag_seconds,
                    tags=settings.tags,
                )

    def declared_servers(self) -> list[str]:
        """The servers the config gives tags, an IP or launch settings: they exist from the start."""
        return [sid for sid, settings in self.config.servers.items() if settings.declares_launch]

    def set_launch_outcome(self, source_server_id: str, outcome: str) -> None:
        """Outcome of the next launches of this server: ``LAUNCHED`` or ``FAILED``."""
        if outcome not in ("LAUNCHED", "FAILED"):
            raise ValueError(f"launch outcome must be LAUNCHED or FAILED, not {outcome!r}")
        with self._lock:
            self._outcomes[source_server_id] = outcome

    def set_terminate_outcome(self, source_server_id: str, outcome: str) -> None:
        """Outcome of the next terminations of this server's recovery instance: ``TERMINATED``, ``FAILED``, or
        ``FAILED_ONCE`` (the next terminate job fails, later ones terminate it)."""
        if outcome not in ("TERMINATED", "FAILED", "FAILED_ONCE"):
            raise ValueError(f"terminate outcome must be TERMINATED, FAILED or FAILED_ONCE, not {outcome!r}")
        with self._lock:
            self._terminate_outcomes[source_server_id] = outcome

    def set_replication(
        self, source_server_id: str, *, state: str | None = None, lag_seconds: int | None = None
    ) -> None:
        with self._lock:
            if source_server_id not in self._servers:
                self.ensure_servers([source_server_id])
            server = self._servers[source_server_id]
            if state is not None:
                server.replication_state = state
            if lag_seconds is not None:
                server.lag_seconds = lag_seconds

    def inject_error(
        self, code: str, *, operation: str | None = None, count: int = 1, message: str | None = None
    ) -> None:
        """Answer the next ``count`` calls (of ``operation``, or any) with error ``code``."""
        if code == "ThrottlingException":
            error = self._throttling_error(message or "Rate exceeded")
        else:
            error = DrsError(code, message or f"Injected {code}")
        if code == "InternalServerException":
            error.headers["Retry-After"] = str(self.config.retry_after_seconds)
        with self._lock:
            self._injected.extend((operation, error) for _ in range(count))

    # ------------------------------------------------------------------ time

    def next_due(self) -> datetime | None:
        """The next moment a job or server changes state (may be <= now when not yet processed)."""
        with self._lock:
            self._schedule_outside_jobs()
            return self._transitions[0].at if self._transitions else None

    # ------------------------------------------------------------------ botocore entry point

    def handle(self, request: Any, **_: Any) -> AWSResponse:
        """The ``before-send.drs`` handler: answer one prepared request."""
        parts = urlsplit(request.url)
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, bytes | bytearray):
            body = body.decode()
        args: dict[str, Any] = json.loads(body) if body else {}
        operation, path_args = _route(request.method, parts.path, parse_qs(parts.query))
        args.update(path_args)
        with self._lock:
            self.stats.calls[operation] += 1
            request_id = str(uuid.UUID(int=self._rng.getrandbits(128)))
            events = self._process_due()
            try:
                self._precheck(operation)
                status, result = self._operation(operation)(args)
                response = json_response(request.url, status, result, {"x-amzn-RequestId": request_id})
            except DrsError as error:
                self.stats.errors[error.code] += 1
                response = error_response(request.url, error, request_id)
        self._deliver(events)
        return response

    def _operation(self, operation: str) -> Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]:
        handler: Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]] | None = getattr(
            self, f"_op_{operation}", None
        ) or self._extensions.get(operation)
        if handler is None:
            raise DrsError(
                "ValidationException",
                f"The DRS simulator does not implement {operation}",
                reason="unknownOperation",
            )
        return handler

    def _precheck(self, operation: str) -> None:
        for index, (target, error) in enumerate(self._injected):
            if target in (None, operation):
                del self._injected[index]
                raise error
        if not self.config.initialized:
            raise DrsError("UninitializedAccountException", "Account not initialized for DRS in this region")
        rate = self.config.throttle_rate
        if rate > 0 and self._throttle_rng.random() < rate:
            raise self._throttling_error("Rate exceeded")

    def _throttling_error(self, message: str) -> DrsError:
        """429 with ``retryAfterSeconds`` both as the modeled ``Retry-After`` header and a body member."""
        retry_after = str(self.config.retry_after_seconds)
        return DrsError(
            "ThrottlingException",
            message,
            headers={"Retry-After": retry_after},
            retryAfterSeconds=retry_after,
            serviceCode="drs",
        )

    # ------------------------------------------------------------------ operations

    def _op_StartRecovery(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        requested: list[dict[str, Any]] = args.get("sourceServers") or []
        is_drill = bool(args.get("isDrill", False))
        ids = [item["sourceServerID"] for item in requested]
        if not ids:
            raise _invalid("sourceServers", "sourceServers must not be empty")
        if len(ids) > _MAX_SERVERS_PER_CALL:  # botocore does not check a list's max client-side
            raise _invalid("sourceServers", f"At most {_MAX_SERVERS_PER_CALL} source servers per call")
        duplicates = sorted({sid for sid in ids if ids.count(sid) > 1})
        if duplicates:
            raise _invalid("sourceServers", f"Duplicate source servers: {', '.join(duplicates)}")
        unknown = [sid for sid in ids if sid not in self._servers]
        if unknown:
            raise _invalid("sourceServerID", f"Source server(s) not found: {', '.join(unknown)}")
        snapshots: dict[str, _Snapshot | None] = {}
        for item in requested:
            server = self._servers[item["sourceServerID"]]
            wanted = item.get("recoverySnapshotID")
            if wanted is None:
                snapshots[server.source_server_id] = server.snapshots[-1] if server.snapshots else None
                continue
            match = [snap for snap in server.snapshots if snap.snapshot_id == wanted]
            if not match:
                raise _invalid(
                    "recoverySnapshotID",
                    f"Recovery snapshot {wanted} not found for source server {server.source_server_id}",
                )
            snapshots[server.source_server_id] = match[0]
        self._check_capacity(ids)
        job = self._new_launch_job(
            ids, snapshots, is_drill=is_drill, tags=dict(args.get("tags") or {}), now=self.clock.now()
        )
        for sid in ids:
            self.stats.launches[sid] += 1
        return 202, {"job": self._job_view(job)}

    def _new_launch_job(
        self,
        ids: list[str],
        snapshots: dict[str, _Snapshot | None],
        *,
        is_drill: bool,
        tags: dict[str, str],
        now: datetime,
        duration: float | None = None,
    ) -> _Job:
        """A LAUNCH job of `ids` created at `now`; each launch takes the server's own `launchSeconds` (profile) or
        a random time in the configured window, or exactly `duration` seconds from the job's creation (an outside
        job)."""
        job_id = self._new_id("drsjob-", 17, "0123456789abcdef")
        delay = min(self.config.start_delay_seconds, self.config.launch_seconds_max if duration is None else duration)
        start_at = now + timedelta(seconds=delay)
        participants: list[_Participant] = []
        logs = [_LogItem(now, "JOB_START")]
        for sid in ids:
            server = self._servers[sid]
            fixed = self.config.servers[sid].launch_seconds if sid in self.config.servers else None
            if duration is None and fixed is not None:
                launch = fixed
            elif duration is None:
                launch = self._rng.uniform(self.config.launch_seconds_min, self.config.launch_seconds_max)
            else:
                launch = duration - delay
            done_at = start_at + timedelta(seconds=launch)
            snapshot = snapshots[sid]
            outcome, raw_error = self._planned_outcome(server, snapshot)
            participant = _Participant(
                source_server_id=sid,
                outcome=outcome,
                done_at=done_at,
                instance_id=self._new_id("i-", 17, "0123456789abcdef"),
                raw_error=raw_error,
                snapshot=snapshot,
            )
            participants.append(participant)
            logs.extend(self._launch_logs(participant, start_at, launch))
            server.last_launch_result = "PENDING"
            server.last_launch = {
                "initiated": {
                    "apiCallDateTime": iso(now),
                    "jobID": job_id,
                    "type": "DRILL" if is_drill else "RECOVERY",
                },
                "status": "PENDING",
            }
        job = _Job(
            job_id=job_id,
            arn=self._arn("job", job_id),
            job_type="LAUNCH",
            initiated_by="START_DRILL" if is_drill else "START_RECOVERY",
            is_drill=is_drill,
            created_at=now,
            participants=participants,
            tags=tags,
            logs=logs,
        )
        self._add_job(job, start_at)
        return job

    def _op_TerminateRecoveryInstances(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        ids: list[str] = list(dict.fromkeys(args.get("recoveryInstanceIDs") or []))
        unknown = [rid for rid in ids if rid not in self._instances]
        if unknown:
            raise _invalid("recoveryInstanceIDs", f"Recovery instance(s) not found: {', '.join(unknown)}")
        for rid in ids:
            if self._instances[rid].terminating_job_id is not None:
                raise DrsError(
                    "ConflictException",
                    f"Recovery instance {rid} is already being terminated",
                    resourceId=rid,
                    resourceType="RECOVERY_INSTANCE",
                )
        self._check_capacity([self._instances[rid].source_server_id for rid in ids], check_per_job=False)
        now = self.clock.now()
        job_id = self._new_id("drsjob-", 17, "0123456789abcdef")
        delay = min(self.config.start_delay_seconds, self.config.terminate_seconds)
        start_at = now + timedelta(seconds=delay)
        done_at = now + timedelta(seconds=self.config.terminate_seconds)
        participants = []
        logs = [_LogItem(now, "JOB_START")]
        for rid in ids:
            instance = self._instances[rid]
            instance.terminating_job_id = job_id
            instance.state = "SHUTTING-DOWN"
            sid = instance.source_server_id
            outcome = self._terminate_outcomes.get(sid, "TERMINATED")
            if outcome == "FAILED_ONCE":  # this job fails; the next ones terminate it
                self._terminate_outcomes[sid] = "TERMINATED"
            fails = outcome in ("FAILED", "FAILED_ONCE") or (
                self.config.terminate_failure_rate > 0
                and self._terminate_rng.random() < self.config.terminate_failure_rate
            )
            raw_error = (
                f"Failed to terminate recovery instance {rid}: simulated failure configured for source server {sid}"
                if fails
                else None
            )
            participants.append(
                _Participant(
                    source_server_id=sid,
                    outcome="FAILED" if fails else "TERMINATED",
                    done_at=done_at,
                    instance_id=rid,
                    recovery_instance_id=rid,
                    raw_error=raw_error,
                )
            )
            if raw_error is not None:
                logs.append(_LogItem(done_at, "CLEANUP_FAIL", {"sourceServerID": sid, "rawError": raw_error}))
        job = _Job(
            job_id=job_id,
            arn=self._arn("job", job_id),
            job_type="TERMINATE",
            initiated_by="TERMINATE_RECOVERY_INSTANCES",
            is_drill=False,
            created_at=now,
            participants=participants,
            tags={},
            logs=[*logs, _LogItem(done_at, "JOB_END")],
        )
        self._add_job(job, start_at)
        return 200, {"job": self._job_view(job)}

    def _op_DescribeJobs(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        filters = args.get("filters") or {}
        wanted = set(filters.get("jobIDs") or [])
        low = _parse_time(filters, "fromDate")
        high = _parse_time(filters, "toDate")
        jobs = [
            job
            for job in self._jobs.values()
            if (not wanted or job.job_id in wanted)
            and (low is None or job.created_at >= low)
            and (high is None or job.created_at <= high)
        ]
        page, token = self._page("DescribeJobs", jobs, args, lambda job: job.ordinal)
        return 200, _with_token({"items": [self._job_view(job) for job in page]}, token)

    def _op_DescribeJobLogItems(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        job = self._jobs.get(args["jobID"])
        if job is None:
            raise _invalid("jobID", f"Job {args['jobID']} not found")
        now = self.clock.now()
        visible = [item for item in job.logs if item.at <= now]
        page, token = self._page("DescribeJobLogItems", visible, args)
        items = []
        for item in page:
            view: dict[str, Any] = {"logDateTime": iso(item.at), "event": item.event}
            if item.data:
                view["eventData"] = item.data
            items.append(view)
        return 200, _with_token({"items": items}, token)

    def _op_DescribeSourceServers(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        filters = args.get("filters") or {}
        wanted = set(filters.get("sourceServerIDs") or [])
        hardware = filters.get("hardwareId")
        staging = filters.get("stagingAccountIDs") or []
        servers = [
            server
            for server in self._servers.values()
            if (not wanted or server.source_server_id in wanted)
            and (hardware is None or server.hardware_id == hardware)
            and self.staging.matches(server.source_server_id, staging)
        ]
        page, token = self._page("DescribeSourceServers", servers, args, lambda server: server.ordinal)
        return 200, _with_token({"items": [self._server_view(server) for server in page]}, token)

    def _op_DescribeRecoverySnapshots(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        server = self._servers.get(args["sourceServerID"])
        if server is None:
            raise _invalid("sourceServerID", f"Source server {args['sourceServerID']} not found")
        filters = args.get("filters") or {}
        low = _parse_time(filters, "fromDateTime")
        high = _parse_time(filters, "toDateTime")
        snaps = [
            snap
            for snap in server.snapshots
            if (low is None or snap.taken >= low) and (high is None or snap.taken <= high)
        ]
        if args.get("order", "ASC") == "DESC":
            snaps.reverse()
        page, token = self._page("DescribeRecoverySnapshots", snaps, args)
        items = [
            {
                "snapshotID": snap.snapshot_id,
                "sourceServerID": snap.source_server_id,
                "expectedTimestamp": iso(snap.taken),
                "timestamp": iso(snap.taken),
                "ebsSnapshots": [f"snap-{snap.snapshot_id[4:]}"],
            }
            for snap in page
        ]
        return 200, _with_token({"items": items}, token)

    def _op_DescribeRecoveryInstances(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        filters = args.get("filters") or {}
        if len(filters.get("recoveryInstanceIDs") or []) > _MAX_RECOVERY_INSTANCE_IDS:  # botocore does not check
            raise _invalid(
                "recoveryInstanceIDs", f"At most {_MAX_RECOVERY_INSTANCE_IDS} recovery instance ids per call"
            )
        wanted_ids = set(filters.get("recoveryInstanceIDs") or [])
        wanted_servers = set(filters.get("sourceServerIDs") or [])
        instances = [
            inst
            for inst in self._instances.values()
            if (not wanted_ids or inst.recovery_instance_id in wanted_ids)
            and (not wanted_servers or inst.source_server_id in wanted_servers)
        ]
        page, token = self._page("DescribeRecoveryInstances", instances, args, lambda inst: inst.ordinal)
        return 200, _with_token({"items": [self._instance_view(inst) for inst in page]}, token)

    def _op_TagResource(self, args: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:  # noqa: N802
        self._tags_of(args["resourceArn"]).update(args.get("tags") or {})
        return 200, None

    def _op_UntagResource(self, args: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:  # noqa: N802
        tags = self._tags_of(args["resourceArn"])
        for key in args.get("tagKeys") or []:
            tags.pop(key, None)
        return 200, None

    def _op_ListTagsForResource(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        return 200, {"tags": dict(self._tags_of(args["resourceArn"]))}

    # ------------------------------------------------------------------ quotas and jobs

    def _check_capacity(self, server_ids: list[str], *, check_per_job: bool = True) -> None:
        quotas = self.config.quotas
        if check_per_job and len(server_ids) > quotas.servers_per_job:
            raise DrsError(
                "ServiceQuotaExceededException",
                f"A job can include at most {quotas.servers_per_job} source servers, got {len(server_ids)}",
                quotaCode=QUOTA_SERVERS_PER_JOB,
                serviceCode="drs",
                resourceType="SOURCE_SERVER",
            )
        active = [job for job in self._jobs.values() if job.active]
        busy = {p.source_server_id: job.job_id for job in active for p in job.participants}
        for sid in server_ids:
            if sid in busy:
                raise DrsError(
                    "ConflictException",
                    f"Source server {sid} is already participating in active job {busy[sid]}",
                    resourceId=sid,
                    resourceType="SOURCE_SERVER",
                )
        if len(active) + 1 > quotas.concurrent_jobs:
            raise DrsError(
                "ServiceQuotaExceededException",
                f"At most {quotas.concurrent_jobs} jobs can run concurrently",
                quotaCode=QUOTA_CONCURRENT_JOBS,
                serviceCode="drs",
                resourceType="JOB",
            )
        in_jobs = sum(len(job.participants) for job in active)
        if in_jobs + len(server_ids) > quotas.servers_in_all_jobs:
            raise DrsError(
                "ServiceQuotaExceededException",
                f"At most {quotas.servers_in_all_jobs} source servers can be in all active jobs "
                f"({in_jobs} already are, {len(server_ids)} requested)",
                quotaCode=QUOTA_SERVERS_IN_ALL_JOBS,
                serviceCode="drs",
                resourceType="SOURCE_SERVER",
            )

    def _planned_outcome(self, server: _Server, snapshot: _Snapshot | None) -> tuple[str, str | None]:
        if server.replication_state in _NOT_LAUNCHABLE:
            return "FAILED", (
                f"Source server {server.source_server_id} cannot be launched: "
                f"data replication state is {server.replication_state}"
            )
        if snapshot is None:
            return "FAILED", f"Source server {server.source_server_id} has no recovery snapshot"
        if self._outcomes.get(server.source_server_id, "LAUNCHED") == "FAILED":
            return "FAILED", (
                "Failed to launch recovery instance: InsufficientInstanceCapacity "
                "(simulated failure configured for this source server)"
            )
        return "LAUNCHED", None

    def _launch_logs(self, participant: _Participant, start_at: datetime, duration: float) -> list[_LogItem]:
        sid = participant.source_server_id

        def at(share: float) -> datetime:
            return start_at + timedelta(seconds=duration * share)

        conversion = {"sourceServerID": sid, "conversionServerID": self._new_id("i-", 17, "0123456789abcdef")}
        logs = [
            _LogItem(at(0.0), "SNAPSHOT_START", {"sourceServerID": sid}),
            _LogItem(at(0.2), "SNAPSHOT_END", {"sourceServerID": sid}),
            _LogItem(at(0.2), "CONVERSION_START", conversion),
            _LogItem(at(0.6), "CONVERSION_END", conversion),
            _LogItem(at(0.6), "LAUNCH_START", {"sourceServerID": sid, "targetInstanceID": participant.instance_id}),
        ]
        if participant.outcome == "FAILED":
            logs.append(
                _LogItem(
                    participant.done_at,
                    "LAUNCH_FAILED",
                    {"sourceServerID": sid, "rawError": participant.raw_error or "launch failed"},
                )
            )
        return logs

    def _add_job(self, job: _Job, start_at: datetime) -> None:
        job.ordinal = next(self._ordinals)
        self._jobs[job.job_id] = job
        end_at = max(p.done_at for p in job.participants)
        if job.job_type == "LAUNCH":
            job.logs.append(_LogItem(end_at, "JOB_END"))
        job.logs.sort(key=lambda item: item.at)  # stable: same-moment items keep their order
        self._schedule(start_at, "start", job.job_id)
        for index, participant in enumerate(job.participants):
            self._schedule(participant.done_at, "done", job.job_id, index)
        self._schedule(end_at, "end", job.job_id)
        active = [j for j in self._jobs.values() if j.active]
        self.stats.max_concurrent_jobs = max(self.stats.max_concurrent_jobs, len(active))
        self.stats.max_servers_in_active_jobs = max(
            self.stats.max_servers_in_active_jobs, sum(len(j.participants) for j in active)
        )

    def _schedule(self, at: datetime, kind: str, job_id: str, index: int = -1) -> None:
        self._seq += 1
        heapq.heappush(self._transitions, _Transition(at, self._seq, kind, job_id, index))

    def _schedule_outside_jobs(self) -> None:
        """Schedule the profile's outside jobs on the simulator's first look at the clock (under the lock)."""
        if self._outside_scheduled:
            return
        self._outside_scheduled = True
        origin = self.clock.now()
        for index, entry in enumerate(self.config.outside_jobs):
            self._schedule(origin + timedelta(seconds=entry.at_seconds), "outside", "", index)

    def _start_outside_job(self, entry: OutsideJob, at: datetime) -> None:
        """Someone else starts `entry.jobs` drills: they hold the named servers (those not already in a job)
        and `entry.other_servers` servers of the account each (registered now)."""
        self.ensure_servers(entry.servers)
        busy = {p.source_server_id for job in self._jobs.values() if job.active for p in job.participants}
        for _ in range(entry.jobs):
            ids = [sid for sid in entry.servers if sid not in busy]
            for _ in range(entry.other_servers):
                other = self._new_id("s-", 17, _ALNUM)
                self.register_source_server(other, hostname=f"other-{other[-6:]}")
                ids.append(other)
            if not ids:
                continue
            snapshots: dict[str, _Snapshot | None] = {
                sid: self._servers[sid].snapshots[-1] if self._servers[sid].snapshots else None for sid in ids
            }
            self._new_launch_job(ids, snapshots, is_drill=True, tags={}, now=at, duration=entry.duration_seconds)
            self.stats.outside_jobs += 1

    def _process_due(self) -> list[dict[str, Any]]:
        self._schedule_outside_jobs()
        now = self.clock.now()
        events: list[dict[str, Any]] = []
        while self._transitions and self._transitions[0].at <= now:
            step = heapq.heappop(self._transitions)
            if step.kind == "outside":
                self._start_outside_job(self.config.outside_jobs[step.index], step.at)
                continue
            if step.kind in ("failback", "reversed", REPLICATION_STEP):
                event = self._failback_step(step)
                if event is not None:
                    events.append(event)
                continue
            job = self._jobs[step.job_id]
            if step.kind == "start":
                job.status = "STARTED"
                for participant in job.participants:
                    if participant.launch_status == "PENDING":
                        participant.launch_status = "IN_PROGRESS"
            elif step.kind == "end":
                job.status = "COMPLETED"
                job.ended_at = step.at
            elif job.initiated_by == "FAILBACK":
                event = self._finish_failback_launch(job.participants[step.index], step.at)
                if event is not None:
                    events.append(event)
            elif job.job_type == "LAUNCH":
                event = self._finish_launch(job, job.participants[step.index], step.at)
                if event is not None:
                    events.append(event)
            else:
                self._finish_termination(job.participants[step.index])
        return events

    def _finish_launch(self, job: _Job, participant: _Participant, at: datetime) -> dict[str, Any] | None:
        server = self._servers[participant.source_server_id]
        placement = self._place(job, participant, server, at) if participant.outcome == "LAUNCHED" else Placement()
        participant.launch_status = participant.outcome
        if participant.outcome == "LAUNCHED":
            previous = server.recovery_instance_id
            replaced = self._instances.get(previous) if previous is not None else None
            if replaced is not None and replaced.terminating_job_id is None:
                del self._instances[replaced.recovery_instance_id]
            rid = participant.instance_id
            drawn_ip = self._private_ip()  # drawn with EC2 bound too: a seed tells the same story either way
            participant.recovery_instance_id = rid
            self._instances[rid] = _Instance(
                recovery_instance_id=rid,
                arn=self._arn("recovery-instance", rid),
                source_server_id=server.source_server_id,
                job_id=job.job_id,
                is_drill=job.is_drill,
                private_ip=placement.private_ip or drawn_ip,
                launched_at=at,
                point_in_time=participant.snapshot.taken if participant.snapshot else None,
                hostname=server.hostname,
                tags=dict(server.tags),
                state=placement.state,
                ordinal=next(self._ordinals),
            )
            server.recovery_instance_id = rid
            server.last_launch_result = "SUCCEEDED"
            self.failback.launched(rid, server.source_server_id, at)
        else:
            server.last_launch_result = "FAILED"
        if server.last_launch is not None and server.last_launch["initiated"]["jobID"] == job.job_id:
            server.last_launch["status"] = participant.outcome
        if self.config.launch_events == "drop":
            self.stats.events_dropped += 1
            return None
        self.stats.events_emitted += 1
        state = "RECOVERY_LAUNCH_SUCCEEDED" if participant.outcome == "LAUNCHED" else "RECOVERY_LAUNCH_FAILED"
        return {
            "Source": "aws.drs",
            "DetailType": LAUNCH_RESULT_DETAIL_TYPE,
            "Resources": [server.arn],
            "Time": at,
            "Detail": json.dumps(
                {"state": state, "job-id": job.job_id, "is-drill": "TRUE" if job.is_drill else "FALSE"}
            ),
        }

    def _place(self, job: _Job, participant: _Participant, server: _Server, at: datetime) -> Placement:
        """Launch the recovery instance from the server's launch template as it stands now; a launch EC2
        refuses fails the server (a LAUNCH_FAILED log item with EC2's error)."""
        previous = self._instances.get(server.recovery_instance_id or "")
        replacing = previous.recovery_instance_id if previous and previous.terminating_job_id is None else None
        placement = self.launch.place(server.source_server_id, participant.instance_id, replacing=replacing)
        if placement.raw_error is not None:
            participant.outcome = "FAILED"
            participant.raw_error = placement.raw_error
            data = {"sourceServerID": server.source_server_id, "rawError": placement.raw_error}
            job.logs.append(_LogItem(at, "LAUNCH_FAILED", data))
            job.logs.sort(key=lambda item: item.at)
        return placement

    def _finish_termination(self, participant: _Participant) -> None:
        if participant.outcome == "FAILED":  # the instance keeps running and may be terminated again
            participant.launch_status = "FAILED"
            self.stats.terminations_failed += 1
            survivor = self._instances.get(participant.instance_id)
            if survivor is not None:
                survivor.state = "RUNNING"
                survivor.terminating_job_id = None
            return
        participant.launch_status = "TERMINATED"
        instance = self._instances.pop(participant.instance_id, None)
        if instance is None:
            return
        self.launch.terminated(instance.recovery_instance_id)
        server = self._servers.get(instance.source_server_id)
        if server is not None and server.recovery_instance_id == instance.recovery_instance_id:
            server.recovery_instance_id = None
        origin = self._jobs.get(instance.job_id)
        for launched in origin.participants if origin else []:
            if launched.recovery_instance_id == instance.recovery_instance_id:
                launched.launch_status = "TERMINATED"

    # ------------------------------------------------------------------ failback

    def _instance_ref(self, recovery_instance_id: str) -> InstanceRef | None:
        inst = self._instances.get(recovery_instance_id)
        if inst is None or inst.terminating_job_id is not None:
            return None
        return InstanceRef(inst.recovery_instance_id, inst.arn, inst.source_server_id, inst.hostname)

    def _new_failback_job(self, refs: list[InstanceRef], tags: dict[str, str], launch_seconds: float) -> dict[str, Any]:
        """A LAUNCH job initiated by FAILBACK: each instance's launch back on its origin ends `launch_seconds` after
        the job starts (its outcome is the failback's: FAILBACK_COMPLETED)."""
        now = self.clock.now()
        job_id = self._new_id("drsjob-", 17, "0123456789abcdef")
        start_at = now + timedelta(seconds=min(self.config.start_delay_seconds, launch_seconds))
        done_at = start_at + timedelta(seconds=launch_seconds)
        participants = [
            _Participant(
                source_server_id=ref.source_server_id,
                outcome="LAUNCHED",
                done_at=done_at,
                instance_id=ref.recovery_instance_id,
                recovery_instance_id=ref.recovery_instance_id,
            )
            for ref in refs
        ]
        job = _Job(
            job_id=job_id,
            arn=self._arn("job", job_id),
            job_type="LAUNCH",
            initiated_by="FAILBACK",
            is_drill=False,
            created_at=now,
            participants=participants,
            tags=tags,
            logs=[_LogItem(now, "JOB_START")],
        )
        self._add_job(job, start_at)
        return self._job_view(job)

    def _finish_failback_launch(self, participant: _Participant, at: datetime) -> dict[str, Any] | None:
        """A failback launch ended: the instance's failback is completed, and an on-premises source server (its
        machine overwritten by the launch) stops replicating until StartReplication (localcloud.drs_sim_reprotect)."""
        participant.launch_status = "LAUNCHED"
        sid = participant.source_server_id
        if sid in self._servers and self.failback.origin_environment(sid) == "ON_PREMISES":
            self.replication.stop(sid)
        return self.failback.failback_launched(participant.instance_id, at)

    def _failback_step(self, step: _Transition) -> dict[str, Any] | None:
        if step.kind == "failback":
            return self.failback.apply(step.job_id, step.index, step.at)
        if step.kind == REPLICATION_STEP:
            self.replication.apply(step.job_id, step.index, step.at)
            return None
        server = self._servers.get(step.job_id)  # a reversed (or re-protected) server's initial sync is over
        if server is not None and server.replication_state == "INITIAL_SYNC":
            server.replication_state = "CONTINUOUS"
            self._take_snapshot(server.source_server_id, step.at)
        return None

    def _take_snapshot(self, source_server_id: str, at: datetime) -> None:
        self._servers[source_server_id].snapshots.append(
            _Snapshot(self._new_id("pit-", 17, _ALNUM), source_server_id, at)
        )

    def _set_reversed(self, source_server_id: str, reversed_arn: str) -> None:
        self._servers[source_server_id].reversed_arn = reversed_arn

    def _reversed_of(self, source_server_id: str) -> str | None:
        server = self._servers.get(source_server_id)
        if server is None or server.replication_direction != "FAILBACK":
            return None
        return server.reversed_arn

    def reprotect_server(self, arn: str, sync_seconds: float | None) -> str:
        """ReverseReplication of a failed-back instance in another Region re-protects the server `arn` of this
        Region it failed back from: INITIAL_SYNC, then CONTINUOUS with a recovery snapshot after `sync_seconds`
        (None: this Region's ``reverseReplicationSeconds``). Returns its ARN."""
        with self._lock:
            server = self._servers.get(arn.rsplit("/", 1)[-1])
            if server is None or server.arn != arn:
                raise DrsError(
                    "ResourceNotFoundException",
                    f"Source server {arn} to re-protect not found",
                    resourceId=arn,
                    resourceType="SOURCE_SERVER",
                )
            server.replication_state = "INITIAL_SYNC"
            server.lag_seconds = 0
            delay = self.failback.reverse_seconds(sync_seconds)
            self._schedule(self.clock.now() + timedelta(seconds=delay), "reversed", server.source_server_id)
            return server.arn

    def add_reversed_server(self, hostname: str, reversed_arn: str, sync_seconds: float, instance_id: str) -> str:
        """A source server replicating back into this Region from recovery instance `instance_id` of another
        (ReverseReplication there): INITIAL_SYNC, then CONTINUOUS with a recovery snapshot after `sync_seconds`.
        Returns its ARN."""
        with self._lock:
            sid = self._new_server_id()
            self.register_source_server(sid, replication_state="INITIAL_SYNC", hostname=hostname, snapshots=0)
            server = self._servers[sid]
            server.replication_direction = "FAILBACK"
            server.reversed_arn = reversed_arn
            server.aws_instance_id = instance_id
            self._schedule(self.clock.now() + timedelta(seconds=sync_seconds), "reversed", sid)
            return server.arn

    # ------------------------------------------------------------------ views

    def _job_view(self, job: _Job) -> dict[str, Any]:
        view: dict[str, Any] = {
            "jobID": job.job_id,
            "arn": job.arn,
            "type": job.job_type,
            "initiatedBy": job.initiated_by,
            "creationDateTime": iso(job.created_at),
            "status": job.status,
            "participatingServers": [
                {
                    "sourceServerID": p.source_server_id,
                    "launchStatus": p.launch_status,
                    **({"recoveryInstanceID": p.recovery_instance_id} if p.recovery_instance_id else {}),
                }
                for p in job.participants
            ],
            "tags": dict(job.tags),
        }
        if job.ended_at is not None:
            view["endDateTime"] = iso(job.ended_at)
        return view

    def _server_view(self, server: _Server) -> dict[str, Any]:
        now = self.clock.now()
        disk_bytes = 64 * 1024**3
        extension = self.staging.extension_of(server.source_server_id)
        origin = self.failback.origin_region(server.source_server_id)
        view: dict[str, Any] = {
            "sourceServerID": server.source_server_id,
            "arn": server.arn,
            "tags": dict(server.tags),
            "lastLaunchResult": server.last_launch_result,
            "dataReplicationInfo": {
                "dataReplicationState": server.replication_state,
                "lagDuration": f"PT{server.lag_seconds}S",
                "replicatedDisks": [
                    {
                        "deviceName": "/dev/xvda",
                        "totalStorageBytes": disk_bytes,
                        "replicatedStorageBytes": disk_bytes,
                        "rescannedStorageBytes": 0,
                        "backloggedStorageBytes": 0,
                    }
                ],
                "stagingAvailabilityZone": f"{self.region}a",
            },
            "lifeCycle": {
                "addedToServiceDateTime": iso(server.added_at),
                "firstByteDateTime": iso(server.added_at),
                "lastSeenByServiceDateTime": iso(now - timedelta(seconds=server.lag_seconds)),
                "elapsedReplicationDuration": f"PT{int((now - server.added_at).total_seconds())}S",
                **({"lastLaunch": server.last_launch} if server.last_launch else {}),
            },
            "sourceProperties": {
                "lastUpdatedDateTime": iso(server.added_at),
                "recommendedInstanceType": "m5.large",
                "identificationHints": self._hints(server, origin),
                "networkInterfaces": [
                    {
                        "macAddress": "02:00:00:00:00:01",
                        "ips": [self.launch.source_ip(server.source_server_id)],
                        "isPrimary": True,
                    }
                ],
                "disks": [{"deviceName": "/dev/xvda", "bytes": disk_bytes}],
                "cpus": [{"cores": 2, "modelName": "Intel Xeon"}],
                "ramBytes": 8 * 1024**3,
                "os": {"fullString": "Amazon Linux 2023"},
            },
            "stagingArea": extension.staging_area if extension else {"status": "NOT_EXTENDED"},
            "replicationDirection": server.replication_direction,
        }
        if origin is not None:  # an EC2 origin (SourceCloudProperties: "for an EC2-originated Source Server")
            view["sourceCloudProperties"] = {
                "originAccountID": self.account_id,
                "originRegion": origin,
                "originAvailabilityZone": f"{origin}a",
            }
        if server.reversed_arn is not None:
            view["reversedDirectionSourceServerArn"] = server.reversed_arn
        if server.recovery_instance_id is not None:
            view["recoveryInstanceId"] = server.recovery_instance_id
        return view

    @staticmethod
    def _hints(server: _Server, origin: str | None) -> dict[str, str]:
        """IdentificationHints: an on-premises server's VMware UUID, an EC2 one's instance id where known (a
        reversed server's: the recovery instance it replicates from)."""
        hints = {"hostname": server.hostname, "fqdn": f"{server.hostname}.corp.example"}
        if origin is None:
            hints["vmWareUuid"] = server.hardware_id
        elif server.aws_instance_id is not None:
            hints["awsInstanceID"] = server.aws_instance_id
        return hints

    def _instance_view(self, inst: _Instance) -> dict[str, Any]:
        view: dict[str, Any] = {
            "recoveryInstanceID": inst.recovery_instance_id,
            "ec2InstanceID": inst.recovery_instance_id,
            "ec2InstanceState": inst.state,
            "jobID": inst.job_id,
            "sourceServerID": inst.source_server_id,
            "arn": inst.arn,
            "tags": dict(inst.tags),
            "isDrill": inst.is_drill,
            "originEnvironment": self.failback.origin_environment(inst.source_server_id),
            "recoveryInstanceProperties": {
                "lastUpdatedDateTime": iso(inst.launched_at),
                "identificationHints": {
                    "hostname": inst.hostname,
                    "awsInstanceID": inst.recovery_instance_id,
                },
                "networkInterfaces": [{"ips": [inst.private_ip], "isPrimary": True}],
                "cpus": [{"cores": 2, "modelName": "Intel Xeon"}],
                "ramBytes": 8 * 1024**3,
                "os": {"fullString": "Amazon Linux 2023"},
            },
        }
        if inst.point_in_time is not None:
            view["pointInTimeSnapshotDateTime"] = iso(inst.point_in_time)
        origin = self.failback.origin_region(inst.source_server_id)
        if origin is not None:
            view["originAvailabilityZone"] = f"{origin}a"
        failback = self.failback.view(inst.recovery_instance_id)
        if failback is not None:
            view["failback"] = failback
        return view

    # ------------------------------------------------------------------ helpers

    def _page(
        self, operation: str, items: list[T], args: dict[str, Any], ordinal: Callable[[T], int] | None = None
    ) -> tuple[list[T], str | None]:
        """One page of `items` (in `ordinal` order, else as given) after the request's `nextToken`: at most
        `maxResults` items and never more than the configured `pageSize`; the token of the next page."""
        max_results = args.get("maxResults")
        if max_results is not None and (not isinstance(max_results, int) or max_results < 1):
            raise _invalid("maxResults", f"maxResults must be an integer of at least 1, got {max_results!r}")
        size = min(max_results or self.config.page_size, self.config.page_size)
        keyed = sorted(
            ((ordinal(item) if ordinal else index, item) for index, item in enumerate(items)), key=lambda pair: pair[0]
        )
        after = _cursor(operation, args.get("nextToken"))
        rest = [(key, item) for key, item in keyed if key > after]
        page = rest[:size]
        if len(rest) <= size:
            return [item for _, item in page], None
        self.stats.continued_pages[operation] += 1
        return [item for _, item in page], _token(operation, page[-1][0])

    def _tags_of(self, arn: str) -> dict[str, str]:
        for job in self._jobs.values():
            if job.arn == arn:
                return job.tags
        for server in self._servers.values():
            if server.arn == arn:
                return server.tags
        for inst in self._instances.values():
            if inst.arn == arn:
                return inst.tags
        plan_tags = self.plans.tags_of(arn)
        if plan_tags is not None:
            return plan_tags
        raise DrsError("ResourceNotFoundException", f"Resource {arn} not found", resourceId=arn)

    def _private_ip(self) -> str:
        return f"10.{self._rng.randrange(256)}.{self._rng.randrange(256)}.{self._rng.randrange(1, 255)}"

    def _arn(self, kind: str, resource_id: str) -> str:
        return f"arn:aws:drs:{self.region}:{self.account_id}:{kind}/{resource_id}"

    def _new_id(self, prefix: str, length: int, alphabet: str) -> str:
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(length))


# ---------------------------------------------------------------------- module helpers

_ROUTES_BY_METHOD = {"POST": "TagResource", "GET": "ListTagsForResource", "DELETE": "UntagResource"}


def _route(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    if path.startswith("/tags/"):
        args: dict[str, Any] = {"resourceArn": unquote(path[len("/tags/") :])}
        if "tagKeys" in query:
            args["tagKeys"] = query["tagKeys"]
        return _ROUTES_BY_METHOD.get(method, f"{method} /tags"), args
    operation = path.strip("/").split("/", 1)[0] or "Unknown"
    if operation == "ListStagingAccounts":  # a GET: maxResults and nextToken travel in the query string
        return operation, {
            **({"maxResults": int(query["maxResults"][0])} if "maxResults" in query else {}),
            **({"nextToken": query["nextToken"][0]} if "nextToken" in query else {}),
        }
    return operation, {}


def _invalid(field_name: str, message: str) -> DrsError:
    return DrsError(
        "ValidationException",
        message,
        reason="fieldValidationFailed",
        fieldList=[{"name": field_name, "message": message}],
    )


def _parse_time(filters: dict[str, Any], key: str) -> datetime | None:
    value = filters.get(key)
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise _invalid(key, f"{key} is not an ISO 8601 date-time: {value}") from exc


def _token(operation: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{operation}:{position}".encode()).decode()


def _cursor(operation: str, token: str | None) -> int:
    """The position a `nextToken` continues after (-1: the first page). A token of another operation or
    one DRS never issued is a ValidationException."""
    if not token:
        return -1
    try:
        kind, _, position = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == operation and position.isdigit():
            return int(position)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _invalid("nextToken", f"Invalid pagination token for {operation}: {token[:64]}")


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body


def _check_id(value: str, prefix: str, length: int) -> None:
    body = value[len(prefix) :]
    if not value.startswith(prefix) or len(body) != length or not body.isalnum() or not body.isascii():
        raise ValueError(f"{value!r} is not a DRS id ({prefix} followed by {length} letters or digits)")
