"""Issue #15 item 4, end to end on the local cloud: failback of a cross-Region EC2 recovery (ReverseReplication, then
recovery of the reversed source servers in the origin Region, in dependency order)."""

from __future__ import annotations

from typing import Any

from events.models import Mode
from localcloud.runner import failback_refusals, run_failback, run_plan
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, wave

ACCOUNT = "222233334444"
EXTERNAL_ID = "drs-orch-7f3a"
SERVERS = {"db": [sid("d", 1), sid("d", 2)], "app": [sid("a", 1), sid("a", 2)], "web": [sid("w", 1)]}


def _target(region: str) -> dict[str, str]:
    return {
        "accountId": ACCOUNT,
        "region": region,
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/DrsOrchestratorTarget",
        "externalId": EXTERNAL_ID,
    }


def _cloud(local_cloud: Any, **faults: Any) -> Any:
    """EC2 instances of us-east-1, replicated by DRS in us-west-2 of account 222233334444, which is set up in both."""
    origins = {s: {"originRegion": "us-east-1"} for ids in SERVERS.values() for s in ids}
    failback = {"reverseReplicationSeconds": 400, "launchSeconds": 200, "servers": origins}
    return local_cloud(
        accounts=[
            {
                "accountId": ACCOUNT,
                "externalId": EXTERNAL_ID,
                "regions": {"us-west-2": {"drs": {"failback": failback}}, "us-east-1": {"drs": {}}},
            }
        ],
        **{"drs.launchSeconds": {"min": 300, "max": 300}, **faults},
    )


def _plan() -> Any:
    return parse_plan(
        {
            "planId": "cross-region",
            "target": _target("us-west-2"),
            "waves": [
                wave("db", SERVERS["db"]),
                wave("app", SERVERS["app"], ["db"]),
                wave("web", SERVERS["web"], ["app"]),
            ],
        }
    )


def test_failback_after_a_cross_region_recovery_brings_every_server_back_in_the_origin_region(local_cloud):
    # GIVEN a completed RECOVERY of three waves in us-west-2
    cloud = _cloud(local_cloud)
    recovery = run_plan(cloud, _plan(), mode=Mode.RECOVERY, confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report
    west, east = cloud.drs_for(ACCOUNT, "us-west-2"), cloud.drs_for(ACCOUNT, "us-east-1")

    # WHEN it is failed back, and reprotected once failed back
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="cross-region", reprotect=True, timeout=120)

    # THEN every recovery instance's replication was reversed once, and each reversed server launched once in
    # us-east-1, wave after wave
    assert result.status == "COMPLETED", (result.problem, result.report)
    assert west.stats.calls["ReverseReplication"] == 5
    assert sum(east.stats.launches.values()) == 5
    assert set(east.stats.launches.values()) == {1}
    started = events_of(cloud, "DRSJobStarted", result.execution_id)
    assert [e.wave_id for e in started] == ["db", "app", "web"]
    # AND db waited for its reversed servers' initial sync (400 s) before it launched
    began = events_of(cloud, "PlanStarted", result.execution_id)[0].time
    assert (parse_iso(started[0].time) - parse_iso(began)).total_seconds() >= 400
    assert all(w["target"] == {"accountId": ACCOUNT, "region": "us-east-1"} for w in result.report["waves"])
    assert set(result.report["failback"]["waves"].values()) == {"REVERSE_REPLICATION"}
    assert_choreography_invariants(cloud, result.execution_id)
    # AND each server replicates toward us-west-2 again through its original source server there, whose state the
    # report gives; the us-west-2 recovery instances are left running (no operator asked to terminate them)
    cloud.drain()
    reprotect = _report(cloud, result.execution_id)["reprotect"]
    originals = {s for ids in SERVERS.values() for s in ids}
    assert {s["action"] for s in reprotect["servers"]} == {"ReverseReplication"}
    assert {s["protectedSourceServerId"] for s in reprotect["servers"]} == originals
    assert {s["replicationState"] for s in reprotect["servers"]} == {"INITIAL_SYNC"}
    assert reprotect["terminatedRecoveryInstanceIds"] == []
    assert west.stats.calls["TerminateRecoveryInstances"] == 0
    assert len(events_of(cloud, "Reprotected", result.execution_id)) == 1


def test_a_failback_drill_of_ec2_origins_launches_drill_instances_in_the_origin_region(local_cloud):
    # GIVEN a completed RECOVERY in us-west-2
    cloud = _cloud(local_cloud)
    recovery = run_plan(cloud, _plan(), mode=Mode.RECOVERY, confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report

    # WHEN a failback drill is published on the bus (no confirmation: nothing moves for real)
    result = run_failback(cloud, recovery.execution_id, drill=True, timeout=120)

    # THEN it ran as a DRILL in us-east-1
    assert result.status == "COMPLETED", (result.problem, result.report)
    assert result.report["mode"] == "DRILL"
    assert sum(cloud.drs_for(ACCOUNT, "us-east-1").stats.launches.values()) == 5
    assert not failback_refusals(cloud, recovery.execution_id)


def _report(cloud: Any, execution_id: str) -> dict[str, Any]:
    from orchestrator.reporting.report import build_report

    assert cloud.ledger is not None
    report = build_report(cloud.ledger, execution_id, [])
    assert report is not None
    return report


def test_duplicated_and_reordered_deliveries_reverse_and_launch_each_server_once(local_cloud):
    # GIVEN a completed cross-Region RECOVERY on a bus that delivers 40 % of events twice and holds 30 % back
    cloud = _cloud(local_cloud, **{"faults.duplicateDelivery": 0.4, "faults.reorderDelivery": 0.3})
    recovery = run_plan(cloud, _plan(), mode=Mode.RECOVERY, confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report

    # WHEN it is failed back and reprotected
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="cross-region", reprotect=True, timeout=120)

    # THEN each recovery instance was reversed once, each reversed server launched once in us-east-1, in order,
    # and each reprotected once
    assert result.status == "COMPLETED", (result.problem, result.report)
    assert cloud.stats.duplicated > 0
    west, east = cloud.drs_for(ACCOUNT, "us-west-2"), cloud.drs_for(ACCOUNT, "us-east-1")
    assert west.stats.calls["ReverseReplication"] == 5
    assert sorted(east.stats.launches.values()) == [1] * 5
    starts = {e.wave_id: parse_iso(e.time) for e in events_of(cloud, "DRSJobStarted", result.execution_id)}
    ends = {e.wave_id: parse_iso(e.time) for e in events_of(cloud, "WaveCompleted", result.execution_id)}
    assert ends["db"] <= starts["app"]
    assert ends["app"] <= starts["web"]
    cloud.drain()
    assert east.stats.calls["ReverseReplication"] == 5  # the reprotect, once per failed-back instance
    assert_choreography_invariants(cloud, result.execution_id)
