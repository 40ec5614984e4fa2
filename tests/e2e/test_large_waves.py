"""End to end: one wave of thousands of servers (issue 11, fault 2b).

A wave of 2,000 servers with one post-launch script stuck in POST_LAUNCH: its ledger item (every
server's result, every job's servers, every instance's script result) outgrew DynamoDB's 400 KB item
limit. Each server's and each script instance's result now lives in an item of its own.

The DRS quotas are the defaults (100 servers per job, 500 in all jobs, 20 jobs): such a wave launches in
rounds, the jobs that do not fit parked until a capacity tick starts them. Every launch takes one
simulated minute (so jobs overlap), and the best-effort aws.drs and aws.ssm events are dropped (the job
watcher and the script poller find every end on their own): one event per server and per instance would
only make the run longer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import allowing, assert_choreography_invariants, events_of, sid, wave

QUIET = {"drs.startDelaySeconds": 0, "drs.launchEvents": "drop", "ssm.events": "drop"}


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    return {"min": 60, "max": 60}  # simulated: a few real seconds in all


def _run_big_wave(cloud: LocalCloud, size: int, *, stored: bool = False) -> None:
    """One wave of `size` servers with one post-launch script, run to its end; asserts what must hold. `stored`:
    pushed to the plan store and started by reference (a plan over the 256 KB an event may carry)."""
    servers = [sid("big", n) for n in range(size)]
    plan = {
        "planId": "big",
        "waves": [
            wave(
                "big",
                servers,
                postLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo up"]}}],
            )
        ],
    }

    # WHEN it runs
    result = run_plan(cloud, parse_plan(plan), timeout=300, stored=stored)

    # THEN it completes: every server launched once, with its recovery instance
    assert result.status == "COMPLETED"
    assert result.report is not None
    [big] = result.report["waves"]
    assert (big["status"], big["reason"]) == ("COMPLETED", None)
    assert [s["sourceServerId"] for s in big["servers"]] == sorted(servers)
    assert {s["launchStatus"] for s in big["servers"]} == {"LAUNCHED"}
    recovery_instances = {s["recoveryInstanceId"] for s in big["servers"]}
    assert len(recovery_instances) == size
    assert all(i and i.startswith("i-") for i in recovery_instances)
    assert_choreography_invariants(cloud, result.execution_id)
    # in jobs of 100, never more than the DRS quotas at once: five jobs of 100 (500 servers), then rounds
    assert sorted(len(j["sourceServerIds"]) for j in big["jobs"]) == [100] * (size // 100)
    assert sorted(s for j in big["jobs"] for s in j["sourceServerIds"]) == sorted(servers)
    assert {s["jobId"] for s in big["servers"]} == {j["jobId"] for j in big["jobs"]}
    assert (cloud.drs.stats.max_concurrent_jobs, cloud.drs.stats.max_servers_in_active_jobs) == (5, 500)
    # the post-launch script ran on every recovery instance; its event names all of them but lists 50
    [script] = big["scripts"]
    assert (script["phase"], script["status"], len(script["instances"])) == ("POST_LAUNCH", "Success", size)
    assert {i["status"] for i in script["instances"]} == {"Success"}
    [done] = events_of(cloud, "PostLaunchDone", result.execution_id)
    [summary] = done.detail["scripts"]
    assert (summary["instanceCount"], len(summary["instances"])) == (size, 50)
    [completed] = events_of(cloud, "WaveCompleted", result.execution_id)
    assert (completed.detail["serversLaunched"], completed.detail["serversFailed"]) == (size, 0)
    # and the wave's own item stays small: counts and one entry per job
    assert cloud.runtime is not None
    item: dict[str, Any] = cloud.runtime.ledger.get_wave(result.execution_id, "big") or {}
    assert (item["serverCount"], item["serversLaunched"], item["serversFailed"]) == (size, size, 0)
    assert len(json.dumps(item)) < 400 * (size // 100) + 3_000  # ~350 characters a job entry


@pytest.mark.parametrize("size", [700, pytest.param(2000, marks=pytest.mark.slow)])
def test_a_wave_of_thousands_of_servers_with_a_post_launch_script_completes(local_cloud, size: int):
    # GIVEN one wave of 2,000 servers with one post-launch script (the input: it stuck in
    # POST_LAUNCH, its ledger item over DynamoDB's 400 KB); 700 in `make test` (two rounds of jobs under the
    # quotas all the same), 2,000 in `make test-scale`
    cloud = local_cloud(**QUIET, **allowing("AWS-RunShellScript"))

    # WHEN / THEN it runs to COMPLETED, every server launched once, the script on every instance
    _run_big_wave(cloud, size)


@pytest.mark.slow
def test_a_wave_of_5000_servers_with_a_post_launch_script_completes(local_cloud):
    # GIVEN one wave of 5,000 servers (ten rounds under the DRS quotas) with one post-launch script
    cloud = local_cloud(**QUIET, **allowing("AWS-RunShellScript"))

    # WHEN / THEN it runs to COMPLETED, every server launched once, the script on every instance (its StartPlan
    # would be over EventBridge's 256 KB entry limit: it names the plan pushed to the plan store)
    _run_big_wave(cloud, 5000, stored=True)


@pytest.mark.parametrize("size", [700, pytest.param(2000, marks=pytest.mark.slow)])
def test_a_failed_wave_of_thousands_of_servers_ends_failed_with_an_event_under_the_size_limit(local_cloud, size: int):
    # GIVEN one wave of 2,000 servers, every one failing to launch, the odd ones OPTIONAL (the issue's
    # input: its WaveFailed named every server, ~502 KB, over EventBridge's 256 KB entry limit, and the
    # plan never ended); 700 in `make test`, 2,000 in `make test-scale`
    servers = [sid("bad", n) for n in range(size)]
    cloud = local_cloud(**QUIET, **{f"drs.servers.{server}.launch": "FAILED" for server in servers})
    plan = {
        "planId": "big-fail",
        "waves": [
            wave(
                "big",
                [
                    server if n % 2 == 0 else {"sourceServerID": server, "criticality": "OPTIONAL"}
                    for n, server in enumerate(servers)
                ],
            )
        ],
    }

    # WHEN it runs
    result = run_plan(cloud, parse_plan(plan), timeout=300)

    # THEN it ends FAILED, the reason names ten CRITICAL servers and counts the rest
    assert result.status == "FAILED"
    [failed] = events_of(cloud, "WaveFailed", result.execution_id)
    reason = failed.detail["reason"]
    assert reason.startswith(f"{size // 2} CRITICAL server(s) did not launch: ")
    assert reason.endswith(f"… and {size // 2 - 10} more")
    # and the event names 50 servers, CRITICAL first, counts all 2,000, and fits in one PutEvents entry
    named = failed.detail["failedServers"]
    assert (len(named), failed.detail["failedServersTotal"]) == (50, size)
    assert {s["criticality"] for s in named} == {"CRITICAL"}
    assert [s["sourceServerId"] for s in named] == sorted(servers[0::2])[:50]
    assert len(json.dumps(failed.detail)) < 256 * 1024
    # while the ledger keeps every server's result
    assert result.report is not None
    [big] = result.report["waves"]
    assert len(big["servers"]) == size
    assert {s["launchStatus"] for s in big["servers"]} == {"FAILED"}
    assert_choreography_invariants(cloud, result.execution_id)
