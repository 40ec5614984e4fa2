"""Launch settings applied before StartRecovery and restored after the launch (orchestrator/steps/launch_settings.py,
through launch_wave.start_job / chunk_failed / drain and post_launch.close_launch), against fakes of DRS and EC2."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import DRSJobCompleted, Mode, PreLaunchDone, WaveReady
from orchestrator.adapters.drs import DrsPermanentError, DrsThrottled
from orchestrator.adapters.ec2_templates import Ec2Throttled
from orchestrator.adapters.ledger._keys import exec_pk
from orchestrator.domain.records.launch_settings import SettingsHold, SettingsStatus
from orchestrator.domain.records.launches import LaunchChunk
from orchestrator.steps.job_watcher import poll_wave
from orchestrator.steps.launch_settings import template_data, version_description
from orchestrator.steps.launch_wave import chunk_failed, drain, prepare, start_job
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, S2, World, plan, pre_launched, wave

RECOVERY_SUBNET, DRILL_SUBNET = "subnet-0a1b2c3d4e5f60718", "subnet-0b1b2c3d4e5f60718"
RECOVERY_SG, DRILL_SG = "sg-0a1b2c3d4e5f60718", "sg-0b1b2c3d4e5f60718"
RECOVERY_VPC, DRILL_VPC = "vpc-0a1b2c3d4e5f60718", "vpc-0b1b2c3d4e5f60718"
LT1 = "lt-" + S1.removeprefix("s-")

SETTINGS = {
    "subnetId": RECOVERY_SUBNET,
    "securityGroupIds": [RECOVERY_SG],
    "copyTags": True,
    "tags": {"env": "dr"},
    "drill": {"subnetId": DRILL_SUBNET, "securityGroupIds": [DRILL_SG]},
}


@pytest.fixture(autouse=True)
def _network(world: World) -> None:
    """The account's network the plan names (StartPlan and the wave preflight check the settings against it):
    a recovery VPC and an isolated drill VPC mirroring its addresses, each with its subnet and group."""
    world.ec2.add_subnet(RECOVERY_SUBNET, RECOVERY_VPC, "10.0.3.0/24")
    world.ec2.add_subnet(DRILL_SUBNET, DRILL_VPC, "10.0.3.0/24")
    world.ec2.add_group(RECOVERY_SG, RECOVERY_VPC)
    world.ec2.add_group(DRILL_SG, DRILL_VPC)


def settings_plan(*servers: Any) -> dict[str, Any]:
    listed = servers or ({"sourceServerID": S1, "launchSettings": {"privateIp": "10.0.3.15"}},)
    return plan(wave("db", *listed), launchSettings=SETTINGS)


def _chunk(world: World, document: dict[str, Any], **start: Any) -> LaunchChunk:
    done = pre_launched(world, document, "db", **start)
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    world.bus.published.clear()
    return chunk


def _end_job(world: World, job_id: str, statuses: dict[str, str] | None = None, event_id: str = "jc-1") -> None:
    world.drs.finish_job(job_id, statuses)
    wave_record = world.ledger.wave("e1", "db")
    poll_wave(world.rt, wave_record, "p")
    [completed] = world.bus.of(DRSJobCompleted)
    on_job_completed(world.rt, completed, event_id)


def _interface(world: World, template: str = LT1) -> dict[str, Any]:
    version = world.ec2_templates.default_version(template)
    return dict(version["LaunchTemplateData"]["NetworkInterfaces"][0])


def test_a_drill_applies_the_drill_network_and_the_static_ip_before_start_recovery(world: World) -> None:
    # GIVEN a drill of a plan with a recovery network, a drill network and a static IP for S1
    chunk = _chunk(world, settings_plan())
    # WHEN StartRecovery is throttled (the settings are in place when it is called)
    world.drs.fail("start_recovery", DrsThrottled("ThrottlingException: rate", "ThrottlingException"))
    answer = start_job(world.rt, chunk)
    # THEN the launch configuration is updated (copyTags, and copyPrivateIp off for the static IP)
    assert answer["outcome"] == "RETRY"
    assert world.drs.configuration_updates == [(S1, {"copyTags": True, "copyPrivateIp": False})]
    # AND one template version from version 1, with the drill subnet and groups, the IP and the merged tags, is
    # the default
    assert [(c["template"], c["source"]) for c in world.ec2_templates.created] == [(LT1, 1)]
    assert world.ec2_templates.defaults[LT1] == 2
    assert _interface(world) == {
        "DeviceIndex": 0,
        "SubnetId": DRILL_SUBNET,
        "Groups": [DRILL_SG],
        "PrivateIpAddress": "10.0.3.15",
    }
    assert world.ec2_templates.versions[LT1][2]["LaunchTemplateData"]["TagSpecifications"] == [
        {"ResourceType": "instance", "Tags": [{"Key": "drs", "Value": "yes"}, {"Key": "env", "Value": "dr"}]}
    ]
    assert world.ec2_templates.versions[LT1][2]["VersionDescription"] == version_description(chunk.launch_key, "e1")
    # AND the ledger records what was applied, from where, and what was there before
    record = world.ledger.settings_record("e1", S1)
    assert record is not None
    assert record.status is SettingsStatus.APPLIED
    assert record.previous_version == 1
    assert record.version == 2
    assert record.template_id == LT1
    assert record.previous_configuration == {"copyTags": False, "copyPrivateIp": False}
    assert record.origins["subnetId"] == "defaults.launchSettings.drill.subnetId"
    assert record.origins["privateIp"] == "waves[0].servers[0].launchSettings.privateIp"
    # AND the retried call starts the job without applying anything again
    retried = start_job(world.rt, answer["chunk"])
    assert retried["outcome"] == "STARTED"
    assert len(world.ec2_templates.created) == 1
    assert len(world.drs.configuration_updates) == 1


def test_a_recovery_applies_the_recovery_network(world: World) -> None:
    # GIVEN a recovery of the same plan
    chunk = _chunk(world, settings_plan(), mode=Mode.RECOVERY, confirm_recovery="p")
    # WHEN its chunk is started
    assert start_job(world.rt, chunk)["outcome"] == "STARTED"
    # THEN the recovery subnet and groups are in the default version
    assert _interface(world)["SubnetId"] == RECOVERY_SUBNET
    assert _interface(world)["Groups"] == [RECOVERY_SG]


def test_a_duplicated_start_job_creates_one_version(world: World) -> None:
    # GIVEN a prepared drill with settings
    chunk = _chunk(world, settings_plan())
    # WHEN the same chunk is started three times (duplicated deliveries, retries)
    answers = [start_job(world.rt, chunk)["outcome"] for _ in range(3)]
    # THEN one job, one version, one default change, one launch configuration update
    assert answers == ["STARTED"] * 3
    assert len(world.drs.started) == 1
    assert len(world.ec2_templates.created) == 1
    assert world.ec2_templates.defaults_set == [(LT1, 2)]
    assert len(world.drs.configuration_updates) == 1


CALLS = [
    ("drs", "get_launch_configuration"),
    ("ec2_templates", "default_version"),
    ("drs", "update_launch_configuration"),
    ("ec2_templates", "find_version"),
    ("ec2_templates", "create_version"),
    ("ec2_templates", "set_default"),
    ("drs", "start_recovery"),
]


@pytest.mark.parametrize(("fake", "method"), CALLS, ids=[method for _, method in CALLS])
def test_a_crash_at_any_call_then_a_redelivery_launches_once_with_one_version(
    world: World, fake: str, method: str
) -> None:
    # GIVEN a prepared drill with settings, and the launch function dying at one call (before it has effect)
    chunk = _chunk(world, settings_plan())
    getattr(world, fake).fail(method, RuntimeError("Lambda timed out"))
    with pytest.raises(RuntimeError, match="timed out"):
        start_job(world.rt, chunk)
    # WHEN the state machine retries once the lease is over
    world.advance(91)
    answer = start_job(world.rt, chunk)
    # THEN one job, one template version (the default), and the record APPLIED
    assert answer["outcome"] == "STARTED"
    assert len(world.drs.started) == 1
    assert len(world.ec2_templates.created) == 1
    assert world.ec2_templates.defaults[LT1] == 2
    record = world.ledger.settings_record("e1", S1)
    assert record is not None
    assert record.status is SettingsStatus.APPLIED
    assert record.previous_version == 1
    assert record.previous_configuration == {"copyTags": False, "copyPrivateIp": False}


def test_a_crash_after_the_version_was_created_finds_it_by_its_description(world: World) -> None:
    # GIVEN a call that created the version and died before noting it or making it the default
    chunk = _chunk(world, settings_plan())
    world.ec2_templates.fail("set_default", RuntimeError("Lambda timed out"))
    with pytest.raises(RuntimeError):
        start_job(world.rt, chunk)
    world.ledger._table.update_item(  # the note of the version lost too (a crash before that write)
        Key={"pk": exec_pk("e1"), "sk": f"LSETTINGS#{S1}"}, UpdateExpression="REMOVE version"
    )
    # WHEN the chunk is started again
    world.advance(91)
    assert start_job(world.rt, chunk)["outcome"] == "STARTED"
    # THEN the version made first is the default: none other was created
    assert len(world.ec2_templates.created) == 1
    assert world.ec2_templates.defaults[LT1] == 2


def test_after_the_job_the_previous_version_and_configuration_are_back_and_the_landing_is_recorded(
    world: World,
) -> None:
    # GIVEN a drill whose job started with settings applied
    chunk = _chunk(world, settings_plan())
    job_id = start_job(world.rt, chunk)["jobId"]
    # WHEN the job ends (the recovery instance landed in the drill subnet) and its end is delivered twice
    world.ec2_templates.instances["i-00000000000000001"] = (DRILL_SUBNET, "10.0.3.15")
    _end_job(world, job_id)
    [completed] = world.bus.of(DRSJobCompleted)
    on_job_completed(world.rt, completed, "jc-1")
    # THEN version 1 is the default again (set once), the launch configuration is as before, the hold is gone
    assert world.ec2_templates.defaults_set == [(LT1, 2), (LT1, 1)]
    assert world.drs.launch_configurations[S1]["copyTags"] is False
    assert world.drs.configuration_updates[-1] == (S1, {"copyTags": False, "copyPrivateIp": False})
    assert len(world.drs.configuration_updates) == 2
    assert world.ledger.server_hold(S1) is None
    # AND the record says RESTORED with where the instance actually is
    record = world.ledger.settings_record("e1", S1)
    assert record is not None
    assert record.status is SettingsStatus.RESTORED
    assert (record.recovery_instance_id, record.subnet_id, record.private_ip) == (
        "i-00000000000000001",
        DRILL_SUBNET,
        "10.0.3.15",
    )
    assert world.ec2_templates.described_instances == [["i-00000000000000001"]]


@pytest.mark.parametrize(
    ("fake", "method"),
    [("ec2_templates", "set_default"), ("drs", "update_launch_configuration")],
    ids=["set_default", "update_launch_configuration"],
)
def test_a_crash_while_restoring_then_a_redelivery_restores_once(world: World, fake: str, method: str) -> None:
    # GIVEN a started drill with settings, and the job's end handler dying at one restoring call
    chunk = _chunk(world, settings_plan())
    job_id = start_job(world.rt, chunk)["jobId"]
    world.drs.finish_job(job_id)
    poll_wave(world.rt, world.ledger.wave("e1", "db"), "p")
    [completed] = world.bus.of(DRSJobCompleted)
    getattr(world, fake).fail(method, RuntimeError("Lambda timed out"))
    with pytest.raises(RuntimeError):
        on_job_completed(world.rt, completed, "jc-1")
    # WHEN the event is redelivered
    on_job_completed(world.rt, completed, "jc-1")
    # THEN version 1 is the default again, set back once, and the configuration is as before
    assert world.ec2_templates.defaults_set == [(LT1, 2), (LT1, 1)]
    assert world.drs.launch_configurations[S1]["copyTags"] is False
    record = world.ledger.settings_record("e1", S1)
    assert record is not None
    assert record.status is SettingsStatus.RESTORED


def test_a_refused_start_recovery_restores_the_settings(world: World) -> None:
    # GIVEN a drill whose StartRecovery DRS refuses for good
    chunk = _chunk(world, settings_plan())
    world.drs.fail("start_recovery", DrsPermanentError("ValidationException: bad", "ValidationException"))
    with pytest.raises(DrsPermanentError):
        start_job(world.rt, chunk)
    # WHEN the state machine fails the chunk
    chunk_failed(world.rt, chunk, {"Error": "DrsPermanentError", "Cause": "bad"})
    # THEN the settings are restored and the hold released
    assert world.ec2_templates.defaults[LT1] == 1
    assert world.drs.launch_configurations[S1]["copyTags"] is False
    assert world.ledger.server_hold(S1) is None


def test_a_plan_stopped_while_the_chunk_was_parked_restores_the_settings(world: World) -> None:
    # GIVEN a drill whose StartRecovery was throttled past the state machine's patience (parked), settings applied
    chunk = _chunk(world, settings_plan())
    world.drs.fail("start_recovery", *[DrsThrottled("ThrottlingException", "ThrottlingException")] * 7)
    answer = start_job(world.rt, chunk)
    while answer["outcome"] == "RETRY":
        answer = start_job(world.rt, answer["chunk"])
    assert answer["outcome"] == "PARKED"
    assert world.ec2_templates.defaults[LT1] == 2
    # WHEN the plan is cancelled and the capacity tick drains the queue
    world.ledger._table.update_item(
        Key={"pk": exec_pk("e1"), "sk": "#EXECUTION"},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": "STOPPING"},
    )
    drain(world.rt)
    # THEN nothing was launched and the settings are back
    assert world.drs.started == []
    assert world.ec2_templates.defaults[LT1] == 1
    assert world.ledger.server_hold(S1) is None


def test_a_server_another_running_execution_holds_is_not_touched(world: World) -> None:
    # GIVEN execution e0 holding S1's launch settings (applied, its job running)
    world.start(settings_plan(), execution_id="e0")
    held = SettingsHold(source_server_id=S1, execution_id="e0", wave_id="db", launch_key="k")
    assert world.ledger.hold_server(held) is None
    assert world.ledger.hold_server(held) is None  # its holder holds it again: kept
    # WHEN e1 starts its chunk with S1
    chunk = _chunk(world, settings_plan())
    with pytest.raises(DrsPermanentError, match="held by execution 'e0'") as refused:
        start_job(world.rt, chunk)
    # THEN nothing of S1 changed, no job started, and the failed chunk leaves e0's hold alone
    assert refused.value.code == "LaunchSettingsHeld"
    assert world.drs.configuration_updates == []
    assert world.ec2_templates.created == []
    assert world.drs.started == []
    chunk_failed(world.rt, chunk, {"Error": "DrsPermanentError", "Cause": str(refused.value)})
    hold = world.ledger.server_hold(S1)
    assert hold is not None
    assert hold.execution_id == "e0"


def test_a_stale_hold_of_a_finished_execution_is_restored_then_taken_over(world: World) -> None:
    # GIVEN e1 applied settings to S1 and ended (cancelled) without restoring them
    chunk = _chunk(world, settings_plan())
    start_job(world.rt, chunk)
    world.ledger._table.update_item(
        Key={"pk": exec_pk("e1"), "sk": "#EXECUTION"},
        UpdateExpression="SET #s = :c",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":c": "CANCELLED"},
    )
    # WHEN e2 launches S1
    world.start(settings_plan(), execution_id="e2")
    on_wave_ready(world.rt, WaveReady(execution_id="e2", plan_id="p", wave_id="db"), "wr-2")
    [done] = world.bus.of(PreLaunchDone)
    [chunk2] = prepare(world.rt, done, "pld-2")["chunks"]
    assert start_job(world.rt, chunk2)["outcome"] == "STARTED"
    # THEN e1's settings were restored first (its previous values are e2's previous values), then e2 applied its own
    assert world.ec2_templates.defaults_set == [(LT1, 2), (LT1, 1), (LT1, 3)]
    e2 = world.ledger.settings_record("e2", S1)
    assert e2 is not None
    assert e2.previous_version == 1
    assert e2.previous_configuration["copyTags"] is False
    hold = world.ledger.server_hold(S1)
    assert hold is not None
    assert hold.execution_id == "e2"


def test_a_plan_without_launch_settings_makes_no_settings_call(world: World) -> None:
    # GIVEN a drill of a plan without launch settings
    chunk = _chunk(world, plan(wave("db", S1, S2)))
    # WHEN it is started, its job ends and the chunk is (wrongly) failed too
    job_id = start_job(world.rt, chunk)["jobId"]
    _end_job(world, job_id)
    # THEN no launch configuration or template was read or changed, nothing was held or recorded
    assert world.drs.configuration_updates == []
    assert world.ec2_templates.versions == {}
    assert world.ec2_templates.described_instances == []
    assert world.ledger.settings_records("e1") == []
    assert world.ledger.server_hold(S1) is None


def test_ec2_throttling_while_applying_asks_for_a_wait(world: World) -> None:
    # GIVEN EC2 throttling CreateLaunchTemplateVersion once
    chunk = _chunk(world, settings_plan())
    world.ec2_templates.fail(
        "create_version", Ec2Throttled("RequestLimitExceeded: slow down", code="RequestLimitExceeded")
    )
    # WHEN the chunk is started, then again as the state machine does
    first = start_job(world.rt, chunk)
    second = start_job(world.rt, first["chunk"])
    # THEN a Wait, then one job with one version
    assert (first["outcome"], second["outcome"]) == ("RETRY", "STARTED")
    assert len(world.ec2_templates.created) == 1
    assert len(world.drs.started) == 1


def test_template_data_keeps_other_interfaces_and_resource_tags() -> None:
    # GIVEN a source version with two interfaces and volume tags
    from orchestrator.domain.plan.launch import LaunchSettings

    source = {
        "NetworkInterfaces": [
            {"DeviceIndex": 1, "SubnetId": "subnet-11111111"},
            {"DeviceIndex": 0, "SubnetId": "subnet-00000000", "PrivateIpAddresses": [{"Primary": True}]},
        ],
        "TagSpecifications": [{"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]}],
    }
    settings = LaunchSettings(subnet_id=RECOVERY_SUBNET, private_ip="10.0.3.15", tags={"env": "dr"})
    # WHEN the new version's data is built
    data = template_data(settings, source)
    # THEN device 0 carries the subnet and the one static IP, device 1 and the volume tags are kept
    assert data == {
        "NetworkInterfaces": [
            {"DeviceIndex": 1, "SubnetId": "subnet-11111111"},
            {"DeviceIndex": 0, "SubnetId": RECOVERY_SUBNET, "PrivateIpAddress": "10.0.3.15"},
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "env", "Value": "dr"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "v", "Value": "1"}]},
        ],
    }


def test_a_new_subnet_without_a_static_ip_drops_the_inherited_address_and_drs_copying_the_source_ip() -> None:
    # GIVEN a source version fixed on 10.0.1.77 in its subnet, and a plan that moves the server to another subnet
    # (a drill network) without a static IP
    from orchestrator.domain.plan.launch import EffectiveLaunch, LaunchSettings
    from orchestrator.steps.launch_settings import applied_values, configuration_changes

    source = {
        "NetworkInterfaces": [
            {"DeviceIndex": 0, "SubnetId": "subnet-0a00000000000a001", "PrivateIpAddress": "10.0.1.77"}
        ]
    }
    settings = LaunchSettings(subnet_id=DRILL_SUBNET)
    # WHEN the template data and the launch-configuration changes are built
    data = template_data(settings, source)
    changes = configuration_changes(settings)
    applied, origins = applied_values(
        EffectiveLaunch("db", S1, Mode.DRILL, settings, {"subnetId": "defaults.launchSettings.drill.subnetId"})
    )
    # THEN the interface takes an address of the new subnet (the old one would fail the launch: outside its CIDR),
    # DRS does not copy the source server's IP into it, and the report says both, with why
    assert data == {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": DRILL_SUBNET}]}
    assert changes == {"copyPrivateIp": False}
    assert applied == {"subnetId": DRILL_SUBNET, "copyPrivateIp": False}
    assert origins["copyPrivateIp"] == "implied by subnetId without a privateIp"
    # AND the same subnet keeps its fixed address; a plan that sets copyPrivateIp itself keeps its own value
    same = LaunchSettings(subnet_id="subnet-0a00000000000a001")
    assert template_data(same, source)["NetworkInterfaces"][0]["PrivateIpAddress"] == "10.0.1.77"
    assert configuration_changes(LaunchSettings(subnet_id=DRILL_SUBNET, copy_private_ip=True)) == {
        "copyPrivateIp": True
    }
