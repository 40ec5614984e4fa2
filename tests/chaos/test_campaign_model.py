"""The campaign's own parts, without a cloud: the generator makes valid, reproducible scenarios in every
topology, the model predicts what the README says, and the oracle catches what it must catch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localcloud.profile import SimProfile
from orchestrator.domain.plan import parse_plan
from tests.chaos.campaign.generator import TOPOLOGIES, generate, server_id
from tests.chaos.campaign.model import COMPLETED, DECIDED, FAILED, SKIPPED, forecast
from tests.chaos.campaign.observe import DrsJob, Observation, Participant
from tests.chaos.campaign.oracle import judge

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _plan(*waves: dict[str, Any], on_failure: str = "STOP") -> dict[str, Any]:
    return {"planId": "unit", "defaults": {"onFailure": on_failure}, "waves": list(waves)}


def _wave(wave_id: str, servers: list[Any], depends_on: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"waveId": wave_id, "servers": servers, **({"dependsOn": depends_on} if depends_on else {}), **extra}


S1, S2, S3 = server_id(1, 1), server_id(1, 2), server_id(2, 1)


# ---- generator -------------------------------------------------------------------------------------


def test_the_same_seed_always_makes_the_same_scenario():
    # GIVEN / WHEN a seed generated twice
    first, second = generate(4242), generate(4242)

    # THEN plan and profile are equal, and another seed differs
    assert (first.plan, first.profile) == (second.plan, second.profile)
    assert generate(4243).plan != first.plan


def test_every_generated_plan_and_profile_is_valid_and_every_topology_appears():
    # GIVEN the first 300 seeds
    scenarios = [generate(seed) for seed in range(300)]

    # WHEN each plan and profile is loaded as the product loads them
    for scenario in scenarios:
        parse_plan(scenario.plan)
        SimProfile.model_validate(scenario.profile)

    # THEN all are valid, and the seven topologies, 1 to 12 waves and every fault kind are drawn
    assert {s.topology for s in scenarios} == set(TOPOLOGIES)
    sizes = {len(s.plan["waves"]) for s in scenarios}
    assert min(sizes) == 1
    assert max(sizes) == 12
    features = {f for s in scenarios for f in s.features}
    assert {
        "approval",
        "rollback",
        "threshold",
        "pre-launch",
        "post-launch",
        "health-check",
        "duplicates",
        "crash-after-start-recovery",
        "throttle",
        "throttle-always",
        "small-quotas",
        "one-job-at-a-time",
        "launch-failures",
        "pre-launch-dead-tag",
    } <= features


def test_a_diamond_has_one_root_a_middle_layer_and_one_sink():
    # GIVEN the first diamond of five waves or more the generator draws
    scenario = next(s for s in map(generate, range(500)) if s.topology == "diamond" and len(s.plan["waves"]) >= 5)
    waves = scenario.plan["waves"]

    # THEN the root has no dependency, the middle depends on the root, the sink on the whole middle
    assert "dependsOn" not in waves[0]
    assert all(w["dependsOn"] == ["w01"] for w in waves[1:-1])
    assert waves[-1]["dependsOn"] == [w["waveId"] for w in waves[1:-1]]


# ---- model -----------------------------------------------------------------------------------------


def test_unmarked_servers_count_toward_a_threshold_while_explicit_critical_ones_fail_the_wave():
    # GIVEN a wave with a threshold of 0.5: two unmarked servers, one fails to launch
    profile = {"drs": {"servers": {S2: {"launch": "FAILED"}}}}
    halves = _plan(_wave("a", [S1, S2], successThreshold=0.5))
    # and the same wave where the failing server is explicitly CRITICAL
    explicit = _plan(_wave("a", [S1, {"sourceServerID": S2, "criticality": "CRITICAL"}], successThreshold=0.5))

    # WHEN the model judges them (and with the rule still on main)
    decided = forecast(halves, profile)
    on_main = forecast(halves, profile, DECIDED.on_main("unmarked_count_toward_threshold"))
    critical = forecast(explicit, profile)

    # THEN 1/2 meets the threshold; an explicit CRITICAL failure fails the wave; main says CRITICAL
    assert decided.waves["a"].status == COMPLETED
    assert decided.waves["a"].launched == [S1]
    assert decided.waves["a"].launch_failed == [S2]
    assert critical.waves["a"].status == FAILED
    assert critical.waves["a"].stage == "launch"
    assert on_main.waves["a"].status == FAILED


def test_continue_skips_only_what_is_downstream_of_the_failed_wave():
    # GIVEN a failing root `a` (CONTINUE) with a dependent `b`, and an independent `c`
    profile = {"drs": {"servers": {S1: {"launch": "FAILED"}}}}
    plan = _plan(_wave("a", [S1]), _wave("b", [S2], ["a"]), _wave("c", [S3]), on_failure="CONTINUE")

    # WHEN the model forecasts the plan
    fc = forecast(plan, profile)

    # THEN a FAILED, b SKIPPED, c COMPLETED: the plan FAILED, exactly c's server launches
    assert fc.possible == {"a": {FAILED}, "b": {SKIPPED}, "c": {COMPLETED}}
    assert fc.plan_statuses == {FAILED}
    assert fc.must_launch() == {S1, S3}


def test_stop_makes_every_wave_not_upstream_of_the_failure_skippable():
    # GIVEN a root `a` that completes, its dependent `b` whose approval is denied (STOP), an unrelated `c`
    profile = {"approvals": {"decision": "DENY", "afterSeconds": 10}}
    plan = _plan(
        _wave("a", [S1]), _wave("b", [S2], ["a"], approval={"required": True, "timeoutSeconds": 60}), _wave("c", [S3])
    )

    # WHEN the model forecasts it
    fc = forecast(plan, profile)

    # THEN a (upstream of the failure) must complete; c may have run or been skipped by the STOP
    assert fc.possible == {"a": {COMPLETED}, "b": {FAILED}, "c": {COMPLETED, SKIPPED}}
    assert fc.waves["b"].reason == "approval denied"
    assert not fc.waves["b"].launches


def test_scripts_fail_or_warn_by_policy_and_a_health_check_always_gates():
    # GIVEN a WARN post-launch script that fails, then a health check (onFailure WARN) that times out
    documents = {
        "warn-doc": {"status": "Failed", "durationSeconds": 5},
        "health-doc": {"status": "Success", "durationSeconds": 200},
    }
    wave = _wave(
        "a",
        [S1],
        postLaunch=[{"documentName": "warn-doc", "timeoutSeconds": 60, "onFailure": "WARN"}],
        healthCheck={"documentName": "health-doc", "timeoutSeconds": 60, "onFailure": "WARN"},
        rollback="TERMINATE",
    )

    # WHEN the model forecasts it
    fc = forecast(_plan(wave), {"ssm": {"documents": documents}})

    # THEN the warning does not fail it, the health check does (TimedOut), and the rollback applies
    assert fc.waves["a"].status == FAILED
    assert fc.waves["a"].stage == "health-check"
    assert fc.waves["a"].reason == "health-check health-doc TimedOut"
    assert fc.waves["a"].rollback


def test_every_drs_call_throttled_fails_the_first_wave_and_skips_the_rest():
    # GIVEN a chain of two waves with every DRS call throttled
    fc = forecast(_plan(_wave("a", [S1]), _wave("b", [S2], ["a"])), {"drs": {"throttleRate": 1.0}})

    # THEN the first fails naming the throttling, the second is skipped, nothing launches
    assert fc.waves["a"].stage == "throttled"
    assert fc.possible == {"a": {FAILED}, "b": {SKIPPED}}
    assert fc.may_launch() == set()


# ---- oracle ----------------------------------------------------------------------------------------


def _observation(**changes: Any) -> Observation:
    """A finished run of `_plan(_wave("a", [S1]))` that keeps every invariant, with `changes` applied."""
    job = DrsJob(
        "drsjob-00000000000000001",
        "LAUNCH",
        "exec-1",
        "a",
        "1",
        "lk",
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=30),
        [Participant(S1, "LAUNCHED", "LAUNCHED", "i-0000000000000000a")],
    )
    wave = {
        "waveId": "a",
        "status": COMPLETED,
        "readyAt": "2026-01-01T09:00:00.000Z",
        "preLaunchAt": "2026-01-01T09:00:00.500Z",
        "launchStartedAt": "2026-01-01T09:00:00.900Z",
        "completedAt": "2026-01-01T09:00:40.000Z",
        "endedAt": "2026-01-01T09:00:40.000Z",
        "servers": {S1: {"launchStatus": "LAUNCHED"}},
    }
    report = {
        "status": COMPLETED,
        "waves": [
            {
                "waveId": "a",
                "status": COMPLETED,
                "jobs": [{"jobId": job.job_id, "sourceServerIds": [S1]}],
                "servers": [
                    {"sourceServerId": S1, "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-0000000000000000a"}
                ],
            }
        ],
    }
    values: dict[str, Any] = {
        "execution_id": "exec-1",
        "status": COMPLETED,
        "exit_code": 0,
        "end_error": None,
        "report": report,
        "execution": {"status": COMPLETED, "endedAt": "2026-01-01T09:00:40.000Z"},
        "waves": {"a": wave},
        "jobs": [job],
        "quotas": {"serversPerJob": 100, "concurrentJobs": 20, "serversInAllJobs": 500},
        "drs_calls": {},
        "drs_errors": {},
        "launches": {S1: 1},
        "terminations": [],
        "dead_letters": {},
        "handler_errors": 0,
        "crashes": 0,
        "duplicated": 0,
        "reordered": 0,
        "events": [("PlanCompleted", "", {"executionId": "exec-1"})],
        "status_changes": [("COMPLETED", T0 + timedelta(seconds=40))],
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=40),
        "settled_at": T0 + timedelta(seconds=40),
        "sim_seconds": 40.0,
        "real_seconds": 1.0,
    }
    values.update(changes)
    return Observation(**values)


class _Scenario:
    seed = 0
    topology = "chain"
    features: list[str] = []
    plan = _plan(_wave("a", [S1]))
    profile: dict[str, Any] = {}


def _violations(obs: Observation) -> list[tuple[str, str | None]]:
    scenario: Any = _Scenario()
    return [v.key for v in judge(scenario, forecast(scenario.plan, scenario.profile), obs)]


def test_a_clean_run_keeps_every_invariant():
    assert _violations(_observation()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"launches": {S1: 2}}, [("single-launch", "a")]),
        (
            {"status": FAILED, "exit_code": 1, "execution": {"status": FAILED, "endedAt": "2026-01-01T09:00:40.000Z"}},
            # expected COMPLETED; FAILED although every wave completed; no FAILED wave; PlanCompleted was published
            [("plan-status", None)] * 4 + [("report-matches-drs", None)],
        ),
        ({"exit_code": 1}, [("exit-code", None)]),
        ({"status": "RUNNING", "exit_code": None, "end_error": "stalled: nothing is running"}, [("ends", None)]),
        (
            {
                "quotas": {"serversPerJob": 100, "concurrentJobs": 20, "serversInAllJobs": 500},
                "drs_errors": {"ServiceQuotaExceededException": 1},
            },
            [("quotas", None)],
        ),
        ({"dead_letters": {"pre-launch": 1}}, [("no-silent-failure", None)]),
    ],
)
def test_the_oracle_names_each_broken_invariant(changes, expected):
    # GIVEN a run doctored to break one invariant / WHEN judged / THEN exactly that invariant is named
    assert _violations(_observation(**changes)) == expected


def test_the_oracle_catches_a_launch_before_the_wave_started_and_a_stray_termination():
    # GIVEN the wave's job created before its launchStartedAt, and a terminate job for its instance
    obs = _observation()
    obs.waves["a"]["launchStartedAt"] = "2026-01-01T09:00:02.000Z"
    obs.jobs.append(
        DrsJob(
            "drsjob-00000000000000002",
            "TERMINATE",
            None,
            None,
            None,
            None,
            T0 + timedelta(seconds=50),
            T0 + timedelta(seconds=60),
            [Participant(S1, "TERMINATED", "TERMINATED", "i-0000000000000000a")],
        )
    )

    # THEN both are named: a COMPLETED wave's instance must not be terminated
    assert _violations(obs) == [("dependency-order", "a"), ("rollback", "a")]


def test_the_oracle_catches_a_report_that_disagrees_with_drs():
    # GIVEN a report naming a job DRS never ran
    obs = _observation()
    assert obs.report is not None
    obs.report["waves"][0]["jobs"] = [{"jobId": "drsjob-0000000000000000f", "sourceServerIds": [S1]}]

    # THEN the report check names the wave
    assert _violations(obs) == [("report-matches-drs", "a")]


@pytest.mark.parametrize(
    ("launched", "expected"),
    [
        ([S1], []),  # one of two OPTIONAL servers launched before the STOP cut the other: COMPLETED is right
        ([], [("wave-outcome", "a")]),  # nothing launched: COMPLETED is fault 7e (judged as if it had launched)
    ],
)
def test_a_wave_whose_launch_a_stop_cut_is_judged_by_what_did_launch(launched, expected):
    # GIVEN a wave of two OPTIONAL servers, launching when the plan went STOPPING, the rest parked and cut
    class Cut(_Scenario):
        plan = _plan(
            _wave(
                "a",
                [{"sourceServerID": S1, "criticality": "OPTIONAL"}, {"sourceServerID": S2, "criticality": "OPTIONAL"}],
            )
        )

    scenario: Any = Cut()
    obs = _observation(
        jobs=[
            DrsJob(
                "drsjob-00000000000000001",
                "LAUNCH",
                "exec-1",
                "a",
                "1",
                "lk",
                T0 + timedelta(seconds=1),
                T0 + timedelta(seconds=30),
                [Participant(S1, "LAUNCHED", "LAUNCHED", "i-0000000000000000a")],
            )
        ]
        if launched
        else [],
        launches={S1: 1} if launched else {},
        status_changes=[("STOPPING", T0 + timedelta(seconds=5)), ("COMPLETED", T0 + timedelta(seconds=40))],
    )
    obs.waves["a"]["servers"] = {
        S1: {"launchStatus": "LAUNCHED" if launched else "FAILED"},
        S2: {"launchStatus": "FAILED"},
    }
    assert obs.report is not None
    obs.report["waves"][0]["jobs"] = [{"jobId": j.job_id, "sourceServerIds": [S1]} for j in obs.jobs]
    obs.report["waves"][0]["servers"] = [s for s in obs.report["waves"][0]["servers"] if launched]

    # WHEN judged / THEN only the wave-outcome check speaks, and only when nothing launched
    violations = [
        v.key for v in judge(scenario, forecast(scenario.plan, scenario.profile), obs) if v.invariant == "wave-outcome"
    ]
    assert violations == expected
