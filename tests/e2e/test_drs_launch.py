"""End to end: DRS launches under the quotas, preflight, per-server results, the job watcher and drill
clean-up, on the local cloud with the DRS simulator."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from drs_orch.app import app
from events.models import Mode
from localcloud.runner import run_plan, start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, at, events_of, sid, start_recovery_calls, wave

DROP_EVENTS = {"drs.launchEvents": "drop"}


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["waveId"]: w for w in report["waves"]}


def _running_instances(cloud: Any, server_ids: set[str]) -> list[str]:
    assert cloud.runtime is not None
    found = cloud.runtime.drs.describe_recovery_instances(source_server_ids=sorted(server_ids))
    return [i["recoveryInstanceID"] for i in found if i["ec2InstanceState"] == "RUNNING"]


# ---- jobs under the quotas ---------------------------------------------------------------------


def test_a_250_server_wave_becomes_three_jobs(local_cloud):
    # GIVEN a wave of 250 servers (DRS takes at most 100 per job)
    cloud = local_cloud(**DROP_EVENTS)
    servers = [sid("a", n) for n in range(250)]
    plan = parse_plan({"planId": "big-wave", "waves": [wave("big", servers)]})

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN three balanced jobs launched every server once, and the capacity is free again
    assert result.status == "COMPLETED"
    assert result.report is not None
    jobs = result.report["waves"][0]["jobs"]
    assert sorted(len(job["sourceServerIds"]) for job in jobs) == [83, 83, 84]
    assert start_recovery_calls(cloud) == 3
    assert set(cloud.drs.stats.launches) == set(servers)
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers) == (0, 0)
    assert_choreography_invariants(cloud, result.execution_id)


def test_three_concurrent_executions_never_exceed_the_drs_quotas(local_cloud):
    # GIVEN three executions of 300 servers each started together (900 servers > 500 in all active jobs)
    cloud = local_cloud(**DROP_EVENTS, **{"drs.launchSeconds": {"min": 60, "max": 120}})
    plans = [
        parse_plan({"planId": f"tenant-{t}", "waves": [wave("all", [sid(t, n) for n in range(300)])]}) for t in "xyz"
    ]

    # WHEN they run at the same time
    executions = [start(cloud, plan) for plan in plans]
    results = [wait(cloud, execution_id, timeout=180) for execution_id in executions]

    # THEN all complete, DRS never refused a launch over quota, and at no moment were more than 20 jobs
    # or 500 servers in flight: what did not fit waited in the ledger
    assert [r.status for r in results] == ["COMPLETED"] * 3
    stats = cloud.drs.stats
    assert "ServiceQuotaExceededException" not in stats.errors
    assert stats.max_concurrent_jobs <= 20
    assert stats.max_servers_in_active_jobs <= 500
    assert stats.max_servers_in_active_jobs > 300, "the executions did run side by side"
    assert len(stats.launches) == 900
    assert max(stats.launches.values()) == 1
    assert cloud.stats.schedules_fired > 0
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers, capacity.queued or 0) == (0, 0, 0)
    assert cloud.runtime.ledger.parked() == []
    for result in results:
        assert_choreography_invariants(cloud, result.execution_id)


def test_the_concurrent_job_quota_queues_waves_instead_of_failing_them(local_cloud):
    # GIVEN a DRS that runs at most 2 jobs of at most 5 servers, and 6 parallel waves of 4 servers
    cloud = local_cloud(
        **DROP_EVENTS, **{"drs.quotas": {"concurrentJobs": 2, "serversPerJob": 5, "serversInAllJobs": 50}}
    )
    plan = parse_plan(
        {"planId": "narrow", "waves": [wave(f"w{i}", [sid(f"w{i}", n) for n in range(4)]) for i in range(6)]}
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN every wave completes, two jobs at a time
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.max_concurrent_jobs == 2
    assert "ServiceQuotaExceededException" not in cloud.drs.stats.errors
    assert_choreography_invariants(cloud, result.execution_id)


def test_throttled_drs_still_completes_every_wave(local_cloud):
    # GIVEN a DRS that answers 30 % of all calls with ThrottlingException
    cloud = local_cloud(**{"drs.throttleRate": 0.3})
    plan = parse_plan(
        {
            "planId": "throttled",
            "waves": [
                wave("w1", [sid("a", n) for n in range(12)]),
                wave("w2", [sid("b", n) for n in range(6)], ["w1"]),
                wave("w3", [sid("c", n) for n in range(6)], ["w1"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN it completes; throttling was met (and retried), and no server launched twice
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.errors["ThrottlingException"] > 0
    assert max(cloud.drs.stats.launches.values()) == 1
    assert len(cloud.drs.stats.launches) == 24


# ---- preflight ---------------------------------------------------------------------------------


def test_a_stalled_server_fails_preflight_with_its_name_before_anything_launches(local_cloud):
    # GIVEN a wave one of whose CRITICAL servers no longer replicates
    stalled = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{stalled}.replicationState": "STALLED"})
    plan = parse_plan(
        {
            "planId": "stalled",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), stalled], ["A"]),
                wave("C", [sid("c", 1)], ["B"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN B fails before its scripts or launch, naming the server and the reason; C is skipped
    assert result.status == "FAILED"
    assert result.report is not None
    waves = _by_id(result.report)
    assert waves["B"]["status"] == "FAILED"
    assert stalled in waves["B"]["reason"]
    assert "STALLED" in waves["B"]["reason"]
    assert waves["C"]["status"] == "SKIPPED"
    assert set(cloud.drs.stats.launches) == {sid("a", 1)}
    failed = events_of(cloud, "WaveFailed", result.execution_id, "B")
    assert [s["sourceServerId"] for s in failed[0].detail["failedServers"]] == [stalled]
    assert not events_of(cloud, "PreLaunchDone", result.execution_id, "B")
    assert_choreography_invariants(cloud, result.execution_id)


def test_preflight_names_lag_over_the_limit_and_a_missing_snapshot(local_cloud):
    # GIVEN a server lagging 900 s behind (the plan allows 600 s) and one pinned to an unknown snapshot
    lagging, pinned = sid("l", 1), sid("p", 1)
    cloud = local_cloud(**{f"drs.servers.{lagging}.lagSeconds": 900})
    plan = parse_plan(
        {
            "planId": "lag",
            "defaults": {"maxReplicationLagSeconds": 600},
            "waves": [
                wave(
                    "W",
                    [lagging, {"sourceServerID": pinned, "recoverySnapshotID": "pit-0000000000000dead"}, sid("ok", 1)],
                ),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the wave fails with one line per server and reason, and nothing launched
    assert result.status == "FAILED"
    reason = result.report["waves"][0]["reason"]
    assert f"{lagging}: replication lag 900 s exceeds the plan's limit of 600 s" in reason
    assert f"{pinned}: recovery snapshot pit-0000000000000dead not found" in reason
    assert sid("ok", 1) not in reason
    assert start_recovery_calls(cloud) == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_an_optional_server_failing_preflight_is_left_out_and_judged_by_the_threshold(local_cloud):
    # GIVEN a wave of 4 servers whose OPTIONAL one is stalled, with a 75 % success threshold
    optional = sid("o", 1)
    cloud = local_cloud(**{f"drs.servers.{optional}.replicationState": "STALLED"})
    plan = parse_plan(
        {
            "planId": "optional",
            "waves": [
                wave(
                    "W",
                    [sid("c", 1), sid("c", 2), sid("c", 3), {"sourceServerID": optional, "criticality": "OPTIONAL"}],
                    successThreshold=0.75,
                ),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the optional server is not launched but reported with its reason; the wave completes (3/4)
    assert result.status == "COMPLETED"
    servers = {s["sourceServerId"]: s for s in result.report["waves"][0]["servers"]}
    assert servers[optional]["launchStatus"] == "FAILED"
    assert "STALLED" in (servers[optional].get("reason") or "")
    assert optional not in cloud.drs.stats.launches
    assert_choreography_invariants(cloud, result.execution_id)


def test_optional_launch_failures_pass_under_the_threshold_and_critical_ones_fail(local_cloud):
    # GIVEN two waves: in A an OPTIONAL server fails to launch (threshold 0.5); in B a CRITICAL one does
    cloud = local_cloud(
        **{f"drs.servers.{sid('o', 1)}.launch": "FAILED", f"drs.servers.{sid('k', 1)}.launch": "FAILED"}
    )
    plan = parse_plan(
        {
            "planId": "judged",
            "defaults": {"onFailure": "CONTINUE"},
            "waves": [
                wave(
                    "A", [sid("a", 1), {"sourceServerID": sid("o", 1), "criticality": "OPTIONAL"}], successThreshold=0.5
                ),
                wave("B", [sid("b", 1), sid("k", 1)]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN A completes and reports its failed OPTIONAL server, B fails naming its CRITICAL server
    waves = _by_id(result.report)
    assert waves["A"]["status"] == "COMPLETED"
    assert waves["B"]["status"] == "FAILED"
    assert sid("k", 1) in waves["B"]["reason"]
    assert result.status == "FAILED"


# ---- the job watcher ---------------------------------------------------------------------------


def _completion_delays(cloud: Any, execution_id: str) -> list[float]:
    """Simulated seconds between each DRS job's end and its DRSJobCompleted."""
    delays = []
    for event in events_of(cloud, "DRSJobCompleted", execution_id):
        job = cloud.drs._jobs[event.detail["jobId"]]
        delays.append((at(event.time) - job.ended_at).total_seconds())
    return delays


def test_the_watcher_sees_a_job_end_within_seconds_when_launch_results_flow(local_cloud):
    # GIVEN DRS emits its Launch Result events
    cloud = local_cloud()
    plan = parse_plan(
        {"planId": "events", "waves": [wave("A", [sid("a", n) for n in range(3)]), wave("B", [sid("b", 1)], ["A"])]}
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN each job's completion is recorded within seconds of its end
    assert result.status == "COMPLETED"
    delays = _completion_delays(cloud, result.execution_id)
    assert delays
    assert max(delays) < 5, delays


def test_the_watcher_sees_a_job_end_within_one_poll_when_launch_results_are_dropped(local_cloud):
    # GIVEN DRS's Launch Result events never arrive
    cloud = local_cloud(**DROP_EVENTS)
    plan = parse_plan(
        {"planId": "polls", "waves": [wave("A", [sid("a", n) for n in range(3)]), wave("B", [sid("b", 1)], ["A"])]}
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN each completion is seen by the next poll: at most one poll interval (60 s) after the job ended
    assert result.status == "COMPLETED"
    delays = _completion_delays(cloud, result.execution_id)
    assert delays
    assert max(delays) <= 60, delays
    assert cloud.drs.stats.events_emitted == 0


# ---- drill clean-up ----------------------------------------------------------------------------


def test_a_failed_wave_with_rollback_terminate_terminates_what_it_launched(local_cloud):
    # GIVEN a wave whose CRITICAL server fails to launch, with rollback TERMINATE
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "rollback",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), failing], ["A"], rollback="TERMINATE"),
            ],
        }
    )

    # WHEN it runs and the termination job finishes
    result = run_plan(cloud, plan)
    cloud.run_until(lambda: bool(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)), timeout=30)
    cloud.run_until(lambda: not _running_instances(cloud, {sid("b", 1)}), timeout=30)

    # THEN B's launched instance is gone, A's (which completed) still runs
    assert result.status == "FAILED"
    terminated = events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)
    assert [(e.wave_id, e.detail["reason"]) for e in terminated] == [("B", "ROLLBACK")]
    assert _running_instances(cloud, {sid("a", 1)})


def test_a_drill_time_to_live_terminates_its_instances_after_the_plan_ends(local_cloud):
    # GIVEN a drill whose instances live 10 minutes
    cloud = local_cloud()
    servers = {sid("a", 1), sid("a", 2)}
    plan = parse_plan(
        {"planId": "ttl", "defaults": {"drillInstanceTtlSeconds": 600}, "waves": [wave("A", sorted(servers))]}
    )

    # WHEN it runs, and time goes on
    result = run_plan(cloud, plan)
    assert _running_instances(cloud, servers)
    cloud.run_until(lambda: bool(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)), timeout=30)

    # THEN its instances were terminated once the time to live was over (announced when the job has ended)
    assert not _running_instances(cloud, servers)
    terminated = events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)
    assert [e.detail["reason"] for e in terminated] == ["TIME_TO_LIVE"]
    first_launch = at(result.report["waves"][0]["launchStartedAt"])
    assert (at(terminated[0].time) - first_launch).total_seconds() >= 599  # schedules fire to the second


def test_drs_orch_cleanup_terminates_a_drills_instances_once(local_cloud):
    # GIVEN a drill that completed and left its instances running
    cloud = local_cloud()
    servers = {sid("a", 1), sid("b", 1)}
    plan = parse_plan({"planId": "cleanup", "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"])]})
    result = run_plan(cloud, plan)
    assert len(_running_instances(cloud, servers)) == 2

    # WHEN an operator runs `drs-orch cleanup EXECUTION` twice
    runner = CliRunner()
    first = runner.invoke(app, ["cleanup", result.execution_id])
    second = runner.invoke(app, ["cleanup", result.execution_id])

    # THEN the first terminates both instances, the second finds nothing left to terminate
    assert first.exit_code == 0, first.output
    assert "terminating 2 recovery instance(s)" in first.output
    assert second.exit_code == 0, second.output
    assert "nothing to terminate" in second.output
    cloud.run_until(lambda: not _running_instances(cloud, servers), timeout=30)
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 1


# ---- termination edge cases: a duplicate within DRS's lag, a mixed batch, a refused publish ----------


def _completed_drill(local_cloud: Any, *servers: str) -> tuple[Any, Any]:
    cloud = local_cloud()
    plan = parse_plan({"planId": "term-edges", "waves": [wave("A", list(servers))]})
    result = run_plan(cloud, plan)
    assert result.status == "COMPLETED"
    return cloud, cloud.runtime.ledger.execution(result.execution_id)


def _instance_of(cloud: Any, server: str) -> str:
    [instance] = cloud.runtime.drs.describe_recovery_instances(source_server_ids=[server])
    return str(instance["recoveryInstanceID"])


def test_a_duplicate_terminate_finds_the_running_job_and_keeps_its_capacity(local_cloud):
    # GIVEN a terminate job started for an instance (its capacity held in the shared record)
    from orchestrator.steps import cleanup

    cloud, execution = _completed_drill(local_cloud, sid("a", 1))
    batch = [_instance_of(cloud, sid("a", 1))]
    job_id, fresh = cleanup._terminate_job(cloud.runtime, execution.execution_id, batch, "test")
    held = cloud.runtime.ledger.capacity()

    # WHEN a duplicate asks for the same batch before DRS shows the instance shutting down
    again = cleanup._terminate_job(cloud.runtime, execution.execution_id, batch, "test")

    # THEN it finds the running job in its claim (no second call, nothing to report again), and the job's
    # capacity is still counted once (it is released when the job ends)
    assert fresh is True
    assert again == (job_id, True)  # not recorded yet: `terminate` records it, then the claim says so
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 1
    after = cloud.runtime.ledger.capacity()
    assert (after.active_jobs, after.active_servers) == (held.active_jobs, held.active_servers) == (1, 1)


def test_a_batch_with_an_instance_already_terminating_terminates_the_others_in_few_jobs(local_cloud, monkeypatch):
    # GIVEN eight instances of a drill, one of them already in a terminate job
    from orchestrator.steps import cleanup

    servers = [sid("a", n) for n in range(8)]
    cloud, execution = _completed_drill(local_cloud, *servers)
    instances = sorted(_instance_of(cloud, server) for server in servers)
    cleanup._terminate_job(cloud.runtime, "another-execution", [instances[0]], "test")
    # (DRS lists an instance as running for a while after a terminate: all are still "ours to terminate")
    monkeypatch.setattr(cleanup, "_our_instances", lambda *args: list(instances))

    # WHEN the drill is cleaned up
    result = cleanup.terminate(cloud.runtime, execution, reason="CLEANUP")

    # THEN DRS refused the whole batch, and the seven others went in halves: three jobs, not seven
    assert sorted(result.instance_ids) == instances[1:]
    assert len(result.job_ids) == 3
    assert not result.deferred
    assert _running_instances(cloud, set(servers)) == []


def test_a_cancel_tick_never_terminates_a_recovery_executions_instances(local_cloud):
    # GIVEN a completed RECOVERY execution (production instances)
    from events.models import TerminationTick
    from orchestrator.steps import cleanup

    cloud = local_cloud()
    plan = parse_plan({"planId": "prod", "waves": [wave("A", [sid("a", 1)])]})
    result = run_plan(cloud, plan, mode=Mode.RECOVERY, confirm=True)
    assert result.status == "COMPLETED"

    # WHEN a CANCEL termination tick arrives for it (stray or forged)
    cleanup.on_tick(cloud.runtime, TerminationTick(execution_id=result.execution_id, plan_id="prod", reason="CANCEL"))

    # THEN nothing is terminated
    assert len(_running_instances(cloud, {sid("a", 1)})) == 1
    assert cloud.drs.stats.calls.get("TerminateRecoveryInstances", 0) == 0


def test_cleanup_reports_an_announcement_the_bus_refused_instead_of_failing(local_cloud, monkeypatch):
    # GIVEN an operator whose role may not publish orchestrator events (the bus policy)
    from orchestrator.adapters.bus import PublishError
    from orchestrator.steps import cleanup

    cloud, execution = _completed_drill(local_cloud, sid("a", 1))

    def refused(*details: Any) -> None:
        raise PublishError("PutEvents rejected 1 entries: [('RecoveryInstancesTerminated', 'AccessDenied')]")

    monkeypatch.setattr(cloud.runtime.bus, "publish", refused)

    # WHEN they clean up the drill
    result = cleanup.cleanup(cloud.runtime, execution.execution_id)

    # THEN the instance is terminated and recorded, and the missing event is reported, not raised
    assert len(result.instance_ids) == 1
    assert result.unannounced is not None
    assert "AccessDenied" in result.unannounced
    assert cloud.runtime.ledger.list_terminations(execution.execution_id)
