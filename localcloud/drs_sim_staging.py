"""Staging accounts and extended source servers in the DRS simulator.

DRS replicates at most 300 source servers per account, so large estates replicate in staging accounts and recover
in a recovery account (the simulator's own) through extended source servers. This module holds the staging
accounts of a profile (``drs.stagingAccounts``) and answers ListStagingAccounts, ListExtensibleSourceServers and
CreateExtendedSourceServer; DescribeSourceServers shows an extended server's ``stagingArea`` and honours the
``stagingAccountIDs`` filter through `extension_of` / `matches`. Wire shapes are botocore's drs model's.

Fidelity notes (the choices where DRS does not document its behaviour):

- A staging source server's ARN is ``arn:aws:drs:<the simulator's region>:<staging account>:source-server/<id>``;
  CreateExtendedSourceServer checks it against the model's SourceServerARN pattern (a ValidationException,
  reason ``fieldValidationFailed``), then looks the server up: an unknown staging account or server, or a staging
  server in another region, is a ResourceNotFoundException.
- A staging account whose ``trustsRecoveryAccount`` is false (no DRSStagingAccountRole trusting this account)
  answers ListExtensibleSourceServers and CreateExtendedSourceServer with AccessDeniedException.
- A staging server already extended into this account is refused with ConflictException (409). botocore's model
  does not list ConflictException among CreateExtendedSourceServer's errors: what DRS answers is not documented,
  and only a real account shows it (`drs-orch extend` never relies on it: it skips extended servers first).
- Creating an extended source server beyond the account's source server quota (``drs.quotas.sourceServers``,
  DRS's 4,000 source servers per account including extended ones, adjustable) is a
  ServiceQuotaExceededException (resourceType SOURCE_SERVER; the quota's code is not modelled).
- ListStagingAccounts lists the accounts of existing extended source servers (the model's documentation), in
  account order; ListExtensibleSourceServers the staging account's servers not yet extended here.
- An extended server carries only the tags CreateExtendedSourceServer gives it (whether DRS copies the staging
  server's is not documented). It replicates as its staging server does (``replicationState``, ``lagSeconds``),
  launches like any source server, and a staging server with ``extensionError`` is extended in EXTENSION_ERROR
  with that ``errorMessage``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud.drs_sim_config import StagingAccountSettings
from localcloud.drs_sim_wire import DrsError

#: SourceServerARN in botocore's drs model (the whole value must match).
SOURCE_SERVER_ARN = re.compile(r"arn:(?:[0-9a-zA-Z_-]+:){3}([0-9]{12,}):source-server/(s-[0-9a-zA-Z]{17})")
MAX_STAGING_ACCOUNTS_PER_PAGE = 50  # ListStagingAccounts maxResults: 1 to 50 (the API reference)

Operation = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]
Pager = Callable[[str, list[Any], dict[str, Any]], tuple[list[Any], str | None]]


@dataclass(frozen=True)
class Extension:
    """How a source server of this account is extended from a staging account's."""

    staging_account_id: str
    staging_arn: str
    error_message: str | None = None

    @property
    def staging_area(self) -> dict[str, str]:
        area = {
            "status": "EXTENSION_ERROR" if self.error_message else "EXTENDED",
            "stagingAccountID": self.staging_account_id,
            "stagingSourceServerArn": self.staging_arn,
        }
        if self.error_message:
            area["errorMessage"] = self.error_message
        return area


@dataclass(frozen=True)
class StagingHooks:
    """What the staging accounts need of the simulator (called under its lock)."""

    register: Callable[[str, str, dict[str, str], str, int], None]  # (id, hostname, tags, state, lag): a server
    server_count: Callable[[], int]
    server_view: Callable[[str], dict[str, Any]]
    new_server_id: Callable[[], str]
    page: Pager


class StagingAccounts:
    """The staging accounts of a profile and the extended source servers made from their servers."""

    def __init__(
        self, accounts: dict[str, StagingAccountSettings], *, region: str, quota: int, hooks: StagingHooks
    ) -> None:
        self._accounts = accounts
        self._region = region
        self._quota = quota
        self._hooks = hooks
        self._extensions: dict[str, Extension] = {}  # extended source server id -> its extension
        self._by_staging: dict[str, str] = {}  # staging ARN -> extended source server id

    def operations(self) -> dict[str, Operation]:
        return {
            "ListStagingAccounts": self._op_list_staging_accounts,
            "ListExtensibleSourceServers": self._op_list_extensible,
            "CreateExtendedSourceServer": self._op_create_extended,
        }

    def staging_arn(self, account_id: str, source_server_id: str) -> str:
        return f"arn:aws:drs:{self._region}:{account_id}:source-server/{source_server_id}"

    def extension_of(self, source_server_id: str) -> Extension | None:
        return self._extensions.get(source_server_id)

    def matches(self, source_server_id: str, staging_account_ids: list[str]) -> bool:
        """DescribeSourceServers' stagingAccountIDs filter (an empty list: every server)."""
        if not staging_account_ids:
            return True
        extension = self._extensions.get(source_server_id)
        return extension is not None and extension.staging_account_id in staging_account_ids

    def extend_declared(self) -> None:
        """Extend now every staging server the profile says is already extended (``extended: true``)."""
        for account_id, account in sorted(self._accounts.items()):
            for sid, server in sorted(account.servers.items()):
                if server.extended and self.staging_arn(account_id, sid) not in self._by_staging:
                    self._extend(account_id, sid, {})

    # ------------------------------------------------------------------ operations

    def _op_list_staging_accounts(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        max_results = args.get("maxResults")
        if max_results is not None and not 1 <= int(max_results) <= MAX_STAGING_ACCOUNTS_PER_PAGE:
            raise _invalid("maxResults", f"maxResults must be 1 to {MAX_STAGING_ACCOUNTS_PER_PAGE}")
        accounts = sorted({e.staging_account_id for e in self._extensions.values()})
        page, token = self._hooks.page("ListStagingAccounts", accounts, args)
        body: dict[str, Any] = {"accounts": [{"accountID": account} for account in page]}
        if token is not None:
            body["nextToken"] = token
        return 200, body

    def _op_list_extensible(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        account_id = str(args["stagingAccountID"])
        account = self._trusting(account_id)
        items = [
            {"arn": arn, "hostname": server.hostname or f"host-{sid[-6:]}", "tags": dict(server.tags)}
            for sid, server in sorted((account.servers if account else {}).items())
            if (arn := self.staging_arn(account_id, sid)) not in self._by_staging
        ]
        page, token = self._hooks.page("ListExtensibleSourceServers", items, args)
        body: dict[str, Any] = {"items": page}
        if token is not None:
            body["nextToken"] = token
        return 200, body

    def _op_create_extended(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arn = str(args["sourceServerArn"])
        found = SOURCE_SERVER_ARN.fullmatch(arn)
        if found is None:
            raise _invalid("sourceServerArn", f"Invalid source server ARN: {arn[:256]}")
        account_id, sid = found.group(1), found.group(2)
        account = self._trusting(account_id)
        if account is None or sid not in account.servers or arn != self.staging_arn(account_id, sid):
            raise DrsError(
                "ResourceNotFoundException",
                f"Source server {arn} not found in staging account {account_id}",
                resourceId=sid,
                resourceType="SOURCE_SERVER",
            )
        if arn in self._by_staging:
            raise DrsError(
                "ConflictException",
                f"Source server {arn} is already extended into this account as {self._by_staging[arn]}",
                resourceId=self._by_staging[arn],
                resourceType="SOURCE_SERVER",
            )
        if self._hooks.server_count() >= self._quota:
            raise DrsError(
                "ServiceQuotaExceededException",
                f"The account already has {self._quota} source servers, its quota",
                serviceCode="drs",
                resourceType="SOURCE_SERVER",
            )
        tags = {str(k): str(v) for k, v in (args.get("tags") or {}).items()}
        extended = self._extend(account_id, sid, tags)
        return 201, {"sourceServer": self._hooks.server_view(extended)}

    # ------------------------------------------------------------------ helpers

    def _trusting(self, account_id: str) -> StagingAccountSettings | None:
        """The staging account's settings (None: the profile has no such account); AccessDeniedException when it
        does not trust this account."""
        account = self._accounts.get(account_id)
        if account is not None and not account.trusts_recovery_account:
            raise DrsError(
                "AccessDeniedException",
                f"Staging account {account_id} does not allow access from this account (no DRSStagingAccountRole "
                "trusting it)",
            )
        return account

    def _extend(self, account_id: str, sid: str, tags: dict[str, str]) -> str:
        server = self._accounts[account_id].servers[sid]
        extended = self._hooks.new_server_id()
        self._hooks.register(
            extended,
            server.hostname or f"host-{sid[-6:]}",
            tags,  # only the tags CreateExtendedSourceServer gives (the staging server's are not copied)
            server.replication_state,
            server.lag_seconds,
        )
        arn = self.staging_arn(account_id, sid)
        self._extensions[extended] = Extension(account_id, arn, server.extension_error)
        self._by_staging[arn] = extended
        return extended


def _invalid(field_name: str, message: str) -> DrsError:
    return DrsError(
        "ValidationException",
        message,
        reason="fieldValidationFailed",
        fieldList=[{"name": field_name, "message": message}],
    )
