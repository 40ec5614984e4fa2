"""The EC2 launch-template adapter: the versions of the launch templates DRS keeps for its source servers, and
where a recovery instance actually landed (boto3 `ec2`; every error an `Ec2Error`, a DrsError subclass, so the
launcher treats it as it treats DRS's: retried when EC2 throttles or fails transiently, else the chunk fails).

Calls (each in botocore's ec2 model): DescribeLaunchTemplateVersions (`$Default`, or the versions after one,
paginated), CreateLaunchTemplateVersion (SourceVersion, VersionDescription, ClientToken), ModifyLaunchTemplate
(DefaultVersion), DescribeInstances (an instance-id filter, INSTANCE_BATCH ids per call, paginated). Reads and
the idempotent ModifyLaunchTemplate are retried here (backoff, full jitter); CreateLaunchTemplateVersion is not (a retry
could make a second version; its caller looks for the first by its description).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.drs import DrsError, backoff_delay
from orchestrator.adapters.pagination import paginate

# instance ids per DescribeInstances call, as an `instance-id` filter (an id EC2 no longer knows is left out, where
# InstanceIds would fail the whole call with InvalidInstanceID.NotFound); 200 values per filter
INSTANCE_BATCH = 200
VERSIONS_PAGE = 200  # DescribeLaunchTemplateVersions MaxResults: 1 to 200
READ_ATTEMPTS = 6
_TRANSIENT = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError", "ServiceUnavailable", "Unavailable"}
)


class Ec2Error(DrsError):
    """An EC2 call failed; `code` is EC2's error code."""


class Ec2Throttled(Ec2Error):
    retryable = True


def _translate(exc: ClientError) -> Ec2Error:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    cls = Ec2Throttled if code in _TRANSIENT else Ec2Error
    return cls(f"{code}: {error.get('Message', exc)}", code=code)


class Ec2Templates:
    def __init__(
        self, client: Any, *, sleep: Callable[[float], None] = time.sleep, read_attempts: int = READ_ATTEMPTS
    ) -> None:
        self._client = client
        self.sleep = sleep
        self.read_attempts = read_attempts

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc
        return result

    def _read(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return self._call(operation, **kwargs)
            except Ec2Error as exc:
                attempt += 1
                if not exc.retryable or attempt >= self.read_attempts:
                    raise
                self.sleep(backoff_delay(attempt))

    def _paginate(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return paginate(self._read, operation, key, marker_member="NextToken", **kwargs)

    def default_version(self, template_id: str) -> dict[str, Any]:
        versions = self._read(
            "describe_launch_template_versions", LaunchTemplateId=template_id, Versions=["$Default"]
        ).get("LaunchTemplateVersions", [])
        if not versions:
            raise Ec2Error(f"launch template {template_id} has no default version", code="NoDefaultVersion")
        return dict(versions[0])

    def find_version(self, template_id: str, description: str, *, after: int) -> int | None:
        for version in self._paginate(
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            LaunchTemplateId=template_id,
            MinVersion=str(after + 1),
            MaxResults=VERSIONS_PAGE,
        ):
            if version.get("VersionDescription") == description:
                return int(version["VersionNumber"])
        return None

    def create_version(
        self, template_id: str, *, source_version: int, data: dict[str, Any], description: str, client_token: str
    ) -> int:
        response = self._call(
            "create_launch_template_version",
            LaunchTemplateId=template_id,
            SourceVersion=str(source_version),
            VersionDescription=description,
            LaunchTemplateData=data,
            ClientToken=client_token,
        )
        return int(response["LaunchTemplateVersion"]["VersionNumber"])

    def set_default(self, template_id: str, version: int) -> None:
        self._read("modify_launch_template", LaunchTemplateId=template_id, DefaultVersion=str(version))

    def placements(self, instance_ids: list[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for start in range(0, len(instance_ids), INSTANCE_BATCH):
            batch = instance_ids[start : start + INSTANCE_BATCH]
            pages = self._paginate(
                "describe_instances", "Reservations", Filters=[{"Name": "instance-id", "Values": batch}]
            )
            for reservation in pages:
                for instance in reservation.get("Instances", []):
                    if instance.get("SubnetId") and instance.get("PrivateIpAddress"):
                        found[str(instance["InstanceId"])] = (
                            str(instance["SubnetId"]),
                            str(instance["PrivateIpAddress"]),
                        )
        return found
