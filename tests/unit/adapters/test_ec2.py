"""The EC2 adapter of the network checks (orchestrator/adapters/ec2.py) on moto's EC2: typed records of what
exists, filters that never fail on an unknown id, batches of filter values, pages, and its errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from orchestrator.adapters.ec2 import FILTER_VALUES, MAX_RESULTS, Ec2Error, Ec2Network, Ec2Throttled
from orchestrator.domain.plan.network_checks import InstanceTypeOffering, NetworkInterface, SecurityGroup, Subnet


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def _network(ec2: Any) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    db = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    app = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.4.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    foreign = ec2.create_security_group(GroupName="x", Description="x", VpcId=other)["GroupId"]
    return {"vpc": vpc, "other": other, "db": db, "app": app, "group": group, "foreign": foreign}


def test_only_what_exists_comes_back_as_typed_records_and_unknown_ids_are_no_error(ec2: Any) -> None:
    # GIVEN two subnets and two groups in two VPCs
    ids = _network(ec2)
    adapter = Ec2Network(ec2)
    # WHEN they are read with ids that do not exist among them
    subnets = adapter.subnets([ids["db"], "subnet-0123456789abcdef0", ids["app"]])
    groups = adapter.security_groups(["sg-0123456789abcdef0", ids["foreign"], ids["group"]])
    # THEN the existing ones come back, each with its VPC, block and zone
    assert sorted(subnets, key=lambda s: s.cidr_block) == [
        Subnet(ids["db"], ids["vpc"], "10.0.3.0/24", "us-east-1a"),
        Subnet(ids["app"], ids["vpc"], "10.0.4.0/24", "us-east-1b"),
    ]
    assert sorted(groups, key=lambda g: g.group_name) == [
        SecurityGroup(ids["group"], "db", ids["vpc"]),
        SecurityGroup(ids["foreign"], "x", ids["other"]),
    ]


def test_interfaces_holding_an_address_primary_or_secondary_with_their_instance(ec2: Any) -> None:
    # GIVEN an instance's interface with 10.0.3.20 and a secondary 10.0.3.21, a detached one with 10.0.3.30, and
    # one in the other subnet with 10.0.4.20
    ids = _network(ec2)
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": ids["db"], "PrivateIpAddress": "10.0.3.20"}],
    )["Instances"][0]
    attached = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=attached, PrivateIpAddresses=["10.0.3.21"])
    detached = ec2.create_network_interface(SubnetId=ids["db"], PrivateIpAddress="10.0.3.30")["NetworkInterface"]
    ec2.create_network_interface(SubnetId=ids["app"], PrivateIpAddress="10.0.4.20")
    adapter = Ec2Network(ec2)
    # WHEN the interfaces of the db subnet with these addresses are read (moto's filter matches an interface's
    # primary address only; EC2's matches any of its private addresses: the checker compares every one)
    found = adapter.interfaces_with_addresses([ids["db"]], ["10.0.3.20", "10.0.3.30", "10.0.4.20", "10.0.3.99"])
    # THEN both of the db subnet come back, each with every address it has and its instance (None: detached)
    assert sorted(found, key=lambda n: n.private_ips) == [
        NetworkInterface(attached, ids["db"], ("10.0.3.20", "10.0.3.21"), instance["InstanceId"]),
        NetworkInterface(detached["NetworkInterfaceId"], ids["db"], ("10.0.3.30",), None),
    ]


def test_the_zones_each_instance_type_is_offered_in(ec2: Any) -> None:
    # GIVEN moto's offerings of us-east-1
    adapter = Ec2Network(ec2)
    # WHEN two types are read, one that does not exist
    found = adapter.instance_type_offerings(["p4d.24xlarge", "x9.huge"])
    # THEN the real one's zones come back, and nothing for the other
    assert sorted(found, key=lambda o: o.availability_zone) == [
        InstanceTypeOffering("p4d.24xlarge", zone) for zone in ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
    ]


def test_filter_values_go_in_batches_and_each_call_asks_for_the_largest_page(ec2: Any) -> None:
    # GIVEN 450 subnet ids (one twice) and a recorder of the calls' parameters
    ids = _network(ec2)
    asked: list[dict[str, Any]] = []
    ec2.meta.events.register("provide-client-params.ec2.DescribeSubnets", lambda params, **_: asked.append(params))
    wanted = [ids["db"], *(f"subnet-{n:017x}" for n in range(448)), ids["db"]]
    # WHEN they are read
    found = Ec2Network(ec2).subnets(wanted)
    # THEN three calls of at most FILTER_VALUES values each, every one with MaxResults 1000, found the one subnet
    assert [len(call["Filters"][0]["Values"]) for call in asked] == [FILTER_VALUES, FILTER_VALUES, 49]
    assert {call["MaxResults"] for call in asked} == {MAX_RESULTS} == {1000}
    assert [subnet.subnet_id for subnet in found] == [ids["db"]]


def _stubbed() -> tuple[Ec2Network, Stubber]:
    client = botocore.session.get_session().create_client(
        "ec2", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return Ec2Network(client), Stubber(client)


def test_every_page_is_read() -> None:
    # GIVEN DescribeSecurityGroups answering in two pages
    adapter, stubber = _stubbed()
    filters = [{"Name": "group-id", "Values": ["sg-0a0000000000000a1", "sg-0a0000000000000a2"]}]
    first = {"SecurityGroups": [{"GroupId": "sg-0a0000000000000a1", "GroupName": "a", "VpcId": "vpc-1"}]}
    second = {"SecurityGroups": [{"GroupId": "sg-0a0000000000000a2", "GroupName": "b", "VpcId": "vpc-1"}]}
    stubber.add_response(
        "describe_security_groups", {**first, "NextToken": "t2"}, {"Filters": filters, "MaxResults": 1000}
    )
    stubber.add_response(
        "describe_security_groups", second, {"Filters": filters, "MaxResults": 1000, "NextToken": "t2"}
    )
    with stubber:
        # WHEN the groups are read
        found = adapter.security_groups(["sg-0a0000000000000a1", "sg-0a0000000000000a2"])
        # THEN both pages' groups come back
        stubber.assert_no_pending_responses()
    assert [group.group_id for group in found] == ["sg-0a0000000000000a1", "sg-0a0000000000000a2"]


@pytest.mark.parametrize(
    ("code", "kind", "retryable"),
    [
        ("RequestLimitExceeded", Ec2Throttled, True),
        ("InternalError", Ec2Throttled, True),
        ("UnauthorizedOperation", Ec2Error, False),
    ],
)
def test_errors_say_the_operation_and_whether_a_retry_may_help(
    code: str, kind: type[Ec2Error], retryable: bool
) -> None:
    # GIVEN EC2 answering DescribeInstanceTypeOfferings with an error
    adapter, stubber = _stubbed()
    stubber.add_client_error("describe_instance_type_offerings", code, "no")
    with stubber, pytest.raises(Ec2Error) as raised:
        # WHEN the offerings are read
        adapter.instance_type_offerings(["m5.large"])
    # THEN the error names the operation and EC2's code, and says whether a redelivery may succeed
    assert type(raised.value) is kind
    assert (str(raised.value), raised.value.code, raised.value.retryable) == (
        f"DescribeInstanceTypeOfferings failed: {code}: no",
        code,
        retryable,
    )
