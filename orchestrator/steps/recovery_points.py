"""The recovery point of each launched server: the point-in-time snapshot its recovery instance was launched from.

DRS says it in DescribeRecoveryInstances (`pointInTimeSnapshotDateTime`, an ISO8601DatetimeString in botocore's
drs model). It is read once per DRS job, when the job's end is recorded (`launch_checks.check_job_end`), and kept
with the server's launch result in the ledger (`recoveryPointAt`; with the instance's private IP, `privateIp`): the
report reads the ledger, never DRS, and a recovery instance terminated since (a drill's time to live) still has its
recovery point on record.

Best effort: a recovery point is evidence for the report's RPO, not a condition of the recovery. When DRS cannot
say (throttled past the adapter's retries, or an instance it does not list), the server is recorded without one
and the report says NOT_MEASURED for its RPO, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.adapters.drs import DrsError
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.observability import logger
from orchestrator.runtime import Runtime


@dataclass(frozen=True, slots=True)
class RecoveryInstanceFacts:
    """What the report keeps of a recovery instance: the snapshot it was launched from (ISO) and its private IP
    (the primary network interface's first address), each None when DRS does not say."""

    recovery_point_at: str | None = None
    private_ip: str | None = None


NO_FACTS = RecoveryInstanceFacts()


def recovery_instance_facts(rt: Runtime, recovery_instance_ids: Iterable[str]) -> dict[str, RecoveryInstanceFacts]:
    """`{recovery instance id: its facts}` for those DRS lists (DescribeRecoveryInstances, 200 ids per call); {}
    when there are none or DRS cannot be read now."""
    wanted = sorted(set(recovery_instance_ids))
    if not wanted:
        return {}
    try:
        found = rt.drs.describe_recovery_instances(recovery_instance_ids=wanted)
    except DrsError as exc:
        logger.warning("recovery points not read: the report will not measure these servers' RPO", error=exc.code)
        return {}
    facts: dict[str, RecoveryInstanceFacts] = {}
    for item in found:
        instance = item.get("recoveryInstanceID")
        if not isinstance(instance, str) or instance not in wanted:
            continue
        facts[instance] = RecoveryInstanceFacts(_snapshot_time(instance, item), _private_ip(item))
    return facts


def _snapshot_time(instance: str, item: Mapping[str, Any]) -> str | None:
    moment = item.get("pointInTimeSnapshotDateTime")
    if not isinstance(moment, str):
        return None
    try:
        return iso(parse_iso(moment))
    except ValueError:
        logger.warning("unreadable pointInTimeSnapshotDateTime ignored", recovery_instance_id=instance)
        return None


def _private_ip(item: Mapping[str, Any]) -> str | None:
    """The primary network interface's first IP (else the first interface's), as DRS describes the instance
    (`recoveryInstanceProperties.networkInterfaces[].ips`); None when it lists none."""
    properties = item.get("recoveryInstanceProperties")
    interfaces = properties.get("networkInterfaces") if isinstance(properties, Mapping) else None
    if not isinstance(interfaces, list):
        return None
    ordered = sorted((i for i in interfaces if isinstance(i, Mapping)), key=lambda i: not i.get("isPrimary", False))
    for interface in ordered:
        ips = interface.get("ips")
        if isinstance(ips, list) and ips and isinstance(ips[0], str):
            return ips[0]
    return None
