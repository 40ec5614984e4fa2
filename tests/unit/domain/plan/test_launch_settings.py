"""Launch settings in the plan: the precedence of levels and drill blocks, the effective settings of a
server, and the static checks (each problem's exact text and line)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.models import Mode
from orchestrator.domain.plan import (
    LaunchDisposition,
    LaunchSettings,
    PlanError,
    RightSizingMethod,
    check_plan,
    effective_launch,
    effective_launch_settings,
    effective_launches,
    has_launch_settings,
    load_plan,
    parse_plan,
    plan_to_document,
)
from tests.unit.domain.plan.conftest import EXAMPLES, server_id

SERVER = server_id(1)

#: The six places a key can be set for one server, and the subnet each one sets in the table below.
SLOTS = ("defaults", "defaults.drill", "wave", "wave.drill", "server", "server.drill")
SUBNETS = {
    "defaults": "subnet-0000000d",
    "defaults.drill": "subnet-000000dd",
    "wave": "subnet-0000000a",
    "wave.drill": "subnet-000000aa",
    "server": "subnet-0000000b",
    "server.drill": "subnet-000000bb",
}


def _block(slots: set[str], level: str, key: str, values: dict[str, Any]) -> dict[str, Any] | None:
    block: dict[str, Any] = {}
    if level in slots:
        block[key] = values[level]
    if f"{level}.drill" in slots:
        block["drill"] = {key: values[f"{level}.drill"]}
    return block or None


def _plan_with(slots: set[str], key: str = "subnetId", values: dict[str, Any] = SUBNETS) -> dict[str, Any]:
    """A one-server plan with `key` set at each of `slots`."""
    server: dict[str, Any] = {"sourceServerID": SERVER}
    wave: dict[str, Any] = {"waveId": "db", "servers": [server]}
    document: dict[str, Any] = {"planId": "p", "waves": [wave]}
    for level, target in (("defaults", document), ("wave", wave), ("server", server)):
        block = _block(slots, level, key, values)
        if block is not None and level == "defaults":
            document["defaults"] = {"launchSettings": block}
        elif block is not None:
            target["launchSettings"] = block
    return document


# (slots set, recovery subnet, drill subnet): server > wave > defaults; in a drill every drill block first.
PRECEDENCE = [
    (set(), None, None),
    ({"defaults"}, "defaults", "defaults"),
    ({"defaults", "wave"}, "wave", "wave"),
    ({"defaults", "wave", "server"}, "server", "server"),
    ({"defaults", "defaults.drill"}, "defaults", "defaults.drill"),
    ({"wave", "wave.drill"}, "wave", "wave.drill"),
    ({"server", "server.drill"}, "server", "server.drill"),
    # a wave's drill network beats the server's own recovery subnet in a drill (SRM's test network)
    ({"server", "wave.drill"}, "server", "wave.drill"),
    ({"server", "defaults.drill"}, "server", "defaults.drill"),
    ({"defaults.drill", "wave.drill"}, None, "wave.drill"),
    ({"defaults.drill", "wave.drill", "server.drill"}, None, "server.drill"),
    ({"server.drill", "defaults"}, "defaults", "server.drill"),
]


@pytest.mark.parametrize(
    ("slots", "recovery", "drill"), PRECEDENCE, ids=["+".join(sorted(slots)) or "none" for slots, _, _ in PRECEDENCE]
)
def test_precedence_table(slots: set[str], recovery: str | None, drill: str | None) -> None:
    # GIVEN a subnet set at some of the six places
    plan = parse_plan(_plan_with(slots))

    # WHEN the server's effective settings are computed in each mode
    in_recovery = effective_launch(plan, "db", SERVER, Mode.RECOVERY)
    in_drill = effective_launch(plan, "db", SERVER, Mode.DRILL)

    # THEN the expected place wins, and the origin names it
    assert in_recovery.settings.subnet_id == (SUBNETS[recovery] if recovery else None)
    assert in_drill.settings.subnet_id == (SUBNETS[drill] if drill else None)
    paths = {
        "defaults": "defaults.launchSettings",
        "wave": "waves[0].launchSettings",
        "server": "waves[0].servers[0].launchSettings",
    }
    for winner, launch in ((recovery, in_recovery), (drill, in_drill)):
        if winner is None:
            assert "subnetId" not in launch.origins
            continue
        level, _, drill_block = winner.partition(".")
        expected = f"{paths[level]}{'.drill' if drill_block else ''}.subnetId"
        assert launch.origins["subnetId"] == expected


def _oracle(slots: set[str], mode: Mode) -> str | None:
    order = ["server", "wave", "defaults"]
    if mode is Mode.DRILL:
        order = [f"{level}.drill" for level in order] + order
    return next((SUBNETS[slot] for slot in order if slot in slots), None)


def test_every_combination_of_places_follows_the_order() -> None:
    # GIVEN every one of the 64 combinations of places that set the subnet
    for count in range(len(SLOTS) + 1):
        for chosen in itertools.combinations(SLOTS, count):
            slots = set(chosen)
            plan = parse_plan(_plan_with(slots))
            # WHEN / THEN each mode gets the first place set in its order
            for mode in Mode:
                assert effective_launch_settings(plan, "db", SERVER, mode).subnet_id == _oracle(slots, mode), (
                    slots,
                    mode,
                )


def test_each_key_is_resolved_on_its_own() -> None:
    # GIVEN a subnet at the server, an instance type at the wave, DRS options at the defaults
    document = {
        "planId": "p",
        "defaults": {
            "launchSettings": {
                "copyTags": True,
                "launchDisposition": "STOPPED",
                "licensing": {"osByol": True},
                "instanceType": "t3.small",
                "drill": {"launchDisposition": "STARTED"},
            }
        },
        "waves": [
            {
                "waveId": "db",
                "launchSettings": {"instanceType": "r5.xlarge", "targetInstanceTypeRightSizingMethod": "NONE"},
                "servers": [
                    {
                        "sourceServerID": SERVER,
                        "launchSettings": {
                            "subnetId": "subnet-0123456789abcdef0",
                            "securityGroupIds": ["sg-01234567", "sg-0123456789abcdef0"],
                            "privateIp": "10.0.1.20",
                            "copyPrivateIp": False,
                        },
                    }
                ],
            }
        ],
    }
    plan = parse_plan(document)

    # WHEN the server's settings are computed in each mode
    recovery = effective_launch_settings(plan, "db", SERVER, Mode.RECOVERY)
    drill = effective_launch_settings(plan, "db", SERVER, Mode.DRILL)

    # THEN every key comes from its nearest level, and only the drill's disposition differs
    assert recovery == LaunchSettings(
        subnet_id="subnet-0123456789abcdef0",
        security_group_ids=["sg-01234567", "sg-0123456789abcdef0"],
        private_ip="10.0.1.20",
        instance_type="r5.xlarge",
        copy_private_ip=False,
        copy_tags=True,
        launch_disposition=LaunchDisposition.STOPPED,
        target_instance_type_right_sizing_method=RightSizingMethod.NONE,
        licensing={"osByol": True},
    )
    assert drill == recovery.model_copy(update={"launch_disposition": LaunchDisposition.STARTED})
    assert recovery.launch_configuration_update() == {
        "copyPrivateIp": False,
        "copyTags": True,
        "launchDisposition": "STOPPED",
        "targetInstanceTypeRightSizingMethod": "NONE",
        "licensing": {"osByol": True},
    }


def test_tags_merge_per_tag_key_nearest_winning() -> None:
    # GIVEN tags at every level, and a drill tag at the server
    document = {
        "planId": "p",
        "defaults": {"launchSettings": {"tags": {"Env": "dr", "Owner": "ops"}}},
        "waves": [
            {
                "waveId": "db",
                "launchSettings": {"tags": {"Owner": "dba"}},
                "servers": [
                    {
                        "sourceServerID": SERVER,
                        "launchSettings": {"tags": {"Role": 1}, "drill": {"tags": {"Env": "drill"}}},
                    }
                ],
            }
        ],
    }
    plan = parse_plan(document)

    # WHEN the server's settings are computed in each mode
    recovery = effective_launch(plan, "db", SERVER, Mode.RECOVERY)
    drill = effective_launch(plan, "db", SERVER, Mode.DRILL)

    # THEN the tags are merged key by key (YAML numbers become strings), with where each comes from
    assert recovery.settings.tags == {"Env": "dr", "Owner": "dba", "Role": "1"}
    assert drill.settings.tags == {"Env": "drill", "Owner": "dba", "Role": "1"}
    assert dict(drill.origins) == {
        "tags.Env": "waves[0].servers[0].launchSettings.drill.tags.Env",
        "tags.Owner": "waves[0].launchSettings.tags.Owner",
        "tags.Role": "waves[0].servers[0].launchSettings.tags.Role",
    }


@pytest.mark.parametrize(
    "path",
    sorted(p for p in EXAMPLES.glob("*.yaml") if p.name not in {"three-tier.yaml", "three-tier-runbooks.yaml"}),
    ids=lambda path: path.name,
)
def test_a_plan_without_launch_settings_changes_nothing(path: Path) -> None:
    # GIVEN an example plan without launch settings (all but the two three-tier ones)
    plan = load_plan(path)

    # WHEN / THEN every server's effective settings are empty in both modes, and the document has no new key
    assert not has_launch_settings(plan)
    for mode in Mode:
        launches = effective_launches(plan, mode)
        assert [launch.source_server_id for launch in launches] == [s for w in plan.waves for s in w.server_ids]
        assert all(launch.settings.is_empty and not launch.origins for launch in launches)
        assert all(launch.settings.launch_configuration_update() == {} for launch in launches)
    assert "launchSettings" not in json.dumps(plan_to_document(plan))


def test_launch_settings_round_trip_through_the_document() -> None:
    # GIVEN a plan with settings at every level
    plan = parse_plan(
        _plan_with(set(SLOTS)) | {"defaults": {"launchSettings": {"subnetId": SUBNETS["defaults"], "tags": {"a": "b"}}}}
    )

    # WHEN it is written out and read back
    document = plan_to_document(plan)

    # THEN it is the same plan, and the document holds only what was set
    assert parse_plan(json.loads(json.dumps(document))) == plan
    assert has_launch_settings(plan)
    assert document["defaults"]["launchSettings"] == {"subnetId": SUBNETS["defaults"], "tags": {"a": "b"}}
    assert document["waves"][0]["servers"][0]["launchSettings"] == {
        "subnetId": SUBNETS["server"],
        "drill": {"subnetId": SUBNETS["server.drill"]},
    }


def test_effective_settings_of_an_unknown_wave_or_server_is_a_key_error() -> None:
    plan = parse_plan(_plan_with({"wave"}))
    with pytest.raises(KeyError, match="no wave 'nope'"):
        effective_launch_settings(plan, "nope", SERVER, Mode.DRILL)
    with pytest.raises(KeyError, match="no server 's-00000000000000009' in wave 'db'"):
        effective_launch_settings(plan, "db", server_id(9), Mode.DRILL)


# ---- static checks: exact text and line ---------------------------------------------------------------


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, source="p.yaml")
    return [str(problem) for problem in caught.value.problems]


def _codes(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, source="p.yaml")
    return [problem.code for problem in caught.value.problems]


def _one_server(settings: str, *, wave: str = "", defaults: str = "") -> str:
    """A plan text: `defaults` under defaults.launchSettings (line 4 on), `wave` under the wave's
    launchSettings, `settings` under the server's launchSettings (each an indented YAML block)."""
    text = "planId: p\n"
    if defaults:
        text += "defaults:\n  launchSettings:\n" + _indent(defaults, 4)
    text += "waves:\n  - waveId: db\n"
    if wave:
        text += "    launchSettings:\n" + _indent(wave, 6)
    text += f"    servers:\n      - sourceServerID: {SERVER}\n"
    if settings:
        text += "        launchSettings:\n" + _indent(settings, 10)
    return text


def _indent(block: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in block.strip("\n").splitlines())


SERVER_PATH = "waves[0].servers[0].launchSettings"

MALFORMED = [
    (
        "subnetId: subnet-12345",
        f"p.yaml:7: {SERVER_PATH}.subnetId (wave db): malformed subnet id 'subnet-12345' (expected 'subnet-' and 8 "
        "or 17 hex digits)",
        "invalid-subnet-id",
    ),
    (
        "subnetId: subnet-0123456789ABCDEF0",
        f"p.yaml:7: {SERVER_PATH}.subnetId (wave db): malformed subnet id 'subnet-0123456789ABCDEF0' (expected "
        "'subnet-' and 8 or 17 hex digits)",
        "invalid-subnet-id",
    ),
    (
        "securityGroupIds: [sg-01234567, sg-xyz]",
        f"p.yaml:7: {SERVER_PATH}.securityGroupIds[1] (wave db): malformed security group id 'sg-xyz' (expected "
        "'sg-' and 8 or 17 hex digits)",
        "invalid-security-group-id",
    ),
    (
        "securityGroupIds: [sg-00000001, sg-00000002, sg-00000003, sg-00000004, sg-00000005, sg-00000006]",
        f"p.yaml:7: {SERVER_PATH}.securityGroupIds (wave db): securityGroupIds needs 1 to 5 security group ids, not 6",
        "invalid-security-group-id",
    ),
    (
        "securityGroupIds: []",
        f"p.yaml:7: {SERVER_PATH}.securityGroupIds (wave db): securityGroupIds needs 1 to 5 security group ids, not 0",
        "invalid-security-group-id",
    ),
    (
        "securityGroupIds: [sg-01234567, sg-01234567]",
        f"p.yaml:7: {SERVER_PATH}.securityGroupIds (wave db): security group 'sg-01234567' is listed twice",
        "invalid-security-group-id",
    ),
    (
        "subnetId: subnet-01234567\nprivateIp: 10.0.1.256",
        f"p.yaml:8: {SERVER_PATH}.privateIp (wave db): malformed IPv4 address '10.0.1.256' (expected four numbers "
        "0-255, e.g. 10.0.1.20)",
        "invalid-private-ip",
    ),
    (
        "subnetId: subnet-01234567\nprivateIp: 10.0.01.2",
        f"p.yaml:8: {SERVER_PATH}.privateIp (wave db): malformed IPv4 address '10.0.01.2' (expected four numbers "
        "0-255, e.g. 10.0.1.20)",
        "invalid-private-ip",
    ),
    (
        "subnetId: subnet-01234567\nprivateIp: 127.0.0.1",
        f"p.yaml:8: {SERVER_PATH}.privateIp (wave db): '127.0.0.1' is a loopback address, not one a network "
        "interface can have",
        "invalid-private-ip",
    ),
    (
        "subnetId: subnet-01234567\nprivateIp: 169.254.0.9",
        f"p.yaml:8: {SERVER_PATH}.privateIp (wave db): '169.254.0.9' is a link-local address, not one a network "
        "interface can have",
        "invalid-private-ip",
    ),
    (
        "instanceType: m5large",
        f"p.yaml:7: {SERVER_PATH}.instanceType (wave db): malformed instance type 'm5large' (expected EC2's "
        "family.size, e.g. 'm5.large')",
        "invalid-instance-type",
    ),
    (
        "instanceType: M5.Large",
        f"p.yaml:7: {SERVER_PATH}.instanceType (wave db): malformed instance type 'M5.Large' (expected EC2's "
        "family.size, e.g. 'm5.large')",
        "invalid-instance-type",
    ),
    (
        "launchDisposition: RUNNING",
        f"p.yaml:7: {SERVER_PATH}.launchDisposition (wave db): launchDisposition: input should be 'STOPPED' or "
        "'STARTED' (got 'RUNNING')",
        "invalid-value",
    ),
    (
        "targetInstanceTypeRightSizingMethod: ADVANCED",
        f"p.yaml:7: {SERVER_PATH}.targetInstanceTypeRightSizingMethod (wave db): "
        "targetInstanceTypeRightSizingMethod: input should be 'NONE', 'BASIC' or 'IN_AWS' (got 'ADVANCED')",
        "invalid-value",
    ),
    (
        "subnet: subnet-01234567",
        f"p.yaml:7: {SERVER_PATH}.subnet (wave db): unknown field 'subnet' (did you mean 'subnetId'?)",
        "unknown-field",
    ),
    (
        "licensing: {osByol: maybe}",
        f"p.yaml:7: {SERVER_PATH}.licensing.osByol (wave db): osByol: input should be a valid boolean, unable to "
        "interpret input (got 'maybe')",
        "invalid-value",
    ),
    (
        "drill:\n  drill: {subnetId: subnet-01234567}",
        f"p.yaml:8: {SERVER_PATH}.drill.drill (wave db): unknown field 'drill' (known: subnetId, securityGroupIds, "
        "instanceType, copyPrivateIp, copyTags, launchDisposition, targetInstanceTypeRightSizingMethod, licensing, "
        "tags, privateIp)",
        "unknown-field",
    ),
    (
        "tags: {'AWS:team': x}",
        f"p.yaml:7: {SERVER_PATH}.tags.AWS:team (wave db): tag key 'AWS:team' starts with 'aws:', which AWS reserves "
        "for its own tags",
        "invalid-tag",
    ),
    (
        f"tags: {{{'k' * 128}: x}}",
        f"p.yaml:7: {SERVER_PATH}.tags.{'k' * 128} (wave db): tag key '{'k' * 77}...' has 128 characters (at most 127)",
        "invalid-tag",
    ),
    (
        f"tags: {{k: {'v' * 256}}}",
        f"p.yaml:7: {SERVER_PATH}.tags.k (wave db): a tag value of 256 characters (at most 255)",
        "invalid-tag",
    ),
    (
        "tags: {" + ", ".join(f"k{n}: v" for n in range(51)) + "}",
        f"p.yaml:7: {SERVER_PATH}.tags (wave db): at most 50 tags, not 51 (EC2's limit per instance)",
        "invalid-tag",
    ),
]


@pytest.mark.parametrize(("settings", "expected", "code"), MALFORMED, ids=[case[0][:40] for case in MALFORMED])
def test_malformed_values_are_refused_on_their_line(settings: str, expected: str, code: str) -> None:
    # GIVEN a server whose launch settings hold one malformed value
    text = _one_server(settings)

    # WHEN / THEN the plan is refused with exactly that problem, on the value's line
    assert _problems(text) == [expected]
    assert _codes(text) == [code]


def test_licensing_needs_os_byol() -> None:
    # GIVEN licensing with a misspelt key
    text = _one_server("licensing: {byol: true}")

    # WHEN / THEN the key is unknown, and osByol is missing
    assert _problems(text) == [
        f"p.yaml:7: {SERVER_PATH}.licensing.osByol (wave db): missing required field 'osByol'",
        f"p.yaml:7: {SERVER_PATH}.licensing.byol (wave db): unknown field 'byol' (did you mean 'osByol'?)",
    ]


def test_a_static_ip_for_a_wave_or_the_defaults_is_refused_where_it_is() -> None:
    # GIVEN privateIp at the defaults (in a drill block) and at a wave
    text = _one_server(
        "",
        wave="subnetId: subnet-01234567\nprivateIp: 10.0.0.5",
        defaults="drill:\n  privateIp: 10.0.0.6",
    )

    # WHEN / THEN each is refused on its own line
    why = (
        "privateIp is set per server (a static IP belongs to one server): give it under servers[].launchSettings, "
        "not for a wave or the plan defaults"
    )
    assert _problems(text) == [
        f"p.yaml:5: defaults.launchSettings.drill.privateIp: {why}",
        f"p.yaml:10: waves[0].launchSettings.privateIp (wave db): {why}",
    ]
    assert set(_codes(text)) == {"invalid-private-ip"}


def test_a_static_ip_with_copy_private_ip_is_a_contradiction_naming_where_the_copy_is() -> None:
    # GIVEN copyPrivateIp at the defaults and a static IP at the server
    text = _one_server(
        "privateIp: 10.0.0.5",
        defaults="subnetId: subnet-01234567\ncopyPrivateIp: true",
    )

    # WHEN / THEN the server's privateIp line carries the problem, naming the defaults' copyPrivateIp
    assert _problems(text) == [
        f"p.yaml:11: {SERVER_PATH}.privateIp (wave db): server '{SERVER}': privateIp '10.0.0.5' contradicts "
        "copyPrivateIp: true (defaults.launchSettings.copyPrivateIp) (a recovery instance gets a static IP or its "
        "source server's IP, not both; set copyPrivateIp: false for this server)"
    ]
    assert _codes(text) == ["private-ip-with-copy"]


def test_a_static_ip_without_a_subnet_is_refused() -> None:
    # GIVEN a static IP and no subnet at any level
    text = _one_server("privateIp: 10.0.0.5\ninstanceType: m5.large")

    # WHEN / THEN
    assert _problems(text) == [
        f"p.yaml:7: {SERVER_PATH}.privateIp (wave db): server '{SERVER}': privateIp '10.0.0.5' needs a subnetId (a "
        "static IP lies in one subnet; none is set for the server, its wave or the plan defaults)"
    ]
    assert _codes(text) == ["private-ip-without-subnet"]


def test_a_drill_only_problem_says_so_and_one_of_both_modes_is_reported_once() -> None:
    # GIVEN a drill block that turns copyPrivateIp on, and a static IP with no subnet in either mode
    text = _one_server("privateIp: 10.0.0.5\ndrill:\n  copyPrivateIp: true")

    # WHEN / THEN the subnet problem is reported once, and the contradiction only for drills
    assert _problems(text) == [
        f"p.yaml:7: {SERVER_PATH}.privateIp (wave db): server '{SERVER}': privateIp '10.0.0.5' needs a subnetId (a "
        "static IP lies in one subnet; none is set for the server, its wave or the plan defaults)",
        f"p.yaml:7: {SERVER_PATH}.privateIp (wave db): in a drill, server '{SERVER}': privateIp '10.0.0.5' "
        f"contradicts copyPrivateIp: true ({SERVER_PATH}.drill.copyPrivateIp) (a recovery instance gets a static IP "
        "or its source server's IP, not both; set copyPrivateIp: false for this server)",
    ]


def test_an_instance_type_that_right_sizing_overrides_is_refused() -> None:
    # GIVEN an instance type at the server and BASIC right-sizing at the wave
    text = _one_server("instanceType: c5.large", wave="targetInstanceTypeRightSizingMethod: BASIC")

    # WHEN / THEN
    assert _problems(text) == [
        f"p.yaml:9: {SERVER_PATH}.instanceType (wave db): server '{SERVER}': instanceType 'c5.large' is overridden "
        "by targetInstanceTypeRightSizingMethod BASIC (waves[0].launchSettings.targetInstanceTypeRightSizingMethod), "
        "which lets DRS choose the instance type (set it to NONE to launch the instanceType)"
    ]
    assert _codes(text) == ["instance-type-right-sized"]


def test_too_many_tags_over_the_levels_together() -> None:
    # GIVEN 30 tags at the defaults and 21 others at the server (each level within the limit)
    text = _one_server(
        "tags: {" + ", ".join(f"s{n}: v" for n in range(21)) + "}",
        defaults="tags: {" + ", ".join(f"d{n}: v" for n in range(30)) + "}",
    )

    # WHEN / THEN the server's tags line has the problem
    assert _problems(text) == [
        f"p.yaml:10: {SERVER_PATH}.tags (wave db): server '{SERVER}': its recovery instance gets 51 tags from the "
        "plan's levels together (at most 50 per EC2 instance)"
    ]
    assert _codes(text) == ["too-many-tags"]


def _two_servers(first: str, second: str, *, second_wave: bool = False, defaults: str = "") -> str:
    text = "planId: p\n"
    if defaults:
        text += "defaults:\n  launchSettings:\n" + _indent(defaults, 4)
    text += "waves:\n  - waveId: db\n    servers:\n"
    text += f"      - sourceServerID: {server_id(1)}\n        launchSettings:\n" + _indent(first, 10)
    if second_wave:
        text += "  - waveId: app\n    servers:\n"
    text += f"      - sourceServerID: {server_id(2)}\n        launchSettings:\n" + _indent(second, 10)
    return text


def test_the_same_static_ip_twice_in_one_subnet_names_both_servers() -> None:
    # GIVEN two servers of two waves asking for one IP in the defaults' subnet
    text = _two_servers(
        "privateIp: 10.0.0.5", "privateIp: 10.0.0.5", second_wave=True, defaults="subnetId: subnet-01234567"
    )

    # WHEN / THEN the second one's line has the problem, naming the first
    assert _problems(text) == [
        "p.yaml:15: waves[1].servers[0].launchSettings.privateIp (wave app): server 's-00000000000000002' asks for "
        "privateIp '10.0.0.5' in subnet 'subnet-01234567', as server 's-00000000000000001' of wave 'db' does "
        "(waves[0].servers[0].launchSettings.privateIp): one address, one network interface"
    ]
    assert _codes(text) == ["duplicate-private-ip"]


def test_the_same_static_ip_in_two_subnets_is_fine() -> None:
    # GIVEN one IP in two different subnets
    text = _two_servers(
        "subnetId: subnet-0000000a\nprivateIp: 10.0.0.5", "subnetId: subnet-0000000b\nprivateIp: 10.0.0.5"
    )

    # WHEN / THEN the plan is valid
    assert parse_plan(text).waves[0].server_ids == [server_id(1), server_id(2)]


def test_two_recovery_subnets_mapped_to_one_drill_subnet_collide_only_in_a_drill() -> None:
    # GIVEN one IP in two recovery subnets, and one drill subnet for every server
    text = _two_servers(
        "subnetId: subnet-0000000a\nprivateIp: 10.0.0.5",
        "subnetId: subnet-0000000b\nprivateIp: 10.0.0.5",
        defaults="drill: {subnetId: subnet-000000dd}",
    )

    # WHEN / THEN the collision is a drill problem
    assert _problems(text) == [
        "p.yaml:15: waves[0].servers[1].launchSettings.privateIp (wave db): in a drill, server 's-00000000000000002' "
        "asks for privateIp '10.0.0.5' in subnet 'subnet-000000dd', as server 's-00000000000000001' of wave 'db' "
        "does (waves[0].servers[0].launchSettings.privateIp): one address, one network interface"
    ]


def test_launch_problems_are_reported_with_the_structure_problems_of_other_waves() -> None:
    # GIVEN a duplicate IP in one wave and a malformed server id in another
    document: dict[str, Any] = {
        "planId": "p",
        "defaults": {"launchSettings": {"subnetId": "subnet-01234567"}},
        "waves": [
            {
                "waveId": "db",
                "servers": [
                    {"sourceServerID": server_id(n), "launchSettings": {"privateIp": "10.0.0.5"}} for n in (1, 2)
                ],
            },
            {"waveId": "app", "servers": ["nope"]},
        ],
    }

    # WHEN it is checked
    plan, problems = check_plan(document)

    # THEN both are reported at once
    assert plan is None
    assert [(problem.code, problem.path) for problem in problems] == [
        ("invalid-server-id", "waves[1].servers[0]"),
        ("duplicate-private-ip", "waves[0].servers[1].launchSettings.privateIp"),
    ]


def test_plan_model_validate_runs_the_launch_checks_too() -> None:
    # GIVEN a stored document with a static IP and no subnet, validated straight through the model
    document = _plan_with(set())
    document["waves"][0]["servers"][0]["launchSettings"] = {"privateIp": "10.0.0.5"}

    # WHEN / THEN the model refuses it
    from orchestrator.domain.plan import Plan

    with pytest.raises(ValueError, match=r"privateIp '10\.0\.0\.5' needs a subnetId"):
        Plan.model_validate(document)


_LAUNCH_KEYS = st.sampled_from(
    [
        "subnetId",
        "securityGroupIds",
        "privateIp",
        "instanceType",
        "copyPrivateIp",
        "copyTags",
        "launchDisposition",
        "targetInstanceTypeRightSizingMethod",
        "licensing",
        "osByol",
        "tags",
        "drill",
        "x",
    ]
)
_LAUNCH_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 300)
    | st.sampled_from(["subnet-0000000a", "subnet-0000000b", "sg-0000000a", "10.0.0.5", "10.0.0.6", "m5.large"])
    | st.sampled_from(["STARTED", "BASIC", "NONE", "aws:x", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_LAUNCH_KEYS, inner, max_size=4),
    max_leaves=15,
)
_SETTINGS = st.dictionaries(_LAUNCH_KEYS, _LAUNCH_VALUES, max_size=5) | _LAUNCH_VALUES


@settings(max_examples=200, deadline=None)
@given(defaults=_SETTINGS, wave=_SETTINGS, first=_SETTINGS, second=_SETTINGS)
def test_check_plan_never_raises_on_junk_launch_settings(defaults: Any, wave: Any, first: Any, second: Any) -> None:
    # GIVEN arbitrary content where launch settings go, at every level
    document = {
        "planId": "p",
        "defaults": {"launchSettings": defaults},
        "waves": [
            {
                "waveId": "db",
                "launchSettings": wave,
                "servers": [
                    {"sourceServerID": server_id(1), "launchSettings": first},
                    {"sourceServerID": server_id(2), "launchSettings": second},
                ],
            }
        ],
    }

    # WHEN it is checked
    plan, problems = check_plan(document)

    # THEN a plan or problems, never an exception; a valid plan's settings compute in both modes
    assert (plan is None) == bool(problems)
    if plan is not None:
        for mode in Mode:
            assert len(effective_launches(plan, mode)) == 2


def test_the_three_tier_example_recovers_on_its_network_and_drills_on_the_drill_network() -> None:
    # GIVEN the three-tier example: a recovery subnet and a drill subnet for every server, per-tier groups, the
    # database primary's static IP
    plan = load_plan(EXAMPLES / "three-tier.yaml")

    # WHEN its effective settings are computed in each mode
    recovery = {launch.source_server_id: launch.settings for launch in effective_launches(plan, Mode.RECOVERY)}
    drill = {launch.source_server_id: launch.settings for launch in effective_launches(plan, Mode.DRILL)}

    # THEN a recovery lands on the recovery network, a drill on the drill network, the primary on 10.0.1.10 in both
    primary, application = "s-1000000000000000a", "s-2000000000000000a"
    assert (recovery[primary].subnet_id, recovery[primary].security_group_ids, recovery[primary].private_ip) == (
        "subnet-0a00000000000a001",
        ["sg-0a00000000000a001"],
        "10.0.1.10",
    )
    assert (drill[primary].subnet_id, drill[primary].security_group_ids, drill[primary].private_ip) == (
        "subnet-0d00000000000d001",
        ["sg-0d00000000000d001"],
        "10.0.1.10",
    )
    assert (recovery[application].security_group_ids, drill[application].security_group_ids) == (
        ["sg-0a00000000000a002"],
        ["sg-0d00000000000d002"],
    )
    assert all(settings.tags == {"recovered-by": "drs-orch"} for settings in drill.values())
