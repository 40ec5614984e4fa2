"""The DRS adapter: boto3 `drs` calls turned into domain results and domain exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

TAG_LAUNCH_KEY = "drs-orch:launch-key"
TAG_EXECUTION = "drs-orch:execution-id"
TAG_WAVE = "drs-orch:wave-id"
TAG_ATTEMPT = "drs-orch:attempt"
DESCRIBE_JOBS_BATCH = 100


class DrsError(RuntimeError):
    """A DRS call failed; `code` is the service's error code."""

    retryable = False

    def __init__(self, message: str, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


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


def _translate(exc: ClientError) -> DrsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", exc))
    retry_after = exc.response.get("retryAfterSeconds") or exc.response.get("ResponseMetadata", {}).get(
        "HTTPHeaders", {}).get("retry-after")
    cls = _BY_CODE.get(code, DrsPermanentError)
    return cls(f"{code}: {message}", code=code, retry_after=float(retry_after) if retry_after else None)


class Drs:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc
        return result

    def start_recovery(self, servers: list[dict[str, str]], *, is_drill: bool, tags: dict[str, str]) -> dict[str, Any]:
        response = self._call("start_recovery", sourceServers=servers, isDrill=is_drill, tags=tags)
        job: dict[str, Any] = response["job"]
        return job

    def describe_jobs(self, job_ids: list[str]) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for start in range(0, len(job_ids), DESCRIBE_JOBS_BATCH):
            jobs.extend(self._paginate("describe_jobs", "items",
                                       filters={"jobIDs": job_ids[start : start + DESCRIBE_JOBS_BATCH]}))
        return jobs

    def find_job_by_tag(self, key: str, value: str, since: datetime) -> dict[str, Any] | None:
        """The LAUNCH job created since `since` whose tag `key` equals `value` (crash recovery)."""
        for job in self._paginate("describe_jobs", "items",
                                  filters={"fromDate": since.strftime("%Y-%m-%dT%H:%M:%SZ")}):
            if job.get("type", "LAUNCH") == "LAUNCH" and job.get("tags", {}).get(key) == value:
                return job
        return None

    def describe_source_servers(self, source_server_ids: list[str]) -> list[dict[str, Any]]:
        return list(self._paginate("describe_source_servers", "items",
                                   filters={"sourceServerIDs": source_server_ids}))

    def describe_recovery_instances(self, *, source_server_ids: list[str] | None = None,
                                    recovery_instance_ids: list[str] | None = None) -> list[dict[str, Any]]:
        filters: dict[str, list[str]] = {}
        if source_server_ids:
            filters["sourceServerIDs"] = source_server_ids
        if recovery_instance_ids:
            filters["recoveryInstanceIDs"] = recovery_instance_ids
        return list(self._paginate("describe_recovery_instances", "items", filters=filters))

    def terminate_recovery_instances(self, recovery_instance_ids: list[str]) -> dict[str, Any]:
        response = self._call("terminate_recovery_instances", recoveryInstanceIDs=recovery_instance_ids)
        job: dict[str, Any] = response["job"]
        return job

    def _paginate(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(operation, **kwargs, **({"nextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return
