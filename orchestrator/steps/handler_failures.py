"""A handler that keeps failing on the same event is never silent, and never leaves a wave stuck.

Every failed handling is logged with its error and counted per event and function in the ledger
(`FAILURE#<event id>`). Until the retry budget (`Settings.handler_attempts`, the deliveries Lambda makes
of an asynchronous invocation) is spent, the error is raised again so the platform retries: throttling
and other passing trouble clear up. At the last delivery the handler gives up on the event: the wave it
names fails with the error as its reason (FAILED from any state before it ends), so the wave's onFailure
policy applies, the plan ends and its report is written; a WAIT step of the wave still running ends Cancelled
with that reason (`scripts.end_waits_of_failed_wave`), as the other steps end on their own completion. An
event that names no wave that can still fail is raised once more and reaches the dead-letter queue (which is
alarmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain.status import EXECUTION_FINAL, FAILABLE_WAVE
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.scripts import end_waits_of_failed_wave
from orchestrator.steps.wave_failure import REASON_LIMIT, fail_wave


def describe(exc: BaseException) -> str:
    """`Type: message`, one line, as it goes into a wave's reason."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def give_up(rt: Runtime, event: Mapping[str, Any], function: str, exc: BaseException) -> bool:
    """Record a failed handling of `event` by `function`. True when the handler has given up on it (the
    wave it names has failed with the error as reason, or the event is stale): the caller returns
    normally. False: the caller raises again (the platform retries, or dead-letters at the end)."""
    event_id = str(event.get("id") or "")
    detail_type = str(event.get("detail-type") or "event")
    error = describe(exc)
    if not event_id:
        return False
    attempts = rt.ledger.count_handler_failure(event_id, function, error)
    metrics.add_metric(name="HandlerErrors", unit="Count", value=1)
    logger.exception(
        "handler failed", function=function, attempts=attempts, budget=rt.settings.handler_attempts, error=error
    )
    if attempts < rt.settings.handler_attempts:
        return False
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    execution_id, wave_id = detail.get("executionId"), detail.get("waveId")
    if not isinstance(execution_id, str) or not isinstance(wave_id, str):
        logger.error("handler gave up on an event that names no wave: dead-lettered", function=function)
        return False
    return _fail_named_wave(
        rt,
        execution_id,
        wave_id,
        detail,
        reason=(f"{detail_type} could not be handled after {attempts} attempts ({function}): {error}"),
        key=event_id,
    )


def _fail_named_wave(
    rt: Runtime, execution_id: str, wave_id: str, detail: Mapping[str, Any], *, reason: str, key: str
) -> bool:
    execution = rt.ledger.execution(execution_id)
    wave = rt.ledger.wave(execution_id, wave_id) if execution is not None else None
    if execution is None or wave is None or execution.status in EXECUTION_FINAL:
        logger.error(
            "handler gave up on an event of an unknown or finished execution: dead-lettered",
            execution_id=execution_id,
            wave_id=wave_id,
        )
        return False
    named_attempt = detail.get("attempt")
    if isinstance(named_attempt, int) and named_attempt != wave.attempt:
        logger.warning(
            "handler gave up on an event of an earlier attempt of the wave: dropped",
            wave_id=wave_id,
            event_attempt=named_attempt,
            attempt=wave.attempt,
        )
        return True
    if wave.status not in FAILABLE_WAVE:
        logger.error(
            "handler gave up, and the wave cannot fail from its state: dead-lettered",
            wave_id=wave_id,
            status=wave.status.value,
        )
        return False
    metrics.add_metric(name="HandlerGaveUp", unit="Count", value=1)
    failed = fail_wave(
        rt, execution, wave_id, from_=[wave.status], reason=reason, key=f"gave-up:{key}", attempt=wave.attempt
    )
    if failed:  # a wait of the wave would stay RUNNING: its tick concludes nothing once the wave left its phase
        end_waits_of_failed_wave(rt, execution, wave_id, reason=reason[:REASON_LIMIT], key=f"gave-up:{key}")
    return failed
