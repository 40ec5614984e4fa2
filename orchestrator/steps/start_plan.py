"""StartPlan: validate the plan, create the execution and its waves, release the root waves.

A StartPlan that is refused (a malformed event, an invalid plan, an unconfirmed RECOVERY, a script naming an
SSM document outside the deploy's allow-list or passing parameters its document does not declare) is answered
with PlanFailed, which pages the operators, only when its executionId is free. When the id belongs to an
execution that was started already, a PlanFailed would read as that execution failing (a false page): the
refusal is a ControlRejected (command StartPlan) instead, and the execution is not touched. A second
StartPlan with a started execution's id and a different plan or mode is refused the same way; one with the
same plan and mode is a repeat of the start, and changes nothing.

The plan comes inline (`plan`) or from the plan store (`planRef`: a stored plan's id and version, for a plan too
large for an event): the version is read (its SHA-256 checked against the one recorded when it was pushed), judged
exactly as an inline plan is, and the execution records which version and digest it froze (`planRef` on the
execution, in the report). An unknown plan or version, a version whose text changed, or a deployment without a
plan store refuses the start as an invalid plan does, with nothing created.

A RECOVERY (a real failover) starts only from a StartPlan the operator endpoint published (`OPERATOR_SOURCE`),
which checked that its caller, authenticated by AWS, is one of the deploy's recovery principals: a StartPlan
put on the bus cannot prove who sent it, and IAM on PutEvents cannot tell a drill from a recovery by the
event's content. One from any other source is refused before anything else is read. The operator source is
trusted only with the operator's proof (orchestrator/steps/operator_proof.py, checked by the handler): one
without is refused by `reject_unproven`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from events.models import (
    OPERATOR_SOURCE,
    SOURCE,
    ControlRejected,
    Mode,
    PlanFailed,
    PlanStarted,
    Problem,
    StartPlan,
    WaveReady,
)
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.plan_store import PlanStoreError
from orchestrator.adapters.ssm import SsmError
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.execution import drill_ttl, execution_id_for, frozen_plan
from orchestrator.domain.objectives import declared_at_problem
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import (
    Plan,
    check_plan,
    has_launch_settings,
    has_selectors,
    plan_to_document,
    resolve_selectors,
)
from orchestrator.domain.plan import Problem as PlanProblem
from orchestrator.domain.plan.documents import (
    MAX_DOCUMENTS,
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
    script_steps,
    too_many_documents,
)
from orchestrator.domain.plan.lambda_functions import FunctionAllowList, disallowed_functions
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.resolution import parse_record, resolution_record, submitted_digest
from orchestrator.domain.staging import has_staging, resolve_staging, staging_accounts, staging_servers
from orchestrator.domain.stored_plans import CorruptStoredPlan, StoredPlan, UnknownStoredPlan
from orchestrator.domain.targets import TargetUnavailable
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.network_preflight import network_refusal
from orchestrator.steps.refusals import refuse
from orchestrator.steps.targets import waves_by_target

#: Problems carried by one PlanFailed, each field cut short: the event stays far below EventBridge's
#: 256 KiB whatever the plan (a plan can have thousands of problems, and quote long values).
MAX_EVENT_PROBLEMS = 50
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # StartPlan.executionId


def _problems(items: list[Any]) -> list[Problem]:
    return [
        Problem(
            message=quote(p.message, 500),
            code=quote(p.code, 64),
            wave_id=quote(p.wave_id, 128) if p.wave_id is not None else None,
            path=quote(p.path, 256) if p.path is not None else None,
            line=p.line,
        )
        for p in items[:MAX_EVENT_PROBLEMS]
    ]


def _counted(problems: list[Any]) -> str:
    listed = "" if len(problems) <= MAX_EVENT_PROBLEMS else f", the first {MAX_EVENT_PROBLEMS} listed"
    return f"{len(problems)} problem(s){listed}"


def _refuse_start(
    rt: Runtime,
    event_id: str | None,
    *,
    execution_id: str,
    plan_id: str,
    reason: str,
    errors: list[Problem],
    requested_by: str | None,
) -> None:
    """Refuse a StartPlan: PlanFailed when its executionId is free, else ControlRejected (the execution
    that holds the id carries on, and no PlanFailed pages for it)."""
    existing = rt.ledger.execution(execution_id)
    answer: PlanFailed | ControlRejected
    if existing is None:
        answer = PlanFailed(execution_id=execution_id, plan_id=plan_id, reason=reason, errors=errors)
    else:
        logger.warning(
            "refused StartPlan reuses a started execution's id",
            execution_id=execution_id,
            status=existing.status,
        )
        metrics.add_metric(name="ControlRejected", unit="Count", value=1)
        answer = ControlRejected(
            execution_id=execution_id,
            command=StartPlan.DETAIL_TYPE,
            requested_by=quote(requested_by or "unknown", 256),
            reason=(
                f"executionId '{execution_id}' belongs to an execution of plan '{existing.plan_id}' "
                f"({existing.status}), which this refusal does not affect; the StartPlan was refused: "
                f"{quote(reason, 400)}"
            ),
        )
    if event_id is None:  # nothing to recognise a redelivery by
        rt.bus.publish(answer)
    else:
        refuse(rt, event_id, answer)


def reject_start(rt: Runtime, raw_detail: Any, event_id: str | None, exc: ValidationError) -> None:
    """A StartPlan whose detail is not even a StartPlan: say so on the bus (once per event), create nothing.
    Its executionId is used only if it is a well-formed one (never a cut-down copy of something longer)."""
    detail = raw_detail if isinstance(raw_detail, dict) else {}
    given = detail.get("executionId")
    well_formed = isinstance(given, str) and _EXECUTION_ID.match(given) is not None
    execution_id = given if well_formed else f"exec-{event_id or 'unknown'}"[:128]
    plan, ref = detail.get("plan"), detail.get("planRef")
    plan_id = plan.get("planId") if isinstance(plan, dict) else ref.get("planId") if isinstance(ref, dict) else None
    errors = [
        Problem(
            message=quote(error["msg"], 500),
            code=error["type"],
            path=quote(".".join(str(part) for part in error["loc"]), 256) or None,
        )
        for error in exc.errors()[:MAX_EVENT_PROBLEMS]
    ]
    logger.warning("malformed StartPlan rejected", execution_id=execution_id, errors=len(errors))
    requested_by = detail.get("requestedBy")
    _refuse_start(
        rt,
        event_id,
        execution_id=str(execution_id),
        plan_id=quote(plan_id, 128) if isinstance(plan_id, str) and plan_id else "unknown",
        reason="malformed StartPlan event",
        errors=errors,
        requested_by=requested_by if isinstance(requested_by, str) else None,
    )


def _create_execution(
    rt: Runtime,
    detail: StartPlan,
    plan: Plan,
    record: dict[str, Any] | None,
    stored: StoredPlan | None,
    *,
    execution_id: str,
    event_id: str,
) -> Outcome:
    """Create the execution of `plan` as `detail` starts it: its frozen plan, how its selectors were resolved
    (`record`), the stored version it runs, when the disaster was declared and, for a drill, its time to live (the
    shorter of the plan's and the StartPlan's)."""
    return rt.ledger.create_execution(
        execution_id=execution_id,
        plan_id=plan.plan_id,
        plan_name=plan.name or plan.plan_id,
        plan_document=plan_to_document(plan),
        mode=detail.mode.value,
        requested_by=detail.requested_by,
        waves=_wave_items(plan),
        key=event_id,
        resolution=record,
        plan_ref=stored.record() if stored is not None else None,
        declared_at=iso(parse_iso(detail.declared_at)) if detail.declared_at else None,
        drill_ttl_seconds=drill_ttl(plan.defaults.drill_instance_ttl_seconds, detail.drill_instance_ttl_seconds)
        if detail.mode is Mode.DRILL
        else None,
    )


def start_plan(rt: Runtime, detail: StartPlan, event_id: str, *, source: str = SOURCE) -> str | None:
    """Validate the plan, create the execution and its waves, release the root waves. `source`: the event's
    (a RECOVERY is started only from OPERATOR_SOURCE)."""
    execution_id = execution_id_for(detail, event_id)
    plan_id = quote(detail.plan_id, 128) if detail.plan_id else "unknown"
    if detail.mode is Mode.RECOVERY and source != OPERATOR_SOURCE:
        _unauthenticated_recovery(rt, detail, event_id, execution_id=execution_id, plan_id=plan_id, source=source)
        return None
    document, stored = _document(rt, detail, event_id, execution_id=execution_id, plan_id=plan_id)
    if document is None:
        return None
    plan, problems = _checked(document, stored)
    if plan is None or problems:
        logger.warning("invalid plan rejected", execution_id=execution_id, problems=len(problems))
        _refuse_start(
            rt,
            event_id,
            execution_id=execution_id,
            plan_id=plan_id,
            reason=f"invalid plan: {_counted(problems)}",
            errors=_problems(problems),
            requested_by=detail.requested_by,
        )
        return None
    if _refused_as_submitted(rt, detail, plan, execution_id=execution_id, event_id=event_id):
        return None
    submitted = plan_to_document(plan)
    resolved = _resolved(rt, detail, plan, submitted, execution_id=execution_id, event_id=event_id)
    if resolved is None:
        return None
    plan, record = resolved
    if _refused_as_resolved(rt, detail, plan, execution_id=execution_id, event_id=event_id):
        return None
    outcome = _create_execution(rt, detail, plan, record, stored, execution_id=execution_id, event_id=event_id)
    if outcome is Outcome.REJECTED:
        _reused_id(rt, detail, event_id, execution_id, submitted)
        return None
    roots = [w.wave_id for w in plan.waves if not w.depends_on]
    logger.info(
        "plan started",
        execution_id=execution_id,
        plan_id=plan.plan_id,
        waves=len(plan.waves),
        outcome=outcome.value,
        plan_version=stored.version if stored is not None else None,
        plan_sha256=stored.sha256 if stored is not None else None,
    )
    rt.bus.publish(
        PlanStarted(
            execution_id=execution_id,
            plan_id=plan.plan_id,
            mode=detail.mode,
            plan_name=plan.name or plan.plan_id,
            wave_ids=plan.wave_ids,
            root_wave_ids=roots,
        ),
        *[WaveReady(execution_id=execution_id, plan_id=plan.plan_id, wave_id=root) for root in roots],
    )
    return execution_id


def _refused_as_submitted(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Whether the valid plan, as submitted, is refused (and the refusal published): a RECOVERY without its
    confirmation, or scripts outside the allow-list."""
    return (
        _unconfirmed_recovery(rt, detail, plan, execution_id=execution_id, event_id=event_id)
        or _failing_back(rt, detail, plan, execution_id=execution_id, event_id=event_id)
        or _refused_scripts(rt, detail, plan, execution_id=execution_id, event_id=event_id)
    )


def _failing_back(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Refuse (True) a RECOVERY of a plan whose failback runs: its servers would launch on the recovery side again
    while they come home. Judged only before the execution exists (a redelivery of a started one is not refused)."""
    if detail.mode is not Mode.RECOVERY or rt.ledger.execution(execution_id) is not None:
        return False
    from orchestrator.steps.failback import moving_production

    running = moving_production(rt, plan.plan_id, apart_from=execution_id)
    if running is None or running.failback is None:
        return False
    reason = (
        f"plan '{plan.plan_id}' is failing back (execution '{running.execution_id}' runs): a RECOVERY now would launch "
        "its servers on the recovery side again while they come home; let the failback end or cancel it first"
    )
    logger.warning(
        "recovery refused: its plan is failing back", execution_id=execution_id, failback=running.execution_id
    )
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        reason=reason,
        errors=[Problem(message=reason, code="failback_running", path="mode")],
        requested_by=detail.requested_by,
    )
    return True


def _refused_as_resolved(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Whether the plan, its selectors resolved, is refused (and the refusal published): launch settings that do
    not fit the account's network, or a declaredAt out of range."""
    return _refused_network(rt, detail, plan, execution_id=execution_id, event_id=event_id) or _refused_declared_at(
        rt, detail, plan, execution_id=execution_id, event_id=event_id
    )


def _checked(document: dict[str, Any], stored: StoredPlan | None) -> tuple[Plan | None, list[PlanProblem]]:
    """`check_plan` of the document to start; a stored version must hold the plan its reference names."""
    source = "StartPlan.plan" if stored is None else f"stored plan {stored.plan_id}:{stored.version}"
    plan, problems = check_plan(document, source=source)
    if plan is not None and stored is not None and plan.plan_id != stored.plan_id:
        message = f"stored plan {stored.plan_id}:{stored.version} holds plan '{quote(plan.plan_id, 128)}'"
        return None, [PlanProblem(message, "stored-plan-id-mismatch", path="planId")]
    return plan, problems


def _document(
    rt: Runtime, detail: StartPlan, event_id: str, *, execution_id: str, plan_id: str
) -> tuple[dict[str, Any] | None, StoredPlan | None]:
    """The plan document to start: the inline `plan`, or the stored version `planRef` names (read from the plan
    store, its SHA-256 checked) with that version. (None, None) when the start was refused here: no plan store in
    this deployment, no such plan or version, a version whose text is not what was pushed, or a store that cannot
    be read (nothing is created). A passing error (throttling, a 5xx) is raised: the StartPlan is delivered again."""
    ref = detail.plan_ref
    if ref is None:
        return detail.plan, None
    problem: Problem
    if rt.plan_store is None:
        problem = Problem(
            message="this deployment has no plan store (PLAN_BUCKET_NAME): a StartPlan must carry its plan inline",
            code="no_plan_store",
            path="planRef",
        )
    else:
        try:
            stored = rt.plan_store.get(ref.plan_id, ref.version)
        except UnknownStoredPlan as exc:
            problem = Problem(message=quote(str(exc), 500), code="unknown_plan_version", path="planRef")
        except CorruptStoredPlan as exc:
            problem = Problem(message=quote(str(exc), 500), code="corrupt_stored_plan", path="planRef")
        except PlanStoreError as exc:
            if exc.retryable:
                raise
            problem = Problem(message=quote(str(exc), 500), code="plan_store_unreadable", path="planRef")
        else:
            logger.info(
                "stored plan read",
                execution_id=execution_id,
                plan_id=stored.plan_id,
                version=stored.version,
                sha256=stored.sha256,
            )
            return stored.document, stored
    logger.warning("StartPlan refused: its stored plan cannot be run", execution_id=execution_id, code=problem.code)
    metrics.add_metric(name="StoredPlanRefused", unit="Count", value=1)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan_id,
        reason=f"stored plan {ref.plan_id}:{ref.version} cannot be run: {problem.message}",
        errors=[problem],
        requested_by=detail.requested_by,
    )
    return None, None


def _resolved(
    rt: Runtime, detail: StartPlan, plan: Plan, submitted: dict[str, Any], *, execution_id: str, event_id: str
) -> tuple[Plan, dict[str, Any] | None] | None:
    """The plan to freeze and the record of how its tag selectors were resolved (None: it has none), or None
    when the start was answered here (refused, or a repeat of a started execution's start).

    The selectors are resolved once per execution. When the execution exists with its frozen plan, a StartPlan
    with the same plan (a redelivery, or the same start again) takes that frozen plan and record, whatever the
    tags are now: it neither starts anything twice nor is refused because a tag changed; another plan under
    its id is refused by `_reused_id`. Only a start that crashed before its plan was stored resolves again."""
    if not has_selectors(plan) and not has_staging(plan):
        return plan, None
    existing = rt.ledger.execution(execution_id)
    if existing is not None:
        if existing.plan_document != "{}" and _same_plan(existing, submitted):
            return frozen_plan(existing), parse_record(existing.resolution)
        if existing.plan_document != "{}" or (existing.start_key or existing.last_key) != event_id:
            _reused_id(rt, detail, event_id, execution_id, submitted)
            return None
    selected = (
        _resolve(rt, detail, plan, submitted, execution_id=execution_id, event_id=event_id)
        if has_selectors(plan)
        else (plan, None)
    )
    if selected is None or not has_staging(plan):
        return selected
    resolved = _resolve_staging(rt, detail, selected[0], execution_id=execution_id, event_id=event_id)
    if resolved is None:
        return None
    record = selected[1] or {"submittedSha256": submitted_digest(submitted), "waves": {}}
    return resolved, record


def _resolve_staging(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> Plan | None:
    """The plan with each server replicated in a staging account resolved to its extended source server in this
    account (DescribeSourceServers filtered on the plan's stagingAccountIDs), frozen like tag selection; a server
    not extended yet keeps its staging id (its wave's preflight names it). None: the start was refused because the
    extended source servers could not be read (a passing error is raised: the StartPlan is delivered again)."""
    accounts = staging_accounts(plan)
    try:
        resolved = _extended_per_target(rt, plan)
    except DrsError as exc:
        if exc.retryable:
            raise
        message = quote(f"the extended source servers could not be read (DescribeSourceServers: {exc})", 500)
        _refuse_start(
            rt,
            event_id,
            execution_id=execution_id,
            plan_id=plan.plan_id,
            reason=f"staging servers refused: {message}",
            errors=_problems([PlanProblem(message, "source-servers-unreadable", path="waves")]),
            requested_by=detail.requested_by,
        )
        return None
    waiting = [s.source_server_id for w in resolved.waves for s in w.servers if s.awaits_extension]
    logger.info(
        "staging servers resolved to extended source servers",
        execution_id=execution_id,
        staging_accounts=accounts,
        staging_servers=len(staging_servers(plan)),
        not_extended=waiting[:20],
    )
    return resolved


def _extended_per_target(rt: Runtime, plan: Plan) -> Plan:
    """`plan` with each wave's staging servers resolved to the extended source servers of the wave's own recovery
    account and Region (its target's; the own account's for a wave without one). A target whose role STS refuses
    resolves nothing here: its wave's preflight fails it, naming the role and the account."""
    groups = waves_by_target(plan)
    if all(target is None for target, _ in groups):
        return resolve_staging(plan, rt.drs.extended_source_servers(staging_accounts(plan)))
    resolved = {}
    for target, wave_ids in groups:
        accounts = sorted(
            {str(s.staging_account_id) for w in plan.waves if w.wave_id in wave_ids for s in w.servers if s.is_staging}
        )
        if not accounts:
            continue
        try:
            there = rt.at(target)
        except TargetUnavailable:
            continue
        by_group = resolve_staging(plan, there.drs.extended_source_servers(accounts))
        resolved.update({w.wave_id: w for w in by_group.waves if w.wave_id in wave_ids})
    return plan.model_copy(update={"waves": [resolved.get(w.wave_id, w) for w in plan.waves]})


def _resolve(
    rt: Runtime, detail: StartPlan, plan: Plan, submitted: dict[str, Any], *, execution_id: str, event_id: str
) -> tuple[Plan, dict[str, Any]] | None:
    """Resolve the plan's tag selectors against the account's source servers (every DescribeSourceServers
    page); refuse the start (None) with every problem: a server selected by two waves, or listed in one and
    selected by another, a selector that selects nothing, or source servers that cannot be read."""
    servers, failback, unreadable = _source_servers(rt)
    if unreadable is not None:
        problems = [PlanProblem(unreadable, "source-servers-unreadable", path="waves")]
        resolution = None
    else:
        resolution = resolve_selectors(plan, servers, source="StartPlan.plan")
        problems = list(resolution.problems)
    if resolution is None or resolution.plan is None or problems:
        logger.warning(
            "plan refused: its tag selectors do not resolve",
            execution_id=execution_id,
            problems=[(p.code, p.path) for p in problems[:MAX_EVENT_PROBLEMS]],
        )
        metrics.add_metric(name="SelectorsRefused", unit="Count", value=1)
        _refuse_start(
            rt,
            event_id,
            execution_id=execution_id,
            plan_id=plan.plan_id,
            reason=f"tag selectors refused: {_counted(problems)}",
            errors=_problems(problems),
            requested_by=detail.requested_by,
        )
        return None
    record = resolution_record(plan, submitted, resolution, source_servers=len(servers), failback=failback)
    logger.info(
        "tag selectors resolved",
        execution_id=execution_id,
        source_servers=len(servers),
        selected={
            wave_id: len(resolution.plan.wave(wave_id).servers) - entry["listed"]
            for wave_id, entry in record["waves"].items()
        },
    )
    return resolution.plan, record


def _source_servers(rt: Runtime) -> tuple[list[tuple[str, dict[str, str]]], int, str | None]:
    """The account's source servers as (id, tags), how many were left out because they replicate back
    (replicationDirection FAILBACK: the source server DRS keeps for a recovery instance failing back, which
    may carry its origin's tags but is not a server to recover), and why they could not be read (None: they
    could). A passing error (throttling) is raised: the StartPlan is delivered again."""
    try:
        items = rt.drs.list_source_servers()
    except DrsError as exc:
        if exc.retryable:
            raise
        return [], 0, quote(f"the source servers could not be read (DescribeSourceServers: {exc})", 500)
    failback = [item for item in items if item.get("replicationDirection") == "FAILBACK"]
    if failback:
        logger.info(
            "source servers replicating back (FAILBACK) left out of tag selection: they stand for recovery "
            "instances failing back, not for servers to recover",
            count=len(failback),
            source_server_ids=[str(item.get("sourceServerID")) for item in failback[:20]],
        )
    servers = [
        (str(item["sourceServerID"]), {str(k): str(v) for k, v in (item.get("tags") or {}).items()})
        for item in items
        if item.get("replicationDirection") != "FAILBACK" and item.get("sourceServerID")
    ]
    return servers, len(failback), None


def _wave_items(plan: Plan) -> list[dict[str, Any]]:
    """The ledger's first view of each wave: its dependencies and dependents, policy and servers."""
    dependents: dict[str, list[str]] = {w.wave_id: [] for w in plan.waves}
    for wave in plan.waves:
        for dependency in wave.depends_on:
            dependents[dependency].append(wave.wave_id)
    return [
        {
            "waveId": wave.wave_id,
            "dependsOn": list(wave.depends_on),
            "dependents": dependents[wave.wave_id],
            "onFailure": wave.on_failure.value,
            "servers": {
                s.source_server_id: {"criticality": s.criticality.value, "launchStatus": "NOT_STARTED"}
                for s in wave.servers
            },
        }
        for wave in plan.waves
    ]


def _unconfirmed_recovery(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Refuse (True) a RECOVERY whose confirmRecovery is not the plan's id: a real failover is confirmed."""
    if detail.mode is not Mode.RECOVERY or detail.confirm_recovery == plan.plan_id:
        return False
    logger.warning("recovery start without confirmation refused", execution_id=execution_id)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        reason="RECOVERY mode is a real failover: StartPlan must carry confirmRecovery equal to the planId",
        errors=[
            Problem(
                message="confirmRecovery missing or not equal to planId",
                code="unconfirmed_recovery",
                path="confirmRecovery",
            )
        ],
        requested_by=detail.requested_by,
    )
    return True


def _unauthenticated_recovery(
    rt: Runtime, detail: StartPlan, event_id: str, *, execution_id: str, plan_id: str, source: str
) -> None:
    """Refuse a RECOVERY StartPlan that did not come through the operator endpoint: nothing is created."""
    logger.warning(
        "RECOVERY StartPlan refused: not from the operator endpoint",
        execution_id=execution_id,
        source=source,
        requested_by=detail.requested_by,
    )
    metrics.add_metric(name="RecoveryRefused", unit="Count", value=1)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan_id,
        reason=(
            "RECOVERY mode is a real failover: it starts only through the operator endpoint, for a caller AWS "
            "authenticated as one of the deploy's recovery principals (drs-orch run --recovery --aws); a StartPlan "
            "put on the bus cannot prove who sent it"
        ),
        errors=[
            Problem(
                message=f"a RECOVERY StartPlan from source {quote(source, 64)!r}, not from the operator endpoint",
                code="unauthenticated_recovery",
                path="mode",
            )
        ],
        requested_by=detail.requested_by,
    )


def reject_unproven(rt: Runtime, detail: StartPlan, event_id: str, exc: ValueError) -> None:
    """Refuse a StartPlan that names the operator source without the operator's valid proof: nothing is
    created (whatever its mode: its requestedBy is no verified caller)."""
    execution_id = execution_id_for(detail, event_id)
    if detail.mode is Mode.RECOVERY:
        metrics.add_metric(name="RecoveryRefused", unit="Count", value=1)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=quote(detail.plan_id, 128) if detail.plan_id else "unknown",
        reason=(
            "a StartPlan from the operator source without the operator endpoint's proof: only the operator "
            "endpoint publishes that source (drs-orch run --aws, or --recovery --aws)"
        ),
        errors=[Problem(message=quote(str(exc), 500), code="unproven_operator_command", path="operatorProof")],
        requested_by=detail.requested_by,
    )


def _refused_network(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Refuse the start (True) when a server's launch settings ask for what the account's network does not have
    (`network_refusal`: a subnet, a group, a static IP, an instance type), so a bad IP in the last wave is refused
    before the first wave launches. Checked only for a plan with launch settings, and only before its execution
    exists: a redelivered StartPlan of a started execution is not judged again on a network its own launches
    have since changed."""
    if not has_launch_settings(plan) or rt.ledger.execution(execution_id) is not None:
        return False
    refusal = network_refusal(rt, plan, detail.mode)
    if refusal is None:
        return False
    reason, problems = refusal
    logger.warning(
        "plan refused: its launch settings do not fit the account's network",
        execution_id=execution_id,
        problems=[(p.code, p.path) for p in problems[:MAX_EVENT_PROBLEMS]],
    )
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        reason=reason,
        errors=_problems(problems),
        requested_by=detail.requested_by,
    )
    return True


def _refused_declared_at(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Refuse the start (True) when its explicit declaredAt is in the future (beyond the clock skew allowed) or too
    long ago (`orchestrator.domain.objectives.declared_at_problem`). Checked only before its execution exists: a
    redelivered StartPlan of a started execution is not judged again by a later clock."""
    if detail.declared_at is None or rt.ledger.execution(execution_id) is not None:
        return False
    try:
        problem = declared_at_problem(parse_iso(detail.declared_at), rt.clock.now())
    except ValueError:  # the pattern's shape, but no calendar time (February 30th, year 0)
        problem = f"declaredAt {quote(detail.declared_at, 40)!r} is not a calendar date and time"
    if problem is None:
        return False
    logger.warning("plan refused: its declaredAt is out of range", execution_id=execution_id, problem=problem)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        reason=f"declaredAt refused: {problem}",
        errors=[Problem(message=problem, code="declared-at-out-of-range", path="declaredAt")],
        requested_by=detail.requested_by,
    )
    return True


def _refused_scripts(rt: Runtime, detail: StartPlan, plan: Plan, *, execution_id: str, event_id: str) -> bool:
    """Refuse the start (True) when the plan's scripts may not run as written (`_script_refusal`)."""
    refusal = _script_refusal(rt, plan)
    if refusal is None:
        return False
    reason, problems = refusal
    logger.warning(
        "plan refused: its scripts may not run as written",
        execution_id=execution_id,
        problems=[(p.code, p.path) for p in problems[:MAX_EVENT_PROBLEMS]],
    )
    metrics.add_metric(name="ScriptsRefused", unit="Count", value=1)
    _refuse_start(
        rt,
        event_id,
        execution_id=execution_id,
        plan_id=plan.plan_id,
        reason=reason,
        errors=_problems(problems),
        requested_by=detail.requested_by,
    )
    return True


def _script_refusal(rt: Runtime, plan: Plan) -> tuple[str, list[PlanProblem]] | None:
    """Why the plan's scripts may not run (the reason and every problem), or None: a script naming an SSM
    document outside the deploy's allow-list (`Settings.allowed_ssm_documents`), a LAMBDA step naming a function
    outside the deploy's allowed functions (`Settings.allowed_lambda_functions`), or one whose parameters are
    not those its document declares (DescribeDocument, once per document). Nothing is sent to any instance."""
    allowed = AllowList.parse(rt.settings.allowed_ssm_documents)
    refused = disallowed_documents(plan, allowed)
    functions = FunctionAllowList.parse(rt.settings.allowed_lambda_functions)
    refused_functions = disallowed_functions(plan, functions)
    names = documents_to_describe(plan, allowed)
    wrong = [too_many_documents(len(names))] if len(names) > MAX_DOCUMENTS else _document_problems(rt, plan, names)
    parts = []
    if refused:
        parts.append(f"{len(refused)} script(s) name an SSM document outside the allow-list ({quote(allowed, 300)})")
    if wrong:
        parts.append(f"{len(wrong)} problem(s) with the scripts' documents or parameters")
    if refused_functions:
        parts.append(
            f"{len(refused_functions)} LAMBDA step(s) name a function outside the allowed Lambda functions "
            f"({quote(functions, 300)})"
        )
    if not parts:
        return None
    problems = refused + wrong + refused_functions
    listed = "" if len(problems) <= MAX_EVENT_PROBLEMS else f" (the first {MAX_EVENT_PROBLEMS} listed)"
    return f"scripts refused: {'; '.join(parts)}{listed}", problems


def _document_problems(rt: Runtime, plan: Plan, names: list[str]) -> list[PlanProblem]:
    """The scripts whose parameters are not those their document declares, each document read in the account and
    Region of the waves that run it (a wave's target; a target whose role STS refuses is skipped here: that wave's
    preflight fails it, naming the role and the account)."""
    groups = waves_by_target(plan)
    if all(target is None for target, _ in groups):
        return parameter_problems(plan, {name: _declared(rt, name) for name in names})
    found: list[PlanProblem] = []
    for target, wave_ids in groups:
        used = {step.document for step in script_steps(plan) if step.wave_id in wave_ids}
        try:
            there = rt.at(target)
        except TargetUnavailable:
            continue
        declared = {name: _declared(there, name) for name in names if name in used}
        found.extend(p for p in parameter_problems(plan, declared) if p.wave_id in wave_ids)
    return found


def _declared(rt: Runtime, document: str) -> DocumentParameters | str:
    """The document's parameters, or why they cannot be read (it does not exist, or may not be read). A
    passing error (throttling) is raised: the StartPlan is delivered again."""
    if rt.ssm is None:
        raise RuntimeError("this runtime has no SSM client")
    try:
        return rt.ssm.document_parameters(document)
    except SsmError as exc:
        if exc.retryable:
            raise
        return f"DescribeDocument: {exc}"


def _same_plan(existing: ExecutionRecord, submitted: dict[str, Any]) -> bool:
    """Whether the execution was started with the plan `submitted` (as StartPlan gave it, before its tag
    selectors were resolved): the digest its resolution record keeps, else its frozen plan (a plan without
    selectors is frozen as it was submitted)."""
    record = parse_record(existing.resolution)
    if record is not None:
        return bool(record.get("submittedSha256") == submitted_digest(submitted))
    return existing.plan_document == json.dumps(submitted, sort_keys=True)


def _reused_id(rt: Runtime, detail: StartPlan, event_id: str, execution_id: str, submitted: dict[str, Any]) -> None:
    """Another StartPlan created this execution: the same start again changes nothing; a different plan or
    mode under its id is refused (ControlRejected), and the execution carries on. `submitted`: the plan as
    this StartPlan gives it (its selectors unresolved)."""
    existing = rt.ledger.execution(execution_id)
    same = existing is not None and _same_plan(existing, submitted) and existing.mode == detail.mode.value
    if same:
        logger.info("StartPlan repeats the start of an execution: nothing to do", execution_id=execution_id)
        return
    logger.warning("execution id already used by a StartPlan with another plan or mode", execution_id=execution_id)
    plan_id, mode, status = (existing.plan_id, existing.mode, existing.status) if existing else (None, None, None)
    metrics.add_metric(name="ControlRejected", unit="Count", value=1)
    refuse(
        rt,
        event_id,
        ControlRejected(
            execution_id=execution_id,
            command=StartPlan.DETAIL_TYPE,
            requested_by=detail.requested_by,
            reason=(
                f"executionId '{execution_id}' belongs to an execution of plan '{plan_id}' ({mode}, {status}) "
                "started with another plan or mode: refused, and that execution is not affected"
            ),
        ),
    )
