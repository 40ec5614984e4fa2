"""A job's end records each launched server's recovery point: the point-in-time snapshot its recovery instance was
launched from, as DRS's DescribeRecoveryInstances says (orchestrator/steps/recovery_points.py), best effort."""

from __future__ import annotations

from events.models import DRSJobCompleted, ServerLaunch
from orchestrator.adapters.drs import DrsThrottled
from orchestrator.domain.records.servers import ServerLaunchStatus
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, S2, World, launching, plan, wave

SNAP1 = "2026-01-01T08:51:30.250Z"


def _end(world: World, job: str) -> DRSJobCompleted:
    servers = [
        ServerLaunch(
            source_server_id=p["sourceServerID"],
            launch_status=p["launchStatus"],
            recovery_instance_id=p.get("recoveryInstanceID"),
            reason=None if p["launchStatus"] == "LAUNCHED" else "LAUNCH_FAILED: x",
        )
        for p in world.drs.jobs[job]["participatingServers"]
    ]
    return DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", job_id=job, servers=servers)


def test_a_launched_server_is_recorded_with_the_snapshot_drs_launched_it_from(world: World) -> None:
    # GIVEN a wave whose job launched S1 from a snapshot of 08:51:30.25 and failed S2 (OPTIONAL)
    [job] = launching(world, plan(wave("db", S1, {"sourceServerID": S2, "criticality": "OPTIONAL"})))
    world.drs.finish_job(job, {S2: "FAILED"}, snapshots={S1: "2026-01-01T08:51:30.25Z"})

    # WHEN the job's end is recorded
    on_job_completed(world.rt, _end(world, job), "jc-1")

    # THEN S1 carries its recovery point (in the ledger's time format) and its recovery instance's private IP (the
    # fake DRS's first instance: 10.0.0.1); S2, which did not launch, neither
    servers = world.ledger.wave_servers("e1", "db")
    assert [(s.launch_status, s.recovery_point_at, s.private_ip) for s in servers.values()] == [
        (ServerLaunchStatus.LAUNCHED, SNAP1, "10.0.0.1"),
        (ServerLaunchStatus.FAILED, None, None),
    ]


def test_recovery_points_are_best_effort_when_drs_cannot_be_read(world: World) -> None:
    # GIVEN a job that launched S1, and DescribeRecoveryInstances throttled past the adapter's retries
    [job] = launching(world, plan(wave("db", S1)))
    world.drs.finish_job(job, snapshots={S1: SNAP1})
    world.drs.fail("describe_recovery_instances", DrsThrottled("ThrottlingException: slow down", "ThrottlingException"))

    # WHEN the job's end is recorded
    on_job_completed(world.rt, _end(world, job), "jc-1")

    # THEN the launch is recorded all the same, without a recovery point, and the wave goes on
    [server] = world.ledger.wave_servers("e1", "db").values()
    assert (server.launch_status, server.recovery_point_at) == (ServerLaunchStatus.LAUNCHED, None)
    assert world.drs.unused_errors() == {}
    assert world.wave_status("e1", "db") == "POST_LAUNCH"
