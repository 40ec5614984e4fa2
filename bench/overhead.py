"""Orchestration overhead on the critical path, measured on the local cloud.

A hop is the real time from the moment the ledger records a wave COMPLETED to the StartRecovery call of
the wave it releases: release (atomic decrement), WaveReady, the pre-launch handler, PreLaunchDone, one
Express execution of the wave launch state machine, the launch claim and StartRecovery. The simulated
DRS launches in zero time, so nothing but orchestration is on the path.

    .venv/bin/python bench/overhead.py [--waves 201] [--breakdown]
`--breakdown` also prints the median of each step of a hop.
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
from orchestrator.domain.plan import parse_plan


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


# the steps of a hop, each from the mark before it (medians with --breakdown)
STEPS = {
    "pre_launch_in": "progress handler after COMPLETED (release, WaveReady), delivery to pre-launch",
    "pre_launch_out": "pre-launch handler (preflight, PRE_LAUNCH, PreLaunchDone)",
    "prepare_in": "delivery of PreLaunchDone, StartExecution, the state machine's first task",
    "prepare_out": "prepare task (PRE_LAUNCH -> LAUNCHING, the jobs)",
    "start_job_in": "ResultSelector, Choice and Map states",
    "start_recovery": "start_job task up to StartRecovery (claim, capacity admission)",
}


def _mark_steps(marks: dict[str, dict[str, float]]) -> None:
    """Time stamp the handler steps of each wave (the handler modules' own references are wrapped)."""
    import handlers.launch_wave
    import handlers.pre_launch

    def wrap(module: Any, name: str, mark_in: str, mark_out: str | None, wave_of: Any) -> None:
        original = getattr(module, name)

        def timed(*args: Any) -> Any:
            wave = marks.setdefault(wave_of(*args), {})
            wave.setdefault(mark_in, time.perf_counter())
            try:
                return original(*args)
            finally:
                if mark_out:
                    wave.setdefault(mark_out, time.perf_counter())

        setattr(module, name, timed)

    wrap(handlers.pre_launch, "on_wave_ready", "pre_launch_in", "pre_launch_out", lambda rt, d, e: d.wave_id)
    wrap(handlers.launch_wave, "prepare", "prepare_in", "prepare_out", lambda rt, d, e: d.wave_id)
    wrap(handlers.launch_wave, "start_job", "start_job_in", None, lambda rt, chunk: chunk.wave_id)


def measure(waves: int, *, breakdown: bool = False) -> dict[str, Any]:
    profile = load_profile(None, **{"drs.launchSeconds": {"min": 0, "max": 0}, "drs.startDelaySeconds": 0})
    plan = parse_plan(linear_plan(waves))
    completed_at: dict[str, float] = {}
    launched_at: dict[str, float] = {}
    marks: dict[str, dict[str, float]] = {}
    if breakdown:
        _mark_steps(marks)
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
    steps: dict[str, float] = {}
    if breakdown:
        previous = "completed"
        for i in range(1, waves):
            marks.setdefault(f"w{i:04d}", {})["completed"] = completed_at.get(f"w{i - 1:04d}", 0.0)
            marks[f"w{i:04d}"]["start_recovery"] = launched_at.get(f"w{i:04d}", 0.0)
        for step in STEPS:
            steps[step] = round(
                statistics.median(
                    (m[step] - m[previous]) * 1000
                    for w, m in marks.items()
                    if w != "w0000" and m.get(step) and m.get(previous)
                ),
                1,
            )
            previous = step
    return {
        "status": result.status,
        "waves": waves,
        "hops": len(hops),
        "p50_ms": round(statistics.median(hops), 1),
        "p90_ms": round(percentile(hops, 0.90), 1),
        "p99_ms": round(percentile(hops, 0.99), 1),
        "max_ms": round(max(hops), 1),
        "wall_seconds": round(wall, 1),
        **({"steps_median_ms": steps} if breakdown else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=201, help="waves in the linear plan (hops = waves - 1)")
    parser.add_argument("--breakdown", action="store_true", help="also time each step of a hop (medians)")
    args = parser.parse_args()
    result = measure(args.waves, breakdown=args.breakdown)
    print(json.dumps(result))
    for step, ms in result.get("steps_median_ms", {}).items():
        print(f"  {ms:6.1f} ms  {STEPS[step]}")
    ok = result["status"] == "COMPLETED" and result["p50_ms"] < 50 and result["p99_ms"] < 250
    print(
        f"orchestration overhead per hop over {result['hops']} hops: p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms (target p50 < 50 ms, p99 < 250 ms): {'MET' if ok else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
