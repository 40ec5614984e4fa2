"""A stopping execution starts no new step (orchestrator/steps/scripts.py `_not_started_for_stop`): once a cancel or
a wave's onFailure STOP has put the plan in STOPPING, the step that would follow a running one is not sent (no
command, no wait tick); it and every later step of the phase end Skipped with `not started: plan stopped (...)`,
the phase's Done reports them, and the wave is then skipped like any wave the stop caught before its launch."""

from __future__ import annotations

from dataclasses import replace

from events.models import CancelPlan, PreLaunchDone, PreLaunchTick, WaveReady
from orchestrator.domain.records.scripts import ScriptId, ScriptStatus
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from orchestrator.steps.control import cancel_plan, decide
from orchestrator.steps.launch_wave import prepare
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.progress import stop_plan
from orchestrator.steps.scripts import on_command_status
from tests.unit.steps.world import S1, World, plan, wave

I1 = "i-00000000000000001"
FENCE = {"documentName": "Fence", "targets": {"instanceIds": [I1]}, "timeoutSeconds": 60}
DRAIN = {"documentName": "Drain", "targets": {"instanceIds": [I1]}, "timeoutSeconds": 60, "onFailure": "WARN"}
FIRST = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)
BY_STOP = "not started: plan stopped (wave app failed with onFailure STOP)"
BY_CANCEL = "not started: plan stopped (cancelled by ops)"


def _running_first_step(world: World) -> str:
    """Wave db in PRE_LAUNCH: Fence running (its command sent), then a 600 s WAIT and Drain. Its command id."""
    world.ssm.add_document("Fence")
    world.ssm.add_document("Drain")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    world.start(plan(wave("db", S1, preLaunch=[FENCE, {"type": "WAIT", "seconds": 600}, DRAIN])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    [command_id] = world.ssm.commands
    return command_id


def _first_step_ends(world: World, command_id: str, key: str = "ssm-1") -> None:
    world.ssm.finish(command_id, "Success")
    on_command_status(world.rt, {"command-id": command_id, "instance-id": I1, "status": "Success"}, key)


def _stop_for_failed_wave(world: World) -> None:
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert stop_plan(world.rt, execution, reason="wave app failed", key="wf-app", stopped_by="app")


def _remaining(world: World) -> list[tuple[str, ScriptStatus, str | None]]:
    runs = [world.ledger.get_script(replace(FIRST, index=n)) for n in (1, 2)]
    return [(r.document_name, r.status, r.reason) for r in runs if r is not None]


def test_a_stop_policy_lets_the_running_step_finish_and_starts_none_after_it(world: World) -> None:
    # GIVEN a wave whose first pre-launch script runs when another wave's STOP failure stops the plan
    command_id = _running_first_step(world)
    _stop_for_failed_wave(world)
    world.bus.published.clear()

    # WHEN the running script ends (its completion event, delivered twice)
    _first_step_ends(world, command_id)
    _first_step_ends(world, command_id)

    # THEN nothing more was sent and no wait tick was armed
    assert list(world.ssm.commands) == [command_id]
    assert [t for _, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick) and t.index > 0] == []
    # AND the wait and the script after it ended Skipped, saying why
    assert _remaining(world) == [
        ("WAIT 600 s", ScriptStatus.SKIPPED, BY_STOP),
        ("Drain", ScriptStatus.SKIPPED, BY_STOP),
    ]
    # AND the phase's Done went out once, reporting every step, with a warning per skipped step
    [done] = world.published(PreLaunchDone)
    assert [(r.document_name, r.status, r.reason) for r in done.scripts] == [
        ("Fence", "Success", None),
        ("WAIT 600 s", "Skipped", BY_STOP),
        ("Drain", "Skipped", BY_STOP),
    ]
    assert done.warnings == [
        f"db: pre-launch script #2 WAIT 600 s skipped: {BY_STOP}",
        f"db: pre-launch script #3 Drain skipped: {BY_STOP}",
    ]

    # AND WHEN the launch step takes it THEN nothing launches: the wave is skipped for the wave that stopped the plan
    answer = prepare(world.rt, done, "pld-1")
    assert answer["proceed"] is False
    skipped = world.ledger.wave("e1", "db")
    assert skipped is not None
    assert (skipped.status, skipped.skipped_for) == (WaveStatus.SKIPPED, "app")


def test_a_cancel_starts_no_script_after_the_running_one(world: World) -> None:
    # GIVEN a wave whose first pre-launch script runs when the plan is cancelled
    command_id = _running_first_step(world)
    decide(world.rt, CancelPlan(execution_id="e1", requested_by="ops"), "cancel-1", cancel_plan)
    assert world.published(PreLaunchDone) == []  # the running script is let finish

    # WHEN it ends
    _first_step_ends(world, command_id)

    # THEN the steps after it were not started: Skipped, naming who cancelled; the phase ended
    assert list(world.ssm.commands) == [command_id]
    assert _remaining(world) == [
        ("WAIT 600 s", ScriptStatus.SKIPPED, BY_CANCEL),
        ("Drain", ScriptStatus.SKIPPED, BY_CANCEL),
    ]
    [done] = world.published(PreLaunchDone)
    assert [r.status for r in done.scripts] == ["Success", "Skipped", "Skipped"]
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.status == ExecutionStatus.STOPPING


def test_a_running_plan_starts_the_next_step(world: World) -> None:
    # GIVEN / WHEN the first script ends in a plan that is not stopping
    command_id = _running_first_step(world)
    _first_step_ends(world, command_id)

    # THEN the wait after it runs (the check lets a running plan go on)
    wait = world.ledger.get_script(replace(FIRST, index=1))
    assert wait is not None
    assert wait.status is ScriptStatus.RUNNING
