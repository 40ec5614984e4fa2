"""Configuration of the DRS simulator, and its mapping from the local cloud's YAML profile.

The profile section (``drs:`` in a local cloud profile) is camelCase::

    drs:
      seed: 7
      throttleRate: 0.05
      retryAfterSeconds: 1
      launchSeconds: {min: 300, max: 900}
      startDelaySeconds: 2
      terminateSeconds: 30
      launchEvents: drop            # or emit (default)
      initialized: true
      quotas: {serversPerJob: 100, concurrentJobs: 20, serversInAllJobs: 500}
      servers:
        s-0123456789abcdef0: {launch: FAILED, replicationState: STALLED, lagSeconds: 120}

Any key not listed here raises a ``ValueError`` naming it (``drs.quotas.serverPerJob``), so a typo in a
profile fails loudly instead of silently running with defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from localcloud.profile_keys import mapping, named_sections, reject_unknown

LaunchOutcome = Literal["LAUNCHED", "FAILED"]
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


@dataclass(frozen=True)
class DrsQuotas:
    """DRS service quotas (the defaults are the AWS defaults, none of them adjustable)."""

    servers_per_job: int = 100  # L-B827C881
    concurrent_jobs: int = 20  # L-D88FAC3A
    servers_in_all_jobs: int = 500  # L-05AFA8C6

    def __post_init__(self) -> None:
        for name in ("servers_per_job", "concurrent_jobs", "servers_in_all_jobs"):
            if getattr(self, name) < 1:
                raise ValueError(f"DRS quota {name} must be at least 1")


class DrsServerSettings(BaseModel):
    """Per source server behaviour."""

    model_config = ConfigDict(extra="forbid")

    launch: LaunchOutcome = "LAUNCHED"
    replication_state: ReplicationState = "CONTINUOUS"
    lag_seconds: int = Field(default=0, ge=0)


class DrsSimConfig(BaseModel):
    """Behaviour of the simulated DRS service."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    launch_seconds_min: float = Field(default=300.0, ge=0)
    launch_seconds_max: float = Field(default=900.0, ge=0)
    # PENDING -> STARTED delay of a job; capped by launch_seconds_max so 0/0 means "immediate"
    start_delay_seconds: float = Field(default=2.0, ge=0)
    terminate_seconds: float = Field(default=30.0, ge=0)
    throttle_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    retry_after_seconds: int = Field(default=1, ge=1)
    quotas: DrsQuotas = Field(default_factory=DrsQuotas)
    launch_events: Literal["emit", "drop"] = "emit"
    servers: dict[str, DrsServerSettings] = Field(default_factory=dict)
    snapshots_per_server: int = Field(default=3, ge=0)
    initialized: bool = True

    @model_validator(mode="after")
    def _check_launch_window(self) -> DrsSimConfig:
        if self.launch_seconds_min > self.launch_seconds_max:
            raise ValueError("launch_seconds_min must not exceed launch_seconds_max")
        return self

    @classmethod
    def from_profile(cls, section: dict[str, Any] | None) -> DrsSimConfig:
        """Build the config from the ``drs:`` section of a local cloud profile (camelCase keys)."""
        section = dict(section or {})
        _reject_unknown("drs", section, _TOP_KEYS)
        values: dict[str, Any] = {}
        for key, field in _SCALARS.items():
            if key in section:
                values[field] = section[key]
        if "launchSeconds" in section:
            window = _mapping("drs.launchSeconds", section["launchSeconds"])
            _reject_unknown("drs.launchSeconds", window, {"min", "max"})
            if "min" in window:
                values["launch_seconds_min"] = window["min"]
            if "max" in window:
                values["launch_seconds_max"] = window["max"]
        if "quotas" in section:
            quotas = _mapping("drs.quotas", section["quotas"])
            _reject_unknown("drs.quotas", quotas, set(_QUOTA_KEYS))
            values["quotas"] = DrsQuotas(**{_QUOTA_KEYS[k]: int(v) for k, v in quotas.items()})
        if "servers" in section:
            values["servers"] = named_sections("DRS", "drs.servers", _mapping("drs.servers", section["servers"]),
                                               _SERVER_KEYS, DrsServerSettings)
        return cls(**values)


_SCALARS = {
    "seed": "seed",
    "throttleRate": "throttle_rate",
    "retryAfterSeconds": "retry_after_seconds",
    "startDelaySeconds": "start_delay_seconds",
    "terminateSeconds": "terminate_seconds",
    "launchEvents": "launch_events",
    "snapshotsPerServer": "snapshots_per_server",
    "initialized": "initialized",
}
_TOP_KEYS = {*_SCALARS, "launchSeconds", "quotas", "servers"}
_QUOTA_KEYS = {
    "serversPerJob": "servers_per_job",
    "concurrentJobs": "concurrent_jobs",
    "serversInAllJobs": "servers_in_all_jobs",
}
_SERVER_KEYS = {"launch": "launch", "replicationState": "replication_state", "lagSeconds": "lag_seconds"}


def _mapping(path: str, value: Any) -> dict[str, Any]:
    return mapping(path, value)


def _reject_unknown(path: str, section: dict[str, Any], allowed: set[str]) -> None:
    reject_unknown("DRS", path, section, allowed)
