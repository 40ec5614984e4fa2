"""Configuration of the DRS simulator, and the ``drs:`` section of a simulation profile that sets it.

The profile section is camelCase::

    drs:
      seed: 7
      throttleRate: 0.05
      retryAfterSeconds: 1
      launchSeconds: {min: 300, max: 900}
      startDelaySeconds: 2
      terminateSeconds: 30
      terminateFailureRate: 0.2       # share of recovery instances a terminate job fails to terminate
      launchEvents: drop              # or emit (default)
      initialized: true
      pageSize: 2                     # most items one Describe* page returns (maxResults asks for fewer)
      quotas: {serversPerJob: 100, concurrentJobs: 20, serversInAllJobs: 500, sourceServers: 4000}
      servers:
        s-0123456789abcdef0: {launch: FAILED, replicationState: STALLED, lagSeconds: 120, terminate: FAILED}
        s-0123456789abcdef1:            # tags, IP and launch settings: localcloud/drs_sim_launch_config.py
          tags: {tier: db}
          privateIp: 10.0.3.15
          launchConfiguration: {copyPrivateIp: true, targetInstanceTypeRightSizingMethod: NONE}
          launchTemplate: {subnetId: subnet-0a1b2c3d4e5f60718, instanceType: r5.large}
      outsideJobs:                    # DRS jobs started by someone else (the console, another tool)
        - {servers: [s-0123456789abcdef0], atSeconds: 0, durationSeconds: 900}
        - {jobs: 19, otherServers: 20, durationSeconds: 600}
      stagingAccounts:                # accounts replicating servers this one recovers (localcloud/drs_sim_staging.py)
        "111122223333":               # a quoted 12-digit account id
          trustsRecoveryAccount: true # false: no DRSStagingAccountRole trusting this account (AccessDenied)
          servers:                    # its source servers (ids of that account), extensible into this one
            s-5000000000000000a: {hostname: db-1, replicationState: CONTINUOUS, lagSeconds: 0}
            s-5000000000000000b: {extended: true}            # already extended when the simulation starts
            s-5000000000000000c: {extensionError: "Access denied to the staging account's EBS key"}
      failback:                       # failback states, StartFailbackLaunch, ReverseReplication (drs_sim_failback.py)
        readyAfterSeconds: 600
        servers: {s-0123456789abcdef0: {neverReady: true}, s-0123456789abcdef1: {originRegion: us-west-2}}
      recoveryPlans:                  # native DRS recovery plans (drs-orch import-native / export-native --sim)
        - name: shop
          steps:
            - {name: Databases, servers: {s-0123456789abcdef0: CRITICAL}}
            - {name: Settle, waitMinutes: 5}
            - {name: Web, servers: {s-0123456789abcdef1: OPTIONAL}}

Every mistake is named by its camelCase key path (``drs.quotas.serverPerJob: unknown key ...``,
``drs.servers.s-….lagSeconds: Input should be greater than or equal to 0``), so a typo in a profile fails
loudly instead of silently running with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from localcloud.drs_sim_failback import FailbackProfile, FailbackSettings
from localcloud.drs_sim_launch_config import (
    Ipv4,
    LaunchConfigurationProfile,
    LaunchConfigurationSettings,
    LaunchTemplateProfile,
    LaunchTemplateSettings,
)
from localcloud.profile_keys import ProfileSection, invalid, section_error

LaunchOutcome = Literal["LAUNCHED", "FAILED"]
TerminateOutcome = Literal["TERMINATED", "FAILED", "FAILED_ONCE"]
ReplicationState = Literal[
    "STOPPED",
    "INITIATING",
    "INITIAL_SYNC",
    "BACKLOG",
    "CREATING_SNAPSHOT",
    "CONTINUOUS",
    "PAUSED",
    "RESCAN",
    "STALLED",
    "DISCONNECTED",
]
SourceServerId = Annotated[str, StringConstraints(pattern=r"^s-[0-9a-zA-Z]{17}$")]  # SourceServerID in the model
DEFAULT_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DrsQuotas:
    """DRS service quotas (the defaults are the AWS defaults, none of them adjustable)."""

    servers_per_job: int = 100  # L-B827C881
    concurrent_jobs: int = 20  # L-D88FAC3A
    servers_in_all_jobs: int = 500  # L-05AFA8C6
    source_servers: int = 4_000  # source servers per account, extended ones included (adjustable)

    def __post_init__(self) -> None:
        for name in ("servers_per_job", "concurrent_jobs", "servers_in_all_jobs", "source_servers"):
            if getattr(self, name) < 1:
                raise ValueError(f"DRS quota {name} must be at least 1")


class DrsServerSettings(BaseModel):
    """Per source server behaviour."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    launch: LaunchOutcome = "LAUNCHED"
    replication_state: ReplicationState = "CONTINUOUS"
    lag_seconds: int = Field(default=0, ge=0)
    # how long each launch of this server takes, in simulated seconds from its job's start (None: a random time in
    # the launch window, drs.launchSeconds): a benchmark that needs each server's own launch time fixes it here
    launch_seconds: float | None = Field(default=None, ge=0)
    # FAILED: every terminate job fails to terminate its instance; FAILED_ONCE: the first does, later ones terminate it
    terminate: TerminateOutcome = "TERMINATED"
    tags: dict[str, str] = Field(default_factory=dict)  # the source server's DRS tags
    private_ip: Ipv4 | None = None  # the source machine's IP (None: DEFAULT_SOURCE_IP)
    launch_configuration: LaunchConfigurationSettings | None = None  # None: DRS's defaults
    launch_template: LaunchTemplateSettings | None = None  # None: the default subnet, no group, no static IP

    @property
    def declares_launch(self) -> bool:
        """Whether the profile gives this server tags, an IP or launch settings: such a server exists from the
        start (a tag selector must find it), not only once a plan names it."""
        return bool(self.tags) or any(
            value is not None for value in (self.private_ip, self.launch_configuration, self.launch_template)
        )


AccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]  # AccountID in the model (12 digits)


class StagingServerSettings(BaseModel):
    """A source server of a staging account: how its extended source server replicates once it exists, whether
    it exists from the start (`extended`), and whether DRS reports it in EXTENSION_ERROR (`extension_error`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    hostname: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    replication_state: ReplicationState = "CONTINUOUS"
    lag_seconds: int = Field(default=0, ge=0)
    extended: bool = False
    extension_error: str | None = None


class StagingAccountSettings(BaseModel):
    """A staging account: its source servers, and whether it trusts this (the recovery) account."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    trusts_recovery_account: bool = True
    servers: dict[SourceServerId, StagingServerSettings] = Field(default_factory=dict)


class OutsideJob(BaseModel):
    """``jobs`` LAUNCH jobs (drills) that someone else starts ``at_seconds`` after the simulator's first
    call and that run ``duration_seconds``: they hold ``servers`` (a server is in one job at a time, so
    StartRecovery answers ConflictException for them) plus ``other_servers`` servers of the account that
    no plan names, and count against the quotas like any job."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    servers: tuple[SourceServerId, ...] = ()
    other_servers: int = Field(default=0, ge=0)
    jobs: int = Field(default=1, ge=1)
    at_seconds: float = Field(default=0.0, ge=0)
    duration_seconds: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _holds_something(self) -> OutsideJob:
        if not self.servers and not self.other_servers:
            raise invalid("an outside job holds servers, otherServers or both")
        if self.servers and self.jobs > 1:
            raise invalid("a source server is in one job at a time: jobs above 1 take otherServers only")
        if len(set(self.servers)) != len(self.servers):
            raise invalid("a server is listed twice")
        return self


class DrsSimConfig(BaseModel):
    """Behaviour of the simulated DRS service."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: int = 0
    launch_seconds_min: float = Field(default=300.0, ge=0)
    launch_seconds_max: float = Field(default=900.0, ge=0)
    # PENDING -> STARTED delay of a job; capped by launch_seconds_max so 0/0 means "immediate"
    start_delay_seconds: float = Field(default=2.0, ge=0)
    terminate_seconds: float = Field(default=30.0, ge=0)
    terminate_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    throttle_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_seconds: int = Field(default=1, ge=1)
    quotas: DrsQuotas = Field(default_factory=DrsQuotas)
    launch_events: Literal["emit", "drop"] = "emit"
    servers: dict[str, DrsServerSettings] = Field(default_factory=dict)
    snapshots_per_server: int = Field(default=3, ge=0)
    initialized: bool = True
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1)
    outside_jobs: tuple[OutsideJob, ...] = ()
    staging_accounts: dict[AccountId, StagingAccountSettings] = Field(default_factory=dict)
    failback: FailbackSettings | None = None  # None: no failback states (localcloud/drs_sim_failback.py)

    @model_validator(mode="after")
    def _check_launch_window(self) -> DrsSimConfig:
        if self.launch_seconds_min > self.launch_seconds_max:
            raise ValueError("launch_seconds_min must not exceed launch_seconds_max")
        return self

    @classmethod
    def from_profile(cls, section: dict[str, Any] | None) -> DrsSimConfig:
        """Build the config from the ``drs:`` section of a simulation profile (camelCase keys).
        Raises ValueError naming each mistake by its key path (``drs.quotas.serverPerJob: ...``)."""
        try:
            profile = DrsProfile.model_validate(section or {})
        except ValidationError as exc:
            raise section_error(exc, "drs") from exc
        return profile.to_config()


# ---------------------------------------------------------------------- the profile section


class LaunchWindowProfile(ProfileSection):
    min: float | None = Field(default=None, ge=0, le=366 * 86_400)  # a launch of more than a year is a typo
    max: float | None = Field(default=None, ge=0, le=366 * 86_400)

    @model_validator(mode="after")
    def _ordered(self) -> LaunchWindowProfile:
        low = self.min if self.min is not None else DrsSimConfig.model_fields["launch_seconds_min"].default
        high = self.max if self.max is not None else DrsSimConfig.model_fields["launch_seconds_max"].default
        if low > high:
            raise invalid(f"min ({low:g} s) must not exceed max ({high:g} s)")
        return self


class QuotasProfile(ProfileSection):
    servers_per_job: int = Field(default=DrsQuotas.servers_per_job, ge=1)
    concurrent_jobs: int = Field(default=DrsQuotas.concurrent_jobs, ge=1)
    servers_in_all_jobs: int = Field(default=DrsQuotas.servers_in_all_jobs, ge=1)
    source_servers: int = Field(default=DrsQuotas.source_servers, ge=1)


class ServerProfile(ProfileSection):
    launch: LaunchOutcome = "LAUNCHED"
    replication_state: ReplicationState = "CONTINUOUS"
    lag_seconds: int = Field(default=0, ge=0)
    launch_seconds: float | None = Field(default=None, ge=0, le=366 * 86_400)
    terminate: TerminateOutcome = "TERMINATED"
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)  # DRS: at most 50 tags per resource
    private_ip: Ipv4 | None = None
    launch_configuration: LaunchConfigurationProfile | None = None
    launch_template: LaunchTemplateProfile | None = None

    def to_settings(self) -> DrsServerSettings:
        return DrsServerSettings(
            launch=self.launch,
            replication_state=self.replication_state,
            lag_seconds=self.lag_seconds,
            launch_seconds=self.launch_seconds,
            terminate=self.terminate,
            tags=dict(self.tags),
            private_ip=self.private_ip,
            launch_configuration=self.launch_configuration.to_settings() if self.launch_configuration else None,
            launch_template=self.launch_template.to_settings() if self.launch_template else None,
        )


class OutsideJobProfile(ProfileSection):
    servers: list[SourceServerId] = Field(default_factory=list)
    other_servers: int = Field(default=0, ge=0)
    jobs: int = Field(default=1, ge=1)
    at_seconds: float = Field(default=0.0, ge=0)
    duration_seconds: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _holds_something(self) -> OutsideJobProfile:
        self.to_config()  # the same checks, named at this entry's path
        return self

    def to_config(self) -> OutsideJob:
        return OutsideJob(
            servers=tuple(self.servers),
            other_servers=self.other_servers,
            jobs=self.jobs,
            at_seconds=self.at_seconds,
            duration_seconds=self.duration_seconds,
        )


class NativeStepProfile(ProfileSection):
    """A step of a native recovery plan: ``servers`` (id -> CRITICAL or OPTIONAL) or ``waitMinutes``."""

    name: str
    servers: dict[SourceServerId, Literal["CRITICAL", "OPTIONAL"]] | None = None
    wait_minutes: int | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> NativeStepProfile:
        if (self.servers is None) == (self.wait_minutes is None):
            raise invalid("a step has servers (a SERVER step) or waitMinutes (a WAIT step), not both or neither")
        return self


class NativePlanProfile(ProfileSection):
    """A native DRS recovery plan the account already has (``drs-orch import-native --sim`` reads it, and
    ``export-native --sim`` updates it); made through CreateRecoveryPlan and CreateRecoveryPlanStep, so DRS's
    checks and limits apply. A run does not use it."""

    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    steps: list[NativeStepProfile] = Field(default_factory=list)


class StagingServerProfile(ProfileSection):
    hostname: str | None = None
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)
    replication_state: ReplicationState = "CONTINUOUS"
    lag_seconds: int = Field(default=0, ge=0)
    extended: bool = False
    extension_error: str | None = None


class StagingAccountProfile(ProfileSection):
    trusts_recovery_account: bool = True
    servers: dict[SourceServerId, StagingServerProfile | None] = Field(default_factory=dict)

    def to_settings(self) -> StagingAccountSettings:
        return StagingAccountSettings(
            trusts_recovery_account=self.trusts_recovery_account,
            servers={
                sid: StagingServerSettings(**(server or StagingServerProfile()).model_dump())
                for sid, server in self.servers.items()
            },
        )


class DrsProfile(ProfileSection):
    """The ``drs:`` section of a simulation profile."""

    seed: int | None = None  # None: the profile's top-level seed
    throttle_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_seconds: int = Field(default=1, ge=1)
    launch_seconds: LaunchWindowProfile = Field(default_factory=LaunchWindowProfile)
    start_delay_seconds: float = Field(default=2.0, ge=0)
    terminate_seconds: float = Field(default=30.0, ge=0)
    terminate_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    launch_events: Literal["emit", "drop"] = "emit"
    snapshots_per_server: int = Field(default=3, ge=0)
    initialized: bool = True
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1)
    quotas: QuotasProfile = Field(default_factory=QuotasProfile)
    servers: dict[str, ServerProfile | None] = Field(default_factory=dict)
    outside_jobs: list[OutsideJobProfile] = Field(default_factory=list)
    recovery_plans: list[NativePlanProfile] = Field(default_factory=list)  # not in DrsSimConfig: see NativePlanProfile
    staging_accounts: dict[AccountId, StagingAccountProfile | None] = Field(default_factory=dict)
    failback: FailbackProfile | None = None

    def to_config(self, *, default_seed: int = 0) -> DrsSimConfig:
        given = self.model_fields_set
        values: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "throttle_rate",
                "retry_after_seconds",
                "start_delay_seconds",
                "terminate_seconds",
                "terminate_failure_rate",
                "launch_events",
                "snapshots_per_server",
                "initialized",
                "page_size",
            )
            if name in given
        }
        values["seed"] = self.seed if self.seed is not None else default_seed
        if self.launch_seconds.min is not None:
            values["launch_seconds_min"] = self.launch_seconds.min
        if self.launch_seconds.max is not None:
            values["launch_seconds_max"] = self.launch_seconds.max
        values["quotas"] = DrsQuotas(**self.quotas.model_dump())
        values["servers"] = {sid: (server or ServerProfile()).to_settings() for sid, server in self.servers.items()}
        values["outside_jobs"] = tuple(job.to_config() for job in self.outside_jobs)
        values["staging_accounts"] = {
            account: (profile or StagingAccountProfile()).to_settings()
            for account, profile in self.staging_accounts.items()
        }
        if self.failback is not None:
            values["failback"] = self.failback.to_settings()
        return DrsSimConfig(**values)
