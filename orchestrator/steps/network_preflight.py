"""The network checks of a plan's launch settings against the account, before anything launches.

`server_network_problems` reads what the checks need (EC2: subnets, security groups, the interfaces holding the
static IPs, the instance type offerings; DRS: the recovery instances of a server whose IP an instance's interface
holds, which DRS deletes before it launches the server again) and checks the plan's effective settings in the
execution's mode (`orchestrator.domain.plan.network_checks`). It is used:

- by the wave preflight (`orchestrator.steps.preflight`) at WaveReady, for the servers the wave launches: a
  problem fails the wave READY -> FAILED before any script or launch (an OPTIONAL server is left out instead);
- at StartPlan, for the whole plan (`network_refusal`), so a bad IP in wave 3 is refused before wave 1 launches;
- by `drs-orch validate --aws` and `--sim` (`network_problems` with the plan's lines).

A plan without launch settings costs nothing: no server asks for anything, and no AWS call is made. A read EC2
throttles or fails transiently raises (`Ec2Error.retryable`, `DrsError.retryable`): the event is delivered
again. One that fails for good (access denied) is a problem of every server with settings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from events.models import Mode
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.ec2 import Ec2Error
from orchestrator.domain.plan import EffectiveLaunch, Plan, Problem, effective_launches, has_launch_settings
from orchestrator.domain.plan.network_checks import (
    AccountNetwork,
    ServerProblem,
    addresses_to_check,
    checked_launches,
    holders,
    network_request,
    read_failure,
)
from orchestrator.domain.plan.network_checks import network_problems as check_network
from orchestrator.domain.plan.source import Lines
from orchestrator.domain.ports import DrsPort, Ec2NetworkPort
from orchestrator.domain.targets import TargetUnavailable
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps.targets import waves_by_target

#: Problems listed in a refusal's reason (the event carries the first 50, start_plan.MAX_EVENT_PROBLEMS).
REASON_PROBLEMS = 3


class NoEc2Client(RuntimeError):
    """The runtime has no EC2 adapter, and a plan asks for network settings that must be checked."""


def launches_to_check(
    plan: Plan, mode: Mode, *, wave_ids: Collection[str] | None = None, server_ids: Collection[str] | None = None
) -> list[EffectiveLaunch]:
    """The effective launches of `plan` in `mode` (of `wave_ids`, of `server_ids`: None is every one) that set a
    subnet, groups, a static IP or an instance type. A plan without launch settings has none (and is not walked:
    the wave preflight asks this for every wave, and a walk of every server of a large plan per wave is O(n²))."""
    if not has_launch_settings(plan):
        return []
    return checked_launches(
        launch
        for launch in effective_launches(plan, mode, wave_ids=wave_ids)
        if server_ids is None or launch.source_server_id in server_ids
    )


def server_network_problems(
    rt: Runtime,
    plan: Plan,
    mode: Mode,
    *,
    wave_ids: Collection[str] | None = None,
    server_ids: Collection[str] | None = None,
    lines: Lines | None = None,
    source: str | None = None,
    skip_unavailable: bool = False,
) -> list[ServerProblem]:
    """Every network problem of the servers of `wave_ids` (and `server_ids`) of `plan` in `mode`, in plan order
    within each wave target (each target's waves are checked in that account and Region: `waves_by_target`).
    Raises NoEc2Client when there is something to check and `rt.ec2` is None; a retryable EC2 or DRS error
    raises too, and a refused target role raises `TargetUnavailable` (with `skip_unavailable`, StartPlan's, that
    target's waves are not checked: each wave's preflight fails it, naming the role and the account)."""
    if not has_launch_settings(plan):
        return []
    found: list[ServerProblem] = []
    for target, ids in waves_by_target(plan, wave_ids):
        launches = launches_to_check(plan, mode, wave_ids=ids, server_ids=server_ids)
        if not launches:
            continue
        try:
            there = rt.at(target)
        except TargetUnavailable:
            if not skip_unavailable:
                raise
            continue
        found.extend(_launch_problems(there, plan, mode, launches, lines=lines, source=source))
    return found


def _launch_problems(
    rt: Runtime,
    plan: Plan,
    mode: Mode,
    launches: list[EffectiveLaunch],
    *,
    lines: Lines | None,
    source: str | None,
) -> list[ServerProblem]:
    if rt.ec2 is None:
        raise NoEc2Client("the runtime has no EC2 adapter: the plan's network settings cannot be checked")
    found = check_launches(rt.ec2, rt.drs, launches, lines=lines, source=source)
    if found:
        logger.info(
            "network settings refused",
            plan_id=plan.plan_id,
            mode=mode.value,
            problems=[(p.source_server_id, p.problem.code) for p in found],
        )
    return found


def check_launches(
    ec2: Ec2NetworkPort,
    drs: DrsPort | None,
    launches: list[EffectiveLaunch],
    *,
    lines: Lines | None = None,
    source: str | None = None,
) -> list[ServerProblem]:
    """The problems of `launches` against what `ec2` (and `drs`: None, no recovery instance frees an address)
    says; an EC2 read refused for good is a problem of every launch, a retryable one raises."""
    try:
        network = read_network(ec2, drs, launches)
    except Ec2Error as exc:
        if exc.retryable:
            raise
        logger.warning("EC2 read failed for good: network settings not checked", error=str(exc), code=exc.code)
        return read_failure(launches, str(exc), lines=lines, source=source)
    return check_network(launches, network, lines=lines, source=source)


def network_problems(rt: Runtime, plan: Plan, mode: Mode, wave_ids: Collection[str] | None = None) -> list[Problem]:
    """The plan problems of `server_network_problems` (each names wave, server, key, value and plan path)."""
    return [found.problem for found in server_network_problems(rt, plan, mode, wave_ids=wave_ids)]


def network_refusal(rt: Runtime, plan: Plan, mode: Mode) -> tuple[str, list[Problem]] | None:
    """Why StartPlan must refuse `plan` in `mode` for its network settings (the reason and every problem, each
    naming wave, server, key, value and plan path), or None when the account has what every wave asks for."""
    found = server_network_problems(rt, plan, mode, skip_unavailable=True)
    if not found:
        return None
    problems = [each.problem for each in found]
    servers = {each.source_server_id for each in found}
    first = "; ".join(f"{p.path}: {p.message}" for p in problems[:REASON_PROBLEMS])
    more = f" (and {len(problems) - REASON_PROBLEMS} more)" if len(problems) > REASON_PROBLEMS else ""
    return (
        f"launch settings refused: {len(problems)} problem(s) of {len(servers)} server(s) with the account's "
        f"network in {mode.value}: {first}{more}",
        problems,
    )


def read_network(ec2: Ec2NetworkPort, drs: DrsPort | None, launches: list[EffectiveLaunch]) -> AccountNetwork:
    """What the account has for `launches`: one read per kind (batched by the adapter), the interfaces only for
    static IPs that could be given out, the recovery instances only of servers whose IP an instance holds."""
    request = network_request(launches)
    subnets = ec2.subnets(request.subnet_ids) if request.subnet_ids else []
    groups = ec2.security_groups(request.group_ids) if request.group_ids else []
    offerings = ec2.instance_type_offerings(request.instance_types) if request.instance_types else []
    by_id = {subnet.subnet_id: subnet for subnet in subnets}
    pairs = addresses_to_check(launches, by_id)
    interfaces = []
    if pairs:
        interfaces = ec2.interfaces_with_addresses(
            sorted({subnet for subnet, _ in pairs}), sorted({ip for _, ip in pairs})
        )
    held = {sid for sid, nics in holders(launches, interfaces).items() if any(nic.instance_id for nic in nics)}
    return AccountNetwork.of(subnets, groups, interfaces, offerings, _replaced(drs, held))


def _replaced(drs: DrsPort | None, server_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Per source server, the EC2 instances of its recovery instances (DescribeRecoveryInstances): DRS deletes
    them before it launches the server again. A permanent DRS error leaves them unknown (the IP stays in use)."""
    wanted = sorted(server_ids)
    if not wanted or drs is None:
        return {}
    try:
        instances = drs.describe_recovery_instances(source_server_ids=wanted)
    except DrsError as exc:
        if exc.retryable:
            raise
        logger.warning("recovery instances unreadable: their addresses count as in use", error=str(exc))
        return {}
    found: dict[str, set[str]] = {}
    for instance in instances:
        sid, ec2_id = instance.get("sourceServerID"), instance.get("ec2InstanceID")
        if sid in wanted and ec2_id:
            found.setdefault(str(sid), set()).add(str(ec2_id))
    return {sid: frozenset(ids) for sid, ids in found.items()}
