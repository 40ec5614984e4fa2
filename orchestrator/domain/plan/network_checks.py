"""The checks of a plan's launch settings against the account's network (EC2), which `validate`'s static checks
cannot make: they run before anything launches (the wave preflight, StartPlan, `drs-orch validate --aws`).

For every server whose effective settings (`effective_launches`, in the execution's mode) set a subnet, security
groups, a static private IP or an instance type:

- the subnet exists; each security group exists; each group is in the subnet's VPC;
- a static private IP lies inside the subnet's CIDR block, is not one of the five addresses AWS reserves in every
  subnet (the network address, +1 the VPC router, +2 the Amazon DNS server, +3 reserved for future use, and the
  broadcast address: Amazon VPC User Guide, "Subnet CIDR blocks"), and no network interface of the subnet has it,
  unless that interface is the one of the EC2 instance of the server's own recovery instance (`replaced`): DRS
  deletes a source server's previously launched drill or recovery instance, with its dependent resources, before
  it launches the new one (DRS User Guide, "Launching a drill instance" and "Launching a recovery instance"), so
  the address is free again when the new instance needs it;
- the instance type is offered in the subnet's availability zone (DescribeInstanceTypeOfferings); without a
  subnet in the plan (the launch template's stands), that it is offered in some zone of the Region.

What is read (`NetworkRequest`) and what was found (`AccountNetwork`) are plain records; the EC2 adapter
(`orchestrator.adapters.ec2`) fills them. Each problem names the server, the key and its value, and carries the
plan path that set the value (the line too when the plan's text is at hand).

Not checked here: groups or an instance type set without a subnet are not compared with the VPC and zone of the
subnet the server's launch template names (that needs the template's default version).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.domain.plan.launch import EffectiveLaunch, LaunchSettings
from orchestrator.domain.plan.problems import Problem
from orchestrator.domain.plan.source import Lines, line_of

#: What the addresses AWS reserves in each subnet are for, by offset from the network address (-1: the last).
RESERVED_ADDRESSES: dict[int, str] = {
    0: "the network address",
    1: "the VPC router's address",
    2: "the Amazon DNS server's address",
    3: "reserved by AWS for future use",
    -1: "the broadcast address",
}
#: The keys these checks read (wire names).
NETWORK_KEYS = ("subnetId", "securityGroupIds", "privateIp", "instanceType")


@dataclass(frozen=True)
class Subnet:
    """An EC2 subnet (DescribeSubnets)."""

    subnet_id: str
    vpc_id: str
    cidr_block: str
    availability_zone: str


@dataclass(frozen=True)
class SecurityGroup:
    """An EC2 security group (DescribeSecurityGroups); `vpc_id` None only for a group outside any VPC."""

    group_id: str
    group_name: str
    vpc_id: str | None


@dataclass(frozen=True)
class NetworkInterface:
    """An EC2 network interface (DescribeNetworkInterfaces): its subnet, every private IPv4 address it has, and
    the instance it is attached to (None: detached, or not an instance's)."""

    network_interface_id: str
    subnet_id: str
    private_ips: tuple[str, ...]
    instance_id: str | None = None


@dataclass(frozen=True)
class InstanceTypeOffering:
    """An instance type offered in an availability zone (DescribeInstanceTypeOfferings)."""

    instance_type: str
    availability_zone: str


@dataclass(frozen=True)
class NetworkRequest:
    """What the checks of `launches` need to read: subnets, groups and instance types, each once, sorted."""

    subnet_ids: tuple[str, ...]
    group_ids: tuple[str, ...]
    instance_types: tuple[str, ...]


@dataclass(frozen=True)
class AccountNetwork:
    """What the account has: subnets and groups by id, the interfaces holding the asked addresses, the zones each
    instance type is offered in, and `replaced`: per source server, the EC2 instance ids of its recovery instances
    that DRS deletes before it launches the server again."""

    subnets: Mapping[str, Subnet]
    groups: Mapping[str, SecurityGroup]
    interfaces: Sequence[NetworkInterface] = ()
    offerings: Mapping[str, frozenset[str]] = field(default_factory=dict)
    replaced: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        subnets: Iterable[Subnet],
        groups: Iterable[SecurityGroup],
        interfaces: Iterable[NetworkInterface] = (),
        offerings: Iterable[InstanceTypeOffering] = (),
        replaced: Mapping[str, frozenset[str]] | None = None,
    ) -> AccountNetwork:
        zones: dict[str, set[str]] = {}
        for offering in offerings:
            zones.setdefault(offering.instance_type, set()).add(offering.availability_zone)
        return cls(
            subnets={subnet.subnet_id: subnet for subnet in subnets},
            groups={group.group_id: group for group in groups},
            interfaces=tuple(interfaces),
            offerings={kind: frozenset(found) for kind, found in zones.items()},
            replaced=dict(replaced or {}),
        )


@dataclass(frozen=True)
class ServerProblem:
    """One problem of one server: `detail` says it without the server (the preflight's reason), `problem` is
    the plan problem (message naming the server, code, wave, path, line)."""

    source_server_id: str
    detail: str
    problem: Problem


def checked_launches(launches: Iterable[EffectiveLaunch]) -> list[EffectiveLaunch]:
    """The launches these checks concern: those that set a subnet, groups, a static IP or an instance type."""
    return [launch for launch in launches if _asks_network(launch.settings)]


def _asks_network(settings: LaunchSettings) -> bool:
    return any(
        value is not None
        for value in (settings.subnet_id, settings.security_group_ids, settings.private_ip, settings.instance_type)
    )


def network_request(launches: Iterable[EffectiveLaunch]) -> NetworkRequest:
    subnets: set[str] = set()
    groups: set[str] = set()
    types: set[str] = set()
    for launch in launches:
        settings = launch.settings
        if settings.subnet_id is not None:
            subnets.add(settings.subnet_id)
        groups.update(settings.security_group_ids or ())
        if settings.instance_type is not None:
            types.add(settings.instance_type)
    return NetworkRequest(tuple(sorted(subnets)), tuple(sorted(groups)), tuple(sorted(types)))


def reserved_role(address: ipaddress.IPv4Address, cidr: ipaddress.IPv4Network) -> str | None:
    """What `address` is reserved for in a subnet of `cidr` (None: a host address the subnet can give out)."""
    if address == cidr.broadcast_address:
        return RESERVED_ADDRESSES[-1]
    offset = int(address) - int(cidr.network_address)
    return RESERVED_ADDRESSES.get(offset) if 0 <= offset <= 3 else None


def _assignable(ip: str, subnet: Subnet) -> bool:
    address, cidr = ipaddress.IPv4Address(ip), ipaddress.IPv4Network(subnet.cidr_block)
    return address in cidr and reserved_role(address, cidr) is None


def addresses_to_check(launches: Iterable[EffectiveLaunch], subnets: Mapping[str, Subnet]) -> list[tuple[str, str]]:
    """(subnet id, IP) of every static IP that could be given out in its subnet: whether an interface has it is
    the one question left (DescribeNetworkInterfaces)."""
    pairs: set[tuple[str, str]] = set()
    for launch in launches:
        settings = launch.settings
        subnet = subnets.get(settings.subnet_id or "")
        if settings.private_ip is not None and subnet is not None and _assignable(settings.private_ip, subnet):
            pairs.add((subnet.subnet_id, settings.private_ip))
    return sorted(pairs)


def holders(
    launches: Iterable[EffectiveLaunch], interfaces: Sequence[NetworkInterface]
) -> dict[str, list[NetworkInterface]]:
    """Per source server, the interfaces of its subnet that have its static IP."""
    found: dict[str, list[NetworkInterface]] = {}
    for launch in launches:
        settings = launch.settings
        ip, subnet_id = settings.private_ip, settings.subnet_id
        if ip is None or subnet_id is None:
            continue
        held = [nic for nic in interfaces if nic.subnet_id == subnet_id and ip in nic.private_ips]
        if held:
            found[launch.source_server_id] = held
    return found


@dataclass(frozen=True)
class _Report:
    """Builds one launch's problems (its server, wave, origins; the plan text's lines if any)."""

    launch: EffectiveLaunch
    lines: Lines | None
    source: str | None

    def __call__(self, key: str, detail: str, code: str, suffix: str = "") -> ServerProblem:
        sid = self.launch.source_server_id
        path = self.launch.origins.get(key)
        path = f"{path}{suffix}" if path is not None else None
        problem = Problem(
            f"server '{sid}': {detail}", code, self.launch.wave_id, path, line_of(self.lines, path), self.source
        )
        return ServerProblem(sid, detail, problem)


def network_problems(
    launches: Iterable[EffectiveLaunch],
    network: AccountNetwork,
    *,
    lines: Lines | None = None,
    source: str | None = None,
) -> list[ServerProblem]:
    """Every problem of `launches` (in their order; per server: subnet, groups, IP, instance type) against
    `network`. `lines`/`source`: the plan text's path -> line table and file name, to place each problem."""
    found: list[ServerProblem] = []
    for launch in checked_launches(launches):
        report = _Report(launch, lines, source)
        settings = launch.settings
        subnet = network.subnets.get(settings.subnet_id or "")
        if settings.subnet_id is not None and subnet is None:
            found.append(
                report(
                    "subnetId",
                    f"subnetId '{settings.subnet_id}' does not exist in this account and Region",
                    "unknown-subnet",
                )
            )
        found.extend(_group_problems(report, settings, subnet, network))
        if settings.private_ip is not None and subnet is not None:
            found.extend(_ip_problems(report, settings.private_ip, subnet, network))
        if settings.instance_type is not None and (subnet is not None or settings.subnet_id is None):
            found.extend(_type_problems(report, settings.instance_type, subnet, network))
    return found


def _group_problems(
    report: _Report, settings: LaunchSettings, subnet: Subnet | None, network: AccountNetwork
) -> list[ServerProblem]:
    found: list[ServerProblem] = []
    for index, group_id in enumerate(settings.security_group_ids or ()):
        group = network.groups.get(group_id)
        if group is None:
            detail = f"security group '{group_id}' does not exist in this account and Region"
            found.append(report("securityGroupIds", detail, "unknown-security-group", f"[{index}]"))
        elif subnet is not None and group.vpc_id != subnet.vpc_id:
            detail = (
                f"security group '{group_id}' is in VPC '{group.vpc_id}', not in VPC '{subnet.vpc_id}' of subnet "
                f"'{subnet.subnet_id}' (a network interface's groups are in its subnet's VPC)"
            )
            found.append(report("securityGroupIds", detail, "security-group-other-vpc", f"[{index}]"))
    return found


def _ip_problems(report: _Report, ip: str, subnet: Subnet, network: AccountNetwork) -> list[ServerProblem]:
    address, cidr = ipaddress.IPv4Address(ip), ipaddress.IPv4Network(subnet.cidr_block)
    where = f"subnet '{subnet.subnet_id}' ({subnet.cidr_block})"
    if address not in cidr:
        return [report("privateIp", f"privateIp '{ip}' is outside {where}", "private-ip-outside-subnet")]
    role = reserved_role(address, cidr)
    if role is not None:
        detail = (
            f"privateIp '{ip}' is {role} of {where}: AWS reserves the first four addresses and the last one of "
            "every subnet"
        )
        return [report("privateIp", detail, "private-ip-reserved")]
    replaced = network.replaced.get(report.launch.source_server_id, frozenset())
    for nic in network.interfaces:
        if nic.subnet_id != subnet.subnet_id or ip not in nic.private_ips:
            continue
        if nic.instance_id is not None and nic.instance_id in replaced:
            continue  # the server's own recovery instance: DRS deletes it before launching the new one
        of = f" of instance '{nic.instance_id}'" if nic.instance_id else ""
        detail = f"privateIp '{ip}' is in use in {where} by network interface '{nic.network_interface_id}'{of}"
        return [report("privateIp", detail, "private-ip-in-use")]
    return []


def _type_problems(
    report: _Report, instance_type: str, subnet: Subnet | None, network: AccountNetwork
) -> list[ServerProblem]:
    zones = network.offerings.get(instance_type, frozenset())
    if subnet is None:
        if zones:
            return []
        detail = f"instanceType '{instance_type}' is not offered in any availability zone of this Region"
        return [report("instanceType", detail, "instance-type-not-offered")]
    if subnet.availability_zone in zones:
        return []
    detail = (
        f"instanceType '{instance_type}' is not offered in availability zone '{subnet.availability_zone}' of subnet "
        f"'{subnet.subnet_id}'"
    )
    return [report("instanceType", detail, "instance-type-not-offered")]


def read_failure(
    launches: Iterable[EffectiveLaunch], error: str, *, lines: Lines | None = None, source: str | None = None
) -> list[ServerProblem]:
    """The problem of every server of `launches` when EC2 could not be read for good (`error`: what failed)."""
    found: list[ServerProblem] = []
    for launch in checked_launches(launches):
        key = next(key for key in NETWORK_KEYS if key in launch.origins)
        detail = f"its network settings could not be checked: {error}"
        found.append(_Report(launch, lines, source)(key, detail, "network-unreadable"))
    return found
