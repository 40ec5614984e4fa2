"""`drs-orch ui --aws --table NAME`: the dashboard of a deployed stack; and the `--ui` of `run` and `demo`.

Nothing is hosted: the server runs on this machine, on 127.0.0.1, and reads the ledger with your own credentials
(`dynamodb:Scan` for the list, `GetItem`/`Query` for one execution: the stack's reader policy); its buttons send
commands through the operator URL signed with them (the operator policy), as `drs-orch approve ... --aws` does.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from drs_orch.ui.feed import LedgerSource, Source
    from drs_orch.ui.server import Dashboard
    from localcloud.cloud import LocalCloud

console = Console()
err = Console(stderr=True)

Port = Annotated[
    int | None,
    typer.Option(
        "--ui-port",
        min=0,
        max=65535,
        help="the dashboard's port on 127.0.0.1 (0: a free one; implies --ui), bound before the run starts",
    ),
]


def ui(
    aws: Annotated[bool, typer.Option("--aws", help="read a deployed stack's ledger with your credentials")] = False,
    table: Annotated[str | None, typer.Option(help="the ledger table (stack output LedgerTableName)")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (default: your AWS configuration)")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="port on 127.0.0.1 (0: a free one)")] = 0,
    operator_url: Annotated[
        str | None,
        typer.Option(
            "--operator-url",
            envvar="DRS_ORCH_OPERATOR_URL",
            help="where the buttons send commands (stack output OperatorUrl; default: read from --stack)",
        ),
    ] = None,
    stack: Annotated[str, typer.Option(help="the stack whose OperatorUrl output the buttons use")] = "DrsOrchestrator",
    interval: Annotated[float, typer.Option(min=0.5, help="seconds between two reads of the ledger by a page")] = 2.0,
) -> None:
    """Serve the live dashboard of a deployed stack on 127.0.0.1 until Ctrl-C: executions, each one's dependency
    graph, timeline, waves and the operator's buttons. A local run serves its own: drs-orch run PLAN --ui."""
    if not aws or not table:
        err.print(
            "[red]drs-orch ui serves a deployed stack's dashboard: --aws --table <LedgerTableName> [--region]. A "
            "local run serves its own: drs-orch run PLAN --ui (or drs-orch demo --ui)[/red]",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    listening = reserve_port(port)
    source = ledger_source(table, region=region, url=operator_url, stack=stack, interval=interval)
    with _serving(source, listening) as dashboard:
        console.print(
            f"dashboard of the {escape(source.description)}: [bold]{escape(dashboard.login_url())}[/bold] (Ctrl-C to "
            "stop; the URL logs your browser in: do not share it)",
            highlight=False,
            soft_wrap=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("dashboard stopped")


def ledger_source(
    table: str, *, region: str | None, url: str | None = None, stack: str = "DrsOrchestrator", interval: float = 2.0
) -> LedgerSource:
    """The source of `ui --aws`: the ledger table `table` read with your credentials (boto3's default chain)."""
    import boto3

    from drs_orch.ui.feed import LedgerSource
    from orchestrator.adapters.ledger import Ledger
    from orchestrator.domain.clock import SystemClock

    ledger = Ledger(boto3.resource("dynamodb", region_name=region).Table(table), SystemClock())
    return LedgerSource(ledger, region=region, url=url, stack=stack, interval=interval)


def reserve_port(port: int) -> socket.socket:
    """127.0.0.1:`port` bound and listening (0: a free one), before anything is started; typer.Exit(2) saying why
    when it cannot be bound (taken, or a privileged port)."""
    from drs_orch.ui.server import reserve

    try:
        return reserve(port)
    except OSError as exc:
        err.print(
            f"[red]cannot serve the dashboard on 127.0.0.1:{port}: {escape(exc.strerror or str(exc))}; nothing was "
            "started (--ui-port 0 picks a free port)[/red]",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@contextmanager
def reserved(port: int | None) -> Iterator[socket.socket | None]:
    """`reserve_port(port)` while the block runs (closed after it); None without a port (no dashboard)."""
    if port is None:
        yield None
        return
    with closing(reserve_port(port)) as listening:
        yield listening


@contextmanager
def _serving(source: Source, listening: socket.socket) -> Iterator[Dashboard]:
    """`source` served on the reserved socket `listening` while the block runs."""
    from drs_orch.ui.server import Dashboard

    with Dashboard(source, listening=listening) as dashboard:
        yield dashboard


@contextmanager
def local_dashboard(
    cloud: LocalCloud, execution_id: str, *, caller: str | None, listening: socket.socket
) -> Iterator[Callable[[], None]]:
    """While the block runs, the dashboard of a local run's execution on the socket `reserve_port` bound (its login
    URL printed); yields the refresh to call on the loop thread between the cloud's steps."""
    from drs_orch.ui.feed import LocalSource

    source = LocalSource(cloud, [execution_id], as_=caller)
    source.refresh(force=True)
    with _serving(source, listening) as dashboard:
        page = dashboard.login_url(f"executions/{quote(execution_id, safe='')}")
        console.print(
            f"dashboard: [bold]{escape(page)}[/bold] (while the run lasts; the URL logs your browser in)",
            highlight=False,
            soft_wrap=True,
        )
        try:
            yield source.refresh
        finally:
            source.refresh(force=True)


def register(app: typer.Typer) -> None:
    """Add `ui` to the main CLI."""
    app.command("ui")(ui)
