"""The DRS adapter: boto3 `drs` calls turned into domain results and domain exceptions.

Reads (Describe*) that DRS throttles or fails transiently are retried here, a few times, with exponential
backoff and full jitter that never waits less than the `retryAfterSeconds` DRS asked for; the sleep is
injectable (the local cloud moves its simulated clock instead of sleeping). StartRecovery is never retried
here: the wave launch state machine owns its retries (a Wait state, so no Lambda is billed for waiting).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.pagination import paginate
from orchestrator.domain.staging import (
    STAGING_ACCOUNTS_PER_CALL,
    ExtendedSourceServer,
    StagingSourceServer,
    parse_source_server_arn,
)
from orchestrator.domain.untrusted import inert

TAG_LAUNCH_KEY = "drs-orch:launch-key"
TAG_EXECUTION = "drs-orch:execution-id"
TAG_WAVE = "drs-orch:wave-id"
TAG_ATTEMPT = "drs-orch:attempt"
DESCRIBE_JOBS_BATCH = 100
DESCRIBE_SERVERS_BATCH = 200  # DescribeSourceServersRequestFilters.sourceServerIDs max
# DescribeRecoveryInstancesRequestFilters.recoveryInstanceIDs max (botocore's drs model: RecoveryInstanceIDs, max 200)
RAW_ERROR_CHARS = 1000  # characters of a server's rawError kept as its reason: 100 servers x 1 KB per DRSJobCompleted
RECOVERY_INSTANCES_BATCH = 200
MAX_FAILBACK_INSTANCES = 200  # StartFailbackRequestRecoveryInstanceIDs max in the drs model
# DescribeJobLogItems events that say why a server of a job did not launch (botocore's JobLogEvent enum)
FAILURE_LOG_EVENTS = frozenset(
    {
        "SERVER_SKIPPED",
        "SNAPSHOT_FAIL",
        "USING_PREVIOUS_SNAPSHOT_FAILED",
        "CONVERSION_FAIL",
        "LAUNCH_FAILED",
        "CLEANUP_FAIL",
        "DEPLOY_NETWORK_CONFIGURATION_FAILED",
        "UPDATE_NETWORK_CONFIGURATION_FAILED",
        "UPDATE_LAUNCH_TEMPLATE_FAILED",
        "NETWORK_RECOVERY_FAIL",
    }
)
READ_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def backoff_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential backoff with full jitter
    (uniform between 0 and min(cap, base * 2^attempt)), but never less than DRS's `retryAfterSeconds`."""
    ceiling = min(cap, base * (2 ** max(attempt, 1)))
    jittered = (rng or random).uniform(0, ceiling)
    return max(jittered, retry_after or 0.0)


def parse_duration(text: str | None) -> float | None:
    """An ISO 8601 duration as DRS writes `lagDuration` (`PT900S`, `P1DT2H3M4.5S`) in seconds; None when
    absent or unreadable."""
    if not text:
        return None
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in {"P", "PT"}:
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


class DrsError(RuntimeError):
    """A DRS call failed; `code` is the service's error code."""

    retryable = False

    def __init__(
        self,
        message: str,
        code: str = "",
        retry_after: float | None = None,
        *,
        resource_id: str | None = None,
        resource_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        # ConflictException's resourceId and resourceType (botocore's DRS model): the server or instance in the way
        self.resource_id = resource_id
        self.resource_type = resource_type


class DrsThrottled(DrsError):
    retryable = True


class DrsUnavailable(DrsError):
    retryable = True


class DrsQuotaExceeded(DrsError):
    pass


class DrsConflict(DrsError):
    pass


class DrsPermanentError(DrsError):
    pass


_BY_CODE: dict[str, type[DrsError]] = {
    "ThrottlingException": DrsThrottled,
    "InternalServerException": DrsUnavailable,
    "ServiceUnavailable": DrsUnavailable,
    "ServiceQuotaExceededException": DrsQuotaExceeded,
    "ConflictException": DrsConflict,
}


def _filter_batches(name: str, values: list[str] | None) -> list[dict[str, list[str]]]:
    """DescribeRecoveryInstances filters on `name`, RECOVERY_INSTANCES_BATCH values each ([{}]: no filter)."""
    if not values:
        return [{}]
    return [
        {name: values[start : start + RECOVERY_INSTANCES_BATCH]}
        for start in range(0, len(values), RECOVERY_INSTANCES_BATCH)
    ]


def _translate(exc: ClientError) -> DrsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", exc))
    retry_after = exc.response.get("retryAfterSeconds") or exc.response.get("ResponseMetadata", {}).get(
        "HTTPHeaders", {}
    ).get("retry-after")
    cls = _BY_CODE.get(code, DrsPermanentError)
    resource_id, resource_type = exc.response.get("resourceId"), exc.response.get("resourceType")
    return cls(
        f"{code}: {message}",
        code=code,
        retry_after=float(retry_after) if retry_after else None,
        resource_id=str(resource_id) if resource_id else None,
        resource_type=str(resource_type) if resource_type else None,
    )


class Drs:
    def __init__(
        self, client: Any, *, sleep: Callable[[float], None] = time.sleep, read_attempts: int = READ_ATTEMPTS
    ) -> None:
        self._client = client
        self.sleep = sleep
        self.read_attempts = read_attempts
        self.retries = 0  # transient read failures retried (for tests and metrics)

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc
        return result

    def _read(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A read, retried on throttling and transient errors (backoff, full jitter, Retry-After)."""
        attempt = 0
        while True:
            try:
                return self._call(operation, **kwargs)
            except DrsError as exc:
                attempt += 1
                if not exc.retryable or attempt >= self.read_attempts:
                    raise
                self.retries += 1
                self.sleep(backoff_delay(attempt, exc.retry_after))

    def start_recovery(self, servers: list[dict[str, str]], *, is_drill: bool, tags: dict[str, str]) -> dict[str, Any]:
        response = self._call("start_recovery", sourceServers=servers, isDrill=is_drill, tags=tags)
        job: dict[str, Any] = response["job"]
        return job

    def start_failback_launch(self, recovery_instance_ids: list[str], *, tags: dict[str, str]) -> dict[str, Any]:
        """StartFailbackLaunch of 1 to MAX_FAILBACK_INSTANCES (200, the drs model's
        StartFailbackRequestRecoveryInstanceIDs) recovery instances, each FAILBACK_READY_FOR_LAUNCH: the LAUNCH job
        (initiatedBy FAILBACK) that launches them back on their origin. Not retried here (it starts a job): DrsError
        as DRS refused it (ValidationException for an instance not ready or unknown, ConflictException for one
        already failing back, ...)."""
        if not 1 <= len(recovery_instance_ids) <= MAX_FAILBACK_INSTANCES:
            raise ValueError(f"StartFailbackLaunch takes 1 to {MAX_FAILBACK_INSTANCES} recovery instances")
        response = self._call("start_failback_launch", recoveryInstanceIDs=recovery_instance_ids, tags=tags)
        job: dict[str, Any] = response["job"]
        return job

    def reverse_replication(self, recovery_instance_id: str) -> str:
        """ReverseReplication of a recovery instance of an EC2 origin: the ARN of the source server DRS created (or
        re-protects) replicating in the other direction. Not retried here: DrsError (ConflictException when it is
        reversed already, ValidationException for a non-EC2 origin, UninitializedAccountException when DRS is not
        initialized in the other Region, ...)."""
        response = self._call("reverse_replication", recoveryInstanceID=recovery_instance_id)
        return str(response["reversedDirectionSourceServerArn"])

    def start_replication(self, source_server_id: str) -> dict[str, Any]:
        """StartReplication of a source server whose replication stopped: the source server as DRS answers it."""
        response = self._call("start_replication", sourceServerID=source_server_id)
        server: dict[str, Any] = response.get("sourceServer") or {}
        return server

    def describe_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for start in range(0, len(job_ids), DESCRIBE_JOBS_BATCH):
            jobs.extend(
                self._paginate(
                    "describe_jobs", "items", filters={"jobIDs": job_ids[start : start + DESCRIBE_JOBS_BATCH]}
                )
            )
        return jobs

    def find_job_by_tag(self, key: str, value: str, since: datetime) -> dict[str, Any] | None:
        """The LAUNCH job created since `since` whose tag `key` equals `value` (crash recovery)."""
        for job in self._paginate("describe_jobs", "items", filters={"fromDate": since.strftime("%Y-%m-%dT%H:%M:%SZ")}):
            if job.get("type", "LAUNCH") == "LAUNCH" and job.get("tags", {}).get(key) == value:
                return job
        return None

    def job_failure_reasons(self, job_id: str) -> dict[str, str]:
        """Why each server of job `job_id` did not launch, from the job's log (DescribeJobLogItems, every
        page): `{source server id: "EVENT: rawError"}`, the last failure event of each server, its rawError
        cut to RAW_ERROR_CHARS (a DRSJobCompleted names up to 100 servers and must stay under EventBridge's
        256 KB entry limit). Servers the log says nothing about are absent. The text is DRS's report of what
        happened on (or to) the source server and its recovery instance, so it is made inert here, where it is
        captured, before any event, ledger item or report carries it (orchestrator/domain/untrusted.py)."""
        reasons: dict[str, str] = {}
        for item in self._paginate("describe_job_log_items", "items", jobID=job_id):
            event = str(item.get("event", ""))
            data = item.get("eventData") or {}
            server_id = data.get("sourceServerID")
            if event in FAILURE_LOG_EVENTS and server_id:
                raw = " ".join(str(data.get("rawError") or "").split())
                if len(raw) > RAW_ERROR_CHARS:
                    raw = raw[: RAW_ERROR_CHARS - 1] + "…"
                reasons[str(server_id)] = inert(f"{event}: {raw}" if raw else event)
        return reasons

    def find_terminate_job(self, recovery_instance_ids: list[str], since: datetime) -> dict[str, Any] | None:
        """The TERMINATE job created since `since` for exactly these recovery instances (crash recovery:
        TerminateRecoveryInstances takes no tags, so its job is known by its type and participating servers)."""
        wanted = set(recovery_instance_ids)
        for job in self._paginate("describe_jobs", "items", filters={"fromDate": since.strftime("%Y-%m-%dT%H:%M:%SZ")}):
            if job.get("type") != "TERMINATE":
                continue
            ids = {p.get("recoveryInstanceID") for p in job.get("participatingServers", [])}
            if ids == wanted:
                return job
        return None

    def describe_source_servers(self, source_server_ids: list[str]) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        for start in range(0, len(source_server_ids), DESCRIBE_SERVERS_BATCH):
            batch = source_server_ids[start : start + DESCRIBE_SERVERS_BATCH]
            servers.extend(self._paginate("describe_source_servers", "items", filters={"sourceServerIDs": batch}))
        return servers

    def list_source_servers(self) -> list[dict[str, Any]]:
        """Every source server of the account and Region (DescribeSourceServers without a filter, every page),
        each as DRS describes it: `sourceServerID`, `tags`, `replicationDirection`, ..."""
        return list(self._paginate("describe_source_servers", "items", filters={}))

    def extended_source_servers(self, staging_account_ids: list[str]) -> list[ExtendedSourceServer]:
        """The source servers of this account extended from these staging accounts (DescribeSourceServers with the
        `stagingAccountIDs` filter, at most 200 accounts per call, every page), EXTENDED or EXTENSION_ERROR. An
        empty list reads nothing (an empty filter would mean every source server)."""
        found: list[ExtendedSourceServer] = []
        for start in range(0, len(staging_account_ids), STAGING_ACCOUNTS_PER_CALL):
            batch = staging_account_ids[start : start + STAGING_ACCOUNTS_PER_CALL]
            for item in self._paginate("describe_source_servers", "items", filters={"stagingAccountIDs": batch}):
                record = ExtendedSourceServer.from_item(item)
                if record is not None and record.staging_account_id in batch:
                    found.append(record)
        return found

    def extensible_source_servers(self, staging_account_id: str) -> list[StagingSourceServer]:
        """The staging account's source servers that can be extended into this account (ListExtensibleSourceServers,
        every page): not extended here yet, and not themselves extensions."""
        return [
            StagingSourceServer.from_item(item)
            for item in self._paginate("list_extensible_source_servers", "items", stagingAccountID=staging_account_id)
        ]

    def create_extended_source_server(self, source_server_arn: str, tags: dict[str, str]) -> ExtendedSourceServer:
        """CreateExtendedSourceServer: the extended source server DRS created for the staging server
        `source_server_arn`. Not retried (a create): DrsError as DRS refused it (ValidationException,
        ResourceNotFoundException, ServiceQuotaExceededException, AccessDeniedException, ...)."""
        response = self._call("create_extended_source_server", sourceServerArn=source_server_arn, tags=tags)
        item = response.get("sourceServer") or {}
        record = ExtendedSourceServer.from_item(item)
        if record is None:  # DRS answered a server without its staging area: keep what it said
            parsed = parse_source_server_arn(source_server_arn)
            record = ExtendedSourceServer(
                source_server_id=str(item.get("sourceServerID", "")),
                staging_account_id=parsed[0] if parsed else "",
                staging_source_server_arn=source_server_arn,
                status=str((item.get("stagingArea") or {}).get("status") or "UNKNOWN"),
            )
        return record

    def recovery_snapshot_ids(self, source_server_id: str) -> set[str]:
        """Ids of the server's recovery snapshots (DescribeRecoverySnapshots)."""
        return {
            snap["snapshotID"]
            for snap in self._paginate("describe_recovery_snapshots", "items", sourceServerID=source_server_id)
        }

    def describe_recovery_instances(
        self, *, source_server_ids: list[str] | None = None, recovery_instance_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The recovery instances of these source servers and/or with these ids (a filter that is None or empty
        is not applied), every page, in the order of the ids' batches.

        The ids go RECOVERY_INSTANCES_BATCH (200) per call, however many the caller passes:
        `DescribeRecoveryInstancesRequestFilters.recoveryInstanceIDs` takes at most 200 (RecoveryInstanceIDs,
        `max: 200` in botocore's drs model; botocore does not check a list's max, DRS refuses the call). The
        model states no maximum for `sourceServerIDs`; they go 200 per call too."""
        items: list[dict[str, Any]] = []
        for by_id in _filter_batches("recoveryInstanceIDs", recovery_instance_ids):
            for by_server in _filter_batches("sourceServerIDs", source_server_ids):
                items.extend(self._paginate("describe_recovery_instances", "items", filters={**by_server, **by_id}))
        return items

    def terminate_recovery_instances(self, recovery_instance_ids: list[str]) -> dict[str, Any]:
        response = self._call("terminate_recovery_instances", recoveryInstanceIDs=recovery_instance_ids)
        job: dict[str, Any] = response["job"]
        return job

    def get_launch_configuration(self, source_server_id: str) -> dict[str, Any]:
        """GetLaunchConfiguration of one source server (its `ec2LaunchTemplateID`, `copyPrivateIp`, ...)."""
        response = self._read("get_launch_configuration", sourceServerID=source_server_id)
        response.pop("ResponseMetadata", None)
        return response

    def update_launch_configuration(self, source_server_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """UpdateLaunchConfiguration of one source server with `changes` (its arguments but `sourceServerID`;
        `{}` changes nothing and calls nothing). Retried like a read: setting the same values twice is harmless."""
        if not changes:
            return {}
        response = self._read("update_launch_configuration", sourceServerID=source_server_id, **changes)
        response.pop("ResponseMetadata", None)
        return response

    def _paginate(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return paginate(self._read, operation, key, marker_member="nextToken", **kwargs)
