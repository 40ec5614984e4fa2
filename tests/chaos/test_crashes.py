"""Chaos: a launch Lambda that dies half-way. A DRS launch is claimed in the ledger and tagged with a launch
key before StartRecovery, so a retry must find the job the crashed attempt started instead of starting a
second one, or declaring servers failed that are in fact launching.

(`faults.crashAfterStartRecovery` of the simulation profile is not wired into the local cloud yet, so the
test injects the crash itself, around the runtime's DRS adapter.)
"""

from __future__ import annotations

import pytest

from localcloud.cloud import CrashInjected, LocalCloud
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, sid, wave


def _crash_after_first_start_recovery(cloud: LocalCloud) -> list[str]:
    """The first StartRecovery succeeds at DRS, then the function dies before recording it."""
    assert cloud.runtime is not None
    drs = cloud.runtime.drs
    start_recovery = drs.start_recovery
    crashed: list[str] = []

    def crashing(*args, **kwargs):
        job = start_recovery(*args, **kwargs)
        if not crashed:
            crashed.append(job["jobID"])
            cloud.stats.crashes_injected += 1
            raise CrashInjected("the function died right after StartRecovery")
        return job

    drs.start_recovery = crashing  # type: ignore[method-assign]
    return crashed


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "unpacked"])
def test_a_crash_right_after_start_recovery_recovers_the_started_job(local_cloud, packing):
    # GIVEN a plan whose first DRS launch call succeeds but whose function then dies (packed: the packer's
    # CapacityTick, redelivered by the platform; unpacked: the state machine's task, retried by the machine)
    cloud = local_cloud(**{"packing.enabled": packing})
    crashed = _crash_after_first_start_recovery(cloud)
    plan = parse_plan(
        {"planId": "crash", "waves": [wave("w1", [sid("a", 1), sid("a", 2)]), wave("w2", [sid("b", 1)], ["w1"])]}
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the retry finds the job the crashed attempt started: same job, every server launched once
    assert crashed
    assert result.status == "COMPLETED"
    assert result.report is not None
    w1 = result.report["waves"][0]
    assert [job["jobId"] for job in w1["jobs"]] == crashed
    assert {s["launchStatus"] for s in w1["servers"]} == {"LAUNCHED"}
    assert_choreography_invariants(cloud, result.execution_id, handler_errors=1 if packing else 0)
