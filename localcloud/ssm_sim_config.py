"""Configuration of the SSM Run Command simulator, and the ``ssm:`` section of a simulation profile.

The profile section is camelCase::

    ssm:
      seed: 7
      events: emit                      # or drop: no "EC2 Command Invocation Status-change" events
      defaultDurationSeconds: 5         # how long a simulated script runs
      invocationVisibleAfterSeconds: 1  # GetCommandInvocation answers InvocationDoesNotExist until then
      agentOnlineAfterSeconds: 120      # a recovery instance is a managed node only this long after its launch
      documents:
        DRSOrch-HealthCheck: {durationSeconds: 20}
        erp-smoke-test: {status: Failed}            # the profile's own document (no parameter)
        DRSOrch-ServiceCheck: {failOn: [i-0123456789abcdef0]}
      instances:                        # managed nodes that exist before any launch (the old site)
        i-0a1b2c3d4e5f60718: {tags: {Role: database-primary}, pingStatus: Online}
      allowedDocuments: [DRSOrch-*, AWS-RunShellScript]   # the functions' ALLOWED_SSM_DOCUMENTS
      automationFailSteps:              # a fault: these steps of an Automation runbook fail, every execution
        DRSOrch-DnsCutover: [upsertRecord]

``allowedDocuments`` is the deploy setting of the same name for the local run (the documents plans may run;
StartPlan refuses the others). Left out, it is the deployed default, ``DRSOrch-*``, plus the documents the
profile itself creates: the names under ``documents`` that are neither built into the simulator
(``AWS-RunShellScript``, ``AWS-RunPowerShellScript``) nor in the library (infra/ssm_documents/): the simulated
account's own documents, as a deployer lists theirs. An AWS-owned document exists in every account, so it is
never allowed by being there: a profile that runs one lists it here.

Every mistake is named by its camelCase key path (``ssm.documents.X.failon: unknown key ...``), so a
typo in a profile fails loudly instead of silently running with defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localcloud.profile_keys import ProfileSection, invalid, section_error
from orchestrator.domain.plan.documents import AllowList

InvocationOutcome = Literal["Success", "Failed", "TimedOut"]
PingStatus = Literal["Online", "ConnectionLost", "Inactive"]
Platform = Literal["Linux", "Windows"]


class SsmDocumentBehavior(BaseModel):
    """How invocations of one document behave."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    duration_seconds: float | None = Field(default=None, ge=0)  # None: the config's default
    status: InvocationOutcome = "Success"
    fail_on: list[str] = Field(default_factory=list)  # instance ids whose invocation fails
    # what each instance writes to stdout, as its agent reports it (None: "ok: <document> on <instance>" for a
    # success, nothing for a failure); set by tests (SsmSimulator.set_document_behavior), not by a profile
    output: str | None = None


class SsmInstanceSettings(BaseModel):
    """A managed node that exists before any launch (the old site, a bastion): scripts can target it
    by id or tags, e.g. to fence the old primary before a failover."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    tags: dict[str, str] = Field(default_factory=dict)
    platform: Platform = "Linux"
    ping_status: PingStatus = "Online"
    private_ip: str | None = None


class SsmSimConfig(BaseModel):
    """Behaviour of the simulated SSM Run Command service."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: int = 0
    events: Literal["emit", "drop"] = "emit"
    default_duration_seconds: float = Field(default=5.0, ge=0)
    invocation_visible_after_seconds: float = Field(default=1.0, ge=0)
    # a resolved instance that says when it was launched (a DRS recovery instance) registers with SSM, and so
    # becomes a managed node, this long after its launch
    agent_online_after_seconds: float = Field(default=0.0, ge=0)
    documents: dict[str, SsmDocumentBehavior] = Field(default_factory=dict)
    instances: dict[str, SsmInstanceSettings] = Field(default_factory=dict)
    # a fault: runbook name -> the names of its steps that fail (before they run) in every execution
    automation_fail_steps: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def from_profile(cls, section: dict[str, Any] | None) -> SsmSimConfig:
        """Build the config from the ``ssm:`` section of a simulation profile (camelCase keys).
        Raises ValueError naming each mistake by its key path (``ssm.documents.X.failon: ...``)."""
        try:
            profile = SsmProfile.model_validate(section or {})
        except ValidationError as exc:
            raise section_error(exc, "ssm") from exc
        return profile.to_config()


# ---------------------------------------------------------------------- the profile section


class DocumentProfile(ProfileSection):
    duration_seconds: float | None = Field(default=None, ge=0)
    status: InvocationOutcome = "Success"
    fail_on: list[str] = Field(default_factory=list)


class InstanceProfile(ProfileSection):
    tags: dict[str, str] = Field(default_factory=dict)
    platform: Platform = "Linux"
    ping_status: PingStatus = "Online"
    private_ip: str | None = None


class SsmProfile(ProfileSection):
    """The ``ssm:`` section of a simulation profile."""

    seed: int | None = None  # None: the profile's top-level seed
    events: Literal["emit", "drop"] = "emit"
    default_duration_seconds: float = Field(default=5.0, ge=0)
    invocation_visible_after_seconds: float = Field(default=1.0, ge=0)
    agent_online_after_seconds: float = Field(default=0.0, ge=0)
    documents: dict[str, DocumentProfile | None] = Field(default_factory=dict)
    instances: dict[str, InstanceProfile | None] = Field(default_factory=dict)
    # a fault: runbook name -> the steps of it that fail in every execution (localcloud/ssm_automation.py)
    automation_fail_steps: dict[str, list[str]] = Field(default_factory=dict)
    # None: DRSOrch-* and the profile's own documents (LocalCloud); not a simulator setting (SSM runs any document
    # it has: the orchestrator's StartPlan is what refuses)
    allowed_documents: list[str] | None = None

    @field_validator("allowed_documents")
    @classmethod
    def _allow_list(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            try:
                AllowList.parse(entry)
            except ValueError as exc:
                raise invalid(str(exc).removeprefix("ALLOWED_SSM_DOCUMENTS: ")) from exc
            if "," in entry:
                raise invalid(f"one document or prefix per entry, not '{entry}'")
        return value

    def to_config(self, *, default_seed: int = 0) -> SsmSimConfig:
        values: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "events",
                "default_duration_seconds",
                "invocation_visible_after_seconds",
                "agent_online_after_seconds",
                "automation_fail_steps",
            )
            if name in self.model_fields_set
        }
        values["seed"] = self.seed if self.seed is not None else default_seed
        values["documents"] = {
            name: SsmDocumentBehavior(**(doc or DocumentProfile()).model_dump()) for name, doc in self.documents.items()
        }
        values["instances"] = {
            iid: SsmInstanceSettings(**(node or InstanceProfile()).model_dump()) for iid, node in self.instances.items()
        }
        return SsmSimConfig(**values)
