"""Failing a wave: the one write and the one event every failure path shares.

A wave fails from whatever state its caller expects (`from_`), once (a conditional write keyed by the
cause), the execution remembers it, and WaveFailed carries the reason and the wave's onFailure policy,
so the progress step applies STOP or CONTINUE and a rollback terminates what the wave launched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from events.models import ServerLaunch, WaveFailed
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.launch_judgement import _named
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime

REASON_LIMIT = 4000  # characters of a reason kept in the ledger and sent in WaveFailed


def fail_wave(
    rt: Runtime,
    execution: ExecutionRecord,
    wave_id: str,
    *,
    from_: Iterable[str],
    reason: str,
    key: str,
    attempt: int,
    failed_servers: Sequence[ServerLaunch] = (),
    changes: WaveChanges | None = None,
    decided_by: str | None = None,
) -> bool:
    """`from_` -> FAILED with `reason`, then WaveFailed. Returns False when the wave was not in `from_`
    (already failed, closed or moved on: nothing is written or published). `changes`: what the failure
    writes besides its reason (e.g. `launched_at`)."""
    execution_id, plan_id = execution.execution_id, execution.plan_id
    reason = reason[:REASON_LIMIT]
    outcome = rt.ledger.finish_wave(
        execution_id,
        wave_id,
        from_=list(from_),
        to=WaveStatus.FAILED,
        key=key,
        changes=replace(changes or WaveChanges(), reason=reason),
        decided_by=decided_by,
    )
    if not outcome.proceed:
        return False
    rt.ledger.record_execution_failure(execution_id, wave_id)
    metrics.add_metric(name="WavesFailed", unit="Count", value=1)
    logger.warning("wave failed", wave_id=wave_id, reason=reason)
    rt.bus.publish(
        WaveFailed(
            execution_id=execution_id,
            plan_id=plan_id,
            wave_id=wave_id,
            attempt=attempt,
            reason=reason,
            on_failure=frozen_plan(execution).wave(wave_id).on_failure.value,
            failed_servers=_named(failed_servers),
            failed_servers_total=len(failed_servers),
        )
    )
    return True
