"""What a run of a plan will do: dependency layers, the critical path, DRS jobs under the quotas, and
the settings of a valid plan that can have no effect (`plan_warnings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.plan.model import Criticality, OnFailure, Plan, Script, ScriptOnFailure, Wave
from orchestrator.domain.plan.problems import Problem, join_path


@dataclass(frozen=True)
class Quotas:
    """DRS quotas (not adjustable; read them from Service Quotas at run time, these are the defaults)."""

    servers_per_job: int = 100  # L-B827C881
    concurrent_jobs: int = 20  # L-D88FAC3A
    servers_in_all_jobs: int = 500  # L-05AFA8C6


def _by_id(plan: Plan) -> dict[str, Wave]:
    return {wave.wave_id: wave for wave in plan.waves}


def _index(plan: Plan) -> dict[str, int]:
    return {wave_id: index for index, wave_id in enumerate(plan.wave_ids)}


def _children(plan: Plan) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {wave.wave_id: [] for wave in plan.waves}
    for wave in plan.waves:
        for dep in wave.depends_on:
            children[dep].append(wave.wave_id)
    return children


def _depths(plan: Plan) -> dict[str, int]:
    """Each wave's longest chain of dependencies (0 for a root), in time linear in the plan."""
    children = _children(plan)
    pending = {wave.wave_id: len(set(wave.depends_on)) for wave in plan.waves}
    ready = [wave.wave_id for wave in plan.waves if not pending[wave.wave_id]]
    depth = dict.fromkeys(ready, 0)
    for wave_id in ready:  # grows while it is walked
        for child in children[wave_id]:
            depth[child] = max(depth.get(child, 0), depth[wave_id] + 1)
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    if len(ready) != len(plan.waves):  # a validated plan has no cycle
        msg = "the plan has a dependency cycle"
        raise ValueError(msg)
    return depth


def _topological(plan: Plan) -> list[str]:
    """Wave ids, every wave after the waves it depends on, otherwise in plan order (layer by layer)."""
    depth = _depths(plan)
    index = _index(plan)
    return sorted(plan.wave_ids, key=lambda wave_id: (depth[wave_id], index[wave_id]))


def layers(plan: Plan) -> list[list[str]]:
    """Dependency layers: layer n holds the waves whose longest dependency chain has n waves.

    The waves of a layer can start together; with no dependencies at all there is one layer.
    """
    depth = _depths(plan)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for wave_id in plan.wave_ids:
        out[depth[wave_id]].append(wave_id)
    return out


def critical_path(plan: Plan, wave_seconds: dict[str, float] | None = None) -> list[str]:
    """The longest chain of dependent waves, from a root to a leaf.

    Each wave weighs `wave_seconds[wave_id]` (an estimated duration) or 1; ties go to plan order.
    """
    weights = wave_seconds or {}
    index = _index(plan)
    by_id = _by_id(plan)
    best: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for wave_id in _topological(plan):
        deps = sorted(by_id[wave_id].depends_on, key=lambda dep: (-best[dep], index[dep]))
        before = deps[0] if deps else None
        best[wave_id] = weights.get(wave_id, 1.0) + (best[before] if before else 0.0)
        previous[wave_id] = before
    if not best:
        return []
    end: str | None = min(best, key=lambda wave_id: (-best[wave_id], index[wave_id]))
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = previous[end]
    return list(reversed(path))


def remaining_paths(plan: Plan, wave_seconds: dict[str, float] | None = None) -> dict[str, float]:
    """`{wave id: the longest chain of dependent waves from it to a leaf, itself included}`: how much of its plan
    still hangs on a wave (the launch packer's first ordering key, `orchestrator.domain.packing`).

    Each wave weighs `wave_seconds[wave_id]` (an estimated duration) or 1. ValueError on a dependency cycle."""
    weights = wave_seconds or {}
    children = _children(plan)
    longest: dict[str, float] = {}
    for wave_id in reversed(_topological(plan)):  # every child before its parents
        after = max((longest[child] for child in children[wave_id]), default=0.0)
        longest[wave_id] = weights.get(wave_id, 1.0) + after
    return longest


def cut_jobs(server_ids: list[str], per_job: int = 100) -> list[list[str]]:
    """Balanced chunks of at most `per_job`, in order: 250 servers -> 84, 83, 83."""
    if per_job < 1:
        msg = f"per_job must be at least 1, not {per_job}"
        raise ValueError(msg)
    if not server_ids:
        return []
    count = math.ceil(len(server_ids) / per_job)
    base, extra = divmod(len(server_ids), count)
    chunks: list[list[str]] = []
    start = 0
    for chunk in range(count):
        size = base + (1 if chunk < extra else 0)
        chunks.append(server_ids[start : start + size])
        start += size
    return chunks


def upstream(plan: Plan, wave_id: str) -> set[str]:
    """Every wave `wave_id` depends on, directly or not."""
    by_id = _by_id(plan)
    seen: set[str] = set()
    stack = list(plan.wave(wave_id).depends_on)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(by_id[current].depends_on)
    return seen


def downstream(plan: Plan, wave_id: str) -> set[str]:
    """Every wave that depends on `wave_id`, directly or not."""
    plan.wave(wave_id)
    children = _children(plan)
    seen: set[str] = set()
    stack = list(children[wave_id])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(children[current])
    return seen


def _rounds(jobs: list[tuple[list[str], int]], quotas: Quotas) -> list[dict[str, Any]]:
    """Pack jobs (each: its waves, its servers), in order, into rounds that each fit the concurrent-job and server
    quotas."""
    rounds: list[dict[str, Any]] = []
    current: dict[str, Any] = {"jobs": 0, "servers": 0, "waves": []}
    for owners, size in jobs:
        too_many = current["jobs"] + 1 > quotas.concurrent_jobs
        too_big = current["servers"] + size > quotas.servers_in_all_jobs
        if current["jobs"] and (too_many or too_big):
            rounds.append(current)
            current = {"jobs": 0, "servers": 0, "waves": []}
        current["jobs"] += 1
        current["servers"] += size
        current["waves"].extend(wave_id for wave_id in owners if wave_id not in current["waves"])
    if current["jobs"]:
        rounds.append(current)
    return rounds


def _packed(chunks: list[tuple[str, int]], servers_per_job: int) -> list[tuple[list[str], int]]:
    """The layer's chunks as launch packing would share them (issue #19, `orchestrator.domain.packing`): first fit
    decreasing into jobs of at most `servers_per_job`, never two chunks of one wave in a job, a chunk never split.
    Each job as (its waves, its servers): an estimate of how few jobs the layer needs when its waves are ready
    together (the packer itself packs what is ready, in its priority order)."""
    jobs: list[tuple[list[str], int]] = []
    for wave_id, size in sorted(chunks, key=lambda chunk: -chunk[1]):
        for index, (owners, servers) in enumerate(jobs):
            if servers + size <= servers_per_job and wave_id not in owners:
                jobs[index] = ([*owners, wave_id], servers + size)
                break
        else:
            jobs.append(([wave_id], size))
    return jobs


def launch_schedule(plan: Plan, quotas: Quotas = Quotas(), *, packing: bool = True) -> dict[str, Any]:
    """Per wave its DRS jobs (chunks of at most a job's worth); per layer how many jobs and servers would run at
    once and whether the layer must be queued into several rounds to stay under the quotas. `packing` (launch
    packing, the deploy's default: issue #19): a layer's chunks share jobs (`jobs` counts the shared jobs, `chunks`
    the waves' own); off, every chunk is a job of its own.

    `{"quotas": {...}, "packing": bool, "waves": {waveId: {"servers": n, "jobs": [sizes]}},
      "layers": [{"index", "waves", "chunks", "jobs", "servers", "rounds": [{"jobs", "servers", "waves"}], "queued"}]}`
    """
    waves: dict[str, dict[str, Any]] = {}
    for wave in plan.waves:
        jobs = cut_jobs(wave.server_ids, quotas.servers_per_job)
        waves[wave.wave_id] = {"servers": len(wave.server_ids), "jobs": [len(job) for job in jobs]}
    layer_rows: list[dict[str, Any]] = []
    for number, layer in enumerate(layers(plan)):
        chunks = [(wave_id, size) for wave_id in layer for size in waves[wave_id]["jobs"]]
        layer_jobs = _packed(chunks, quotas.servers_per_job) if packing else [([w], size) for w, size in chunks]
        rounds = _rounds(layer_jobs, quotas)
        layer_rows.append(
            {
                "index": number,
                "waves": layer,
                "chunks": len(chunks),
                "jobs": len(layer_jobs),
                "servers": sum(size for _, size in layer_jobs),
                "rounds": rounds,
                "queued": len(rounds) > 1,
            }
        )
    limits = {
        "serversPerJob": quotas.servers_per_job,
        "concurrentJobs": quotas.concurrent_jobs,
        "serversInAllJobs": quotas.servers_in_all_jobs,
    }
    return {"quotas": limits, "packing": packing, "waves": waves, "layers": layer_rows}


# ---- warnings: a valid plan whose settings can have no effect ----------------------------------------


def plan_warnings(plan: Plan) -> list[Problem]:
    """What `drs-orch validate` warns about: a valid plan with a setting that can have no effect, or a step
    that has no targets it can resolve on a first run. Each warning names its field path (for its line),
    in plan order. The plan still runs; these are not errors."""
    found: list[Problem] = []
    for index, wave in enumerate(plan.waves):
        found.extend(_prelaunch_warnings(wave, index))
        found.extend(_threshold_warnings(wave, index))
        found.extend(_on_failure_warnings(plan, wave, index))
        found.extend(_approval_warnings(plan, wave, index))
        if wave.failback is not None and not wave.failback.given():
            found.append(
                Problem(
                    "failback gives none of preLaunch, postLaunch, healthCheck: a failback runs this wave's recovery "
                    "scripts (leave failback out, or give the keys whose failback steps differ)",
                    "no-effect",
                    wave.wave_id,
                    join_path("waves", index, "failback"),
                )
            )
        for where, kind, steps in wave.script_lists():
            if kind == "healthCheck" and steps and steps[0].on_failure is ScriptOnFailure.WARN:
                found.append(
                    Problem(
                        f"{where} onFailure WARN has no effect: a failing health check always fails its wave "
                        "(use a postLaunch script with onFailure WARN for a check that only warns)",
                        "no-effect",
                        wave.wave_id,
                        join_path("waves", index, where, "onFailure"),
                    )
                )
    return found


def _prelaunch_warnings(wave: Wave, index: int) -> list[Problem]:
    """A pre-launch script without targets runs on this wave's recovery instances, which its launch has
    not created yet: only instances left by an earlier launch can run it. So does a pre-launch runbook given
    them (recoveryInstancesParameter). The same of the wave's failback pre-launch scripts."""
    found = []
    pre_launch = [(where, steps) for where, kind, steps in wave.script_lists() if kind == "preLaunch"]
    for where, steps in pre_launch:
        found.extend(_prelaunch_list_warnings(wave, index, where, steps))
    return found


def _prelaunch_list_warnings(wave: Wave, index: int, where: str, steps: list[Script]) -> list[Problem]:
    found = []
    for position, script in enumerate(steps):
        then = (
            "fails the wave before launch (onFailure FAIL)"
            if script.on_failure is ScriptOnFailure.FAIL
            else "is skipped with a warning (onFailure WARN)"
        )
        path = join_path("waves", index, where, position)
        if script.is_automation and script.recovery_instances_parameter:
            message = (
                f"{where} runbook {script.document} is given this wave's recovery instances "
                f"(recoveryInstancesParameter), which do not exist before its launch: on a first run it has none "
                f"and {then}; run it in postLaunch, or in a downstream wave"
            )
            found.append(Problem(message, "no-targets", wave.wave_id, join_path(path, "recoveryInstancesParameter")))
        if not script.runs_document or script.run_targets.wave != wave.wave_id:
            continue
        found.append(
            Problem(
                f"{where} script {script.document} has no targets, so it targets this wave's recovery "
                f"instances, which do not exist before its launch: on a first run it has nothing to run on and "
                f"{then}; give it targets (instanceIds, tags, or an upstream wave)",
                "no-targets",
                wave.wave_id,
                path,
            )
        )
    return found


def _least_launched(total: int, threshold: float) -> int:
    """The fewest servers of `total` that meet `threshold` (the judge fails a wave when
    launched / total < threshold)."""
    return next(launched for launched in range(total + 1) if launched / total >= threshold)


def _threshold_warnings(wave: Wave, index: int) -> list[Problem]:
    threshold = wave.success_threshold
    if threshold is None or not wave.servers:
        return []
    path = join_path("waves", index, "successThreshold")
    if all(server.criticality is Criticality.CRITICAL for server in wave.servers):
        return [
            Problem(
                f"successThreshold {threshold:g} has no effect: every server of the wave is CRITICAL, and a "
                "CRITICAL server that does not launch fails the wave whatever the threshold (leave criticality "
                "out, or set OPTIONAL, on the servers the threshold should count)",
                "no-effect",
                wave.wave_id,
                path,
            )
        ]
    total = len(wave.servers)
    if _least_launched(total, threshold) == total:
        tolerated = max(1, total - 1)
        return (
            [
                Problem(
                    f"successThreshold {threshold:g} needs all {total} servers of the wave to launch: no server "
                    f"may fail, so the threshold and every OPTIONAL server change nothing (a threshold of at most "
                    f"{tolerated / total:.2g} allows one failure)",
                    "no-effect",
                    wave.wave_id,
                    path,
                )
            ]
            if total > 1
            else [
                Problem(
                    f"successThreshold {threshold:g} has no effect on a wave of one server: it launches or the "
                    "wave fails",
                    "no-effect",
                    wave.wave_id,
                    path,
                )
            ]
        )
    return []


def _on_failure_warnings(plan: Plan, wave: Wave, index: int) -> list[Problem]:
    """CONTINUE differs from STOP only for a wave that neither depends on the failed one nor is one it
    depends on: STOP skips such a wave if it has not started, CONTINUE lets it run."""
    if wave.on_failure is not OnFailure.CONTINUE:
        return []
    related = upstream(plan, wave.wave_id) | downstream(plan, wave.wave_id) | {wave.wave_id}
    if any(other not in related for other in plan.wave_ids):
        return []
    return [
        Problem(
            f"onFailure CONTINUE works like STOP here: every other wave depends on '{wave.wave_id}' or is one it "
            "depends on, so when it fails no independent wave is left to continue (its dependents are skipped "
            "either way)",
            "no-effect",
            wave.wave_id,
            join_path("waves", index, "onFailure"),
        )
    ]


def _approval_warnings(plan: Plan, wave: Wave, index: int) -> list[Problem]:
    """`approval` with `required: false` is used only as the settings (approvers, timeout) of the gate
    that defaults.requireApprovalInRecovery puts on a root wave of a RECOVERY run."""
    approval = wave.approval
    if approval is None or approval.required:
        return []
    if plan.defaults.require_approval_in_recovery and not wave.depends_on:
        return []
    return [
        Problem(
            "approval has no effect: required is false (its approvers and timeoutSeconds apply only to the gate "
            "defaults.requireApprovalInRecovery puts on a root wave of a RECOVERY run)",
            "no-effect",
            wave.wave_id,
            join_path("waves", index, "approval", "required"),
        )
    ]
