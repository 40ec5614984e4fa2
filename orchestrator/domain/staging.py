"""Servers replicated in staging accounts, recovered through extended source servers in this account.

A DRS account replicates at most 300 source servers (L-C1D14A2B, not adjustable), so large estates replicate in
*staging accounts* and recover in a *recovery account*: CreateExtendedSourceServer(sourceServerArn=<the staging
account's source server ARN>) creates, in the recovery account, a source server whose `stagingArea` is
`{status: EXTENDED, stagingAccountID, stagingSourceServerArn}` (or `EXTENSION_ERROR` with an `errorMessage` when
DRS cannot reach the staging server). A plan names such a server by `stagingAccountID` + `stagingSourceServerID`
(orchestrator/domain/plan/model.py `Server`); StartPlan reads the extended source servers of the plan's staging
accounts (DescribeSourceServers, filter `stagingAccountIDs`) and freezes each found one's id as the server's
`sourceServerID` (`resolve_staging`); a staging server without one keeps its staging id and fails (CRITICAL) or is
left out of (OPTIONAL) its wave's preflight (orchestrator/steps/preflight.py `staging_problem`).

Field names are botocore's drs model's (StagingArea, StagingSourceServer, SourceServerARN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.plan import Plan, Server
from orchestrator.domain.untrusted import inert

#: SourceServerARN in botocore's drs model: `arn:<partition>:drs:<region>:<account>:source-server/<id>`.
SOURCE_SERVER_ARN = re.compile(r"arn:(?:[0-9a-zA-Z_-]+:){3}([0-9]{12,}):source-server/(s-[0-9a-zA-Z]{17})")
#: DescribeSourceServersRequestFilters.stagingAccountIDs: AccountIDs, at most 200 per call (botocore's drs model).
STAGING_ACCOUNTS_PER_CALL = 200
#: Characters of DRS's `errorMessage` (LargeBoundedString: up to 65,536) kept in a reason: it goes into events.
MAX_ERROR_CHARS = 500
EXTENDED = "EXTENDED"
EXTENSION_ERROR = "EXTENSION_ERROR"


def parse_source_server_arn(arn: str) -> tuple[str, str] | None:
    """(account id, source server id) of a source server ARN, or None when it is not one."""
    found = SOURCE_SERVER_ARN.fullmatch(arn)
    return (found.group(1), found.group(2)) if found else None


def source_server_arn(partition: str, region: str, account_id: str, source_server_id: str) -> str:
    return f"arn:{partition}:drs:{region}:{account_id}:source-server/{source_server_id}"


@dataclass(frozen=True)
class ExtendedSourceServer:
    """A source server of this account extended from a staging account's (DescribeSourceServers' `stagingArea`).

    `status`: EXTENDED or EXTENSION_ERROR (then `error_message` says why); `staging_source_server_id` is parsed
    from `stagingSourceServerArn` ("" when DRS gave no ARN)."""

    source_server_id: str
    staging_account_id: str
    staging_source_server_arn: str
    status: str
    error_message: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def staging_source_server_id(self) -> str:
        parsed = parse_source_server_arn(self.staging_source_server_arn)
        return parsed[1] if parsed else ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.staging_account_id, self.staging_source_server_id)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ExtendedSourceServer | None:
        """The record of one DescribeSourceServers item, or None when it is not extended (NOT_EXTENDED or no
        stagingArea: a server replicating in this account)."""
        area = item.get("stagingArea") or {}
        status = str(area.get("status") or "")
        if status not in (EXTENDED, EXTENSION_ERROR):
            return None
        arn = str(area.get("stagingSourceServerArn") or "")
        parsed = parse_source_server_arn(arn)
        account = str(area.get("stagingAccountID") or (parsed[0] if parsed else ""))
        return cls(
            source_server_id=str(item.get("sourceServerID", "")),
            staging_account_id=account,
            staging_source_server_arn=arn,
            status=status,
            error_message=inert(str(area["errorMessage"])[:MAX_ERROR_CHARS]) if area.get("errorMessage") else None,
            tags={str(k): str(v) for k, v in (item.get("tags") or {}).items()},
        )


@dataclass(frozen=True)
class StagingSourceServer:
    """A staging account's source server that can be extended into this account (ListExtensibleSourceServers:
    not extended into it yet, and not itself an extension of another server)."""

    arn: str
    hostname: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        parsed = parse_source_server_arn(self.arn)
        return parsed if parsed else ("", "")

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StagingSourceServer:
        return cls(
            arn=str(item.get("arn", "")),
            hostname=str(item["hostname"]) if item.get("hostname") else None,
            tags={str(k): str(v) for k, v in (item.get("tags") or {}).items()},
        )


@dataclass(frozen=True)
class StagingServer:
    """A server of a plan replicated in a staging account: where the plan lists it, and what it names."""

    wave_id: str
    staging_account_id: str
    staging_source_server_id: str
    criticality: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.staging_account_id, self.staging_source_server_id)


def staging_servers(plan: Plan) -> list[StagingServer]:
    """Every server of `plan` replicated in a staging account, in plan order."""
    return [
        StagingServer(
            wave.wave_id,
            str(server.staging_account_id),
            str(server.staging_source_server_id),
            server.criticality.value,
        )
        for wave in plan.waves
        for server in wave.servers
        if server.is_staging
    ]


def staging_accounts(plan: Plan) -> list[str]:
    """The staging accounts `plan` names, sorted."""
    return sorted({server.staging_account_id for server in staging_servers(plan)})


def has_staging(plan: Plan) -> bool:
    return any(server.is_staging for wave in plan.waves for server in wave.servers)


def resolve_staging(plan: Plan, extended: Iterable[ExtendedSourceServer]) -> Plan:
    """`plan` with each staging server's `sourceServerID` set to its extended source server's id (EXTENDED or
    EXTENSION_ERROR: the wave's preflight refuses the latter, naming DRS's message); a staging server without an
    extended source server keeps its staging id (its preflight names it). Servers of this account are unchanged."""
    by_key = {server.key: server for server in extended}
    if not has_staging(plan):
        return plan
    waves = []
    for wave in plan.waves:
        servers = [_resolved(server, by_key) for server in wave.servers]
        waves.append(wave.model_copy(update={"servers": servers}))
    return plan.model_copy(update={"waves": waves})


def _resolved(server: Server, by_key: Mapping[tuple[str, str], ExtendedSourceServer]) -> Server:
    if not server.is_staging:
        return server
    found = by_key.get((str(server.staging_account_id), str(server.staging_source_server_id)))
    target = found.source_server_id if found is not None else str(server.staging_source_server_id)
    return server if target == server.source_server_id else server.model_copy(update={"source_server_id": target})


def extension_reason(server: Server, found: ExtendedSourceServer | None) -> str | None:
    """Why a staging server cannot be launched, or None when it can (resolved, EXTENDED). `found`: the extended
    source server DRS reports now for it (None: none)."""
    origin = f"staging server {server.staging_source_server_id} of account {server.staging_account_id}"
    if found is None:
        return f"{origin} is not extended into this account (drs-orch extend PLAN creates its extended source server)"
    if found.status == EXTENSION_ERROR:
        detail = f": {found.error_message}" if found.error_message else ""
        return f"extended source server {found.source_server_id} of {origin} is in EXTENSION_ERROR{detail}"
    if server.awaits_extension:
        return (
            f"{origin} was extended as {found.source_server_id} after this execution started (its servers are "
            "frozen at start): start the plan again to recover it"
        )
    if found.source_server_id != server.source_server_id:
        return (
            f"{origin} is now extended as {found.source_server_id}, not {server.source_server_id} as when this "
            "execution started: start the plan again"
        )
    return None
