"""The two-Region example (drs_orch/examples/two-region.yaml with its profile): EC2 in us-east-1 protected by DRS in
us-west-2 of the orchestrator's own account, every wave's target us-west-2 without a role. Its recovery runs on the
us-west-2 simulator with no AssumeRole, and its failback brings every server back to us-east-1 (the home Region:
the home runtime and pool) in dependency order, then reprotects."""

from __future__ import annotations

from pathlib import Path

from events.models import Mode
from localcloud.accounts_config import HOME_ACCOUNT
from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import run_failback, run_plan
from orchestrator.domain.plan import Plan, load_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of

EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"


def test_the_two_region_example_recovers_in_us_west_2_and_fails_back_to_us_east_1() -> None:
    # GIVEN the example's plan (a role-less us-west-2 target) and its simulation profile
    plan = load_plan(EXAMPLES / "two-region.yaml")
    assert plan.target is not None
    assert plan.target.role_less
    cloud = LocalCloud(load_profile(EXAMPLES / "profiles" / "two-region.yaml"))
    cloud.start()
    try:
        _recover_and_fail_back(cloud, plan)
    finally:
        cloud.stop()


def _recover_and_fail_back(cloud: LocalCloud, plan: Plan) -> None:
    # WHEN it is recovered for real, then failed back and reprotected
    recovery = run_plan(cloud, plan, mode=Mode.RECOVERY, confirm=True, timeout=180)
    failback = run_failback(cloud, recovery.execution_id, confirm_plan_id=plan.plan_id, reprotect=True, timeout=180)

    # THEN the recovery launched every server once in us-west-2, none in us-east-1, with no role assumed
    assert recovery.status == "COMPLETED", recovery.report
    west = cloud.drs_for(HOME_ACCOUNT, "us-west-2")
    assert sum(west.stats.launches.values()) == len([s for w in plan.waves for s in w.server_ids]) == 5
    assert set(west.stats.launches.values()) == {1}
    assert (cloud.sts.assumed, cloud.sts.denied) == (0, 0)
    assert all(w["target"] == {"accountId": HOME_ACCOUNT, "region": "us-west-2"} for w in recovery.report["waves"])
    # AND the failback reversed each instance's replication there and launched each reversed server once in us-east-1,
    # the home Region, wave after wave
    assert failback.status == "COMPLETED", (failback.problem, failback.report)
    assert west.stats.calls["ReverseReplication"] >= 5
    assert sum(cloud.drs.stats.launches.values()) == 5
    assert set(cloud.drs.stats.launches.values()) == {1}
    started = events_of(cloud, "DRSJobStarted", failback.execution_id)
    assert [e.wave_id for e in started] == ["database", "application", "web"]
    assert_choreography_invariants(cloud, failback.execution_id)
