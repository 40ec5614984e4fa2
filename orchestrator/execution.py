"""Starting an execution, and reading its frozen plan back."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from events.models import Mode, PlanFailed, PlanStarted, Problem, StartPlan, WaveReady
from orchestrator.ledger import Outcome
from orchestrator.observability import logger
from orchestrator.plan import Plan, check_plan, downstream, parse_plan, plan_to_document
from orchestrator.refusals import refuse
from orchestrator.runtime import Runtime


def execution_id_for(detail: StartPlan, event_id: str) -> str:
    """A StartPlan without an executionId gets one from its event id, so a redelivery is the same run."""
    return detail.execution_id or f"exec-{event_id}"


def _problems(items: list[Any]) -> list[Problem]:
    return [
        Problem(message=p.message, code=p.code, wave_id=p.wave_id, path=p.path, line=p.line) for p in items
    ]


def reject_start(rt: Runtime, raw_detail: Any, event_id: str | None, exc: ValidationError) -> None:
    """A StartPlan whose detail is not even a StartPlan: say so on the bus (once per event), create nothing."""
    detail = raw_detail if isinstance(raw_detail, dict) else {}
    execution_id = str(detail.get("executionId") or f"exec-{event_id or 'unknown'}")[:128]
    plan_id = str((detail.get("plan") or {}).get("planId", "unknown")) if isinstance(detail.get("plan"), dict) \
        else "unknown"
    errors = [
        Problem(message=error["msg"], code=error["type"],
                path=".".join(str(part) for part in error["loc"]) or None)
        for error in exc.errors()
    ]
    logger.warning("malformed StartPlan rejected", execution_id=execution_id, errors=len(errors))
    answer = PlanFailed(execution_id=execution_id, plan_id=plan_id or "unknown", reason="malformed StartPlan event",
                        errors=errors)
    if event_id is None:  # nothing to recognise a redelivery by
        rt.bus.publish(answer)
    else:
        refuse(rt, event_id, answer)


def start_plan(rt: Runtime, detail: StartPlan, event_id: str) -> str | None:
    """Validate the plan, create the execution and its waves, release the root waves."""
    execution_id = execution_id_for(detail, event_id)
    plan, problems = check_plan(detail.plan, source="StartPlan.plan")
    plan_id = str(detail.plan.get("planId") or detail.plan.get("PlanId") or "unknown")[:128]
    if plan is None or problems:
        logger.warning("invalid plan rejected", execution_id=execution_id, problems=len(problems))
        refuse(rt, event_id, PlanFailed(execution_id=execution_id, plan_id=plan_id,
                                        reason=f"invalid plan: {len(problems)} problem(s)",
                                        errors=_problems(problems)))
        return None
    if detail.mode is Mode.RECOVERY and detail.confirm_recovery != plan.plan_id:
        logger.warning("recovery start without confirmation refused", execution_id=execution_id)
        refuse(rt, event_id, PlanFailed(
            execution_id=execution_id, plan_id=plan.plan_id,
            reason="RECOVERY mode is a real failover: StartPlan must carry confirmRecovery equal to the planId",
            errors=[Problem(message="confirmRecovery missing or not equal to planId", code="unconfirmed_recovery",
                            path="confirmRecovery")]))
        return None
    dependents: dict[str, list[str]] = {w.wave_id: [] for w in plan.waves}
    for wave in plan.waves:
        for dependency in wave.depends_on:
            dependents[dependency].append(wave.wave_id)
    outcome = rt.ledger.create_execution(
        execution_id=execution_id, plan_id=plan.plan_id, plan_name=plan.name or plan.plan_id,
        plan_document=plan_to_document(plan), mode=detail.mode.value, requested_by=detail.requested_by,
        waves=[{
            "waveId": wave.wave_id, "dependsOn": list(wave.depends_on), "dependents": dependents[wave.wave_id],
            "onFailure": wave.on_failure.value,
            "servers": {s.source_server_id: {"criticality": s.criticality.value, "launchStatus": "NOT_STARTED"}
                        for s in wave.servers},
        } for wave in plan.waves],
        key=event_id,
    )
    if outcome is Outcome.REJECTED:
        logger.warning("execution id already used by another StartPlan", execution_id=execution_id)
        return None
    roots = [w.wave_id for w in plan.waves if not w.depends_on]
    logger.info("plan started", execution_id=execution_id, plan_id=plan.plan_id, waves=len(plan.waves),
                outcome=outcome.value)
    rt.bus.publish(
        PlanStarted(execution_id=execution_id, plan_id=plan.plan_id, mode=detail.mode,
                    plan_name=plan.name or plan.plan_id, wave_ids=plan.wave_ids, root_wave_ids=roots),
        *[WaveReady(execution_id=execution_id, plan_id=plan.plan_id, wave_id=root) for root in roots],
    )
    return execution_id


@lru_cache(maxsize=64)
def _parse_frozen(document: str) -> Plan:
    import json

    return parse_plan(json.loads(document), source="ledger")


def frozen_plan(execution: dict[str, Any]) -> Plan:
    """The plan exactly as it was when the execution started (cached per document)."""
    return _parse_frozen(execution["planDocument"])


def downstream_of(plan: Plan, wave_id: str) -> set[str]:
    return downstream(plan, wave_id)
