"""Orchestration overhead on the critical path, measured on the local cloud.

A hop is the real time from the moment the ledger records a wave COMPLETED to the StartRecovery call of
the wave it releases: release (atomic decrement), WaveReady, the pre-launch handler, PreLaunchDone, one
Express execution of the wave launch state machine, the launch claim and StartRecovery. The simulated
DRS launches in zero time, so nothing but orchestration is on the path.

    .venv/bin/python bench/overhead.py [--waves 201]
Target (issue 3): p50 < 50 ms, p99 < 250 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import run_plan
from orchestrator.plan import parse_plan


def linear_plan(waves: int) -> dict[str, Any]:
    return {
        "planId": "overhead",
        "name": "overhead benchmark",
        "waves": [
            {"waveId": f"w{i:04d}", "servers": [f"s-{i:017d}"], **({"dependsOn": [f"w{i - 1:04d}"]} if i else {})}
            for i in range(waves)
        ],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def measure(waves: int) -> dict[str, Any]:
    profile = load_profile(None, **{"drs.launchSeconds": {"min": 0, "max": 0}, "drs.startDelaySeconds": 0})
    plan = parse_plan(linear_plan(waves))
    completed_at: dict[str, float] = {}
    launched_at: dict[str, float] = {}
    with LocalCloud(profile) as cloud:
        assert cloud.runtime is not None
        ledger = cloud.runtime.ledger
        finish = ledger.finish_wave

        def timed_finish(execution_id: str, wave_id: str, **kwargs: Any) -> Any:
            outcome = finish(execution_id, wave_id, **kwargs)
            if kwargs.get("to") == "COMPLETED" and outcome.value == "WON":
                completed_at[wave_id] = time.perf_counter()
            return outcome

        ledger.finish_wave = timed_finish  # type: ignore[method-assign]
        start_recovery = cloud.drs._op_StartRecovery

        def timed_start(args: dict[str, Any]) -> Any:
            for server in args.get("sourceServers", []):
                launched_at.setdefault(f"w{int(server['sourceServerID'][2:]):04d}", time.perf_counter())
            return start_recovery(args)

        cloud.drs._op_StartRecovery = timed_start  # type: ignore[method-assign]
        began = time.perf_counter()
        result = run_plan(cloud, plan, timeout=1800)
        wall = time.perf_counter() - began
    hops = [
        (launched_at[f"w{i:04d}"] - completed_at[f"w{i - 1:04d}"]) * 1000
        for i in range(1, waves)
        if f"w{i:04d}" in launched_at and f"w{i - 1:04d}" in completed_at
    ]
    return {
        "status": result.status,
        "waves": waves,
        "hops": len(hops),
        "p50_ms": round(statistics.median(hops), 1),
        "p90_ms": round(percentile(hops, 0.90), 1),
        "p99_ms": round(percentile(hops, 0.99), 1),
        "max_ms": round(max(hops), 1),
        "wall_seconds": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=201, help="waves in the linear plan (hops = waves - 1)")
    args = parser.parse_args()
    result = measure(args.waves)
    print(json.dumps(result))
    ok = result["status"] == "COMPLETED" and result["p50_ms"] < 50 and result["p99_ms"] < 250
    print(f"orchestration overhead per hop over {result['hops']} hops: p50 {result['p50_ms']} ms, "
          f"p99 {result['p99_ms']} ms (target p50 < 50 ms, p99 < 250 ms): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
