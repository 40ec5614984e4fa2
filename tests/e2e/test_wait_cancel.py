"""End to end on the local cloud: a plan cancelled while a wave's 2-hour pre-launch WAIT step runs closes CANCELLED
at once (the wait is cut short, Cancelled), not two hours later, and launches nothing."""

from __future__ import annotations

from datetime import timedelta

from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.scripts import ScriptId, ScriptStatus
from tests.e2e.helpers import assert_choreography_invariants, at, command, events_of, session, sid, wave

DB = sid("wc", 1)


def test_a_cancel_during_a_two_hour_wait_closes_the_plan_at_once_with_nothing_launched(local_cloud) -> None:
    # GIVEN a plan whose one wave waits 2 hours before its launch, its wait running for a minute
    cloud = local_cloud()
    plan = parse_plan({"planId": "paced", "waves": [wave("db", [DB], preLaunch=[{"type": "WAIT", "seconds": 7200}])]})
    execution_id = start(cloud, plan)
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    waiting = ScriptId(execution_id=execution_id, wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)

    def wait_running() -> bool:
        run = ledger.get_script(waiting)
        return run is not None and run.status is ScriptStatus.RUNNING

    cloud.run_until(wait_running, timeout=60)
    cloud.clock.jump_to(cloud.clock.now() + timedelta(seconds=60))

    # WHEN an operator cancels the plan
    cancelled_at = cloud.clock.now()
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan is CANCELLED within a few simulated seconds of the cancel, not when the wait would have ended
    assert result.status == "CANCELLED", result.problem
    assert result.report is not None
    assert at(result.report["endedAt"]) - cancelled_at <= timedelta(seconds=5)
    # AND nothing launched: the wave was skipped after its wait, which the report shows cut short by the operator
    assert dict(cloud.drs.stats.launches) == {}
    assert events_of(cloud, "DRSJobStarted", execution_id) == []
    [db] = result.report["waves"]
    assert db["status"] == "SKIPPED"
    [cut] = db["scripts"]
    assert (cut["documentName"], cut["status"], cut["reason"]) == (
        "WAIT 7200 s",
        "Cancelled",
        f"cut short: the plan was cancelled by {session('ops')}",
    )
    assert at(cut["endedAt"]) - cancelled_at <= timedelta(seconds=5)
    assert_choreography_invariants(cloud, execution_id)
