"""Scale: wall time of a 1,000-server, 50-wave DAG plan on the local cloud with zero simulated launch time.

The DAG has 5 layers of 10 waves; every wave of a layer depends on two waves of the layer before; each
wave has 20 servers (one DRS job). DRS launches in zero simulated time, so the wall time is the
orchestration itself (every handler, ledger write, event, Express execution and DRS call, on moto). The
run must also stay under the DRS quotas without a single quota error.

    .venv/bin/python bench/scale.py [--layers 5 --width 10 --servers 20] [--drop-launch-events]
                                    [--launch-seconds S] [--stored] [--target-seconds 30]
Target: under 30 s on this machine. `--launch-seconds` gives every DRS launch S simulated seconds (the
simulated clock skips the waiting), so the waves of a layer run their jobs at the same time and the
shared capacity record admits them against the quotas (what does not fit is parked and started later).

Issue #19 item 6 (4,000 servers, the DRS per-account maximum of source servers, in 200 waves, under 60 s):
`--layers 4 --width 50 --servers 20 --stored --target-seconds 60`. `--stored` pushes the plan to the plan store
and starts it by reference, as a plan that large must be: inline, its StartPlan is over EventBridge's 256 KB
entry limit (about 289 KB for 4,000 servers).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan

TARGET_SECONDS = 30.0


def dag_plan(layers: int, width: int, servers: int) -> dict[str, Any]:
    waves = []
    for layer in range(layers):
        for index in range(width):
            wave_id = f"L{layer}W{index:02d}"
            deps = sorted({f"L{layer - 1}W{index:02d}", f"L{layer - 1}W{(index + 1) % width:02d}"}) if layer else []
            base = (layer * width + index) * servers
            waves.append(
                {
                    "waveId": wave_id,
                    "servers": [f"s-{base + n:017d}" for n in range(servers)],
                    **({"dependsOn": deps} if deps else {}),
                }
            )
    return {"planId": "scale", "name": f"{layers * width} waves, {layers * width * servers} servers", "waves": waves}


def measure(
    layers: int, width: int, servers: int, *, drop_events: bool, launch_seconds: float = 0.0, stored: bool = False
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "drs.launchSeconds": {"min": launch_seconds, "max": launch_seconds},
        "drs.startDelaySeconds": 0,
    }
    if drop_events:
        overrides["drs.launchEvents"] = "drop"
    plan = parse_plan(dag_plan(layers, width, servers))
    with LocalCloud(load_profile(None, **overrides)) as cloud:
        began = time.perf_counter()
        result = run_plan(cloud, plan, timeout=600, stored=stored)
        wall = time.perf_counter() - began
        stats = cloud.drs.stats
        return {
            "status": result.status,
            "waves": layers * width,
            "servers": layers * width * servers,
            "wall_seconds": round(wall, 1),
            "launch_events": "dropped" if drop_events else "emitted",
            "start_recovery_calls": stats.calls["StartRecovery"],
            "servers_launched_once": len(stats.launches) == layers * width * servers
            and set(stats.launches.values()) == {1},
            "quota_errors": stats.errors.get("ServiceQuotaExceededException", 0),
            "max_concurrent_jobs": stats.max_concurrent_jobs,
            "max_servers_in_active_jobs": stats.max_servers_in_active_jobs,
            "lambda_invocations": sum(cloud.lambdas.invocations.values()),
            "express_executions": cloud.stats.executions_started,
            # parked launches are started by CapacityTicks: none when every job fits at once
            "capacity_ticks": sum(1 for e in cloud.events if e.detail_type == "CapacityTick"),
            "simulated_seconds": (result.report or {}).get("durationSeconds"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--servers", type=int, default=20, help="servers per wave")
    parser.add_argument(
        "--drop-launch-events",
        action="store_true",
        help="DRS Launch Result events never arrive (the watcher polls on its ticks)",
    )
    parser.add_argument(
        "--launch-seconds",
        type=float,
        default=0.0,
        help="simulated seconds per DRS launch (0: the scale target's zero launch time)",
    )
    parser.add_argument("--stored", action="store_true", help="push the plan and start it by reference (large plans)")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS, help="the wall-time target (s)")
    args = parser.parse_args()
    result = measure(
        args.layers,
        args.width,
        args.servers,
        drop_events=args.drop_launch_events,
        launch_seconds=args.launch_seconds,
        stored=args.stored,
    )
    print(json.dumps(result))
    clean = result["status"] == "COMPLETED" and not result["quota_errors"] and result["servers_launched_once"]
    summary = (
        f"scale: {result['servers']} servers in {result['waves']} waves ({args.layers} layers of "
        f"{args.width}), {{launch}}: {result['wall_seconds']} s wall, {result['status']}, "
        f"{result['quota_errors']} quota errors, at most {result['max_concurrent_jobs']} jobs and "
        f"{result['max_servers_in_active_jobs']} servers in flight, {result['capacity_ticks']} capacity ticks"
    )
    if args.launch_seconds:  # admission under load: the target is about zero launch time
        print(summary.format(launch=f"{args.launch_seconds:g} s simulated launches") + ("" if clean else ": FAILED"))
        return
    ok = clean and result["wall_seconds"] < args.target_seconds
    print(
        summary.format(launch="zero launch time")
        + f" (target < {args.target_seconds:.0f} s): {'MET' if ok else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
