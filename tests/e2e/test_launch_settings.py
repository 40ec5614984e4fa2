"""Launch settings on the local cloud (issue #14 item 2): a drill lands in the drill subnet and a recovery in the
recovery subnet with the planned static IP; after the job the previous template version is the default again and
the launch configuration is as before; the report says what was applied and where the instance landed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from events.models import Mode
from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import RunResult, run_plan
from orchestrator.domain.plan import parse_plan
from orchestrator.reporting.report import build_report
from tests.e2e.helpers import sid, wave

VPC = "vpc-0a0000000000000a0"
RECOVERY, DRILL = "subnet-0a0000000000000a1", "subnet-0a0000000000000a2"
SG_RECOVERY, SG_DRILL = "sg-0a0000000000000a1", "sg-0a0000000000000a2"
NETWORK = {
    "vpcs": [
        {
            "vpcId": VPC,
            "cidrBlock": "10.0.0.0/16",
            "subnets": [
                {"subnetId": RECOVERY, "cidrBlock": "10.0.1.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": DRILL, "cidrBlock": "10.0.2.0/24", "availabilityZone": "us-east-1a"},
            ],
            "securityGroups": [
                {"groupId": SG_RECOVERY, "groupName": "recovery"},
                {"groupId": SG_DRILL, "groupName": "drill"},
            ],
        }
    ]
}
DB, APP = sid("ls", 1), sid("ls", 2)
FAST = {"drs.launchSeconds": {"min": 30, "max": 120}}


def settings_plan(plan_id: str = "launch-settings") -> dict[str, Any]:
    """DB with a static IP in both networks, APP with EC2's choice of address; tags for every instance."""
    return {
        "planId": plan_id,
        "defaults": {
            "launchSettings": {
                "subnetId": RECOVERY,
                "securityGroupIds": [SG_RECOVERY],
                "tags": {"drs-orch:test": "launch-settings"},
                "launchDisposition": "STOPPED",
                "drill": {"subnetId": DRILL, "securityGroupIds": [SG_DRILL]},
            }
        },
        "waves": [
            wave(
                "db",
                [
                    {
                        "sourceServerID": DB,
                        "launchSettings": {"privateIp": "10.0.1.20", "drill": {"privateIp": "10.0.2.20"}},
                    },
                    APP,
                ],
            )
        ],
    }


def make_cloud() -> LocalCloud:
    cloud = LocalCloud(load_profile(None, ec2=NETWORK, **FAST))
    cloud.start()
    return cloud


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    made = make_cloud()
    try:
        yield made
    finally:
        made.stop()


def _template_state(cloud: LocalCloud, server_id: str) -> tuple[int, int, dict[str, Any]]:
    """(default version, latest version, GetLaunchConfiguration) of a source server."""
    assert cloud.runtime is not None
    ec2 = cloud.drs.launch.ec2
    configuration = cloud.runtime.drs.get_launch_configuration(server_id)
    template = ec2.describe_launch_templates(LaunchTemplateIds=[configuration["ec2LaunchTemplateID"]])[
        "LaunchTemplates"
    ][0]
    return int(template["DefaultVersionNumber"]), int(template["LatestVersionNumber"]), configuration


def _instance(cloud: LocalCloud, instance_id: str) -> tuple[str, str]:
    [reservation] = cloud.drs.launch.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = reservation["Instances"][0]
    return str(instance["SubnetId"]), str(instance["PrivateIpAddress"])


def run_drill(cloud: LocalCloud, plan: dict[str, Any] | None = None, **start: Any) -> RunResult:
    return run_plan(cloud, parse_plan(plan or settings_plan()), timeout=120, **start)


def test_a_drill_lands_in_the_drill_subnet_with_the_static_ip_and_everything_is_restored_after(
    cloud: LocalCloud,
) -> None:
    # GIVEN two source servers whose templates are at version 1 and whose launch configurations are DRS's defaults
    cloud.drs.ensure_servers([DB, APP])
    before = {server: _template_state(cloud, server) for server in (DB, APP)}
    assert {server: state[:2] for server, state in before.items()} == {DB: (1, 1), APP: (1, 1)}
    # WHEN the plan is drilled
    result = run_drill(cloud)
    # THEN it completes, DB's drill instance is in the drill subnet on its drill IP, APP's in the drill subnet
    assert (result.status, result.problem) == ("COMPLETED", None)
    assert cloud.runtime is not None
    report = build_report(cloud.runtime.ledger, result.execution_id)
    assert report is not None
    servers = {s["sourceServerId"]: s for s in report["waves"][0]["servers"]}
    db_instance = servers[DB]["recoveryInstanceId"]
    assert _instance(cloud, db_instance) == (DRILL, "10.0.2.20")
    assert _instance(cloud, servers[APP]["recoveryInstanceId"])[0] == DRILL
    # AND each template's default is version 1 again, with one version of ours kept, and the launch
    # configuration is as before
    after = {server: _template_state(cloud, server) for server in (DB, APP)}
    assert {server: state[:2] for server, state in after.items()} == {DB: (1, 2), APP: (1, 2)}
    assert {server: state[2] for server, state in after.items()} == {
        server: state[2] for server, state in before.items()
    }
    # AND the report says what was applied, from where, and where the instance landed
    applied = servers[DB]["launchSettings"]
    assert applied["applied"]["subnetId"] == DRILL
    assert applied["applied"]["privateIp"] == "10.0.2.20"
    assert applied["origins"]["privateIp"] == "waves[0].servers[0].launchSettings.drill.privateIp"
    assert applied["templateVersion"] == 2
    assert applied["previousTemplateVersion"] == 1
    assert applied["status"] == "RESTORED"
    assert applied["landed"] == {"recoveryInstanceId": db_instance, "subnetId": DRILL, "privateIp": "10.0.2.20"}


def test_a_recovery_lands_in_the_recovery_subnet_with_the_static_ip(cloud: LocalCloud) -> None:
    # GIVEN the same plan
    cloud.drs.ensure_servers([DB, APP])
    # WHEN it is run as a RECOVERY
    result = run_drill(cloud, mode=Mode.RECOVERY, confirm=True)
    # THEN DB's recovery instance is in the recovery subnet on its static IP, and version 1 is the default again
    assert (result.status, result.problem) == ("COMPLETED", None)
    assert cloud.runtime is not None
    report = build_report(cloud.runtime.ledger, result.execution_id)
    assert report is not None
    servers = {s["sourceServerId"]: s for s in report["waves"][0]["servers"]}
    assert _instance(cloud, servers[DB]["recoveryInstanceId"]) == (RECOVERY, "10.0.1.20")
    assert _template_state(cloud, DB)[:2] == (1, 2)


def test_a_drill_subnet_without_a_static_ip_launches_servers_fixed_on_an_address_of_the_old_subnet() -> None:
    # GIVEN a server whose template is fixed on 10.0.1.77 in the recovery subnet, and one whose DRS launch
    # configuration copies its source IP (10.0.1.88) into the template at launch; a plan that only moves every
    # server to the drill subnet (found by the red-team: both launches failed, "outside the subnet's range")
    fixed, copied = sid("mv", 1), sid("mv", 2)
    profile = load_profile(
        None,
        ec2=NETWORK,
        **FAST,
        **{
            f"drs.servers.{fixed}.launchTemplate": {"subnetId": RECOVERY, "privateIpAddress": "10.0.1.77"},
            f"drs.servers.{copied}.privateIp": "10.0.1.88",
            f"drs.servers.{copied}.launchConfiguration": {"copyPrivateIp": True},
            f"drs.servers.{copied}.launchTemplate": {"subnetId": RECOVERY},
        },
    )
    plan = {
        "planId": "move-subnet",
        "defaults": {"launchSettings": {"drill": {"subnetId": DRILL}}},
        "waves": [wave("a", [fixed, copied])],
    }
    with LocalCloud(profile) as cloud:
        # WHEN it is drilled
        result = run_drill(cloud, plan)
        # THEN both land in the drill subnet on one of its addresses, DRS's copyPrivateIp was off for the launch
        # and is back on after it, and the report says copyPrivateIp false was implied by the subnet
        assert result.status == "COMPLETED", result.report
        assert result.report is not None
        servers = {s["sourceServerId"]: s for s in result.report["waves"][0]["servers"]}
        for server in (fixed, copied):
            subnet, ip = _instance(cloud, servers[server]["recoveryInstanceId"])
            assert (subnet, ip.startswith("10.0.2.")) == (DRILL, True), (server, ip)
            settings = servers[server]["launchSettings"]
            assert settings["applied"] == {"subnetId": DRILL, "copyPrivateIp": False}
            assert settings["origins"]["copyPrivateIp"] == "implied by subnetId without a privateIp"
        assert _template_state(cloud, copied)[2]["copyPrivateIp"] is True
