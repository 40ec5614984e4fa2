"""Configuration of the SSM Run Command simulator, and its mapping from the local cloud's YAML profile.

The profile section (``ssm:`` in a local cloud profile) is camelCase::

    ssm:
      seed: 7
      events: emit                      # or drop: no "EC2 Command Invocation Status-change" events
      defaultDurationSeconds: 5         # how long a simulated script runs
      invocationVisibleAfterSeconds: 1  # GetCommandInvocation answers InvocationDoesNotExist until then
      documents:
        DRSOrch-HealthCheck: {durationSeconds: 20}
        erp-smoke-test: {status: Failed}            # not in the library: accepts any parameters
        DRSOrch-ServiceCheck: {failOn: [i-0123456789abcdef0]}

Any key not listed here raises a ``ValueError`` naming it (``ssm.documents.X.failon``), so a typo in a
profile fails loudly instead of silently running with defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from localcloud.profile_keys import mapping, named_sections, reject_unknown

InvocationOutcome = Literal["Success", "Failed", "TimedOut"]


class SsmDocumentBehavior(BaseModel):
    """How invocations of one document behave."""

    model_config = ConfigDict(extra="forbid")

    duration_seconds: float | None = Field(default=None, ge=0)  # None: the config's default
    status: InvocationOutcome = "Success"
    fail_on: list[str] = Field(default_factory=list)  # instance ids whose invocation fails


class SsmInstanceSettings(BaseModel):
    """A managed node that exists before any launch (the old site, a bastion): scripts can target it
    by id or tags, e.g. to fence the old primary before a failover."""

    model_config = ConfigDict(extra="forbid")

    tags: dict[str, str] = Field(default_factory=dict)
    platform: Literal["Linux", "Windows"] = "Linux"
    ping_status: Literal["Online", "ConnectionLost", "Inactive"] = "Online"
    private_ip: str | None = None


class SsmSimConfig(BaseModel):
    """Behaviour of the simulated SSM Run Command service."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    events: Literal["emit", "drop"] = "emit"
    default_duration_seconds: float = Field(default=5.0, ge=0)
    invocation_visible_after_seconds: float = Field(default=1.0, ge=0)
    documents: dict[str, SsmDocumentBehavior] = Field(default_factory=dict)
    instances: dict[str, SsmInstanceSettings] = Field(default_factory=dict)

    @classmethod
    def from_profile(cls, section: dict[str, Any] | None) -> SsmSimConfig:
        """Build the config from the ``ssm:`` section of a local cloud profile (camelCase keys)."""
        section = dict(mapping("ssm", section or {}))
        reject_unknown("SSM", "ssm", section, {*_SCALARS, "documents", "instances"})
        values: dict[str, Any] = {field: section[key] for key, field in _SCALARS.items() if key in section}
        if "documents" in section:
            values["documents"] = named_sections(
                "SSM", "ssm.documents", mapping("ssm.documents", section["documents"] or {}), _DOCUMENT_KEYS,
                SsmDocumentBehavior)
        if "instances" in section:
            values["instances"] = named_sections(
                "SSM", "ssm.instances", mapping("ssm.instances", section["instances"] or {}), _INSTANCE_KEYS,
                SsmInstanceSettings)
        return cls(**values)


_SCALARS = {
    "seed": "seed",
    "events": "events",
    "defaultDurationSeconds": "default_duration_seconds",
    "invocationVisibleAfterSeconds": "invocation_visible_after_seconds",
}
_DOCUMENT_KEYS = {"durationSeconds": "duration_seconds", "status": "status", "failOn": "fail_on"}
_INSTANCE_KEYS = {"tags": "tags", "platform": "platform", "pingStatus": "ping_status", "privateIp": "private_ip"}
