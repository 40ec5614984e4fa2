"""The ports the steps use: what a step may ask of the bus, the scheduler, DRS, SSM and the clock.

Each Protocol lists exactly the methods the steps (`orchestrator.steps`) call, with the adapters'
signatures; the adapters in `orchestrator.adapters` implement them (mypy strict checks that through the
typed fields of `orchestrator.runtime.Runtime`), and the in-memory fakes of the unit tests (`tests/fakes.py`)
implement them too. They are `runtime_checkable`, so a test can check a fake's methods exist by name.

The ledger's port, `LedgerPort`, is in `orchestrator.domain.ledger_port` (re-exported here): it speaks the
typed records of `orchestrator.domain.records`.

Shapes: DRS and SSM answers are the service's own (boto3) dictionaries (`jobID`, `participatingServers`,
`CommandId`, ...); times are timezone-aware UTC `datetime`s. Errors are the adapters' domain exceptions
(`orchestrator.adapters.drs.DrsError` and subclasses, `orchestrator.adapters.ssm.SsmError` and subclasses,
`orchestrator.adapters.bus.PublishError`, `orchestrator.adapters.ec2.Ec2Error`,
`orchestrator.adapters.kms.MacUnavailable`). EC2's answers are the typed records of
`orchestrator.domain.plan.network_checks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from events.models import Contract
from orchestrator.domain.clock import Clock
from orchestrator.domain.evidence import StoredEvidence
from orchestrator.domain.ledger_port import LedgerPort
from orchestrator.domain.plan.documents import DocumentParameters
from orchestrator.domain.plan.network_checks import InstanceTypeOffering, NetworkInterface, SecurityGroup, Subnet
from orchestrator.domain.plan.target import Target
from orchestrator.domain.staging import ExtendedSourceServer
from orchestrator.domain.stored_plans import StoredPlan

__all__ = [
    "BusPort",
    "Clock",
    "DrsPort",
    "Ec2NetworkPort",
    "Ec2TemplatesPort",
    "EvidencePort",
    "LedgerPort",
    "MacPort",
    "PlanStorePort",
    "SchedulerPort",
    "SsmPort",
    "TargetAdapters",
    "TargetsPort",
]


@runtime_checkable
class BusPort(Protocol):
    """EventBridge PutEvents on the orchestrator bus."""

    def publish(self, *details: Contract) -> None:
        """Put every detail on the bus, in order; raises PublishError when any entry is refused."""
        ...


@runtime_checkable
class SchedulerPort(Protocol):
    """EventBridge Scheduler one-time schedules that put an event on the bus."""

    def at(self, name: str, when: datetime, detail: Contract) -> bool:
        """Publish `detail` at `when` (whole seconds, UTC); False when a schedule `name` exists already."""
        ...

    def cancel(self, name: str) -> None:
        """Delete schedule `name`; a schedule that does not exist (fired, or never made) is no error."""
        ...


@runtime_checkable
class DrsPort(Protocol):
    """AWS Elastic Disaster Recovery: launches, their jobs, source servers and recovery instances."""

    def start_recovery(self, servers: list[dict[str, str]], *, is_drill: bool, tags: dict[str, str]) -> dict[str, Any]:
        """StartRecovery: the job (`jobID`, `status`, `participatingServers`, `tags`). Never retried."""
        ...

    def start_failback_launch(self, recovery_instance_ids: list[str], *, tags: dict[str, str]) -> dict[str, Any]:
        """StartFailbackLaunch of 1 to 200 recovery instances: the job (as StartRecovery's). Never retried."""
        ...

    def reverse_replication(self, recovery_instance_id: str) -> str:
        """ReverseReplication of a recovery instance of an EC2 origin: the reversed source server's ARN."""
        ...

    def start_replication(self, source_server_id: str) -> dict[str, Any]:
        """StartReplication of a source server whose replication stopped: the source server."""
        ...

    def describe_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeJobs of these ids, every page (ids unknown to DRS are absent)."""
        ...

    def find_job_by_tag(self, key: str, value: str, since: datetime) -> dict[str, Any] | None:
        """The LAUNCH job created since `since` tagged `key`=`value`, if any."""
        ...

    def job_failure_reasons(self, job_id: str) -> dict[str, str]:
        """{source server id: "EVENT: rawError"} from the job's log, for servers that did not launch."""
        ...

    def find_terminate_job(self, recovery_instance_ids: list[str], since: datetime) -> dict[str, Any] | None:
        """The TERMINATE job created since `since` for exactly these recovery instances, if any."""
        ...

    def describe_source_servers(self, source_server_ids: list[str]) -> list[dict[str, Any]]:
        """DescribeSourceServers of these ids (unknown ids are absent)."""
        ...

    def list_source_servers(self) -> list[dict[str, Any]]:
        """Every source server of the account and Region (DescribeSourceServers, every page), with its tags."""
        ...

    def extended_source_servers(self, staging_account_ids: list[str]) -> list[ExtendedSourceServer]:
        """The source servers of this account extended from these staging accounts (DescribeSourceServers filtered
        on stagingAccountIDs, every page): EXTENDED or EXTENSION_ERROR."""
        ...

    def recovery_snapshot_ids(self, source_server_id: str) -> set[str]:
        """Ids of the server's recovery snapshots."""
        ...

    def describe_recovery_instances(
        self, *, source_server_ids: list[str] | None = None, recovery_instance_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Recovery instances of these source servers and/or with these ids (None or empty: no filter)."""
        ...

    def terminate_recovery_instances(self, recovery_instance_ids: list[str]) -> dict[str, Any]:
        """TerminateRecoveryInstances: its TERMINATE job."""
        ...

    def get_launch_configuration(self, source_server_id: str) -> dict[str, Any]:
        """GetLaunchConfiguration: the server's launch configuration (`ec2LaunchTemplateID`, `copyPrivateIp`, ...)."""
        ...

    def update_launch_configuration(self, source_server_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """UpdateLaunchConfiguration with `changes` (its arguments but `sourceServerID`); {} calls nothing."""
        ...


@runtime_checkable
class Ec2TemplatesPort(Protocol):
    """EC2 launch templates DRS made for its source servers, and where recovery instances landed."""

    def default_version(self, template_id: str) -> dict[str, Any]:
        """The template's default version (DescribeLaunchTemplateVersions `$Default`): `VersionNumber`,
        `LaunchTemplateData`, `VersionDescription`."""
        ...

    def find_version(self, template_id: str, description: str, *, after: int) -> int | None:
        """The number of the template's version after version `after` whose VersionDescription is `description`."""
        ...

    def create_version(
        self, template_id: str, *, source_version: int, data: dict[str, Any], description: str, client_token: str
    ) -> int:
        """CreateLaunchTemplateVersion from `source_version` with `data`: the new version's number."""
        ...

    def set_default(self, template_id: str, version: int) -> None:
        """ModifyLaunchTemplate DefaultVersion."""
        ...

    def placements(self, instance_ids: list[str]) -> dict[str, tuple[str, str]]:
        """{instance id: (subnet id, private IP)} of these EC2 instances (DescribeInstances, batched); unknown
        ids are absent."""
        ...


@runtime_checkable
class LambdaPort(Protocol):
    """Lambda, for LAMBDA steps: asynchronous invocations (their results come back as destination events)."""

    def invoke_async(self, function_arn: str, payload: dict[str, Any]) -> str:
        """Invoke `function_arn` asynchronously (InvocationType=Event) with `payload`. Returns the request id;
        raises `orchestrator.adapters.lambda_invoke.LambdaError`."""
        ...


@runtime_checkable
class SsmPort(Protocol):
    """SSM Run Command: documents, commands, their invocations."""

    def document_parameters(self, name: str) -> DocumentParameters:
        """The parameters document `name` declares, and which of them are required."""
        ...

    def send_command(
        self,
        document: str,
        parameters: dict[str, list[str]],
        *,
        instance_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        timeout_seconds: int,
        comment: str,
    ) -> list[dict[str, Any]]:
        """SendCommand to the instances (50 a call) or to the tagged instances: each call's Command."""
        ...

    def find_command(self, document: str, comment: str, since: datetime) -> list[dict[str, Any]]:
        """Commands of `document` sent since `since` with this comment."""
        ...

    def invocations(self, command_id: str) -> list[dict[str, Any]]:
        """Every invocation of the command, with its plugin output (ListCommandInvocations Details)."""
        ...

    def cancel(self, command_id: str, instance_ids: list[str] | None = None) -> None:
        """Cancel the command's invocations that have not ended (only on `instance_ids` when given)."""
        ...

    def start_automation(self, document: str, parameters: dict[str, list[str]], *, client_token: str) -> str:
        """StartAutomationExecution, idempotent by `client_token` (a UUID): the automation execution id."""
        ...

    def automation_execution(self, execution_id: str) -> dict[str, Any]:
        """GetAutomationExecution's AutomationExecution."""
        ...

    def stop_automation(self, execution_id: str) -> None:
        """StopAutomationExecution (Cancel); one already ended is left as it is."""
        ...


@runtime_checkable
class Ec2NetworkPort(Protocol):
    """EC2 reads of the network checks (`orchestrator.steps.network_preflight`): only what exists is returned."""

    def subnets(self, subnet_ids: Sequence[str]) -> list[Subnet]:
        """The subnets among these ids that exist."""
        ...

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]:
        """The security groups among these ids that exist."""
        ...

    def interfaces_with_addresses(self, subnet_ids: Sequence[str], addresses: Sequence[str]) -> list[NetworkInterface]:
        """The network interfaces of these subnets that have one of these private IPv4 addresses."""
        ...

    def instance_type_offerings(self, instance_types: Sequence[str]) -> list[InstanceTypeOffering]:
        """Each availability zone of the Region each of these instance types is offered in."""


@dataclass(frozen=True)
class TargetAdapters:
    """The DRS, SSM and EC2 adapters of one target (its account and Region, on its role's credentials)."""

    drs: DrsPort
    ssm: SsmPort
    ec2: Ec2NetworkPort
    ec2_templates: Ec2TemplatesPort


@runtime_checkable
class TargetsPort(Protocol):
    """A wave target's adapters (`orchestrator.adapters.sts.TargetClients`: STS AssumeRole, credentials cached)."""

    def adapters(self, target: Target) -> TargetAdapters:
        """The target's adapters. Raises `orchestrator.domain.targets.TargetUnavailable` when STS refuses the
        role (naming it and its account); a transient STS error raises for the platform to retry."""
        ...


@runtime_checkable
class MacPort(Protocol):
    """KMS HMAC with the stack's operator-proof key (HMAC_SHA_256): the operator function generates, the
    StartPlan and control functions verify (each role holds only its own action on that key)."""

    def generate(self, message: bytes) -> str:
        """GenerateMac of `message` (at most 4096 bytes): the MAC, base64. Raises MacUnavailable."""
        ...

    def verify(self, message: bytes, mac: str) -> bool:
        """VerifyMac: whether `mac` (base64) is the key's MAC of `message`. False for a MAC that is not one
        (KMSInvalidMacException, or not 32 bytes of base64); raises MacUnavailable when KMS did not answer
        (throttled, unreachable): the event is retried, not refused."""
        ...


@runtime_checkable
class PlanStorePort(Protocol):
    """The stored plans (orchestrator/adapters/plan_store.py): StartPlan reads the version a `planRef` names."""

    def get(self, plan_id: str, version: int) -> StoredPlan:
        """The version with its document. UnknownStoredPlan (no such plan or version), CorruptStoredPlan (its text
        is not what was pushed), PlanStoreError (S3 refused or failed; `retryable` for a passing error)."""
        ...


@runtime_checkable
class EvidencePort(Protocol):
    """The evidence bucket (S3, issue #16): conditional writes of an ended execution's reports, and a read of the
    current version of one. Errors: `orchestrator.domain.evidence.EvidenceConflict` (a conditional write lost),
    `EvidenceError` (anything else; `retryable` for throttling and 5xx)."""

    def create(self, key: str, body: bytes, *, content_type: str, ended_at: str | None = None) -> StoredEvidence:
        """Store `body` at `key` only if no object has that key (If-None-Match: *); `ended_at`: the ending the
        body describes, kept in the object's metadata."""
        ...

    def replace(
        self, key: str, body: bytes, *, content_type: str, etag: str, ended_at: str | None = None
    ) -> StoredEvidence:
        """Store `body` at `key` as a new version only if the current one is still `etag` (If-Match)."""
        ...

    def head(self, key: str) -> StoredEvidence | None:
        """The current version of `key`, or None when it does not exist."""
        ...
