"""Failback as a plan run (issue #15 item 4): what a failback execution does, decided from a completed RECOVERY
execution, its frozen plan and what DRS says of its recovery instances. Pure: no AWS call, no ledger.

A failback execution runs the recovery's plan again, in the same dependency order and through the same gates, with
the scripts the plan gives for failback (`orchestrator.domain.plan.for_failback`), over the servers the recovery
launched. Each wave takes one of DRS's two failback paths, by where its servers came from (DescribeRecoveryInstances'
`originEnvironment`):

- FAILBACK_LAUNCH (on premises, or any origin that is not EC2): the failback client replicates each recovery
  instance back to its origin machine; once every one of the wave's instances is FAILBACK_READY_FOR_LAUNCH the wave
  calls StartFailbackLaunch (at most 200 per call, DRS's StartFailbackRequestRecoveryInstanceIDs) in the recovery
  account and Region, and tracks the job as a launch. The wave's servers keep their ids: DRS's failback job names
  the original source servers among its participating servers.
- REVERSE_REPLICATION (EC2 instances of another Region): ReverseReplication of each recovery instance creates a
  source server in the origin Region replicating back (`reversedDirectionSourceServerArn`, whose ARN names that
  Region and account); once it replicates continuously the wave recovers it there with StartRecovery, like any
  launch. The wave's servers are those reversed source servers, its target the origin Region.

The design is kept on the failback execution (`FailbackDesign.record`, the execution item's `failback`): which
recovery it fails back, each wave's path, each server's recovery instance and, for a reversed server, the source
server it stands for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from orchestrator.domain.plan import Plan, Server, Wave
from orchestrator.domain.plan.target import Target

#: A DRS source server ARN (the drs model's SourceServerARN pattern), with its Region, account and id.
SOURCE_SERVER_ARN = re.compile(r"^arn:aws[a-z-]*:drs:([a-z0-9-]+):([0-9]{12}):source-server/(s-[0-9a-zA-Z]{17})$")
READY_FOR_LAUNCH = "FAILBACK_READY_FOR_LAUNCH"
#: Failback states in which an instance is already being (or has been) launched back: a second failback refused.
FAILING_BACK = frozenset({"FAILBACK_COMPLETED"})
EC2_ORIGIN = "AWS"
#: DRS replication states that are still on their way to CONTINUOUS (a reversed server's initial sync): a wave
#: waits on them; any other state than CONTINUOUS fails it (STALLED, DISCONNECTED, STOPPED, PAUSED, ...).
REPLICATING_TOWARD_CONTINUOUS = frozenset({"INITIATING", "INITIAL_SYNC", "BACKLOG", "CREATING_SNAPSHOT", "RESCAN"})


class FailbackPath(StrEnum):
    FAILBACK_LAUNCH = "FAILBACK_LAUNCH"
    REVERSE_REPLICATION = "REVERSE_REPLICATION"


@dataclass(frozen=True)
class RecoveredServer:
    """A server the recovery launched: its wave, id, criticality (as the plan gave it) and recovery instance."""

    wave_id: str
    source_server_id: str
    recovery_instance_id: str


@dataclass(frozen=True)
class RecoveryInstanceView:
    """What failback needs of one recovery instance (DescribeRecoveryInstances)."""

    recovery_instance_id: str
    source_server_id: str
    origin_environment: str  # "AWS" or "ON_PREMISES"
    failback_state: str | None  # None: no failback block (no failback client has connected)
    failback_job_id: str | None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> RecoveryInstanceView:
        failback = item.get("failback") or {}
        return cls(
            recovery_instance_id=str(item.get("recoveryInstanceID", "")),
            source_server_id=str(item.get("sourceServerID", "")),
            origin_environment=str(item.get("originEnvironment") or "ON_PREMISES"),
            failback_state=str(failback["state"]) if failback.get("state") else None,
            failback_job_id=str(failback["failbackJobID"]) if failback.get("failbackJobID") else None,
        )

    @property
    def path(self) -> FailbackPath:
        return (
            FailbackPath.REVERSE_REPLICATION if self.origin_environment == EC2_ORIGIN else FailbackPath.FAILBACK_LAUNCH
        )

    @property
    def state_label(self) -> str:
        return self.failback_state or "no failback client connected (FAILBACK_NOT_STARTED)"


@dataclass(frozen=True)
class ReversedServer:
    """The source server ReverseReplication made for a recovery instance: its Region, account and id."""

    region: str
    account_id: str
    source_server_id: str

    @classmethod
    def from_arn(cls, arn: str) -> ReversedServer:
        match = SOURCE_SERVER_ARN.match(arn)
        if match is None:
            raise ValueError(f"not a DRS source server ARN: {arn[:200]!r}")
        return cls(region=match.group(1), account_id=match.group(2), source_server_id=match.group(3))


@dataclass(frozen=True)
class FailbackDesign:
    """What a failback execution fails back and how (kept on its execution item as `failback`)."""

    of: str  # the RECOVERY execution
    paths: Mapping[str, FailbackPath]  # per wave
    instances: Mapping[str, str]  # the failback plan's server id -> the recovery instance it fails back
    originals: Mapping[str, str] = field(default_factory=dict)  # a reversed server id -> the server it stands for
    reprotect: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "of": self.of,
            "waves": {wave: str(path) for wave, path in self.paths.items()},
            "instances": dict(self.instances),
            "originals": dict(self.originals),
            "reprotect": self.reprotect,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FailbackDesign:
        return cls(
            of=str(record["of"]),
            paths={str(k): FailbackPath(str(v)) for k, v in dict(record.get("waves") or {}).items()},
            instances={str(k): str(v) for k, v in dict(record.get("instances") or {}).items()},
            originals={str(k): str(v) for k, v in dict(record.get("originals") or {}).items()},
            reprotect=bool(record.get("reprotect")),
        )

    def path(self, wave_id: str) -> FailbackPath | None:
        return self.paths.get(wave_id)


def wave_paths(
    recovered: Sequence[RecoveredServer], views: Mapping[str, RecoveryInstanceView]
) -> tuple[dict[str, FailbackPath], list[str]]:
    """Each wave's failback path (from its servers' recovery instances' origin), and the problems: a wave whose
    servers came from both EC2 and elsewhere (two paths: fail them back in two plans)."""
    by_wave: dict[str, set[FailbackPath]] = {}
    for server in recovered:
        view = views.get(server.recovery_instance_id)
        if view is not None:
            by_wave.setdefault(server.wave_id, set()).add(view.path)
    paths: dict[str, FailbackPath] = {}
    problems: list[str] = []
    for wave_id, found in by_wave.items():
        if len(found) > 1:
            problems.append(
                f"wave '{wave_id}' holds servers of EC2 origins and of other origins: DRS fails them back by two "
                "different paths (ReverseReplication, StartFailbackLaunch); split the wave"
            )
        else:
            paths[wave_id] = next(iter(found))
    return paths, problems


def instance_problems(
    recovered: Sequence[RecoveredServer], views: Mapping[str, RecoveryInstanceView], *, drill: bool
) -> list[str]:
    """Why the recovery's instances cannot fail back (empty: they can): an instance DRS no longer knows (terminated),
    one already failing back or failed back, and for a drill any instance of a non-EC2 origin (StartFailbackLaunch
    has no drill: it launches on the origin machine itself)."""
    problems: list[str] = []
    for server in recovered:
        view = views.get(server.recovery_instance_id)
        where = (
            f"recovery instance {server.recovery_instance_id} of {server.source_server_id} (wave '{server.wave_id}')"
        )
        if view is None:
            problems.append(f"{where} is not known to DRS any more (terminated?): it cannot fail back")
        elif view.failback_state in FAILING_BACK or (
            view.path is FailbackPath.FAILBACK_LAUNCH and view.failback_job_id is not None
        ):
            problems.append(f"{where} is already failing back ({view.state_label}, job {view.failback_job_id})")
        elif drill and view.path is FailbackPath.FAILBACK_LAUNCH:
            problems.append(
                f"{where} came from {view.origin_environment}: DRS has no failback drill for it (StartFailbackLaunch "
                "launches on the origin machine itself); only EC2 origins can be drilled back"
            )
    return problems


def failback_plan(
    plan: Plan,
    recovered: Sequence[RecoveredServer],
    paths: Mapping[str, FailbackPath],
    reversed_servers: Mapping[str, ReversedServer],
) -> Plan:
    """The plan a failback execution freezes: `plan` (already for failback: its failback scripts in place) over the
    servers the recovery launched, without launch settings (the recovery side's network is not the origin's: a
    failback launches as DRS is set up for the reversed or original source servers) and without tag selectors
    (resolved already). A REVERSE_REPLICATION wave's servers are the reversed source servers (`reversed_servers`,
    by the recovery's source server id) and its target their Region and account (with the wave's role when that is
    the account; none in the orchestrator's own account). A wave that launched nothing in the recovery (skipped, or
    only OPTIONAL servers that failed) has nothing to fail back: it is left out, and the waves that depended on it
    depend on its own dependencies instead, so the order between the others holds."""
    by_wave: dict[str, list[RecoveredServer]] = {}
    for server in recovered:
        by_wave.setdefault(server.wave_id, []).append(server)
    empty = {wave.wave_id: list(wave.depends_on) for wave in plan.waves if not by_wave.get(wave.wave_id)}
    waves = [
        _failback_wave(wave, by_wave[wave.wave_id], paths.get(wave.wave_id), reversed_servers, empty)
        for wave in plan.waves
        if wave.wave_id not in empty
    ]
    defaults = plan.defaults.model_copy(update={"launch_settings": None})
    return plan.model_copy(update={"waves": waves, "defaults": defaults, "target": None})


def _through(depends_on: Sequence[str], empty: Mapping[str, list[str]]) -> list[str]:
    """`depends_on` with each left-out wave replaced by its own dependencies (transitively), in order, once each."""
    out: list[str] = []
    stack = list(reversed(depends_on))
    seen: set[str] = set()
    while stack:
        wave_id = stack.pop()
        if wave_id in seen:
            continue
        seen.add(wave_id)
        if wave_id in empty:
            stack.extend(reversed(empty[wave_id]))
        else:
            out.append(wave_id)
    return out


def _failback_wave(
    wave: Wave,
    servers: Sequence[RecoveredServer],
    path: FailbackPath | None,
    reversed_servers: Mapping[str, ReversedServer],
    empty: Mapping[str, list[str]],
) -> Wave:
    by_id = {s.source_server_id: s for s in wave.servers}
    items: list[Server] = []
    target = wave.target
    for server in servers:
        original = by_id.get(server.source_server_id)
        criticality = original.criticality if original is not None else None
        sid = server.source_server_id
        if path is FailbackPath.REVERSE_REPLICATION:
            reversed_ = reversed_servers[server.source_server_id]
            sid = reversed_.source_server_id
            target = origin_target(wave.target, reversed_.account_id, reversed_.region)
        items.append(
            Server.model_validate({"sourceServerID": sid, **({"criticality": criticality} if criticality else {})})
        )
    return wave.model_copy(
        update={
            "servers": items,
            "source_server_tags": None,
            "launch_settings": None,
            "target": target,
            "depends_on": _through(wave.depends_on, empty),
        }
    )


def origin_target(recovery_target: Target | None, account_id: str, region: str) -> Target:
    """Where a reversed server is recovered (`account_id`, `region`: its own): through the recovery target's role when
    it is in that role's account (a role is global to its account), else the orchestrator's own."""
    document: dict[str, Any] = {"accountId": account_id, "region": region}
    if recovery_target is not None and recovery_target.role_arn and recovery_target.account_id == account_id:
        document |= {"roleArn": recovery_target.role_arn, "externalId": recovery_target.external_id}
    return Target.model_validate(document)
