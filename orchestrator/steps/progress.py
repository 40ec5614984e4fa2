"""The ledger's side of the choreography: close waves, release dependents, apply failure policy and
close the plan. Every step is a conditional write, so duplicates and replays change nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from events.models import (
    PlanCancelled,
    PlanCompleted,
    PlanFailed,
    PostLaunchDone,
    WaveCompleted,
    WaveFailed,
    WaveReady,
    WaveSkipped,
)
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import Plan, downstream, layers
from orchestrator.domain.records import REOPEN_CLEARS, ExecutionRecord, WaveRecord
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges
from orchestrator.domain.status import ACTIVE_WAVE, EXECUTION_FINAL, NOT_STARTED_WAVE, ExecutionStatus, WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime


def on_post_launch_done(rt: Runtime, detail: PostLaunchDone, event_id: str) -> None:
    outcome = rt.ledger.finish_wave(
        detail.execution_id,
        detail.wave_id,
        from_=[WaveStatus.POST_LAUNCH],
        to=WaveStatus.COMPLETED,
        key=event_id,
        changes=WaveChanges(completed_at=rt.ledger.now()),
    )
    if not outcome.proceed:
        logger.info("duplicate PostLaunchDone ignored", wave_id=detail.wave_id)
        return
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        return
    # release first (the critical path of the plan); the dependents come from the frozen plan
    plan = frozen_plan(execution)
    dependents = [w.wave_id for w in plan.waves if detail.wave_id in w.depends_on]
    released = _release(rt, execution, detail.wave_id, dependents, key=event_id)
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    launched = (wave.current.servers_launched or 0) if wave else 0
    metrics.add_metric(name="WavesCompleted", unit="Count", value=1)
    rt.bus.publish(
        WaveCompleted(
            execution_id=detail.execution_id,
            plan_id=detail.plan_id,
            wave_id=detail.wave_id,
            attempt=detail.attempt,
            servers_launched=launched,
            servers_failed=(wave.server_count if wave else 0) - launched,
            released_wave_ids=released,
        )
    )
    # read after this handler's terminal write (finish_wave): its terminal count includes this wave
    close_plan_if_done(rt, detail.execution_id, key=event_id, execution=execution)


def release_dependents(rt: Runtime, execution: ExecutionRecord, wave: WaveRecord, *, key: str) -> list[str]:
    """Count `wave` as met on each of its dependents; the write that reaches zero releases that wave."""
    return _release(rt, execution, wave.wave_id, wave.dependents, key=key)


def _release(
    rt: Runtime, execution: ExecutionRecord, wave_id: str, dependents: Iterable[str], *, key: str
) -> list[str]:
    """Count `wave_id` as met on each of `dependents`; the write that reaches zero releases that wave (WaveReady)."""
    single = _single_dependency_waves(execution) if execution.status == ExecutionStatus.RUNNING else frozenset()
    released = [
        dependent
        for dependent in dependents
        if _release_one(rt, execution, wave_id, dependent, key=f"{key}:{dependent}", single=dependent in single)
    ]
    if released:
        rt.bus.publish(*[_wave_ready(rt, execution, w) for w in released])
    return released


def _wave_ready(rt: Runtime, execution: ExecutionRecord, wave_id: str) -> WaveReady:
    """The WaveReady of a wave just released, for the attempt the ledger has it at: its pre-launch step ignores a
    WaveReady of another attempt (a late copy must not start a retried wave as an earlier attempt)."""
    wave = rt.ledger.wave(execution.execution_id, wave_id)
    return WaveReady(
        execution_id=execution.execution_id,
        plan_id=execution.plan_id,
        wave_id=wave_id,
        attempt=wave.attempt if wave is not None else 1,
    )


def _release_one(
    rt: Runtime, execution: ExecutionRecord, wave_id: str, dependent: str, *, key: str, single: bool
) -> bool:
    """Count `wave_id` as met on `dependent`; True when that made it READY (or this event, replayed, had).
    `single`: `dependent` has no other dependency and the plan is running."""
    execution_id = execution.execution_id
    # a wave with one dependency is released by this write alone: count it and make it READY at once
    if single and rt.ledger.release_last(
        execution_id, dependent, released_by=wave_id, key=key, ready_at=rt.ledger.now()
    ):
        return True
    remaining = rt.ledger.release(execution_id, dependent, released_by=wave_id)
    if remaining is None:
        # already counted: a replay after a crash may still owe the WaveReady (read again: the conditional
        # write just found the wave otherwise than this handler knew it)
        current = rt.ledger.wave(execution_id, dependent)
        return current is not None and current.status == WaveStatus.READY and current.last_key == key
    return remaining == 0 and make_ready(rt, execution_id, dependent, key=key, execution=execution)


def _single_dependency_waves(execution: ExecutionRecord) -> frozenset[str]:
    return frozenset(w.wave_id for w in frozen_plan(execution).waves if len(w.depends_on) == 1)


def make_ready(
    rt: Runtime, execution_id: str, wave_id: str, *, key: str, execution: ExecutionRecord | None = None
) -> bool:
    """PENDING (with every dependency met) -> READY, unless the plan is paused or stopping.
    `execution` may be passed when it was read after the write that made the wave due."""
    execution = execution or rt.ledger.execution(execution_id)
    if execution is None or execution.status != ExecutionStatus.RUNNING:
        logger.info("release held", wave_id=wave_id, status=execution.status if execution else None)
        return False
    outcome = rt.ledger.transition_wave(
        execution_id,
        wave_id,
        from_=[WaveStatus.PENDING],
        to=WaveStatus.READY,
        key=key,
        changes=WaveChanges(ready_at=rt.ledger.now()),
    )
    return outcome.proceed


def on_wave_failed(rt: Runtime, detail: WaveFailed, event_id: str) -> None:
    """Apply the failed wave's policy: STOP the plan, or CONTINUE without everything downstream of it."""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        return
    failed = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if failed is None or failed.status != WaveStatus.FAILED or failed.attempt != detail.attempt:
        # a late redelivery of a failure an operator has since retried or skipped
        logger.info("stale WaveFailed ignored", wave_id=detail.wave_id, status=failed.status if failed else None)
        return
    plan = frozen_plan(execution)
    if detail.on_failure == "STOP":
        stop_plan(
            rt,
            execution,
            reason=f"wave {detail.wave_id} failed: {detail.reason}",
            key=event_id,
            stopped_by=detail.wave_id,
        )
    else:
        for wave_id in sorted(downstream(plan, detail.wave_id)):
            skip_wave(
                rt,
                execution,
                wave_id,
                reason=f"upstream wave {detail.wave_id} failed",
                because_of=detail.wave_id,
                key=f"{event_id}:{wave_id}",
                skipped_for=detail.wave_id,
            )
    # the execution is read again: the stop or the skips above changed its status and terminal count
    close_plan_if_done(rt, detail.execution_id, key=event_id)


def skip_wave(
    rt: Runtime,
    execution: ExecutionRecord,
    wave_id: str,
    *,
    reason: str,
    because_of: str | None,
    key: str,
    from_: list[str] | None = None,
    skipped_for: str | None = None,
) -> bool:
    """Close a wave that will not run. `skipped_for`: the failed wave it is skipped for (a RetryWave or
    SkipWave of that wave reopens it)."""
    outcome = rt.ledger.finish_wave(
        execution.execution_id,
        wave_id,
        from_=from_ or sorted(NOT_STARTED_WAVE),
        to=WaveStatus.SKIPPED,
        key=key,
        changes=WaveChanges(reason=reason, skipped_for=skipped_for or None),
    )
    if outcome is Outcome.REJECTED:
        return False
    rt.bus.publish(
        WaveSkipped(
            execution_id=execution.execution_id,
            plan_id=execution.plan_id,
            wave_id=wave_id,
            reason=reason,
            because_of=because_of,
        )
    )
    return True


def skip_wave_for_stop(rt: Runtime, execution: ExecutionRecord, wave_id: str, *, from_: list[str], key: str) -> None:
    """"""
    skip_wave(
        rt,
        execution,
        wave_id,
        reason=f"plan is {execution.status}",
        because_of=None,
        key=key,
        from_=from_,
        skipped_for=execution.stopped_by,
    )
    # the execution is read again: the skip changed its terminal count
    close_plan_if_done(rt, execution.execution_id, key=key)


def stop_plan(
    rt: Runtime,
    execution: ExecutionRecord,
    *,
    reason: str,
    key: str,
    cancel: bool = False,
    cancelled_by: str | None = None,
    stopped_by: str | None = None,
    terminate_on_cancel: bool = False,
    decided_by: str | None = None,
) -> bool:
    """Nothing new starts: waves not yet started are SKIPPED, running ones finish and are recorded.
    `stopped_by`: the failed wave whose STOP policy this is; `cancelled_by`: who cancelled the plan.
    """
    execution_id = execution.execution_id
    waves = rt.ledger.waves(execution_id)
    changes = ExecutionChanges(stop_reason=reason, stopped_by=stopped_by or None)
    if cancel:
        changes = replace(
            changes,
            cancel_requested=True,
            cancel_key=key,
            cancelled_by=cancelled_by or "unknown",
            running_wave_ids=tuple(sorted(w.wave_id for w in waves if w.status in ACTIVE_WAVE)),
            terminate_on_cancel=terminate_on_cancel,
        )
    outcome = rt.ledger.set_execution_status(
        execution_id,
        from_=[ExecutionStatus.RUNNING, ExecutionStatus.PAUSED],
        to=ExecutionStatus.STOPPING,
        key=key,
        changes=changes,
        decided_by=decided_by,
    )
    if outcome is Outcome.REJECTED:
        return False
    skip_not_started(rt, execution_id, key=key, waves=waves)
    return True


def skip_not_started(rt: Runtime, execution_id: str, *, key: str, waves: Sequence[WaveRecord] | None = None) -> None:
    """The stop's follow-up: every wave not started yet is SKIPPED (each once, keyed by the stop's `key`;
    a redelivery of the stop after a crash finishes what the first delivery did not). `waves`: the
    execution's waves when the caller has just read them."""
    # read after the stop's write: its reason and the wave that stopped it (this delivery's or the first's)
    stopped = rt.ledger.execution(execution_id)
    if stopped is None:
        return
    reason = stopped.stop_reason or f"plan is {stopped.status}"
    for wave in waves if waves is not None else rt.ledger.waves(execution_id):
        if wave.status in NOT_STARTED_WAVE:
            skip_wave(
                rt,
                stopped,
                wave.wave_id,
                reason=reason,
                because_of=None,
                key=f"{key}:{wave.wave_id}",
                skipped_for=stopped.stopped_by,
            )


def satisfies_dependents(wave: WaveRecord | None) -> bool:
    """A dependency is met by a COMPLETED wave, or one an operator skipped (SkipWave releases dependents)."""
    if wave is None:
        return False
    return wave.status == WaveStatus.COMPLETED or (wave.status == WaveStatus.SKIPPED and bool(wave.skipped_by))


def reopen_skipped_for(rt: Runtime, execution_id: str, wave_ids: str | set[str], *, key: str) -> list[str]:
    """The waves SKIPPED because a wave of `wave_ids` failed go back to PENDING, in dependency order, each with its
    remaining count recomputed from what its dependencies are now; a wave with a dependency that is still
    failed or skipped for another reason stays SKIPPED. Returns the waves made READY (WaveReady published).

    Idempotent: each reopen is conditional on the wave still being SKIPPED for `wave_id`, and counting a
    met dependency goes through `Ledger.release` (guarded by the set of waves that released it), so a
    dependency that completes while this runs is counted exactly once, by whichever side comes second."""
    execution = rt.ledger.execution(execution_id)
    if execution is None:
        return []
    causes = {wave_ids} if isinstance(wave_ids, str) else set(wave_ids)
    reopened = _reopen_in_order(rt, execution_id, frozen_plan(execution), causes, key=key)
    if not reopened:
        return []
    # count what completed meanwhile (and release what is due), whichever side counts it first: the waves are
    # read again, once, after the reopening writes (a dependency may have completed since the first read)
    waves = {w.wave_id: w for w in rt.ledger.waves(execution_id)}
    due: list[str] = []
    for candidate in sorted(reopened):
        # make_ready reads the execution again: after the write that made the wave due, so a pause is seen
        if _recount(rt, execution_id, candidate, waves) == 0 and make_ready(
            rt, execution_id, candidate, key=f"{key}:ready:{candidate}"
        ):
            due.append(candidate)
    if due:
        rt.bus.publish(
            *[
                WaveReady(execution_id=execution_id, plan_id=execution.plan_id, wave_id=w, attempt=waves[w].attempt)
                for w in due
            ]
        )
    return due


def _reopen_in_order(rt: Runtime, execution_id: str, plan: Plan, causes: set[str], *, key: str) -> set[str]:
    """Reopen, layer by layer, each wave SKIPPED for one of `causes` whose dependencies are not blocked;
    returns the waves reopened."""
    waves = {w.wave_id: w for w in rt.ledger.waves(execution_id)}
    reopened: set[str] = set()
    for layer in layers(plan):
        for candidate in layer:
            wave = waves.get(candidate)
            if wave is None or not _skipped_for(wave, causes) or _blocked(wave, waves, excused=reopened | causes):
                continue
            if _reopen(rt, execution_id, candidate, wave, waves, key=f"{key}:reopen:{candidate}"):
                reopened.add(candidate)
                waves[candidate] = wave.with_status(WaveStatus.PENDING)
    return reopened


def _skipped_for(wave: WaveRecord, causes: set[str]) -> bool:
    """SKIPPED because a wave of `causes` failed (not by an operator)."""
    return wave.status == WaveStatus.SKIPPED and wave.skipped_for in causes and not wave.skipped_by


def _blocked(wave: WaveRecord, waves: dict[str, WaveRecord], *, excused: set[str]) -> bool:
    """A dependency of `wave` is still failed or skipped for another reason (one in `excused`, reopened or
    being retried, does not block)."""
    blocking = [
        d
        for d in wave.depends_on
        if d not in excused
        and waves[d].status in {WaveStatus.FAILED, WaveStatus.SKIPPED}
        and not satisfies_dependents(waves[d])
    ]
    return bool(blocking)


def _reopen(
    rt: Runtime, execution_id: str, wave_id: str, wave: WaveRecord, waves: dict[str, WaveRecord], *, key: str
) -> bool:
    """SKIPPED to PENDING, with the remaining count and the releasing waves of what its dependencies are now,
    and the times of its attempt forgotten (`REOPEN_CLEARS`). False when the wave is no longer SKIPPED for the
    same cause (the write is conditional on it)."""
    deps = list(wave.depends_on)
    met = [d for d in deps if satisfies_dependents(waves[d])]
    outcome = rt.ledger.move_wave(
        execution_id,
        wave_id,
        from_=[WaveStatus.SKIPPED],
        to=WaveStatus.PENDING,
        key=key,
        changes=WaveChanges(remaining=len(deps) - len(met), released_by=frozenset(met) or None),
        removes=[*REOPEN_CLEARS, *(() if met else ("released_by",))],
        count=-1,
        where=WaveChanges(skipped_for=wave.skipped_for),
    )
    return outcome is not Outcome.REJECTED


def _recount(rt: Runtime, execution_id: str, wave_id: str, waves: Mapping[str, WaveRecord]) -> int | None:
    """Count on the reopened `wave_id` each dependency met by now (`Ledger.release` counts each once) and return
    how many remain; None when the wave is no longer PENDING. `waves`: the execution's waves, read after the
    reopening."""
    current = waves.get(wave_id)
    if current is None or current.status != WaveStatus.PENDING:
        return None
    remaining: int | None = None
    for dependency in current.depends_on:
        if satisfies_dependents(waves.get(dependency)):
            counted = rt.ledger.release(execution_id, wave_id, released_by=dependency)
            remaining = counted if counted is not None else remaining
    if remaining is None:
        # read again: the wave's count may have been written by the other side since `waves` was read
        now = rt.ledger.wave(execution_id, wave_id)
        remaining = now.remaining if now is not None else 1
    return remaining


_CLOSE_TRIES = 3  # judgements of how a plan ended, each after the status changed under the previous one


def close_plan_if_done(rt: Runtime, execution_id: str, *, key: str, execution: ExecutionRecord | None = None) -> None:
    """When every wave is terminal, close the execution once and publish how it ended.
    `execution` may be passed when it was read after this handler's terminal write."""
    execution = execution or rt.ledger.execution(execution_id)
    for _ in range(_CLOSE_TRIES):
        if execution is None or execution.status in EXECUTION_FINAL:
            return
        if execution.terminal_count < execution.wave_count:
            return
        waves = rt.ledger.waves(execution_id)
        failed = sorted(w.wave_id for w in waves if w.status == WaveStatus.FAILED)
        final = _final_status(execution, failed)
        # conditional on the status this judgement read: a cancel or a stop accepted since then (RUNNING ->
        # STOPPING) must be judged again, or a cancelled plan would close COMPLETED and PlanCancelled never go out
        outcome = rt.ledger.set_execution_status(execution_id, from_=[execution.status], to=final, key=f"close:{key}")
        if outcome is not Outcome.REJECTED:
            _announce_end(rt, execution, final, waves, failed)
            return
        execution = rt.ledger.execution(execution_id)
    logger.warning("plan not closed: its status kept changing", execution_id=execution_id)


def _final_status(execution: ExecutionRecord, failed: list[str]) -> ExecutionStatus:
    """How an execution whose waves are all terminal ends: CANCELLED, FAILED (a wave failed, or the plan was
    stopped) or COMPLETED."""
    if execution.cancel_requested:
        return ExecutionStatus.CANCELLED
    if failed or execution.status == ExecutionStatus.STOPPING:
        return ExecutionStatus.FAILED
    return ExecutionStatus.COMPLETED


def _announce_end(
    rt: Runtime, execution: ExecutionRecord, final: ExecutionStatus, waves: Sequence[WaveRecord], failed: list[str]
) -> None:
    """Publish how the execution ended (`final`): PlanCompleted, PlanCancelled or PlanFailed."""
    started = parse_iso(execution.started_at) if execution.started_at else rt.clock.now()
    duration = (rt.clock.now() - started).total_seconds()
    metrics.add_metric(name=f"Plans{final.title()}", unit="Count", value=1)
    logger.info("plan closed", execution_id=execution.execution_id, status=final.value, duration_seconds=duration)
    rt.bus.publish(_end_event(execution, final, waves, failed, duration))


def _end_event(
    execution: ExecutionRecord,
    final: ExecutionStatus,
    waves: Sequence[WaveRecord],
    failed: list[str],
    duration: float,
) -> PlanCompleted | PlanCancelled | PlanFailed:
    execution_id, plan_id = execution.execution_id, execution.plan_id
    if final is ExecutionStatus.COMPLETED:
        statuses = Counter(w.status for w in waves)
        return PlanCompleted(
            execution_id=execution_id,
            plan_id=plan_id,
            mode=execution.mode,
            waves_completed=statuses[WaveStatus.COMPLETED],
            waves_skipped=statuses[WaveStatus.SKIPPED],
            duration_seconds=duration,
        )
    if final is ExecutionStatus.CANCELLED:
        requested_by = execution.requested_by if execution.requested_by is not None else "unknown"
        return PlanCancelled(
            execution_id=execution_id,
            plan_id=plan_id,
            requested_by=execution.cancelled_by or requested_by,
            running_wave_ids=list(execution.running_wave_ids or ()),
        )
    reason = execution.stop_reason or f"{len(failed)} wave(s) failed: {', '.join(failed)}"
    return PlanFailed(execution_id=execution_id, plan_id=plan_id, reason=reason, failed_wave_ids=failed)
