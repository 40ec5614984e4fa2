"""End to end: launch settings the account's network cannot serve refuse the plan at StartPlan, naming each server
and value (against moto's EC2 holding the profile's recovery network); what changed after the start (an earlier
wave's instance took an address) fails the later wave in its preflight before it launches; a server's own earlier
recovery instance does not hold its static IP against its next drill."""

from __future__ import annotations

from typing import Any

import boto3

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import events_of, ledger_items, sid, start_recovery_calls, wave

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


def test_each_bad_setting_refuses_the_plan_before_anything_exists_naming_the_server_and_value(local_cloud):
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

    # WHEN the drill is started
    result = run_plan(cloud, plan, timeout=60)

    # THEN StartPlan refused the whole plan, each problem naming its wave, server, value and where the plan sets it
    assert result.status == "REJECTED"
    [refused] = result.rejected
    at = "waves[0].servers[{}].launchSettings"
    expected = [
        (
            "private-ip-outside-subnet",
            f"{at.format(0)}.privateIp",
            f"server '{sid('n', 1)}': privateIp '10.0.4.20' is outside subnet '{DB}' (10.0.3.0/24)",
        ),
        (
            "private-ip-reserved",
            f"{at.format(1)}.privateIp",
            f"server '{sid('n', 2)}': privateIp '10.0.3.255' is the broadcast address of subnet '{DB}' "
            "(10.0.3.0/24): AWS reserves the first four addresses and the last one of every subnet",
        ),
        (
            "private-ip-in-use",
            f"{at.format(2)}.privateIp",
            f"server '{sid('n', 3)}': privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network "
            f"interface '{_interface_holding('10.0.3.40')}'",
        ),
        (
            "unknown-subnet",
            f"{at.format(3)}.subnetId",
            f"server '{sid('n', 4)}': subnetId 'subnet-0c0000000000000c1' does not exist in this account and Region",
        ),
        (
            "security-group-other-vpc",
            f"{at.format(4)}.securityGroupIds[0]",
            f"server '{sid('n', 5)}': security group '{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of "
            f"subnet '{DB}' (a network interface's groups are in its subnet's VPC)",
        ),
        (
            "instance-type-not-offered",
            f"{at.format(5)}.instanceType",
            f"server '{sid('n', 6)}': instanceType 'x9.huge' is not offered in availability zone 'us-east-1a' of "
            f"subnet '{DB}'",
        ),
    ]
    assert [(e["code"], e["waveId"], e["path"], e["message"]) for e in refused["errors"]] == [
        (code, "db", path, message) for code, path, message in expected
    ]
    assert refused["reason"] == (
        "launch settings refused: 6 problem(s) of 6 server(s) with the account's network in DRILL: "
        + "; ".join(f"{path}: {message}" for _, path, message in expected[:3])
        + " (and 3 more)"
    )
    # AND nothing exists and nothing was started in DRS
    assert ledger_items(cloud) == []
    assert start_recovery_calls(cloud) == 0
    assert cloud.drs.stats.launches == {}


def test_an_ip_an_earlier_wave_took_fails_the_later_wave_before_it_launches(local_cloud):
    # GIVEN a plan whose app wave launches a server its launch template (outside the plan) puts on 10.0.3.20, and
    # whose db wave, after it, asks for 10.0.3.20 for another server: free when the plan starts
    app, db = sid("n", 9), sid("n", 10)
    cloud = local_cloud(
        **NETWORK, **{f"drs.servers.{app}.launchTemplate": {"subnetId": DB, "privateIpAddress": "10.0.3.20"}}
    )
    plan = {
        "planId": "taken-ip",
        "waves": [
            wave("app", [app]),
            wave("db", [_server(10, subnetId=DB, privateIp="10.0.3.20")], depends_on=["app"]),
        ],
    }

    # WHEN the drill runs
    result = run_plan(cloud, parse_plan(plan), timeout=60)

    # THEN the db wave's preflight failed it on the address the app server's instance now holds, before its launch
    assert result.status == "FAILED"
    [failed] = events_of(cloud, "WaveFailed", result.execution_id)
    assert failed.detail["reason"] == (
        f"preflight failed: {db}: privateIp '10.0.3.20' is in use in subnet '{DB}' (10.0.3.0/24) by network "
        f"interface '{_interface_holding('10.0.3.20')}' of instance '{_instance_holding('10.0.3.20')}', set at "
        "waves[1].servers[0].launchSettings.privateIp"
    )
    # AND only the app server was launched
    assert start_recovery_calls(cloud) == 1
    assert set(cloud.drs.stats.launches) == {app}


def _interface_holding(ip: str) -> str:
    interfaces = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [ip]}]
    )["NetworkInterfaces"]
    return str(interfaces[0]["NetworkInterfaceId"])


def _instance_holding(ip: str) -> str:
    interfaces = boto3.client("ec2", region_name="us-east-1").describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [ip]}]
    )["NetworkInterfaces"]
    return str(interfaces[0]["Attachment"]["InstanceId"])


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
    # AND a plan asking that IP for another server is refused at its start: another server's instance holds it
    other = {"planId": "other", "waves": [wave("db", [_server(8, privateIp="10.0.3.20", subnetId=DB)])]}
    refused = run_plan(cloud, parse_plan(other), timeout=60)
    assert refused.status == "REJECTED"
    assert [(e["code"], e["path"]) for e in refused.rejected[0]["errors"]] == [
        ("private-ip-in-use", "waves[0].servers[0].launchSettings.privateIp")
    ]
