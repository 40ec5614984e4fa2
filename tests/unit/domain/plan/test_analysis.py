from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.domain.plan import (
    Plan,
    Quotas,
    check_plan,
    critical_path,
    cut_jobs,
    downstream,
    launch_schedule,
    layers,
    load_plan,
    parse_plan,
    plan_warnings,
    remaining_paths,
    upstream,
)
from tests.unit.domain.plan.conftest import EXAMPLES, server_id

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _document(edges: dict[int, set[int]], size: int, servers: dict[int, int] | None = None) -> dict[str, Any]:
    """A plan of `size` waves w0..wn where wave i depends on every wave in edges[i]."""
    counter = iter(range(1, 10**9))
    return {
        "planId": "generated",
        "waves": [
            {
                "waveId": f"w{index}",
                "dependsOn": [f"w{dep}" for dep in sorted(edges.get(index, set()))],
                "servers": [server_id(next(counter)) for _ in range((servers or {}).get(index, 1))],
            }
            for index in range(size)
        ],
    }


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, dict[int, set[int]]]:
    """Random DAGs: edges only go from a lower to a higher index, so there is never a cycle."""
    size = draw(st.integers(min_value=1, max_value=12))
    edges: dict[int, set[int]] = {}
    for index in range(size):
        if index:
            edges[index] = draw(st.sets(st.integers(min_value=0, max_value=index - 1), max_size=4))
    return size, edges


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> tuple[int, dict[int, set[int]]]:
    """A random DAG plus an injected cycle: a chain k1 -> k2 -> ... -> km closed by km -> k1."""
    size, edges = draw(dags().filter(lambda dag: dag[0] >= 2))
    chain = draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=min(size, 6), unique=True))
    for wave, dep in itertools.pairwise(chain):
        edges.setdefault(wave, set()).add(dep)
    edges.setdefault(chain[-1], set()).add(chain[0])
    return size, edges


@FAST
@given(dags())
def test_random_dags_validate_and_layers_respect_every_edge(dag: tuple[int, dict[int, set[int]]]) -> None:
    # GIVEN a random DAG of waves
    size, edges = dag

    # WHEN it is parsed and layered
    plan = parse_plan(_document(edges, size))
    found = layers(plan)

    # THEN every wave is in exactly one layer, after every wave it depends on
    layer_of = {wave_id: number for number, layer in enumerate(found) for wave_id in layer}
    assert sorted(layer_of) == sorted(plan.wave_ids)
    assert sum(len(layer) for layer in found) == size
    for wave in plan.waves:
        for dep in wave.depends_on:
            assert layer_of[dep] < layer_of[wave.wave_id]
        if wave.depends_on:
            assert layer_of[wave.wave_id] == 1 + max(layer_of[dep] for dep in wave.depends_on)
        else:
            assert layer_of[wave.wave_id] == 0
    # and the critical path is a real chain as long as the number of layers
    path = critical_path(plan)
    assert len(path) == len(found)
    for before, after in itertools.pairwise(path):
        assert before in plan.wave(after).depends_on


@FAST
@given(cyclic_graphs())
def test_graphs_with_a_cycle_are_rejected_with_a_real_cycle(graph: tuple[int, dict[int, set[int]]]) -> None:
    # GIVEN a graph with an injected cycle
    size, edges = graph

    # WHEN it is checked
    plan, problems = check_plan(_document(edges, size))

    # THEN it is rejected and each reported cycle is a cycle of the graph
    assert plan is None
    cycles = [problem for problem in problems if problem.code == "cycle"]
    assert cycles
    for problem in cycles:
        names = problem.message.removeprefix("dependency cycle: ").split(" -> ")
        assert names[0] == names[-1]
        assert len(set(names[:-1])) == len(names) - 1
        for wave, dep in itertools.pairwise(names):
            assert int(dep[1:]) in edges.get(int(wave[1:]), set()), f"{wave} does not depend on {dep}"


@FAST
@given(st.lists(st.text(min_size=1, max_size=5), max_size=700, unique=True), st.integers(1, 150))
def test_cut_jobs_properties(server_ids: list[str], per_job: int) -> None:
    # GIVEN any list of servers and a job size
    # WHEN it is cut into jobs
    jobs = cut_jobs(server_ids, per_job)

    # THEN no job is too big, order and content are kept, sizes differ by at most one,
    # and there are as few jobs as the size allows
    assert all(0 < len(job) <= per_job for job in jobs)
    assert [server for job in jobs for server in job] == server_ids
    if jobs:
        sizes = [len(job) for job in jobs]
        assert max(sizes) - min(sizes) <= 1
        assert len(jobs) == -(-len(server_ids) // per_job)


def test_cut_jobs_examples() -> None:
    assert [len(job) for job in cut_jobs([str(i) for i in range(250)])] == [84, 83, 83]
    assert [len(job) for job in cut_jobs([str(i) for i in range(100)])] == [100]
    assert [len(job) for job in cut_jobs([str(i) for i in range(101)])] == [51, 50]
    assert cut_jobs([]) == []
    with pytest.raises(ValueError, match="per_job"):
        cut_jobs(["a"], 0)


def test_layers_and_critical_path_of_the_examples() -> None:
    # GIVEN the examples
    diamond = load_plan(EXAMPLES / "diamond.yaml")
    parallel = load_plan(EXAMPLES / "parallel.yaml")
    three_tier = load_plan(EXAMPLES / "three-tier.yaml")

    # WHEN / THEN layers say which waves start together
    assert layers(diamond) == [["A"], ["B", "C"], ["D"]]
    assert layers(parallel) == [["crm", "billing", "intranet"]]
    assert layers(three_tier) == [["database"], ["application"], ["web"]]
    assert critical_path(three_tier) == ["database", "application", "web"]
    assert critical_path(diamond) == ["A", "B", "D"]
    # estimated durations move the critical path to the slower branch
    assert critical_path(diamond, {"A": 60, "B": 60, "C": 600, "D": 60}) == ["A", "C", "D"]


def test_remaining_paths_of_the_examples() -> None:
    # GIVEN the diamond A -> (B, C) -> D and the chain database -> application -> web
    diamond = load_plan(EXAMPLES / "diamond.yaml")
    three_tier = load_plan(EXAMPLES / "three-tier.yaml")

    # WHEN / THEN each wave counts itself and the longest chain of waves after it
    assert remaining_paths(three_tier) == {"database": 3.0, "application": 2.0, "web": 1.0}
    assert remaining_paths(diamond) == {"A": 3.0, "B": 2.0, "C": 2.0, "D": 1.0}
    # weighted: the slow branch C makes A's remaining path, B's stays its own
    assert remaining_paths(diamond, {"A": 60, "B": 60, "C": 600, "D": 60}) == {
        "A": 720.0,
        "B": 120.0,
        "C": 660.0,
        "D": 60.0,
    }


@FAST
@given(dags())
def test_a_root_remaining_path_is_the_critical_path(dag: tuple[int, dict[int, set[int]]]) -> None:
    # GIVEN a random DAG
    size, edges = dag
    plan = parse_plan(_document(edges, size))

    # WHEN its remaining paths are computed
    paths = remaining_paths(plan)

    # THEN the longest is the critical path's length, and a wave's is one more than its longest dependant's
    assert max(paths.values()) == len(critical_path(plan))
    for wave in plan.waves:
        for dep in wave.depends_on:
            assert paths[dep] >= paths[wave.wave_id] + 1


def test_upstream_and_downstream() -> None:
    diamond = load_plan(EXAMPLES / "diamond.yaml")
    assert upstream(diamond, "D") == {"A", "B", "C"}
    assert upstream(diamond, "A") == set()
    assert downstream(diamond, "A") == {"B", "C", "D"}
    assert downstream(diamond, "D") == set()
    with pytest.raises(KeyError):
        downstream(diamond, "nope")


def _big_plan() -> Plan:
    # two roots of 250 and 300 servers, then one wave of 30
    return parse_plan(_document({2: {0, 1}}, 3, servers={0: 250, 1: 300, 2: 30}))


def test_launch_schedule_cuts_jobs_and_queues_layers_over_the_quotas() -> None:
    # GIVEN a plan whose first layer launches 550 servers
    plan = _big_plan()

    # WHEN the schedule is computed under the default quotas, each chunk a job of its own (packing off)
    schedule = launch_schedule(plan, packing=False)

    # THEN waves are cut into balanced jobs and the first layer needs two rounds (550 > 500)
    assert schedule["quotas"] == {"serversPerJob": 100, "concurrentJobs": 20, "serversInAllJobs": 500}
    assert schedule["waves"]["w0"]["jobs"] == [84, 83, 83]
    assert schedule["waves"]["w1"]["jobs"] == [100, 100, 100]
    first, second = schedule["layers"]
    assert (first["waves"], first["jobs"], first["servers"], first["queued"]) == (["w0", "w1"], 6, 550, True)
    assert all(round_["servers"] <= 500 for round_ in first["rounds"])
    assert sum(round_["jobs"] for round_ in first["rounds"]) == 6
    assert (second["jobs"], second["servers"], second["queued"]) == (1, 30, False)


def test_launch_schedule_respects_concurrent_job_quota() -> None:
    # GIVEN 25 waves of one server each, all roots, and a quota of 20 concurrent jobs
    plan = parse_plan(_document({}, 25))

    # WHEN / THEN the single layer runs in two rounds of 20 and 5 jobs
    rounds = launch_schedule(plan, Quotas(), packing=False)["layers"][0]["rounds"]
    assert [round_["jobs"] for round_ in rounds] == [20, 5]
    # and with smaller quotas the jobs are cut smaller
    small = launch_schedule(plan, Quotas(servers_per_job=1, concurrent_jobs=5, servers_in_all_jobs=3), packing=False)
    assert [round_["jobs"] for round_ in small["layers"][0]["rounds"]] == [3] * 8 + [1]


def test_with_launch_packing_a_layers_chunks_share_jobs() -> None:
    # GIVEN 25 one-server root waves, and the 250 + 300 server roots of the big plan
    small = parse_plan(_document({}, 25))
    big = _big_plan()

    # WHEN the schedules are computed with launch packing (the default)
    [layer] = launch_schedule(small)["layers"]
    first, _ = launch_schedule(big)["layers"]

    # THEN the 25 chunks share one job in one round; the big layer's 6 chunks stay 6 jobs (84 + 83 + 83 + 100 x 3:
    # no two fit one job of 100, and a chunk is never split) in two rounds (550 > 500)
    assert (layer["chunks"], layer["jobs"], layer["queued"]) == (25, 1, False)
    assert [round_["jobs"] for round_ in layer["rounds"]] == [1]
    assert sorted(layer["rounds"][0]["waves"]) == sorted(f"w{n}" for n in range(25))
    assert (first["chunks"], first["jobs"], first["queued"]) == (6, 6, True)


# ---- warnings: settings that can have no effect ---------------------------------------------------


def _warned(document: dict[str, Any]) -> list[tuple[str | None, str | None, str]]:
    """(wave, path, code) of every warning of a valid plan."""
    return [(w.wave_id, w.path, w.code) for w in plan_warnings(parse_plan(document))]


def test_the_example_plans_have_no_warnings_but_the_seed_sample_pre_launch_script_without_targets() -> None:
    # GIVEN / WHEN the example plans are checked for settings without effect
    found = {
        path.name: [(w.path, w.code) for w in plan_warnings(load_plan(path))]
        for path in sorted(EXAMPLES.glob("*.*"))
        if path.suffix in {".yaml", ".json"}
    }

    # THEN only the seed sample's pre-launch script, which targets its own wave's instances, is named
    assert found == {
        "diamond.yaml": [],
        "parallel.yaml": [],
        "three-tier.yaml": [],
        "three-tier-runbooks.yaml": [],
        "two-region.yaml": [],  # every wave in us-west-2 of the own account, without a role
        "seed-format.json": [("waves[1].preLaunch[0]", "no-targets")],
    }


def test_a_pre_launch_script_without_targets_is_warned_about_and_says_what_its_policy_does() -> None:
    # GIVEN a pre-launch fence without targets (FAIL), one with onFailure WARN, and one on an upstream wave
    plan = parse_plan(
        {
            "planId": "p",
            "waves": [
                {"waveId": "db", "servers": [server_id(1)]},
                {
                    "waveId": "app",
                    "dependsOn": ["db"],
                    "servers": [server_id(2)],
                    "preLaunch": [
                        {"documentName": "fence"},
                        {"documentName": "note", "onFailure": "WARN"},
                        {"documentName": "db-ready", "targets": {"wave": "db"}},
                    ],
                },
            ],
        }
    )

    # WHEN the plan is checked
    warnings = plan_warnings(plan)

    # THEN the two scripts that target the wave's own (not yet launched) instances are named, each with
    # what happens on a first run; the script on the upstream wave is fine
    assert [(w.wave_id, w.path, w.code) for w in warnings] == [
        ("app", "waves[1].preLaunch[0]", "no-targets"),
        ("app", "waves[1].preLaunch[1]", "no-targets"),
    ]
    assert "fence has no targets" in warnings[0].message
    assert "fails the wave before launch (onFailure FAIL)" in warnings[0].message
    assert "is skipped with a warning (onFailure WARN)" in warnings[1].message


@pytest.mark.parametrize(
    ("servers", "threshold", "expected"),
    [
        # every server explicitly CRITICAL: a failure fails the wave before the threshold is looked at
        (
            [
                {"sourceServerID": server_id(1), "criticality": "CRITICAL"},
                {"sourceServerID": server_id(2), "criticality": "CRITICAL"},
            ],
            0.5,
            ["every server of the wave is CRITICAL"],
        ),
        # 0.9 of two servers needs both: nothing may fail, the threshold changes nothing
        ([server_id(1), server_id(2)], 0.9, ["needs all 2 servers of the wave to launch", "at most 0.5"]),
        # one server: it launches or the wave fails
        ([server_id(1)], 0.5, ["on a wave of one server"]),
        # 0.5 of two servers tolerates one failure: a real threshold
        ([server_id(1), server_id(2)], 0.5, []),
        # 0.75 of four servers (one of them CRITICAL) tolerates one failure
        (
            [{"sourceServerID": server_id(1), "criticality": "CRITICAL"}, server_id(2), server_id(3), server_id(4)],
            0.75,
            [],
        ),
    ],
)
def test_a_success_threshold_that_can_change_nothing_is_warned_about(
    servers: list[Any], threshold: float, expected: list[str]
) -> None:
    # GIVEN a wave with a success threshold
    plan = parse_plan({"planId": "p", "waves": [{"waveId": "w", "servers": servers, "successThreshold": threshold}]})

    # WHEN it is checked
    warnings = plan_warnings(plan)

    # THEN the threshold is warned about exactly when no launch outcome depends on it
    if not expected:
        assert warnings == []
        return
    assert [(w.wave_id, w.path, w.code) for w in warnings] == [("w", "waves[0].successThreshold", "no-effect")]
    for words in expected:
        assert words in warnings[0].message


def test_on_failure_continue_is_warned_about_only_where_no_independent_wave_can_continue() -> None:
    # GIVEN a chain db -> app -> web beside an independent branch reports, every wave CONTINUE
    branches = {
        "planId": "p",
        "defaults": {"onFailure": "CONTINUE"},
        "waves": [
            {"waveId": "db", "servers": [server_id(1)]},
            {"waveId": "app", "dependsOn": ["db"], "servers": [server_id(2)]},
            {"waveId": "web", "dependsOn": ["app"], "servers": [server_id(3)]},
            {"waveId": "reports", "servers": [server_id(4)]},
        ],
    }
    # AND the same chain alone, one wave CONTINUE and the others STOP
    chain = {
        "planId": "p",
        "waves": [
            {"waveId": "db", "servers": [server_id(1)]},
            {"waveId": "app", "dependsOn": ["db"], "servers": [server_id(2)], "onFailure": "CONTINUE"},
            {"waveId": "web", "dependsOn": ["app"], "servers": [server_id(3)]},
        ],
    }

    # WHEN / THEN with an independent branch every CONTINUE lets something go on: no warning
    assert _warned(branches) == []
    # AND in the lone chain, CONTINUE works like STOP (STOP, the default, is never warned about)
    assert _warned(chain) == [("app", "waves[1].onFailure", "no-effect")]


def test_an_approval_that_is_not_required_is_warned_about_unless_recovery_gates_use_it() -> None:
    # GIVEN approval blocks with required: false on a root wave and on a dependent wave
    def document(require_in_recovery: bool) -> dict[str, Any]:
        approval = {"required": False, "approvers": ["arn:aws:iam::123456789012:role/DROps"], "timeoutSeconds": 600}
        return {
            "planId": "p",
            "defaults": {"requireApprovalInRecovery": require_in_recovery},
            "waves": [
                {"waveId": "db", "servers": [server_id(1)], "approval": approval},
                {"waveId": "app", "dependsOn": ["db"], "servers": [server_id(2)], "approval": approval},
            ],
        }

    # WHEN / THEN without requireApprovalInRecovery neither block does anything
    assert _warned(document(False)) == [
        ("db", "waves[0].approval.required", "no-effect"),
        ("app", "waves[1].approval.required", "no-effect"),
    ]
    # AND with it, the root wave's block sets its recovery gate; the dependent wave's still does nothing
    assert _warned(document(True)) == [("app", "waves[1].approval.required", "no-effect")]


def test_a_health_check_with_on_failure_warn_is_warned_about() -> None:
    # GIVEN a health check whose onFailure says WARN (a health check is a gate: it always fails the wave)
    plan = {
        "planId": "p",
        "waves": [
            {"waveId": "w", "servers": [server_id(1)], "healthCheck": {"documentName": "check", "onFailure": "WARN"}}
        ],
    }

    # WHEN / THEN
    assert _warned(plan) == [("w", "waves[0].healthCheck.onFailure", "no-effect")]
