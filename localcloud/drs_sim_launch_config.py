"""Launch settings of a simulated source server, and their keys in a simulation profile.

A profile gives a server its DRS launch configuration and the network of its EC2 launch template::

    drs:
      servers:
        s-1000000000000000c:
          tags: {app: shop, tier: db}
          privateIp: 10.0.3.15                  # the source machine's own IP (copyPrivateIp copies it)
          launchConfiguration:                  # GetLaunchConfiguration / UpdateLaunchConfiguration keys
            copyPrivateIp: false
            copyTags: true
            launchDisposition: STARTED          # or STOPPED
            targetInstanceTypeRightSizingMethod: NONE   # BASIC (DRS's default) ignores the template's type
            osByol: false
            postLaunchEnabled: false
          launchTemplate:                       # version 1 (the default) of the server's EC2 launch template
            subnetId: subnet-0a1b2c3d4e5f60718
            securityGroupIds: [sg-0a1b2c3d4e5f60718]
            privateIpAddress: 10.0.3.15         # a static IP (NetworkInterfaces[0].PrivateIpAddress)
            instanceType: r5.large

Ids and addresses are checked for their form only: a template may name a subnet or group that does not
exist, or an IP outside its subnet, because that is how a launch fails (``localcloud.drs_sim_launch``).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from localcloud.profile_keys import ProfileSection, invalid

LaunchDisposition = Literal["STOPPED", "STARTED"]
RightSizingMethod = Literal["NONE", "BASIC", "IN_AWS"]
# EC2's id forms: a prefix and 8 or 17 lowercase hex digits
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")]
SecurityGroupId = Annotated[str, StringConstraints(pattern=r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")]
VpcId = Annotated[str, StringConstraints(pattern=r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError as exc:
        raise invalid(f"{value!r} is not an IPv4 address") from exc


Ipv4 = Annotated[str, AfterValidator(_ipv4)]
DEFAULT_SOURCE_IP = "192.168.0.10"  # a source server's IP when the profile gives none
DEFAULT_INSTANCE_TYPE = "m5.large"  # the simulator's recommendedInstanceType of every source server


class LaunchConfigurationSettings(BaseModel):
    """DRS's launch configuration of one source server (GetLaunchConfiguration's members). The defaults are
    those of DRS's default launch configuration template (right-sizing BASIC, launched STARTED, nothing copied)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None  # None: the server's hostname
    copy_private_ip: bool = False
    copy_tags: bool = False
    launch_disposition: LaunchDisposition = "STARTED"
    target_instance_type_right_sizing_method: RightSizingMethod = "BASIC"
    os_byol: bool = False
    post_launch_enabled: bool = False


class LaunchTemplateSettings(BaseModel):
    """Version 1 of a server's EC2 launch template: ``NetworkInterfaces[0]`` and the instance type. No subnet:
    the default subnet of the region's first availability zone (DRS's own default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subnet_id: SubnetId | None = None
    security_group_ids: tuple[SecurityGroupId, ...] = ()
    private_ip_address: Ipv4 | None = None
    instance_type: InstanceType = DEFAULT_INSTANCE_TYPE


class LaunchConfigurationProfile(ProfileSection):
    name: str | None = Field(default=None, max_length=128)
    copy_private_ip: bool = False
    copy_tags: bool = False
    launch_disposition: LaunchDisposition = "STARTED"
    target_instance_type_right_sizing_method: RightSizingMethod = "BASIC"
    os_byol: bool = False
    post_launch_enabled: bool = False

    def to_settings(self) -> LaunchConfigurationSettings:
        return LaunchConfigurationSettings(**self.model_dump())


class LaunchTemplateProfile(ProfileSection):
    subnet_id: SubnetId | None = None
    security_group_ids: list[SecurityGroupId] = Field(default_factory=list, max_length=5)  # EC2: 5 per interface
    private_ip_address: Ipv4 | None = None
    instance_type: InstanceType = DEFAULT_INSTANCE_TYPE

    def to_settings(self) -> LaunchTemplateSettings:
        return LaunchTemplateSettings(
            subnet_id=self.subnet_id,
            security_group_ids=tuple(self.security_group_ids),
            private_ip_address=self.private_ip_address,
            instance_type=self.instance_type,
        )
