"""Does an event name what exists, and claim what the ledger says? Every handler asks before its step runs.

An event naming an execution that does not exist, a plan other than the execution's, a wave its plan
lacks, or a server not in that wave can never become valid: the handler drops it (logged, counted
InvalidEvents) instead of failing on it and having it retried into the dead-letter queue.

EventBridge's bus policy keeps others from publishing our internal events, but anyone allowed
`lambda:InvokeFunction` can hand a function any event directly. So the claims an internal event makes that
the ledger can check are checked too, and one the ledger contradicts is refused the same way (it can never
become valid either; a genuine event is published only after the ledger write it reports):

- WaveFailed carries its wave's onFailure from the frozen plan (a forged STOP would stop a CONTINUE plan);
- WaveReady, PreLaunchDone and PostLaunchDone name an attempt the wave has reached (a later one would start
  scripts no tick ever finds, and the wave would wait for ever);
- PreLaunchDone and PostLaunchDone of a wave that is in that phase of that attempt come after every script of
  the phase has ended, none of its required ones failed, or after a WAIT step a cancel cut short (a forged one
  would launch before the pre-launch scripts, or complete a wave and release its dependents before its
  post-launch scripts and health check).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from events.envelope import InvalidEvent
from events.models import DRSJobCompleted, DRSJobStarted, PostLaunchDone, PreLaunchDone, WaveFailed, WaveReady
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Script, Wave
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.ports import LedgerPort
from orchestrator.domain.records.scripts import FINAL_SCRIPT, ScriptStatus
from orchestrator.domain.status import ExecutionStatus
from orchestrator.runtime import Runtime


@dataclass(frozen=True, slots=True)
class _WaveIndex:
    """What the frozen plan says of one wave that events are checked against."""

    servers: frozenset[str]
    on_failure: str
    scripts: dict[str, int]  # phase (PRE_LAUNCH, POST_LAUNCH) -> its scripts (the health check included)
    waits: dict[str, frozenset[int]]  # phase -> the indexes of its WAIT steps

    @classmethod
    def of(cls, wave: Wave) -> _WaveIndex:
        post = len(wave.post_launch) + (1 if wave.health_check is not None else 0)
        scripts = {"PRE_LAUNCH": len(wave.pre_launch), "POST_LAUNCH": post}
        post_steps = [*wave.post_launch, *([wave.health_check] if wave.health_check is not None else [])]
        waits = {"PRE_LAUNCH": wait_indexes(wave.pre_launch), "POST_LAUNCH": wait_indexes(post_steps)}
        return cls(frozenset(wave.server_ids), wave.on_failure.value, scripts, waits)


def wait_indexes(steps: Sequence[Script]) -> frozenset[int]:
    """The indexes of the steps a cancel cuts short among a phase's `steps`: WAIT steps, and SSM_AUTOMATION steps
    (their runbook stopped: `scripts.end_waits`)."""
    return frozenset(index for index, step in enumerate(steps) if step.is_wait or step.is_automation)


_Index = tuple[str, dict[str, _WaveIndex]]  # plan id, wave id -> what the plan says of it
_INDEX_SIZE = 256
_indexes: WeakKeyDictionary[LedgerPort, OrderedDict[str, _Index]] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def _plan_index(rt: Runtime, execution_id: str) -> _Index | None:
    """The plan id, waves and servers of a started execution (None: no such execution). An execution's
    plan never changes, so the answer is kept per ledger (the most recent executions only)."""
    with _indexes_lock:
        cache = _indexes.setdefault(rt.ledger, OrderedDict())
        found = cache.get(execution_id)
        if found is not None:
            cache.move_to_end(execution_id)
            return found
    execution = rt.ledger.execution(execution_id)
    if execution is None or execution.status == ExecutionStatus.CREATING:  # a start cut short has no plan yet
        return None
    plan = frozen_plan(execution)
    index = (plan.plan_id, {wave.wave_id: _WaveIndex.of(wave) for wave in plan.waves})
    with _indexes_lock:
        cache[execution_id] = index
        while len(cache) > _INDEX_SIZE:
            cache.popitem(last=False)
    return index


def _servers_named(detail: Any) -> list[str]:
    if isinstance(detail, DRSJobStarted):
        return list(detail.source_server_ids)
    if isinstance(detail, DRSJobCompleted):
        return [server.source_server_id for server in detail.servers]
    if isinstance(detail, WaveFailed):
        return [server.source_server_id for server in detail.failed_servers]
    return []


def check_references(rt: Runtime, detail: Any) -> None:
    """Raise InvalidEvent when an event names an execution that does not exist, a plan other than the
    execution's, a wave its plan lacks, or a server not in that wave, or claims what the ledger contradicts
    (`check_claims`): such an event can never become valid, so every handler drops it (logged, counted
    InvalidEvents) instead of failing on it and having it retried into the dead-letter queue. Events without
    an executionId pass."""
    execution_id = getattr(detail, "execution_id", None)
    if not isinstance(execution_id, str):
        return
    detail_type = type(detail).DETAIL_TYPE
    index = _plan_index(rt, execution_id)
    if index is None:
        raise InvalidEvent(detail_type, [f"detail.executionId: no execution '{execution_id}'"])
    plan_id, waves = index
    errors: list[str] = []
    named_plan = getattr(detail, "plan_id", None)
    if isinstance(named_plan, str) and named_plan != plan_id:
        errors.append(f"detail.planId: execution '{execution_id}' runs plan '{plan_id}', not '{named_plan}'")
    wave_id = getattr(detail, "wave_id", None)
    planned = waves.get(wave_id) if isinstance(wave_id, str) else None
    if isinstance(wave_id, str):
        errors.extend(_wave_errors(detail, execution_id, wave_id, planned))
    if errors:
        raise InvalidEvent(detail_type, errors)
    if planned is not None:
        check_claims(rt, detail, planned)


def _wave_errors(detail: Any, execution_id: str, wave_id: str, planned: _WaveIndex | None) -> list[str]:
    if planned is None:
        return [f"detail.waveId: the plan of execution '{execution_id}' has no wave '{wave_id}'"]
    errors: list[str] = []
    unknown = sorted(set(_servers_named(detail)) - planned.servers)
    if unknown:
        listed = ", ".join(quote(server, 40) for server in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        errors.append(f"detail: source servers that are not in wave '{wave_id}': {listed}{more}")
    if isinstance(detail, WaveFailed) and detail.on_failure != planned.on_failure:
        errors.append(f"detail.onFailure: wave '{wave_id}' fails with onFailure {planned.on_failure} in its plan")
    return errors


_ATTEMPT_CHECKED = (WaveReady, PreLaunchDone, PostLaunchDone)
_PHASE_NAMES = {"PRE_LAUNCH": "pre-launch", "POST_LAUNCH": "post-launch"}


def check_claims(rt: Runtime, detail: Any, planned: _WaveIndex) -> None:
    """Raise InvalidEvent when a WaveReady, PreLaunchDone or PostLaunchDone names an attempt its wave has not
    reached, or a phase's Done event comes while the ledger says a script of that phase (of that wave attempt)
    has not ended, or a required one failed. One consistent read of the wave (and of its scripts, for a Done
    event of a phase that has any). Other events pass."""
    if not isinstance(detail, _ATTEMPT_CHECKED):
        return
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if wave is None:
        return  # a plan's wave always has its item once the execution has started: its step decides
    detail_type = type(detail).DETAIL_TYPE
    if detail.attempt > wave.attempt:
        raise InvalidEvent(
            detail_type, [f"detail.attempt: wave '{detail.wave_id}' is at attempt {wave.attempt}, not {detail.attempt}"]
        )
    phase = "PRE_LAUNCH" if isinstance(detail, PreLaunchDone) else "POST_LAUNCH"
    if isinstance(detail, WaveReady) or wave.status != phase or wave.attempt != detail.attempt:
        return  # not in the phase it reports the end of: stale, its step drops it
    unfinished = unfinished_phase(
        rt, detail.execution_id, detail.wave_id, detail.attempt, phase, planned.scripts[phase], planned.waits[phase]
    )
    if unfinished is not None:
        raise InvalidEvent(
            detail_type,
            [
                f"detail: wave '{detail.wave_id}' is {phase} in attempt {detail.attempt} and its "
                f"{_PHASE_NAMES[phase]} {unfinished}: its {detail_type} comes after its last script"
            ],
        )


def unfinished_phase(
    rt: Runtime,
    execution_id: str,
    wave_id: str,
    attempt: int,
    phase: str,
    expected: int,
    waits: Collection[int] = (),
) -> str | None:
    """What keeps a wave attempt's `phase` (of `expected` scripts, the health check included) from having ended
    well (`script #2 has not ended`, `script #1 ended Failed, and it is required`), or None when every script
    has ended and no required one failed (a phase without scripts: no read). A WAIT or SSM_AUTOMATION step (its
    index in `waits`) that ended Cancelled was cut short by a cancel (`scripts.end_waits`): the phase ended there,
    the steps after it never start."""
    if not expected:
        return None
    runs = {r.index: r for r in rt.ledger.list_scripts(execution_id, wave_id, attempt) if r.phase == phase}
    for index in range(expected):
        run = runs.get(index)
        if run is None or run.status not in FINAL_SCRIPT:
            return f"script #{index + 1} has not ended"
        if index in waits and run.status is ScriptStatus.CANCELLED:
            return None
        if run.required and run.status not in (ScriptStatus.SUCCESS, ScriptStatus.SKIPPED):
            return f"script #{index + 1} ended {run.status}, and it is required"
    return None
