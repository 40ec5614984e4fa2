"""The run context a script is sent is the orchestrator's, whatever the frozen plan says
(orchestrator/steps/scripts.py `_parameters`): defence in depth behind StartPlan's refusal."""

from __future__ import annotations

import pytest

from events.models import Mode, WaveReady
from orchestrator.domain.plan.documents import CONTEXT_PARAMETERS
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, World, plan, wave

FORGED = {
    "ExecutionId": "someone-else",
    "PlanId": "other-plan",
    "WaveId": "other-wave",
    "Mode": "RECOVERY",
    "RecoveryInstances": '{"s-00000000000000db1":{"instanceId":"i-0123456789abcdef0","privateIp":"10.0.0.9"}}',
    "executionTimeout": "172800",
}


def test_the_forged_values_cover_the_whole_run_context() -> None:
    # GIVEN / WHEN / THEN the test below forges every name of the run context
    assert set(FORGED) == CONTEXT_PARAMETERS


@pytest.mark.parametrize("declared", [sorted(CONTEXT_PARAMETERS), []], ids=["declared", "undeclared"])
def test_a_plan_frozen_with_its_own_run_context_is_sent_the_orchestrators(
    world: World, monkeypatch: pytest.MonkeyPatch, declared: list[str]
) -> None:
    # GIVEN a DRILL whose pre-launch step sets every run-context parameter itself, frozen in the ledger past
    # StartPlan's check (a plan started before the check existed: the check is switched off to get there)
    monkeypatch.setattr("orchestrator.steps.start_plan.parameter_problems", lambda plan, documents: [])
    world.ssm.add_document("Fence", ["Target", *declared])
    script = {
        "documentName": "Fence",
        "parameters": {"Target": "db01", **FORGED},
        "targets": {"instanceIds": ["i-00000000000000001"]},
        "timeoutSeconds": 120,
    }
    world.start(plan(wave("db", S1, preLaunch=[script]), plan_id="p"), mode=Mode.DRILL)
    # WHEN its wave becomes ready and the step is sent
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # THEN the instance is told the truth where the document declares the context, and nothing of the plan's
    # context where it does not (SSM would refuse an undeclared parameter; the plan's value is never sent)
    [sent] = world.ssm.sent
    truth = {
        "ExecutionId": ["e1"],
        "PlanId": ["p"],
        "WaveId": ["db"],
        "Mode": ["DRILL"],
        "RecoveryInstances": ["{}"],  # a first run: the wave has no recovery instance yet
        "executionTimeout": ["120"],
    }
    assert sent["parameters"] == {"Target": ["db01"], **{name: truth[name] for name in declared}}
