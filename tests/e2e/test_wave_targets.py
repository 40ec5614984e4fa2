"""Issue #15 item 1, end to end on the local cloud: waves recovered in other accounts and Regions through STS
AssumeRole with the external id (the orchestrator's targets on the local cloud's accounts), with their own quotas."""

from __future__ import annotations

from typing import Any

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, wave

WEST, EU = "222233334444", "555566667777"
EXTERNAL_ID = "drs-orch-7f3a"


def _target(account: str, region: str) -> dict[str, str]:
    return {
        "accountId": account,
        "region": region,
        "roleArn": f"arn:aws:iam::{account}:role/DrsOrchestratorTarget",
        "externalId": EXTERNAL_ID,
    }


def _accounts() -> list[dict[str, Any]]:
    """Two target accounts: 222233334444 in us-west-2 and 555566667777 in eu-west-1."""
    return [
        {"accountId": WEST, "externalId": EXTERNAL_ID, "regions": {"us-west-2": {"drs": {}}}},
        {"accountId": EU, "externalId": EXTERNAL_ID, "regions": {"eu-west-1": {"drs": {}}}},
    ]


def _plan(on_failure: str = "STOP") -> Any:
    """db in the own account, app (3 servers) in 222233334444/us-west-2 after it, report in 555566667777/eu-west-1."""
    return parse_plan(
        {
            "planId": "two-accounts",
            "defaults": {"onFailure": on_failure},
            "waves": [
                wave("db", [sid("d", 1)]),
                {**wave("app", [sid("a", n) for n in range(1, 4)], ["db"]), "target": _target(WEST, "us-west-2")},
                {**wave("report", [sid("r", 1)], ["db"]), "target": _target(EU, "eu-west-1")},
            ],
        }
    )


def test_each_wave_launches_in_its_own_account_and_region(local_cloud):
    # GIVEN a plan whose waves recover in the own account, in 222233334444/us-west-2 and in 555566667777/eu-west-1
    cloud = local_cloud(accounts=_accounts())

    # WHEN it runs
    result = run_plan(cloud, _plan(), timeout=120)

    # THEN every wave's servers launched once, each in its own account and Region, none anywhere else
    assert result.status == "COMPLETED", result.report
    assert dict(cloud.drs.stats.launches) == {sid("d", 1): 1}
    assert dict(cloud.drs_for(WEST, "us-west-2").stats.launches) == {sid("a", n): 1 for n in range(1, 4)}
    assert dict(cloud.drs_for(EU, "eu-west-1").stats.launches) == {sid("r", 1): 1}
    # AND the report names each wave's target (never the external id)
    targets = {w["waveId"]: w.get("target") for w in result.report["waves"]}
    assert targets["app"] == {"accountId": WEST, "region": "us-west-2"}
    assert targets["report"] == {"accountId": EU, "region": "eu-west-1"}
    assert not targets["db"]
    assert EXTERNAL_ID not in str(result.report)
    assert_choreography_invariants(cloud, result.execution_id)


def test_quotas_are_counted_per_account_and_region(local_cloud):
    # GIVEN DRS allowing one job of at most two servers at a time (in every account: the same quotas as DRS's own,
    # scaled down), and two root waves of two servers each, one in the own account and one in 222233334444, each
    # launch taking 600 simulated seconds
    quotas = {"serversPerJob": 2, "concurrentJobs": 1, "serversInAllJobs": 2}
    cloud = local_cloud(
        accounts=[
            {"accountId": WEST, "externalId": EXTERNAL_ID, "regions": {"us-west-2": {"drs": {"quotas": quotas}}}}
        ],
        **{"drs.quotas": quotas, "drs.launchSeconds": {"min": 600, "max": 600}},
    )
    plan = parse_plan(
        {
            "planId": "per-account",
            "waves": [
                wave("home", [sid("h", 1), sid("h", 2)]),
                {**wave("west", [sid("w", 1), sid("w", 2)]), "target": _target(WEST, "us-west-2")},
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN each account's job ran at the same time as the other's (counted together, the second would have waited
    # for the first's 600 s), with no quota refusal anywhere
    assert result.status == "COMPLETED", result.report
    jobs = {w["waveId"]: w["jobs"] for w in result.report["waves"]}
    [home], [west] = jobs["home"], jobs["west"]
    assert home["startedAt"] < west["completedAt"]
    assert west["startedAt"] < home["completedAt"]
    assert not cloud.drs.stats.errors.get("ServiceQuotaExceededException")
    assert not cloud.drs_for(WEST, "us-west-2").stats.errors.get("ServiceQuotaExceededException")
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_refused_assume_role_fails_its_wave_naming_role_and_account_before_anything_launches(local_cloud):
    # GIVEN 555566667777's role refuses every AssumeRole
    cloud = local_cloud(accounts=_accounts(), **{"faults.assumeRoleRefused": [EU]})

    # WHEN the plan runs
    result = run_plan(cloud, _plan(on_failure="CONTINUE"), timeout=120)

    # THEN the report wave failed naming the role and the account, launching nothing there; the others completed
    assert result.status == "FAILED"
    waves = {w["waveId"]: w for w in result.report["waves"]}
    assert waves["report"]["status"] == "FAILED"
    reason = waves["report"]["reason"] or ""
    assert f"arn:aws:iam::{EU}:role/DrsOrchestratorTarget" in reason
    assert EU in reason
    assert waves["app"]["status"] == "COMPLETED"
    assert not cloud.drs_for(EU, "eu-west-1").stats.launches
    assert [e.wave_id for e in events_of(cloud, "WaveFailed", result.execution_id)] == ["report"]


def test_duplicated_and_reordered_deliveries_launch_nothing_twice_in_any_account(local_cloud):
    # GIVEN half of all events delivered twice and a third reordered
    cloud = local_cloud(
        accounts=_accounts(), **{"faults.duplicateDelivery": 0.5, "faults.reorderDelivery": 0.3, "seed": 5}
    )

    # WHEN the plan runs
    result = run_plan(cloud, _plan(), timeout=180)

    # THEN it completed and each server launched exactly once, in its own account only
    assert cloud.stats.duplicated > 0
    assert result.status == "COMPLETED"
    assert dict(cloud.drs.stats.launches) == {sid("d", 1): 1}
    assert dict(cloud.drs_for(WEST, "us-west-2").stats.launches) == {sid("a", n): 1 for n in range(1, 4)}
    assert dict(cloud.drs_for(EU, "eu-west-1").stats.launches) == {sid("r", 1): 1}
    assert_choreography_invariants(cloud, result.execution_id)
