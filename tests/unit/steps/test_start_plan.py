"""StartPlan (orchestrator/steps/start_plan.py) against fakes: create the execution, release the root waves."""

from __future__ import annotations

from events.models import ControlRejected, Mode, PlanFailed, PlanStarted, StartPlan, WaveReady
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, World, plan, wave

DIAMOND = plan(wave("a", S1), wave("b", S2, dependsOn=["a"]), wave("c", dependsOn=["a"], servers=[]))


def _plan() -> dict:
    return plan(wave("db", S1), wave("app", S2, dependsOn=["db"]))


def test_a_valid_plan_creates_the_execution_and_releases_its_root_waves(world: World) -> None:
    # GIVEN a two-wave plan, app depending on db
    detail = StartPlan(plan=_plan(), execution_id="e1")
    # WHEN it is started
    execution_id = start_plan(world.rt, detail, "evt-1")
    # THEN the execution runs, db is READY, app PENDING
    assert execution_id == "e1"
    execution = world.ledger.get_execution("e1")
    assert execution is not None
    assert (execution["status"], execution["planId"], execution["mode"]) == ("RUNNING", "p", "DRILL")
    assert world.wave_status("e1", "db") == "READY"
    assert world.wave_status("e1", "app") == "PENDING"
    # AND PlanStarted then one WaveReady, for the root wave only
    assert world.bus.published == [
        PlanStarted(
            execution_id="e1", plan_id="p", mode=Mode.DRILL, plan_name="p", wave_ids=["db", "app"], root_wave_ids=["db"]
        ),
        WaveReady(execution_id="e1", plan_id="p", wave_id="db"),
    ]


def test_a_redelivered_start_plan_creates_nothing_twice(world: World) -> None:
    # GIVEN a started plan
    detail = StartPlan(plan=_plan(), execution_id="e1")
    start_plan(world.rt, detail, "evt-1")
    first = world.ledger.get_execution("e1")
    announced = list(world.bus.published)
    # WHEN the same event is delivered again
    again = start_plan(world.rt, detail, "evt-1")
    # THEN the answer is the same and the execution unchanged
    assert again == "e1"
    assert world.ledger.get_execution("e1") == first
    assert world.wave_status("e1", "db") == "READY"
    # AND the replay re-announces exactly the same events (the first delivery may have died before
    # publishing): the same WaveReady, which the pre-launch step takes once (tested in test_pre_launch)
    assert world.bus.published == announced + announced


def test_another_start_with_the_same_id_and_plan_changes_nothing(world: World) -> None:
    # GIVEN a started plan
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    # WHEN a different event starts the same plan under the same execution id
    again = start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-2")
    # THEN nothing is created or announced
    assert again is None
    assert world.bus.published == []


def test_an_invalid_plan_is_refused_once_with_plan_failed(world: World) -> None:
    # GIVEN a plan whose wave depends on a wave that does not exist
    bad = plan(wave("db", S1, dependsOn=["nowhere"]))
    # WHEN it is started twice with the same event id
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1"), "evt-1") is None
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1"), "evt-1") is None
    # THEN no execution exists, and one PlanFailed names the problem
    assert world.ledger.get_execution("e1") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert (failed.execution_id, failed.plan_id, failed.reason) == ("e1", "p", "invalid plan: 1 problem(s)")
    assert [e.wave_id for e in failed.errors] == ["db"]


def test_an_unconfirmed_recovery_is_refused(world: World) -> None:
    # GIVEN a RECOVERY start without confirmRecovery
    detail = StartPlan(plan=_plan(), execution_id="e1", mode=Mode.RECOVERY)
    # WHEN it is started
    assert start_plan(world.rt, detail, "evt-1") is None
    # THEN nothing was created and PlanFailed says why
    assert world.ledger.get_execution("e1") is None
    [failed] = world.bus.published
    assert isinstance(failed, PlanFailed)
    assert [e.code for e in failed.errors] == ["unconfirmed_recovery"]


def test_another_plan_under_a_started_id_is_refused_without_touching_it(world: World) -> None:
    # GIVEN a started execution e1
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    before = world.ledger.get_execution("e1")
    # WHEN another plan is started under e1
    other = plan(wave("x", S1), plan_id="other")
    assert start_plan(world.rt, StartPlan(plan=other, execution_id="e1"), "evt-2") is None
    # THEN a ControlRejected answers (no PlanFailed pages for e1), and e1 is as it was
    [rejected] = world.bus.published
    assert isinstance(rejected, ControlRejected)
    assert (rejected.execution_id, rejected.command) == ("e1", "StartPlan")
    assert rejected.reason == (
        "executionId 'e1' belongs to an execution of plan 'p' (DRILL, RUNNING) started with another plan or "
        "mode: refused, and that execution is not affected"
    )
    assert world.ledger.get_execution("e1") == before


def test_an_invalid_plan_under_a_started_id_is_refused_without_a_plan_failed(world: World) -> None:
    # GIVEN a started execution e1
    start_plan(world.rt, StartPlan(plan=_plan(), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    # WHEN an invalid plan is started under e1
    bad = plan(wave("db", S1, dependsOn=["nowhere"]))
    assert start_plan(world.rt, StartPlan(plan=bad, execution_id="e1", requested_by="bob"), "evt-2") is None
    # THEN a ControlRejected names the execution that holds the id (no PlanFailed pages for e1)
    assert world.bus.published == [
        ControlRejected(
            execution_id="e1",
            command="StartPlan",
            requested_by="bob",
            reason=(
                "executionId 'e1' belongs to an execution of plan 'p' (RUNNING), which this refusal does not "
                "affect; the StartPlan was refused: invalid plan: 1 problem(s)"
            ),
        )
    ]
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"
