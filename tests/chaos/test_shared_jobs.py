"""Chaos: concurrent executions whose launches share packed DRS jobs (issue #19), under duplicated and reordered
deliveries and launch packers that die right after StartRecovery. Whatever the seed: every plan completes, every
server is launched exactly once, in dependency order, in a job whose other servers belong to waves of the same mode,
each wave is judged from its own servers, and the shared capacity ends empty."""

from __future__ import annotations

import random
from typing import Any

import pytest

from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, ledger_waves

SEEDS = [11, 12, 13, 14, 15, 16]


def _estate(rng: random.Random) -> list[dict[str, Any]]:
    """3 to 5 applications, each a chain of 1 to 3 tiers of 1 to 4 servers (ids unique across the estate)."""
    plans = []
    counter = 0
    for app in range(rng.randint(3, 5)):
        waves = []
        for tier in range(rng.randint(1, 3)):
            servers = []
            for _ in range(rng.randint(1, 4)):
                counter += 1
                servers.append(f"s-{counter:017x}")
            waves.append(
                {"waveId": f"t{tier}", "servers": servers, **({"dependsOn": [f"t{tier - 1}"]} if tier else {})}
            )
        plans.append({"planId": f"app-{app}", "priority": rng.randint(0, 3), "waves": waves})
    return plans


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_executions_sharing_jobs_launch_every_server_once_in_order(local_cloud, seed: int) -> None:
    # GIVEN a seeded estate of small plans started together, deliveries duplicated and reordered, and a third of the
    # packer's StartRecovery calls dying right after DRS accepted the job
    rng = random.Random(seed)
    documents = _estate(rng)
    cloud = local_cloud(
        **{
            "seed": seed,
            "faults.duplicateDelivery": 0.3,
            "faults.reorderDelivery": 0.2,
            "faults.crashAfterStartRecovery": 0.34,
        }
    )
    # WHEN every plan runs at once
    executions = [start(cloud, parse_plan(document)) for document in documents]
    results = [wait(cloud, execution_id, timeout=180) for execution_id in executions]
    # THEN every plan completed, and every server launched once (the invariants of any run, per execution)
    assert cloud.stats.duplicated > 0
    assert [r.status for r in results] == ["COMPLETED"] * len(results)
    servers = {s for document in documents for w in document["waves"] for s in w["servers"]}
    assert dict(cloud.drs.stats.launches) == dict.fromkeys(servers, 1)
    for execution_id in executions:
        # (each injected death is one failed CapacityTick delivery, retried: the next packer finds the job by its tag)
        assert_choreography_invariants(cloud, execution_id, handler_errors=cloud.stats.crashes_injected)
    # AND launches were packed: fewer DRS jobs than waves, and some job held servers of several executions
    jobs: dict[str, set[str]] = {}
    for execution_id in executions:
        for wave_id, item in ledger_waves(cloud, execution_id).items():
            for job_id in item["jobs"]:
                jobs.setdefault(job_id, set()).add(f"{execution_id}/{wave_id}")
    waves = sum(len(document["waves"]) for document in documents)
    assert len(jobs) < waves
    assert any(len({owner.split("/")[0] for owner in owners}) > 1 for owners in jobs.values())
    # AND each wave's report names the waves it shared each job with
    for result in results:
        assert result.report is not None
        for wave in result.report["waves"]:
            for job in wave["jobs"]:
                others = jobs[job["jobId"]] - {f"{result.execution_id}/{wave['waveId']}"}
                assert set(job.get("sharedWith", ())) == others
    # AND each job's servers are exactly its waves' servers (a server in one job, a job's servers all owned)
    drs = cloud.session.client("drs")
    for job in drs.describe_jobs(filters={})["items"]:
        if job["type"] != "LAUNCH":
            continue
        owned = {
            s
            for owner in jobs[job["jobID"]]
            for s in next(
                w["servers"]
                for d, e in zip(documents, executions, strict=True)
                if e == owner.split("/")[0]
                for w in d["waves"]
                if w["waveId"] == owner.split("/")[1]
            )
        }
        assert {p["sourceServerID"] for p in job["participatingServers"]} == owned
    # AND the shared capacity is back to nothing in flight, nothing queued, no packed job left half-started
    assert cloud.runtime is not None
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers, capacity.queued or 0) == (0, 0, 0)
    assert cloud.runtime.ledger.packings() == []
