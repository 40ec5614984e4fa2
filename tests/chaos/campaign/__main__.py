"""`python -m tests.chaos.campaign`: run the randomized, model-checked campaign.

    python -m tests.chaos.campaign --seeds 1000 --start 0 --workers 2   # what `make chaos` runs
    python -m tests.chaos.campaign --seed 1234 -v                       # one seed, everything printed

Prints a count per invariant and every failing seed with the command that reproduces it; exits 1 when
any invariant is violated (or the campaign itself failed on a seed), 0 otherwise.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

import yaml

REPRO = ".venv/bin/python -m tests.chaos.campaign --seed {seed} -v"


def _warm_up() -> None:
    """Start and stop one local cloud here, so every forked worker inherits what its first start imports
    (moto's state machine parser alone takes seconds) instead of paying it per seed."""
    from localcloud.cloud import LocalCloud
    from tests.chaos.campaign import run  # noqa: F401

    cloud = LocalCloud()
    cloud.start()
    cloud.stop()
    # what the workers inherit stays out of their garbage collector's passes (and its pages unshared)
    gc.collect()
    gc.freeze()


def _one(seed: int) -> Any:
    from tests.chaos.campaign.run import run_seed

    return run_seed(seed)[0]


def _verbose(seed: int) -> int:
    from tests.chaos.campaign import known
    from tests.chaos.campaign.model import PENDING_RULES
    from tests.chaos.campaign.run import run_seed

    result, scenario, fc, obs = run_seed(seed)
    print(
        f"# seed {seed}: {scenario.topology}, {len(scenario.plan['waves'])} waves; features: "
        f"{', '.join(scenario.features) or 'none'}"
    )
    print("\n## plan\n" + yaml.safe_dump(scenario.plan, sort_keys=False, width=120))
    print("## simulation profile\n" + yaml.safe_dump(scenario.profile, sort_keys=False, width=120))
    print("## model")
    for wave_id in fc.order:
        f = fc.waves[wave_id]
        extra = f" ({f.stage}: {f.reason})" if f.reason else ""
        launch = f"; launches {f.launched}, fail {f.launch_failed}" if f.launches else "; launches nothing"
        print(
            f"  {wave_id}: if it runs {f.status}{extra}{launch}{'; rollback' if f.rollback else ''}; "
            f"may end {'/'.join(sorted(fc.possible[wave_id]))}" + (f"; {'; '.join(f.notes)}" if f.notes else "")
        )
    print(f"  plan: {'/'.join(sorted(fc.plan_statuses))}; simulated bound {fc.sim_bound_seconds:.0f} s")
    print("\n## run")
    if obs is None:
        print(f"  campaign error: {result.error}")
        return 1
    phases = ", ".join(f"{k} {v:.2f}" for k, v in obs.phases.items())
    print(
        f"  status {obs.status}, exit code {obs.exit_code}, {obs.sim_seconds:.0f} s simulated, "
        f"{obs.real_seconds:.2f} s real ({phases})" + (f"; not ended: {obs.end_error}" if obs.end_error else "")
    )
    for wave_id in fc.order:
        item = obs.waves.get(wave_id, {})
        jobs = [
            f"{j.job_id}[{','.join(p.source_server_id[-5:] + ':' + p.outcome[0] for p in j.participants)}]"
            for j in obs.jobs_of(wave_id)
        ]
        print(
            f"  {wave_id}: {item.get('status')}"
            + (f" ({item.get('reason')})" if item.get("reason") else "")
            + (f"; jobs {' '.join(jobs)}" if jobs else "")
        )
    terminate = [f"{j.job_id}[{len(j.participants)}]" for j in obs.jobs if j.kind == "TERMINATE"]
    if terminate:
        print(f"  terminate jobs: {' '.join(terminate)}")
    if obs.unfinished_schedules:
        print(f"  schedules still pending after the run: {obs.unfinished_schedules}")
    print(
        f"  DRS calls {sum(obs.drs_calls.values())}, errors {obs.drs_errors}, crashes injected {obs.crashes}, "
        f"handler errors {obs.handler_errors}, dead letters {obs.dead_letters or 0}"
    )
    print(f"  exercised: {', '.join(obs.exercised())}")
    print("\n## violations")
    for violation in result.violations:
        print(f"  {violation}")
    for violation, rule in result.pending:
        print(f"  {violation}   <- old rule: {' + '.join(PENDING_RULES[r] for r in rule.split('+'))}")
    for violation, cause in result.known:
        print(f"  {violation}   <- known: {known.describe(cause)}")
    if result.clean:
        print("  none")
    return 0 if result.clean else 1


def _campaign(start: int, count: int, workers: int, out: str | None, budget: float | None = None) -> int:
    from tests.chaos.campaign import known
    from tests.chaos.campaign.model import PENDING_RULES
    from tests.chaos.campaign.oracle import INVARIANTS

    _warm_up()
    seeds = list(range(start, start + count))
    began = time.perf_counter()
    results: list[Any] = []
    # one fresh fork per seed: every run starts from the same warm, small heap (no garbage from earlier
    # runs for the local cloud's full garbage collection to walk, no memory growth)
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, maxtasksperchild=1) as pool:
        pending: list[Any] = []
        queue = list(seeds)
        while queue or pending:
            over = budget is not None and time.perf_counter() - began > budget
            while queue and len(pending) < 2 * workers and not over:
                pending.append(pool.apply_async(_one, (queue.pop(0),)))
            if over:
                queue.clear()
            finished = [p for p in pending if p.ready()]
            if not finished:
                time.sleep(0.2)
                continue
            for handle in finished:
                pending.remove(handle)
                result = handle.get()
                results.append(result)
                if not result.clean:
                    print(
                        f"seed {result.seed}: {len(result.all_violations)} violation(s)"
                        + (" (campaign error)" if result.error else ""),
                        flush=True,
                    )
                if len(results) % 50 == 0:
                    print(f"... {len(results)} seeds, {time.perf_counter() - began:.0f} s", flush=True)
    count = len(results)
    start = min((r.seed for r in results), default=start)
    wall = time.perf_counter() - began
    results.sort(key=lambda r: r.seed)
    unexplained, pending, known_ = Counter[str](), Counter[str](), Counter[str]()
    for r in results:
        for inv in {v.invariant for v in r.violations}:
            unexplained[inv] += 1
        for inv in {v.invariant for v, _ in r.pending}:
            pending[inv] += 1
        for inv in {v.invariant for v, _ in r.known}:
            known_[inv] += 1
    last = max((r.seed for r in results), default=start)
    print(f"\n{count} seeds ({start}..{last}) in {wall:.0f} s wall on {workers} worker(s)")
    per_seed = [r.real_seconds for r in results]
    print(
        f"real seconds per seed: mean {statistics.mean(per_seed):.2f}, p50 {statistics.median(per_seed):.2f}, "
        f"p90 {statistics.quantiles(per_seed, n=10)[-1] if len(per_seed) > 1 else per_seed[0]:.2f}, "
        f"max {max(per_seed):.2f}"
    )
    for phase in ("start", "run", "settle"):
        values = [r.phases.get(phase, 0.0) for r in results]
        print(f"  {phase}: mean {statistics.mean(values):.2f} s")
    print(f"plans: {dict(Counter(r.status for r in results))}")
    print("\nseeds violating each invariant (unexplained / old rule / known cause):")
    for inv in INVARIANTS:
        print(f"  {inv:20} {unexplained[inv]:5} {pending[inv]:5} {known_[inv]:5}")
    errors = [r for r in results if r.error]
    failing = [r for r in results if r.violations]
    by_rule: dict[str, list[int]] = {}
    for r in results:
        for rule in sorted({rule for _, rule in r.pending}):
            by_rule.setdefault(rule, []).append(r.seed)
    by_cause: dict[str, list[int]] = {}
    for r in results:
        for cause in sorted({c for _, c in r.known}):
            by_cause.setdefault(cause, []).append(r.seed)
    if failing:
        print(f"\nUNEXPLAINED violations ({len(failing)} seeds):")
        for r in failing:
            print(f"  seed {r.seed}: {REPRO.format(seed=r.seed)}")
            for v in r.violations:
                print(f"      {v}")
    for cause, seeds_ in sorted(by_cause.items()):
        print(f"\nknown cause {cause}: {known.describe(cause)}\n  {len(seeds_)} seeds: {seeds_}")
    for rule, seeds_ in sorted(by_rule.items()):
        what = " + ".join(PENDING_RULES[r] for r in rule.split("+"))
        print(f"\nold rule ({what})\n  {len(seeds_)} seeds: {seeds_}")
    for r in errors:
        print(f"\ncampaign error on seed {r.seed}: {REPRO.format(seed=r.seed)}\n{r.error}")
    if out:
        with open(out, "w") as handle:
            json.dump(
                [
                    {
                        "seed": r.seed,
                        "topology": r.topology,
                        "features": r.features,
                        "status": r.status,
                        "realSeconds": r.real_seconds,
                        "simSeconds": r.sim_seconds,
                        "error": r.error,
                        "exercised": r.exercised,
                        "phases": r.phases,
                        "violations": [str(v) for v in r.violations],
                        "oldRule": [[str(v), rule] for v, rule in r.pending],
                        "known": [[str(v), cause] for v, cause in r.known],
                    }
                    for r in results
                ],
                handle,
                indent=1,
            )
    bad = sum(1 for r in results if not r.clean)
    print(f"\n{bad} of {count} seeds violate an invariant" if bad else f"\nall {count} seeds keep every invariant")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    # the product's own ERROR logs (a launch failed, as the profile asked) would drown the summary
    os.environ.setdefault("DRS_ORCH_LOG_LEVEL", "CRITICAL")
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.campaign", description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, help="run this one seed")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --seed: print plan, profile, model, run")
    parser.add_argument("--seeds", type=int, default=int(os.environ.get("SEEDS", "1000")), help="how many seeds")
    parser.add_argument("--start", type=int, default=int(os.environ.get("START", "0")), help="first seed")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")), help="processes")
    parser.add_argument("--json", help="write every seed's result to this file")
    parser.add_argument("--budget", type=float, help="start no new seed after this many seconds of wall time")
    args = parser.parse_args(argv)
    if args.seed is not None:
        if args.verbose:
            return _verbose(args.seed)
        return _campaign(args.seed, 1, 1, args.json)
    return _campaign(args.start, args.seeds, max(1, args.workers), args.json, args.budget)


if __name__ == "__main__":
    sys.exit(main())
