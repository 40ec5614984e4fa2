"""The recovery point of each launched server: the point-in-time snapshot its recovery instance was launched from.

DRS says it in DescribeRecoveryInstances (`pointInTimeSnapshotDateTime`, an ISO8601DatetimeString in botocore's
drs model). It is read once per DRS job, when the job's end is recorded (`launch_checks.check_job_end`), and kept
with the server's launch result in the ledger (`recoveryPointAt`): the report reads the ledger, never DRS, and a
recovery instance terminated since (a drill's time to live) still has its recovery point on record.

Best effort: a recovery point is evidence for the report's RPO, not a condition of the recovery. When DRS cannot
say (throttled past the adapter's retries, or an instance it does not list), the server is recorded without one
and the report says NOT_MEASURED for its RPO, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.adapters.drs import DrsError
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.observability import logger
from orchestrator.runtime import Runtime


def recovery_points(rt: Runtime, recovery_instance_ids: Iterable[str]) -> dict[str, str]:
    """`{recovery instance id: ISO time of the snapshot it was launched from}` for those DRS knows with one
    (DescribeRecoveryInstances, 200 ids per call); {} when there are none or DRS cannot be read now."""
    wanted = sorted(set(recovery_instance_ids))
    if not wanted:
        return {}
    try:
        found = rt.drs.describe_recovery_instances(recovery_instance_ids=wanted)
    except DrsError as exc:
        logger.warning("recovery points not read: the report will not measure these servers' RPO", error=exc.code)
        return {}
    points: dict[str, str] = {}
    for item in found:
        instance, moment = item.get("recoveryInstanceID"), item.get("pointInTimeSnapshotDateTime")
        if not isinstance(instance, str) or instance not in wanted or not isinstance(moment, str):
            continue
        try:
            points[instance] = iso(parse_iso(moment))
        except ValueError:
            logger.warning("unreadable pointInTimeSnapshotDateTime ignored", recovery_instance_id=instance)
    return points
