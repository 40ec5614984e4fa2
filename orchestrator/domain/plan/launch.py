"""Launch settings: where and how each server's recovery instance comes up (subnet, security groups, static
private IP, instance type, DRS launch options, extra tags), and which of them apply in a drill.

Settings are given at three levels, each as `launchSettings`: the plan `defaults`, a wave, and a server
(`privateIp` only there: a static IP belongs to one server). Every key left out everywhere keeps what the
server's DRS launch configuration and EC2 launch template already say. For a key, the nearest level that
sets it wins: server over wave over defaults. `tags` merge per tag key instead (the nearest level's value of
a tag key wins): the defaults can tag every recovery instance and a server add its own.

Each level's `launchSettings` may hold a `drill` block with the same keys, used only in DRILL mode. In a
drill, every drill value beats every base value, whatever their levels: the order is server drill, wave
drill, defaults drill, then server, wave, defaults. So a drill network declared once (e.g. a drill subnet
and security groups at the plan defaults) holds for every server, even one whose own base settings name a
recovery subnet: as with SRM's test-network mappings, a drill must never land on the production network
because one server pinned its recovery subnet. A key that no drill block sets falls back to the base
settings (a server's static `privateIp` is kept in a drill unless a drill block gives another one: an
isolated drill network often mirrors production's addresses; the preflight checks it lies in the subnet).

`effective_launch_settings` computes what one server gets in a mode; `launch_problems` is the static check
(no AWS) of what the settings ask together: a static IP with `copyPrivateIp`, a static IP without a subnet,
an instance type that right-sizing would override, too many tags, and two servers asking for one IP in one
subnet. Well-formedness of each value (ids, addresses, instance types, tags) is checked by the model.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from events.models import Mode
from orchestrator.domain.plan.base import PlanModel, scalar_to_str
from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.suggest import quote

if TYPE_CHECKING:
    from orchestrator.domain.plan.model import Plan, PlanDefaults, Server, Wave

SUBNET_ID_PATTERN = r"^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$"
SECURITY_GROUP_ID_PATTERN = r"^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$"
#: EC2's `family.size` (every type in botocore's ec2 InstanceType enum has it: `m5.large`, `u-6tb1.metal`,
#: `c7i-flex.2xlarge`, `r8gd.metal-48xl`); the types offered in a zone are the preflight's to check.
INSTANCE_TYPE_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_INSTANCE_TYPE_CHARS = 64
#: Security groups per network interface (EC2's default quota).
MAX_SECURITY_GROUPS = 5
#: EC2 tag limits: tags per resource, key and value length; keys starting `aws:` (any case) are AWS's.
MAX_INSTANCE_TAGS = 50
MAX_TAG_KEY_CHARS = 127
MAX_TAG_VALUE_CHARS = 255
RESERVED_TAG_PREFIX = "aws:"

#: Where the plan's defaults keep their launch settings (the path problems name).
DEFAULTS_PATH = "defaults.launchSettings"


class LaunchDisposition(StrEnum):
    """The state of the recovery instance after launch (DRS `launchDisposition`)."""

    STOPPED = "STOPPED"
    STARTED = "STARTED"


class RightSizingMethod(StrEnum):
    """DRS `targetInstanceTypeRightSizingMethod`: NONE keeps the launch template's instance type; BASIC and
    IN_AWS let DRS choose one from the source server's CPU and memory (overriding `instanceType`)."""

    NONE = "NONE"
    BASIC = "BASIC"
    IN_AWS = "IN_AWS"


class Licensing(PlanModel):
    """DRS `licensing`: bring your own operating-system licence, or use AWS's."""

    os_byol: bool = Field(description="Bring your own licence for the operating system.")


def _resource_id(prefix: str, pattern: str, what: str) -> Any:
    def check(value: str) -> str:
        if re.fullmatch(pattern, value) is None:
            msg = f"malformed {what} '{quote(value)}' (expected '{prefix}' and 8 or 17 hex digits)"
            raise ValueError(msg)
        return value

    return AfterValidator(check)


SubnetId = Annotated[str, _resource_id("subnet-", SUBNET_ID_PATTERN, "subnet id")]
SecurityGroupId = Annotated[str, _resource_id("sg-", SECURITY_GROUP_ID_PATTERN, "security group id")]


def _private_ip(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        msg = f"malformed IPv4 address '{quote(value)}' (expected four numbers 0-255, e.g. 10.0.1.20)"
        raise ValueError(msg) from None
    kinds = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
    )
    kind = next((name for name, yes in kinds if yes), None)
    if kind is not None:
        msg = f"'{value}' is a {kind} address, not one a network interface can have"
        raise ValueError(msg)
    return str(address)


PrivateIp = Annotated[str, AfterValidator(_private_ip)]


def _instance_type(value: str) -> str:
    if len(value) > MAX_INSTANCE_TYPE_CHARS or re.fullmatch(INSTANCE_TYPE_PATTERN, value) is None:
        msg = f"malformed instance type '{quote(value)}' (expected EC2's family.size, e.g. 'm5.large')"
        raise ValueError(msg)
    return value


InstanceType = Annotated[str, AfterValidator(_instance_type)]


def _tag_key(value: str) -> str:
    if not value:
        msg = "a tag key cannot be empty"
        raise ValueError(msg)
    if len(value) > MAX_TAG_KEY_CHARS:
        msg = f"tag key '{quote(value)}' has {len(value)} characters (at most {MAX_TAG_KEY_CHARS})"
        raise ValueError(msg)
    if value.casefold().startswith(RESERVED_TAG_PREFIX):
        msg = f"tag key '{quote(value)}' starts with '{RESERVED_TAG_PREFIX}', which AWS reserves for its own tags"
        raise ValueError(msg)
    return value


def _tag_value(value: str) -> str:
    if len(value) > MAX_TAG_VALUE_CHARS:
        msg = f"a tag value of {len(value)} characters (at most {MAX_TAG_VALUE_CHARS})"
        raise ValueError(msg)
    return value


InstanceTagKey = Annotated[str, AfterValidator(_tag_key)]
InstanceTagValue = Annotated[str, BeforeValidator(scalar_to_str), AfterValidator(_tag_value)]


class _LaunchKeys(PlanModel):
    """The keys of every level but `privateIp`."""

    subnet_id: SubnetId | None = Field(
        None,
        description="The subnet of the recovery instance's network interface ('subnet-' and 8 or 17 hex digits).",
        json_schema_extra={"pattern": SUBNET_ID_PATTERN},
    )
    security_group_ids: list[SecurityGroupId] | None = Field(
        None,
        description=f"The security groups of its network interface (1 to {MAX_SECURITY_GROUPS}, in the subnet's VPC).",
        json_schema_extra={"minItems": 1, "maxItems": MAX_SECURITY_GROUPS, "uniqueItems": True},
    )
    instance_type: InstanceType | None = Field(
        None,
        description="EC2 instance type, e.g. 'm5.large' (needs targetInstanceTypeRightSizingMethod NONE).",
        json_schema_extra={"pattern": INSTANCE_TYPE_PATTERN},
    )
    copy_private_ip: bool | None = Field(
        None, description="DRS copyPrivateIp: give the recovery instance its source server's private IP."
    )
    copy_tags: bool | None = Field(
        None, description="DRS copyTags: copy the source server's tags to the recovery instance."
    )
    launch_disposition: LaunchDisposition | None = Field(
        None, description="DRS launchDisposition: the instance's state after launch."
    )
    target_instance_type_right_sizing_method: RightSizingMethod | None = Field(
        None, description="DRS targetInstanceTypeRightSizingMethod (NONE keeps instanceType)."
    )
    licensing: Licensing | None = Field(None, description="DRS licensing.")
    tags: dict[InstanceTagKey, InstanceTagValue] | None = Field(
        None,
        description=(
            f"Extra tags of the recovery instance (at most {MAX_INSTANCE_TAGS} over all levels; keys of at most "
            f"{MAX_TAG_KEY_CHARS} characters, not starting '{RESERVED_TAG_PREFIX}'; values of at most "
            f"{MAX_TAG_VALUE_CHARS}). Merged per tag key over the levels, the nearest winning."
        ),
        json_schema_extra={"maxProperties": MAX_INSTANCE_TAGS},
    )

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not 1 <= len(value) <= MAX_SECURITY_GROUPS:
            msg = f"securityGroupIds needs 1 to {MAX_SECURITY_GROUPS} security group ids, not {len(value)}"
            raise ValueError(msg)
        twice = next((group for position, group in enumerate(value) if group in value[:position]), None)
        if twice is not None:
            msg = f"security group '{twice}' is listed twice"
            raise ValueError(msg)
        return value

    @field_validator("tags")
    @classmethod
    def _tag_count(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_INSTANCE_TAGS:
            msg = f"at most {MAX_INSTANCE_TAGS} tags, not {len(value)} (EC2's limit per instance)"
            raise ValueError(msg)
        return value


class LaunchSettings(_LaunchKeys):
    """Launch settings of a server's recovery instance (a server's `drill` block has these keys); a key left
    out keeps what DRS has."""

    # Also the type of a server's effective settings (`effective_launch_settings`).

    private_ip: PrivateIp | None = Field(
        None,
        description=(
            "Static private IPv4 address of the recovery instance, in subnetId's CIDR (per server only; not with "
            "copyPrivateIp: true)."
        ),
    )

    @property
    def is_empty(self) -> bool:
        """Nothing set: the server launches exactly as its DRS launch settings stand."""
        return all(getattr(self, name) is None for name in LaunchSettings.model_fields)

    def launch_configuration_update(self) -> dict[str, Any]:
        """The arguments of DRS UpdateLaunchConfiguration (but `sourceServerID`) these settings give: only
        those set, under botocore's names."""
        update = {
            "copyPrivateIp": self.copy_private_ip,
            "copyTags": self.copy_tags,
            "launchDisposition": None if self.launch_disposition is None else self.launch_disposition.value,
            "targetInstanceTypeRightSizingMethod": (
                None
                if self.target_instance_type_right_sizing_method is None
                else self.target_instance_type_right_sizing_method.value
            ),
            "licensing": None if self.licensing is None else {"osByol": self.licensing.os_byol},
        }
        return {key: value for key, value in update.items() if value is not None}


def _private_ip_per_server(value: str | None) -> str | None:
    if value is not None:
        msg = (
            "privateIp is set per server (a static IP belongs to one server): give it under "
            "servers[].launchSettings, not for a wave or the plan defaults"
        )
        raise ValueError(msg)
    return value


class SharedLaunchSettings(_LaunchKeys):
    """Launch settings shared by several servers (a wave's, the plan defaults'): every key but privateIp.
    The `drill` block of a wave or of the defaults."""

    private_ip: SkipJsonSchema[Annotated[str | None, AfterValidator(_private_ip_per_server)]] = None


class WaveLaunchSettings(SharedLaunchSettings):
    """A wave's or the plan defaults' `launchSettings`, with the overrides used in drills."""

    drill: SharedLaunchSettings | None = Field(
        None, description="Used in DRILL mode over every level's base settings (e.g. an isolated subnet)."
    )


class ServerLaunchSettings(LaunchSettings):
    """A server's `launchSettings`, with the overrides used in drills."""

    drill: LaunchSettings | None = Field(
        None, description="Used in DRILL mode over every level's base settings (e.g. the drill network's IP)."
    )


#: Every key of the effective settings, as (attribute, wire name), in the model's order.
LAUNCH_KEYS: tuple[tuple[str, str], ...] = tuple(
    (name, info.alias or name) for name, info in LaunchSettings.model_fields.items()
)


@dataclass(frozen=True)
class EffectiveLaunch:
    """What one server gets in one mode, and where each value comes from: `origins` maps a wire key
    (`subnetId`; `tags.KEY` per tag) to the plan path that set it (`waves[1].launchSettings.drill.subnetId`)."""

    wave_id: str
    source_server_id: str
    mode: Mode
    settings: LaunchSettings
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Level:
    path: str
    keys: _LaunchKeys


def _levels(
    defaults: PlanDefaults, wave: Wave, wave_index: int, server: Server, server_index: int, mode: Mode
) -> list[_Level]:
    """The levels that set something for `server`, nearest first (in a drill: every drill block first)."""
    wave_path = join_path("waves", wave_index, "launchSettings")
    server_path = join_path("waves", wave_index, "servers", server_index, "launchSettings")
    blocks: list[tuple[str, WaveLaunchSettings | ServerLaunchSettings | None]] = [
        (server_path, server.launch_settings),
        (wave_path, wave.launch_settings),
        (DEFAULTS_PATH, defaults.launch_settings),
    ]
    base = [_Level(path, block) for path, block in blocks if block is not None]
    if mode is not Mode.DRILL:
        return base
    drills = [
        _Level(f"{level.path}.drill", drill)
        for level in base
        if (drill := getattr(level.keys, "drill", None)) is not None
    ]
    return drills + base


def _effective(levels: list[_Level]) -> tuple[LaunchSettings, dict[str, str]]:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, wire in LAUNCH_KEYS:
        if name == "tags":
            continue
        level = next((level for level in levels if getattr(level.keys, name) is not None), None)
        if level is not None:
            values[name] = getattr(level.keys, name)
            origins[wire] = f"{level.path}.{wire}"
    tags: dict[str, str] = {}
    for level in reversed(levels):
        for key, value in (level.keys.tags or {}).items():
            tags[key] = value
            origins[f"tags.{key}"] = f"{level.path}.tags.{key}"
    if tags:
        values["tags"] = tags
    # Built without validation: the merged tags of valid levels may exceed the limit (a problem reported
    # by `launch_problems`, not an exception).
    return LaunchSettings.model_construct(_fields_set=set(values), **values), origins


def _locate(plan: Plan, wave_id: str, server_id: str) -> tuple[int, Wave, int, Server]:
    wave_index = plan.wave_ids.index(wave_id) if wave_id in plan.wave_ids else -1
    if wave_index < 0:
        msg = f"no wave '{wave_id}' in plan '{plan.plan_id}'"
        raise KeyError(msg)
    wave = plan.waves[wave_index]
    for server_index, server in enumerate(wave.servers):
        if server.source_server_id == server_id:
            return wave_index, wave, server_index, server
    msg = f"no server '{server_id}' in wave '{wave_id}' of plan '{plan.plan_id}'"
    raise KeyError(msg)


def effective_launch(plan: Plan, wave_id: str, server_id: str, mode: Mode) -> EffectiveLaunch:
    """The settings `server_id` of `wave_id` launches with in `mode`, with where each comes from.
    Raises KeyError for a wave or server the plan does not have."""
    wave_index, wave, server_index, server = _locate(plan, wave_id, server_id)
    levels = _levels(plan.defaults, wave, wave_index, server, server_index, mode)
    settings, origins = _effective(levels)
    return EffectiveLaunch(wave_id, server_id, mode, settings, origins)


def effective_launch_settings(plan: Plan, wave_id: str, server_id: str, mode: Mode) -> LaunchSettings:
    """The settings `server_id` of `wave_id` launches with in `mode` (see the module's precedence rules)."""
    return effective_launch(plan, wave_id, server_id, mode).settings


def effective_launches(plan: Plan, mode: Mode, *, wave_ids: Collection[str] | None = None) -> list[EffectiveLaunch]:
    """Every listed server's effective settings in `mode` (of the waves `wave_ids` only, when given), in plan
    order."""
    found: list[EffectiveLaunch] = []
    for wave_index, wave in enumerate(plan.waves):
        if wave_ids is not None and wave.wave_id not in wave_ids:
            continue
        for server_index, server in enumerate(wave.servers):
            settings, origins = _effective(_levels(plan.defaults, wave, wave_index, server, server_index, mode))
            found.append(EffectiveLaunch(wave.wave_id, server.source_server_id, mode, settings, origins))
    return found


def has_launch_settings(plan: Plan) -> bool:
    """Whether any level of the plan sets a launch setting (else every server launches as DRS has it)."""
    return plan.defaults.launch_settings is not None or any(
        wave.launch_settings is not None or any(server.launch_settings is not None for server in wave.servers)
        for wave in plan.waves
    )


# ---- static checks ------------------------------------------------------------------------------------


@dataclass
class _Claims:
    """Static IPs asked for so far in one mode: (subnet, ip) -> (wave id, server id, path)."""

    taken: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)


def _server_problems(wave_id: str, launch: EffectiveLaunch, claims: _Claims, tags_path: str) -> list[Problem]:
    """`tags_path`: the `tags` of the nearest level that has tags (where too many tags are reported)."""
    settings, origins, server_id = launch.settings, launch.origins, launch.source_server_id
    found: list[Problem] = []
    ip = settings.private_ip
    if ip is not None:
        ip_path = origins["privateIp"]
        if settings.copy_private_ip:
            found.append(
                Problem(
                    f"server '{server_id}': privateIp '{ip}' contradicts copyPrivateIp: true "
                    f"({origins['copyPrivateIp']}) (a recovery instance gets a static IP or its source server's IP, "
                    "not both; set copyPrivateIp: false for this server)",
                    "private-ip-with-copy",
                    wave_id,
                    ip_path,
                )
            )
        if settings.subnet_id is None:
            found.append(
                Problem(
                    f"server '{server_id}': privateIp '{ip}' needs a subnetId (a static IP lies in one subnet; none "
                    "is set for the server, its wave or the plan defaults)",
                    "private-ip-without-subnet",
                    wave_id,
                    ip_path,
                )
            )
        else:
            found.extend(_claim(claims, wave_id, server_id, settings.subnet_id, ip, ip_path))
    found.extend(_type_problems(wave_id, launch))
    tags = settings.tags or {}
    if len(tags) > MAX_INSTANCE_TAGS:
        found.append(
            Problem(
                f"server '{server_id}': its recovery instance gets {len(tags)} tags from the plan's levels together "
                f"(at most {MAX_INSTANCE_TAGS} per EC2 instance)",
                "too-many-tags",
                wave_id,
                tags_path,
            )
        )
    return found


def _type_problems(wave_id: str, launch: EffectiveLaunch) -> list[Problem]:
    settings = launch.settings
    method = settings.target_instance_type_right_sizing_method
    if settings.instance_type is None or method in (None, RightSizingMethod.NONE):
        return []
    return [
        Problem(
            f"server '{launch.source_server_id}': instanceType '{settings.instance_type}' is overridden by "
            f"targetInstanceTypeRightSizingMethod {method.value} "
            f"({launch.origins['targetInstanceTypeRightSizingMethod']}), which lets DRS choose the instance type "
            "(set it to NONE to launch the instanceType)",
            "instance-type-right-sized",
            wave_id,
            launch.origins["instanceType"],
        )
    ]


def _claim(claims: _Claims, wave_id: str, server_id: str, subnet: str, ip: str, path: str) -> list[Problem]:
    first = claims.taken.setdefault((subnet, ip), (wave_id, server_id, path))
    if first == (wave_id, server_id, path):
        return []
    first_wave, first_server, first_path = first
    return [
        Problem(
            f"server '{server_id}' asks for privateIp '{ip}' in subnet '{subnet}', as server '{first_server}' of wave "
            f"'{first_wave}' does ({first_path}): one address, one network interface",
            "duplicate-private-ip",
            wave_id,
            path,
        )
    ]


def _mode_problems(defaults: PlanDefaults, waves: Iterable[tuple[int, Wave]], mode: Mode) -> list[Problem]:
    claims = _Claims()
    found: list[Problem] = []
    for wave_index, wave in waves:
        for server_index, server in enumerate(wave.servers):
            levels = _levels(defaults, wave, wave_index, server, server_index, mode)
            settings, origins = _effective(levels)
            launch = EffectiveLaunch(wave.wave_id, server.source_server_id, mode, settings, origins)
            tags_path = next((f"{level.path}.tags" for level in levels if level.keys.tags), "")
            found.extend(_server_problems(wave.wave_id, launch, claims, tags_path))
    return found


def launch_problems(defaults: PlanDefaults, waves: Iterable[tuple[int, Wave]]) -> list[Problem]:
    """What the launch settings ask that cannot be, in either mode, without asking AWS: `waves` are
    (index in the plan, wave) of the waves to check (those that are well formed). A problem only a drill
    has starts `in a drill, `; one both modes have is reported once."""
    waves = list(waves)
    if defaults.launch_settings is None and not any(
        wave.launch_settings is not None or any(server.launch_settings is not None for server in wave.servers)
        for _, wave in waves
    ):
        return []
    recovery = _mode_problems(defaults, waves, Mode.RECOVERY)
    seen = {(problem.message, problem.path) for problem in recovery}
    drill = [
        Problem(f"in a drill, {problem.message}", problem.code, problem.wave_id, problem.path)
        for problem in _mode_problems(defaults, waves, Mode.DRILL)
        if (problem.message, problem.path) not in seen
    ]
    return recovery + drill
