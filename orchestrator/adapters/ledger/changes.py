"""Typed changes (`orchestrator.domain.records.changes`) as the attributes the ledger writes.

`wave_sets(changes)` and `execution_sets(changes)` give the `{attribute: value}` of an UpdateExpression's SET
for the fields that are set, with the names and value shapes `records.py` reads back (a wave's jobs as a map
by job id, its previous attempts as a list of maps, `releasedBy` as a string set: `release` ADDs to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from orchestrator.adapters.ledger.records import (
    _ATTEMPT,
    _EXECUTION,
    _WAVE,
    _job_map,
    attempt_map,
    wave_attributes,
)
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges

_WAVE_FIELDS = {name: attribute for name, (attribute, _) in {**_ATTEMPT, **_WAVE}.items()}
_WAVE_WRITE = {name: convert[1] for name, (_, convert) in {**_ATTEMPT, **_WAVE}.items()}
_WAVE_OWN: dict[str, tuple[str, Callable[[Any], Any]]] = {  # kept apart from the records' tables
    "jobs": ("jobs", lambda jobs: {job.job_id: _job_map(job) for job in jobs}),
    "previous_attempts": ("previousAttempts", lambda attempts: [attempt_map(a) for a in attempts]),
    "released_by": ("releasedBy", set),  # a string set: `release` ADDs to it (never empty: None writes none)
}


def wave_sets(changes: WaveChanges | None) -> dict[str, Any]:
    """`{attribute: value}` for the wave fields `changes` sets."""
    if changes is None:
        return {}
    sets: dict[str, Any] = {}
    for name, value in changes.set_fields().items():
        if name in _WAVE_OWN:
            attribute, write = _WAVE_OWN[name]
        else:
            attribute, write = _WAVE_FIELDS[name], _WAVE_WRITE[name]
        sets[attribute] = write(value)
    return sets


def wave_removes(fields: Iterable[str]) -> list[str]:
    """The attributes of the wave fields a write removes (`RETRY_CLEARS`, `REOPEN_CLEARS`, ...)."""
    return wave_attributes(list(fields))


def execution_sets(changes: ExecutionChanges | None) -> dict[str, Any]:
    """`{attribute: value}` for the execution fields `changes` sets."""
    if changes is None:
        return {}
    return {_EXECUTION[name][0]: _EXECUTION[name][1][1](value) for name, value in changes.set_fields().items()}
