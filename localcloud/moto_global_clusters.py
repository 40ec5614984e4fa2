"""Aurora global database failover and switchover for moto's RDS (FailoverGlobalCluster, SwitchoverGlobalCluster).

moto (5.2) creates global clusters and their member clusters (DescribeGlobalClusters lists each member's IsWriter)
but does not implement either call, so the ready runbook infra/ssm_documents/DRSOrch-AuroraGlobalFailover.yaml
could not change anything in the local cloud. This module adds both, as a small model of what the RDS API
reference and botocore's rds model say, and no more:

- `GlobalClusterIdentifier` names a global cluster (case-insensitive, as moto stores them); an unknown one answers
  GlobalClusterNotFoundFault.
- `TargetDbClusterIdentifier` is the secondary cluster to promote, by ARN (what the API reference asks for, so
  Aurora finds it in its Region) or by identifier; a cluster that is not a member answers DBClusterNotFoundFault,
  the member that already is the writer InvalidGlobalClusterStateFault (our choice: nothing to promote).
- FailoverGlobalCluster takes `AllowDataLoss` (a failover: the writer moves even if members are not available) or
  `Switchover` (never both: InvalidParameterCombination); with neither it is a switchover, as the API reference
  says. A switchover needs every member `available` (else InvalidDBClusterStateFault).
- The target becomes the writer and the former writer a secondary at once, in the same call: the local cloud
  spends no time failing over, so the global cluster never shows a `FailoverState` and every member stays
  `available`. A runbook's wait for the target to be the available writer sees it on its first look.

`install()` adds the two response methods to moto's RDSResponse (idempotent; `uninstall()` removes them). The
local cloud installs it when it starts.
"""

from __future__ import annotations

from typing import Any

_INSTALLED: list[str] = []


def _global_cluster(response: Any, identifier: str) -> Any:
    from moto.rds.exceptions import RDSClientError

    found = response.global_backend.global_clusters.get(identifier)
    if found is None:
        raise RDSClientError("GlobalClusterNotFoundFault", f"Global cluster {identifier} not found")
    return found


def _member(global_cluster: Any, target: str) -> Any:
    from moto.rds.exceptions import DBClusterNotFoundError

    for cluster in global_cluster.members:
        if target in (cluster.db_cluster_arn, cluster.db_cluster_identifier):
            return cluster
    raise DBClusterNotFoundError(
        target, f"{target} is not a member of global cluster {global_cluster.global_cluster_identifier}"
    )


def promote(response: Any, *, switchover: bool) -> Any:
    """Make `TargetDbClusterIdentifier` the writer of `GlobalClusterIdentifier` (see the module docstring).
    Raises moto's RDSClientError with the codes RDS answers."""
    from moto.core.responses import ActionResult
    from moto.rds.exceptions import InvalidDBClusterStateFault, RDSClientError

    params = response.params
    global_cluster = _global_cluster(response, str(params.get("GlobalClusterIdentifier") or ""))
    target = _member(global_cluster, str(params.get("TargetDbClusterIdentifier") or ""))
    if target.is_writer:
        raise RDSClientError(
            "InvalidGlobalClusterStateFault",
            f"{target.db_cluster_identifier} already is the primary of {global_cluster.global_cluster_identifier}",
        )
    if switchover:
        busy = [c.db_cluster_identifier for c in global_cluster.members if c.status != "available"]
        if busy:
            raise InvalidDBClusterStateFault(f"a switchover needs every member available: {', '.join(busy)} are not")
    for cluster in global_cluster.members:
        cluster.is_writer = cluster is target
    return ActionResult({"GlobalCluster": global_cluster})


def failover_global_cluster(self: Any) -> Any:
    """FailoverGlobalCluster (moto's RDSResponse method)."""
    from moto.rds.exceptions import InvalidParameterCombination

    allow_data_loss, switchover = self.params.get("AllowDataLoss"), self.params.get("Switchover")
    if allow_data_loss is not None and switchover is not None:
        raise InvalidParameterCombination("AllowDataLoss and Switchover cannot be specified together")
    return promote(self, switchover=str(allow_data_loss).lower() != "true")


def switchover_global_cluster(self: Any) -> Any:
    """SwitchoverGlobalCluster (moto's RDSResponse method)."""
    return promote(self, switchover=True)


def install() -> None:
    from moto.rds.responses import RDSResponse

    if not _INSTALLED:
        RDSResponse.failover_global_cluster = failover_global_cluster  # type: ignore[attr-defined]
        RDSResponse.switchover_global_cluster = switchover_global_cluster  # type: ignore[attr-defined]
        _INSTALLED.append("rds")


def uninstall() -> None:
    from moto.rds.responses import RDSResponse

    if _INSTALLED:
        del RDSResponse.failover_global_cluster  # type: ignore[attr-defined]
        del RDSResponse.switchover_global_cluster  # type: ignore[attr-defined]
        _INSTALLED.clear()
