"""End to end: small plans under the simulation profile's field faults (issue #11, "what must exist" 4),
each asserting the outcome the product owes: a server busy in a job started outside the execution, DRS
quota used by such jobs, an SSM agent that comes online late, events delivered out of order, a terminate
job that fails, and Describe* pages of two items."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult, run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import allowing, assert_choreography_invariants, events_of, sid, wave


def _run(cloud: LocalCloud, plan: dict[str, Any], **kwargs: Any) -> RunResult:
    result = run_plan(cloud, parse_plan(plan), **kwargs)
    assert result.report is not None
    return result


def _waves(result: RunResult) -> dict[str, dict[str, Any]]:
    assert result.report is not None
    return {w["waveId"]: w for w in result.report["waves"]}


def _servers(result: RunResult, wave_id: str) -> dict[str, dict[str, Any]]:
    return {s["sourceServerId"]: s for s in _waves(result)[wave_id]["servers"]}


def _running(cloud: LocalCloud, server_ids: list[str]) -> list[str]:
    found = cloud.session.client("drs").describe_recovery_instances(filters={"sourceServerIDs": server_ids})
    return sorted(i["recoveryInstanceID"] for i in found["items"] if i["ec2InstanceState"] == "RUNNING")


# ---- a server busy in a job started outside the execution --------------------------------------


def test_a_server_busy_in_an_outside_job_fails_its_wave_naming_the_conflict(local_cloud):
    # GIVEN a server someone is drilling from the console for an hour, in the second wave of a plan
    busy, fine = sid("b", 1), sid("b", 2)
    cloud = local_cloud(**{"drs.outsideJobs": [{"servers": [busy], "durationSeconds": 3600}]})
    plan = {"planId": "busy", "waves": [wave("db", [sid("a", 1)]), wave("app", [busy, fine], ["db"])]}

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=60)

    # THEN the first wave completed; DRS refused the second wave's job (one StartRecovery for both servers)
    # with ConflictException, and the wave failed naming it and the outside job; nothing launched twice
    outside = next(j for j in cloud.drs._jobs.values() if not j.tags)
    assert result.status == "FAILED"
    waves = _waves(result)
    assert (waves["db"]["status"], waves["app"]["status"]) == ("COMPLETED", "FAILED")
    conflict = f"ConflictException: Source server {busy} is already participating in active job {outside.job_id}"
    servers = _servers(result, "app")
    assert {s: (v["launchStatus"], conflict in v.get("reason", "")) for s, v in servers.items()} == {
        busy: ("FAILED", True),
        fine: ("FAILED", True),
    }
    assert conflict in waves["app"]["reason"]
    assert busy in waves["app"]["reason"]
    assert cloud.drs.stats.errors["ConflictException"] == 1
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1}
    assert_choreography_invariants(cloud, result.execution_id)


# ---- DRS quota used by jobs outside the orchestrator -------------------------------------------


def test_quota_used_by_outside_jobs_parks_the_launch_until_they_end(local_cloud):
    # GIVEN room for 3 concurrent DRS jobs, all 3 held by outside jobs for 10 minutes, and two parallel waves (the
    # orchestrator's own capacity record sees 3 free slots; the packer puts both waves in one job)
    cloud = local_cloud(
        **{
            "drs.quotas": {"concurrentJobs": 3},
            "drs.outsideJobs": [{"jobs": 3, "otherServers": 1, "durationSeconds": 600}],
        }
    )
    plan = {"planId": "crowded", "waves": [wave("a", [sid("a", 1), sid("a", 2)]), wave("b", [sid("b", 1)])]}

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=60)

    # THEN DRS refused one wave's job over the concurrent job quota, and that launch waited (parked, not
    # failed) until a job ended: both waves completed, every server launched once, the quota never exceeded
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.errors["ServiceQuotaExceededException"] >= 1
    assert cloud.drs.stats.max_concurrent_jobs == 3
    assert dict(cloud.drs.stats.launches) == {sid("a", 1): 1, sid("a", 2): 1, sid("b", 1): 1}
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers, capacity.queued or 0) == (0, 0, 0)
    assert_choreography_invariants(cloud, result.execution_id)


# ---- an SSM agent that comes online late --------------------------------------------------------


def test_a_post_launch_script_waits_for_a_late_ssm_agent(local_cloud):
    # GIVEN recovery instances whose SSM agent registers 2 minutes after the launch, and a post-launch script
    # with a 10-minute timeout and no retries
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **{"ssm.agentOnlineAfterSeconds": 120})
    servers = [sid("a", 1), sid("a", 2)]
    plan = {
        "planId": "late-agent",
        "waves": [
            wave(
                "app",
                servers,
                postLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["systemctl is-active app"]},
                        "timeoutSeconds": 600,
                    }
                ],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=60)

    # THEN the script ran once the agents were online and succeeded on both instances
    assert result.status == "COMPLETED"
    [script] = _waves(result)["app"]["scripts"]
    assert (script["status"], script["attempts"]) == ("Success", 1)
    assert sorted(i["status"] for i in script["instances"]) == ["Success", "Success"]
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_post_launch_script_whose_agents_stay_offline_past_its_timeout_fails_the_wave(local_cloud):
    # GIVEN recovery instances whose SSM agent registers only after 15 minutes, and a required post-launch script
    # with a 2-minute timeout
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **{"ssm.agentOnlineAfterSeconds": 900})
    plan = {
        "planId": "agent-never",
        "waves": [
            wave(
                "app",
                [sid("a", 3)],
                postLaunch=[
                    {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["true"]}, "timeoutSeconds": 120}
                ],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=60)

    # THEN the script failed at its timeout, saying its targets were not online managed nodes, and so did the wave
    assert result.status == "FAILED"
    [script] = _waves(result)["app"]["scripts"]
    assert script["status"] == "Failed"
    assert script["reason"].startswith(
        "its targets were not online managed nodes within its timeout (120 s): InvalidInstanceId"
    )
    assert_choreography_invariants(cloud, result.execution_id)


# ---- events delivered out of order --------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 3, 4])  # seeds whose run has a delivery overtaken
def test_events_delivered_out_of_order_change_nothing(local_cloud, seed):
    # GIVEN half of all deliveries overtaken by 1 to 3 later ones (ticks and DRS events included), and a diamond
    cloud = local_cloud(**{"faults.reorderDelivery": 0.5, "seed": seed})
    plan = {
        "planId": "diamond",
        "waves": [
            wave("db", [sid("d", 1), sid("d", 2)]),
            wave("app", [sid("p", 1)], ["db"]),
            wave("cache", [sid("c", 1)], ["db"]),
            wave("web", [sid("w", 1), sid("w", 2)], ["app", "cache"]),
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=90)

    # THEN it completed as without the fault: every wave, every server launched once
    assert cloud.stats.reordered > 0
    assert result.status == "COMPLETED"
    assert {w: v["status"] for w, v in _waves(result).items()} == dict.fromkeys(
        ("db", "app", "cache", "web"), "COMPLETED"
    )
    assert len(cloud.drs.stats.launches) == 6
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_script_whose_completion_arrives_after_its_timeout_tick_still_succeeds(local_cloud):
    # GIVEN 70 % of all deliveries overtaken by 1 to 3 later ones, and 12 runs of a plan of two independent waves
    # (so deliveries are in flight together, and can overtake each other) whose post-launch scripts run 5 s of
    # their 600 s timeout
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **{"faults.reorderDelivery": 0.7, "seed": 3})
    script = {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo up"]}}
    plans = [
        {
            "planId": f"script-{n}",
            "waves": [
                wave("app", [sid(f"r{n}x", 1)], postLaunch=[script]),
                wave("web", [sid(f"r{n}y", 1)], postLaunch=[script]),
            ],
        }
        for n in range(12)
    ]

    # WHEN the plans run one after another
    results = [_run(cloud, plan, timeout=60) for plan in plans]

    # THEN every run completed, its script succeeded at its first try on its instance
    assert cloud.stats.reordered > 0
    assert [r.status for r in results] == ["COMPLETED"] * 12, [r.status for r in results]
    scripts = [s for r in results for w in ("app", "web") for s in _waves(r)[w]["scripts"]]
    assert len(scripts) == 24
    assert {(s["status"], s["attempts"]) for s in scripts} == {("Success", 1)}
    assert cloud.ssm.stats.commands_sent == 24


# ---- a terminate job that fails -----------------------------------------------------------------


def test_a_rollback_whose_terminate_job_fails_reports_the_instance_still_running(local_cloud):
    # GIVEN a wave with rollback TERMINATE whose CRITICAL server fails to launch, and whose launched
    # server's recovery instance DRS fails to terminate
    launched, failing = sid("b", 1), sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED", f"drs.servers.{launched}.terminate": "FAILED"})
    plan = {"planId": "rollback", "waves": [wave("B", [launched, failing], rollback="TERMINATE")]}

    # WHEN it runs, and its rollback's terminate jobs have ended and been seen to end (the product tries
    # an instance DRS failed to terminate again, three terminate jobs in all, then leaves it to an operator)
    result = _run(cloud, plan, timeout=60)

    def settled_three_times() -> bool:
        records = cloud.runtime.ledger.list_terminations(result.execution_id)
        return sum(len(r.get("endedJobIds", [])) for r in records) == 3

    cloud.run_until(settled_three_times, timeout=30)
    cloud.drain()

    # THEN the instance still runs, and nothing the product recorded or announced says it was terminated:
    # the termination it recorded names the instance as not terminated, with DRS's reason
    [instance] = _running(cloud, [launched])
    announced = [
        i
        for e in events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)
        for i in e.detail.get("recoveryInstanceIds", [])
    ]
    assert instance not in announced
    records = cloud.runtime.ledger.list_terminations(result.execution_id)
    assert any(instance in str(record) and "CLEANUP_FAIL" in str(record) for record in records), records
    assert cloud.drs.stats.terminations_failed == 3
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 3
    assert not [name for name in cloud._schedules if name.startswith("terminate-")]


# ---- Describe* pages of two items ----------------------------------------------------------------


def test_pages_of_two_items_lose_nothing(local_cloud):
    # GIVEN DRS answering every Describe* in pages of at most 2 items, jobs of at most 2 servers, every
    # StartRecovery's Lambda dying right after the call (the retry must find its job by tag, DescribeJobs
    # since the claim), an OPTIONAL server that fails to launch (its reason is in the job log), and
    # post-launch scripts on the wave's 5 recovery instances
    failing = sid("a", 4)
    cloud = local_cloud(
        **allowing("AWS-RunShellScript"),
        **{
            "drs.pageSize": 2,
            "drs.quotas": {"serversPerJob": 2},
            "faults.crashAfterStartRecovery": 1.0,
            f"drs.servers.{failing}.launch": "FAILED",
        },
    )
    first = [sid("a", n) for n in range(1, 7)]
    plan = {
        "planId": "paged",
        "waves": [
            wave(
                "a",
                [*(s for s in first if s != failing), {"sourceServerID": failing, "criticality": "OPTIONAL"}],
                postLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo ok"]}}],
            ),
            wave("b", [sid("b", n) for n in range(1, 4)], ["a"]),
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan, timeout=90)

    # THEN it completed with every server launched once; the failed server says why (from a later log page);
    # the report's jobs are DRS's jobs; and every paged Describe* was read past its first page
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == dict.fromkeys([*first, *(sid("b", n) for n in range(1, 4))], 1)
    assert _servers(result, "a")[failing]["reason"] == (
        "LAUNCH_FAILED: Failed to launch recovery instance: InsufficientInstanceCapacity (simulated failure "
        "configured for this source server)"
    )
    reported = sorted(j["jobId"] for w in _waves(result).values() for j in w["jobs"])
    assert reported == sorted(cloud.drs._jobs)
    [script] = _waves(result)["a"]["scripts"]
    assert (script["status"], len(script["instances"])) == ("Success", 5)
    assert cloud.stats.crashes_injected == 5
    assert {op for op, n in cloud.drs.stats.continued_pages.items() if n} >= {
        "DescribeJobs",
        "DescribeSourceServers",
        "DescribeRecoveryInstances",
        "DescribeJobLogItems",
    }
    # (the launch packer calls StartRecovery on a CapacityTick: each injected death is that delivery failing, which the
    # platform retries, and the next packer finds the job by its tag)
    assert_choreography_invariants(cloud, result.execution_id, handler_errors=cloud.stats.crashes_injected)
