"""The recovery network of a local run: VPCs, subnets and security groups made in moto's EC2 with the ids a
simulation profile gives them, so a plan can name them as it would name real ones.

The ``ec2:`` section of a profile (camelCase)::

    ec2:
      vpcs:
        - vpcId: vpc-0a1b2c3d4e5f60718
          cidrBlock: 10.0.0.0/16
          subnets:
            - {subnetId: subnet-0a1b2c3d4e5f60718, cidrBlock: 10.0.3.0/24, availabilityZone: us-east-1a}
          securityGroups:
            - {groupId: sg-0a1b2c3d4e5f60718, groupName: db}

moto draws every id at random; :func:`fixed_ids` makes one of its id functions return the given id while
one resource is created. moto's default VPC (172.31.0.0/16, a default subnet per availability zone) exists
beside the profile's VPCs, as in a new AWS account.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field, model_validator

from localcloud.drs_sim_launch_config import SecurityGroupId, SubnetId, VpcId
from localcloud.profile_keys import ProfileSection, invalid

_ID_LOCK = threading.Lock()


@contextmanager
def fixed_ids(module_path: str, function: str, value: str) -> Iterator[None]:
    """While inside, moto's ``module_path.function`` (an id generator such as ``random_subnet_id``) returns
    ``value``: the resource created inside gets that id. Serialized: one fixed id at a time per process."""
    import importlib

    module = importlib.import_module(module_path)
    with _ID_LOCK:
        original = getattr(module, function)
        setattr(module, function, lambda: value)
        try:
            yield
        finally:
            setattr(module, function, original)


def _cidr(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise invalid(f"{value!r} is not an IPv4 CIDR block (e.g. 10.0.1.0/24)") from exc


class SubnetProfile(ProfileSection):
    subnet_id: SubnetId
    cidr_block: str
    availability_zone: str = Field(default="us-east-1a", pattern=r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")

    @model_validator(mode="after")
    def _block(self) -> SubnetProfile:
        block = _cidr(self.cidr_block)
        if not 16 <= block.prefixlen <= 28:  # EC2's subnet sizes
            raise invalid(f"a subnet's CIDR block is /16 to /28, not /{block.prefixlen}")
        return self


class SecurityGroupProfile(ProfileSection):
    group_id: SecurityGroupId
    group_name: str = Field(min_length=1, max_length=255)
    description: str = "local recovery network"


class VpcProfile(ProfileSection):
    vpc_id: VpcId
    cidr_block: str
    subnets: list[SubnetProfile] = Field(default_factory=list)
    security_groups: list[SecurityGroupProfile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _subnets_inside(self) -> VpcProfile:
        block = _cidr(self.cidr_block)
        if not 16 <= block.prefixlen <= 28:
            raise invalid(f"a VPC's CIDR block is /16 to /28, not /{block.prefixlen}")
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for subnet in self.subnets:
            inner = _cidr(subnet.cidr_block)
            if not inner.subnet_of(block):
                raise invalid(f"subnet {subnet.subnet_id} ({inner}) is not inside the VPC's {block}")
            for other_id, other in seen:
                if inner.overlaps(other):
                    raise invalid(f"subnets {other_id} ({other}) and {subnet.subnet_id} ({inner}) overlap")
            seen.append((subnet.subnet_id, inner))
        names = [group.group_name for group in self.security_groups]
        if len(set(names)) != len(names):
            raise invalid("two security groups of one VPC have the same name")
        return self


class Ec2Profile(ProfileSection):
    """The ``ec2:`` section of a simulation profile: the networks recovery instances can land in."""

    vpcs: list[VpcProfile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Ec2Profile:
        ids = [vpc.vpc_id for vpc in self.vpcs]
        ids += [subnet.subnet_id for vpc in self.vpcs for subnet in vpc.subnets]
        ids += [group.group_id for vpc in self.vpcs for group in vpc.security_groups]
        repeated = sorted({value for value in ids if ids.count(value) > 1})
        if repeated:
            raise invalid(f"ids declared twice: {', '.join(repeated)}")
        return self


def create_network(ec2: Any, profile: Ec2Profile) -> None:
    """Make the profile's VPCs, subnets and security groups in moto's EC2 (through the boto3 client ``ec2``)."""
    for vpc in profile.vpcs:
        with fixed_ids("moto.ec2.models.vpcs", "random_vpc_id", vpc.vpc_id):
            ec2.create_vpc(CidrBlock=vpc.cidr_block)
        for subnet in vpc.subnets:
            with fixed_ids("moto.ec2.models.subnets", "random_subnet_id", subnet.subnet_id):
                ec2.create_subnet(
                    VpcId=vpc.vpc_id, CidrBlock=subnet.cidr_block, AvailabilityZone=subnet.availability_zone
                )
        for group in vpc.security_groups:
            with fixed_ids("moto.ec2.models.security_groups", "random_security_group_id", group.group_id):
                ec2.create_security_group(GroupName=group.group_name, Description=group.description, VpcId=vpc.vpc_id)
