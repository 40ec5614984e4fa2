"""Launch settings of the DRS simulator: each source server's launch configuration and EC2 launch template,
and a launch that reads them.

DRS keeps, per source server, a *launch configuration* (GetLaunchConfiguration / UpdateLaunchConfiguration)
and an EC2 *launch template* it created with the server (``ec2LaunchTemplateID``); a launch uses the
template's **default version**: subnet, security groups and private IP in ``NetworkInterfaces[0]``
(DRS owns device index 0), the instance type. Here the templates live in moto's EC2, made through a boto3
``ec2`` client bound with :meth:`LaunchSettings.bind_ec2` (the local cloud binds one as soon as moto runs);
without one (a bare simulator in a unit test) servers have a launch configuration but no template, and a
launch draws its private IP at random as before.

Fidelity notes (the choices where DRS does not document its behaviour):

- Templates carry the tags DRS puts on the ones it manages: ``AWSElasticDisasterRecoveryManaged:
  drs.amazonaws.com`` and ``AWSElasticDisasterRecoverySourceServerID: <id>``, on the template itself (what an
  IAM ``aws:ResourceTag/AWSElasticDisasterRecoveryManaged`` condition sees; the condition DRS's own
  service-linked role policy uses) and in its instance tag specification. The template's name is ``drs-<id>``.
- The template is read when the recovery instance is launched: at the moment its server's launch ends in
  the job, not at StartRecovery. A template restored before the job completed is the one the launch sees.
- The private IP is the template's static one; else, with ``copyPrivateIp``, the source server's IP; else
  one EC2 assigns from the subnet. Right-sizing ``BASIC`` or ``IN_AWS`` launches the recommended instance
  type (``m5.large``) whatever the template says; only ``NONE`` launches the template's type.
- A launch fails (the server FAILED in its job, a ``LAUNCH_FAILED`` log item whose ``rawError`` holds EC2's
  error code and message) for an unknown subnet or security group, a group of another VPC, a private IP
  outside the subnet's CIDR block or among the five addresses AWS reserves in it (the network address, the
  next three, the broadcast address), an IP a network interface already uses, and an instance type not
  offered in the subnet's availability zone.
- The recovery instance is a moto EC2 instance whose id is the recovery instance id, tagged as DRS tags
  it (the managed tag, the source server id; the source server's tags with ``copyTags``), stopped after the
  launch with ``launchDisposition: STOPPED``. A new launch of the server terminates the EC2 instance of the
  recovery instance it replaces; terminating a recovery instance terminates its EC2 instance.
- UpdateLaunchConfiguration checks every value before it changes anything: an unknown enum value, a name
  over 128 characters or a malformed ``launchIntoEC2InstanceID`` is a ValidationException (reason
  ``fieldValidationFailed``); an unknown source server is a ResourceNotFoundException in both operations.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from localcloud.drs_sim_config import DrsServerSettings
from localcloud.drs_sim_launch_config import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_SOURCE_IP,
    LaunchConfigurationSettings,
    LaunchTemplateSettings,
)
from localcloud.drs_sim_wire import DrsError
from localcloud.ec2_network import fixed_ids

MANAGED_TAG = "AWSElasticDisasterRecoveryManaged"
MANAGED_TAG_VALUE = "drs.amazonaws.com"
SOURCE_SERVER_TAG = "AWSElasticDisasterRecoverySourceServerID"
RECOVERY_IMAGE_ID = "ami-0123456789abcdef0"  # DRS converts each launch into an AMI of its own; one stands for all
_LAUNCH_DISPOSITIONS = ("STOPPED", "STARTED")
_RIGHT_SIZING = ("NONE", "BASIC", "IN_AWS")
_RECOVERY_MODES = ("FAST", "OPTIMAL")
_MAX_NAME = 128  # SmallBoundedString in the drs model

Operation = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]


@dataclass
class _Configuration:
    """A source server's launch configuration (mutable: UpdateLaunchConfiguration)."""

    name: str
    copy_private_ip: bool
    copy_tags: bool
    launch_disposition: str
    right_sizing: str
    os_byol: bool
    post_launch_enabled: bool
    template_id: str | None = None
    recovery_mode: str | None = None
    launch_into_instance_id: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where a launch put its recovery instance: its private IP and EC2 state (``RUNNING`` or ``STOPPED``), or
    why it failed (``raw_error``). An empty placement (no EC2 bound): the simulator draws the IP itself."""

    private_ip: str | None = None
    state: str = "RUNNING"
    raw_error: str | None = None


class _LaunchFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.raw_error = f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code})"


@dataclass(frozen=True)
class _Network:
    subnet_id: str
    cidr: ipaddress.IPv4Network
    vpc_id: str
    availability_zone: str


class LaunchSettings:
    """Launch configurations and templates of the simulator's source servers (called under its lock)."""

    def __init__(self, region: str, settings_of: Callable[[str], DrsServerSettings | None]) -> None:
        self.region = region
        self._settings_of = settings_of
        self._configs: dict[str, _Configuration] = {}
        self._source_ips: dict[str, str] = {}
        self._tags_of: dict[str, Callable[[], dict[str, str]]] = {}
        self._ec2: Any = None
        self._default_subnet: str | None = None

    # ------------------------------------------------------------------ wiring

    def operations(self) -> dict[str, Operation]:
        return {
            "GetLaunchConfiguration": self._op_get_launch_configuration,
            "UpdateLaunchConfiguration": self._op_update_launch_configuration,
        }

    def bind_ec2(self, client: Any) -> None:
        """Keep launch templates and recovery instances in the EC2 that ``client`` (a boto3 ``ec2`` client)
        talks to; servers registered before get their template now."""
        self._ec2 = client
        for sid, config in self._configs.items():
            if config.template_id is None:
                config.template_id = self._create_template(sid)

    @property
    def ec2(self) -> Any:
        return self._ec2

    def register(self, source_server_id: str, hostname: str, tags: Callable[[], dict[str, str]]) -> None:
        """A source server was added: its launch configuration (the profile's, else DRS's defaults) and, with
        EC2 bound, its launch template. Registering a server again keeps both."""
        self._tags_of[source_server_id] = tags
        if source_server_id in self._configs:
            return
        settings = self._settings_of(source_server_id)
        given = settings.launch_configuration if settings else None
        wanted = given or LaunchConfigurationSettings()
        self._source_ips[source_server_id] = (settings.private_ip if settings else None) or DEFAULT_SOURCE_IP
        config = _Configuration(
            name=wanted.name or hostname,
            copy_private_ip=wanted.copy_private_ip,
            copy_tags=wanted.copy_tags,
            launch_disposition=wanted.launch_disposition,
            right_sizing=wanted.target_instance_type_right_sizing_method,
            os_byol=wanted.os_byol,
            post_launch_enabled=wanted.post_launch_enabled,
        )
        self._configs[source_server_id] = config
        if self._ec2 is not None:
            config.template_id = self._create_template(source_server_id)

    def source_ip(self, source_server_id: str) -> str:
        return self._source_ips.get(source_server_id, DEFAULT_SOURCE_IP)

    def template_id(self, source_server_id: str) -> str | None:
        config = self._configs.get(source_server_id)
        return config.template_id if config else None

    # ------------------------------------------------------------------ operations

    def _op_get_launch_configuration(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        sid = args["sourceServerID"]
        return 200, self._view(sid, self._config(sid))

    def _op_update_launch_configuration(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        sid = args["sourceServerID"]
        config = self._config(sid)
        changes = _checked_changes(args)  # every value checked before anything changes
        for name, value in changes.items():
            setattr(config, name, value)
        return 200, self._view(sid, config)

    def _config(self, sid: str) -> _Configuration:
        config = self._configs.get(sid)
        if config is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"Source server {sid} not found",
                resourceId=sid,
                resourceType="SOURCE_SERVER",
            )
        return config

    def _view(self, sid: str, config: _Configuration) -> dict[str, Any]:
        view: dict[str, Any] = {
            "sourceServerID": sid,
            "name": config.name,
            "launchDisposition": config.launch_disposition,
            "targetInstanceTypeRightSizingMethod": config.right_sizing,
            "copyPrivateIp": config.copy_private_ip,
            "copyTags": config.copy_tags,
            "licensing": {"osByol": config.os_byol},
            "postLaunchEnabled": config.post_launch_enabled,
        }
        if config.template_id is not None:
            view["ec2LaunchTemplateID"] = config.template_id
        if config.recovery_mode is not None:
            view["recoveryMode"] = config.recovery_mode
        if config.launch_into_instance_id is not None:
            view["launchIntoInstanceProperties"] = {"launchIntoEC2InstanceID": config.launch_into_instance_id}
        return view

    # ------------------------------------------------------------------ templates

    def _create_template(self, sid: str) -> str:
        settings = self._settings_of(sid)
        wanted = (settings.launch_template if settings else None) or LaunchTemplateSettings()
        interface: dict[str, Any] = {
            "DeviceIndex": 0,
            "SubnetId": wanted.subnet_id or self._region_default_subnet(),
        }
        if wanted.security_group_ids:
            interface["Groups"] = list(wanted.security_group_ids)
        if wanted.private_ip_address:
            interface["PrivateIpAddress"] = wanted.private_ip_address
        tags = [{"Key": MANAGED_TAG, "Value": MANAGED_TAG_VALUE}, {"Key": SOURCE_SERVER_TAG, "Value": sid}]
        template = self._ec2.create_launch_template(
            LaunchTemplateName=f"drs-{sid}",
            LaunchTemplateData={
                "InstanceType": wanted.instance_type,
                "NetworkInterfaces": [interface],
                "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
            },
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": tags}],
        )
        return str(template["LaunchTemplate"]["LaunchTemplateId"])

    def _region_default_subnet(self) -> str:
        if self._default_subnet is None:
            subnets = self._ec2.describe_subnets(
                Filters=[
                    {"Name": "default-for-az", "Values": ["true"]},
                    {"Name": "availability-zone", "Values": [f"{self.region}a"]},
                ]
            )["Subnets"]
            self._default_subnet = str(subnets[0]["SubnetId"])
        return self._default_subnet

    # ------------------------------------------------------------------ the launch

    def place(self, sid: str, instance_id: str, *, replacing: str | None) -> Placement:
        """Launch ``sid``'s recovery instance ``instance_id`` from its template's default version as it stands
        now, replacing the EC2 instance ``replacing`` (the server's previous recovery instance) on success."""
        config = self._configs.get(sid)
        if self._ec2 is None or config is None or config.template_id is None:
            return Placement()
        try:
            return self._launch(sid, config, config.template_id, instance_id, replacing)
        except _LaunchFailed as failure:
            return Placement(raw_error=failure.raw_error)

    def _launch(
        self, sid: str, config: _Configuration, template_id: str, instance_id: str, replacing: str | None
    ) -> Placement:
        version = self._ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
            "LaunchTemplateVersions"
        ][0]
        data = version.get("LaunchTemplateData") or {}
        interface: dict[str, Any] = next(
            (nic for nic in data.get("NetworkInterfaces") or [] if int(nic.get("DeviceIndex", 0)) == 0), {}
        )
        network = self._subnet(interface.get("SubnetId") or self._region_default_subnet())
        groups = self._groups(list(interface.get("Groups") or data.get("SecurityGroupIds") or []), network)
        address = interface.get("PrivateIpAddress") or (self.source_ip(sid) if config.copy_private_ip else None)
        if address is not None:
            self._check_address(str(address), network, replacing)
        instance_type = str(data.get("InstanceType") or DEFAULT_INSTANCE_TYPE)
        if config.right_sizing != "NONE":
            instance_type = DEFAULT_INSTANCE_TYPE
        self._check_offered(instance_type, network)
        if replacing is not None:
            self.terminated(replacing)
        tags = {MANAGED_TAG: MANAGED_TAG_VALUE, SOURCE_SERVER_TAG: sid}
        if config.copy_tags:
            tags = {**self._tags_of[sid](), **tags}
        primary: dict[str, Any] = {"DeviceIndex": 0, "SubnetId": network.subnet_id, "DeleteOnTermination": True}
        if address is not None:
            primary["PrivateIpAddress"] = address
        with fixed_ids("moto.ec2.models.instances", "random_instance_id", instance_id):
            instance = self._ec2.run_instances(
                MinCount=1,
                MaxCount=1,
                ImageId=RECOVERY_IMAGE_ID,
                InstanceType=instance_type,
                LaunchTemplate={"LaunchTemplateId": template_id, "Version": str(version["VersionNumber"])},
                NetworkInterfaces=[primary],
                SecurityGroupIds=groups,
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                ],
            )["Instances"][0]
        state = "RUNNING"
        if config.launch_disposition == "STOPPED":
            self._ec2.stop_instances(InstanceIds=[instance_id])
            state = "STOPPED"
        return Placement(private_ip=str(instance["PrivateIpAddress"]), state=state)

    def _subnet(self, subnet_id: str) -> _Network:
        try:
            subnet = self._ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
        except ClientError as exc:
            raise _LaunchFailed("InvalidSubnetID.NotFound", f"The subnet ID '{subnet_id}' does not exist") from exc
        return _Network(
            subnet_id=subnet_id,
            cidr=ipaddress.IPv4Network(subnet["CidrBlock"]),
            vpc_id=str(subnet["VpcId"]),
            availability_zone=str(subnet["AvailabilityZone"]),
        )

    def _groups(self, group_ids: list[str], network: _Network) -> list[str]:
        """The groups of the interface (each must exist, in the subnet's VPC); none: the VPC's default group."""
        if not group_ids:
            default = self._ec2.describe_security_groups(
                Filters=[
                    {"Name": "vpc-id", "Values": [network.vpc_id]},
                    {"Name": "group-name", "Values": ["default"]},
                ]
            )["SecurityGroups"]
            return [str(group["GroupId"]) for group in default[:1]]
        for group_id in group_ids:
            try:
                group = self._ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
            except ClientError as exc:
                raise _LaunchFailed("InvalidGroup.NotFound", f"The security group '{group_id}' does not exist") from exc
            if group.get("VpcId") != network.vpc_id:
                raise _LaunchFailed(
                    "InvalidParameter",
                    f"Security group {group_id} and subnet {network.subnet_id} belong to different networks.",
                )
        return group_ids

    def _check_address(self, address: str, network: _Network, replacing: str | None) -> None:
        ip = ipaddress.IPv4Address(address)
        if ip not in network.cidr:
            raise _LaunchFailed(
                "InvalidParameterValue", f"Address {address} does not fall within the subnet's address range"
            )
        reserved = {network.cidr.network_address + offset for offset in range(4)} | {network.cidr.broadcast_address}
        if ip in reserved:
            raise _LaunchFailed("InvalidParameterValue", f"Address {address} is in subnet's reserved address range")
        interfaces = self._ec2.describe_network_interfaces(
            Filters=[
                {"Name": "subnet-id", "Values": [network.subnet_id]},
                {"Name": "addresses.private-ip-address", "Values": [address]},
            ]
        )["NetworkInterfaces"]
        # the server's previous recovery instance gives its address up to the instance replacing it
        holders = [
            nic
            for nic in interfaces
            if replacing is None or (nic.get("Attachment") or {}).get("InstanceId") != replacing
        ]
        if holders:
            raise _LaunchFailed("InvalidIPAddress.InUse", f"Address {address} is in use.")

    def _check_offered(self, instance_type: str, network: _Network) -> None:
        offerings = self._ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[
                {"Name": "instance-type", "Values": [instance_type]},
                {"Name": "location", "Values": [network.availability_zone]},
            ],
        )["InstanceTypeOfferings"]
        if not offerings:
            raise _LaunchFailed(
                "Unsupported",
                f"Your requested instance type ({instance_type}) is not supported in your requested Availability "
                f"Zone ({network.availability_zone}).",
            )

    def terminated(self, instance_id: str) -> None:
        """The recovery instance ``instance_id`` is gone: terminate its EC2 instance (if EC2 holds one)."""
        if self._ec2 is None:
            return
        found = self._ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance_id]}])
        if any(
            instance["State"]["Name"] != "terminated"
            for reservation in found["Reservations"]
            for instance in reservation["Instances"]
        ):
            self._ec2.terminate_instances(InstanceIds=[instance_id])


def _invalid(field_name: str, message: str) -> DrsError:
    return DrsError(
        "ValidationException",
        message,
        reason="fieldValidationFailed",
        fieldList=[{"name": field_name, "message": message}],
    )


def _enum(args: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
    value = args.get(key)
    if value is not None and value not in allowed:
        raise _invalid(key, f"Invalid value '{value}' for {key}: must be one of {', '.join(allowed)}")
    return None if value is None else str(value)


def _checked_changes(args: dict[str, Any]) -> dict[str, Any]:
    """The attribute changes an UpdateLaunchConfiguration asks for, each value checked first."""
    changes: dict[str, Any] = {}
    name = args.get("name")
    if name is not None:
        if len(name) > _MAX_NAME:
            raise _invalid("name", f"name must be at most {_MAX_NAME} characters long")
        changes["name"] = name
    for key, attribute, allowed in (
        ("launchDisposition", "launch_disposition", _LAUNCH_DISPOSITIONS),
        ("targetInstanceTypeRightSizingMethod", "right_sizing", _RIGHT_SIZING),
        ("recoveryMode", "recovery_mode", _RECOVERY_MODES),
    ):
        value = _enum(args, key, allowed)
        if value is not None:
            changes[attribute] = value
    for key, attribute in (
        ("copyPrivateIp", "copy_private_ip"),
        ("copyTags", "copy_tags"),
        ("postLaunchEnabled", "post_launch_enabled"),
    ):
        if key in args:
            changes[attribute] = bool(args[key])
    licensing = args.get("licensing") or {}
    if "osByol" in licensing:
        changes["os_byol"] = bool(licensing["osByol"])
    into = args.get("launchIntoInstanceProperties")
    if into is not None:
        target = into.get("launchIntoEC2InstanceID")
        if target is not None and not _is_instance_id(target):
            raise _invalid("launchIntoEC2InstanceID", f"Invalid EC2 instance id '{target}'")
        changes["launch_into_instance_id"] = target
    return changes


def _is_instance_id(value: str) -> bool:
    body = value[2:]
    return value.startswith("i-") and len(body) >= 8 and all(c in "0123456789abcdefABCDEF" for c in body)
