from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.plan import (
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
    upstream,
)
from tests.unit.plan.conftest import EXAMPLES, server_id

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

    # WHEN the schedule is computed under the default quotas
    schedule = launch_schedule(plan)

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
    rounds = launch_schedule(plan, Quotas())["layers"][0]["rounds"]
    assert [round_["jobs"] for round_ in rounds] == [20, 5]
    # and with smaller quotas the jobs are cut smaller
    small = launch_schedule(plan, Quotas(servers_per_job=1, concurrent_jobs=5, servers_in_all_jobs=3))
    assert [round_["jobs"] for round_ in small["layers"][0]["rounds"]] == [3] * 8 + [1]
