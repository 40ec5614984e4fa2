"""Does an event name what exists? Every handler asks before its step runs.

An event naming an execution that does not exist, a plan other than the execution's, a wave its plan
lacks, or a server not in that wave can never become valid: the handler drops it (logged, counted
InvalidEvents) instead of failing on it and having it retried into the dead-letter queue.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from weakref import WeakKeyDictionary

from events.envelope import InvalidEvent
from events.models import DRSJobCompleted, DRSJobStarted, WaveFailed
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.ports import LedgerPort
from orchestrator.domain.status import ExecutionStatus
from orchestrator.runtime import Runtime

_Index = tuple[str, dict[str, frozenset[str]]]  # plan id, wave id -> its source server ids
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
    index = (plan.plan_id, {wave.wave_id: frozenset(wave.server_ids) for wave in plan.waves})
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
    execution's, a wave its plan lacks, or a server not in that wave: such an event can never become
    valid, so every handler drops it (logged, counted InvalidEvents) instead of failing on it and having
    it retried into the dead-letter queue. Events without an executionId pass."""
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
    if isinstance(wave_id, str):
        servers = waves.get(wave_id)
        if servers is None:
            errors.append(f"detail.waveId: the plan of execution '{execution_id}' has no wave '{wave_id}'")
        else:
            unknown = sorted(set(_servers_named(detail)) - servers)
            if unknown:
                listed = ", ".join(quote(server, 40) for server in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                errors.append(f"detail: source servers that are not in wave '{wave_id}': {listed}{more}")
    if errors:
        raise InvalidEvent(detail_type, errors)
