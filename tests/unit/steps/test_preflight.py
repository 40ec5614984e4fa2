"""The preflight (orchestrator/steps/preflight.py) against a fake DRS: what it finds, and what it does."""

from __future__ import annotations

from events.models import PreLaunchDone, WaveFailed, WaveReady
from orchestrator.adapters.drs import DrsPermanentError
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, S2, S3, World, plan, wave

PIT1, PIT9 = "pit-00000000000000001", "pit-00000000000000009"
READY = WaveReady(execution_id="e1", plan_id="p", wave_id="db")


def test_healthy_servers_pass_the_preflight(world: World) -> None:
    # GIVEN servers replicating continuously, one with a pinned snapshot that exists
    world.drs.add_source_server(S2, snapshots=[PIT1])
    world.start(plan(wave("db", S1, {"sourceServerID": S2, "recoverySnapshotID": PIT1})))
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN it goes on to the pre-launch phase
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.bus.types() == ["PreLaunchDone"]


def test_a_critical_server_that_does_not_replicate_fails_the_wave_naming_it_once(world: World) -> None:
    # GIVEN a CRITICAL server whose replication is stalled, one with too much lag, and one unknown to DRS
    world.drs.add_source_server(S1, replication="STALLED")
    world.drs.add_source_server(S2, lag="PT7200S", hostname="db2")
    world.start(plan(wave("db", S1, S2, S3)))
    del world.drs.source_servers[S3]
    # WHEN the wave is ready (twice: a redelivery)
    on_wave_ready(world.rt, READY, "wr-1")
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN it failed once, before any launch, naming each server and its reason (the redelivery may only
    # announce the same WaveFailed again, at least once: the progress step takes it once)
    assert world.wave_status("e1", "db") == "FAILED"
    assert world.ledger.get_execution("e1")["failedWaves"] == ["db"]
    failed = world.bus.published[0]
    assert world.bus.published == [failed] * len(world.bus.published)
    assert isinstance(failed, WaveFailed)
    assert failed.reason == (
        f"preflight failed: {S1}: replication is STALLED, not CONTINUOUS; "
        f"{S2}: replication lag 7200 s exceeds the plan's limit of 3600 s (db2); "
        f"{S3}: source server not found in DRS"
    )
    assert [(s.source_server_id, s.launch_status) for s in failed.failed_servers] == [
        (S1, "NOT_STARTED"),
        (S2, "NOT_STARTED"),
        (S3, "NOT_STARTED"),
    ]
    assert world.drs.started == []


def test_an_optional_server_failing_the_preflight_is_left_out_of_the_launch(world: World) -> None:
    # GIVEN an OPTIONAL server pinned to a snapshot DRS does not have
    world.start(plan(wave("db", S1, {"sourceServerID": S2, "criticality": "OPTIONAL", "recoverySnapshotID": PIT9})))
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN the wave goes on, the server is recorded FAILED with its reason, and the wave warns about it
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    servers = world.ledger.wave_servers("e1", "db")
    assert servers[S2].launch_status == "FAILED"
    assert servers[S2].reason == f"preflight: recovery snapshot {PIT9} not found"
    [done] = world.published(PreLaunchDone)
    assert done.wave_id == "db"
    assert world.ledger.get_wave("e1", "db")["warnings"] == [f"preflight: {S2}: recovery snapshot {PIT9} not found"]


def test_a_permanent_drs_error_is_a_problem_of_every_server(world: World) -> None:
    # GIVEN DRS refusing DescribeSourceServers for good
    world.start(plan(wave("db", S1)))
    world.drs.fail("describe_source_servers", DrsPermanentError("AccessDeniedException: no", "AccessDeniedException"))
    # WHEN the wave is ready
    on_wave_ready(world.rt, READY, "wr-1")
    # THEN the wave failed with DRS's error as the reason
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.bus.published
    assert failed.reason == f"preflight failed: {S1}: DescribeSourceServers failed: AccessDeniedException: no"
