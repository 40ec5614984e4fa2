"""WaveReady: the approval gate, the preflight, then READY -> PRE_LAUNCH and the wave's pre-launch scripts
(whose end publishes PreLaunchDone; their ticks are handled in `orchestrator.steps.scripts`).

The execution and the wave are read once, here, and passed to the gate, the preflight and the scripts."""

from __future__ import annotations

from events.models import WaveReady
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps import objectives
from orchestrator.steps.approval import held_for_approval
from orchestrator.steps.preflight import gate as preflight_gate
from orchestrator.steps.scripts import run_phase


def on_wave_ready(rt: Runtime, detail: WaveReady, event_id: str) -> None:
    """The approval gate, then READY -> PRE_LAUNCH and the pre-launch scripts."""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        logger.warning("WaveReady for an unknown execution", execution_id=detail.execution_id)
        return
    if execution.status != ExecutionStatus.RUNNING:
        logger.info(
            "wave held: execution is not running",
            execution_id=detail.execution_id,
            wave_id=detail.wave_id,
            status=execution.status.value,
        )
        return
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if wave is None:
        logger.warning("WaveReady for an unknown wave", execution_id=detail.execution_id, wave_id=detail.wave_id)
        return
    if detail.attempt != wave.attempt:
        # a late copy of an earlier attempt's WaveReady (EventBridge delivers at least once) must not start the
        # retried wave as that attempt: its PreLaunchDone would be stale for the wave's attempt, and the
        # attempt's own WaveReady would find the wave past READY (a later attempt: refused by check_claims)
        logger.info(
            "WaveReady of another attempt ignored",
            wave_id=detail.wave_id,
            attempt=detail.attempt,
            wave_attempt=wave.attempt,
        )
        return
    objectives.on_wave_ready(rt, execution, wave)  # the RTO ticks (the first root wave), or deadlines already past
    if held_for_approval(rt, execution, wave, detail, event_id):
        return
    if preflight_gate(rt, execution, wave, detail, event_id):  # READY -> FAILED before any script or launch
        return
    outcome = rt.ledger.transition_wave(
        detail.execution_id,
        detail.wave_id,
        from_=[WaveStatus.READY],
        to=WaveStatus.PRE_LAUNCH,
        key=event_id,
        changes=WaveChanges(pre_launch_at=rt.ledger.now()),
        attempt=detail.attempt,  # not retried since it was read
    )
    if not outcome.proceed:
        logger.info("duplicate or stale WaveReady ignored", wave_id=detail.wave_id)
        return
    run_phase(rt, execution, wave_id=detail.wave_id, attempt=detail.attempt, phase="PRE_LAUNCH", key=event_id)
