"""`drs-orch validate` and `drs-orch show`: check plans, and see what a run of one will do."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from orchestrator.domain.plan import (
    Plan,
    PlanError,
    Problem,
    Quotas,
    Script,
    Selection,
    Wave,
    critical_path,
    has_selectors,
    launch_schedule,
    layers,
    load_plan,
    plan_warnings,
    resolve_selectors,
)
from orchestrator.domain.plan.documents import (
    ALLOWED_DOCUMENTS_VARIABLE,
    DEFAULT_ALLOWED_DOCUMENTS,
    MAX_DOCUMENTS,
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
    too_many_documents,
)
from orchestrator.domain.plan.lambda_functions import (
    ALLOWED_FUNCTIONS_VARIABLE,
    FunctionAllowList,
    disallowed_functions,
)
from orchestrator.domain.plan.model import step_document
from orchestrator.domain.plan.problems import join_path
from orchestrator.domain.plan.seed import convert_seed, is_seed_format
from orchestrator.domain.plan.selectors import render_tags
from orchestrator.domain.plan.source import Lines, SourceError, line_of, load_text

EXIT_INVALID = 2


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _console(*, wrap: bool = False) -> Console:
    return Console(highlight=False, soft_wrap=not wrap)


def _report(error: PlanError, console: Console, shown: str) -> None:
    for problem in error.problems:
        typer.echo(str(problem))
    count = len(error.problems)
    console.print(f"[red]✗[/red] {escape(shown)}: {_count(count, 'problem')}")


def _lines(path: Path) -> Lines | None:
    """The path -> line table of a plan file that has loaded (to place its warnings)."""
    try:
        data, lines, _ = load_text(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SourceError):
        return None
    if is_seed_format(data):
        _, lines = convert_seed(data, lines, str(path))
    return lines


def _placed(found: list[Problem], path: Path, prefix: str = "") -> list[Problem]:
    """`found` with the file and line of each (`prefix` before each message), in line order."""
    if not found:
        return []
    lines = _lines(path)
    placed = [
        Problem(f"{prefix}{p.message}", p.code, p.wave_id, p.path, line_of(lines, p.path), str(path)) for p in found
    ]
    return sorted(placed, key=lambda w: (w.line is None, w.line or 0))


def _warnings(plan: Plan, path: Path, allowed: AllowList, functions: FunctionAllowList | None = None) -> list[Problem]:
    """What can have no effect, the scripts StartPlan refuses under `allowed` and the LAMBDA steps it refuses
    under `functions` (None: not checked; warnings: the deployed lists may differ from those `validate` is
    given), and the waves whose servers are chosen by tag only when an execution starts."""
    unless = " (validate assumed this list: pass the deployed one with --allowed-documents)"
    refused = [Problem(p.message + unless, p.code, p.wave_id, p.path) for p in disallowed_documents(plan, allowed)]
    unless = " (validate assumed this list: pass the deployed one with --allowed-functions)"
    if functions is not None:
        refused += [
            Problem(p.message + unless, p.code, p.wave_id, p.path) for p in disallowed_functions(plan, functions)
        ]
    return _placed(plan_warnings(plan) + refused + _selector_notes(plan) + _staging_notes(plan), path, "warning: ")


def _staging_notes(plan: Plan) -> list[Problem]:
    """One note per server replicated in a staging account: it launches through its extended source server, found
    when an execution starts; one not extended then fails (CRITICAL) or is left out of (OPTIONAL) its wave."""
    return [
        Problem(
            f"server {server.staging_source_server_id} of staging account {server.staging_account_id} launches "
            "through its extended source server in this account, found when the execution starts: create any "
            "missing one with drs-orch extend PLAN (the wave's preflight names each one still missing)",
            "staging-resolved-at-start",
            wave.wave_id,
            join_path("waves", index, "servers", position),
        )
        for index, wave in enumerate(plan.waves)
        for position, server in enumerate(wave.servers)
        if server.is_staging
    ]


def _selector_notes(plan: Plan) -> list[Problem]:
    """One note per wave with sourceServerTags: which servers they select is known only when an execution
    starts (StartPlan refuses it then if a selector selects nothing or two waves select the same server)."""
    return [
        Problem(
            f"wave '{wave.wave_id}' selects its servers by sourceServerTags ({render_tags(wave.source_server_tags)}): "
            "they are resolved when the execution starts, against the source servers DRS has then (see who is "
            "selected with drs-orch show PLAN --sim PROFILE, or --aws)",
            "selector-resolved-at-start",
            wave.wave_id,
            join_path("waves", index, "sourceServerTags"),
        )
        for index, wave in enumerate(plan.waves)
        if wave.source_server_tags
    ]


def _declared(ssm: Any, name: str) -> DocumentParameters | str:
    """The document's parameters in the account, or why it has none (it does not exist). Any other error
    (no credentials, access denied, throttling) is the CLI's, not the plan's: raised."""
    from orchestrator.adapters.ssm import SsmError

    try:
        parameters: DocumentParameters = ssm.document_parameters(name)
    except SsmError as exc:
        if exc.code not in {"InvalidDocument", "InvalidDocumentVersion"}:
            raise
        return f"DescribeDocument: {exc}"
    return parameters


def _account_problems(plan: Plan, allowed: AllowList, region: str | None) -> list[Problem]:
    """What StartPlan would find in the account: each allowed document's parameters against the scripts'
    (DescribeDocument, once per document, with the caller's credentials)."""
    import boto3

    from orchestrator.adapters.ssm import Ssm

    names = documents_to_describe(plan, allowed)
    if len(names) > MAX_DOCUMENTS:
        return [too_many_documents(len(names))]
    ssm = Ssm(boto3.client("ssm", region_name=region))
    return parameter_problems(plan, {name: _declared(ssm, name) for name in names})


def _network_problems(plan: Plan, ec2: Any, drs: Any, *, own_only: bool = False) -> list[Problem]:
    """The plan's launch settings against the network `ec2` reads, in both modes (a problem only a drill has
    starts `in a drill, `; one both have is reported once). `drs`: the account's DRS (a server's own recovery
    instance does not hold its static IP against its next launch), or None (the simulated network has none).
    `own_only`: only the waves without a target (the caller's credentials read the caller's account: a wave's
    target account is checked by its preflight, with the target's role)."""
    from events.models import Mode
    from orchestrator.steps.network_preflight import check_launches, launches_to_check

    found: list[Problem] = []
    seen: set[tuple[str, str | None]] = set()
    waves = [w.wave_id for w in plan.waves if w.target is None] if own_only else None
    for mode in (Mode.RECOVERY, Mode.DRILL):
        launches = launches_to_check(plan, mode, wave_ids=waves)
        for each in check_launches(ec2, drs, launches) if launches else []:
            problem = each.problem
            if (problem.message, problem.path) in seen:
                continue
            seen.add((problem.message, problem.path))
            prefix = "in a drill, " if mode is Mode.DRILL else ""
            found.append(Problem(prefix + problem.message, problem.code, problem.wave_id, problem.path))
    return found


def _asks_network(plan: Plan) -> bool:
    from events.models import Mode
    from orchestrator.steps.network_preflight import launches_to_check

    return any(launches_to_check(plan, mode) for mode in (Mode.RECOVERY, Mode.DRILL))


def _account_network_problems(plan: Plan, region: str | None) -> list[Problem]:
    """The plan's launch settings against the account's network (EC2 Describe*, DRS DescribeRecoveryInstances),
    with the caller's credentials; a plan whose settings ask nothing of the network makes no call."""
    if not _asks_network(plan):
        return []
    import boto3

    from orchestrator.adapters.drs import Drs
    from orchestrator.adapters.ec2 import Ec2Network

    ec2 = Ec2Network(boto3.client("ec2", region_name=region))
    return _network_problems(plan, ec2, Drs(boto3.client("drs", region_name=region)), own_only=True)


def _simulated_network_problems(plan: Plan, profile_path: Path) -> list[Problem]:
    """The plan's launch settings against the recovery network of a simulation profile (its `ec2:` section, made
    in moto's EC2 as a local run makes it)."""
    import boto3
    from moto import mock_aws

    from localcloud.ec2_network import create_network
    from localcloud.profile import ProfileError, load_profile
    from orchestrator.adapters.ec2 import Ec2Network

    try:
        profile = load_profile(profile_path)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sim") from None
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")  # moto gives the credentials
        create_network(ec2, profile.ec2)
        return _network_problems(plan, Ec2Network(ec2), None)


def _allow_list(text: str) -> AllowList:
    try:
        return AllowList.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allowed-documents") from None


def _function_list(text: str) -> FunctionAllowList:
    try:
        return FunctionAllowList.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--allowed-functions") from None


AllowedFunctions = Annotated[
    str,
    typer.Option(
        "--allowed-functions",
        envvar=ALLOWED_FUNCTIONS_VARIABLE,
        help=(
            "the Lambda functions LAMBDA steps may invoke, as deployed (comma-separated unqualified function ARNs; "
            f"default: ${ALLOWED_FUNCTIONS_VARIABLE}, else none, the deployed default)"
        ),
    ),
]


AllowedDocuments = Annotated[
    str,
    typer.Option(
        "--allowed-documents",
        envvar=ALLOWED_DOCUMENTS_VARIABLE,
        help=(
            "the SSM documents plans may run, as deployed (comma-separated names or prefix* patterns; default: "
            f"${ALLOWED_DOCUMENTS_VARIABLE}, else the deployed default {DEFAULT_ALLOWED_DOCUMENTS})"
        ),
    ),
]


def validate(
    plans: Annotated[list[Path], typer.Argument(metavar="PLAN...", help="Plan files (YAML or JSON).")],
    allowed_documents: AllowedDocuments = DEFAULT_ALLOWED_DOCUMENTS,
    allowed_functions: AllowedFunctions = "",
    aws: Annotated[
        bool,
        typer.Option(
            "--aws",
            help="also check each script's parameters against its SSM document in the AWS account (DescribeDocument), "
            "and each server's launch settings against the account's network (EC2), in both modes",
        ),
    ] = False,
    region: Annotated[str | None, typer.Option(help="AWS region for --aws")] = None,
    sim: Annotated[
        Path | None,
        typer.Option(help="check each server's launch settings against this simulation profile's recovery network"),
    ] = None,
) -> None:
    """Check recovery plans and print every problem as `file:line: path (wave W): message`, then every
    setting of a valid plan that can have no effect, every script naming an SSM document outside the
    allow-list and every LAMBDA step naming a function outside --allowed-functions, as
    `file:line: path (wave W): warning: message` (warnings do not change the exit code).
    With --aws, a script whose parameters are not those its document in the account declares (or whose
    document does not exist) is a problem, as StartPlan would find it, and so is a launch setting the account's
    network cannot serve (a subnet or security group that does not exist, groups of another VPC, a static IP
    outside its subnet, reserved or in use, an instance type not offered in the subnet's zone), as the wave
    preflight would find it; with --sim PROFILE, the same network checks against the profile's network."""
    console = _console()
    allowed = _allow_list(allowed_documents)
    functions = _function_list(allowed_functions)
    if sim is not None and aws:
        raise typer.BadParameter("check against a simulation profile or the account, not both", param_hint="--sim")
    failed = False
    for path in plans:
        try:
            plan = load_plan(path)
        except PlanError as error:
            failed = True
            _report(error, console, str(path))
            continue
        found = []
        if aws:
            found = _account_problems(plan, allowed, region) + _account_network_problems(plan, region)
        elif sim is not None:
            found = _simulated_network_problems(plan, sim)
        if found := _placed(found, path):
            failed = True
            _report(PlanError(found, str(path)), console, str(path))
            continue
        _valid(plan, path, allowed, functions, console)
    if failed:
        raise typer.Exit(EXIT_INVALID)


def _valid(plan: Plan, path: Path, allowed: AllowList, functions: FunctionAllowList, console: Console) -> None:
    servers = sum(len(wave.servers) for wave in plan.waves)
    warnings = _warnings(plan, path, allowed, functions)
    for warning in warnings:
        typer.echo(str(warning))
    noted = f", {_count(len(warnings), 'warning')}" if warnings else ""
    console.print(
        f"[green]✓[/green] {escape(str(path))}: plan '{escape(plan.plan_id)}' is valid "
        f"({_count(len(plan.waves), 'wave')}, {_count(servers, 'server')}{_failback_note(plan)}{noted})"
    )


def _failback_note(plan: Plan) -> str:
    """`, failback scripts in 2 waves, reprotect after failback`: what a failback of the plan runs differently (empty
    for a plan without `failback`)."""
    waves = sum(1 for wave in plan.waves if wave.failback is not None and wave.failback.given())
    note = f", failback scripts in {_count(waves, 'wave')}" if waves else ""
    return note + (", reprotect after failback" if plan.reprotects else "")


def _targets(script: Script, wave_id: str) -> str:
    if script.is_automation:
        given = script.recovery_instances_parameter
        instances = f", this wave's recovery instances as {given}" if given else ""
        return f"the account (SSM Automation{instances})"
    targets = script.run_targets
    if targets.tags:
        return "tags " + ", ".join(f"{key}={value}" for key, value in targets.tags.items())
    if targets.instance_ids:
        return "instances " + ", ".join(targets.instance_ids)
    return "this wave" if targets.wave == wave_id else f"wave {targets.wave}"


def _script_line(kind: str, script: Script, wave_id: str) -> str:
    if script.is_lambda:
        retries = f", {script.retries} retries" if script.retries else ""
        return (
            f"{kind}: [bold]{escape(script.name)}[/bold] (asynchronous invocation; timeout {script.timeout_seconds}s, "
            f"on failure {script.on_failure.value}{retries})"
        )
    if script.is_wait:
        return f"{kind}: [bold]{escape(script.name)}[/bold] (a pause on the scheduler: nothing runs meanwhile)"
    retries = f", {script.retries} retries" if script.retries else ""
    return (
        f"{kind}: [bold]{escape(script.document)}[/bold] {'in' if script.is_automation else 'on'} "
        f"{escape(_targets(script, wave_id))} "
        f"(timeout {script.timeout_seconds}s, on failure {script.on_failure.value}{retries})"
    )


def _script_doc(script: Script) -> dict[str, Any]:
    return step_document(script.model_dump(by_alias=True, exclude_none=True, mode="json"))


def _failback_info(wave: Wave) -> dict[str, Any]:
    """`{"failback": {"postLaunch": [...], "healthCheck": None}}`: the wave's failback keys given (each replaces the
    recovery one in a failback), or nothing for a wave without."""
    if wave.failback is None or not wave.failback.given():
        return {}
    return {"failback": wave.failback.document()}


def describe(plan: Plan, quotas: Quotas | None = None, resolved: Resolved | None = None) -> dict[str, Any]:
    """What a run of `plan` will do, as JSON-able data (the `show --json` output). `resolved`: its tag
    selectors resolved (`_resolve`): the waves then hold the selected servers, each wave that selects has
    `sourceServerTags` and every one of its servers `selection` (why it is in the wave); unresolved, such a
    wave has `sourceServerTags` and only its listed servers."""
    if resolved is not None:
        plan = resolved.plan
    schedule = launch_schedule(plan, quotas or Quotas())
    waves = []
    for wave in plan.waves:
        waves.append(
            {
                **_selection_info(plan, wave.wave_id, resolved),
                "waveId": wave.wave_id,
                "name": wave.name,
                "dependsOn": wave.depends_on,
                "servers": wave.server_ids,
                "optionalServers": [s.source_server_id for s in wave.servers if s.criticality.value == "OPTIONAL"],
                "jobs": schedule["waves"][wave.wave_id]["jobs"],
                "preLaunch": [_script_doc(script) for script in wave.pre_launch],
                "postLaunch": [_script_doc(script) for script in wave.post_launch],
                "healthCheck": _script_doc(wave.health_check) if wave.health_check else None,
                "approval": wave.approval.model_dump(by_alias=True, mode="json") if wave.approval else None,
                "onFailure": wave.on_failure.value,
                "successThreshold": wave.success_threshold,
                "rollback": wave.rollback.value,
                **_failback_info(wave),
            }
        )
    return {
        "planId": plan.plan_id,
        "name": plan.name,
        "layers": layers(plan),
        "criticalPath": critical_path(plan),
        **({"failback": plan.failback.model_dump(by_alias=True, mode="json")} if plan.failback is not None else {}),
        "waves": waves,
        "quotas": {"limits": schedule["quotas"], "packing": schedule["packing"], "layers": schedule["layers"]},
    }


@dataclass(frozen=True)
class Resolved:
    """A plan whose tag selectors were resolved: the plan as an execution would freeze it, the selectors it
    had (by wave id), why each server is in its wave, and against what (`source`: the profile or account)."""

    plan: Plan
    selectors: dict[str, dict[str, str]]
    selections: dict[str, list[Selection]]
    source: str


def _selection_info(plan: Plan, wave_id: str, resolved: Resolved | None) -> dict[str, Any]:
    """`sourceServerTags` and each server's `selection` of a wave that selects by tag (else nothing)."""
    if resolved is None:
        tags = plan.wave(wave_id).source_server_tags
        return {"sourceServerTags": dict(tags), "selection": None} if tags else {}
    if wave_id not in resolved.selectors:
        return {}
    return {
        "sourceServerTags": resolved.selectors[wave_id],
        "selection": {s.source_server_id: s.describe() for s in resolved.selections.get(wave_id, [])},
    }


def _selection_nodes(node: Tree, data: dict[str, Any], resolved: Resolved | None) -> None:
    """Under a wave that selects by tag: its selector, and who it selected (or that it resolves at start)."""
    if "sourceServerTags" not in data:
        return
    tags = escape(render_tags(data["sourceServerTags"]))
    if resolved is None:
        node.add(
            f"sourceServerTags {tags}: resolved when the execution starts (--sim PROFILE or --aws: who is selected)"
        )
        return
    branch = node.add(f"sourceServerTags {tags} (resolved against {escape(resolved.source)})")
    for server_id, why in data["selection"].items():
        branch.add(f"{escape(server_id)}: {escape(why)}")


def _wave_node(branch: Tree, wave: Wave, data: dict[str, Any], resolved: Resolved | None) -> None:
    """A wave of `show`'s tree: its servers and jobs, selector, approval, scripts and failure policy."""
    wave_id = wave.wave_id
    after = f", after {', '.join(wave.depends_on)}" if wave.depends_on else ""
    jobs = data["jobs"]
    node = branch.add(
        f"[bold]{escape(wave_id)}[/bold]{escape(after)}: {_count(len(wave.servers), 'server')} "
        f"in {_count(len(jobs), 'DRS job')} {escape(str(jobs))}"
    )
    _selection_nodes(node, data, resolved)
    if data["optionalServers"]:
        node.add(f"optional servers: {escape(', '.join(data['optionalServers']))}")
    if wave.approval and wave.approval.required:
        approvers = escape(", ".join(wave.approval.approvers) or "anyone")
        timeout = wave.approval.timeout_seconds
        node.add(f"approval: required before launch ({approvers}; times out after {timeout}s)")
    for script in wave.pre_launch:
        node.add(_script_line("pre-launch", script, wave_id))
    node.add(f"launch {_count(len(wave.servers), 'server')}")
    for script in wave.post_launch:
        node.add(_script_line("post-launch", script, wave_id))
    if wave.health_check:
        node.add(_script_line("health check", wave.health_check, wave_id))
    _failback_node(node, wave)
    threshold = f", success threshold {wave.success_threshold:.0%}" if wave.success_threshold else ""
    node.add(f"on failure: {wave.on_failure.value}, rollback: {wave.rollback.value}{threshold}")


def _failback_node(node: Tree, wave: Wave) -> None:
    """The wave's failback scripts under `in a failback:`, each key given (none: it runs no such step then)."""
    if wave.failback is None or not wave.failback.given():
        return
    branch = node.add("in a failback (each replaces the steps of its kind above):")
    names = {"preLaunch": "pre-launch", "postLaunch": "post-launch", "healthCheck": "health check"}
    for key, steps in wave.failback.scripts:
        if not steps:
            branch.add(f"{names[key]}: none")
        for script in steps:
            branch.add(_script_line(names[key], script, wave.wave_id))


def _print_plan(plan: Plan, info: dict[str, Any], console: Console, resolved: Resolved | None = None) -> None:
    if resolved is not None:
        plan = resolved.plan
    servers = sum(len(wave["servers"]) for wave in info["waves"])
    title = f"[bold]{escape(plan.plan_id)}[/bold]"
    if plan.name:
        title += f" - {escape(plan.name)}"
    tree = Tree(f"{title} ({_count(len(plan.waves), 'wave')}, {_count(servers, 'server')})")
    by_id = {wave["waveId"]: wave for wave in info["waves"]}
    for number, layer in enumerate(info["layers"], start=1):
        together = "starts first" if number == 1 else "starts when its dependencies complete"
        if len(layer) > 1:
            together += f"; these {len(layer)} waves can run together"
        branch = tree.add(f"[cyan]Layer {number}[/cyan] ({together})")
        for wave_id in layer:
            _wave_node(branch, plan.wave(wave_id), by_id[wave_id], resolved)
    console.print(tree)
    console.print(f"[bold]Critical path:[/bold] {escape(' -> '.join(info['criticalPath']))}")
    if plan.reprotects:
        console.print("[bold]After a failback:[/bold] protection restarts in the original direction (reprotect)")
    limits = info["quotas"]["limits"]
    packed = "; with launch packing (the default) a layer's chunks share jobs" if info["quotas"].get("packing") else ""
    table = Table(
        title=(
            f"DRS quotas: {limits['serversPerJob']} servers per job, "
            f"{limits['concurrentJobs']} concurrent jobs, "
            f"{limits['serversInAllJobs']} servers in all active jobs{packed}"
        )
    )
    for column in ("Layer", "Waves", "Jobs", "Servers", "Rounds", "Queued"):
        table.add_column(column)
    for row in info["quotas"]["layers"]:
        table.add_row(
            str(row["index"] + 1),
            escape(", ".join(row["waves"])),
            str(row["jobs"]),
            str(row["servers"]),
            str(len(row["rounds"])),
            "[yellow]yes[/yellow]" if row["queued"] else "no",
        )
    console.print(table)


def _profile_servers(profile_path: Path, plan: Plan) -> list[tuple[str, dict[str, str]]]:
    """The source servers a local run on `profile_path` has: the profile's (with their tags) and the plan's
    listed ones (a local run registers them; tagged only if the profile tags them)."""
    from localcloud.profile import ProfileError, load_profile

    try:
        profile = load_profile(profile_path)
    except ProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--sim") from None
    tags = {sid: dict(server.tags) if server is not None else {} for sid, server in profile.drs.servers.items()}
    for wave in plan.waves:
        for sid in wave.server_ids:
            tags.setdefault(sid, {})
    return sorted(tags.items())


def _account_servers(region: str | None) -> list[tuple[str, dict[str, str]]]:
    """The account's source servers with their tags (DescribeSourceServers, every page, with the caller's
    credentials), but those replicating back (FAILBACK), as StartPlan reads them."""
    import boto3

    from orchestrator.adapters.drs import Drs

    items = Drs(boto3.client("drs", region_name=region)).list_source_servers()
    return [
        (str(item["sourceServerID"]), {str(k): str(v) for k, v in (item.get("tags") or {}).items()})
        for item in items
        if item.get("replicationDirection") != "FAILBACK"
    ]


def _resolve(
    plan: Plan, plan_path: Path, servers: list[tuple[str, dict[str, str]]], source: str, console: Console
) -> Resolved:
    """The plan's selectors resolved against `servers`; the problems (with the plan's lines) exit 2."""
    resolution = resolve_selectors(plan, servers, lines=_lines(plan_path), source=str(plan_path))
    if resolution.plan is None or resolution.problems:
        _report(PlanError(list(resolution.problems), str(plan_path)), console, f"{plan_path} against {source}")
        raise typer.Exit(EXIT_INVALID)
    by_wave: dict[str, list[Selection]] = {}
    for selection in resolution.selections:
        by_wave.setdefault(selection.wave_id, []).append(selection)
    selectors = {w.wave_id: dict(w.source_server_tags) for w in plan.waves if w.source_server_tags}
    return Resolved(resolution.plan, selectors, by_wave, source)


def show(
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN", help="Plan file (YAML or JSON).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the same information as JSON.")] = False,
    sim: Annotated[
        Path | None,
        typer.Option(help="resolve the plan's sourceServerTags against this simulation profile's source servers"),
    ] = None,
    aws: Annotated[
        bool,
        typer.Option("--aws", help="resolve the plan's sourceServerTags against the account (DescribeSourceServers)"),
    ] = False,
    region: Annotated[str | None, typer.Option(help="AWS region for --aws")] = None,
) -> None:
    """Show what a run will do: dependency layers, critical path, DRS jobs and quotas, scripts, approvals, and
    with --sim or --aws which servers each wave's sourceServerTags select (and why each server is in its wave)."""
    console = _console(wrap=True)
    if sim is not None and aws:
        raise typer.BadParameter("resolve against a simulation profile or the account, not both", param_hint="--sim")
    try:
        plan = load_plan(plan_path)
    except PlanError as error:
        _report(error, console, str(plan_path))
        raise typer.Exit(EXIT_INVALID) from None
    resolved = None
    if has_selectors(plan) and sim is not None:
        resolved = _resolve(plan, plan_path, _profile_servers(sim, plan), f"profile {sim}", console)
    elif has_selectors(plan) and aws:
        resolved = _resolve(plan, plan_path, _account_servers(region), "the account", console)
    info = describe(plan, resolved=resolved)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _print_plan(plan, info, console, resolved)


def register(app: typer.Typer) -> None:
    """Add `validate` and `show` to the main CLI."""
    app.command("validate")(validate)
    app.command("show")(show)
