"""End to end: a function invoked directly (Lambda Invoke, as anyone allowed lambda:InvokeFunction may, past the
bus policy) with a forged payload changes nothing, and so does an event naming a wave that does not exist
(issue #13: "Functions trust the ledger, not their input"). Each is refused with its reason, logged and counted
(InvalidEvents), never raised: no StartRecovery, no DRS job, no ledger write, no retry, no dead letter."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import ACCOUNT, REGION
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.steps.launch_checks import launch_key
from tests.e2e.helpers import (
    assert_choreography_invariants,
    count_metrics,
    events_of,
    invoke,
    ledger_items,
    sid,
    start_recovery_calls,
    wave,
    wave_status,
)

PLAN = {"planId": "forged", "waves": [wave("w1", [sid("a", 1)]), wave("w2", [sid("b", 1)], ["w1"])]}


def _chunk(execution_id: str, *, is_drill: bool, wave_id: str = "w1", server: str = sid("a", 1)) -> dict[str, Any]:
    """A chunk as the wave launch state machine would pass it, for job 0 of attempt 1 of `wave_id`."""
    return {
        "executionId": execution_id,
        "planId": "forged",
        "waveId": wave_id,
        "attempt": 1,
        "index": 0,
        "isDrill": is_drill,
        "launchKey": launch_key(execution_id, wave_id, 1, 0),
        "servers": [{"sourceServerID": server}],
    }


def _launching(local_cloud: Any) -> tuple[LocalCloud, str]:
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan(PLAN))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "LAUNCHING", timeout=60)
    return cloud, execution_id


def test_the_issues_attack_a_direct_start_job_of_a_made_up_execution_launches_nothing(local_cloud, monkeypatch):
    # GIVEN an account where a drill is launching its first wave, and the DRS servers of a production estate
    cloud, execution_id = _launching(local_cloud)
    cloud.drs.ensure_servers([sid("p", 1)])
    before, calls, published = ledger_items(cloud), start_recovery_calls(cloud), len(cloud.events)
    counted = count_metrics(monkeypatch)

    # WHEN someone invokes the launch function directly: start_job for a made-up execution, not a drill
    forged = _chunk("exec-made-up", is_drill=False, server=sid("p", 1))
    answer = invoke(cloud, "launch_wave", {"action": "start_job", "chunk": forged})

    # THEN it is refused with the reason, and counted: no StartRecovery, no job, nothing written or published
    reason = "refused start_job chunk: chunk.executionId: no execution 'exec-made-up'"
    assert answer == {"outcome": "REFUSED", "reason": reason, "status": "rejected", "error": reason}
    assert counted["InvalidEvents"] == 1
    assert start_recovery_calls(cloud) == calls
    assert sid("p", 1) not in cloud.drs.stats.launches
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published
    assert not cloud.lambdas.errors

    # AND the drill runs on as it would have: each of its servers launched once, as a drill
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("b", 1): 1}
    assert_choreography_invariants(cloud, execution_id)


def test_a_direct_start_job_of_the_running_drill_as_a_recovery_launches_nothing(local_cloud, monkeypatch):
    # GIVEN a drill launching its first wave (its launch state machine may have started the job already)
    cloud, execution_id = _launching(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)
    counted = count_metrics(monkeypatch)

    # WHEN its own chunks are handed to the launch function saying isDrill: false, and for the pending wave
    payloads = {
        "not a drill": {"action": "start_job", "chunk": _chunk(execution_id, is_drill=False)},
        "a pending wave": {"action": "start_job", "chunk": _chunk(execution_id, is_drill=True, wave_id="w2")},
        "a made-up failure": {
            "action": "chunk_failed",
            "chunk": _chunk(execution_id, is_drill=False),
            "error": {"Error": "DrsPermanentError", "Cause": "forged"},
        },
    }
    answers = {name: invoke(cloud, "launch_wave", payload)["error"] for name, payload in payloads.items()}

    # THEN each is refused, naming what the ledger says, and nothing was launched, failed or written
    drill = f"chunk.isDrill: execution '{execution_id}' is a DRILL: isDrill must be true"
    assert answers == {
        "not a drill": f"refused start_job chunk: {drill}",
        "a pending wave": "refused start_job chunk: chunk.attempt: wave 'w2' has not launched in attempt 1 "
        "(it is PENDING)",
        "a made-up failure": f"refused chunk_failed chunk: {drill}",
    }
    assert counted["InvalidEvents"] == 3
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == before
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    jobs = cloud.session.client("drs").describe_jobs()["items"]
    assert sorted(job["initiatedBy"] for job in jobs) == ["START_DRILL", "START_DRILL"]
    assert_choreography_invariants(cloud, execution_id)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (["not", "an", "object"], "invalid <no detail-type> event: event must be a JSON object, got list"),
        ({"action": "launch_everything"}, "is not one of prepare, start_job, chunk_failed"),
        ({"action": "start_job"}, "refused start_job chunk: chunk: must be a JSON object, got NoneType"),
        ({"action": "prepare", "event": {"detail": {}}}, "invalid <no detail-type> event: detail-type: missing"),
    ],
    ids=["not-an-object", "unknown-action", "no-chunk", "prepare-without-event"],
)
def test_a_malformed_direct_invocation_is_refused_not_raised(local_cloud, monkeypatch, payload, error):
    # GIVEN a local cloud with a drill launching
    cloud, _ = _launching(local_cloud)
    before = ledger_items(cloud)
    counted = count_metrics(monkeypatch)

    # WHEN the launch function is invoked with a payload that is no task of its state machine
    answer = invoke(cloud, "launch_wave", payload)

    # THEN it answers why (no KeyError, no function error to retry), counted, and nothing changed
    assert answer["status"] == "rejected"
    assert error in answer["error"]
    assert counted["InvalidEvents"] == 1
    assert ledger_items(cloud) == before
    assert not cloud.lambdas.errors


def test_a_wave_ready_for_a_wave_that_does_not_exist_is_dropped_and_counted_never_dead_lettered(
    local_cloud, monkeypatch
):
    # GIVEN a drill launching its first wave
    cloud, execution_id = _launching(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)
    counted = count_metrics(monkeypatch)
    forged = {"executionId": execution_id, "planId": "forged", "waveId": "w9"}

    # WHEN a WaveReady for a wave its plan lacks arrives on the bus, and directly at the pre-launch function
    cloud.publish("WaveReady", forged)
    cloud.drain()
    direct = invoke(
        cloud,
        "pre_launch",
        {
            "version": "0",
            "id": "forged-wave-ready",
            "detail-type": "WaveReady",
            "source": events_of(cloud, "PlanStarted", execution_id)[0].source,
            "account": ACCOUNT,
            "time": "2026-01-01T09:00:00Z",
            "region": REGION,
            "resources": [],
            "detail": forged,
        },
    )

    # THEN both are dropped with the reason and counted; no handler error, no retry, nothing dead-lettered
    reason = f"invalid WaveReady event: detail.waveId: the plan of execution '{execution_id}' has no wave 'w9'"
    assert direct == {"status": "rejected", "error": reason}
    assert counted["InvalidEvents"] == 2
    assert cloud.stats.handler_errors == 0
    assert sum(cloud.dead_letters().values()) == 0
    assert ledger_items(cloud) == before
    assert start_recovery_calls(cloud) == calls

    # AND the execution completes as it would have
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert_choreography_invariants(cloud, execution_id)
