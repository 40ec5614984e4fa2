"""SSM_AUTOMATION steps at run time (orchestrator/steps/automation.py) against fakes: claimed once in the ledger, one
StartAutomationExecution per try (its ClientToken finds the execution again after a crash before its record), ended
once by the Automation status-change event (duplicated or not), its outputs and failure in the step's record."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import AutomationStatusChange, PreLaunchDone, PreLaunchTick, WaveReady
from orchestrator.domain.records.scripts import ScriptId, ScriptRun, ScriptStatus
from orchestrator.steps.automation import on_automation_status
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, World, plan, wave

RUNBOOK = "DRSOrch-DnsCutover"
STEP = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)


def _start(world: World, **step: Any) -> None:
    """Wave `db` whose pre-launch is the runbook step, started (not yet ready)."""
    world.ssm.add_document(RUNBOOK, ["Value", "Mode", "AutomationAssumeRole"])
    cutover = {"type": "SSM_AUTOMATION", "documentName": RUNBOOK, "parameters": {"Value": "10.0.0.7"}, **step}
    world.start(plan(wave("db", S1, preLaunch=[cutover])))


def _ready(world: World, key: str = "wr-1") -> None:
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), key)


def _run(world: World) -> ScriptRun:
    run = world.ledger.get_script(STEP)
    assert run is not None
    return run


def _ended(world: World, automation_id: str, status: str, key: str) -> None:
    on_automation_status(world.rt, AutomationStatusChange(ExecutionId=automation_id, Status=status), key)


def test_a_duplicated_event_starts_the_runbook_once_with_the_run_context_and_the_role(world: World) -> None:
    # GIVEN the Automation role configured, and a wave whose pre-launch runs a runbook
    world.configure(automation_assume_role_arn="arn:aws:iam::123456789012:role/drs-orch-automation")
    _start(world)

    # WHEN its WaveReady is delivered twice
    _ready(world)
    _ready(world)

    # THEN one execution started, with the plan's parameters, the mode and the role the runbook declares
    [started] = world.ssm.automation_starts
    assert (started["document"], started["parameters"]) == (
        RUNBOOK,
        {
            "Value": ["10.0.0.7"],
            "Mode": ["DRILL"],
            "AutomationAssumeRole": ["arn:aws:iam::123456789012:role/drs-orch-automation"],
        },
    )
    # AND the step RUNS with its execution as its one expected end, a timeout tick and a first poll
    run = _run(world)
    [automation] = world.ssm.automations.values()
    assert (run.status, run.command_ids, run.expected) == (
        ScriptStatus.RUNNING,
        (automation["AutomationExecutionId"],),
        1,
    )
    ticks = sorted(t.purpose for _, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick))
    assert ticks == ["poll", "timeout"]


def test_a_crash_between_the_start_and_its_record_finds_the_same_execution_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the first delivery dies right after StartAutomationExecution (before the ledger records it)
    _start(world)
    record_sent = world.ledger.record_sent
    calls = []

    def crash_once(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the function died")
        return record_sent(*args, **kwargs)

    monkeypatch.setattr(world.ledger, "record_sent", crash_once)
    with pytest.raises(RuntimeError, match="the function died"):
        _ready(world)

    # WHEN the event is delivered again (the claim is its own: the try is started again)
    _ready(world)

    # THEN SSM was asked twice with one ClientToken, so one execution exists, and the step runs it
    assert [s["client_token"] for s in world.ssm.automation_starts] == [
        world.ssm.automation_starts[0]["client_token"]
    ] * 2
    [automation] = world.ssm.automations.values()
    assert _run(world).command_ids == (automation["AutomationExecutionId"],)


def test_the_status_event_ends_the_step_once_with_its_outputs(world: World) -> None:
    # GIVEN a running runbook step that then succeeds with an output
    _start(world)
    _ready(world)
    automation_id = _run(world).command_ids[0]
    world.advance(42)
    world.ssm.end_automation(automation_id, "Success", **{"upsertRecord.ChangeId": "/change/C1"})

    # WHEN its status-change event arrives twice (and an InProgress one, which ends nothing)
    _ended(world, automation_id, "InProgress", "ev-0")
    _ended(world, automation_id, "Success", "ev-1")
    _ended(world, automation_id, "Success", "ev-2")

    # THEN the step ended Success once, its entry the execution with its outputs and duration; one PreLaunchDone
    run = _run(world)
    assert run.status is ScriptStatus.SUCCESS
    [done] = world.bus.of(PreLaunchDone)
    [result] = done.scripts
    assert (result.document_name, result.status, result.attempts) == (RUNBOOK, "Success", 1)
    [entry] = result.instances
    assert (entry.instance_id, entry.status, entry.duration_seconds) == (automation_id, "Success", 42.0)
    [stored] = [r for r in world.ledger.list_scripts("e1", "db", 1) if r.index == 0]
    assert stored.instances is not None
    assert stored.instances[0].output == 'outputs: {"upsertRecord.ChangeId":["/change/C1"]}'


def test_a_failed_runbook_with_on_failure_warn_warns_with_its_failure_message(world: World) -> None:
    # GIVEN a WARN runbook step whose execution fails
    _start(world, onFailure="WARN")
    _ready(world)
    automation_id = _run(world).command_ids[0]
    world.ssm.end_automation(automation_id, "Failed", failure="Step upsertRecord failed: NoSuchHostedZone")

    # WHEN its event arrives
    _ended(world, automation_id, "Failed", "ev-1")

    # THEN the step Failed with SSM's message as its reason, the phase ends with a warning, the wave goes on
    run = _run(world)
    reason = f"automation {automation_id} Failed: Step upsertRecord failed: NoSuchHostedZone"
    assert (run.status, run.reason) == (ScriptStatus.FAILED, reason)
    [done] = world.bus.of(PreLaunchDone)
    assert done.warnings == [f"db: pre-launch script #1 {RUNBOOK} Failed ({reason}) (onFailure WARN)"]


def test_an_event_of_an_execution_that_is_not_ours_changes_nothing(world: World) -> None:
    # GIVEN a running runbook step
    _start(world)
    _ready(world)

    # WHEN an event of another automation execution arrives
    _ended(world, "00000000-0000-4000-8000-00000000ffff", "Success", "ev-1")

    # THEN the step still runs and nothing was published
    assert _run(world).status is ScriptStatus.RUNNING
    assert world.bus.published == []
