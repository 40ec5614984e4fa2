"""`drs-orch import-native` and `drs-orch export-native`: native DRS recovery plans in and out.

`import-native PLAN-ARN|NAME -o plan.yaml` reads a native plan (GetRecoveryPlan, ListRecoveryPlanSteps; by name:
ListRecoveryPlans) and writes the plan of ours that behaves the same, its WAIT steps as WAIT steps of the waves
(orchestrator/domain/plan/native.py).
`export-native PLAN` creates the native plan of that name (default: the plan id), or replaces the steps of the one
it made before (tagged `drs-orch:plan-id` with this plan's id): it prints first what the native plan cannot
express, then writes; `--dry-run` writes nothing. A native plan of that name made otherwise is left alone (exit 2).

Both run against the account (`--aws`, the caller's credentials) or a simulation profile (`--sim PROFILE`: a DRS
simulator holding the profile's source servers and `drs.recoveryPlans`, made through the same API; nothing of it
persists after the command). Exit 2 for anything that cannot be done with what was given: an unknown native
plan, one without a SERVER step, more than 20 steps, an invalid name, a name another plan holds, an unknown source
server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from drs_orch.errors import EXIT_INVALID
from orchestrator.domain.plan import Plan, PlanError, has_selectors, load_plan, resolve_selectors
from orchestrator.domain.plan.native import (
    MAX_DESCRIPTION_CHARS,
    PLAN_ID_TAG,
    NativePlan,
    NativePlanError,
    NativeStep,
    export_plan,
    import_native,
    name_problem,
)
from orchestrator.domain.plan.selectors import render_tags

AwsOption = Annotated[bool, typer.Option("--aws", help="the account's native plans (your AWS credentials)")]
SimOption = Annotated[
    Path | None,
    typer.Option(metavar="PROFILE", help="a simulation profile's source servers and native plans (drs.recoveryPlans)"),
]
RegionOption = Annotated[str | None, typer.Option(help="AWS region for --aws")]


def _fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID)


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _client(aws: bool, sim: Path | None, region: str | None, servers: list[str]) -> tuple[Any, str]:
    """A boto3 `drs` client of the account or of a simulator seeded from the profile, and what it is."""
    if aws == (sim is not None):
        _fail("pass --aws (the account) or --sim PROFILE (a simulation profile), one of them")
    if sim is None:
        import boto3

        return boto3.client("drs", region_name=region), "the account"
    return _simulated(sim, servers), f"profile {sim} (simulated: nothing persists)"


def _simulated(path: Path, servers: list[str]) -> Any:
    """A drs client served by a DRS simulator that has the profile's source servers, `servers`, and the
    profile's native plans (created through CreateRecoveryPlan / CreateRecoveryPlanStep)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from localcloud.clock import SimClock
    from localcloud.drs_sim import ACCOUNT_ID, REGION, DrsSimulator
    from localcloud.profile import ProfileError, load_profile

    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sim") from None
    simulator = DrsSimulator(SimClock(), profile.drs_config())
    named = [sid for plan in profile.drs.recovery_plans for step in plan.steps for sid in step.servers or {}]
    simulator.ensure_servers(sorted({*profile.drs.servers, *named, *servers}))
    # the simulator answers before anything is sent: no credentials, nothing signed
    client = boto3.client("drs", region_name=REGION, config=Config(signature_version=UNSIGNED))
    simulator.attach(client)
    prefix = f"arn:aws:drs:{REGION}:{ACCOUNT_ID}:source-server/"
    for index, plan in enumerate(profile.drs.recovery_plans):
        try:
            extra = {"description": plan.description} if plan.description else {}
            arn = client.create_recovery_plan(name=plan.name, tags=plan.tags, **extra)["recoveryPlan"][
                "recoveryPlanArn"
            ]
            for step in plan.steps:
                configuration: dict[str, Any] = (
                    {"waitStepConfiguration": {"waitDurationMinutes": step.wait_minutes}}
                    if step.servers is None
                    else {
                        "serverStepConfiguration": {
                            "servers": [
                                {"serverArn": prefix + sid, "impactLevel": level} for sid, level in step.servers.items()
                            ]
                        }
                    }
                )
                client.create_recovery_plan_step(recoveryPlanArn=arn, stepName=step.name, configuration=configuration)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", str(exc))
            raise typer.BadParameter(f"{path}: drs.recoveryPlans[{index}]: {message}", param_hint="--sim") from None
    return client


def _step_lines(steps: list[NativeStep] | tuple[NativeStep, ...]) -> list[str]:
    return [f"  {order}. {step.name}: {step.describe()}" for order, step in enumerate(steps, 1)]


# ---------------------------------------------------------------------- import-native


def import_native_verb(
    plan: Annotated[str, typer.Argument(metavar="PLAN-ARN|NAME", help="the native recovery plan's ARN or name")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PLAN.yaml", help="write our plan here")],
    plan_id: Annotated[str | None, typer.Option(help="the new plan's id (default: from the native name)")] = None,
    aws: AwsOption = False,
    sim: SimOption = None,
    region: RegionOption = None,
) -> None:
    """Turn a native DRS recovery plan into a plan of ours: each SERVER step a wave that depends on the one
    before (servers keep their impact level as criticality), each WAIT step a WAIT pre-launch step of the next
    wave (a WAIT post-launch step of the last wave after the last SERVER step)."""
    from orchestrator.adapters.drs_plans import NativePlanNotFound, NativePlans

    client, source = _client(aws, sim, region, [])
    plans = NativePlans(client)
    arn = plan if plan.startswith("arn:") else plans.find(plan)
    if arn is None:
        known = sorted(s["name"] for s in plans.summaries())
        _fail(f"no native recovery plan named '{plan}' in {source} (it has: {', '.join(known) or 'none'})")
    try:
        native = plans.read(arn)
    except NativePlanNotFound:
        _fail(f"no native recovery plan {arn} in {source}")
    try:
        imported = import_native(native, plan_id=plan_id)
    except NativePlanError as exc:
        _fail(str(exc))
    header = f"# Imported by drs-orch import-native from the native DRS recovery plan '{native.name}' ({arn}).\n"
    try:
        output.write_text(header + yaml.safe_dump(imported.document, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        _fail(f"{output}: cannot write the plan: {exc.strerror or exc}")
    waves = imported.plan.waves
    waits = f", {imported.waits} WAIT step(s) in them" if imported.waits else ""
    _out().print(
        escape(
            f"native plan '{native.name}' ({len(native.steps)} steps) -> plan '{imported.plan.plan_id}' "
            f"({len(waves)} waves in a chain: {' -> '.join(w.wave_id for w in waves)}{waits}), written to {output}"
        )
    )


# ---------------------------------------------------------------------- export-native


def _load(path: Path) -> Plan:
    try:
        return load_plan(path)
    except PlanError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        _fail(f"{path}: {len(exc.problems)} problem(s); nothing was written")


def _server_arns(client: Any, plan: Plan, path: Path, source: str) -> tuple[Plan, dict[str, str], dict[str, str]]:
    """The plan with its selectors resolved against the source servers of `client`, each server's ARN, and each
    selecting wave's selector (rendered). Problems exit 2."""
    from orchestrator.adapters.drs import Drs

    items = [i for i in Drs(client).list_source_servers() if i.get("replicationDirection") != "FAILBACK"]
    arns = {str(i["sourceServerID"]): str(i["arn"]) for i in items}
    selectors = {w.wave_id: render_tags(w.source_server_tags) for w in plan.waves if w.source_server_tags}
    if has_selectors(plan):
        servers = [
            (str(i["sourceServerID"]), {str(k): str(v) for k, v in (i.get("tags") or {}).items()}) for i in items
        ]
        resolution = resolve_selectors(plan, servers, source=str(path))
        if resolution.plan is None or resolution.problems:
            for problem in resolution.problems:
                typer.echo(str(problem), err=True)
            _fail(f"{path}: its sourceServerTags cannot be resolved against {source}; nothing was written")
        plan = resolution.plan
    return plan, arns, selectors


def _owned(native: NativePlan, plan: Plan) -> bool:
    return native.tags.get(PLAN_ID_TAG) == plan.plan_id


def export_native_verb(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan file (YAML or JSON).")],
    name: Annotated[str | None, typer.Option(help="the native plan's name (default: the plan id)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be written, write nothing")] = False,
    aws: AwsOption = False,
    sim: SimOption = None,
    region: RegionOption = None,
) -> None:
    """Create or update a native DRS recovery plan from a plan of ours: its dependency layers as SERVER steps
    (the WAIT steps their waves begin with, of whole minutes, as WAIT steps), after printing everything the
    native plan cannot express (parallel branches flattened, scripts, other waits, approvals, launch settings,
    ...). Refused: more than 20 steps, an invalid name, a name another native plan holds."""
    from orchestrator.adapters.drs_plans import NativePlans

    plan = _load(plan_path)
    native_name = name if name is not None else plan.plan_id
    if problem := name_problem(native_name):
        hint = "" if name is not None else f" (the plan id of {plan_path}; pass --name)"
        _fail(problem + hint)
    listed = [sid for wave in plan.waves for sid in wave.server_ids]
    client, source = _client(aws, sim, region, listed)
    resolved, arns, selectors = _server_arns(client, plan, plan_path, source)
    try:
        export = export_plan(resolved, arns, selectors=selectors)
    except NativePlanError as exc:
        _fail(f"{plan_path}: {exc}; nothing was written")
    out = _out()
    if export.unexpressible:
        count = len(export.unexpressible)
        out.print(f"[yellow]a native plan cannot express {count} thing(s) of {escape(str(plan_path))}:[/yellow]")
        for line in export.unexpressible:
            out.print(f"  - {escape(line)}")
    else:
        out.print(f"a native plan expresses all of {escape(str(plan_path))}")
    plans = NativePlans(client)
    arn = plans.find(native_name)
    existing = plans.read(arn) if arn is not None else None
    if existing is not None and not _owned(existing, plan):
        holder = existing.tags.get(PLAN_ID_TAG)
        made = f"from plan '{holder}'" if holder else "outside drs-orch"
        _fail(
            f"a native recovery plan named '{native_name}' already exists in {source} ({arn}), made {made}: "
            "pass --name for another name; nothing was written"
        )
    description = (plan.description or plan.name or f"Exported by drs-orch from plan {plan.plan_id}")[
        :MAX_DESCRIPTION_CHARS
    ]
    _write(plans, native_name, description, plan, existing, export.steps, dry_run=dry_run, out=out, source=source)


def _write(
    plans: Any,
    name: str,
    description: str,
    plan: Plan,
    existing: NativePlan | None,
    steps: list[NativeStep],
    *,
    dry_run: bool,
    out: Console,
    source: str,
) -> None:
    """Create the native plan, or bring the existing one's steps and description to `steps` and `description`."""
    unchanged = existing is not None and [(s.name, s.configuration()) for s in existing.steps] == [
        (s.name, s.configuration()) for s in steps
    ]
    if existing is None:
        what = f"create native recovery plan '{name}' in {source} with {len(steps)} step(s)"
    elif unchanged and existing.description == description:
        what = f"native recovery plan '{name}' ({existing.arn}) is already up to date"
    else:
        what = f"replace the steps of native recovery plan '{name}' ({existing.arn}) with {len(steps)} step(s)"
    if dry_run:
        out.print(escape(f"dry run: would {what}" if not what.startswith("native") else f"dry run: {what}"))
        for line in _step_lines(steps):
            out.print(escape(line))
        return
    if existing is None:
        arn = plans.create(name, description, {PLAN_ID_TAG: plan.plan_id})
        plans.replace_steps(arn, [], steps)
        out.print(escape(f"created native recovery plan '{name}': {arn}"))
    else:
        arn = str(existing.arn)
        changed = plans.replace_steps(arn, list(existing.steps), steps)
        if existing.description != description:
            plans.describe(arn, description)
            changed = True
        out.print(escape(f"updated native recovery plan '{name}': {arn}" if changed else what))
    for line in _step_lines(steps):
        out.print(escape(line))


def register(app: typer.Typer) -> None:
    """Add `import-native` and `export-native` to the main CLI."""
    app.command("import-native")(import_native_verb)
    app.command("export-native")(export_native_verb)
