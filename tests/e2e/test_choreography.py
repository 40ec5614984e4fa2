"""End to end: plans run through the real handlers, ledger and wave state machine on the local cloud.

Every test here also runs under duplicated event delivery (tests/chaos/test_duplicates.py re-collects
them with the `faults` fixture overridden), so each ends with the invariants that no fault may break.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.models import Mode
from localcloud.runner import run_plan, start, wait
from orchestrator.domain.plan import load_plan, parse_plan
from tests.e2e.helpers import (
    allowing,
    assert_choreography_invariants,
    at,
    events_of,
    execution,
    sid,
    start_recovery_calls,
    wave,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["waveId"]: w for w in report["waves"]}


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {w["waveId"]: w["status"] for w in report["waves"]}


def _launched(cloud: Any) -> set[str]:
    return set(cloud.drs.stats.launches)


def _one_rejection(cloud: Any, execution_id: str) -> list[Any]:
    """The PlanFailed of a refused start: announced once, however often the StartPlan is delivered
    (the refusal is recorded by event id, orchestrator/steps/refusals.py)."""
    failed = events_of(cloud, "PlanFailed", execution_id)
    assert len(failed) == len(events_of(cloud, "StartPlan", execution_id)) == 1
    return failed


# ---- happy paths -------------------------------------------------------------------------------


def test_linear_plan_runs_its_waves_one_after_another(local_cloud):
    # GIVEN a plan of three waves, each depending on the previous one
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "linear",
            "waves": [
                wave("w1", [sid("a", 1)]),
                wave("w2", [sid("a", 2), sid("a", 3)], ["w1"]),
                wave("w3", [sid("a", 4)], ["w2"]),
            ],
        }
    )

    # WHEN it runs as a drill
    result = run_plan(cloud, plan)

    # THEN it completes, each wave launching only after the previous one completed
    assert result.status == "COMPLETED"
    report = result.report
    assert report is not None
    for key in ("executionId", "planId", "mode", "status", "startedAt", "endedAt", "waves", "events"):
        assert key in report, key
    assert (report["executionId"], report["planId"], report["mode"]) == (result.execution_id, "linear", "DRILL")
    assert [w["waveId"] for w in report["waves"]] == ["w1", "w2", "w3"]
    for item in report["waves"]:
        for key in ("waveId", "status", "dependsOn", "readyAt", "launchStartedAt", "completedAt", "jobs", "servers"):
            assert key in item, (item["waveId"], key)
        assert item["status"] == "COMPLETED"
        assert item["jobs"], item["waveId"]
        for job in item["jobs"]:
            assert job["jobId"].startswith("drsjob-")
            assert job["sourceServerIds"]
        for server in item["servers"]:
            assert server["launchStatus"] == "LAUNCHED"
            assert server["recoveryInstanceId"].startswith("i-")
        assert {s for job in item["jobs"] for s in job["sourceServerIds"]} == {
            s["sourceServerId"] for s in item["servers"]
        }
    w1, w2, w3 = report["waves"]
    assert (w1["dependsOn"], w2["dependsOn"], w3["dependsOn"]) == ([], ["w1"], ["w2"])
    assert at(w2["launchStartedAt"]) > at(w1["completedAt"])
    assert at(w3["launchStartedAt"]) > at(w2["completedAt"])
    assert at(report["startedAt"]) <= at(w1["readyAt"])
    assert at(report["endedAt"]) >= at(w3["completedAt"])
    assert report["events"], "the report lists the execution's events"
    assert all(set(e) >= {"detailType", "time", "waveId"} for e in report["events"])
    kinds = [e["detailType"] for e in report["events"]]
    assert kinds[0] == "StartPlan"
    assert kinds.count("PlanCompleted") == 1
    assert {e["waveId"] for e in report["events"] if e["detailType"] == "WaveCompleted"} == {"w1", "w2", "w3"}
    assert _launched(cloud) == {sid("a", n) for n in range(1, 5)}
    assert_choreography_invariants(cloud, result.execution_id)


def test_diamond_joins_after_both_branches_and_runs_them_together(local_cloud):
    # GIVEN A -> B, A -> C, B + C -> D
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "diamond",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), sid("b", 2)], ["A"]),
                wave("C", [sid("c", 1)], ["A"]),
                wave("D", [sid("d", 1)], ["B", "C"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN D is released only after both B and C completed, and B and C ran at the same time
    assert result.status == "COMPLETED"
    assert result.report is not None
    waves = _by_id(result.report)
    a, b, c, d = (waves[w] for w in "ABCD")
    assert at(d["readyAt"]) >= at(b["completedAt"])
    assert at(d["readyAt"]) >= at(c["completedAt"])
    assert at(b["readyAt"]) >= at(a["completedAt"])
    assert at(c["readyAt"]) >= at(a["completedAt"])
    assert at(b["launchStartedAt"]) < at(c["completedAt"])
    assert at(c["launchStartedAt"]) < at(b["completedAt"])
    assert events_of(cloud, "WaveReady", result.execution_id, "D")
    assert_choreography_invariants(cloud, result.execution_id)


def test_parallel_waves_all_start_before_any_completes(local_cloud):
    # GIVEN three waves without any dependency
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "parallel",
            "waves": [
                wave("crm", [sid("c", 1), sid("c", 2)]),
                wave("billing", [sid("b", 1)]),
                wave("intranet", [sid("i", 1)]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN every wave launched before the first one completed
    assert result.status == "COMPLETED"
    assert result.report is not None
    waves = result.report["waves"]
    assert max(at(w["launchStartedAt"]) for w in waves) < min(at(w["completedAt"]) for w in waves)
    assert {e.wave_id for e in events_of(cloud, "WaveReady", result.execution_id)} == {"crm", "billing", "intranet"}
    assert_choreography_invariants(cloud, result.execution_id)


def test_three_tier_example_completes(local_cloud):
    # GIVEN the three-tier example, with a simulated on-call approver answering the web tier's gate, on a
    # deploy that allows its shell steps (AWS-RunShellScript: the fence and the web tier's smoke test), in the
    # demo profile's network with its web servers tagged
    plan = load_plan(EXAMPLES / "three-tier.yaml")
    demo = yaml.safe_load((EXAMPLES / "profiles" / "demo.yaml").read_text())
    tags = {f"drs.servers.{server}.tags": entry["tags"] for server, entry in demo["drs"]["servers"].items()}
    cloud = local_cloud(
        **allowing("AWS-RunShellScript"),
        **{"approvals.decision": "GRANT", "approvals.afterSeconds": 120},
        ec2=demo["ec2"],
        **tags,
    )

    # WHEN it runs as a drill
    result = run_plan(cloud, plan)

    # THEN every tier completes, in order, each server launched once
    assert result.status == "COMPLETED"
    assert result.report is not None
    assert _statuses(result.report) == {"database": "COMPLETED", "application": "COMPLETED", "web": "COMPLETED"}
    waves = _by_id(result.report)
    assert at(waves["application"]["launchStartedAt"]) > at(waves["database"]["completedAt"])
    assert at(waves["web"]["launchStartedAt"]) > at(waves["application"]["completedAt"])
    assert waves["web"]["approval"]["approvedBy"] == "arn:aws:sts::123456789012:assumed-role/DROps/simulated-approver"
    web = {"s-3000000000000000a", "s-3000000000000000b"}  # the shop's web servers (not the crm's), by their tags
    assert _launched(cloud) == {s for w in plan.waves for s in w.server_ids} | web
    assert_choreography_invariants(cloud, result.execution_id)
    # AND every instance came up on the drill network, in its tier's group, the database primary on its address
    landed = {
        s["sourceServerId"]: (
            s["launchSettings"]["landed"]["subnetId"],
            s["launchSettings"]["applied"]["securityGroupIds"],
        )
        for w in result.report["waves"]
        for s in w["servers"]
    }
    assert landed == {
        **dict.fromkeys(
            ("s-1000000000000000a", "s-1000000000000000b"), ("subnet-0d00000000000d001", ["sg-0d00000000000d001"])
        ),
        **dict.fromkeys(
            ("s-2000000000000000a", "s-2000000000000000b", "s-2000000000000000c"),
            ("subnet-0d00000000000d001", ["sg-0d00000000000d002"]),
        ),
        **dict.fromkeys(web, ("subnet-0d00000000000d001", ["sg-0d00000000000d003"])),
    }
    assert waves["database"]["servers"][0]["launchSettings"]["landed"]["privateIp"] == "10.0.1.10"
    # AND the web tier's smoke test was sent the application tier's recovered private IPs (a value from the run)
    app_servers = sorted(waves["application"]["servers"], key=lambda s: s["sourceServerId"])
    app_ips = ",".join(s["privateIp"] for s in app_servers if s["launchStatus"] == "LAUNCHED")
    [smoke] = waves["web"]["scripts"]
    assert smoke["parameterValues"] == {"commands": [f"echo web tier up, application tier at {app_ips} (DRILL)"]}


# ---- failures ----------------------------------------------------------------------------------


def test_failed_critical_server_with_stop_fails_the_plan_and_skips_downstream(local_cloud):
    # GIVEN A -> B -> C -> D where a CRITICAL server of B fails to launch and B says STOP
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "stop",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), failing], ["A"], onFailure="STOP"),
                wave("C", [sid("c", 1)], ["B"]),
                wave("D", [sid("d", 1)], ["C"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the plan fails at B, everything after B is skipped and nothing launched after the failure
    assert result.status == "FAILED"
    assert result.report is not None
    assert _statuses(result.report) == {"A": "COMPLETED", "B": "FAILED", "C": "SKIPPED", "D": "SKIPPED"}
    b = _by_id(result.report)["B"]
    assert {s["sourceServerId"]: s["launchStatus"] for s in b["servers"]} == {
        sid("b", 1): "LAUNCHED",
        failing: "FAILED",
    }
    assert failing in (b["reason"] or "")
    assert _launched(cloud) == {sid("a", 1), sid("b", 1), failing}
    wave_failed = events_of(cloud, "WaveFailed", result.execution_id)
    assert wave_failed
    assert {(e.wave_id, e.detail["onFailure"]) for e in wave_failed} == {("B", "STOP")}
    plan_failed = events_of(cloud, "PlanFailed", result.execution_id)
    assert len(plan_failed) == 1
    assert plan_failed[0].detail["failedWaveIds"] == ["B"]
    failed_at = at(wave_failed[0].time)
    assert all(at(e.time) <= failed_at for e in events_of(cloud, "DRSJobStarted", result.execution_id))
    assert {e.wave_id for e in events_of(cloud, "WaveSkipped", result.execution_id)} == {"C", "D"}
    assert_choreography_invariants(cloud, result.execution_id)


def test_failed_wave_with_continue_lets_the_other_branch_finish(local_cloud):
    # GIVEN two independent branches X1 -> X2 and Y1 -> Y2 joined by J; X1 fails and says CONTINUE
    failing = sid("x", 1)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "continue",
            "waves": [
                wave("X1", [failing], onFailure="CONTINUE"),
                wave("X2", [sid("x", 2)], ["X1"]),
                wave("Y1", [sid("y", 1)]),
                wave("Y2", [sid("y", 2)], ["Y1"]),
                wave("J", [sid("j", 1)], ["X2", "Y2"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the other branch completes, everything downstream of X1 is skipped, and the plan fails
    # (a wave failed) only after everything ran
    assert result.status == "FAILED"
    assert result.report is not None
    assert _statuses(result.report) == {
        "X1": "FAILED",
        "X2": "SKIPPED",
        "Y1": "COMPLETED",
        "Y2": "COMPLETED",
        "J": "SKIPPED",
    }
    assert _launched(cloud) == {failing, sid("y", 1), sid("y", 2)}
    plan_failed = events_of(cloud, "PlanFailed", result.execution_id)
    assert len(plan_failed) == 1
    assert plan_failed[0].detail["failedWaveIds"] == ["X1"]
    y2_done = events_of(cloud, "WaveCompleted", result.execution_id, "Y2")
    assert y2_done
    assert at(plan_failed[0].time) >= at(y2_done[0].time)
    skipped = {e.wave_id: e.detail.get("becauseOf") for e in events_of(cloud, "WaveSkipped", result.execution_id)}
    assert skipped == {"X2": "X1", "J": "X1"}
    assert_choreography_invariants(cloud, result.execution_id)


@pytest.mark.parametrize(
    ("threshold", "wave_status", "plan_status"),
    [
        (0.75, "COMPLETED", "COMPLETED"),
        (0.8, "FAILED", "FAILED"),
    ],
)
def test_optional_server_failure_is_judged_against_the_success_threshold(
    local_cloud, threshold, wave_status, plan_status
):
    # GIVEN a wave of 3 CRITICAL servers and 1 OPTIONAL one that fails to launch (3/4 = 75 % launch)
    optional = sid("o", 1)
    cloud = local_cloud(**{f"drs.servers.{optional}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "threshold",
            "waves": [
                wave(
                    "W",
                    [sid("c", 1), sid("c", 2), sid("c", 3), {"sourceServerID": optional, "criticality": "OPTIONAL"}],
                    successThreshold=threshold,
                ),
                wave("V", [sid("v", 1)], ["W"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the wave completes when the threshold is met, and fails when it is not
    assert result.status == plan_status
    assert result.report is not None
    w = _by_id(result.report)["W"]
    assert w["status"] == wave_status
    assert {s["sourceServerId"]: s["launchStatus"] for s in w["servers"]}[optional] == "FAILED"
    assert _by_id(result.report)["V"]["status"] == ("COMPLETED" if wave_status == "COMPLETED" else "SKIPPED")
    assert_choreography_invariants(cloud, result.execution_id)


# ---- rejected starts ---------------------------------------------------------------------------


def test_plan_with_a_cycle_is_rejected_before_anything_starts(local_cloud):
    # GIVEN a StartPlan whose plan has a dependency cycle A -> B -> A
    cloud = local_cloud()
    document = {
        "planId": "cyclic",
        "waves": [
            wave("A", [sid("a", 1)], ["B"]),
            wave("B", [sid("b", 1)], ["A"]),
            wave("C", [sid("c", 1)]),
        ],
    }

    # WHEN it is published
    result = wait(cloud, start(cloud, document), timeout=30)

    # THEN a PlanFailed names the cycle; no execution exists and DRS was never asked to launch
    assert result.status == "REJECTED"
    failed = _one_rejection(cloud, result.execution_id)
    assert failed[0].detail["planId"] == "cyclic"
    assert any(error.get("code") == "cycle" for error in failed[0].detail["errors"]), failed[0].detail
    assert execution(cloud, result.execution_id) is None
    assert start_recovery_calls(cloud) == 0
    assert not events_of(cloud, "WaveReady")
    assert_choreography_invariants(cloud, result.execution_id)


def test_start_plan_event_without_a_plan_is_rejected(local_cloud):
    # GIVEN a StartPlan detail that is not a StartPlan: it has no `plan` and an unknown field
    cloud = local_cloud()

    # WHEN it is published
    cloud.publish("StartPlan", {"executionId": "not-a-start", "mode": "DRILL", "planName": "oops"})
    cloud.drain()

    # THEN a PlanFailed lists the validation errors; nothing is created, launched or dead-lettered
    failed = _one_rejection(cloud, "not-a-start")
    paths = {error.get("path") for error in failed[0].detail["errors"]}
    assert {"plan", "planName"} <= paths, failed[0].detail
    assert execution(cloud, "not-a-start") is None
    assert start_recovery_calls(cloud) == 0
    assert {e.detail_type for e in cloud.events} == {"StartPlan", "PlanFailed"}
    assert_choreography_invariants(cloud, "not-a-start")


def test_recovery_without_confirmation_is_rejected(local_cloud):
    # GIVEN a valid plan started in RECOVERY mode without confirmRecovery
    cloud = local_cloud()
    plan = parse_plan({"planId": "failover", "waves": [wave("w1", [sid("a", 1)])]})

    # WHEN it is published
    result = run_plan(cloud, plan, mode=Mode.RECOVERY, confirm=False, timeout=30)

    # THEN it is refused: PlanFailed, no execution, nothing launched
    assert result.status == "REJECTED"
    failed = _one_rejection(cloud, result.execution_id)
    assert [e["code"] for e in failed[0].detail["errors"]] == ["unconfirmed_recovery"]
    assert execution(cloud, result.execution_id) is None
    assert start_recovery_calls(cloud) == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_confirmed_recovery_launches_recovery_instances_not_drills(local_cloud):
    # GIVEN a plan started in RECOVERY mode with confirmRecovery = planId
    cloud = local_cloud(**{"drs.launchSeconds": {"min": 0, "max": 0}})
    plan = parse_plan({"planId": "failover", "waves": [wave("w1", [sid("a", 1)])]})

    # WHEN it runs
    result = run_plan(cloud, plan, mode=Mode.RECOVERY, confirm=True)

    # THEN it completes and the DRS job is a recovery, not a drill
    assert result.status == "COMPLETED"
    assert result.report is not None
    assert result.report["mode"] == "RECOVERY"
    jobs = cloud.session.client("drs").describe_jobs()["items"]
    assert [job["initiatedBy"] for job in jobs] == ["START_RECOVERY"]
    assert_choreography_invariants(cloud, result.execution_id)


# ---- the job watcher ---------------------------------------------------------------------------


def test_job_watcher_ticks_back_off_from_15_to_30_to_60_seconds(local_cloud):
    # GIVEN one wave whose DRS launch takes 20 minutes, and no DRS Launch Result events to speed it up
    cloud = local_cloud(**{"drs.launchSeconds": {"min": 1200, "max": 1200}, "drs.launchEvents": "drop"})
    plan = parse_plan({"planId": "slow", "waves": [wave("w1", [sid("a", 1)])]})

    # WHEN it runs
    result = run_plan(cloud, plan)

    # THEN the watcher polled 15 s apart for the first minute, 30 s apart to the fifth, then 60 s apart
    assert result.status == "COMPLETED"
    started = events_of(cloud, "DRSJobStarted", result.execution_id, "w1")
    ticks = events_of(cloud, "JobWatchTick", result.execution_id, "w1")
    assert started, "the wave's job started"  # (a redelivered launch may announce its job again)
    assert [t.detail["tick"] for t in ticks] == list(range(1, len(ticks) + 1))
    moments = [at(started[0].time)] + [at(t.time) for t in ticks]
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)]
    expected = ([15] * 4 + [30] * 8 + [60] * len(gaps))[: len(gaps)]
    assert len(gaps) > 12, "the launch is long enough to reach the 60 s ticks"
    # a schedule fires on a whole second (at() has second precision): allow one second of truncation
    assert all(want - 1.0 <= got <= want + 0.5 for got, want in zip(gaps, expected, strict=True)), gaps
    # the watcher stops once the job ended: at most one tick after the launch completed
    assert result.report is not None
    launched = at(result.report["waves"][0]["launchedAt"])
    assert sum(1 for t in ticks if at(t.time) > launched) <= 1
    assert_choreography_invariants(cloud, result.execution_id)
