"""Issue #15 item 4, end to end on the local cloud: failback of a completed RECOVERY as a plan run, through
StartFailbackLaunch for on-premises origins."""

from __future__ import annotations

from typing import Any

from localcloud.runner import failback_refusals, run_failback, run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, wave

FAILBACK = {"startAfterSeconds": 30, "readyAfterSeconds": 120, "launchSeconds": 200}


def _plan() -> Any:
    """db (2 servers) then app (2 servers) after it."""
    return parse_plan(
        {
            "planId": "onprem",
            "waves": [
                wave("db", [sid("d", 1), sid("d", 2)]),
                wave("app", [sid("a", 1), sid("a", 2)], ["db"]),
            ],
        }
    )


def _recovered(local_cloud: Any, **failback: Any) -> tuple[Any, Any]:
    cloud = local_cloud(**{"drs.failback": {**FAILBACK, **failback}, "drs.launchSeconds": {"min": 300, "max": 300}})
    recovery = run_plan(cloud, _plan(), mode=_recovery(), confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report
    return cloud, recovery


def _recovery() -> Any:
    from events.models import Mode

    return Mode.RECOVERY


def test_on_premises_failback_launches_back_in_dependency_order(local_cloud):
    # GIVEN a completed RECOVERY of on-premises servers whose failback clients are ready
    cloud, recovery = _recovered(local_cloud)

    # WHEN it is failed back
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=120)

    # THEN a FAILBACK execution ran the same waves, each through StartFailbackLaunch, db before app
    assert result.status == "COMPLETED", (result.problem, result.report)
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 2
    started = events_of(cloud, "DRSJobStarted", result.execution_id)
    assert [e.wave_id for e in started] == ["db", "app"]
    jobs = {j["jobID"]: j for j in _drs(cloud).describe_jobs(filters={})["items"]}
    for event in started:
        job = jobs[event.detail["jobId"]]
        assert job["initiatedBy"] == "FAILBACK"
        assert sorted(p["sourceServerID"] for p in job["participatingServers"]) == sorted(
            _plan().wave(str(event.wave_id)).server_ids
        )
    assert events_of(cloud, "PlanStarted", result.execution_id)[0].detail["failbackOf"] == recovery.execution_id
    # AND the recovery's StartRecovery calls were the only ones
    assert cloud.drs.stats.calls["StartRecovery"] == len(events_of(cloud, "DRSJobStarted", recovery.execution_id))
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_recovery_instance_not_ready_fails_its_wave_before_anything_launches(local_cloud):
    # GIVEN a completed RECOVERY where the failback client of one db server never gets ready
    cloud, recovery = _recovered(local_cloud, servers={sid("d", 2): {"neverReady": True}})

    # WHEN it is failed back
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=120)

    # THEN db fails at preflight naming the instance and its state; nothing was launched back
    assert result.status == "FAILED", result.report
    db = next(w for w in result.report["waves"] if w["waveId"] == "db")
    stuck = _instances(cloud, recovery.execution_id, "db", only=sid("d", 2))[0]
    assert f"recovery instance {stuck} is FAILBACK_IN_PROGRESS, not FAILBACK_READY_FOR_LAUNCH" in str(db)
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 0


def test_failback_refusals_change_nothing(local_cloud):
    # GIVEN a completed RECOVERY
    cloud, recovery = _recovered(local_cloud)

    # WHEN a failback drill of on-premises servers, an unconfirmed failback and one of an unknown execution are sent
    drill = run_failback(cloud, recovery.execution_id, drill=True, timeout=60)
    unconfirmed = run_failback(cloud, recovery.execution_id, confirm_plan_id="other", timeout=60)

    # THEN each is refused with its reason, and no failback execution exists
    assert drill.status == "REJECTED"
    assert "no failback drill" in str(drill.problem)
    assert unconfirmed.status == "REJECTED"
    assert "confirmFailback equal to the planId" in str(unconfirmed.problem)
    assert cloud.ledger is not None
    assert cloud.ledger.get_execution(f"failback-{recovery.execution_id}") is None
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == cloud.drs.stats.calls["ReverseReplication"] == 0
    assert len(failback_refusals(cloud, recovery.execution_id)) == 2


def _drs(cloud: Any) -> Any:
    return cloud.session.client("drs", region_name="us-east-1")


def _instances(cloud: Any, execution_id: str, wave_id: str, only: str | None = None) -> list[str]:
    assert cloud.runtime is not None
    servers = cloud.runtime.ledger.wave_servers(execution_id, wave_id)
    return [str(s.recovery_instance_id) for sid_, s in servers.items() if only is None or sid_ == only]


def test_duplicated_and_reordered_deliveries_fail_nothing_back_twice(local_cloud):
    # GIVEN a completed RECOVERY on a bus that delivers 40 % of events twice and holds 30 % back behind later ones
    cloud = local_cloud(
        **{
            "drs.failback": FAILBACK,
            "drs.launchSeconds": {"min": 300, "max": 300},
            "faults.duplicateDelivery": 0.4,
            "faults.reorderDelivery": 0.3,
        }
    )
    recovery = run_plan(cloud, _plan(), mode=_recovery(), confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report

    # WHEN the Failback command itself is sent twice
    from localcloud.runner import start_failback

    start_failback(cloud, recovery.execution_id, confirm_plan_id="onprem")
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=120)

    # THEN one failback execution ran, each recovery instance in exactly one failback job, db's before app's
    assert result.status == "COMPLETED", (result.problem, result.report)
    assert cloud.stats.duplicated > 0
    jobs = [j for j in _drs(cloud).describe_jobs(filters={})["items"] if j.get("initiatedBy") == "FAILBACK"]
    launched = [p["sourceServerID"] for j in jobs for p in j["participatingServers"]]
    assert sorted(launched) == sorted(s for w in _plan().waves for s in w.server_ids)
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 2
    first_app = min(j["creationDateTime"] for j in jobs if _plan().wave("app").server_ids[0] in str(j))
    last_db_end = max(j["endDateTime"] for j in jobs if _plan().wave("db").server_ids[0] in str(j))
    assert last_db_end <= first_app
    assert not failback_refusals(cloud, recovery.execution_id)
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_step_on_the_recovery_instances_of_an_on_premises_wave_is_refused_unless_failback_steps_replace_it(
    local_cloud,
):
    # GIVEN a recovery whose app wave runs a script on its recovery instances after launch
    document = {
        "planId": "onprem",
        "waves": [
            wave("db", [sid("d", 1), sid("d", 2)]),
            {
                **wave("app", [sid("a", 1), sid("a", 2)], ["db"]),
                "postLaunch": [{"documentName": "DRSOrch-WaitForSsmAgent"}],
            },
        ],
    }
    cloud = local_cloud(**{"drs.failback": FAILBACK, "drs.launchSeconds": {"min": 300, "max": 300}})
    recovery = run_plan(cloud, parse_plan(document), mode=_recovery(), confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report

    # WHEN it is failed back
    refused = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=60)

    # THEN the failback is refused naming the step (it would run on instances that stay in AWS); nothing launched
    assert refused.status == "REJECTED"
    assert "wave 'app' postLaunch[0] (DRSOrch-WaitForSsmAgent) runs on the wave's recovery instances" in str(
        refused.problem
    )
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 0


def test_failback_steps_replace_the_recovery_steps(local_cloud):
    # GIVEN a recovery whose app wave's failback steps replace its post-launch script by a 45 s pause
    document = {
        "planId": "onprem",
        "waves": [
            wave("db", [sid("d", 1), sid("d", 2)]),
            {
                **wave("app", [sid("a", 1), sid("a", 2)], ["db"]),
                "postLaunch": [{"documentName": "DRSOrch-WaitForSsmAgent"}],
                "failback": {"postLaunch": [{"type": "WAIT", "seconds": 45}]},
            },
        ],
    }
    cloud = local_cloud(**{"drs.failback": FAILBACK, "drs.launchSeconds": {"min": 300, "max": 300}})
    recovery = run_plan(cloud, parse_plan(document), mode=_recovery(), confirm=True, timeout=120)
    assert recovery.status == "COMPLETED", recovery.report

    # WHEN it is failed back
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=120)

    # THEN the failback ran the pause, not the document
    assert result.status == "COMPLETED", (result.problem, result.report)
    app = next(w for w in result.report["waves"] if w["waveId"] == "app")
    assert [(s["phase"], s["documentName"], s["status"]) for s in app["scripts"]] == [
        ("POST_LAUNCH", "WAIT 45 s", "Success")
    ]


def test_reprotect_restarts_replication_and_terminates_the_recovery_side_only_when_an_operator_asks(local_cloud):
    # GIVEN a completed failback of on-premises servers
    cloud, recovery = _recovered(local_cloud)
    result = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=120)
    assert result.status == "COMPLETED", (result.problem, result.report)
    servers = [s for w in _plan().waves for s in w.server_ids]

    # WHEN a Reprotect put on the bus asks to terminate the recovery side's instances, then one without
    cloud.publish("Reprotect", {"executionId": result.execution_id, "terminateRecoveryInstances": True})
    cloud.publish("Reprotect", {"executionId": result.execution_id})
    cloud.drain()

    # THEN the first is refused (terminating is for an operator) and terminates nothing; the second restarts each
    # server's replication (StartReplication), the state DRS answered reported
    refusals = [e.detail["reason"] for e in events_of(cloud, "ControlRejected", result.execution_id)]
    assert len(refusals) == 1
    assert "terminating the recovery side's instances is for an operator" in refusals[0]
    (done,) = [e.detail for e in events_of(cloud, "Reprotected", result.execution_id)]
    assert sorted(s["sourceServerId"] for s in done["servers"]) == sorted(servers)
    assert {(s["action"], s["replicationState"]) for s in done["servers"]} == {("StartReplication", "INITIATING")}
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 0

    # WHEN an operator (a recovery principal, through the operator endpoint) asks for the termination
    from localcloud.operators import local_caller

    reply = cloud.operate(
        "Reprotect", {"executionId": result.execution_id, "terminateRecoveryInstances": True}, caller=local_caller(None)
    )
    assert reply.accepted, reply.error
    cloud.drain()

    # THEN the recovery's instances are asked to terminate, and the servers already replicating are reported so
    last = events_of(cloud, "Reprotected", result.execution_id)[-1].detail
    recovered = [i for w in ("db", "app") for i in _instances(cloud, recovery.execution_id, w)]
    assert sorted(last["terminatedRecoveryInstanceIds"]) == sorted(recovered)
    assert {s["action"] for s in last["servers"]} == {"NONE"}
    assert all("replicating already" in s["reason"] for s in last["servers"])


def test_reprotect_refusals_change_nothing(local_cloud):
    # GIVEN a completed RECOVERY (not a failback)
    cloud, recovery = _recovered(local_cloud)

    # WHEN it is asked to reprotect, and so is an unknown execution
    cloud.publish("Reprotect", {"executionId": recovery.execution_id})
    cloud.publish("Reprotect", {"executionId": "no-such-execution"})
    cloud.drain()

    # THEN both are refused with their reason, and nothing was asked of DRS
    mine = events_of(cloud, "ControlRejected", recovery.execution_id)
    assert "is not a failback" in mine[0].detail["reason"]
    unknown = events_of(cloud, "ControlRejected", "no-such-execution")
    assert "unknown execution 'no-such-execution'" in unknown[0].detail["reason"]
    assert cloud.drs.stats.calls["StartReplication"] == cloud.drs.stats.calls["ReverseReplication"] == 0


def test_a_failback_while_another_recovery_of_the_plan_runs_is_refused(local_cloud):
    # GIVEN a completed RECOVERY, and a second RECOVERY of the same plan launching
    from localcloud.runner import start

    cloud, recovery = _recovered(local_cloud)
    second = start(cloud, _plan(), mode=_recovery(), confirm=True)
    cloud.run_until(lambda: bool(events_of(cloud, "DRSJobStarted", second)), timeout=60)

    # WHEN the first is failed back
    refused = run_failback(cloud, recovery.execution_id, confirm_plan_id="onprem", timeout=60)

    # THEN the Failback is refused naming the running recovery, and nothing was launched back
    assert refused.status == "REJECTED"
    assert f"has a RECOVERY running ('{second}')" in str(refused.problem)
    assert cloud.drs.stats.calls["StartFailbackLaunch"] == 0
