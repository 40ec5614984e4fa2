"""Watching recovery time objectives while a run goes on: ObjectiveAtRisk, then ObjectiveMissed, once each.

An RTO counts from the execution's `declaredAt`. Its two deadlines (at risk: `objective_at_risk_percent` of it,
a deploy setting, default 80 %; missed: all of it) are one-time scheduler ticks (`ObjectiveTick`), armed when the
execution's first root wave is ready (its WaveReady, attempt 1: the moment the execution starts running) for the
plan's RTO and for every wave's own. A tick finds what its RTO measures still running, or not:

- the plan's RTO (the tick has no waveId): the execution has not ended; the event lists its waves that have not
  ended (COMPLETED, FAILED or SKIPPED);
- a wave's own RTO: the wave has not ended (PENDING behind a slow upstream wave counts: it will be late).

A wave without an RTO of its own does not inherit the plan's: the plan's is watched once, for the plan, so a plan
of many waves pages once, not once per wave (the plan's RTO is by definition its last wave's).

A deadline already past when it would be armed (an explicit declaredAt long before the start), and the deadlines
of a wave made ready again by a retry (or of the plan reopened by one), are checked at once instead of scheduled.

Each alert is claimed in the ledger (`claim_objective_alert`) with the event that announces it before it is
published, then marked announced: a duplicated, late or replayed tick publishes nothing more (a copy finding the
claim unannounced, its first delivery having died, announces it).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from events.models import BY_DETAIL_TYPE, MAX_ALERT_WAVES, ObjectiveAtRisk, ObjectiveMissed, ObjectiveTick
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.objectives import Alert, deadline, minutes_between
from orchestrator.domain.plan import Plan
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.status import EXECUTION_FINAL, WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime

ENDED_WAVE = frozenset({WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED})


def rtos(plan: Plan) -> dict[str | None, float]:
    """The RTOs a run watches, by scope: None for the plan's, a wave id for a wave's own (only those declared)."""
    found: dict[str | None, float] = {}
    if plan.objectives is not None and plan.objectives.rto_minutes is not None:
        found[None] = plan.objectives.rto_minutes
    for wave in plan.waves:
        if wave.objectives is not None and wave.objectives.rto_minutes is not None:
            found[wave.wave_id] = wave.objectives.rto_minutes
    return found


def declared_at(execution: ExecutionRecord) -> str | None:
    return execution.declared_at or execution.started_at


def on_wave_ready(rt: Runtime, execution: ExecutionRecord, wave: WaveRecord) -> None:
    """Arm the execution's RTO ticks on its first root wave's first WaveReady; on any later WaveReady (a retry, a
    reopened plan), check at once the deadlines already past of the plan's RTO and of this wave's own."""
    declared = declared_at(execution)
    if declared is None:
        return
    plan = frozen_plan(execution)
    watched = rtos(plan)
    if not watched:
        return
    first_root = next((w.wave_id for w in plan.waves if not w.depends_on), None)
    arming = wave.attempt == 1 and wave.wave_id == first_root
    scopes = watched if arming else {s: rto for s, rto in watched.items() if s in (None, wave.wave_id)}
    now = rt.clock.now()
    for scope, rto in scopes.items():
        for alert in Alert:
            due = deadline(declared, rto, alert, rt.settings.objective_at_risk_percent)
            if due <= now:
                check(rt, execution.execution_id, scope, alert)
            elif arming:
                _schedule(rt, execution, scope, alert, due)


def _schedule(rt: Runtime, execution: ExecutionRecord, scope: str | None, alert: Alert, due: datetime) -> None:
    """One tick at `due`, rounded up to the second (Scheduler's at() has whole seconds: never before `due`)."""
    when = due.replace(microsecond=0) + timedelta(seconds=math.ceil(due.microsecond / 1_000_000))
    name = schedule_name("objective", execution.execution_id, scope or "#plan", alert.value)
    tick = ObjectiveTick(execution_id=execution.execution_id, plan_id=execution.plan_id, wave_id=scope, alert=alert)
    rt.scheduler.at(name, when, tick)


def on_tick(rt: Runtime, detail: ObjectiveTick) -> None:
    check(rt, detail.execution_id, detail.wave_id, Alert(detail.alert))


def check(rt: Runtime, execution_id: str, wave_id: str | None, alert: Alert) -> None:
    """Publish the alert (once) if its deadline has passed and what the RTO measures still runs."""
    execution = rt.ledger.execution(execution_id)
    if execution is None or execution.status in EXECUTION_FINAL:
        return
    declared = declared_at(execution)
    rto = rtos(frozen_plan(execution)).get(wave_id)
    if declared is None or rto is None:
        logger.warning("objective tick for an RTO the plan does not declare", wave_id=wave_id, alert=alert.value)
        return
    now = rt.clock.now()
    percent = rt.settings.objective_at_risk_percent
    if now < deadline(declared, rto, alert, percent):
        logger.info("objective tick before its deadline: nothing yet", wave_id=wave_id, alert=alert.value)
        return
    running = [w.wave_id for w in rt.ledger.waves(execution_id) if w.status not in ENDED_WAVE]
    if wave_id is not None:
        running = [w for w in running if w == wave_id]
    if not running:
        return
    fields = {
        "execution_id": execution_id,
        "plan_id": execution.plan_id,
        "wave_id": wave_id,
        "objective_minutes": rto,
        "declared_at": declared,
        "deadline": iso(deadline(declared, rto, Alert.MISSED)),
        "elapsed_minutes": round(max(0.0, minutes_between(declared, iso(now))), 2),
        "running_wave_ids": running[:MAX_ALERT_WAVES],
        "running_wave_count": len(running),
    }
    event = ObjectiveAtRisk(**fields, at_risk_percent=percent) if alert is Alert.AT_RISK else ObjectiveMissed(**fields)
    _announce_once(rt, execution_id, wave_id, alert, event)


def _announce_once(
    rt: Runtime, execution_id: str, wave_id: str | None, alert: Alert, event: ObjectiveAtRisk | ObjectiveMissed
) -> None:
    earlier = rt.ledger.claim_objective_alert(
        execution_id, wave_id, alert.value, detail_type=event.DETAIL_TYPE, detail=event.to_detail()
    )
    if earlier is not None:
        if earlier.announced:
            logger.info("objective alert already announced", wave_id=wave_id, alert=alert.value)
            return
        event = BY_DETAIL_TYPE[earlier.detail_type].model_validate(earlier.detail)  # type: ignore[assignment]
    logger.warning(
        "recovery time objective at risk" if alert is Alert.AT_RISK else "recovery time objective missed",
        wave_id=wave_id,
        objective_minutes=event.objective_minutes,
        running=event.running_wave_count,
    )
    metrics.add_metric(name=event.DETAIL_TYPE, unit="Count", value=1)
    rt.bus.publish(event)
    rt.ledger.mark_objective_alert_announced(execution_id, wave_id, alert.value)
