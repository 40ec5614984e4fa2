"""End to end: forged choreography events and direct invocations with genuine-looking content change nothing
(issue #13 item 3, "Functions trust the ledger, not their input").

A DRSJobCompleted is recorded from DRS's answer, never from the event (orchestrator/steps/launch_checks.py
`check_job_end`): one that says LAUNCHED for a server DRS failed, that names another wave's job, or that reports
a job DRS still runs is refused, logged and counted (InvalidEvents) with nothing written. A chunk_failed of a
launching wave's own chunk (every field of which can be derived from ids an operator sees) is refused without
the launch token `prepare` wrote on the wave. Each attack comes from a principal allowed to do it: a PutEvents on
the bus, or a Lambda Invoke of the function. The honest run goes on unchanged after each."""

from __future__ import annotations

from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import ACCOUNT, REGION
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.launches import LaunchClaim, LaunchStatus
from orchestrator.steps.launch_checks import launch_key
from tests.e2e.helpers import (
    assert_choreography_invariants,
    count_metrics,
    events_of,
    invoke,
    ledger_items,
    sid,
    wave,
)

FAILING = sid("a", 2)
#: DRS ends every launch 100 s after it starts and sends no Launch Result events: the watcher sees a job's end
#: at its next tick (90 s, then 120 s after the job started), so a test can act between DRS and the watcher.
SLOW_WATCH = {"drs.launchSeconds": {"min": 100, "max": 100}, "drs.launchEvents": "drop"}
#: Room for one DRS job of one server: a wave of two servers launches one and parks the other.
ONE_SERVER = {"drs.quotas": {"serversPerJob": 1, "concurrentJobs": 1, "serversInAllJobs": 1}}


def _envelope(cloud: LocalCloud, execution_id: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event as the orchestrator's own would reach a function (its source, account, Region)."""
    return {
        "version": "0",
        "id": f"forged-{detail_type}",
        "detail-type": detail_type,
        "source": events_of(cloud, "PlanStarted", execution_id)[0].source,
        "account": ACCOUNT,
        "time": "2026-01-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def _jobs(cloud: LocalCloud, execution_id: str, wave_id: str) -> list[str]:
    """The DRS job ids the ledger has for the wave's current attempt."""
    found = cloud.runtime.ledger.wave(execution_id, wave_id)
    assert found is not None
    return [job.job_id for job in found.current.jobs]


def _drs_job(cloud: LocalCloud, job_id: str) -> dict[str, Any]:
    [job] = cloud.session.client("drs").describe_jobs(filters={"jobIDs": [job_id]})["items"]
    return job


def _job_completed(execution_id: str, wave_id: str, job_id: str, servers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "executionId": execution_id,
        "planId": "forged-events",
        "waveId": wave_id,
        "attempt": 1,
        "jobId": job_id,
        "servers": servers,
    }


def _launching_jobs(cloud: LocalCloud, document: dict[str, Any], *waves: str) -> str:
    """The plan started, each of `waves` LAUNCHING with its DRS job started (and not ended)."""
    execution_id = start(cloud, parse_plan(document))
    cloud.run_until(lambda: all(_jobs(cloud, execution_id, w) for w in waves), timeout=60)
    return execution_id


def test_a_forged_job_end_saying_launched_for_a_server_drs_failed_records_nothing(local_cloud, monkeypatch):
    # GIVEN a drill whose wave's DRS job has ended, launching a1 and failing a2 (the watcher has not seen it yet)
    cloud = local_cloud(**SLOW_WATCH, **{f"drs.servers.{FAILING}.launch": "FAILED"})
    document = {"planId": "forged-events", "waves": [wave("w1", [sid("a", 1), FAILING])]}
    execution_id = _launching_jobs(cloud, document, "w1")
    [job_id] = _jobs(cloud, execution_id, "w1")
    cloud.run_until(lambda: _drs_job(cloud, job_id)["status"] == "COMPLETED", timeout=60)
    drs = {p["sourceServerID"]: p for p in _drs_job(cloud, job_id)["participatingServers"]}
    assert drs[FAILING]["launchStatus"] == "FAILED"
    before, published = ledger_items(cloud), len(cloud.events)
    counted = count_metrics(monkeypatch)

    # WHEN someone puts a DRSJobCompleted for that job on the bus saying both servers launched
    servers = [
        {
            "sourceServerId": sid("a", 1),
            "launchStatus": "LAUNCHED",
            "recoveryInstanceId": drs[sid("a", 1)].get("recoveryInstanceID"),
        },
        {"sourceServerId": FAILING, "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-0000000000000f0ed"},
    ]
    cloud.publish("DRSJobCompleted", _job_completed(execution_id, "w1", job_id, servers))
    cloud.drain()

    # THEN it is refused and counted: nothing recorded, no post-launch, nothing published
    assert counted["InvalidEvents"] == 1
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + 1  # the forged event itself
    assert cloud.stats.handler_errors == 0

    # AND the wave ends as DRS says: a2 did not launch, so the wave fails (its CRITICAL server)
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "FAILED"
    [w1] = result.report["waves"]
    assert {s["sourceServerId"]: s["launchStatus"] for s in w1["servers"]} == {
        sid("a", 1): "LAUNCHED",
        FAILING: "FAILED",
    }
    assert_choreography_invariants(cloud, execution_id)


def test_a_forged_job_end_naming_another_waves_job_or_a_job_drs_still_runs_records_nothing(local_cloud, monkeypatch):
    # GIVEN a drill whose two waves are launching, each with its DRS job still running (packing off: packed, the two
    # would share one job; a forged end of a packed job is refused in tests/unit/steps/test_packer.py)
    cloud = local_cloud(**SLOW_WATCH, **{"packing.enabled": False})
    document = {"planId": "forged-events", "waves": [wave("w1", [sid("a", 1)]), wave("w2", [sid("b", 1)])]}
    execution_id = _launching_jobs(cloud, document, "w1", "w2")
    [w1_job], [w2_job] = _jobs(cloud, execution_id, "w1"), _jobs(cloud, execution_id, "w2")
    assert _drs_job(cloud, w1_job)["status"] != "COMPLETED"
    before, published = ledger_items(cloud), len(cloud.events)
    counted = count_metrics(monkeypatch)
    launched = [
        {"sourceServerId": sid("a", 1), "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-0000000000000f0ed"}
    ]

    # WHEN the post-launch function is invoked directly with w1's end naming w2's job, and with w1's own job
    # (which DRS still runs) reported launched
    answers = {
        name: invoke(cloud, "post_launch", _envelope(cloud, execution_id, "DRSJobCompleted", detail))
        for name, detail in {
            "another wave's job": _job_completed(execution_id, "w1", w2_job, launched),
            "a job DRS still runs": _job_completed(execution_id, "w1", w1_job, launched),
        }.items()
    }

    # THEN each is refused with the reason, and counted; nothing recorded, nothing published
    prefix = "invalid DRSJobCompleted event: "
    assert answers == {
        "another wave's job": {
            "status": "rejected",
            "error": f"{prefix}detail.jobId: no job '{w2_job}' in attempt 1 of the wave",
        },
        "a job DRS still runs": {
            "status": "rejected",
            "error": f"{prefix}detail.jobId: DRS says job '{w1_job}' is {_drs_job(cloud, w1_job)['status']}, "
            "not COMPLETED",
        },
    }
    assert counted["InvalidEvents"] == 2
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published

    # AND the drill runs on: each server launched once, each recorded from its DRS job
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("b", 1): 1}
    assert_choreography_invariants(cloud, execution_id)


def _parked_chunk(claim: LaunchClaim, *, token: str | None) -> dict[str, Any]:
    """The parked job of attempt 1 of wave w1, every field as the state machine passes it (the launch token aside).
    Which of the two jobs got the capacity first is the Map state's doing: the parked one is read from its claim."""
    return {
        "executionId": claim.execution_id,
        "planId": "forged-events",
        "waveId": "w1",
        "attempt": 1,
        "index": claim.index,
        "isDrill": True,
        "launchKey": launch_key(claim.execution_id, "w1", 1, claim.index),
        **({"launchToken": token} if token is not None else {}),
        "servers": [{"sourceServerID": server} for server in claim.server_ids],
    }


def test_a_direct_chunk_failed_of_a_genuine_chunk_without_its_launch_token_fails_nothing(local_cloud, monkeypatch):
    # GIVEN a drill whose wave w1 launches a1 and waits for DRS capacity to launch a2 (its launch parked)
    cloud = local_cloud(**ONE_SERVER)
    document = {"planId": "forged-events", "waves": [wave("w1", [sid("a", 1), sid("a", 2)])]}
    execution_id = start(cloud, parse_plan(document))

    def parked() -> bool:
        claims = cloud.runtime.ledger.launches(execution_id, "w1")
        return sorted(c.status for c in claims) == sorted([LaunchStatus.STARTED, LaunchStatus.PARKED])

    cloud.run_until(parked, timeout=60)
    [claim] = [c for c in cloud.runtime.ledger.launches(execution_id, "w1") if c.status == LaunchStatus.PARKED]
    before, calls = ledger_items(cloud), cloud.drs.stats.calls.get("StartRecovery", 0)
    counted = count_metrics(monkeypatch)

    # WHEN someone invokes the launch function with that chunk's chunk_failed: no token, then a made-up one
    error = {"Error": "DrsPermanentError", "Cause": "forged"}
    answers = [
        invoke(
            cloud,
            "launch_wave",
            {"action": "chunk_failed", "chunk": _parked_chunk(claim, token=token), "error": error},
        )
        for token in (None, "bm90LXRoZS10b2tlbg")
    ]

    # THEN both are refused, counted, and nothing was failed, written or started
    reason = "refused chunk_failed chunk: chunk.launchToken: not the launch token of attempt 1 of wave 'w1'"
    assert answers == [{"outcome": "REFUSED", "reason": reason, "status": "rejected", "error": reason}] * 2
    assert counted["InvalidEvents"] == 2
    assert ledger_items(cloud) == before
    assert cloud.drs.stats.calls.get("StartRecovery", 0) == calls

    # AND the drill runs on: a2 launches once capacity frees, and the wave completes
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("a", 2): 1}
    assert_choreography_invariants(cloud, execution_id)
