"""The statuses and their one transition table (pure, no ledger): every pair of statuses of each kind is
checked, so an edge added to or dropped from the table without changing this test fails here."""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import product
from typing import Any

import pytest

from orchestrator.domain.status import (
    ACTIVE_WAVE,
    EXECUTION_FINAL,
    EXECUTION_INITIAL,
    EXECUTION_REOPENS,
    EXECUTION_TRANSITIONS,
    FAILABLE_WAVE,
    NOT_STARTED_WAVE,
    RUNNABLE_EXECUTION,
    STOPPED_EXECUTION,
    TERMINAL_WAVE,
    WAVE_INITIAL,
    WAVE_REOPENS,
    WAVE_TRANSITIONS,
    ExecutionStatus,
    IllegalTransition,
    WaveStatus,
    check_execution_transition,
    check_wave_transition,
)

# The edges the steps take, written out (orchestrator/domain/status.py says which step takes each).
EXECUTION_EDGES = {
    ("CREATING", "RUNNING"),
    ("RUNNING", "PAUSED"),
    ("PAUSED", "RUNNING"),
    ("RUNNING", "STOPPING"),
    ("PAUSED", "STOPPING"),
    *product(("RUNNING", "PAUSED"), ("COMPLETED", "FAILED")),
    ("STOPPING", "FAILED"),
    ("STOPPING", "CANCELLED"),  # a cancel goes through STOPPING; a stopped plan never ends COMPLETED
    ("STOPPING", "RUNNING"),
    ("FAILED", "RUNNING"),
}
WAVE_EDGES = {
    ("PENDING", "READY"),
    ("READY", "AWAITING_APPROVAL"),
    ("AWAITING_APPROVAL", "READY"),
    ("READY", "PRE_LAUNCH"),
    ("PRE_LAUNCH", "LAUNCHING"),
    ("LAUNCHING", "LAUNCHED"),
    ("LAUNCHED", "POST_LAUNCH"),
    ("POST_LAUNCH", "COMPLETED"),
    *product(("READY", "AWAITING_APPROVAL", "PRE_LAUNCH", "LAUNCHING", "LAUNCHED", "POST_LAUNCH"), ("FAILED",)),
    *product(("PENDING", "READY", "AWAITING_APPROVAL", "PRE_LAUNCH", "LAUNCHING"), ("SKIPPED",)),
    ("FAILED", "READY"),
    ("FAILED", "SKIPPED"),
    ("SKIPPED", "PENDING"),
}


def _declared(table: Mapping[Any, frozenset[Any]]) -> set[tuple[str, str]]:
    return {(str(a), str(b)) for a, targets in table.items() for b in targets}


@pytest.mark.parametrize(("from_", "to"), list(product(ExecutionStatus, repeat=2)), ids=str)
def test_an_execution_transition_is_allowed_exactly_when_it_is_declared(
    from_: ExecutionStatus, to: ExecutionStatus
) -> None:
    # GIVEN a pair of execution statuses (every one of the 7 x 7)
    # WHEN the pair is checked
    # THEN a declared edge passes, handed back as plain strings; any other raises, naming the pair
    if (from_.value, to.value) in EXECUTION_EDGES:
        assert check_execution_transition([from_.value], to.value) == ((from_.value,), to.value)
    else:
        with pytest.raises(IllegalTransition, match=f"execution status may not go from {from_} to {to} "):
            check_execution_transition([from_.value], to.value)


@pytest.mark.parametrize(("from_", "to"), list(product(WaveStatus, repeat=2)), ids=str)
def test_a_wave_transition_is_allowed_exactly_when_it_is_declared(from_: WaveStatus, to: WaveStatus) -> None:
    # GIVEN a pair of wave statuses (every one of the 10 x 10)
    # WHEN the pair is checked
    # THEN a declared edge passes, handed back as plain strings; any other raises, naming the pair
    if (from_.value, to.value) in WAVE_EDGES:
        assert check_wave_transition([from_.value], to.value) == ((from_.value,), to.value)
    else:
        with pytest.raises(IllegalTransition, match=f"wave status may not go from {from_} to {to} "):
            check_wave_transition([from_.value], to.value)


def test_the_tables_declare_exactly_the_edges_the_steps_take() -> None:
    # GIVEN the two tables
    # WHEN their edges are listed
    # THEN they are the edges written out above, and each table has a row for every status of its kind
    assert _declared(EXECUTION_TRANSITIONS) == EXECUTION_EDGES
    assert _declared(WAVE_TRANSITIONS) == WAVE_EDGES
    assert set(EXECUTION_TRANSITIONS) == set(ExecutionStatus)
    assert set(WAVE_TRANSITIONS) == set(WaveStatus)


def test_several_statuses_to_leave_pass_only_when_every_edge_is_declared() -> None:
    # GIVEN a stop's skips (any not-started status -> SKIPPED), and a failure that names a COMPLETED wave too
    skips = ["AWAITING_APPROVAL", "PENDING", "READY"]

    # WHEN they are checked
    allowed = check_wave_transition(iter(skips), WaveStatus.SKIPPED)  # an iterator is read once
    with pytest.raises(IllegalTransition) as refused:
        check_wave_transition(["POST_LAUNCH", "COMPLETED"], "FAILED")

    # THEN the first passes with its statuses in order; the second is refused for the one undeclared edge
    assert allowed == (("AWAITING_APPROVAL", "PENDING", "READY"), "SKIPPED")
    assert [type(s) for s in (*allowed[0], allowed[1])] == [str, str, str, str]  # plain strings, not members
    assert str(refused.value) == "wave status may not go from COMPLETED to FAILED (not in WAVE_TRANSITIONS)"


@pytest.mark.parametrize(
    ("check", "from_", "to", "message"),
    [
        (check_wave_transition, ["READY"], "LAUNCHED ", "'LAUNCHED ' is not one of the wave statuses"),
        (check_wave_transition, ["ready"], "PRE_LAUNCH", "'ready' is not one of the wave statuses"),
        (check_wave_transition, ["PAUSED"], "READY", "'PAUSED' is not one of the wave statuses"),
        (check_execution_transition, ["RUNNING"], "SKIPPED", "'SKIPPED' is not one of the execution statuses"),
        (check_execution_transition, [], "RUNNING", "execution transition to RUNNING names no status to leave"),
        (check_wave_transition, (), "READY", "wave transition to READY names no status to leave"),
    ],
)
def test_an_unknown_status_or_nothing_to_leave_is_refused(
    check: object, from_: list[str], to: str, message: str
) -> None:
    # GIVEN a status of the other kind, a misspelt one, or no status to leave
    # WHEN it is checked
    # THEN it is refused with what is wrong, as a ValueError (bad input)
    with pytest.raises(IllegalTransition) as refused:
        check(from_, to)  # type: ignore[operator]
    assert str(refused.value) == message
    assert isinstance(refused.value, ValueError)


def test_the_groups_are_the_statuses_of_their_kind() -> None:
    # GIVEN every status group
    # WHEN their members are read
    # THEN each holds members of its own enum only, with exactly these values
    execution_groups = {
        "EXECUTION_FINAL": EXECUTION_FINAL,
        "RUNNABLE_EXECUTION": RUNNABLE_EXECUTION,
        "STOPPED_EXECUTION": STOPPED_EXECUTION,
    }
    wave_groups = {
        "WAVE_INITIAL": WAVE_INITIAL,
        "NOT_STARTED_WAVE": NOT_STARTED_WAVE,
        "ACTIVE_WAVE": ACTIVE_WAVE,
        "TERMINAL_WAVE": TERMINAL_WAVE,
        "FAILABLE_WAVE": FAILABLE_WAVE,
    }
    assert all(isinstance(s, ExecutionStatus) for group in execution_groups.values() for s in group)
    assert all(isinstance(s, WaveStatus) for group in wave_groups.values() for s in group)
    assert isinstance(EXECUTION_INITIAL, ExecutionStatus)
    assert {name: sorted(group) for name, group in {**execution_groups, **wave_groups}.items()} == {
        "EXECUTION_FINAL": ["CANCELLED", "COMPLETED", "FAILED"],
        "RUNNABLE_EXECUTION": ["PAUSED", "RUNNING"],
        "STOPPED_EXECUTION": ["FAILED", "STOPPING"],
        "WAVE_INITIAL": ["PENDING", "READY"],
        "NOT_STARTED_WAVE": ["AWAITING_APPROVAL", "PENDING", "READY"],
        "ACTIVE_WAVE": ["LAUNCHED", "LAUNCHING", "POST_LAUNCH", "PRE_LAUNCH"],
        "TERMINAL_WAVE": ["COMPLETED", "FAILED", "SKIPPED"],
        "FAILABLE_WAVE": ["AWAITING_APPROVAL", "LAUNCHED", "LAUNCHING", "POST_LAUNCH", "PRE_LAUNCH", "READY"],
    }
    # the wave statuses are split in three: not started, active, terminal
    assert sorted([*NOT_STARTED_WAVE, *ACTIVE_WAVE, *TERMINAL_WAVE]) == sorted(WaveStatus)


def test_an_ended_status_is_left_only_by_a_declared_reopen() -> None:
    # GIVEN the terminal statuses of each kind
    # WHEN the edges that leave them are listed
    # THEN they are exactly the declared reopen edges (RetryWave, SkipWave and what follows); COMPLETED and
    # CANCELLED are never left
    leaving_ended_waves = {(a, b) for a, b in WAVE_EDGES if a in TERMINAL_WAVE}
    leaving_ended_executions = {(a, b) for a, b in EXECUTION_EDGES if a in EXECUTION_FINAL}
    assert (
        leaving_ended_waves
        == {(str(a), str(b)) for a, b in WAVE_REOPENS}
        == {("FAILED", "READY"), ("FAILED", "SKIPPED"), ("SKIPPED", "PENDING")}
    )
    assert (
        leaving_ended_executions
        == {(str(a), str(b)) for a, b in EXECUTION_REOPENS if a in EXECUTION_FINAL}
        == {("FAILED", "RUNNING")}
    )
    # the only other reopen: a stopped (not yet ended) execution runs again
    assert {(str(a), str(b)) for a, b in EXECUTION_REOPENS} == {("FAILED", "RUNNING"), ("STOPPING", "RUNNING")}
    assert WAVE_TRANSITIONS[WaveStatus.COMPLETED] == frozenset()
    assert (
        EXECUTION_TRANSITIONS[ExecutionStatus.COMPLETED]
        == EXECUTION_TRANSITIONS[ExecutionStatus.CANCELLED]
        == frozenset()
    )


def _reachable(starts: set[str], edges: set[tuple[str, str]]) -> set[str]:
    seen, todo = set(starts), list(starts)
    while todo:
        current = todo.pop()
        for a, b in edges:
            if a == current and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def test_every_status_is_reached_and_every_wave_can_end() -> None:
    # GIVEN the initial statuses and the tables
    # WHEN the statuses reachable from them are followed
    # THEN every status is reached, and from every wave status a terminal one can be reached
    assert _reachable({str(EXECUTION_INITIAL)}, EXECUTION_EDGES) == set(ExecutionStatus)
    assert _reachable({str(s) for s in WAVE_INITIAL}, WAVE_EDGES) == set(WaveStatus)
    assert all(_reachable({str(s)}, WAVE_EDGES) & TERMINAL_WAVE for s in WaveStatus)
    assert all(_reachable({str(s)}, EXECUTION_EDGES) & EXECUTION_FINAL for s in ExecutionStatus)


def test_a_status_is_written_and_shown_as_its_string() -> None:
    # GIVEN every status of both kinds
    # WHEN it is compared, formatted, hashed and serialised as the ledger, events and reports do
    # THEN it is its string: the DynamoDB items, events and reports stay as they were
    for status in [*ExecutionStatus, *WaveStatus]:
        assert status == status.value == status.name
        assert (str(status), f"{status}", json.dumps(status)) == (status.value, status.value, f'"{status.value}"')
        assert {status.value: 1}[status] == 1
        assert type(status.value) is str
