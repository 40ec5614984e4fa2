"""Does an event name what exists (orchestrator/steps/references.py)? Against the ledger of a started plan."""

from __future__ import annotations

import pytest

from events.envelope import InvalidEvent
from events.models import Contract, DRSJobStarted, PausePlan, WaveReady
from orchestrator.steps.references import check_references
from tests.unit.steps.world import S1, S2, World, plan, wave


def _started(*servers: str) -> DRSJobStarted:
    return DRSJobStarted(
        execution_id="e1", plan_id="p", wave_id="db", job_id="j", launch_key="k", source_server_ids=list(servers)
    )


def _refusal(world: World, detail: Contract) -> list[str]:
    with pytest.raises(InvalidEvent) as refused:
        check_references(world.rt, detail)
    return refused.value.errors


def test_an_event_naming_what_exists_passes_and_one_naming_nothing_is_refused_with_each_reason(world: World) -> None:
    # GIVEN a started plan p: wave db with S1
    world.start(plan(wave("db", S1)))
    # WHEN / THEN events naming its execution, plan, wave and servers pass, and an event without a plan or wave
    check_references(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"))
    check_references(world.rt, _started(S1))
    check_references(world.rt, PausePlan(execution_id="e1"))
    # AND an unknown execution, another plan, an unknown wave or a server not in the wave is refused, each named
    assert _refusal(world, WaveReady(execution_id="e2", plan_id="p", wave_id="db")) == [
        "detail.executionId: no execution 'e2'"
    ]
    assert _refusal(world, WaveReady(execution_id="e1", plan_id="q", wave_id="app")) == [
        "detail.planId: execution 'e1' runs plan 'p', not 'q'",
        "detail.waveId: the plan of execution 'e1' has no wave 'app'",
    ]
    assert _refusal(world, _started(S1, S2)) == [f"detail: source servers that are not in wave 'db': {S2}"]
