"""The network checks before anything launches (orchestrator/steps/network_preflight.py): in the wave preflight at
WaveReady, and for a whole plan (StartPlan's `network_refusal`), against a fake EC2 and DRS."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import OPERATOR_SOURCE, Mode, PlanFailed, PreLaunchDone, StartPlan, WaveFailed, WaveReady
from events.models import Problem as EventProblem
from orchestrator.adapters.drs import DrsPermanentError
from orchestrator.adapters.ec2 import Ec2Error, Ec2Throttled
from orchestrator.domain.plan import parse_plan
from orchestrator.steps.network_preflight import NoEc2Client, network_problems, network_refusal
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, S3, World, plan, wave

VPC, OTHER_VPC = "vpc-0a0000000000000a1", "vpc-0b0000000000000b1"
DB, DRILL = "subnet-0a0000000000000a1", "subnet-0a0000000000000a2"
SG_DB, SG_FOREIGN = "sg-0a0000000000000a1", "sg-0b0000000000000b1"
READY = WaveReady(execution_id="e1", plan_id="p", wave_id="db")
AT = "waves[0].servers[0].launchSettings"


@pytest.fixture
def network(world: World) -> World:
    """The account's network: a recovery subnet (10.0.3.0/24, us-east-1a) and a drill subnet (10.0.9.0/24,
    us-east-1b) in one VPC, a group there and one in another VPC, an interface holding 10.0.3.40, m5.large in
    both zones."""
    world.ec2.add_subnet(DB, VPC, "10.0.3.0/24", "us-east-1a")
    world.ec2.add_subnet(DRILL, VPC, "10.0.9.0/24", "us-east-1b")
    world.ec2.add_group(SG_DB, VPC)
    world.ec2.add_group(SG_FOREIGN, OTHER_VPC)
    world.ec2.add_interface("eni-0000000000000000a", DB, "10.0.3.40", instance_id="i-0000000000000000a")
    world.ec2.offer("m5.large", "us-east-1a", "us-east-1b")
    return world


def _server(sid: str, **settings: Any) -> dict[str, Any]:
    return {"sourceServerID": sid, "launchSettings": settings}


def test_an_ip_taken_after_the_start_fails_the_wave_before_any_script_or_launch_naming_the_server_and_value(
    network: World,
) -> None:
    # GIVEN a started wave with a pre-launch script whose servers ask for free static IPs
    document = plan(
        wave(
            "db",
            _server(S1, subnetId=DB, privateIp="10.0.3.20"),
            _server(S2, subnetId=DB, privateIp="10.0.3.21"),
            preLaunch=[{"documentName": "Fence"}],
        )
    )
    network.ssm.add_document("Fence")
    network.start(document, mode=Mode.RECOVERY, confirm_recovery="p")
    # AND since the start, another instance's interface took the first server's IP
    network.ec2.add_interface("eni-0000000000000000b", DB, "10.0.3.20", instance_id="i-0000000000000000b")
    # WHEN the wave is ready (twice: a redelivery)
    on_wave_ready(network.rt, READY, "wr-1")
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN it failed before any script or launch, naming the server, the value and where the plan sets it
    assert network.wave_status("e1", "db") == "FAILED"
    failed = network.bus.published[0]
    assert isinstance(failed, WaveFailed)
    assert network.bus.published == [failed] * len(network.bus.published)
    assert failed.reason == (
        f"preflight failed: {S1}: privateIp '10.0.3.20' is in use in subnet '{DB}' (10.0.3.0/24) by network "
        f"interface 'eni-0000000000000000b' of instance 'i-0000000000000000b', set at {AT}.privateIp"
    )
    assert [(s.source_server_id, s.launch_status) for s in failed.failed_servers] == [(S1, "NOT_STARTED")]
    assert network.drs.started == []
    assert network.ssm.sent == []


def test_every_problem_of_a_server_is_one_reason_after_drs_own(network: World) -> None:
    # GIVEN a started server whose group was deleted since, whose IP an interface took since, and which stopped
    # replicating
    network.start(plan(wave("db", _server(S1, subnetId=DB, securityGroupIds=[SG_DB], privateIp="10.0.3.41"))))
    network.ec2.delete_group(SG_DB)
    network.ec2.add_interface("eni-0000000000000000b", DB, "10.0.3.41", instance_id="i-0000000000000000b")
    network.drs.add_source_server(S1, replication="STALLED")
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN the one server's reasons are joined: DRS's first, then the network's in key order
    [failed] = network.bus.published
    assert failed.reason == (
        f"preflight failed: {S1}: replication is STALLED, not CONTINUOUS; security group '{SG_DB}' does not exist "
        f"in this account and Region, set at {AT}.securityGroupIds[0]; privateIp '10.0.3.41' is in use in subnet "
        f"'{DB}' (10.0.3.0/24) by network interface 'eni-0000000000000000b' of instance 'i-0000000000000000b', set "
        f"at {AT}.privateIp"
    )


def test_an_optional_server_with_a_bad_setting_is_left_out_and_the_wave_goes_on(network: World) -> None:
    # GIVEN a started wave with an OPTIONAL server whose security group was deleted since the start
    optional = {**_server(S2, subnetId=DB, securityGroupIds=[SG_DB]), "criticality": "OPTIONAL"}
    network.start(plan(wave("db", _server(S1, subnetId=DB), optional)))
    network.ec2.delete_group(SG_DB)
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN the wave goes on without it, the server FAILED with its reason
    assert network.wave_status("e1", "db") == "PRE_LAUNCH"
    reason = (
        f"preflight: security group '{SG_DB}' does not exist in this account and Region, "
        "set at waves[0].servers[1].launchSettings.securityGroupIds[0]"
    )
    assert network.ledger.wave_servers("e1", "db")[S2].reason == reason
    assert [done.wave_id for done in network.published(PreLaunchDone)] == ["db"]


def test_the_drill_values_are_checked_in_a_drill(network: World) -> None:
    # GIVEN a started drill of a plan whose drill block names the drill subnet and another static IP there
    server = _server(S1, privateIp="10.0.3.20", drill={"privateIp": "10.0.9.20"})
    document = plan(wave("db", server, launchSettings={"subnetId": DB, "drill": {"subnetId": DRILL}}))
    network.start(document, mode=Mode.DRILL)
    # AND since then both addresses were taken: the recovery one in the recovery subnet, the drill one in the drill
    # subnet
    network.ec2.add_interface("eni-0000000000000000b", DB, "10.0.3.20", instance_id="i-0000000000000000b")
    network.ec2.add_interface("eni-0000000000000000c", DRILL, "10.0.9.20", instance_id="i-0000000000000000c")
    # WHEN the wave of the drill is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN it fails on the drill address alone: the recovery values are not what a drill launches with
    [failed] = network.bus.published
    assert failed.reason == (
        f"preflight failed: {S1}: privateIp '10.0.9.20' is in use in subnet '{DRILL}' (10.0.9.0/24) by network "
        f"interface 'eni-0000000000000000c' of instance 'i-0000000000000000c', set at {AT}.drill.privateIp"
    )


def test_a_plan_without_launch_settings_asks_ec2_nothing(network: World) -> None:
    # GIVEN a plan with no launch settings (and one whose settings ask nothing of the network)
    network.start(plan(wave("db", S1, _server(S2, copyTags=True))))
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN it goes on, and EC2 was not called at all
    assert network.wave_status("e1", "db") == "PRE_LAUNCH"
    assert network.ec2.asked == []


def test_each_kind_is_read_once_per_wave(network: World) -> None:
    # GIVEN a started plan of three servers sharing the subnet and group, two with static IPs
    shared = {"subnetId": DB, "securityGroupIds": [SG_DB], "instanceType": "m5.large"}
    document = plan(wave("db", _server(S1, privateIp="10.0.3.20"), _server(S2, privateIp="10.0.3.21"), S3))
    document["defaults"] = {"launchSettings": shared}
    network.start(document)
    network.ec2.asked.clear()
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN one call per kind, the interfaces of both addresses in one
    assert network.ec2.asked == [
        ("subnets", (DB,)),
        ("security_groups", (SG_DB,)),
        ("instance_type_offerings", ("m5.large",)),
        ("interfaces_with_addresses", (DB, "10.0.3.20", "10.0.3.21")),
    ]
    assert network.wave_status("e1", "db") == "PRE_LAUNCH"


def test_the_interfaces_are_read_only_for_assignable_addresses(network: World) -> None:
    # GIVEN a plan whose second server asks for a reserved address (the VPC router's)
    document = parse_plan(
        plan(
            wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.20"), _server(S2, subnetId=DB, privateIp="10.0.3.1"))
        )
    )
    # WHEN its network is checked
    problems = network_problems(network.rt, document, Mode.DRILL)
    # THEN only the assignable address was looked up, and the reserved one is the problem
    assert network.ec2.asked == [("subnets", (DB,)), ("interfaces_with_addresses", (DB, "10.0.3.20"))]
    assert [(p.path, p.code) for p in problems] == [
        ("waves[0].servers[1].launchSettings.privateIp", "private-ip-reserved")
    ]


def test_the_servers_own_recovery_instance_does_not_hold_its_ip_for_the_next_launch(network: World) -> None:
    # GIVEN S1's recovery instance of an earlier drill, whose interface holds 10.0.3.40
    network.drs.add_source_server(S1)
    network.drs.recovery_instances["i-0000000000000000a"] = {
        "recoveryInstanceID": "i-0000000000000000a",
        "ec2InstanceID": "i-0000000000000000a",
        "sourceServerID": S1,
    }
    # WHEN a plan giving S1 that address starts and its wave is ready
    network.start(plan(wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.40"))))
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN neither refused it: DRS deletes that instance before it launches the new one
    assert network.wave_status("e1", "db") == "PRE_LAUNCH"


def test_the_ip_stays_in_use_when_drs_cannot_say_whose_instance_holds_it(network: World) -> None:
    # GIVEN the same, started; since then DRS refuses DescribeRecoveryInstances for good
    network.drs.add_source_server(S1)
    network.drs.recovery_instances["i-0000000000000000a"] = {
        "recoveryInstanceID": "i-0000000000000000a",
        "ec2InstanceID": "i-0000000000000000a",
        "sourceServerID": S1,
    }
    network.start(plan(wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.40"))))
    network.drs.fail("describe_recovery_instances", DrsPermanentError("AccessDeniedException: no"))
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN the wave fails on the address in use
    assert network.wave_status("e1", "db") == "FAILED"
    [failed] = network.bus.published
    assert failed.reason == (
        f"preflight failed: {S1}: privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network "
        f"interface 'eni-0000000000000000a' of instance 'i-0000000000000000a', set at {AT}.privateIp"
    )
    assert network.drs.unused_errors() == {}


def test_a_throttled_read_raises_for_a_redelivery_and_changes_nothing(network: World) -> None:
    # GIVEN EC2 throttling DescribeSubnets beyond the client's own retries
    network.start(plan(wave("db", _server(S1, subnetId=DB))))
    network.ec2.fail(
        "subnets", Ec2Throttled("DescribeSubnets failed: RequestLimitExceeded: slow", "RequestLimitExceeded")
    )
    # WHEN the wave is ready
    with pytest.raises(Ec2Throttled):
        on_wave_ready(network.rt, READY, "wr-1")
    # THEN the wave is still READY (the event comes again), and the next delivery passes
    assert network.wave_status("e1", "db") == "READY"
    on_wave_ready(network.rt, READY, "wr-1")
    assert network.wave_status("e1", "db") == "PRE_LAUNCH"


def test_a_read_refused_for_good_fails_the_wave_naming_the_error(network: World) -> None:
    # GIVEN EC2 refusing DescribeSubnets (no permission)
    network.start(plan(wave("db", _server(S1, subnetId=DB))))
    network.ec2.fail(
        "subnets", Ec2Error("DescribeSubnets failed: UnauthorizedOperation: not allowed", "UnauthorizedOperation")
    )
    # WHEN the wave is ready
    on_wave_ready(network.rt, READY, "wr-1")
    # THEN the wave failed, the reason saying what could not be read
    [failed] = network.bus.published
    assert failed.reason == (
        f"preflight failed: {S1}: its network settings could not be checked: DescribeSubnets failed: "
        f"UnauthorizedOperation: not allowed, set at {AT}.subnetId"
    )


def test_a_runtime_without_ec2_refuses_to_skip_the_checks(network: World) -> None:
    network.rt.ec2 = None
    document = parse_plan(plan(wave("db", _server(S1, subnetId=DB))))
    with pytest.raises(NoEc2Client):
        network_problems(network.rt, document, Mode.DRILL)
    assert network_problems(network.rt, parse_plan(plan(wave("db", S1))), Mode.DRILL) == []


def test_the_whole_plan_is_checked_for_startplan_naming_the_wave_of_each_problem(network: World) -> None:
    # GIVEN a plan of three waves whose third asks for an IP in use and a group of another VPC
    document = parse_plan(
        plan(
            wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.20")),
            wave("app", S2, dependsOn=["db"]),
            wave(
                "web", _server(S3, subnetId=DB, privateIp="10.0.3.40", securityGroupIds=[SG_FOREIGN]), dependsOn=["app"]
            ),
        )
    )
    # WHEN StartPlan asks why it must refuse it
    refusal = network_refusal(network.rt, document, Mode.RECOVERY)
    # THEN the reason counts and lists the problems, each naming its wave, path, server and value
    assert refusal is not None
    reason, problems = refusal
    assert [(p.wave_id, p.path, p.code) for p in problems] == [
        ("web", "waves[2].servers[0].launchSettings.securityGroupIds[0]", "security-group-other-vpc"),
        ("web", "waves[2].servers[0].launchSettings.privateIp", "private-ip-in-use"),
    ]
    assert reason == (
        "launch settings refused: 2 problem(s) of 1 server(s) with the account's network in RECOVERY: "
        f"{problems[0].path}: {problems[0].message}; {problems[1].path}: {problems[1].message}"
    )
    assert problems[1].message == (
        f"server '{S3}': privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
        "'eni-0000000000000000a' of instance 'i-0000000000000000a'"
    )
    # AND a plan the network has no problem with is not refused
    assert network_refusal(network.rt, parse_plan(plan(wave("db", _server(S1, subnetId=DB)))), Mode.DRILL) is None


def _items(world: World) -> list[dict[str, Any]]:
    return list(world.ledger._table.scan(ConsistentRead=True)["Items"])


def test_startplan_refuses_the_whole_plan_for_a_bad_ip_in_its_last_wave_and_creates_nothing(network: World) -> None:
    # GIVEN a plan of three waves whose last server asks for an IP in use
    network.drs.add_source_server(S1)
    document = plan(
        wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.20")),
        wave("app", S2, dependsOn=["db"]),
        wave("web", _server(S3, subnetId=DB, privateIp="10.0.3.40"), dependsOn=["app"]),
    )
    # WHEN it is started (and the event delivered twice)
    detail = StartPlan(plan=document, mode=Mode.RECOVERY, execution_id="e1", confirm_recovery="p")
    assert start_plan(network.rt, detail, "evt-1", source=OPERATOR_SOURCE) is None
    assert start_plan(network.rt, detail, "evt-1", source=OPERATOR_SOURCE) is None
    # THEN the whole plan is refused (announced once), naming the wave, server, key and value of the problem
    [failed] = network.bus.published
    assert isinstance(failed, PlanFailed)
    message = (
        f"server '{S3}': privateIp '10.0.3.40' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
        "'eni-0000000000000000a' of instance 'i-0000000000000000a'"
    )
    path = "waves[2].servers[0].launchSettings.privateIp"
    assert failed.reason == (
        f"launch settings refused: 1 problem(s) of 1 server(s) with the account's network in RECOVERY: "
        f"{path}: {message}"
    )
    assert failed.errors == [EventProblem(message=message, code="private-ip-in-use", wave_id="web", path=path)]
    # AND nothing was created or launched: the ledger holds only the record of the refusal
    assert network.ledger.get_execution("e1") is None
    assert [item["kind"] for item in _items(network)] == ["DECISION"]
    assert network.drs.started == []
    assert network.ec2_templates.created == []


def test_startplan_checks_the_drill_network_in_a_drill(network: World) -> None:
    # GIVEN a plan whose drill block names a subnet that does not exist (its recovery settings are fine)
    missing = "subnet-0c0000000000000c1"
    document = plan(wave("db", _server(S1, subnetId=DB, drill={"subnetId": missing})))
    # WHEN it is started as a drill
    assert start_plan(network.rt, StartPlan(plan=document, execution_id="e1"), "evt-1") is None
    # THEN the drill is refused naming the drill value
    [failed] = network.bus.published
    assert isinstance(failed, PlanFailed)
    assert [(e.code, e.wave_id, e.path, e.message) for e in failed.errors] == [
        (
            "unknown-subnet",
            "db",
            f"{AT}.drill.subnetId",
            f"server '{S1}': subnetId '{missing}' does not exist in this account and Region",
        )
    ]
    assert network.ledger.get_execution("e1") is None
    # AND the same plan starts as a recovery, whose values the account has
    detail = StartPlan(plan=document, mode=Mode.RECOVERY, execution_id="e2", confirm_recovery="p")
    assert start_plan(network.rt, detail, "evt-2", source=OPERATOR_SOURCE) == "e2"


def test_a_redelivered_startplan_is_not_judged_again_on_the_network_its_launches_changed(network: World) -> None:
    # GIVEN a started plan whose server's static IP its own launch has since taken
    detail = StartPlan(plan=plan(wave("db", _server(S1, subnetId=DB, privateIp="10.0.3.20"))), execution_id="e1")
    assert start_plan(network.rt, detail, "evt-1") == "e1"
    first = network.ledger.get_execution("e1")
    announced = list(network.bus.published)
    network.ec2.add_interface("eni-0000000000000000b", DB, "10.0.3.20", instance_id="i-0000000000000000b")
    network.ec2.asked.clear()
    # WHEN the StartPlan is delivered again
    again = start_plan(network.rt, detail, "evt-1")
    # THEN it is the same start, not refused, and the network was not read again
    assert again == "e1"
    assert network.ledger.get_execution("e1") == first
    assert network.bus.published == announced + announced
    assert network.ec2.asked == []


def test_a_throttled_read_at_startplan_raises_for_a_redelivery_and_creates_nothing(network: World) -> None:
    # GIVEN EC2 throttling DescribeSubnets beyond the client's own retries
    network.ec2.fail(
        "subnets", Ec2Throttled("DescribeSubnets failed: RequestLimitExceeded: slow", "RequestLimitExceeded")
    )
    detail = StartPlan(plan=plan(wave("db", _server(S1, subnetId=DB))), execution_id="e1")
    # WHEN the plan is started
    with pytest.raises(Ec2Throttled):
        start_plan(network.rt, detail, "evt-1")
    # THEN nothing exists and nothing was published; the redelivery starts it
    assert network.ledger.get_execution("e1") is None
    assert network.bus.published == []
    assert start_plan(network.rt, detail, "evt-1") == "e1"
