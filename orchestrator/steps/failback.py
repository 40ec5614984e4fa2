"""Failback: start a FAILBACK execution from a completed RECOVERY execution (issue #15 item 4).

`start_failback` answers a `Failback` command (the bus, or the operator endpoint): every check first, each refusal a
ControlRejected (command Failback) that changes nothing; then the recovery is claimed for this failback (one failback
per recovery: `Ledger.claim_failback`), the EC2 origins' replication is reversed (ReverseReplication, idempotent:
an instance reversed already is found through its source server's `reversedDirectionSourceServerArn`), and the
failback execution is created with its frozen plan (`orchestrator.domain.failback.failback_plan`) and design, its
root waves released. From there it is an ordinary execution: the same steps run it, and three of them ask the design
what a failback wave does differently (`wave_design`): the preflight (`gate_problems`: instances ready to launch back,
reversed servers replicating), the launch (StartFailbackLaunch instead of StartRecovery) and the packer (a failback
launch is never packed with recoveries).

Refusals: a real failback (not a drill) that did not come from the operator endpoint (which checked its caller is a
recovery principal) or whose `confirmFailback` is not the plan's id; an unknown execution; one that is not a
RECOVERY, is itself a failback, or has not COMPLETED; one another failback holds; no server launched; a recovery
instance DRS no longer knows or that is failing back already; a failback drill of a non-EC2 origin; a wave of both
kinds of origin; a run-command step of an on-premises wave that would run on the wave's recovery instances (which
are not where its servers come back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from events.models import OPERATOR_SOURCE, Failback, Mode, PlanStarted, WaveReady
from orchestrator.adapters.drs import DrsConflict, DrsError
from orchestrator.domain.execution import drill_ttl, frozen_plan
from orchestrator.domain.failback import (
    FailbackDesign,
    FailbackPath,
    RecoveredServer,
    RecoveryInstanceView,
    ReversedServer,
    failback_plan,
    instance_problems,
    origin_target,
    wave_paths,
)
from orchestrator.domain.launch_judgement import listed
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import Plan, Script, ScriptType, Wave, for_failback, plan_to_document
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.status import ExecutionStatus
from orchestrator.domain.targets import TargetUnavailable
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.refusals import reject_command
from orchestrator.steps.targets import waves_by_target

COMMAND = Failback.DETAIL_TYPE
MAX_EXECUTION_ID = 128  # an execution id's length (StartPlan.executionId, ControlEvent.executionId)


class FailbackRefused(Exception):
    """Why a Failback is refused (its ControlRejected reason)."""


def failback_execution_id(detail: Failback) -> str:
    """The failback execution's id: the command's, else `failback-<recovery execution id>` (one per recovery;
    `failback-drill-<...>` for a drill, so a drill never takes the real failback's id); a recovery id too long for
    that (StartPlan allows 128 characters) keeps its first 90 and a digest of the whole, so two long ids that differ
    only at the end get two ids."""
    if detail.failback_execution_id:
        return detail.failback_execution_id
    prefix = "failback-drill-" if detail.drill else "failback-"
    default = f"{prefix}{detail.execution_id}"
    if len(default) <= MAX_EXECUTION_ID:
        return default
    digest = hashlib.sha256(detail.execution_id.encode()).hexdigest()[:16]
    return f"{prefix}{detail.execution_id[:90]}-{digest}"


def start_failback(rt: Runtime, detail: Failback, event_id: str, *, source: str) -> str | None:
    """Start the failback execution of `detail.execution_id` (see the module). Its id, or None when refused."""
    failback_id = failback_execution_id(detail)
    try:
        existing = _repeat(rt, detail, failback_id)
        if existing is not None:
            return existing
        recovery, plan = _checked_recovery(rt, detail, source)
        recovered = _recovered(rt, recovery, plan)
        views = _views(rt, plan, recovered)
        returning = for_failback(plan)  # the plan with its failback steps in place
        paths = _paths(returning, recovered, views, drill=detail.drill)
        if not detail.drill:  # a drill moves nothing for real: it claims nothing
            _claim(rt, recovery.execution_id, failback_id)
        try:
            reversed_ = _reverse(rt, plan, recovered, views, paths)
        except FailbackRefused:
            if not detail.drill:  # refused: the claim goes back, as no execution was made
                rt.ledger.release_failback(recovery.execution_id, failback_id)
            raise
    except FailbackRefused as exc:
        _reject(rt, detail, event_id, str(exc))
        return None
    design = FailbackDesign(
        of=recovery.execution_id,
        paths=paths,
        instances={
            (
                reversed_[s.source_server_id].source_server_id
                if s.source_server_id in reversed_
                else s.source_server_id
            ): (s.recovery_instance_id)
            for s in recovered
        },
        originals={r.source_server_id: original for original, r in reversed_.items()},
        reprotect=detail.reprotect if detail.reprotect is not None else plan.reprotects,
    )
    frozen = failback_plan(returning, recovered, paths, reversed_)
    return _create(rt, detail, event_id, failback_id, frozen, design)


def _claim(rt: Runtime, recovery_id: str, failback_id: str) -> None:
    """Claim the recovery for this failback (one real failback per recovery), taking over from a spent one (it ended
    CANCELLED or FAILED without launching anything back), else FailbackRefused naming the holder."""
    holder = rt.ledger.claim_failback(recovery_id, failback_id)
    if holder is not None and _spent(rt, holder):
        logger.info("the recovery's earlier failback is spent: claim taken over", holder=holder)
        holder = rt.ledger.claim_failback(recovery_id, failback_id, replacing=holder)
    if holder is not None:
        raise FailbackRefused(
            f"execution '{recovery_id}' is failed back by '{holder}' already (one failback per recovery: retry or "
            "skip that execution's waves instead)"
        )


def _spent(rt: Runtime, failback_id: str) -> bool:
    """Whether a failback ended (CANCELLED or FAILED) without launching any server back: another may replace it.
    One that launched something is not (its servers are home: a second failback would launch them again)."""
    execution = rt.ledger.execution(failback_id)
    if execution is None or execution.status not in (ExecutionStatus.CANCELLED, ExecutionStatus.FAILED):
        return False
    return not any(
        result.launched or result.job_id
        for wave in rt.ledger.waves(failback_id)
        for result in rt.ledger.wave_servers(failback_id, wave.wave_id).values()
    )


def _repeat(rt: Runtime, detail: Failback, failback_id: str) -> str | None:
    """The failback execution when this command repeats its start (nothing more to do), None when it is to be made.
    FailbackRefused when the id belongs to another execution."""
    existing = rt.ledger.execution(failback_id)
    if existing is None or existing.status is ExecutionStatus.CREATING:
        return None
    mode = Mode.DRILL if detail.drill else Mode.RECOVERY
    if existing.failback is not None and existing.failback.get("of") == detail.execution_id and existing.mode == mode:
        logger.info("Failback repeats the start of a failback execution: nothing to do", execution_id=failback_id)
        return failback_id
    raise FailbackRefused(
        f"failbackExecutionId '{failback_id}' belongs to another execution (plan '{existing.plan_id}', "
        f"{existing.mode}, {existing.status}), which this refusal does not affect"
    )


def _checked_recovery(rt: Runtime, detail: Failback, source: str) -> tuple[ExecutionRecord, Plan]:
    """The RECOVERY execution to fail back and its frozen plan, or FailbackRefused."""
    if not detail.drill and source != OPERATOR_SOURCE:
        metrics.add_metric(name="RecoveryRefused", unit="Count", value=1)
        raise FailbackRefused(
            "a failback (not a drill) moves production back: it starts only through the operator endpoint, for a "
            "caller AWS authenticated as one of the deploy's recovery principals (drs-orch failback EXECUTION "
            f"--confirm --aws); a Failback put on the bus (source {quote(source, 64)!r}) cannot prove who sent it"
        )
    recovery = rt.ledger.execution(detail.execution_id)
    if recovery is None:
        raise FailbackRefused(f"unknown execution '{quote(detail.execution_id, 128)}': nothing to fail back")
    if recovery.failback is not None:
        raise FailbackRefused(f"execution '{recovery.execution_id}' is a failback itself: fail back a RECOVERY")
    if recovery.mode != Mode.RECOVERY.value:
        raise FailbackRefused(
            f"execution '{recovery.execution_id}' is a {recovery.mode}: only a RECOVERY's servers run on the "
            "recovery side (a drill's instances are terminated, not failed back)"
        )
    if recovery.status is not ExecutionStatus.COMPLETED:
        raise FailbackRefused(
            f"execution '{recovery.execution_id}' is {recovery.status.value}, not COMPLETED: fail back a recovery "
            "that has completed"
        )
    plan = frozen_plan(recovery)
    running = moving_production(rt, plan.plan_id) if not detail.drill else None
    if running is not None:
        kind = "a failback" if running.failback is not None else "a RECOVERY"
        raise FailbackRefused(
            f"plan '{plan.plan_id}' has {kind} running ('{running.execution_id}'): a failback now would launch its "
            "servers on one side while that execution launches them on the other; let it end or cancel it first"
        )
    if not detail.drill and detail.confirm_failback != plan.plan_id:
        raise FailbackRefused(
            "a failback (not a drill) moves production back: the Failback must carry confirmFailback equal to the "
            f"planId ('{plan.plan_id}')"
        )
    return recovery, plan


def _recovered(rt: Runtime, recovery: ExecutionRecord, plan: Plan) -> list[RecoveredServer]:
    """The servers the recovery launched (LAUNCHED, with a recovery instance), in plan order."""
    found = [
        RecoveredServer(wave.wave_id, sid, str(result.recovery_instance_id))
        for wave in plan.waves
        for sid, result in rt.ledger.wave_servers(recovery.execution_id, wave.wave_id).items()
        if result.launched and result.recovery_instance_id
    ]
    if not found:
        raise FailbackRefused(f"execution '{recovery.execution_id}' launched no server: nothing to fail back")
    return found


def _views(rt: Runtime, plan: Plan, recovered: Sequence[RecoveredServer]) -> dict[str, RecoveryInstanceView]:
    """Each recovered server's recovery instance as DRS describes it now, read in its wave's account and Region."""
    views: dict[str, RecoveryInstanceView] = {}
    for target, wave_ids in waves_by_target(plan, {s.wave_id for s in recovered}):
        ids = [s.recovery_instance_id for s in recovered if s.wave_id in wave_ids]
        try:
            items = rt.at(target).drs.describe_recovery_instances(recovery_instance_ids=ids)
        except TargetUnavailable as exc:
            raise FailbackRefused(exc.reason) from None
        except DrsError as exc:
            if exc.retryable:
                raise
            raise FailbackRefused(
                f"the recovery instances could not be read (DescribeRecoveryInstances: {exc})"
            ) from None
        views.update({v.recovery_instance_id: v for v in map(RecoveryInstanceView.from_item, items)})
    return views


def _paths(
    plan: Plan, recovered: Sequence[RecoveredServer], views: Mapping[str, RecoveryInstanceView], *, drill: bool
) -> dict[str, FailbackPath]:
    """Each wave's failback path, or FailbackRefused with every problem (`plan`: for failback, its failback steps in
    place)."""
    paths, problems = wave_paths(recovered, views)
    problems += instance_problems(recovered, views, drill=drill)
    problems += _script_problems(plan, paths)
    if problems:
        raise FailbackRefused(f"{len(problems)} problem(s): " + listed(problems))
    return paths


def _script_problems(plan: Plan, paths: Mapping[str, FailbackPath]) -> list[str]:
    """Steps of an on-premises wave (`plan` for failback: its failback steps in place) that would run on the wave's
    recovery instances: those stay in AWS while the servers come back on premises, so such a step runs nowhere
    useful (give the wave `failback:` steps with instanceIds or tags, or none)."""
    problems = []
    for wave in plan.waves:
        if paths.get(wave.wave_id) is not FailbackPath.FAILBACK_LAUNCH:
            continue
        for label, script in _scripts(wave):
            on_wave = script.targets is not None and script.targets.wave is not None
            if (script.type is ScriptType.SSM_DOCUMENT and on_wave) or script.recovery_instances_parameter:
                problems.append(
                    f"wave '{wave.wave_id}' {label} ({script.document_name}) runs on the wave's recovery instances, "
                    "which stay in AWS while its servers fail back on premises: give the wave failback steps "
                    "(failback: {postLaunch: [...]}) with instanceIds or tags, or none"
                )
    return problems


def _scripts(wave: Wave) -> list[tuple[str, Script]]:
    """The wave's steps with a label that names each (`postLaunch[1]`, `healthCheck`)."""
    return [
        (path if path == "healthCheck" else f"{path}[{index}]", script)
        for path, _, steps in wave.script_lists()
        for index, script in enumerate(steps)
    ]


def _reverse(
    rt: Runtime,
    plan: Plan,
    recovered: Sequence[RecoveredServer],
    views: Mapping[str, RecoveryInstanceView],
    paths: Mapping[str, FailbackPath],
) -> dict[str, ReversedServer]:
    """ReverseReplication of every recovery instance of a REVERSE_REPLICATION wave (all at once: the reversed
    servers' initial syncs run side by side, the launches then follow the dependency order), by the recovery's
    source server id. Idempotent: an instance reversed already (ConflictException) is found through its source
    server's reversedDirectionSourceServerArn. A refusal raises FailbackRefused (what was reversed stays: a Failback
    sent again goes on from there); a passing error is raised (the command is delivered again)."""
    _check_origins(rt, plan, recovered, paths)
    found: dict[str, ReversedServer] = {}
    for server in recovered:
        if paths.get(server.wave_id) is not FailbackPath.REVERSE_REPLICATION:
            continue
        there = rt.at(plan.wave(server.wave_id).target)
        try:
            arn = there.drs.reverse_replication(server.recovery_instance_id)
        except DrsConflict:
            arn = _reversed_already(there, server)
        except DrsError as exc:
            if exc.retryable:
                raise
            raise FailbackRefused(
                f"ReverseReplication of {server.recovery_instance_id} ({server.source_server_id}, wave "
                f"'{server.wave_id}') refused: {exc}"
            ) from None
        found[server.source_server_id] = ReversedServer.from_arn(arn)
        logger.info(
            "replication reversed",
            source_server_id=server.source_server_id,
            recovery_instance_id=server.recovery_instance_id,
            reversed_source_server_arn=arn,
        )
    return found


def _check_origins(
    rt: Runtime, plan: Plan, recovered: Sequence[RecoveredServer], paths: Mapping[str, FailbackPath]
) -> None:
    """Before any ReverseReplication: every origin Region the recovery-side source servers name
    (`sourceCloudProperties.originRegion`, in their account) answers DRS (one DescribeSourceServers there), so a
    Failback refused for an origin without DRS reverses nothing. FailbackRefused naming the servers and the Region."""
    origins: dict[tuple[str, str], tuple[Target | None, list[str]]] = {}
    for target, wave_ids in waves_by_target(plan, {s.wave_id for s in recovered}):
        ids = [
            s.source_server_id
            for s in recovered
            if s.wave_id in wave_ids and paths.get(s.wave_id) is FailbackPath.REVERSE_REPLICATION
        ]
        if not ids:
            continue
        for item in rt.at(target).drs.describe_source_servers(ids):
            cloud = item.get("sourceCloudProperties") or {}
            account = str(cloud.get("originAccountID") or (target.account_id if target else ""))
            if cloud.get("originRegion") and account:
                key = (account, str(cloud["originRegion"]))
                origins.setdefault(key, (target, []))[1].append(str(item["sourceServerID"]))
    for (account, region), (recovery_target, ids) in origins.items():
        try:
            rt.at(origin_target(recovery_target, account, region)).drs.describe_source_servers(ids[:1])
        except TargetUnavailable as exc:
            raise FailbackRefused(f"ReverseReplication toward {account}/{region} cannot run: {exc.reason}") from None
        except DrsError as exc:
            if exc.retryable:
                raise
            raise FailbackRefused(
                f"ReverseReplication toward {account}/{region} (origin of {listed(ids)}) cannot run: DRS there "
                f"answered {exc}; nothing was reversed"
            ) from None


def reversed_source_server_arn(there: Runtime, source_server_id: str) -> str | None:
    """The ARN of the source server replicating the other way for `source_server_id` (DescribeSourceServers'
    `reversedDirectionSourceServerArn`, read in `there`), None when it names none: how a ReverseReplication that
    answered ConflictException (reversed already) is followed."""
    items = there.drs.describe_source_servers([source_server_id])
    return next(
        (str(i["reversedDirectionSourceServerArn"]) for i in items if i.get("reversedDirectionSourceServerArn")), None
    )


def _reversed_already(there: Runtime, server: RecoveredServer) -> str:
    arn = reversed_source_server_arn(there, server.source_server_id)
    if arn is None:
        raise FailbackRefused(
            f"ReverseReplication of {server.recovery_instance_id} ({server.source_server_id}) answered a conflict, "
            "and its source server names no reversed source server"
        )
    return arn


def _create(
    rt: Runtime, detail: Failback, event_id: str, failback_id: str, plan: Plan, design: FailbackDesign
) -> str | None:
    from orchestrator.steps.start_plan import _wave_items

    mode = Mode.DRILL if detail.drill else Mode.RECOVERY
    outcome = rt.ledger.create_execution(
        execution_id=failback_id,
        plan_id=plan.plan_id,
        plan_name=plan.name or plan.plan_id,
        plan_document=plan_to_document(plan),
        mode=mode.value,
        requested_by=detail.requested_by,
        waves=_wave_items(plan),
        key=event_id,
        drill_ttl_seconds=drill_ttl(plan.defaults.drill_instance_ttl_seconds, None) if detail.drill else None,
        failback=design.record(),
    )
    if outcome is Outcome.REJECTED:
        _reject(rt, detail, event_id, f"failbackExecutionId '{failback_id}' was taken by another start meanwhile")
        return None
    roots = [w.wave_id for w in plan.waves if not w.depends_on]
    logger.info(
        "failback started",
        execution_id=failback_id,
        failback_of=design.of,
        waves={w: str(p) for w, p in design.paths.items()},
        outcome=outcome.value,
    )
    metrics.add_metric(name="FailbacksStarted", unit="Count", value=1)
    rt.bus.publish(
        PlanStarted(
            execution_id=failback_id,
            plan_id=plan.plan_id,
            mode=mode,
            plan_name=plan.name or plan.plan_id,
            wave_ids=plan.wave_ids,
            root_wave_ids=roots,
            failback_of=design.of,
        ),
        *[WaveReady(execution_id=failback_id, plan_id=plan.plan_id, wave_id=root) for root in roots],
    )
    return failback_id


def _reject(rt: Runtime, detail: Failback, event_id: str, reason: str) -> None:
    reject_command(rt, detail, event_id, quote(reason, 2000))


# ---- what the other steps ask of a failback execution ------------------------------------------------------


@dataclass(frozen=True)
class WaveDesign:
    """A failback execution's wave: its path, and its servers' recovery instances (by the plan's server id)."""

    path: FailbackPath
    instances: Mapping[str, str]


def moving_production(rt: Runtime, plan_id: str, *, apart_from: str | None = None) -> ExecutionRecord | None:
    """A RUNNING execution of the plan that moves production (a RECOVERY, or a real failback), but `apart_from`:
    while one runs, another would launch the same servers on the other side (the executions index: one started a
    moment ago may be missed)."""
    for execution_id in rt.ledger.running_executions(plan_id):
        if execution_id == apart_from:
            continue
        execution = rt.ledger.execution(execution_id)
        if execution is not None and execution.mode == Mode.RECOVERY.value:
            return execution
    return None


def wave_design(execution: ExecutionRecord, wave_id: str) -> WaveDesign | None:
    """How a failback execution's wave fails back (None: not a failback execution, or not a wave of it)."""
    if execution.failback is None:
        return None
    design = FailbackDesign.from_record(execution.failback)
    path = design.path(wave_id)
    return None if path is None else WaveDesign(path, design.instances)
