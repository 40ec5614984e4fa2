"""`drs-orch plan push|list|show --aws`: stored plans (issue #16 item 4), kept in the stack's plan store.

A plan too large for an event (a StartPlan entry is at most 256 KB) is pushed once and started by reference
(`drs-orch run --plan-ref ID:VERSION --aws`, or `run PLAN --push --aws`, which pushes and starts in one go). Each
push validates the plan as `validate` does and stores it as the next version (1, 2, 3 ...) of its planId, unless
its document is the latest version's already: then nothing is written and that version is named. The bucket is
`--bucket`, else `$DRS_ORCH_PLAN_BUCKET`, else the `PlanBucketName` output of `--stack` (CloudFormation
DescribeStacks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from drs_orch.plan_verbs import EXIT_INVALID, _allow_list, _report, _warnings
from orchestrator.domain.plan import PlanError, load_plan, plan_to_document
from orchestrator.domain.plan.documents import DEFAULT_ALLOWED_DOCUMENTS
from orchestrator.domain.stored_plans import PlanRef, PushResult, parse_ref

BUCKET_VARIABLE = "DRS_ORCH_PLAN_BUCKET"
OUTPUT_KEY = "PlanBucketName"

plan_app = typer.Typer(
    help="Stored plans on a deployed stack: push a plan as a new version, list and show versions.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Aws = Annotated[bool, typer.Option("--aws", help="the deployed stack's plan store (stored plans live on AWS)")]
Bucket = Annotated[
    str | None,
    typer.Option(
        "--bucket",
        envvar=BUCKET_VARIABLE,
        help=f"the plan store's bucket (stack output {OUTPUT_KEY}; default: read from --stack)",
    ),
]
StackName = Annotated[str, typer.Option("--stack", help=f"the stack whose {OUTPUT_KEY} output to use")]
Region = Annotated[str | None, typer.Option(help="AWS region")]


class StoreUnavailable(RuntimeError):
    """No bucket given and the stack has no plan store output."""


def bucket_name(given: str | None, *, stack: str, region: str | None) -> str:
    """`given`, else `$DRS_ORCH_PLAN_BUCKET`, else the stack's `PlanBucketName` output."""
    name = given or os.environ.get(BUCKET_VARIABLE)
    if name:
        return name
    import boto3

    stacks = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"]
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == OUTPUT_KEY:
            return str(output["OutputValue"])
    raise StoreUnavailable(
        f"stack {stack} has no output {OUTPUT_KEY}: deploy the stack of this version, or pass --bucket"
    )


def store_of(bucket: str | None, *, stack: str, region: str | None) -> Any:
    """The plan store on AWS (exit 2 when its bucket cannot be found)."""
    import boto3

    from orchestrator.adapters.plan_store import PlanStore

    try:
        name = bucket_name(bucket, stack=stack, region=region)
    except StoreUnavailable as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(EXIT_INVALID) from None
    return PlanStore(boto3.client("s3", region_name=region), name)


def _needs_aws(aws: bool, verb: str) -> None:
    if not aws:
        err.print(
            f"[red]plan {verb} works on a deployed stack's plan store: add --aws (a local run pushes its plan into "
            "its own local cloud: drs-orch run PLAN --push)[/red]"
        )
        raise typer.Exit(EXIT_INVALID)


def push_file(plan_file: Path, store_factory: Callable[[], Any]) -> PushResult:
    """Validate `plan_file` as `validate` does (problems: exit 2, before any AWS call; warnings printed), then push
    it to the store `store_factory` gives."""
    try:
        plan = load_plan(plan_file)
    except PlanError as error:
        _report(error, console, str(plan_file))
        raise typer.Exit(EXIT_INVALID) from None
    for warning in _warnings(plan, plan_file, _allow_list(DEFAULT_ALLOWED_DOCUMENTS)):
        typer.echo(str(warning))
    result: PushResult = store_factory().push(plan.plan_id, plan_to_document(plan))
    if result.created:
        console.print(
            f"[green]✓[/green] pushed {escape(result.plan_id)} as version [bold]{result.version}[/bold] "
            f"({result.size:,} bytes, sha256 {result.sha256})"
        )
    else:
        console.print(
            f"unchanged: {escape(result.plan_id)} version [bold]{result.version}[/bold] is this document already "
            f"(sha256 {result.sha256}); no new version"
        )
    return result


@plan_app.command("push")
def push(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="recovery plan, YAML or JSON")],
    aws: Aws = False,
    bucket: Bucket = None,
    stack: StackName = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Validate a plan and store it as a new immutable version of its planId (1, 2, 3 ...); a plan identical to
    the latest version is not stored again. Start it with drs-orch run --plan-ref ID:VERSION --aws."""
    _needs_aws(aws, "push")
    push_file(plan_file, lambda: store_of(bucket, stack=stack, region=region))


@plan_app.command("list")
def list_(
    plan_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="a plan id: list its versions")] = None,
    aws: Aws = False,
    bucket: Bucket = None,
    stack: StackName = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """List the stored plans (each with its latest version), or the versions of one plan."""
    _needs_aws(aws, "list")
    store = store_of(bucket, stack=stack, region=region)
    if plan_id is None:
        table = Table(title=f"stored plans in {store.bucket}")
        for column in ("plan", "latest version", "pushed at"):
            table.add_column(column)
        for each in store.plan_ids():
            versions = store.versions(each)
            if versions:
                table.add_row(escape(each), str(versions[-1].version), versions[-1].pushed_at or "")
        console.print(table)
        return
    try:
        versions = store.versions(plan_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="ID") from None
    if not versions:
        err.print(f"[red]no stored plan {escape(plan_id)!r} in {escape(store.bucket)}[/red]")
        raise typer.Exit(EXIT_INVALID)
    table = Table(title=f"versions of {plan_id}")
    for column in ("version", "pushed at", "bytes"):
        table.add_column(column)
    for version in versions:
        table.add_row(str(version.version), version.pushed_at or "", f"{version.size:,}")
    console.print(table)


def resolve(store: Any, ref: PlanRef) -> PlanRef:
    """`ref` with its version: the latest when it names none (exit 2 when the plan was never pushed)."""
    from orchestrator.domain.stored_plans import UnknownStoredPlan

    if ref.version is not None:
        return ref
    latest = store.latest(ref.plan_id)
    if latest is None:
        err.print(f"[red]{escape(str(UnknownStoredPlan(ref.plan_id, None, None)))}[/red]")
        raise typer.Exit(EXIT_INVALID)
    return PlanRef(ref.plan_id, latest)


def parsed_ref(text: str, option: str) -> PlanRef:
    try:
        return parse_ref(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@plan_app.command("show")
def show(
    ref_text: Annotated[str, typer.Argument(metavar="ID[:VERSION]", help="a stored plan (default: its latest)")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the version's document (JSON) to this file")
    ] = None,
    aws: Aws = False,
    bucket: Bucket = None,
    stack: StackName = "DrsOrchestrator",
    region: Region = None,
) -> None:
    """Show a stored version: its digest, when it was pushed, its waves and servers; -o writes its document."""
    from orchestrator.domain.stored_plans import CorruptStoredPlan, UnknownStoredPlan

    _needs_aws(aws, "show")
    store = store_of(bucket, stack=stack, region=region)
    ref = resolve(store, parsed_ref(ref_text, "ID[:VERSION]"))
    assert ref.version is not None
    try:
        stored = store.get(ref.plan_id, ref.version)
    except (UnknownStoredPlan, CorruptStoredPlan) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(EXIT_INVALID) from None
    waves = stored.document.get("waves") or []
    servers = sum(len(w.get("servers") or []) for w in waves if isinstance(w, dict))
    console.print(
        f"{escape(stored.plan_id)} version [bold]{stored.version}[/bold]: {len(waves)} wave(s), {servers} server(s)"
        f"\nsha256 {stored.sha256}\npushed at {stored.pushed_at or 'unknown'}"
    )
    if output is not None:
        output.write_text(json.dumps(stored.document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        console.print(f"document written to {escape(str(output))}")


def register(app: typer.Typer) -> None:
    """Add `plan push|list|show` to the main CLI."""
    app.add_typer(plan_app, name="plan")
