"""End to end: launch settings the account's network cannot serve fail the wave before any launch, naming each
server and value (the wave preflight against moto's EC2 holding the profile's recovery network); a server's own
earlier recovery instance does not hold its static IP against its next drill."""

from __future__ import annotations

from typing import Any

import boto3

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import events_of, sid, start_recovery_calls, wave

VPC, OTHER_VPC = "vpc-0a0000000000000a1", "vpc-0b0000000000000b1"
DB = "subnet-0a0000000000000a1"  # 10.0.3.0/24 in us-east-1a
SG_DB, SG_FOREIGN = "sg-0a0000000000000a1", "sg-0b0000000000000b1"
NETWORK = {
    "ec2.vpcs": [
        {
            "vpcId": VPC,
            "cidrBlock": "10.0.0.0/16",
            "subnets": [{"subnetId": DB, "cidrBlock": "10.0.3.0/24", "availabilityZone": "us-east-1a"}],
            "securityGroups": [{"groupId": SG_DB, "groupName": "db"}],
        },
        {
            "vpcId": OTHER_VPC,
            "cidrBlock": "10.9.0.0/16",
            "securityGroups": [{"groupId": SG_FOREIGN, "groupName": "foreign"}],
        },
    ]
}


def _server(n: int, **settings: Any) -> dict[str, Any]:
    return {"sourceServerID": sid("n", n), "launchSettings": settings}


def test_each_bad_setting_fails_the_wave_before_any_launch_naming_the_server_and_value(local_cloud):
    # GIVEN the recovery network, an interface already holding 10.0.3.40, and a wave of six servers, each asking
    # for one thing the network cannot give
    cloud = local_cloud(**NETWORK)
    boto3.client("ec2", region_name="us-east-1").create_network_interface(SubnetId=DB, PrivateIpAddress="10.0.3.40")
    plan = parse_plan(
        {
            "planId": "bad-network",
            "defaults": {"launchSettings": {"subnetId": DB}},
            "waves": [
                wave(
                    "db",
                    [
                        _server(1, privateIp="10.0.4.20"),
                        _server(2, privateIp="10.0.3.255"),
                        _server(3, privateIp="10.0.3.40"),
                        _server(4, subnetId="subnet-0c0000000000000c1"),
                        _server(5, securityGroupIds=[SG_FOREIGN]),
                        _server(6, instanceType="x9.huge"),
                    ],
                )
            ],
        }
    )

    # WHEN the drill runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the wave failed before anything launched, its reason naming every server and what it asked for
    assert result.status == "FAILED"
    [failed] = events_of(cloud, "WaveFailed", result.execution_id)
    at = "waves[0].servers[{}].launchSettings"
    assert failed.detail["reason"] == "preflight failed: " + "; ".join(
        [
            f"{sid('n', 1)}: privateIp '10.0.4.20' is outside subnet '{DB}' (10.0.3.0/24), set at {at.format(0)}"
            ".privateIp",
            f"{sid('n', 2)}: privateIp '10.0.3.255' is the broadcast address of subnet '{DB}' (10.0.3.0/24): AWS "
            f"reserves the first four addresses and the last one of every subnet, set at {at.format(1)}.privateIp",
            f"{sid('n', 3)}: privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
            f"'{_interface_holding('10.0.3.40')}', set at {at.format(2)}.privateIp",
            f"{sid('n', 4)}: subnetId 'subnet-0c0000000000000c1' does not exist in this account and Region, set at "
            f"{at.format(3)}.subnetId",
            f"{sid('n', 5)}: security group '{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of subnet "
            f"'{DB}' (a network interface's groups are in its subnet's VPC), set at {at.format(4)}.securityGroupIds[0]",
            f"{sid('n', 6)}: instanceType 'x9.huge' is not offered in availability zone 'us-east-1a' of subnet "
            f"'{DB}', set at {at.format(5)}.instanceType",
        ]
    )
    assert [s["sourceServerId"] for s in failed.detail["failedServers"]] == [sid("n", n) for n in range(1, 7)]
    assert failed.detail["failedServers"][5]["reason"] == (
        "preflight: instanceType 'x9.huge' is not offered in availability zone 'us-east-1a' of subnet "
        f"'{DB}', set at {at.format(5)}.instanceType"
    )
    # AND nothing was started in DRS
    assert start_recovery_calls(cloud) == 0
    assert cloud.drs.stats.launches == {}


def _interface_holding(ip: str) -> str:
    interfaces = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [ip]}]
    )["NetworkInterfaces"]
    return str(interfaces[0]["NetworkInterfaceId"])


def test_a_servers_own_recovery_instance_does_not_hold_its_ip_against_its_next_drill(local_cloud):
    # GIVEN a server whose launch template puts its recovery instance on 10.0.3.20, drilled once already, and a
    # plan asking for that IP for it (and, in a second plan, for another server)
    db = sid("n", 7)
    template = {"subnetId": DB, "privateIpAddress": "10.0.3.20"}
    cloud = local_cloud(**NETWORK, **{f"drs.servers.{db}.launchTemplate": template})
    same = {
        "planId": "same-ip",
        "waves": [wave("db", [{"sourceServerID": db, "launchSettings": {"subnetId": DB, "privateIp": "10.0.3.20"}}])],
    }
    assert run_plan(cloud, parse_plan(same), timeout=60).status == "COMPLETED"
    assert _interface_holding("10.0.3.20")  # the first drill's recovery instance has it

    # WHEN the server is drilled again with the same IP
    again = run_plan(cloud, parse_plan(same), timeout=60)

    # THEN the preflight lets it through (DRS deletes the previous instance first) and the drill completes
    assert again.status == "COMPLETED"
    # AND another server asking for that IP is refused: the address is in use by another server's instance
    other = {"planId": "other", "waves": [wave("db", [_server(8, privateIp="10.0.3.20", subnetId=DB)])]}
    refused = run_plan(cloud, parse_plan(other), timeout=60)
    assert refused.status == "FAILED"
    [failed] = events_of(cloud, "WaveFailed", refused.execution_id)
    assert "privateIp '10.0.3.20' is in use in subnet" in failed.detail["reason"]
