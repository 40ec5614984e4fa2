"""Whole-plan checks on the wave graph, run on raw (possibly malformed) data.

They look only at what is usable (waves with a string `waveId`, string dependencies, string server
ids), so one malformed wave does not hide a cycle or a duplicate elsewhere. Each runs in time linear
in the plan (at most MAX_CYCLES cycles are searched for; hints are bounded by `Suggestions`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.suggest import Suggestions, quote

#: Dependency cycles reported at most (each search is linear; a plan with more is invalid anyway).
MAX_CYCLES = 20


@dataclass
class _WaveRef:
    index: int
    wave_id: str
    depends_on: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)  # depends_on as a set

    def add(self, dependency: str) -> None:
        self.depends_on.append(dependency)
        self.known.add(dependency)


def _get(raw: dict[str, Any], camel: str, snake: str) -> Any:
    return raw[camel] if camel in raw else raw.get(snake)


def _scripts(raw_wave: dict[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(kind, label, path suffix, raw script) for every script of a raw wave: its own, then those of its `failback`
    (the same checks apply: a failback runs in the same dependency order), whose label and path say so."""
    failback = _get(raw_wave, "failback", "failback")
    for prefix, raw in (("", raw_wave), ("failback.", failback if isinstance(failback, dict) else {})):
        for kind, snake in (("preLaunch", "pre_launch"), ("postLaunch", "post_launch")):
            scripts = _get(raw, kind, snake)
            if isinstance(scripts, list):
                for index, script in enumerate(scripts):
                    yield kind, f"{prefix.replace('.', ' ')}{kind}", prefix + join_path(kind, index), script
        health = _get(raw, "healthCheck", "health_check")
        if health is not None:
            yield "healthCheck", f"{prefix.replace('.', ' ')}healthCheck", prefix + "healthCheck", health


def find_cycles(edges: dict[str, list[str]], limit: int = MAX_CYCLES) -> list[list[str]]:
    """Disjoint dependency cycles (at most `limit`), each as `[a, b, ..., a]` where each wave depends on
    the next."""
    graph = {node: list(deps) for node, deps in edges.items()}
    cycles: list[list[str]] = []
    while len(cycles) < limit:
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            # graphlib lists the cycle so that each node is a predecessor of the next one;
            # reversed, each wave depends on the next one.
            cycle = list(reversed(exc.args[1]))
            cycles.append(cycle)
            gone = set(cycle)
            graph = {node: [d for d in deps if d not in gone] for node, deps in graph.items() if node not in gone}
        else:
            return cycles
    return cycles


def ancestors(edges: dict[str, list[str]], wave_id: str) -> set[str]:
    """Every wave `wave_id` depends on, directly or not (cycle-safe)."""
    seen: set[str] = set()
    stack = list(edges.get(wave_id, []))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, []))
    return seen


class _Upstream:
    """`is_upstream(target, wave)`: whether `wave` depends on `target`, directly or not. Without cycles,
    each wave's ancestors are a bitset built once in dependency order (linear in the plan); with a cycle
    (reported on its own), a search per wave asked about."""

    def __init__(self, edges: dict[str, list[str]], cyclic: bool) -> None:
        self.edges = edges
        self.bits: dict[str, int] | None = None
        self.sets: dict[str, set[str]] = {}
        self.index = {wave_id: position for position, wave_id in enumerate(edges)}
        if not cyclic:
            bits: dict[str, int] = {}
            for wave_id in TopologicalSorter(edges).static_order():
                value = 0
                for dependency in edges.get(wave_id, []):
                    value |= bits[dependency] | (1 << self.index[dependency])
                bits[wave_id] = value
            self.bits = bits

    def is_upstream(self, target: str, wave_id: str) -> bool:
        if self.bits is not None:
            return bool(self.bits[wave_id] >> self.index[target] & 1)
        if wave_id not in self.sets:
            self.sets[wave_id] = ancestors(self.edges, wave_id)
        return target in self.sets[wave_id]


def graph_problems(data: dict[str, Any]) -> list[Problem]:
    """Problems of the plan as a whole: empty plan or waves, ids, dependencies, cycles, targets."""
    raw_waves = data.get("waves")
    if raw_waves is None or (isinstance(raw_waves, list) and not raw_waves):
        return [Problem("the plan has no waves", "empty-plan", path="waves")]
    if not isinstance(raw_waves, list):
        return []
    problems: list[Problem] = []
    refs: dict[str, _WaveRef] = {}
    raw_by_id: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(raw_waves):
        if not isinstance(raw, dict):
            continue
        wave_id = _get(raw, "waveId", "wave_id")
        if not isinstance(wave_id, str) or not wave_id:
            continue
        if wave_id in refs:
            first = refs[wave_id].index
            problems.append(
                Problem(
                    f"duplicate wave id '{quote(wave_id)}' (also waves[{first}])",
                    "duplicate-wave",
                    wave_id,
                    join_path("waves", index, "waveId"),
                )
            )
            continue
        refs[wave_id] = _WaveRef(index, wave_id)
        raw_by_id[wave_id] = raw

    suggestions = Suggestions()
    problems.extend(_dependency_problems(refs, raw_by_id, suggestions))
    problems.extend(_server_problems(raw_waves))
    edges = {wave_id: ref.depends_on for wave_id, ref in refs.items()}
    cycles = find_cycles(edges)
    for found in cycles:
        ring = found[:-1]
        first = min(range(len(ring)), key=lambda position: refs[ring[position]].index)
        cycle = [*ring[first:], *ring[:first], ring[first]]
        start = refs[cycle[0]]
        problems.append(
            Problem(
                f"dependency cycle: {' -> '.join(cycle)}",
                "cycle",
                start.wave_id,
                join_path("waves", start.index, "dependsOn"),
            )
        )
    problems.extend(_target_problems(refs, raw_by_id, _Upstream(edges, bool(cycles)), suggestions))
    return problems


def _dependency_problems(
    refs: dict[str, _WaveRef], raw_by_id: dict[str, dict[str, Any]], suggestions: Suggestions
) -> list[Problem]:
    problems: list[Problem] = []
    for wave_id, ref in refs.items():
        deps = _get(raw_by_id[wave_id], "dependsOn", "depends_on")
        if not isinstance(deps, list):
            continue
        for position, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            path = join_path("waves", ref.index, "dependsOn", position)
            if dep == wave_id:
                problems.append(Problem(f"wave '{quote(wave_id)}' depends on itself", "self-dependency", wave_id, path))
            elif dep in ref.known:
                problems.append(Problem(f"duplicate dependency '{quote(dep)}'", "duplicate-dependency", wave_id, path))
            elif dep not in refs:
                others = (other for other in refs if other != wave_id)
                problems.append(
                    Problem(
                        f"unknown dependency '{quote(dep)}'{suggestions.hint(dep, others)}",
                        "unknown-dependency",
                        wave_id,
                        path,
                    )
                )
            else:
                ref.add(dep)
    return problems


def _server_problems(raw_waves: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    owner: dict[str, tuple[int, str]] = {}
    for index, raw in enumerate(raw_waves):
        if not isinstance(raw, dict):
            continue
        wave_id = _get(raw, "waveId", "wave_id")
        label = wave_id if isinstance(wave_id, str) else f"waves[{index}]"
        servers = raw.get("servers")
        selector = _get(raw, "sourceServerTags", "source_server_tags")
        if (servers is None or (isinstance(servers, list) and not servers)) and not selector:
            problems.append(
                Problem(
                    "the wave has no servers (a wave launches at least one source server: list it, or select by "
                    "sourceServerTags)",
                    "empty-wave",
                    label if isinstance(wave_id, str) else None,
                    join_path("waves", index, "servers"),
                )
            )
            continue
        if not isinstance(servers, list):
            continue
        for position, server in enumerate(servers):
            server_id = server if isinstance(server, str) else None
            if isinstance(server, dict):  # a staging server's id is its staging id until StartPlan resolves it
                server_id = _get(server, "sourceServerID", "source_server_id") or _get(
                    server, "stagingSourceServerID", "staging_source_server_id"
                )
            if not isinstance(server_id, str):
                continue
            path = join_path("waves", index, "servers", position)
            if server_id in owner:
                first_index, first_label = owner[server_id]
                if first_index == index:
                    message = f"server '{quote(server_id)}' is listed twice in wave '{quote(label)}'"
                else:
                    message = (
                        f"server '{quote(server_id)}' is in two waves: '{quote(first_label)}' "
                        f"(waves[{first_index}]) and '{quote(label)}' (waves[{index}])"
                    )
                wid = wave_id if isinstance(wave_id, str) else None
                problems.append(Problem(message, "duplicate-server", wid, path))
            else:
                owner[server_id] = (index, label)
    return problems


def _target_problems(
    refs: dict[str, _WaveRef],
    raw_by_id: dict[str, dict[str, Any]],
    upstream: _Upstream,
    suggestions: Suggestions,
) -> list[Problem]:
    problems: list[Problem] = []
    for wave_id, ref in refs.items():
        for kind, label, suffix, script in _scripts(raw_by_id[wave_id]):
            if not isinstance(script, dict) or not isinstance(script.get("targets"), dict):
                continue
            if script.get("type") in ("WAIT", "SSM_AUTOMATION"):
                continue  # a WAIT or SSM_AUTOMATION step takes no targets: the model refuses them
            target = script["targets"].get("wave")
            if not isinstance(target, str):
                continue
            path = join_path("waves", ref.index) + "." + suffix + ".targets.wave"
            if target not in refs:
                problems.append(
                    Problem(
                        f"{label} script targets unknown wave '{quote(target)}'{suggestions.hint(target, refs)}",
                        "script-target",
                        wave_id,
                        path,
                    )
                )
            elif kind == "preLaunch" and (target == wave_id or not upstream.is_upstream(target, wave_id)):
                what = "itself" if target == wave_id else f"wave '{quote(target)}'"
                problems.append(
                    Problem(
                        f"{label} script targets {what}, which is not upstream of '{quote(wave_id)}' "
                        "(a pre-launch script may target only waves this wave depends on, directly or not)",
                        "script-target",
                        wave_id,
                        path,
                    )
                )
            elif kind != "preLaunch" and target != wave_id and not upstream.is_upstream(target, wave_id):
                problems.append(
                    Problem(
                        f"{label} script targets wave '{quote(target)}', which is not upstream of '{quote(wave_id)}' "
                        "(a post-launch script may target this wave or the waves it depends on)",
                        "script-target",
                        wave_id,
                        path,
                    )
                )
    return problems
