"""Waves in other accounts and Regions (issue #15 item 1): every DRS call of a wave with a target goes to that
target's DRS (each target a fake of its own: `World.targets`), never to the orchestrator's own; its capacity counts in
its own pool; packed jobs never mix targets; a refused AssumeRole fails the wave before anything launches, naming the
role and the account; and a plan without targets runs exactly as before, with no AssumeRole."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import DRSJobCompleted, JobWatchTick, PreLaunchDone, WaveFailed, WaveReady
from orchestrator.domain.records.launches import LaunchChunk
from orchestrator.steps.cleanup import terminate
from orchestrator.steps.job_watcher import on_tick
from orchestrator.steps.launch_wave import drain, prepare, start_job
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import World, plan, server_id, wave

B, C = "222233334444", "555566667777"
POOL_B = f"{B}#us-west-2"
WINDOW = 5


def target(account: str = B, region: str = "us-west-2") -> dict[str, str]:
    return {
        "accountId": account,
        "region": region,
        "roleArn": f"arn:aws:iam::{account}:role/drs-orchestrator-target",
        "externalId": "ext-123",
    }


def servers(first: int, count: int) -> list[str]:
    return [server_id(n) for n in range(first, first + count)]


def ready(world: World, document: dict[str, Any], wave_id: str, execution_id: str = "e1") -> list[LaunchChunk]:
    """`document` started; `wave_id` through its preflight and pre-launch phase and prepared: its chunks."""
    world.start(document, execution_id=execution_id)
    on_wave_ready(world.rt, WaveReady(execution_id=execution_id, plan_id=document["planId"], wave_id=wave_id), "wr")
    done = [e for e in world.bus.of(PreLaunchDone) if e.execution_id == execution_id]
    assert done, world.bus.published
    world.bus.published.clear()
    return list(prepare(world.rt, done[0], f"pld-{execution_id}")["chunks"])


def test_a_plan_without_targets_assumes_no_role_and_launches_in_its_own_account(world: World) -> None:
    [chunk] = ready(world, plan(wave("db", *servers(1, 3))), "db")
    answer = start_job(world.rt, chunk)
    assert answer["outcome"] == "STARTED"
    assert len(world.drs.started) == 1
    assert world.targets.assumed == []
    assert world.targets.accounts == {}


def test_a_wave_with_a_target_is_checked_launched_watched_and_counted_in_that_account(world: World) -> None:
    # GIVEN a plan whose wave "db" recovers in account B (its servers are B's) and "web" in the own account
    document = plan(wave("db", *servers(1, 3), target=target()), wave("web", *servers(11, 2), dependsOn=["db"]))
    [chunk] = ready(world, document, "db")
    b = world.targets.drs(B)
    # WHEN its chunk starts (packing off here)
    answer = start_job(world.rt, chunk)
    # THEN the preflight read B's servers and the job started in B, not in the own account
    assert answer["outcome"] == "STARTED"
    assert [s["sourceServerID"] for s in b.started[0]["servers"]] == servers(1, 3)
    assert world.drs.started == []
    assert all(sid not in world.drs.source_servers for sid in servers(1, 3))
    # AND its capacity counts in B's pool; the own account's record counts nothing
    assert (world.ledger.capacity(pool=POOL_B).active_jobs, world.ledger.capacity(pool=POOL_B).active_servers) == (1, 3)
    assert not world.ledger.capacity().active_jobs
    # WHEN B's DRS ends the job and the watcher ticks
    [job_id] = b.jobs
    b.finish_job(job_id)
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id="db", attempt=1, tick=1))
    # THEN the end is read from B and reported with B's recovery instances, and B's capacity is given back
    [completed] = world.bus.of(DRSJobCompleted)
    assert completed.job_id == job_id
    assert {s.recovery_instance_id for s in completed.servers} == {
        r["recoveryInstanceID"] for r in b.recovery_instances.values()
    }
    assert not world.ledger.capacity(pool=POOL_B).active_jobs
    # AND the job's end is checked against B's DRS (the own account has no such job)
    on_job_completed(world.rt, completed, "jc-1")
    assert world.wave_status("e1", "db") == "POST_LAUNCH"


def test_rollback_terminates_a_target_waves_instances_in_that_account(world: World) -> None:
    # GIVEN a drill whose wave in account B launched
    [chunk] = ready(world, plan(wave("db", *servers(1, 2), target=target())), "db")
    start_job(world.rt, chunk)
    b = world.targets.drs(B)
    [job_id] = b.jobs
    b.finish_job(job_id)
    execution = world.ledger.execution("e1")
    assert execution is not None
    # WHEN the execution's instances are terminated (a cleanup)
    result = terminate(world.rt, execution, reason="CLEANUP")
    # THEN B's DRS terminated B's recovery instances; the own account's DRS was not asked
    assert b.terminated == [sorted(b.recovery_instances)]
    assert world.drs.terminated == []
    assert sorted(result.instance_ids) == sorted(b.recovery_instances)
    # AND its terminate job counts in B's pool (beside the launch job no watcher has seen end yet), not in the own
    assert [h.kind for h in world.ledger.capacity(pool=POOL_B).holds.values()].count("TERMINATE") == 1
    assert world.ledger.capacity().holds == {}


def test_a_refused_assume_role_fails_the_wave_before_anything_launches_naming_role_and_account(world: World) -> None:
    # GIVEN a wave whose target role STS refuses
    document = plan(wave("db", *servers(1, 2), target=target()))
    role = target()["roleArn"]
    world.targets.refused[role] = "User: arn:aws:sts::111122223333:assumed-role/fn is not authorized to assume"
    world.start(document)
    # WHEN the wave is ready
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr")
    # THEN the wave fails with a reason naming the role and the account; nothing ran or launched anywhere
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.bus.of(WaveFailed)
    assert failed.reason.startswith(f"cannot assume {role} in account {B}: AccessDenied: ")
    assert world.bus.of(PreLaunchDone) == []
    assert world.drs.started == []
    assert world.targets.accounts == {} or world.targets.drs(B).started == []


@pytest.fixture
def packing(world: World) -> World:
    world.configure(drs_packing=True, drs_packing_window_seconds=WINDOW, drs_packing_starvation_seconds=600)
    return world


def test_the_packer_never_mixes_targets_in_one_job(packing: World) -> None:
    # GIVEN three plans ready together: one in the own account, one in B, one in C
    own = ready(packing, plan(wave("db", *servers(1, 4)), plan_id="pa"), "db", "e1")
    in_b = ready(packing, plan(wave("db", *servers(21, 4), target=target()), plan_id="pb"), "db", "e2")
    in_c = ready(
        packing, {**plan(wave("db", *servers(41, 4)), plan_id="pc"), "target": target(C, "eu-west-1")}, "db", "e3"
    )
    for chunk in (*own, *in_b, *in_c):
        assert start_job(packing.rt, chunk)["outcome"] == "PARKED"
    # THEN each chunk waits in its own pool's queue
    assert [p.launch_key for p in packing.ledger.parked()] == [own[0].launch_key]
    assert [p.launch_key for p in packing.ledger.parked(pool=POOL_B)] == [in_b[0].launch_key]
    assert [p.launch_key for p in packing.ledger.parked(pool=f"{C}#eu-west-1")] == [in_c[0].launch_key]
    # WHEN the window ends and the CapacityTick drains every pool
    packing.advance(WINDOW)
    answer = drain(packing.rt)
    # THEN three jobs, one per account and Region, each with that pool's servers only
    assert (answer["jobs"], answer["started"]) == (3, 3)
    assert [[s["sourceServerID"] for s in j["servers"]] for j in packing.drs.started] == [servers(1, 4)]
    b_started = packing.targets.drs(B).started
    c_started = packing.targets.drs(C, "eu-west-1").started
    assert [[s["sourceServerID"] for s in j["servers"]] for j in b_started] == [servers(21, 4)]
    assert [[s["sourceServerID"] for s in j["servers"]] for j in c_started] == [servers(41, 4)]
    # AND each pool counts its own job; every queue is empty
    for pool in (None, POOL_B, f"{C}#eu-west-1"):
        assert packing.ledger.capacity(pool=pool).active_jobs == 1
        assert packing.ledger.parked(pool=pool) == []
    # AND a second tick launches nothing again
    again = drain(packing.rt)
    assert again["jobs"] == 0
    assert len(packing.targets.drs(B).started) == 1


def test_a_full_target_pool_does_not_hold_back_the_own_account(packing: World) -> None:
    # GIVEN quotas of one concurrent job, and B's pool already full
    packing.configure(
        drs_packing=True,
        drs_packing_window_seconds=WINDOW,
        drs_packing_starvation_seconds=600,
        drs_concurrent_jobs=1,
    )
    first_b = ready(packing, plan(wave("db", *servers(21, 2), target=target()), plan_id="pb"), "db", "e2")
    second_b = ready(packing, plan(wave("db", *servers(31, 2), target=target()), plan_id="pb2"), "db", "e3")
    own = ready(packing, plan(wave("db", *servers(1, 2)), plan_id="pa"), "db", "e1")
    for chunk in first_b:
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    assert len(packing.targets.drs(B).started) == 1
    # WHEN another chunk in B and one in the own account are ready
    for chunk in (*second_b, *own):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    # THEN the own account launches (its quota is its own); B's second waits for B's capacity
    assert len(packing.drs.started) == 1
    assert len(packing.targets.drs(B).started) == 1
    assert [p.launch_key for p in packing.ledger.parked(pool=POOL_B)] == [second_b[0].launch_key]


def test_a_target_waves_staging_servers_resolve_to_extended_servers_of_the_target_account(world: World) -> None:
    import json

    staging, staged, extended = "111122223333", "s-5000000000000000a", "s-e0000000000000001"
    # GIVEN a staging server extended into account B (not into the own account)
    world.targets.drs(B).add_source_server(
        extended,
        staging_area={
            "status": "EXTENDED",
            "stagingAccountID": staging,
            "stagingSourceServerArn": f"arn:aws:drs:us-west-2:{staging}:source-server/{staged}",
        },
    )
    document = plan(
        wave("db", {"stagingAccountID": staging, "stagingSourceServerID": staged}, target=target()),
        wave("web", server_id(9)),
    )
    # WHEN the plan starts and its wave db is ready
    world.start(document)
    execution = world.ledger.get_execution("e1")
    assert execution is not None
    frozen = json.loads(execution["planDocument"])["waves"]
    # THEN the frozen plan launches B's extended server, and the preflight (in B) passes
    assert frozen[0]["servers"][0]["sourceServerID"] == extended
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr")
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"


def test_a_target_waves_network_settings_are_checked_against_the_target_accounts_network(world: World) -> None:
    from tests.fakes import FakeEc2

    subnet, vpc = "subnet-0a0000000000000a1", "vpc-0a0000000000000a1"
    # GIVEN the subnet a target wave's server asks for exists in account B only (not in the own account)
    b_ec2 = world.targets.fakes(B).ec2
    assert isinstance(b_ec2, FakeEc2)
    b_ec2.add_subnet(subnet, vpc, "10.0.3.0/24", "us-west-2a")
    document = plan(
        wave("db", {"sourceServerID": server_id(1), "launchSettings": {"subnetId": subnet}}, target=target())
    )
    # WHEN the plan starts (StartPlan checks every wave's network) and its wave is ready (the preflight again)
    world.start(document)
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr")
    # THEN both checks read B's network: nothing is refused
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"


def test_a_subnet_missing_in_the_target_account_refuses_the_start_whatever_the_own_network(world: World) -> None:
    from events.models import PlanFailed, StartPlan
    from orchestrator.steps.start_plan import start_plan

    subnet = "subnet-0a0000000000000a1"
    # GIVEN the subnet a target wave's server asks for exists in the own account only
    world.ec2.add_subnet(subnet, "vpc-0a0000000000000a1", "10.0.3.0/24", "us-east-1a")
    document = plan(
        wave("db", {"sourceServerID": server_id(1), "launchSettings": {"subnetId": subnet}}, target=target())
    )
    world.targets.drs(B).add_source_server(server_id(1))
    # WHEN the plan starts
    start_plan(world.rt, StartPlan(plan=document, mode="DRILL", execution_id="e1"), "start-e1")
    # THEN StartPlan refuses it: B has no such subnet (the own account's does not count)
    [failed] = world.bus.of(PlanFailed)
    assert subnet in " ".join(p.message for p in failed.errors)


def test_a_forwarded_launch_result_of_a_target_account_reports_the_job_read_in_that_account(world: World) -> None:
    from orchestrator.steps.job_watcher import on_launch_result

    # GIVEN the orchestrator's own account (its bus ARN) and a target wave whose job in B has ended
    world.configure(bus_arn="arn:aws:events:us-east-1:111122223333:event-bus/drs-orch")
    [chunk] = ready(world, plan(wave("db", *servers(1, 2), target=target())), "db")
    start_job(world.rt, chunk)
    b = world.targets.drs(B)
    [job_id] = b.jobs
    b.finish_job(job_id)
    # WHEN B's Launch Result event arrives on the orchestrator's bus (forwarded, with B's account and Region)
    on_launch_result(world.rt, {"job-id": job_id}, account=B, region="us-west-2")
    # THEN the job is read in B and its end reported at once
    assert [e.job_id for e in world.bus.of(DRSJobCompleted)] == [job_id]


def test_a_launch_result_of_an_unknown_account_reads_the_own_account_and_reports_nothing_foreign(world: World) -> None:
    from orchestrator.steps.job_watcher import on_launch_result

    world.configure(bus_arn="arn:aws:events:us-east-1:111122223333:event-bus/drs-orch")
    [chunk] = ready(world, plan(wave("db", *servers(1, 2), target=target())), "db")
    start_job(world.rt, chunk)
    b = world.targets.drs(B)
    [job_id] = b.jobs
    b.finish_job(job_id)
    # an account the ledger knows no pool of: the own DRS has no such job, nothing is reported (the ticks poll B)
    on_launch_result(world.rt, {"job-id": job_id}, account=C, region="us-west-2")
    assert world.bus.of(DRSJobCompleted) == []


def test_a_target_waves_script_document_is_read_and_sent_in_the_target_account(world: World) -> None:
    from tests.fakes import FakeSsm

    fence = {"type": "SSM_DOCUMENT", "documentName": "Fence", "targets": {"instanceIds": ["i-00000000000000001"]}}
    # GIVEN the document exists in account B only (StartPlan reads its parameters there)
    b_ssm = world.targets.fakes(B).ssm
    assert isinstance(b_ssm, FakeSsm)
    b_ssm.add_document("Fence")
    b_ssm.outcomes["Fence"] = ("InProgress", "")
    # WHEN the plan starts and the wave is ready
    world.start(plan(wave("db", server_id(1), preLaunch=[fence], target=target())))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr")
    # THEN the document was described and the command sent in B; the own account's SSM was not asked
    assert set(b_ssm.described) == {"Fence"}  # at StartPlan and before the send (the real adapter caches)
    assert [(s["document"], s["instance_ids"]) for s in b_ssm.sent] == [("Fence", ["i-00000000000000001"])]
    assert world.ssm.sent == []
    assert world.ssm.described == []


def test_a_chunk_failed_after_its_role_was_refused_ends_its_servers_naming_the_role(world: World) -> None:
    from orchestrator.steps.launch_wave import chunk_failed

    # GIVEN a target wave whose chunk was admitted in B (then StartRecovery failed), and STS now refuses the role
    [chunk] = ready(world, plan(wave("db", *servers(1, 2), target=target())), "db")
    world.targets.drs(B).fail("start_recovery", RuntimeError("task died"))
    with pytest.raises(RuntimeError):
        start_job(world.rt, chunk)
    assert world.ledger.capacity(pool=POOL_B).active_jobs == 1
    world.targets.refused[target()["roleArn"]] = "revoked"
    # WHEN the state machine reports the chunk failed
    answer = chunk_failed(world.rt, chunk, {"Error": "RuntimeError", "Cause": "task died"})
    # THEN its servers end FAILED with a reason naming the role and the account, B's capacity is given back
    assert answer["outcome"] == "FAILED"
    assert f"cannot assume {target()['roleArn']} in account {B}: AccessDenied: revoked" in answer["reason"]
    assert not world.ledger.capacity(pool=POOL_B).active_jobs
    [completed] = world.bus.of(DRSJobCompleted)
    assert {s.launch_status for s in completed.servers} == {"FAILED"}


def test_a_parked_launch_whose_target_role_is_refused_since_fails_instead_of_waiting_for_ever(world: World) -> None:
    # GIVEN launch packing on, and a target wave's chunk gathered in B's queue (it waits for the packer)
    world.configure(drs_packing=True, drs_packing_window_seconds=WINDOW, drs_packing_starvation_seconds=600)
    [chunk] = ready(world, plan(wave("db", *servers(1, 2), target=target())), "db")
    assert start_job(world.rt, chunk)["outcome"] == "PARKED"
    assert [e.chunk.launch_key for e in world.ledger.parked(pool=POOL_B)] == [chunk.launch_key]
    # WHEN STS refuses B's role from now on, and the CapacityTick comes
    world.targets.refused[target()["roleArn"]] = "revoked"
    world.advance(WINDOW)
    answer = drain(world.rt)
    # THEN the chunk failed with a reason naming the role and the account, left B's queue, launched nothing
    assert answer["failed"] == 1
    assert world.ledger.parked(pool=POOL_B) == []
    [completed] = world.bus.of(DRSJobCompleted)
    assert {s.launch_status for s in completed.servers} == {"FAILED"}
    assert all(f"cannot assume {target()['roleArn']} in account {B}" in (s.reason or "") for s in completed.servers)
    assert world.targets.drs(B).started == []
