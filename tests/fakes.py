"""In-memory fakes of the ports the steps use (`orchestrator.domain.ports`), for unit tests.

Each fake keeps what it was asked in plain lists and dicts a test can read, answers deterministically
(ids are counters, time is the injected clock's) and fails on demand with the adapter's own exceptions:
`fake.fail("start_recovery", DrsThrottled(...))` makes the next call of that method raise, before it has
any effect (one queued error per call, in order). Nothing sleeps.

The shapes are the services' own (boto3) dictionaries, as far as the steps read them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable, Sequence
from copy import deepcopy
from datetime import datetime
from typing import Any, cast

from events.models import Contract
from orchestrator.adapters.bus import PublishError
from orchestrator.adapters.ssm import TERMINAL_STATUSES, SsmRejected
from orchestrator.domain.clock import Clock, iso, parse_iso
from orchestrator.domain.evidence import EvidenceConflict, StoredEvidence, sha256_hex
from orchestrator.domain.plan.documents import DocumentParameters
from orchestrator.domain.plan.network_checks import InstanceTypeOffering, NetworkInterface, SecurityGroup, Subnet
from orchestrator.domain.plan.target import Target
from orchestrator.domain.ports import (
    BusPort,
    DrsPort,
    Ec2NetworkPort,
    Ec2TemplatesPort,
    MacPort,
    SchedulerPort,
    SsmPort,
    TargetAdapters,
)
from orchestrator.domain.staging import ExtendedSourceServer
from orchestrator.domain.targets import TargetUnavailable


class _Failing:
    """Errors queued per method: the next call of that method raises the first one."""

    def __init__(self) -> None:
        self._errors: dict[str, list[Exception]] = defaultdict(list)

    def fail(self, method: str, *errors: Exception) -> None:
        if not callable(getattr(self, method, None)):
            raise TypeError(f"{type(self).__name__} has no method {method}")
        self._errors[method].extend(errors)

    def unused_errors(self) -> dict[str, int]:
        """Queued errors no call has raised yet, by method (a test checks its injection was exercised)."""
        return {method: len(errors) for method, errors in self._errors.items() if errors}

    def _maybe_fail(self, method: str) -> None:
        if self._errors[method]:
            raise self._errors[method].pop(0)


class FakeBus(_Failing):
    """The orchestrator bus: `published` holds every event put on it, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Contract] = []

    def publish(self, *details: Contract) -> None:
        self._maybe_fail("publish")
        self.published.extend(details)

    def of(self, kind: type[Contract]) -> list[Any]:
        """The published events of one type, in order."""
        return [d for d in self.published if isinstance(d, kind)]

    def types(self) -> list[str]:
        return [d.DETAIL_TYPE for d in self.published]

    @staticmethod
    def refused(count: int = 1) -> PublishError:
        return PublishError(f"PutEvents rejected {count} entries")


class FakeMac(_Failing):
    """The operator-proof key: HMAC-SHA-256 with a secret of its own (`calls` counts KMS requests)."""

    def __init__(self, secret: bytes = b"fake operator proof key") -> None:
        super().__init__()
        self._secret = secret
        self.calls: list[str] = []

    def generate(self, message: bytes) -> str:
        self.calls.append("generate")
        self._maybe_fail("generate")
        return base64.b64encode(hmac.new(self._secret, message, hashlib.sha256).digest()).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        self.calls.append("verify")
        self._maybe_fail("verify")
        expected = hmac.new(self._secret, message, hashlib.sha256).digest()
        try:
            return hmac.compare_digest(base64.b64decode(mac, validate=True), expected)
        except ValueError:
            return False


class FakeScheduler(_Failing):
    """One-time schedules by name; a name that exists is not scheduled again (like ConflictException)."""

    def __init__(self) -> None:
        super().__init__()
        self.schedules: dict[str, tuple[datetime, Contract]] = {}
        self.created: list[str] = []  # every name scheduled, in order
        self.cancelled: list[str] = []

    def at(self, name: str, when: datetime, detail: Contract) -> bool:
        self._maybe_fail("at")
        if name in self.schedules:
            return False
        self.schedules[name] = (when, detail)
        self.created.append(name)
        return True

    def cancel(self, name: str) -> None:
        self._maybe_fail("cancel")
        self.cancelled.append(name)
        self.schedules.pop(name, None)

    def due(self, now: datetime) -> list[Contract]:
        """The events due at `now`, earliest first; they fire once (ActionAfterCompletion=DELETE)."""
        ready = sorted((when, name) for name, (when, _) in self.schedules.items() if when <= now)
        return [self.schedules.pop(name)[1] for _, name in ready]

    def of(self, kind: type[Contract]) -> list[Any]:
        """The pending schedules' events of one type, in the order they were created."""
        return [detail for _, detail in self.schedules.values() if isinstance(detail, kind)]


class FakeDrs(_Failing):
    """Source servers, recovery snapshots, jobs and recovery instances of one account and Region.

    Jobs start PENDING; `finish_job` ends one (COMPLETED) with each server's launch status, and gives
    every LAUNCHED server a running recovery instance."""

    def __init__(self, clock: Clock, *, id_base: int = 0) -> None:
        """`id_base`: where this account's job and recovery instance ids start (a target account's fake gets its own
        range, so an id read in the wrong account is never found there by accident)."""
        super().__init__()
        self._clock = clock
        self._id_base = id_base
        self.source_servers: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, set[str]] = defaultdict(set)
        self.jobs: dict[str, dict[str, Any]] = {}
        self.recovery_instances: dict[str, dict[str, Any]] = {}
        self.failure_reasons: dict[str, dict[str, str]] = {}
        self.started: list[dict[str, Any]] = []  # every accepted StartRecovery: servers, is_drill, tags
        self.terminated: list[list[str]] = []  # every accepted TerminateRecoveryInstances
        self.failback_launches: list[list[str]] = []  # every accepted StartFailbackLaunch
        self.reversed: list[str] = []  # every accepted ReverseReplication
        self.replication_started: list[str] = []  # every accepted StartReplication
        # each source server's launch configuration (DRS's defaults, template `lt-<its id's digits>`)
        self.launch_configurations: dict[str, dict[str, Any]] = {}
        self.configuration_updates: list[tuple[str, dict[str, Any]]] = []  # every UpdateLaunchConfiguration

    # ---- arranging ----

    def add_source_server(
        self,
        source_server_id: str,
        *,
        replication: str = "CONTINUOUS",
        lag: str | None = "PT10S",
        hostname: str | None = None,
        snapshots: Iterable[str] = (),
        tags: dict[str, str] | None = None,
        direction: str = "FAILOVER",
        staging_area: dict[str, str] | None = None,
    ) -> None:
        """`staging_area`: DescribeSourceServers' stagingArea of an extended source server ({status,
        stagingAccountID, stagingSourceServerArn[, errorMessage]}); None: a server replicating here."""
        info: dict[str, Any] = {"dataReplicationState": replication}
        if lag is not None:
            info["lagDuration"] = lag
        self.source_servers[source_server_id] = {
            "sourceServerID": source_server_id,
            "dataReplicationInfo": info,
            "sourceProperties": {"identificationHints": {"hostname": hostname}} if hostname else {},
            "tags": dict(tags or {}),
            "replicationDirection": direction,
            "stagingArea": dict(staging_area) if staging_area else {"status": "NOT_EXTENDED"},
        }
        self.snapshots[source_server_id].update(snapshots)
        self.launch_configurations.setdefault(
            source_server_id,
            {
                "sourceServerID": source_server_id,
                "ec2LaunchTemplateID": "lt-" + source_server_id.removeprefix("s-"),
                "copyPrivateIp": False,
                "copyTags": False,
                "launchDisposition": "STARTED",
                "targetInstanceTypeRightSizingMethod": "BASIC",
                "licensing": {"osByol": False},
            },
        )

    def _job_id(self) -> str:
        return f"drsjob-{self._id_base + len(self.jobs) + 1:017d}"

    def finish_job(
        self,
        job_id: str,
        statuses: dict[str, str] | None = None,
        reasons: dict[str, str] | None = None,
        snapshots: dict[str, str] | None = None,
    ) -> None:
        """End job `job_id`: each server LAUNCHED unless `statuses` says otherwise; `reasons` is its log;
        `snapshots`: the point-in-time snapshot time (ISO) each server's recovery instance is launched from."""
        job = self.jobs[job_id]
        job["status"] = "COMPLETED"
        for server in job["participatingServers"]:
            sid = server["sourceServerID"]
            server["launchStatus"] = (statuses or {}).get(sid, "LAUNCHED")
            if server["launchStatus"] == "LAUNCHED" and job["type"] == "LAUNCH":
                n = len(self.recovery_instances) + 1
                rid = f"i-{self._id_base + n:017x}"
                server["recoveryInstanceID"] = rid
                self.recovery_instances[rid] = {
                    "recoveryInstanceID": rid,
                    "ec2InstanceID": rid,
                    "ec2InstanceState": "RUNNING",
                    "sourceServerID": sid,
                    "jobID": job_id,
                    "isDrill": job["isDrill"],
                    "recoveryInstanceProperties": {"networkInterfaces": [{"ips": [f"10.0.0.{n}"], "isPrimary": True}]},
                    **(
                        {"pointInTimeSnapshotDateTime": snapshots[sid]}
                        if snapshots is not None and sid in snapshots
                        else {}
                    ),
                }
        self.failure_reasons[job_id] = dict(reasons or {})

    # ---- the port ----

    def start_recovery(self, servers: list[dict[str, str]], *, is_drill: bool, tags: dict[str, str]) -> dict[str, Any]:
        self._maybe_fail("start_recovery")
        job_id = self._job_id()
        job: dict[str, Any] = {
            "jobID": job_id,
            "type": "LAUNCH",
            "status": "PENDING",
            "isDrill": is_drill,
            "tags": dict(tags),
            "creationDateTime": iso(self._clock.now()),
            "participatingServers": [
                {"sourceServerID": s["sourceServerID"], "launchStatus": "PENDING"} for s in servers
            ],
        }
        self.jobs[job_id] = job
        self.started.append({"servers": [dict(s) for s in servers], "is_drill": is_drill, "tags": dict(tags)})
        return _copy(job)

    def start_failback_launch(self, recovery_instance_ids: list[str], *, tags: dict[str, str]) -> dict[str, Any]:
        self._maybe_fail("start_failback_launch")
        job_id = self._job_id()
        job: dict[str, Any] = {
            "jobID": job_id,
            "type": "LAUNCH",
            "initiatedBy": "FAILBACK",
            "status": "PENDING",
            "tags": dict(tags),
            "creationDateTime": iso(self._clock.now()),
            "participatingServers": [
                {"recoveryInstanceID": rid, "launchStatus": "PENDING"} for rid in recovery_instance_ids
            ],
        }
        self.jobs[job_id] = job
        self.failback_launches.append(list(recovery_instance_ids))
        return _copy(job)

    def reverse_replication(self, recovery_instance_id: str) -> str:
        self._maybe_fail("reverse_replication")
        self.reversed.append(recovery_instance_id)
        return f"arn:aws:drs:us-west-2:123456789012:source-server/s-{recovery_instance_id[2:].rjust(17, '0')[-17:]}"

    def start_replication(self, source_server_id: str) -> dict[str, Any]:
        self._maybe_fail("start_replication")
        self.replication_started.append(source_server_id)
        return {"sourceServerID": source_server_id, "dataReplicationInfo": {"dataReplicationState": "INITIATING"}}

    def describe_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        self._maybe_fail("describe_jobs")
        return [_copy(self.jobs[j]) for j in job_ids if j in self.jobs]

    def find_job_by_tag(self, key: str, value: str, since: datetime) -> dict[str, Any] | None:
        self._maybe_fail("find_job_by_tag")
        for job in self.jobs.values():
            created = parse_iso(job["creationDateTime"])
            if job["type"] == "LAUNCH" and created >= since and job["tags"].get(key) == value:
                return _copy(job)
        return None

    def job_failure_reasons(self, job_id: str) -> dict[str, str]:
        self._maybe_fail("job_failure_reasons")
        return dict(self.failure_reasons.get(job_id, {}))

    def find_terminate_job(self, recovery_instance_ids: list[str], since: datetime) -> dict[str, Any] | None:
        self._maybe_fail("find_terminate_job")
        wanted = set(recovery_instance_ids)
        for job in self.jobs.values():
            ids = {p.get("recoveryInstanceID") for p in job["participatingServers"]}
            if job["type"] == "TERMINATE" and parse_iso(job["creationDateTime"]) >= since and ids == wanted:
                return _copy(job)
        return None

    def describe_source_servers(self, source_server_ids: list[str]) -> list[dict[str, Any]]:
        self._maybe_fail("describe_source_servers")
        return [_copy(self.source_servers[s]) for s in source_server_ids if s in self.source_servers]

    def list_source_servers(self) -> list[dict[str, Any]]:
        self._maybe_fail("list_source_servers")
        return [_copy(server) for server in self.source_servers.values()]

    def extended_source_servers(self, staging_account_ids: list[str]) -> list[ExtendedSourceServer]:
        self._maybe_fail("extended_source_servers")
        found = [ExtendedSourceServer.from_item(server) for server in self.source_servers.values()]
        return [r for r in found if r is not None and r.staging_account_id in staging_account_ids]

    def recovery_snapshot_ids(self, source_server_id: str) -> set[str]:
        self._maybe_fail("recovery_snapshot_ids")
        return set(self.snapshots.get(source_server_id, set()))

    def describe_recovery_instances(
        self, *, source_server_ids: list[str] | None = None, recovery_instance_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        self._maybe_fail("describe_recovery_instances")
        return [
            _copy(i)
            for rid, i in self.recovery_instances.items()
            if (not source_server_ids or i["sourceServerID"] in source_server_ids)
            and (not recovery_instance_ids or rid in recovery_instance_ids)
        ]

    def terminate_recovery_instances(self, recovery_instance_ids: list[str]) -> dict[str, Any]:
        self._maybe_fail("terminate_recovery_instances")
        job_id = self._job_id()
        job: dict[str, Any] = {
            "jobID": job_id,
            "type": "TERMINATE",
            "status": "PENDING",
            "isDrill": True,
            "tags": {},
            "creationDateTime": iso(self._clock.now()),
            "participatingServers": [
                {
                    "sourceServerID": self.recovery_instances[rid]["sourceServerID"],
                    "recoveryInstanceID": rid,
                    "launchStatus": "PENDING",
                }
                for rid in recovery_instance_ids
            ],
        }
        self.jobs[job_id] = job
        self.terminated.append(list(recovery_instance_ids))
        return _copy(job)

    def get_launch_configuration(self, source_server_id: str) -> dict[str, Any]:
        self._maybe_fail("get_launch_configuration")
        return _copy(self.launch_configurations[source_server_id])

    def update_launch_configuration(self, source_server_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        if not changes:
            return {}
        self._maybe_fail("update_launch_configuration")
        self.configuration_updates.append((source_server_id, _copy(changes)))
        self.launch_configurations[source_server_id].update(_copy(changes))
        return _copy(self.launch_configurations[source_server_id])


class FakeEc2Templates(_Failing):
    """EC2 launch templates and instances. A template named for the first time exists with version 1, the
    default (DeviceIndex 0 in `subnet-00000000` with `sg-00000000`, `m5.large`, an instance tag), as DRS makes
    one per source server; `versions[template][n]` is each version as DescribeLaunchTemplateVersions gives it.
    A version is created from its SourceVersion's data with the given data over it (EC2's rule). `instances`:
    {instance id: (subnet id, private IP)} for `placements`."""

    def __init__(self) -> None:
        super().__init__()
        self.versions: dict[str, dict[int, dict[str, Any]]] = {}
        self.defaults: dict[str, int] = {}
        self.created: list[dict[str, Any]] = []  # every accepted CreateLaunchTemplateVersion, as asked
        self.defaults_set: list[tuple[str, int]] = []  # every ModifyLaunchTemplate DefaultVersion
        self.instances: dict[str, tuple[str, str]] = {}
        self.described_instances: list[list[str]] = []

    def _template(self, template_id: str) -> dict[int, dict[str, Any]]:
        if template_id not in self.versions:
            self.versions[template_id] = {
                1: {
                    "LaunchTemplateId": template_id,
                    "VersionNumber": 1,
                    "LaunchTemplateData": {
                        "NetworkInterfaces": [
                            {"DeviceIndex": 0, "SubnetId": "subnet-00000000", "Groups": ["sg-00000000"]}
                        ],
                        "InstanceType": "m5.large",
                        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "drs", "Value": "yes"}]}],
                    },
                }
            }
            self.defaults[template_id] = 1
        return self.versions[template_id]

    def default_version(self, template_id: str) -> dict[str, Any]:
        self._maybe_fail("default_version")
        versions = self._template(template_id)
        return deepcopy(versions[self.defaults[template_id]])

    def find_version(self, template_id: str, description: str, *, after: int) -> int | None:
        self._maybe_fail("find_version")
        for number, version in sorted(self._template(template_id).items()):
            if number > after and version.get("VersionDescription") == description:
                return number
        return None

    def create_version(
        self, template_id: str, *, source_version: int, data: dict[str, Any], description: str, client_token: str
    ) -> int:
        self._maybe_fail("create_version")
        versions = self._template(template_id)
        number = max(versions) + 1
        merged = {**deepcopy(versions[source_version]["LaunchTemplateData"]), **deepcopy(data)}
        versions[number] = {
            "LaunchTemplateId": template_id,
            "VersionNumber": number,
            "VersionDescription": description,
            "LaunchTemplateData": merged,
        }
        self.created.append(
            {"template": template_id, "source": source_version, "data": deepcopy(data), "token": client_token}
        )
        return number

    def set_default(self, template_id: str, version: int) -> None:
        self._maybe_fail("set_default")
        if version not in self._template(template_id):
            raise AssertionError(f"no version {version} of {template_id}")
        self.defaults[template_id] = version
        self.defaults_set.append((template_id, version))

    def placements(self, instance_ids: list[str]) -> dict[str, tuple[str, str]]:
        self._maybe_fail("placements")
        self.described_instances.append(list(instance_ids))
        return {iid: self.instances[iid] for iid in instance_ids if iid in self.instances}


class FakeSsm(_Failing):
    """SSM Run Command over known documents and instances.

    Every invocation of a command takes the scripted outcome of its document (`outcomes[document]`:
    status and output; "Success" with no output when none is scripted). A status that has not ended
    ("InProgress") stays until `finish(command_id, status)`. Tags target `tagged[(key, value)]`."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock
        self.documents: dict[str, DocumentParameters] = {}
        self.described: list[str] = []  # every document_parameters call, by document name
        self.outcomes: dict[str, tuple[str, str]] = {}
        self.tagged: dict[tuple[str, str], list[str]] = {}
        self.commands: dict[str, dict[str, Any]] = {}
        self._invocations: dict[str, dict[str, dict[str, Any]]] = {}
        self.sent: list[dict[str, Any]] = []  # every accepted SendCommand, as asked
        self.cancelled: list[tuple[str, list[str] | None]] = []
        self.automations: dict[str, dict[str, Any]] = {}  # by ClientToken
        self.automation_starts: list[dict[str, Any]] = []  # every accepted StartAutomationExecution, as asked
        self.stopped: list[str] = []  # every StopAutomationExecution

    def add_document(self, name: str, parameters: Iterable[str] = (), *, required: Iterable[str] = ()) -> None:
        """A document declaring `parameters` and `required` (required ones have no default)."""
        needed = frozenset(required)
        self.documents[name] = DocumentParameters(frozenset(parameters) | needed, needed)

    def finish(self, command_id: str, status: str, output: str = "") -> None:
        for invocation in self._invocations[command_id].values():
            if invocation["Status"] not in TERMINAL_STATUSES:
                invocation["Status"] = status
                invocation["CommandPlugins"] = [{"Output": output}]

    def document_parameters(self, name: str) -> DocumentParameters:
        self.described.append(name)
        self._maybe_fail("document_parameters")
        if name not in self.documents:
            raise SsmRejected(f"InvalidDocument: document {name} does not exist", "InvalidDocument")
        return self.documents[name]

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
        self._maybe_fail("send_command")
        if document not in self.documents:
            raise SsmRejected(f"InvalidDocument: document {document} does not exist", "InvalidDocument")
        if tags is not None:
            targets = sorted({i for key, value in tags.items() for i in self.tagged.get((key, value), [])})
        else:
            targets = list(instance_ids or [])
        command_id = f"cmd-{len(self.commands) + 1:08d}"
        command = {
            "CommandId": command_id,
            "DocumentName": document,
            "Comment": comment[:100],
            "InstanceIds": list(instance_ids or []),
            "TargetCount": len(targets),
            "RequestedDateTime": self._clock.now(),
        }
        status, output = self.outcomes.get(document, ("Success", ""))
        self.commands[command_id] = command
        self._invocations[command_id] = {
            iid: {"CommandId": command_id, "InstanceId": iid, "Status": status, "CommandPlugins": [{"Output": output}]}
            for iid in targets
        }
        self.sent.append(
            {
                "document": document,
                "parameters": parameters,
                "instance_ids": instance_ids,
                "tags": tags,
                "timeout_seconds": timeout_seconds,
                "comment": comment,
            }
        )
        return [dict(command)]

    def find_command(self, document: str, comment: str, since: datetime) -> list[dict[str, Any]]:
        self._maybe_fail("find_command")
        return [
            dict(c)
            for c in self.commands.values()
            if c["DocumentName"] == document and c["Comment"] == comment[:100] and c["RequestedDateTime"] >= since
        ]

    def invocations(self, command_id: str) -> list[dict[str, Any]]:
        self._maybe_fail("invocations")
        return [_copy(i) for i in self._invocations.get(command_id, {}).values()]

    def cancel(self, command_id: str, instance_ids: list[str] | None = None) -> None:
        self._maybe_fail("cancel")
        self.cancelled.append((command_id, instance_ids))
        for iid, invocation in self._invocations.get(command_id, {}).items():
            if invocation["Status"] not in TERMINAL_STATUSES and (not instance_ids or iid in instance_ids):
                invocation["Status"] = "Cancelled"

    # ---- SSM Automation: an execution per ClientToken, InProgress until `end_automation`

    def start_automation(self, document: str, parameters: dict[str, list[str]], *, client_token: str) -> str:
        self._maybe_fail("start_automation")
        if document not in self.documents:
            raise SsmRejected(
                f"AutomationDefinitionNotFoundException: {document}", "AutomationDefinitionNotFoundException"
            )
        self.automation_starts.append({"document": document, "parameters": parameters, "client_token": client_token})
        if client_token not in self.automations:
            self.automations[client_token] = {
                "AutomationExecutionId": f"{len(self.automations) + 1:08d}-0000-4000-8000-000000000000",
                "DocumentName": document,
                "AutomationExecutionStatus": "InProgress",
                "ExecutionStartTime": self._clock.now(),
                "Parameters": parameters,
            }
        return str(self.automations[client_token]["AutomationExecutionId"])

    def end_automation(self, execution_id: str, status: str, *, failure: str | None = None, **outputs: str) -> None:
        """End the execution `execution_id` with `status` (and its failure message, its outputs) now."""
        found = self._automation(execution_id)
        found.update(AutomationExecutionStatus=status, ExecutionEndTime=self._clock.now())
        found["Outputs"] = {name: [value] for name, value in outputs.items()}
        if failure is not None:
            found["FailureMessage"] = failure

    def automation_execution(self, execution_id: str) -> dict[str, Any]:
        self._maybe_fail("automation_execution")
        return dict(self._automation(execution_id))

    def stop_automation(self, execution_id: str) -> None:
        self._maybe_fail("stop_automation")
        self.stopped.append(execution_id)
        found = self._automation(execution_id)
        if found["AutomationExecutionStatus"] == "InProgress":
            found.update(AutomationExecutionStatus="Cancelled", ExecutionEndTime=self._clock.now())

    def _automation(self, execution_id: str) -> dict[str, Any]:
        for found in self.automations.values():
            if found["AutomationExecutionId"] == execution_id:
                return found
        raise SsmRejected(
            f"AutomationExecutionNotFoundException: {execution_id}", "AutomationExecutionNotFoundException"
        )


class FakeEc2(_Failing):
    """The account's network as the checks read it: subnets, security groups, network interfaces, and the zones
    each instance type is offered in. `asked` keeps every call (method, arguments) in order."""

    def __init__(self) -> None:
        super().__init__()
        self.subnet_records: dict[str, Subnet] = {}
        self.group_records: dict[str, SecurityGroup] = {}
        self.interfaces: list[NetworkInterface] = []
        self.offered: dict[str, set[str]] = defaultdict(set)
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    def add_subnet(self, subnet_id: str, vpc_id: str, cidr_block: str, zone: str = "us-east-1a") -> None:
        self.subnet_records[subnet_id] = Subnet(subnet_id, vpc_id, cidr_block, zone)

    def add_group(self, group_id: str, vpc_id: str, name: str = "group") -> None:
        self.group_records[group_id] = SecurityGroup(group_id, name, vpc_id)

    def add_interface(self, interface_id: str, subnet_id: str, *ips: str, instance_id: str | None = None) -> None:
        self.interfaces.append(NetworkInterface(interface_id, subnet_id, tuple(ips), instance_id))

    def offer(self, instance_type: str, *zones: str) -> None:
        self.offered[instance_type].update(zones)

    def delete_group(self, group_id: str) -> None:
        """The group deleted (e.g. by someone else, after the plan started)."""
        del self.group_records[group_id]

    def delete_subnet(self, subnet_id: str) -> None:
        del self.subnet_records[subnet_id]

    def subnets(self, subnet_ids: Sequence[str]) -> list[Subnet]:
        self._maybe_fail("subnets")
        self.asked.append(("subnets", tuple(subnet_ids)))
        return [self.subnet_records[s] for s in subnet_ids if s in self.subnet_records]

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]:
        self._maybe_fail("security_groups")
        self.asked.append(("security_groups", tuple(group_ids)))
        return [self.group_records[g] for g in group_ids if g in self.group_records]

    def interfaces_with_addresses(self, subnet_ids: Sequence[str], addresses: Sequence[str]) -> list[NetworkInterface]:
        self._maybe_fail("interfaces_with_addresses")
        self.asked.append(("interfaces_with_addresses", (*subnet_ids, *addresses)))
        return [n for n in self.interfaces if n.subnet_id in subnet_ids and set(n.private_ips) & set(addresses)]

    def instance_type_offerings(self, instance_types: Sequence[str]) -> list[InstanceTypeOffering]:
        self._maybe_fail("instance_type_offerings")
        self.asked.append(("instance_type_offerings", tuple(instance_types)))
        return [
            InstanceTypeOffering(kind, zone)
            for kind in instance_types
            for zone in sorted(self.offered.get(kind, set()))
        ]


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    """A deep enough copy: a step never mutates a fake's state through what it was given."""
    return {
        k: (
            [dict(x) if isinstance(x, dict) else x for x in v]
            if isinstance(v, list)
            else dict(v)
            if isinstance(v, dict)
            else v
        )
        for k, v in item.items()
    }


# The fakes implement the ports (mypy checks these when it checks this module: `mypy tests/fakes.py`).
_BUS: type[BusPort] = FakeBus
_SCHEDULER: type[SchedulerPort] = FakeScheduler
_DRS: type[DrsPort] = FakeDrs
_SSM: type[SsmPort] = FakeSsm
_EC2: type[Ec2NetworkPort] = FakeEc2
_EC2_TEMPLATES: type[Ec2TemplatesPort] = FakeEc2Templates
_MAC: type[MacPort] = FakeMac


class FakeEvidence(_Failing):
    """The evidence bucket (S3, versioned): `versions[key]` holds every version written, oldest first, as
    (bytes, StoredEvidence); the conditional writes answer as S3 does (EvidenceConflict for a taken key or a
    stale ETag). `before_write(key)`, when set, runs before each write takes effect (a concurrent writer)."""

    def __init__(self) -> None:
        super().__init__()
        self.versions: dict[str, list[tuple[bytes, StoredEvidence]]] = {}
        self.content_types: dict[str, str] = {}
        self.before_write: Any = None

    def _current(self, key: str) -> StoredEvidence | None:
        versions = self.versions.get(key)
        return versions[-1][1] if versions else None

    def _write(self, key: str, body: bytes, content_type: str, ended_at: str | None) -> StoredEvidence:
        number = sum(len(v) for v in self.versions.values()) + 1
        sha = sha256_hex(body)
        stored = StoredEvidence(key=key, etag=f'"{sha[:32]}"', version_id=f"v{number}", sha256=sha, ended_at=ended_at)
        self.versions.setdefault(key, []).append((body, stored))
        self.content_types[key] = content_type
        return stored

    def create(self, key: str, body: bytes, *, content_type: str, ended_at: str | None = None) -> StoredEvidence:
        self._maybe_fail("create")
        if self.before_write is not None:
            self.before_write(key)
        if self._current(key) is not None:
            raise EvidenceConflict(f"{key}: PreconditionFailed", code="PreconditionFailed")
        return self._write(key, body, content_type, ended_at)

    def replace(
        self, key: str, body: bytes, *, content_type: str, etag: str, ended_at: str | None = None
    ) -> StoredEvidence:
        self._maybe_fail("replace")
        if self.before_write is not None:
            self.before_write(key)
        current = self._current(key)
        if current is None or current.etag != etag:
            raise EvidenceConflict(f"{key}: PreconditionFailed", code="PreconditionFailed")
        return self._write(key, body, content_type, ended_at)

    def head(self, key: str) -> StoredEvidence | None:
        self._maybe_fail("head")
        return self._current(key)


class FakeLambda(_Failing):
    """Asynchronous invocations of LAMBDA steps: `invoked` holds (function ARN, payload) of each, in order; the
    request ids are `req-1`, `req-2`, ... Fails on demand with LambdaError (`fail("invoke_async", ...)`)."""

    def __init__(self) -> None:
        super().__init__()
        self.invoked: list[tuple[str, dict[str, Any]]] = []

    def invoke_async(self, function_arn: str, payload: dict[str, Any]) -> str:
        self._maybe_fail("invoke_async")
        self.invoked.append((function_arn, deepcopy(payload)))
        return f"req-{len(self.invoked)}"


class FakeTargets:
    """Wave targets (issue #15): each account and Region its own fakes (DRS, SSM, EC2), made on first use, like the
    runtime's STS-backed `TargetClients`; a role in `refused` is refused as STS would (AccessDenied)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.accounts: dict[tuple[str, str], TargetAdapters] = {}
        self.refused: dict[str, str] = {}  # role ARN -> STS's message
        self.assumed: list[str] = []  # every role assumed (a cache would assume fewer: this fake keeps none)

    def fakes(self, account_id: str, region: str = "us-west-2") -> TargetAdapters:
        key = (account_id, region)
        if key not in self.accounts:
            self.accounts[key] = TargetAdapters(
                drs=FakeDrs(self._clock, id_base=(len(self.accounts) + 1) * 10_000_000),
                ssm=FakeSsm(self._clock),
                ec2=FakeEc2(),
                ec2_templates=FakeEc2Templates(),
            )
        return self.accounts[key]

    def drs(self, account_id: str, region: str = "us-west-2") -> FakeDrs:
        return cast("FakeDrs", self.fakes(account_id, region).drs)

    def adapters(self, target: Target) -> TargetAdapters:
        if target.role_arn is None:  # a role-less target: the own account's other Region, nothing assumed
            return self.fakes(target.account_id, target.region)
        if target.role_arn in self.refused:
            raise TargetUnavailable(target.role_arn, target.account_id, "AccessDenied", self.refused[target.role_arn])
        self.assumed.append(target.role_arn)
        return self.fakes(target.account_id, target.region)
