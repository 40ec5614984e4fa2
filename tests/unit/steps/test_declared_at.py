"""StartPlan's declaredAt: the moment the disaster was declared, from which recovery objectives count. Recorded on
the execution (default: when StartPlan is handled); refused when in the future or too long ago."""

from __future__ import annotations

import pytest

from events.models import PlanFailed, Problem, StartPlan
from orchestrator.domain.clock import iso
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, World, plan, wave


def test_without_declared_at_the_execution_is_declared_when_start_plan_is_handled(world: World) -> None:
    # GIVEN a StartPlan with no declaredAt, handled at the world's clock
    now = iso(world.clock.now())
    # WHEN it is started
    start_plan(world.rt, StartPlan(plan=plan(wave("db", S1)), execution_id="e1"), "evt-1")
    # THEN the execution is declared at its start
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert (execution.declared_at, execution.started_at) == (now, now)


def test_an_explicit_declared_at_is_recorded_in_the_ledger_time_format(world: World) -> None:
    # GIVEN a StartPlan declared 90 minutes before it is handled, in another time zone
    world.clock.at = world.clock.at.replace(hour=12, minute=0, second=0, microsecond=0)
    declared = world.clock.at.strftime("%Y-%m-%dT") + "12:30:00+02:00"  # 10:30Z
    # WHEN it is started
    start_plan(world.rt, StartPlan(plan=plan(wave("db", S1)), execution_id="e1", declared_at=declared), "evt-1")
    # THEN the execution keeps it, in UTC with milliseconds
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.declared_at == world.clock.at.strftime("%Y-%m-%dT") + "10:30:00.000Z"


@pytest.mark.parametrize(
    ("offset_minutes", "message"),
    [
        (6, "declaredAt is in the future (more than 5 minutes ahead)"),
        (-(7 * 24 * 60 + 1), "declaredAt is more than 7 days ago (a recovery declared that long ago?)"),
    ],
)
def test_a_declared_at_out_of_range_refuses_the_start(world: World, offset_minutes: int, message: str) -> None:
    # GIVEN a StartPlan declared too far ahead, or too long ago
    from datetime import timedelta

    declared = iso(world.clock.now() + timedelta(minutes=offset_minutes))
    # WHEN it is started
    started = start_plan(world.rt, StartPlan(plan=plan(wave("db", S1)), execution_id="e1", declared_at=declared), "e")
    # THEN nothing is created, and PlanFailed says why, at declaredAt
    assert started is None
    assert world.ledger.execution("e1") is None
    assert world.bus.published == [
        PlanFailed(
            execution_id="e1",
            plan_id="p",
            reason=f"declaredAt refused: {message}",
            errors=[Problem(message=message, code="declared-at-out-of-range", path="declaredAt")],
        )
    ]


def test_the_edges_of_the_range_are_accepted(world: World) -> None:
    # GIVEN StartPlans declared exactly 5 minutes ahead and exactly 7 days ago
    from datetime import timedelta

    for execution_id, offset in (("ahead", timedelta(minutes=5)), ("week", -timedelta(days=7))):
        detail = StartPlan(
            plan=plan(wave("db", S1)), execution_id=execution_id, declared_at=iso(world.clock.now() + offset)
        )
        # WHEN each is started / THEN it is
        assert start_plan(world.rt, detail, f"evt-{execution_id}") == execution_id


def test_a_declared_at_that_is_no_calendar_date_refuses_the_start(world: World) -> None:
    # GIVEN a declaredAt of the right shape on February 30th
    detail = StartPlan(plan=plan(wave("db", S1)), execution_id="e1", declared_at="2026-02-30T09:00:00Z")
    # WHEN it is started
    assert start_plan(world.rt, detail, "evt-1") is None
    # THEN it is refused, naming the value
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [e.message for e in failed.errors] == ["declaredAt '2026-02-30T09:00:00Z' is not a calendar date and time"]


def test_a_declared_at_without_a_time_zone_is_no_start_plan() -> None:
    # GIVEN / WHEN a StartPlan whose declaredAt has no time zone / THEN the contract refuses it
    with pytest.raises(ValueError, match="declared_at"):
        StartPlan(plan={"planId": "p"}, declared_at="2026-03-01T09:30:00")
