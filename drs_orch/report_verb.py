"""`drs-orch report EXECUTION`: the execution report (and its timeline, and its HTML evidence report) of a run on
AWS, from the ledger.

A local run writes its report with `drs-orch run --report` (and `--html`); a run on a deployed stack is recorded
in the ledger table (stack output `LedgerTableName`), and this command reads it back: the same report, without
the local run's `events` (the bus archive keeps those: `drs-orch inspect --aws`).

With `--aws`, an execution the ledger no longer holds (its time to live, when the deploy sets one) is read from
the evidence bucket (stack output `EvidenceBucketName`, `--bucket` or $DRS_ORCH_EVIDENCE_BUCKET), where the
archive function stored its report when it ended (issue #16); the command says which one it read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.domain.untrusted import inert


def report(
    execution_id: Annotated[str, typer.Argument(metavar="EXECUTION", help="the execution id")],
    table: Annotated[
        str, typer.Option(help="the ledger table (stack output LedgerTableName)")
    ] = "drs-orchestrator-ledger",
    region: Annotated[str | None, typer.Option(help="AWS region (default: your AWS configuration)")] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="REPORT.json", help="write the report here (default: print it)"),
    ] = None,
    timeline: Annotated[
        Path | None, typer.Option(metavar="FILE.svg", help="also draw the execution as a timeline (SVG) here")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(metavar="FILE.html", help="also write the evidence report (one self-contained HTML page) here"),
    ] = None,
    text: Annotated[
        bool,
        typer.Option(
            "--text", help="print a text summary (status, waves, recovery objectives) instead of the JSON report"
        ),
    ] = False,
    aws: Annotated[
        bool,
        typer.Option(
            "--aws", help="when the ledger no longer has the execution, read its stored report from the evidence bucket"
        ),
    ] = False,
    bucket: Annotated[
        str | None,
        typer.Option(
            envvar="DRS_ORCH_EVIDENCE_BUCKET", help="--aws: the evidence bucket (stack output EvidenceBucketName)"
        ),
    ] = None,
) -> None:
    """Read a run's execution report from the ledger on AWS (a local run: `run --report`)."""
    import boto3

    from orchestrator.adapters.ledger import Ledger
    from orchestrator.domain.clock import SystemClock
    from orchestrator.reporting.stored import ledger_report, report_json

    err = Console(stderr=True)

    def fail(message: str) -> typer.Exit:
        err.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
        return typer.Exit(2)

    if aws and not bucket:
        raise fail("--aws: give the evidence bucket with --bucket (stack output EvidenceBucketName)")
    try:
        ledger = Ledger(boto3.resource("dynamodb", region_name=region).Table(table), SystemClock())
        # the ledger does not keep the events (the bus archive does): the report without them
        data: dict[str, Any] | None = ledger_report(ledger, execution_id)
    except Exception as exc:  # an AWS error becomes one line at the CLI's entry (drs_orch/errors.py)
        exc.add_note(f"ledger table {table}")
        raise
    source = f"the ledger table {table}"
    if data is None and aws and bucket:
        from drs_orch.stored_report import StoredReportError, read_stored_report

        try:
            stored = read_stored_report(bucket, execution_id, region)
        except StoredReportError as exc:
            raise fail(str(exc)) from None
        if stored is not None:
            data, source = stored
    if data is None:
        where = f"the ledger table {table}" + (f" nor in the evidence bucket {bucket}" if aws else "")
        raise fail(f"no execution {execution_id} in {where}")
    data.pop("events", None)  # the ledger does not keep them; the bus archive does
    if aws:  # the ledger or the evidence bucket: say which
        err.print(f"report of {escape(execution_id)} read from {escape(source)}", highlight=False, soft_wrap=True)
    content = text_summary(data) if text else report_json(data)

    def write(path: Path, content: str, what: str) -> None:
        try:
            path.write_text(content, encoding="utf-8")
        except OSError as exc:
            raise fail(f"{path}: cannot write the {what}: {exc.strerror or exc}") from None
        err.print(f"{what} written to {escape(str(path))}", highlight=False, soft_wrap=True)

    if output is None:
        typer.echo(inert(content) if text else content, nl=False)
    else:
        write(output, content, "report")
    if timeline is not None:
        from orchestrator.reporting.timeline import render_svg

        write(timeline, render_svg(data), "timeline")
    if html is not None:
        from orchestrator.reporting.html import render_html

        write(html, render_html(data), "evidence report")


def text_summary(data: dict[str, Any]) -> str:
    """The report as a few lines of text: the execution, each wave's status, and the recovery objectives (objective,
    achieved, margin, verdict: `orchestrator.reporting.objectives.objective_lines`)."""
    from orchestrator.reporting.objectives import objective_lines

    lines = [
        f"execution {data['executionId']} of plan {data['planId']} ({data['mode']}): {data['status']}",
        f"started {data.get('startedAt')}, ended {data.get('endedAt') or '-'}",
    ]
    lines += [f"  wave {w['waveId']}: {w['status']}" for w in data.get("waves", [])]
    objectives = objective_lines(data)
    if objectives:
        lines += ["recovery objectives:", *(f"  {line}" for line in objectives)]
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    """Add `report` to the main CLI."""
    app.command("report")(report)
