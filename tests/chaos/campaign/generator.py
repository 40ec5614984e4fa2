"""A seeded generator of random recovery plans and simulation profiles.

`generate(seed)` always returns the same scenario for the same seed: a plan (the camelCase document a
user would write) and a simulation profile (the document `drs-orch run --sim` reads), both plain dicts,
so a failing seed can be printed, saved and replayed. Everything the model needs to predict the run is
in those two documents; nothing else is drawn at run time except by the local cloud's own seeded
randomness (which launch is slow, which call is throttled, which event is delivered twice).

What it draws:

- a DAG of 1-12 waves in one of seven topologies (chain, fan-out, fan-in, diamond, layered,
  independent, random DAG), 1-8 servers per wave, each CRITICAL, OPTIONAL or unmarked;
- per wave: a successThreshold (sometimes), onFailure STOP/CONTINUE (or the plan default), an approval
  gate, `rollback: TERMINATE`, pre-launch scripts (fencing a pre-existing managed instance by tag or id,
  an upstream wave's instances, or a tag that matches nothing), post-launch scripts and a health check,
  each with WARN/FAIL, retries and a document that succeeds, fails or outlives its timeout;
- per run: servers that fail to launch, DRS throttling (a few seeds at 1.0), quotas as small as one job
  of one server, short launch times, lost DRS or SSM events, duplicated or reordered deliveries, DRS answers
  one small page at a time, crashes right after StartRecovery, and a simulated approver that grants, denies
  or never answers.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

TOPOLOGIES = ("chain", "fan-out", "fan-in", "diamond", "layered", "independent", "random-dag")
FENCE_INSTANCE = "i-0c0ffee0c0ffee001"
FENCE_TAGS = {"Role": "old-primary"}
DEAD_TAGS = {"Role": "renamed-primary"}  # matches no managed instance (issue #11, fault 3)
SCRIPT_STATUSES = ("Success", "Failed", "TimedOut")


@dataclass
class Scenario:
    """One seed's plan and simulation profile (both JSON-able), plus how the DAG was drawn."""

    seed: int
    topology: str
    plan: dict[str, Any]
    profile: dict[str, Any]
    features: list[str] = field(default_factory=list)

    @property
    def wave_ids(self) -> list[str]:
        return [w["waveId"] for w in self.plan["waves"]]


def server_id(wave_index: int, n: int) -> str:
    """A well-formed DRS source server id, unique in the plan: 's-' and 17 alphanumerics."""
    return "s-" + f"c{wave_index:02d}x{n:02d}".rjust(17, "0")


# ---- the DAG -------------------------------------------------------------------------------------


def _edges(rng: random.Random, topology: str, n: int) -> list[list[int]]:
    """For each wave index, the indexes of the waves it depends on (always earlier ones: a DAG)."""
    deps: list[list[int]] = [[] for _ in range(n)]
    if n == 1 or topology == "independent":
        return deps
    if topology == "chain":
        for i in range(1, n):
            deps[i] = [i - 1]
    elif topology == "fan-out":
        for i in range(1, n):
            deps[i] = [0]
    elif topology == "fan-in":
        deps[n - 1] = list(range(n - 1))
    elif topology == "diamond":
        if n == 2:
            deps[1] = [0]
        else:
            for i in range(1, n - 1):
                deps[i] = [0]
            deps[n - 1] = list(range(1, n - 1))
    elif topology == "layered":
        layers: list[list[int]] = []
        index = 0
        while index < n:
            width = min(n - index, rng.randint(1, 4))
            layers.append(list(range(index, index + width)))
            index += width
        for below, layer in itertools.pairwise(layers):
            for i in layer:
                deps[i] = sorted(rng.sample(below, rng.randint(1, len(below))))
    else:  # random DAG: each earlier wave is a dependency with probability p
        p = rng.choice((0.15, 0.3, 0.5))
        for i in range(1, n):
            deps[i] = [j for j in range(i) if rng.random() < p]
    return deps


def _ancestors(deps: list[list[int]], i: int) -> set[int]:
    seen: set[int] = set()
    stack = list(deps[i])
    while stack:
        j = stack.pop()
        if j not in seen:
            seen.add(j)
            stack.extend(deps[j])
    return seen


# ---- scripts -------------------------------------------------------------------------------------


def _document(rng: random.Random, name: str, timeout: int, documents: dict[str, Any], failure_rate: float) -> None:
    """The simulated behaviour of one script's own document: Success, Failed, or running past `timeout`."""
    roll = rng.random()
    if roll < failure_rate * 0.65:
        documents[name] = {"status": "Failed", "durationSeconds": rng.randint(1, timeout - 20)}
    elif roll < failure_rate:
        # outlives the plan's timeoutSeconds: the orchestrator cancels it (TimedOut)
        documents[name] = {"status": "Success", "durationSeconds": timeout + rng.randint(20, 120)}
    else:
        documents[name] = {"status": "Success", "durationSeconds": rng.randint(1, timeout - 20)}


def _script(
    rng: random.Random,
    name: str,
    documents: dict[str, Any],
    failure_rate: float,
    targets: dict[str, Any] | None,
    *,
    on_failure: str | None = None,
) -> dict[str, Any]:
    timeout = rng.choice((30, 45, 60, 90, 120))
    script: dict[str, Any] = {
        "documentName": name,
        "timeoutSeconds": timeout,
        "onFailure": on_failure or rng.choice(("WARN", "FAIL")),
        "retries": rng.choice((0, 0, 0, 1, 2)),
    }
    if targets is not None:
        script["targets"] = targets
    _document(rng, name, timeout, documents, failure_rate)
    return script


def _pre_launch_targets(rng: random.Random, upstream: list[str], features: set[str]) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.05:
        features.add("pre-launch-dead-tag")
        return {"tags": dict(DEAD_TAGS)}
    if roll < 0.3 and upstream:
        features.add("pre-launch-upstream-wave")
        return {"wave": rng.choice(upstream)}
    if roll < 0.4:
        return {"instanceIds": [FENCE_INSTANCE]}
    return {"tags": dict(FENCE_TAGS)}


# ---- the scenario --------------------------------------------------------------------------------


def _quotas(rng: random.Random, features: set[str]) -> dict[str, int] | None:
    if rng.random() < 0.6:
        return None
    per_job = rng.choice((1, 1, 2, 3, 5))
    concurrent = rng.choice((1, 1, 2, 3))
    in_all = max(per_job, rng.choice((1, 2, 4, 6, 10)))
    features.add("small-quotas")
    if concurrent == 1:
        features.add("one-job-at-a-time")
    return {"serversPerJob": per_job, "concurrentJobs": concurrent, "serversInAllJobs": in_all}


def _throttle(rng: random.Random, features: set[str]) -> float:
    roll = rng.random()
    if roll < 0.025:
        features.add("throttle-always")
        return 1.0
    if roll < 0.4:
        features.add("throttle")
        return round(rng.uniform(0.02, 0.25), 3)
    return 0.0


def generate(seed: int) -> Scenario:
    """The scenario of `seed` (deterministic)."""
    rng = random.Random(f"drs-orch-campaign-{seed}")
    features: set[str] = set()
    topology = rng.choice(TOPOLOGIES)
    n = rng.choice((1, 2, 2, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12))  # 1-12, smaller plans more often
    deps = _edges(rng, topology, n)
    wave_ids = [f"w{i + 1:02d}" for i in range(n)]

    launch_failure_rate = 0.0 if rng.random() < 0.5 else rng.choice((0.05, 0.15, 0.3))
    script_failure_rate = rng.choice((0.0, 0.15, 0.3, 0.5))
    documents: dict[str, Any] = {}
    failing_servers: dict[str, Any] = {}
    default_on_failure = rng.choice(("STOP", "CONTINUE"))
    waves: list[dict[str, Any]] = []
    uses_fence = False
    for i, wave_id in enumerate(wave_ids):
        count = rng.choice((1, 1, 1, 2, 2, 3, 3, 4, 5, 8))
        servers: list[Any] = []
        for k in range(count):
            sid = server_id(i + 1, k + 1)
            marking = rng.random()
            if marking < 0.5:
                servers.append(sid)  # unmarked: the short form
            else:
                servers.append({"sourceServerID": sid, "criticality": "CRITICAL" if marking < 0.7 else "OPTIONAL"})
            if rng.random() < launch_failure_rate:
                failing_servers[sid] = {"launch": "FAILED"}
        wave: dict[str, Any] = {"waveId": wave_id, "servers": servers}
        if deps[i]:
            wave["dependsOn"] = [wave_ids[j] for j in deps[i]]
        if rng.random() < 0.3:
            wave["onFailure"] = rng.choice(("STOP", "CONTINUE"))
        if rng.random() < 0.3:
            wave["successThreshold"] = rng.choice((0.25, 0.5, 0.6, 0.75, 0.8, 1.0))
            features.add("threshold")
        if rng.random() < 0.15:
            wave["approval"] = {"required": True, "timeoutSeconds": rng.choice((60, 120, 300))}
            features.add("approval")
        if rng.random() < 0.25:
            wave["rollback"] = "TERMINATE"
            features.add("rollback")
        upstream = [wave_ids[j] for j in sorted(_ancestors(deps, i))]
        pre = [
            _script(
                rng,
                f"cmp-{wave_id}-pre-{k}",
                documents,
                script_failure_rate,
                _pre_launch_targets(rng, upstream, features),
            )
            for k in range(rng.choice((0, 0, 0, 1, 1, 2)))
        ]
        if pre:
            wave["preLaunch"] = pre
            uses_fence = True
            features.add("pre-launch")
        post = []
        for k in range(rng.choice((0, 0, 0, 1, 1, 2))):
            targets = {"wave": rng.choice(upstream)} if upstream and rng.random() < 0.15 else None
            post.append(_script(rng, f"cmp-{wave_id}-post-{k}", documents, script_failure_rate, targets))
        if post:
            wave["postLaunch"] = post
            features.add("post-launch")
        if rng.random() < 0.2:
            wave["healthCheck"] = _script(rng, f"cmp-{wave_id}-health", documents, script_failure_rate, None)
            features.add("health-check")
        waves.append(wave)

    plan = {
        "planId": f"campaign-{seed}",
        "name": f"campaign seed {seed} ({topology})",
        "defaults": {"onFailure": default_on_failure},
        "waves": waves,
    }

    launch_min = rng.choice((5, 10, 20))
    drs: dict[str, Any] = {
        "launchSeconds": {"min": launch_min, "max": launch_min + rng.choice((0, 10, 30, 60))},
        "terminateSeconds": rng.choice((10, 30, 60)),
    }
    throttle = _throttle(rng, features)
    if throttle:
        drs["throttleRate"] = throttle
    quotas = _quotas(rng, features)
    if quotas:
        drs["quotas"] = quotas
    if failing_servers:
        drs["servers"] = failing_servers
        features.add("launch-failures")
    if rng.random() < 0.1:
        drs["launchEvents"] = "drop"
        features.add("drs-events-lost")
    ssm: dict[str, Any] = {"documents": documents} if documents else {}
    if uses_fence:
        ssm["instances"] = {FENCE_INSTANCE: {"tags": dict(FENCE_TAGS)}}
    if documents and rng.random() < 0.1:
        ssm["events"] = "drop"
        features.add("ssm-events-lost")
    faults: dict[str, Any] = {}
    if rng.random() < 0.3:
        faults["duplicateDelivery"] = rng.choice((0.1, 0.25, 0.5))
        features.add("duplicates")
    if rng.random() < 0.2:
        faults["crashAfterStartRecovery"] = rng.choice((0.2, 0.5, 1.0))
        features.add("crash-after-start-recovery")
    if rng.random() < 0.1:  # DRS jobs that end at once: a crashed launch's job is over before any retry
        drs["launchSeconds"] = {"min": 0, "max": 0}
        features.add("zero-launch-time")
    profile: dict[str, Any] = {"seed": seed, "drs": drs, "ssm": ssm, "faults": faults}
    if any("approval" in w for w in waves):
        timeouts = {w["approval"]["timeoutSeconds"] for w in waves if "approval" in w}
        decision = rng.choice(("GRANT", "GRANT", "GRANT", "DENY", "NONE"))
        # never within 15 s of a gate's deadline: an answer racing its own timeout is not modelled
        choices = [s for s in (10, 30, 45, 90, 150, 240, 400) if all(abs(s - t) >= 15 for t in timeouts)]
        profile["approvals"] = {"decision": decision, "afterSeconds": rng.choice(choices)}
    # drawn last, so adding them changed nothing else a seed draws
    if rng.random() < 0.15:  # events held back until a later one was delivered
        profile["faults"]["reorderDelivery"] = rng.choice((0.1, 0.3))
        features.add("reordered")
    if rng.random() < 0.1:  # DRS Describe* answers a page at a time
        drs["pageSize"] = rng.choice((1, 2))
        features.add("small-pages")
    return Scenario(seed=seed, topology=topology, plan=plan, profile=profile, features=sorted(features))
