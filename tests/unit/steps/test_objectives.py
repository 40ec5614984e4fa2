"""ObjectiveAtRisk and ObjectiveMissed while a run goes on (orchestrator/steps/objectives.py): the ticks armed at
the first root wave's WaveReady, at exact deadlines; an alert for what still runs, once each; nothing for what
has ended."""

from __future__ import annotations

from datetime import UTC, datetime

from events.models import ObjectiveAtRisk, ObjectiveMissed, ObjectiveTick, WaveReady
from orchestrator.steps import objectives
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, S2, World, plan, wave

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)  # the World's clock


def _document() -> dict[str, object]:
    return {
        **plan(wave("db", S1, objectives={"rtoMinutes": 10.01}), wave("app", S2, dependsOn=["db"])),
        "objectives": {"rtoMinutes": 60},
    }


def _ready(world: World, wave_id: str, event_id: str = "wr-1", attempt: int = 1) -> None:
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id=wave_id, attempt=attempt), event_id)


def _fire(world: World) -> list[ObjectiveTick]:
    """The ticks due at the world's clock, delivered (each twice: a duplicated delivery)."""
    due = [tick for tick in world.scheduler.due(world.clock.now()) if isinstance(tick, ObjectiveTick)]
    for tick in due:
        objectives.on_tick(world.rt, tick)
        objectives.on_tick(world.rt, tick)
    return due


def test_the_first_root_wave_arms_the_ticks_of_the_plan_and_of_each_wave_at_their_deadlines(world: World) -> None:
    # GIVEN a plan with an RTO of 60 minutes, and its root wave db with one of 10.01 minutes, started at 09:00
    world.start(_document())
    # WHEN db is ready (twice: a duplicate)
    _ready(world, "db")
    _ready(world, "db")
    # THEN four ticks exist: 80 % and 100 % of each RTO, rounded up to the second (10.01 min = 10 min 0.6 s)
    ticks = {name: (when, tick.wave_id, tick.alert) for name, (when, tick) in world.scheduler.schedules.items()}
    assert sorted(ticks.values(), key=lambda t: t[0]) == [
        (datetime(2026, 1, 1, 9, 8, 1, tzinfo=UTC), "db", "AT_RISK"),  # 8.008 min = 8 min 0.48 s
        (datetime(2026, 1, 1, 9, 10, 1, tzinfo=UTC), "db", "MISSED"),
        (datetime(2026, 1, 1, 9, 48, tzinfo=UTC), None, "AT_RISK"),
        (datetime(2026, 1, 1, 10, 0, tzinfo=UTC), None, "MISSED"),
    ]
    assert len(world.scheduler.created) == 4


def test_a_wave_still_running_at_its_deadlines_is_at_risk_then_missed_once_each(world: World) -> None:
    # GIVEN db ready at 09:00 and still launching
    world.start(_document())
    _ready(world, "db")
    world.bus.published.clear()
    # WHEN its at-risk tick fires (delivered twice), then its missed tick (twice)
    world.clock.at = datetime(2026, 1, 1, 9, 8, 1, tzinfo=UTC)
    _fire(world)
    world.clock.at = datetime(2026, 1, 1, 9, 10, 1, tzinfo=UTC)
    _fire(world)
    # THEN one ObjectiveAtRisk and one ObjectiveMissed for db, with the exact figures
    assert world.bus.published == [
        ObjectiveAtRisk(
            execution_id="e1",
            plan_id="p",
            wave_id="db",
            objective_minutes=10.01,
            declared_at="2026-01-01T09:00:00.000Z",
            deadline="2026-01-01T09:10:00.600Z",
            elapsed_minutes=8.02,
            running_wave_ids=["db"],
            running_wave_count=1,
            at_risk_percent=80.0,
        ),
        ObjectiveMissed(
            execution_id="e1",
            plan_id="p",
            wave_id="db",
            objective_minutes=10.01,
            declared_at="2026-01-01T09:00:00.000Z",
            deadline="2026-01-01T09:10:00.600Z",
            elapsed_minutes=10.02,
            running_wave_ids=["db"],
            running_wave_count=1,
        ),
    ]


def test_the_plan_alert_lists_the_waves_not_ended_and_an_ended_execution_gets_none(world: World) -> None:
    # GIVEN the plan's at-risk tick due at 09:48, db and app not ended
    world.start(_document())
    _ready(world, "db")
    world.bus.published.clear()
    world.clock.at = datetime(2026, 1, 1, 9, 48, tzinfo=UTC)
    # WHEN the due ticks fire (the wave's two and the plan's at-risk one)
    _fire(world)
    # THEN the plan's ObjectiveAtRisk names both waves
    [plan_alert] = [e for e in world.bus.published if isinstance(e, ObjectiveAtRisk) and e.wave_id is None]
    assert (plan_alert.running_wave_ids, plan_alert.running_wave_count, plan_alert.elapsed_minutes) == (
        ["app", "db"],
        2,
        48.0,
    )
    # AND once the execution has ended, the missed tick publishes nothing
    world.ledger.set_execution_status("e1", from_=["RUNNING"], to="FAILED", key="failed-1")
    world.bus.published.clear()
    world.clock.at = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert [t.alert for t in _fire(world)] == ["MISSED"]
    assert world.bus.published == []


def test_a_wave_that_ended_before_its_deadline_gets_no_alert(world: World) -> None:
    # GIVEN db FAILED before its at-risk deadline
    world.start(_document())
    _ready(world, "db")
    world.ledger.finish_wave("e1", "db", from_=["PRE_LAUNCH", "READY"], to="FAILED", key="f-1")
    world.bus.published.clear()
    # WHEN its ticks fire
    world.clock.at = datetime(2026, 1, 1, 9, 10, 1, tzinfo=UTC)
    assert len(_fire(world)) == 2
    # THEN nothing is published
    assert world.bus.published == []


def test_a_deadline_already_past_when_declared_long_before_is_checked_at_once(world: World) -> None:
    # GIVEN a plan declared 59 minutes before its start: its 60-minute RTO is at risk already, db's missed
    world.start(_document(), declared_at="2026-01-01T08:01:00Z")
    # WHEN db is ready
    _ready(world, "db")
    # THEN the past deadlines are announced at once (db at risk and missed, the plan at risk), only the plan's
    # missed tick is scheduled (09:01)
    alerts = [e for e in world.bus.published if isinstance(e, ObjectiveAtRisk | ObjectiveMissed)]
    assert [(type(e).__name__, e.wave_id) for e in alerts] == [
        ("ObjectiveAtRisk", None),
        ("ObjectiveAtRisk", "db"),
        ("ObjectiveMissed", "db"),
    ]
    assert [(when, tick.alert) for when, tick in world.scheduler.schedules.values()] == [
        (datetime(2026, 1, 1, 9, 1, tzinfo=UTC), "MISSED")
    ]
