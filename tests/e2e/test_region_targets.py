"""Issue #15 items 1/4/7, end to end on the local cloud: a wave whose target is another Region of the orchestrator's
own account, without a role (cross-Region DR in one account). Its DRS calls reach that Region's simulator on the
functions' own credentials (no AssumeRole), its recovery instances are in that Region's EC2, its aws.drs events reach
the orchestrator's bus with that Region, and its launches count against that Region's quotas."""

from __future__ import annotations

from typing import Any

from localcloud.accounts_config import HOME_ACCOUNT, HOME_REGION
from localcloud.runner import run_plan
from orchestrator.domain.plan import Target, parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, wave

WEST = "us-west-2"
OTHER = "222233334444"


def _west(account: str = HOME_ACCOUNT) -> dict[str, str]:
    """A role-less target: us-west-2 of `account` (the orchestrator's own unless told)."""
    return {"accountId": account, "region": WEST}


def _accounts(west: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The home account's us-west-2, without a role (its DRS as given)."""
    return [{"accountId": HOME_ACCOUNT, "roleName": None, "regions": {WEST: {"drs": west or {}}}}]


def _servers(prefix: str, count: int) -> list[str]:
    return [sid(prefix, n) for n in range(1, count + 1)]


def test_each_wave_launches_in_its_own_region_of_the_own_account_and_the_report_shows_the_target(local_cloud):
    # GIVEN the home account in us-east-1 and, without a role, in us-west-2 (servers declared in both, so each
    # Region keeps its recovery instances in its own moto EC2)
    east, west = _servers("e", 2), _servers("w", 3)
    cloud = local_cloud(
        accounts=_accounts({"servers": {s: {"tags": {"app": "shop"}} for s in west}}),
        **{"drs.servers": {s: {"tags": {"app": "shop"}} for s in east}},
    )
    plan = parse_plan(
        {
            "planId": "cross-region",
            "waves": [wave("east", east), {**wave("west", west, ["east"]), "target": _west()}],
        }
    )

    # WHEN the plan runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN each wave's servers launched once, in its own Region's DRS only, and no role was assumed
    assert result.status == "COMPLETED", result.report
    west_drs = cloud.drs_for(HOME_ACCOUNT, WEST)
    assert dict(cloud.drs.stats.launches) == dict.fromkeys(east, 1)
    assert dict(west_drs.stats.launches) == dict.fromkeys(west, 1)
    assert (cloud.sts.assumed, cloud.sts.denied) == (0, 0)
    # AND the west wave's recovery instances are instances of us-west-2's EC2, not of us-east-1's
    assert cloud.runtime is not None
    there = cloud.runtime.at(Target.model_validate(_west()))  # as the functions read it: us-west-2, own credentials
    recovered = there.drs.describe_recovery_instances(source_server_ids=west)
    assert sorted(r["sourceServerID"] for r in recovered) == west
    instances = [str(r["ec2InstanceID"]) for r in recovered]
    reservations = west_drs.launch.ec2.describe_instances(InstanceIds=instances)["Reservations"]
    zones = {i["Placement"]["AvailabilityZone"] for r in reservations for i in r["Instances"]}
    assert len(zones) >= 1
    assert all(zone.startswith(WEST) for zone in zones), zones
    assert cloud.runtime.drs.describe_recovery_instances(source_server_ids=west) == []
    home_ec2 = cloud.drs.launch.ec2
    assert home_ec2.meta.region_name == HOME_REGION
    home_ids = {i["InstanceId"] for r in home_ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    assert not home_ids & set(instances)
    # AND the us-west-2 DRS events reached the orchestrator's bus with the own account and us-west-2
    drs_events = {(e.account, e.region) for e in cloud.events if e.source == "aws.drs"}
    assert (HOME_ACCOUNT, WEST) in drs_events, drs_events
    assert cloud.stats.handler_errors == 0
    # AND the report names the west wave's target, and none for the east wave
    targets = {w["waveId"]: w.get("target") for w in result.report["waves"]}
    assert targets == {"east": None, "west": {"accountId": HOME_ACCOUNT, "region": WEST}}
    assert_choreography_invariants(cloud, result.execution_id)


def test_quotas_are_counted_per_region_of_the_own_account(local_cloud):
    # GIVEN DRS allowing one job of at most two servers at a time in each Region, and two root waves of two servers,
    # one in us-east-1 and one in us-west-2 (no role), each launch taking 600 simulated seconds
    quotas = {"serversPerJob": 2, "concurrentJobs": 1, "serversInAllJobs": 2}
    cloud = local_cloud(
        accounts=_accounts({"quotas": quotas}),
        **{"drs.quotas": quotas, "drs.launchSeconds": {"min": 600, "max": 600}},
    )
    plan = parse_plan(
        {
            "planId": "per-region",
            "waves": [wave("east", _servers("e", 2)), {**wave("west", _servers("w", 2)), "target": _west()}],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN the two Regions' jobs ran at the same time (counted together, one would have waited 600 s for the other),
    # with no quota refusal in either Region
    assert result.status == "COMPLETED", result.report
    jobs = {w["waveId"]: w["jobs"] for w in result.report["waves"]}
    [east], [west] = jobs["east"], jobs["west"]
    assert east["startedAt"] < west["completedAt"]
    assert west["startedAt"] < east["completedAt"]
    assert not cloud.drs.stats.errors.get("ServiceQuotaExceededException")
    assert not cloud.drs_for(HOME_ACCOUNT, WEST).stats.errors.get("ServiceQuotaExceededException")
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_role_less_target_of_another_account_fails_its_wave_naming_both_accounts(local_cloud):
    # GIVEN a plan whose second wave names another account without a role
    cloud = local_cloud(accounts=_accounts())
    plan = parse_plan(
        {
            "planId": "not-ours",
            "defaults": {"onFailure": "CONTINUE"},
            "waves": [wave("east", _servers("e", 1)), {**wave("west", _servers("w", 1)), "target": _west(OTHER)}],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=120)

    # THEN that wave failed at its preflight naming both accounts, with nothing launched anywhere for it
    assert result.status == "FAILED"
    waves = {w["waveId"]: w for w in result.report["waves"]}
    assert waves["east"]["status"] == "COMPLETED"
    assert waves["west"]["status"] == "FAILED"
    assert (waves["west"]["reason"] or "").startswith(
        f"target account {OTHER} gives no roleArn and is not this orchestrator's account {HOME_ACCOUNT}"
    )
    assert not cloud.drs_for(HOME_ACCOUNT, WEST).stats.launches
    assert dict(cloud.drs.stats.launches) == {sid("e", 1): 1}
    assert [e.wave_id for e in events_of(cloud, "WaveFailed", result.execution_id)] == ["west"]
