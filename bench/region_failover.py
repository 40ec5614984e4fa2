"""A region-wide failover: many application plans recovered at once under the DRS quotas (issue #19 item 5).

When a region is lost, every application team's plan runs at the same time. This benchmark generates such an estate
from a seed, starts every plan together on the local cloud and measures how long the whole recovery takes in
simulated time (the makespan: from the first StartPlan to the last plan's end), against the lower bound the DRS
quotas and the plans' own dependencies allow.

    .venv/bin/python bench/region_failover.py [--apps 100] [--seed 19] [--tiers 2-4] [--servers 1-10]
                                              [--launch-minutes 10-20]
    .venv/bin/python bench/region_failover.py --wide      # the issue's 100 independent waves of 5 servers, 600 s each

The estate: `--apps` plans, each a chain of 2 to 4 tiers (a tier depends on the one before: database, application,
web), each tier a wave of 1 to 10 servers, each server's launch taking a whole number of seconds drawn from 10 to 20
minutes (fixed per server in the DRS simulator's profile, `drs.servers.<id>.launchSeconds`, so the bound below and
the run see the same durations). No scripts: the launches are what is measured.

The lower bound, `max(critical path, capacity)`:
- critical path: a wave cannot end before its slowest server has launched, and cannot start before the waves it
  depends on have ended, so a plan takes at least the longest path through its DAG weighted by each wave's slowest
  launch; the estate takes at least the longest such path of any plan;
- capacity: DRS allows at most 500 servers in all active jobs of an account (and 20 jobs of at most 100 servers,
  i.e. 2,000 servers, so the 500 binds first), so the launches' total duration in server-seconds, spread over 500
  slots at best, takes at least `sum(launch seconds) / 500`.
It ignores everything else (a job holds all its servers until its slowest one is done, the orchestration's own
seconds, DRS's start delay, which the profile sets to 0 here): no schedule can beat it, and the ratio makespan /
bound says how far the orchestrator is from what DRS permits. Issue #19's target: within 1.15 x the bound.

Each scenario runs twice on the same estate: with launch packing (orchestrator/steps/packer.py, the default: chunks
ready together share DRS jobs) and with it off (the profile's `packing.enabled: false`: every chunk is a DRS job of
its own, the behaviour before issue #19), and prints both ratios. `--packing on|off` runs one of them.
Sources of the quotas: https://docs.aws.amazon.com/drs/latest/userguide/drs-quotas.html (servers in all jobs 500,
concurrent jobs 20, servers per job 100).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan

SERVERS_IN_ALL_JOBS = 500  # DRS quota: servers in all active jobs of an account
TARGET_RATIO = 1.15


@dataclass(frozen=True)
class Estate:
    """The generated plans (plan documents) and each server's launch time in simulated seconds."""

    plans: list[dict[str, Any]]
    launch_seconds: dict[str, int]


def _span(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def generate(
    apps: int, seed: int, tiers: tuple[int, int], servers: tuple[int, int], minutes: tuple[int, int]
) -> Estate:
    """`apps` chains of tiers, server ids unique across the estate, launch times drawn with `seed`."""
    rng = random.Random(seed)
    plans: list[dict[str, Any]] = []
    launch: dict[str, int] = {}
    counter = 0
    for app in range(apps):
        waves = []
        for tier in range(rng.randint(*tiers)):
            members = []
            for _ in range(rng.randint(*servers)):
                server = f"s-{counter:017x}"
                counter += 1
                launch[server] = rng.randint(minutes[0] * 60, minutes[1] * 60)
                members.append(server)
            waves.append(
                {"waveId": f"tier{tier}", "servers": members, **({"dependsOn": [f"tier{tier - 1}"]} if tier else {})}
            )
        plans.append({"planId": f"app-{app:03d}", "waves": waves})
    return Estate(plans, launch)


def wide(waves: int = 100, servers: int = 5, seconds: int = 600) -> Estate:
    """The issue's measured case: one plan of `waves` independent waves of `servers` servers, `seconds` each."""
    launch: dict[str, int] = {}
    members = []
    for index in range(waves):
        ids = [f"s-{index * servers + n:017x}" for n in range(servers)]
        launch.update(dict.fromkeys(ids, seconds))
        members.append({"waveId": f"w{index:03d}", "servers": ids})
    return Estate([{"planId": "wide", "waves": members}], launch)


def critical_path(plan: dict[str, Any], launch: dict[str, int]) -> int:
    """The longest dependency path of `plan`, each wave weighted by its slowest server's launch (seconds)."""
    weight = {w["waveId"]: max((launch[s] for s in w["servers"]), default=0) for w in plan["waves"]}
    finish: dict[str, int] = {}
    for wave in plan["waves"]:  # generated in dependency order
        finish[wave["waveId"]] = weight[wave["waveId"]] + max((finish[d] for d in wave.get("dependsOn", [])), default=0)
    return max(finish.values(), default=0)


def lower_bound(estate: Estate) -> dict[str, float]:
    paths = max(critical_path(plan, estate.launch_seconds) for plan in estate.plans)
    capacity = sum(estate.launch_seconds.values()) / SERVERS_IN_ALL_JOBS
    return {
        "critical_path_seconds": paths,
        "capacity_seconds": round(capacity, 1),
        "bound_seconds": max(paths, capacity),
    }


def _makespan(reports: Sequence[dict[str, Any] | None]) -> float:
    started = [datetime.fromisoformat(r["startedAt"]) for r in reports if r and r.get("startedAt")]
    ended = [datetime.fromisoformat(r["endedAt"]) for r in reports if r and r.get("endedAt")]
    return (max(ended) - min(started)).total_seconds()


def measure(estate: Estate, *, packing: bool = True) -> dict[str, Any]:
    """Run every plan of `estate` at once on a fresh local cloud, launch packing on or off; the measured figures."""
    overrides: dict[str, Any] = {
        "packing.enabled": packing,
        "drs.startDelaySeconds": 0,
        "drs.servers": {server: {"launchSeconds": seconds} for server, seconds in estate.launch_seconds.items()},
    }
    plans = [parse_plan(document) for document in estate.plans]
    with LocalCloud(load_profile(None, **overrides)) as cloud:
        began = time.perf_counter()
        executions = [start(cloud, plan) for plan in plans]
        results = [wait(cloud, execution_id, timeout=3600) for execution_id in executions]
        wall = time.perf_counter() - began
        stats = cloud.drs.stats
        servers = len(estate.launch_seconds)
        return {
            "plans": len(plans),
            "waves": sum(len(p["waves"]) for p in estate.plans),
            "servers": servers,
            "completed": sum(1 for r in results if r.status == "COMPLETED"),
            "makespan_seconds": _makespan([r.report for r in results]),
            **lower_bound(estate),
            "packing": "on" if packing else "off",
            "start_recovery_calls": stats.calls["StartRecovery"],
            "peak_jobs": stats.max_concurrent_jobs,
            "peak_servers_in_jobs": stats.max_servers_in_active_jobs,
            "quota_errors": stats.errors.get("ServiceQuotaExceededException", 0),
            "servers_launched_once": len(stats.launches) == servers and set(stats.launches.values()) == {1},
            "wall_seconds": round(wall, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--tiers", default="2-4", help="tiers per application (a range)")
    parser.add_argument("--servers", default="1-10", help="servers per tier (a range)")
    parser.add_argument("--launch-minutes", default="10-20", help="each server's launch time in minutes (a range)")
    parser.add_argument("--wide", action="store_true", help="the issue's 100 independent waves of 5 servers, 600 s")
    parser.add_argument("--packing", choices=("both", "on", "off"), default="both", help="launch packing (both: each)")
    args = parser.parse_args()
    if args.wide:
        estate, name = wide(), "100 independent waves of 5 servers, 600 s launches"
    else:
        estate = generate(args.apps, args.seed, _span(args.tiers), _span(args.servers), _span(args.launch_minutes))
        name = f"{args.apps} applications (seed {args.seed})"
    modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.packing]
    failed = False
    for packing in modes:
        result = measure(estate, packing=packing)
        ratio = result["makespan_seconds"] / result["bound_seconds"]
        result["ratio"] = round(ratio, 2)
        print(json.dumps(result))
        clean = (
            result["completed"] == result["plans"] and not result["quota_errors"] and result["servers_launched_once"]
        )
        verdict = "" if clean else ": FAILED (a plan did not complete, a quota error, or a server launched twice)"
        if packing:
            verdict += f"; target {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'MISSED'}"
        failed = failed or not clean
        print(
            f"region failover, {name}, packing {result['packing']}: {result['servers']} servers in "
            f"{result['waves']} waves; makespan {result['makespan_seconds']:.0f} s simulated, lower bound "
            f"{result['bound_seconds']:.0f} s (critical path {result['critical_path_seconds']} s, capacity "
            f"{result['capacity_seconds']} s): ratio {ratio:.2f}; peak {result['peak_jobs']} jobs, "
            f"{result['peak_servers_in_jobs']} servers in jobs; {result['start_recovery_calls']} StartRecovery "
            f"calls; {result['wall_seconds']} s wall" + verdict
        )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
