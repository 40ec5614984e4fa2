"""`drs-orch extend PLAN`: create the extended source servers a plan's staging servers need.

A server the plan names by `stagingAccountID` + `stagingSourceServerID` replicates in a staging account and is
recovered through its extended source server in this (the recovery) account. The verb reads which of them are
extended already (DescribeSourceServers filtered on the plan's stagingAccountIDs) and which the staging accounts
offer (ListExtensibleSourceServers), shows a table of what it will create, asks for confirmation (`--yes` skips it;
without a terminal and without `--yes` it refuses, exit 2), then calls CreateExtendedSourceServer once per missing
server (tagged `drs-orch:plan-id`) and reports each result: created (its new source server id), refused (DRS's
message), or skipped because it was already extended. Running it again creates nothing (idempotent).

Against the account (`--aws [--region R]`, the caller's credentials) or a simulation profile (`--sim PROFILE`: a
DRS simulator holding the profile's `drs.stagingAccounts`; nothing persists). Exit 0: nothing left to create;
1: a creation was refused (or a server's extension is in EXTENSION_ERROR); 2: the plan or the options are wrong.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drs_orch.errors import EXIT_FAILED
from drs_orch.native_verbs import AwsOption, RegionOption, _client, _fail, _load
from orchestrator.domain.staging import (
    EXTENSION_ERROR,
    ExtendedSourceServer,
    StagingServer,
    StagingSourceServer,
    source_server_arn,
    staging_accounts,
    staging_servers,
)

#: The tag CreateExtendedSourceServer puts on each extended source server it creates: which plan asked for it.
PLAN_ID_TAG = "drs-orch:plan-id"

SimOption = Annotated[
    Path | None,
    typer.Option(metavar="PROFILE", help="a simulation profile's staging accounts (drs.stagingAccounts)"),
]


@dataclass
class Row:
    """One staging server of the plan and what `extend` does with it."""

    server: StagingServer
    waves: list[str]
    arn: str
    extended: ExtendedSourceServer | None = None
    offered: StagingSourceServer | None = None
    unreadable: str | None = None  # why ListExtensibleSourceServers failed for its account
    result: str = ""
    refused: bool = False

    @property
    def missing(self) -> bool:
        return self.extended is None


def _interactive() -> bool:
    """Whether a person can answer the confirmation (stdin is a terminal)."""
    return sys.stdin.isatty()


def _partition(client: Any) -> str:
    import boto3

    region = str(client.meta.region_name)
    return str(boto3.session.Session().get_partition_for_region(region))


def _rows(drs: Any, plan_servers: list[StagingServer], client: Any) -> list[Row]:
    """One row per distinct staging server (in plan order), with what DRS says of it now."""
    from orchestrator.adapters.drs import DrsError

    partition, region = _partition(client), str(client.meta.region_name)
    rows: dict[tuple[str, str], Row] = {}
    for server in plan_servers:
        if server.key in rows:
            rows[server.key].waves.append(server.wave_id)
            continue
        arn = source_server_arn(partition, region, *server.key)
        rows[server.key] = Row(server, [server.wave_id], arn)
    accounts = sorted({key[0] for key in rows})
    try:
        extended = drs.extended_source_servers(accounts)
    except DrsError as exc:
        _fail(f"cannot read the extended source servers (DescribeSourceServers): {exc}")
    for record in extended:
        if record.key in rows:
            rows[record.key].extended = record
    for account in accounts:
        _offered(drs, account, rows)
    return list(rows.values())


def _offered(drs: Any, account: str, rows: dict[tuple[str, str], Row]) -> None:
    """Note what ListExtensibleSourceServers offers of `account` (its ARN is then DRS's own)."""
    from orchestrator.adapters.drs import DrsError

    missing = [row for key, row in rows.items() if key[0] == account and row.missing]
    if not missing:
        return
    try:
        offered = {item.key: item for item in drs.extensible_source_servers(account)}
    except DrsError as exc:
        for row in missing:
            row.unreadable = str(exc)
        return
    for row in missing:
        row.offered = offered.get(row.server.key)
        if row.offered is not None:
            row.arn = row.offered.arn


def _state(row: Row) -> str:
    if row.extended is not None:
        if row.extended.status == EXTENSION_ERROR:
            return f"extended as {row.extended.source_server_id}, EXTENSION_ERROR (not recreated)"
        return f"extended as {row.extended.source_server_id} (skipped)"
    return "will create" if row.offered is not None else "will try to create (see below)"


def _note(row: Row) -> str | None:
    """What the table's state leaves out: DRS's error message, or why a server is not known to be extensible."""
    where = f"{row.server.staging_account_id}/{row.server.staging_source_server_id}"
    if row.extended is not None and row.extended.status == EXTENSION_ERROR:
        return f"{where}: DRS reports EXTENSION_ERROR: {row.extended.error_message or 'no message'}"
    if row.missing and row.offered is None:
        why = (
            f"its staging account's extensible servers could not be read (ListExtensibleSourceServers: "
            f"{row.unreadable})"
            if row.unreadable is not None
            else "ListExtensibleSourceServers does not list it"
        )
        return f"{where}: {why}; CreateExtendedSourceServer will say whether DRS can extend it"
    return None


def _table(rows: list[Row], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("waves")
    for column in ("staging account", "staging source server"):
        table.add_column(column, no_wrap=True, min_width=19 if "server" in column else 12)
    table.add_column("hostname")
    table.add_column("state", min_width=19)
    for row in rows:
        hostname = row.offered.hostname if row.offered and row.offered.hostname else ""
        table.add_row(
            escape(", ".join(row.waves)),
            row.server.staging_account_id,
            row.server.staging_source_server_id,
            escape(hostname),
            escape(_state(row)),
        )
    return table


def _confirmed(count: int, yes: bool) -> bool:
    if yes:
        return True
    if not _interactive():
        _fail(
            f"refusing to create {count} extended source server(s) without confirmation: there is no terminal to "
            "ask on; pass --yes to create them"
        )
    return typer.confirm(f"create {count} extended source server(s)?", default=False)


def _create(drs: Any, row: Row, plan_id: str) -> None:
    from orchestrator.adapters.drs import DrsConflict, DrsError

    try:
        created = drs.create_extended_source_server(row.arn, {PLAN_ID_TAG: plan_id})
    except DrsConflict as exc:  # extended meanwhile (another operator, a second run): nothing to do
        row.result = f"already extended (skipped; DRS: {exc})"
        return
    except DrsError as exc:
        row.result = f"refused: {exc}"
        row.refused = True
        return
    row.extended = created
    row.result = f"created {created.source_server_id} ({created.status})"


def extend_verb(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan file (YAML or JSON).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="create without asking")] = False,
    aws: AwsOption = False,
    sim: SimOption = None,
    region: RegionOption = None,
) -> None:
    """Create the extended source servers of the plan's servers replicated in staging accounts
    (CreateExtendedSourceServer), after showing what it will create and asking; already extended ones are
    skipped."""
    from orchestrator.adapters.drs import Drs

    plan = _load(plan_path)
    plan_servers = staging_servers(plan)
    out = Console(highlight=False, soft_wrap=True)
    if not plan_servers:
        out.print(f"{escape(str(plan_path))} names no server replicated in a staging account: nothing to extend")
        return
    client, source = _client(aws, sim, region, [])
    drs = Drs(client)
    rows = _rows(drs, plan_servers, client)
    accounts = ", ".join(staging_accounts(plan))
    missing = [row for row in rows if row.missing]
    out.print(_table(rows, f"staging servers of plan '{plan.plan_id}' (staging accounts {accounts}) in {source}"))
    for note in filter(None, map(_note, rows)):
        out.print(escape(note))
    broken = [row for row in rows if row.extended is not None and row.extended.status == EXTENSION_ERROR]
    if not missing:
        out.print("nothing to create: every staging server of the plan is extended")
        raise typer.Exit(EXIT_FAILED if broken else 0)
    if not _confirmed(len(missing), yes):
        out.print("nothing was created")
        raise typer.Exit(EXIT_FAILED)
    for row in missing:
        _create(drs, row, plan.plan_id)
        out.print(
            escape(f"{row.server.staging_account_id}/{row.server.staging_source_server_id}: {row.result}"),
            style="red" if row.refused else None,
        )
    refused = [row for row in missing if row.refused]
    created = [row for row in missing if row.extended is not None]
    out.print(f"{len(created)} created, {len(refused)} refused, {len(rows) - len(missing)} already extended")
    if refused or broken:
        raise typer.Exit(EXIT_FAILED)


def register(app: typer.Typer) -> None:
    """Add `extend` to the main CLI."""
    app.command("extend")(extend_verb)
