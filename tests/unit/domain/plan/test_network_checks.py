"""The network checks of launch settings against the account (orchestrator/domain/plan/network_checks.py): each
problem's exact text, code, wave, path and line, what is not a problem, and what is read."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import Mode
from orchestrator.domain.plan import effective_launches, parse_plan
from orchestrator.domain.plan.network_checks import (
    AccountNetwork,
    InstanceTypeOffering,
    NetworkInterface,
    NetworkRequest,
    SecurityGroup,
    Subnet,
    addresses_to_check,
    network_problems,
    network_request,
    read_failure,
)
from orchestrator.domain.plan.source import load_text
from tests.unit.domain.plan.conftest import server_id

S1, S2 = server_id(1), server_id(2)
VPC, OTHER_VPC = "vpc-0a0000000000000a1", "vpc-0b0000000000000b1"
DB = "subnet-0a0000000000000a1"  # 10.0.3.0/24, us-east-1a
DRILL = "subnet-0a0000000000000a2"  # 10.0.9.0/24, us-east-1b
FOREIGN = "subnet-0b0000000000000b1"  # 10.9.1.0/24, other VPC
GONE = "subnet-0c0000000000000c1"
SG_DB, SG_FOREIGN, SG_GONE = "sg-0a0000000000000a1", "sg-0b0000000000000b1", "sg-0c0000000000000c1"
SERVER_PATH = "waves[0].servers[0].launchSettings"

NETWORK = AccountNetwork.of(
    subnets=[
        Subnet(DB, VPC, "10.0.3.0/24", "us-east-1a"),
        Subnet(DRILL, VPC, "10.0.9.0/24", "us-east-1b"),
        Subnet(FOREIGN, OTHER_VPC, "10.9.1.0/24", "us-east-1a"),
    ],
    groups=[SecurityGroup(SG_DB, "db", VPC), SecurityGroup(SG_FOREIGN, "foreign", OTHER_VPC)],
    interfaces=[
        NetworkInterface("eni-0000000000000000a", DB, ("10.0.3.30", "10.0.3.31"), "i-0000000000000000a"),
        NetworkInterface("eni-0000000000000000b", DB, ("10.0.3.40",), None),
        NetworkInterface("eni-0000000000000000c", FOREIGN, ("10.0.3.50",), "i-0000000000000000c"),
    ],
    offerings=[
        InstanceTypeOffering("m5.large", "us-east-1a"),
        InstanceTypeOffering("m5.large", "us-east-1b"),
        InstanceTypeOffering("p4d.24xlarge", "us-east-1b"),
    ],
)


def _plan(server_settings: dict[str, Any], **wave_settings: Any) -> Any:
    server: dict[str, Any] = {"sourceServerID": S1, "launchSettings": server_settings}
    wave: dict[str, Any] = {"waveId": "db", "servers": [server]}
    if wave_settings:
        wave["launchSettings"] = wave_settings
    return parse_plan({"planId": "p", "waves": [wave]})


def _problems(plan: Any, network: AccountNetwork = NETWORK, mode: Mode = Mode.RECOVERY) -> list[tuple[str, ...]]:
    return [
        (p.problem.message, p.problem.code, p.problem.wave_id or "", p.problem.path or "", p.detail)
        for p in network_problems(effective_launches(plan, mode), network)
    ]


def _one(message: str, code: str, path: str) -> list[tuple[str, ...]]:
    detail = message.removeprefix(f"server '{S1}': ")
    return [(message, code, "db", path, detail)]


CASES = [
    pytest.param(
        {"subnetId": GONE},
        _one(
            f"server '{S1}': subnetId '{GONE}' does not exist in this account and Region",
            "unknown-subnet",
            f"{SERVER_PATH}.subnetId",
        ),
        id="unknown-subnet",
    ),
    pytest.param(
        {"subnetId": DB, "securityGroupIds": [SG_DB, SG_GONE]},
        _one(
            f"server '{S1}': security group '{SG_GONE}' does not exist in this account and Region",
            "unknown-security-group",
            f"{SERVER_PATH}.securityGroupIds[1]",
        ),
        id="unknown-group",
    ),
    pytest.param(
        {"subnetId": DB, "securityGroupIds": [SG_FOREIGN]},
        _one(
            f"server '{S1}': security group '{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of subnet "
            f"'{DB}' (a network interface's groups are in its subnet's VPC)",
            "security-group-other-vpc",
            f"{SERVER_PATH}.securityGroupIds[0]",
        ),
        id="group-of-another-vpc",
    ),
    pytest.param(
        {"subnetId": DB, "privateIp": "10.0.4.20"},
        _one(
            f"server '{S1}': privateIp '10.0.4.20' is outside subnet '{DB}' (10.0.3.0/24)",
            "private-ip-outside-subnet",
            f"{SERVER_PATH}.privateIp",
        ),
        id="ip-outside-the-cidr",
    ),
    *[
        pytest.param(
            {"subnetId": DB, "privateIp": ip},
            _one(
                f"server '{S1}': privateIp '{ip}' is {role} of subnet '{DB}' (10.0.3.0/24): AWS reserves the first "
                "four addresses and the last one of every subnet",
                "private-ip-reserved",
                f"{SERVER_PATH}.privateIp",
            ),
            id=f"reserved-{ip}",
        )
        for ip, role in (
            ("10.0.3.0", "the network address"),
            ("10.0.3.1", "the VPC router's address"),
            ("10.0.3.2", "the Amazon DNS server's address"),
            ("10.0.3.3", "reserved by AWS for future use"),
            ("10.0.3.255", "the broadcast address"),
        )
    ],
    pytest.param(
        {"subnetId": DB, "privateIp": "10.0.3.31"},
        _one(
            f"server '{S1}': privateIp '10.0.3.31' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
            "'eni-0000000000000000a' of instance 'i-0000000000000000a'",
            "private-ip-in-use",
            f"{SERVER_PATH}.privateIp",
        ),
        id="ip-in-use-by-an-instance-secondary-address",
    ),
    pytest.param(
        {"subnetId": DB, "privateIp": "10.0.3.40"},
        _one(
            f"server '{S1}': privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
            "'eni-0000000000000000b'",
            "private-ip-in-use",
            f"{SERVER_PATH}.privateIp",
        ),
        id="ip-in-use-by-a-detached-interface",
    ),
    pytest.param(
        {"subnetId": DB, "instanceType": "p4d.24xlarge"},
        _one(
            f"server '{S1}': instanceType 'p4d.24xlarge' is not offered in availability zone 'us-east-1a' of subnet "
            f"'{DB}'",
            "instance-type-not-offered",
            f"{SERVER_PATH}.instanceType",
        ),
        id="type-not-offered-in-the-subnets-zone",
    ),
    pytest.param(
        {"instanceType": "x9.huge"},
        _one(
            f"server '{S1}': instanceType 'x9.huge' is not offered in any availability zone of this Region",
            "instance-type-not-offered",
            f"{SERVER_PATH}.instanceType",
        ),
        id="type-not-offered-anywhere-without-a-subnet",
    ),
]


@pytest.mark.parametrize(("settings", "expected"), CASES)
def test_each_problem_names_the_server_the_key_and_the_value_at_its_plan_path(
    settings: dict[str, Any], expected: list[tuple[str, ...]]
) -> None:
    # GIVEN a server whose launch settings ask for something the account's network does not have
    plan = _plan(settings)
    # WHEN its settings are checked against the network
    # THEN exactly that problem is found, naming the server, the key, the value and where the plan sets it
    assert _problems(plan) == expected


@pytest.mark.parametrize(
    "settings",
    [
        {"subnetId": DB, "securityGroupIds": [SG_DB], "privateIp": "10.0.3.4", "instanceType": "m5.large"},
        {"subnetId": DB, "privateIp": "10.0.3.254"},  # the last address before the broadcast one
        {"subnetId": DB, "privateIp": "10.0.3.50"},  # held in another VPC's subnet, not this one
        {"instanceType": "p4d.24xlarge"},  # offered in a zone of the Region (the template's subnet stands)
        {"securityGroupIds": [SG_FOREIGN]},  # exists; its VPC is compared only with a subnet the plan names
        {"copyTags": True},  # nothing the network has to have
    ],
)
def test_settings_the_network_has_are_no_problem(settings: dict[str, Any]) -> None:
    assert _problems(_plan(settings)) == []


def test_an_ip_held_by_the_servers_own_recovery_instance_is_free_for_its_next_launch() -> None:
    # GIVEN the static IP held by the interface of instance i-...a, which is S1's recovery instance (a drill before)
    plan = _plan({"subnetId": DB, "privateIp": "10.0.3.30"})
    own = AccountNetwork(
        NETWORK.subnets, NETWORK.groups, NETWORK.interfaces, NETWORK.offerings, {S1: frozenset({"i-0000000000000000a"})}
    )
    other = AccountNetwork(
        NETWORK.subnets, NETWORK.groups, NETWORK.interfaces, NETWORK.offerings, {S2: frozenset({"i-0000000000000000a"})}
    )
    # WHEN it is checked
    # THEN it is no problem: DRS deletes the server's previous recovery instance before it launches the new one
    assert _problems(plan, own) == []
    # AND the same instance being another server's recovery instance does not free it
    assert [code for _, code, *_ in _problems(plan, other)] == ["private-ip-in-use"]


def test_an_unknown_subnet_stops_the_checks_that_need_it_and_the_rest_go_on() -> None:
    # GIVEN a server whose subnet does not exist, with a missing group, a static IP and an instance type
    plan = _plan({"subnetId": GONE, "securityGroupIds": [SG_GONE], "privateIp": "10.0.3.1", "instanceType": "x9.huge"})
    # WHEN it is checked
    # THEN the subnet and the group are problems; the IP and the type cannot be judged without the subnet
    assert [code for _, code, *_ in _problems(plan)] == ["unknown-subnet", "unknown-security-group"]


def test_the_drill_values_are_checked_in_a_drill_and_the_base_ones_in_a_recovery() -> None:
    # GIVEN a wave whose drill block names the drill subnet, and a server whose static IP is in the recovery subnet
    plan = _plan({"privateIp": "10.0.3.20"}, subnetId=DB, drill={"subnetId": DRILL})
    # WHEN each mode is checked
    # THEN the recovery is fine; in the drill the server's IP lies outside the drill subnet, reported at its path
    assert _problems(plan, mode=Mode.RECOVERY) == []
    assert _problems(plan, mode=Mode.DRILL) == _one(
        f"server '{S1}': privateIp '10.0.3.20' is outside subnet '{DRILL}' (10.0.9.0/24)",
        "private-ip-outside-subnet",
        f"{SERVER_PATH}.privateIp",
    )


def test_a_problem_carries_the_line_of_the_plan_text_and_its_file() -> None:
    # GIVEN a plan file's text whose wave sets a group of another VPC
    text = f"""planId: p
waves:
  - waveId: db
    launchSettings:
      subnetId: {DB}
      securityGroupIds:
        - {SG_DB}
        - {SG_FOREIGN}
    servers: [{S1}, {S2}]
"""
    plan = parse_plan(text)
    _, lines, _ = load_text(text)
    # WHEN it is checked with the text's lines
    found = network_problems(effective_launches(plan, Mode.DRILL), NETWORK, lines=lines, source="plan.yaml")
    # THEN each server has the problem, at the group's line of the file
    assert [str(p.problem) for p in found] == [
        f"plan.yaml:8: waves[0].launchSettings.securityGroupIds[1] (wave db): server '{sid}': security group "
        f"'{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of subnet '{DB}' (a network interface's groups "
        "are in its subnet's VPC)"
        for sid in (S1, S2)
    ]


def test_what_is_read_each_id_once_and_only_the_addresses_that_could_be_given_out() -> None:
    # GIVEN three servers sharing a group and type: one assignable IP, two outside their subnets
    plan = parse_plan(
        {
            "planId": "p",
            "defaults": {"launchSettings": {"subnetId": DB, "securityGroupIds": [SG_DB], "instanceType": "m5.large"}},
            "waves": [
                {
                    "waveId": "db",
                    "servers": [
                        {"sourceServerID": S1, "launchSettings": {"privateIp": "10.0.3.20"}},
                        {"sourceServerID": S2, "launchSettings": {"privateIp": "10.0.3.255", "subnetId": FOREIGN}},
                    ],
                },
                {
                    "waveId": "app",
                    "servers": [{"sourceServerID": server_id(3), "launchSettings": {"privateIp": "10.0.4.1"}}],
                },
            ],
        }
    )
    launches = effective_launches(plan, Mode.RECOVERY)
    # WHEN the request and the addresses to look up are computed
    request = network_request(launches)
    pairs = addresses_to_check(launches, NETWORK.subnets)
    # THEN each id is read once, and only the one assignable address is looked up in its subnet
    assert request == NetworkRequest((DB, FOREIGN), (SG_DB,), ("m5.large",))
    assert pairs == [(DB, "10.0.3.20")]


def test_a_failed_read_is_a_problem_of_every_server_that_asks_for_network_settings() -> None:
    # GIVEN two servers, one with a subnet and one with nothing the network must have
    plan = parse_plan(
        {
            "planId": "p",
            "waves": [
                {
                    "waveId": "db",
                    "servers": [
                        {"sourceServerID": S1, "launchSettings": {"subnetId": DB}},
                        {"sourceServerID": S2, "launchSettings": {"copyTags": True}},
                    ],
                }
            ],
        }
    )
    # WHEN EC2 could not be read
    found = read_failure(effective_launches(plan, Mode.DRILL), "DescribeSubnets failed: UnauthorizedOperation: no")
    # THEN the first server's problem says so at its subnet's path; the second asks nothing of the network
    assert [(p.source_server_id, p.problem.message, p.problem.code, p.problem.path) for p in found] == [
        (
            S1,
            f"server '{S1}': its network settings could not be checked: DescribeSubnets failed: "
            "UnauthorizedOperation: no",
            "network-unreadable",
            f"{SERVER_PATH}.subnetId",
        )
    ]
