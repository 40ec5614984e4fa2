"""The packing policy (orchestrator/domain/packing.py) against issue #19's benchmark estates, in a small
discrete-time model of DRS: can the policy itself reach the target (makespan within 1.15 x the lower bound)?

This is a model, not the orchestrator: no ledger, events or Step Functions, a wave is ready the moment the waves
it depends on are done and is one chunk; the packer looks every TICK seconds; a job holds all its servers (the
"servers in all active jobs" quota) until its slowest server has launched, while each wave is done when its own
servers are (issue #19 item 2). bench/region_failover.py measures the orchestrator on the local cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from bench.region_failover import Estate, generate, lower_bound, wide
from orchestrator.domain.packing import Pool, ReadyChunk, Room, pack
from orchestrator.domain.plan import parse_plan, remaining_paths

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TICK = timedelta(seconds=5)
WINDOW = timedelta(seconds=10)
STARVATION = timedelta(minutes=30)
POOL = Pool("111111111111", "eu-west-1", is_drill=False)
JOBS, SERVERS, PER_JOB = 20, 500, 100  # the DRS quotas


@dataclass
class _Run:
    makespan: float
    peak_jobs: int
    peak_servers: int
    jobs: int


def _chunks_of(estate: Estate) -> tuple[dict[str, set[str]], dict[str, ReadyChunk]]:
    """Each wave's dependencies and its chunk (ready time set when it becomes ready), by `plan/wave` key."""
    deps: dict[str, set[str]] = {}
    chunks: dict[str, ReadyChunk] = {}
    for document in estate.plans:
        plan = parse_plan(document)
        slowest = {w.wave_id: float(max(estate.launch_seconds[s] for s in w.server_ids)) for w in plan.waves}
        paths = remaining_paths(plan, slowest)
        for wave in plan.waves:
            key = f"{plan.plan_id}/{wave.wave_id}"
            deps[key] = {f"{plan.plan_id}/{d}" for d in wave.depends_on}
            chunks[key] = ReadyChunk(
                launch_key=key,
                execution_id=plan.plan_id,
                wave_id=wave.wave_id,
                pool=POOL,
                server_ids=tuple(wave.server_ids),
                ready_at=T0,
                sequence=len(chunks),
                remaining_path=paths[wave.wave_id],
            )
    return deps, chunks


def _run(estate: Estate) -> _Run:
    deps, chunks = _chunks_of(estate)
    done: dict[str, datetime] = {}  # wave key -> when its own servers are all launched
    queued: set[str] = set()
    ready: list[ReadyChunk] = []
    in_flight: list[tuple[datetime, int]] = []  # (job ends at, servers)
    run = _Run(0.0, 0, 0, 0)
    now = T0
    while len(done) < len(chunks):
        for key, chunk in chunks.items():
            if key not in queued and all(d in done and done[d] <= now for d in deps[key]):
                ready.append(replace(chunk, ready_at=now))
                queued.add(key)
        in_flight = [(end, size) for end, size in in_flight if end > now]
        used = sum(size for _, size in in_flight)
        packing = pack(
            ready, Room(JOBS - len(in_flight), SERVERS - used, PER_JOB), now, window=WINDOW, starvation=STARVATION
        )
        for job in packing.jobs:
            for chunk in job.chunks:
                own = max(estate.launch_seconds[s] for s in chunk.server_ids)
                done[chunk.launch_key] = now + timedelta(seconds=own)
            slowest = max(estate.launch_seconds[s] for s in job.server_ids)
            in_flight.append((now + timedelta(seconds=slowest), len(job.server_ids)))
            run.jobs += 1
        run.peak_jobs = max(run.peak_jobs, len(in_flight))
        run.peak_servers = max(run.peak_servers, sum(size for _, size in in_flight))
        ready = list(packing.waiting)
        now += TICK
        assert now < T0 + timedelta(days=1), "the model did not finish"
    run.makespan = (max(done.values()) - T0).total_seconds()
    return run


@pytest.mark.parametrize(
    "estate",
    [
        pytest.param(wide(), id="100-waves-of-5"),
        pytest.param(generate(100, 19, (2, 4), (1, 10), (10, 20)), id="100-applications-seed-19"),
    ],
)
def test_the_policy_meets_the_target_on_the_benchmark_estates(estate: Estate) -> None:
    # GIVEN a benchmark estate and its lower bound
    bound = lower_bound(estate)["bound_seconds"]

    # WHEN the packing policy schedules it in the model
    run = _run(estate)

    # THEN the quotas hold and the makespan is within issue #19's 1.15 x the bound
    assert run.peak_jobs <= JOBS
    assert run.peak_servers <= SERVERS
    assert run.makespan / bound <= 1.15, f"makespan {run.makespan} s, bound {bound} s, {run.jobs} jobs"
