"""Chaos: the edges of launch packing (issue #19) a fresh adversarial test found, each once a defect.

- the same server ready in two executions (a RECOVERY declared while a drill of the same plan still launches) once
  halted every launch of the account (the policy refuses a server in two chunks: every CapacityTick failed);
- a rollback, a drill's time to live or `cleanup` of a wave whose shared job still ran once terminated nothing
  (DRS's ConflictException for the busy source server was taken for "already terminating");
- a RetryWave while the wave's shared job still ran once failed at once on a ConflictException with our own job;
- a StartRecovery answered with a 500 after DRS created the job once left a job no ledger knew of;
- one busy server once cost every other chunk of its packed job a job of its own (the 20-job quota, a second round).
"""

from __future__ import annotations

from typing import Any

from events.models import Mode
from localcloud.runner import result_of, start, wait
from orchestrator.adapters.drs import DrsUnavailable
from orchestrator.domain.plan import parse_plan
from orchestrator.steps.cleanup import cleanup
from tests.e2e.helpers import assert_choreography_invariants, command, sid, start_recovery_calls, wave, wave_status


def _plan(plan_id: str, servers: list[str], **extra: Any) -> Any:
    return parse_plan({"planId": plan_id, "waves": [wave("w", servers, **extra)]})


def test_a_server_ready_in_a_drill_and_a_recovery_at_once_waits_and_halts_no_one(local_cloud):
    # GIVEN a drill of `shop` still launching when its RECOVERY is declared, and an unrelated plan beside them
    cloud = local_cloud(**{"drs.servers": {sid("d", 1): {"launchSeconds": 300}}})
    shop = parse_plan({"planId": "shop", "waves": [wave("db", [sid("d", 1), sid("d", 2)])]})
    drill = start(cloud, shop)
    recovery = start(cloud, shop, mode=Mode.RECOVERY, confirm=True)
    bystander = start(cloud, _plan("other", [sid("o", 1)]))

    # WHEN they run
    results = {execution: wait(cloud, execution, timeout=120) for execution in (drill, recovery, bystander)}

    # THEN nothing halted: the bystander and the drill completed, and the recovery waited for the drill's job to end
    # before launching the same servers (DRS takes a server in one job at a time), each launch once per execution
    assert [r.status for r in results.values()] == ["COMPLETED"] * 3
    assert cloud.stats.handler_errors == 0
    assert dict(cloud.drs.stats.launches) == {sid("d", 1): 2, sid("d", 2): 2, sid("o", 1): 1}
    drill_jobs = {j["jobId"] for w in results[drill].report["waves"] for j in w["jobs"]}
    recovery_jobs = {j["jobId"] for w in results[recovery].report["waves"] for j in w["jobs"]}
    assert drill_jobs.isdisjoint(recovery_jobs)


def _beside_a_slow_job(local_cloud: Any, **servers: Any) -> Any:
    """A local cloud where plan `b`'s server takes 1,500 s to launch: whatever shares its job ends long before it."""
    return local_cloud(**{"drs.servers": {sid("b", 1): {"launchSeconds": 1500}, **servers}})


def test_a_rollback_in_a_shared_job_still_running_terminates_once_the_job_ends(local_cloud):
    # GIVEN wave a/w (rollback TERMINATE) whose CRITICAL server fails, sharing its job with b's 1,500 s launch
    cloud = _beside_a_slow_job(
        local_cloud, **{sid("f", 1): {"launch": "FAILED", "launchSeconds": 30}, sid("a", 1): {"launchSeconds": 30}}
    )
    a = start(cloud, _plan("a", [sid("a", 1), sid("f", 1)], rollback="TERMINATE"))
    b = start(cloud, _plan("b", [sid("b", 1)]))

    # WHEN both run to their end
    failed = wait(cloud, a, timeout=120)
    assert wait(cloud, b, timeout=120).status == "COMPLETED"

    # THEN a/w failed, and its launched instance was terminated once the shared job had ended (the rollback's
    # termination deferred, with backoff, while DRS held the source server in that job), b's was not
    assert failed.status == "FAILED"
    cloud.run_until(lambda: bool(result_of(cloud, a).report["terminations"]), timeout=60)
    report = result_of(cloud, a).report
    terminated = {i for t in report["terminations"] for i in t.get("recoveryInstanceIds", [])}
    instances = {s["recoveryInstanceId"] for w in report["waves"] for s in w["servers"] if s["recoveryInstanceId"]}
    assert instances
    assert instances <= terminated
    b_instances = {s["recoveryInstanceId"] for w in result_of(cloud, b).report["waves"] for s in w["servers"]}
    assert not b_instances & terminated
    assert_choreography_invariants(cloud, a)


def test_cleanup_of_a_drill_whose_shared_job_still_runs_is_deferred_not_skipped(local_cloud):
    # GIVEN drill k, ended, whose instance shares a job still launching b's server
    cloud = _beside_a_slow_job(local_cloud, **{sid("k", 1): {"launchSeconds": 30}})
    k = start(cloud, _plan("k", [sid("k", 1)]))
    b = start(cloud, _plan("b", [sid("b", 1)]))
    assert wait(cloud, k, timeout=120).status == "COMPLETED"

    # WHEN the operator cleans k up while b's server still launches
    first = cleanup(cloud.runtime, k)

    # THEN the clean-up says it must wait (not "nothing to terminate"), and once the job has ended it terminates
    assert first.deferred, first
    assert not first.instance_ids
    assert "SOURCE_SERVER" in (first.deferred_reason or "") or "active job" in (first.deferred_reason or "")
    assert wait(cloud, b, timeout=120).status == "COMPLETED"
    again = cleanup(cloud.runtime, k)
    assert again.instance_ids
    assert not again.deferred


def test_a_retried_wave_waits_for_its_shared_job_to_end_then_launches(local_cloud):
    # GIVEN a/w failed (its only server failed) while the job it shares with b still runs
    cloud = _beside_a_slow_job(local_cloud, **{sid("f", 1): {"launch": "FAILED", "launchSeconds": 30}})
    a = start(cloud, _plan("a", [sid("f", 1)]))
    b = start(cloud, _plan("b", [sid("b", 1)]))
    cloud.run_until(lambda: wave_status(cloud, a, "w") == "FAILED", timeout=60)

    # WHEN the server is fixed and the wave retried at once
    cloud.drs.set_launch_outcome(sid("f", 1), "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": a, "waveId": "w"})

    # THEN the retry waited for the shared job to end (DRS holds the server in it), then launched: COMPLETED
    assert wait(cloud, a, timeout=120).status == "COMPLETED"
    assert wait(cloud, b, timeout=120).status == "COMPLETED"
    assert cloud.drs.stats.launches[sid("f", 1)] == 2


def test_a_start_recovery_that_created_its_job_but_answered_500_is_found_not_launched_again(local_cloud):
    # GIVEN DRS creates the first packed job and then answers InternalServerException
    cloud = local_cloud()
    drs = cloud.runtime.drs
    start_recovery = drs.start_recovery
    failed: list[str] = []

    def created_then_500(*args: Any, **kwargs: Any) -> Any:
        job = start_recovery(*args, **kwargs)
        if not failed:
            failed.append(job["jobID"])
            raise DrsUnavailable("InternalServerException: try again", code="InternalServerException")
        return job

    drs.start_recovery = created_then_500  # type: ignore[method-assign]

    # WHEN three plans run (the next tick packs other chunks too)
    executions = [start(cloud, _plan(f"p{n}", [sid("p", n)])) for n in range(3)]
    results = [wait(cloud, execution, timeout=120) for execution in executions]

    # THEN every plan completed, every server launched once, and the job DRS created is on its waves
    assert failed
    assert [r.status for r in results] == ["COMPLETED"] * 3
    assert set(cloud.drs.stats.launches.values()) == {1}
    jobs = {j["jobId"] for r in results for w in r.report["waves"] for j in w["jobs"]}
    assert failed[0] in jobs
    for execution in executions:
        assert_choreography_invariants(cloud, execution)


def test_one_busy_server_costs_its_packed_job_one_split_not_a_job_per_chunk(local_cloud):
    # GIVEN 20 one-server plans ready together, one of whose servers a job outside the orchestrator holds
    busy = sid("z", 7)
    cloud = local_cloud(**{"drs.outsideJobs": [{"servers": [busy], "durationSeconds": 900}]})
    executions = [start(cloud, _plan(f"z{n}", [sid("z", n)])) for n in range(20)]

    # WHEN they run
    results = [wait(cloud, execution, timeout=120) for execution in executions]

    # THEN only the busy server's plan failed, and the others launched in one job after one split: 3 calls
    # (the packed job, the culprit alone, the others together), not 21
    statuses = {r.execution_id: r.status for r in results}
    assert statuses.pop(executions[7]) == "FAILED"
    assert set(statuses.values()) == {"COMPLETED"}
    assert start_recovery_calls(cloud) == 3
