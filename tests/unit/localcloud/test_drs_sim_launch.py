"""Launch settings in the DRS simulator: launch configurations, EC2 launch templates in moto, and a launch
that reads the template's default version and fails the way EC2 refuses it. Driven through boto3 ``drs`` and
``ec2`` clients; every DRS answer is checked against botocore's output shape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator
from moto import mock_aws

from localcloud.drs_sim import DrsSimConfig, DrsSimulator
from localcloud.drs_sim_config import DrsServerSettings
from localcloud.drs_sim_launch_config import LaunchConfigurationSettings, LaunchTemplateSettings
from localcloud.ec2_network import Ec2Profile, create_network
from localcloud.profile import ProfileError, load_profile

S1 = "s-1111111111111111a"
S2 = "s-2222222222222222b"
VPC = "vpc-0a0000000000000a1"
OTHER_VPC = "vpc-0b0000000000000b1"
APP = "subnet-0a0000000000000a1"  # 10.0.1.0/24, us-east-1a
DB = "subnet-0a0000000000000a2"  # 10.0.2.0/24, us-east-1b
FOREIGN = "subnet-0b0000000000000b1"  # 10.9.1.0/24 in the other VPC
SG_APP = "sg-0a0000000000000a1"
SG_DB = "sg-0a0000000000000a2"
SG_FOREIGN = "sg-0b0000000000000b1"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
NETWORK = {
    "vpcs": [
        {
            "vpcId": VPC,
            "cidrBlock": "10.0.0.0/16",
            "subnets": [
                {"subnetId": APP, "cidrBlock": "10.0.1.0/24", "availabilityZone": "us-east-1a"},
                {"subnetId": DB, "cidrBlock": "10.0.2.0/24", "availabilityZone": "us-east-1b"},
            ],
            "securityGroups": [{"groupId": SG_APP, "groupName": "app"}, {"groupId": SG_DB, "groupName": "db"}],
        },
        {
            "vpcId": OTHER_VPC,
            "cidrBlock": "10.9.0.0/16",
            "subnets": [{"subnetId": FOREIGN, "cidrBlock": "10.9.1.0/24"}],
            "securityGroups": [{"groupId": SG_FOREIGN, "groupName": "foreign"}],
        },
    ]
}


class FakeClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


def _check_output_shape(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """Every answer must be a valid instance of the operation's output shape (required members, types)."""
    if model.output_shape is None or "Error" in parsed:
        return
    body = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    report = ParamValidator().validate(body, model.output_shape)
    assert not report.has_errors(), report.generate_report()


class World:
    """A DRS simulator whose templates and recovery instances live in moto's EC2, with the test network."""

    def __init__(self, servers: dict[str, DrsServerSettings], **config: Any) -> None:
        self.clock = FakeClock()
        self.events: list[dict[str, Any]] = []
        settings = {"launch_seconds_min": 60, "launch_seconds_max": 60, "start_delay_seconds": 0, **config}
        self.sim = DrsSimulator(self.clock, DrsSimConfig(servers=servers, **settings), on_event=self.events.append)
        self.ec2 = boto3.client("ec2", region_name="us-east-1")
        create_network(self.ec2, Ec2Profile.model_validate(NETWORK))
        self.sim.bind_ec2(self.ec2)
        self.sim.ensure_servers([S1, S2])
        drs = boto3.client(
            "drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=NO_RETRIES
        )
        drs.meta.events.register("after-call.drs", _check_output_shape)
        self.drs = self.sim.attach(drs)

    def template_of(self, sid: str) -> str:
        return str(self.drs.get_launch_configuration(sourceServerID=sid)["ec2LaunchTemplateID"])

    def new_default_version(self, sid: str, **interface: Any) -> int:
        """What the orchestrator does: a new version from the default with another NetworkInterfaces[0]."""
        template = self.template_of(sid)
        version = self.ec2.create_launch_template_version(
            LaunchTemplateId=template,
            SourceVersion="$Default",
            LaunchTemplateData={"NetworkInterfaces": [{"DeviceIndex": 0, **interface}]},
        )["LaunchTemplateVersion"]["VersionNumber"]
        self.ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion=str(version))
        return int(version)

    def launch(self, *ids: str, drill: bool = True) -> dict[str, Any]:
        job = self.drs.start_recovery(sourceServers=[{"sourceServerID": sid} for sid in ids], isDrill=drill)["job"]
        return dict(job)

    def finish(self) -> None:
        while (due := self.sim.next_due()) is not None:
            self.clock.moment = max(self.clock.moment, due)
            self.sim.advance()

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0])

    def failure_log(self, job_id: str) -> list[dict[str, Any]]:
        items = self.drs.describe_job_log_items(jobID=job_id)["items"]
        return [item["eventData"] for item in items if item["event"] == "LAUNCH_FAILED"]

    def recovery_instance(self, sid: str) -> dict[str, Any]:
        items = self.drs.describe_recovery_instances(filters={"sourceServerIDs": [sid]})["items"]
        assert len(items) == 1
        return dict(items[0])

    def ec2_instance(self, instance_id: str) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return dict(reservations[0]["Instances"][0])


@pytest.fixture
def world() -> Iterator[Any]:
    with mock_aws():

        def make(servers: dict[str, DrsServerSettings] | None = None, **config: Any) -> World:
            return World(servers or {}, **config)

        yield make


def _server(
    *,
    subnet: str | None = APP,
    groups: tuple[str, ...] = (SG_APP,),
    ip: str | None = None,
    instance_type: str = "r5.large",
    source_ip: str | None = None,
    tags: dict[str, str] | None = None,
    **configuration: Any,
) -> DrsServerSettings:
    return DrsServerSettings(
        tags=tags or {},
        private_ip=source_ip,
        launch_configuration=LaunchConfigurationSettings(
            **{"target_instance_type_right_sizing_method": "NONE", **configuration}
        ),
        launch_template=LaunchTemplateSettings(
            subnet_id=subnet, security_group_ids=groups, private_ip_address=ip, instance_type=instance_type
        ),
    )


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, dict[str, Any]]:
    response: dict[str, Any] = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


# ---------------------------------------------------------------------- launch configurations and templates


def test_each_server_has_drs_default_launch_configuration_and_a_managed_template(world: Any) -> None:
    # GIVEN servers the profile says nothing about, on a simulator bound to moto's EC2
    w = world()

    # WHEN their launch configuration is read
    configuration = w.drs.get_launch_configuration(sourceServerID=S1)

    # THEN it holds DRS's defaults and names the server's EC2 launch template
    template_id = configuration.pop("ec2LaunchTemplateID")
    configuration.pop("ResponseMetadata")
    assert configuration == {
        "sourceServerID": S1,
        "name": "host-11111a",
        "launchDisposition": "STARTED",
        "targetInstanceTypeRightSizingMethod": "BASIC",
        "copyPrivateIp": False,
        "copyTags": False,
        "licensing": {"osByol": False},
        "postLaunchEnabled": False,
    }
    # AND the template is tagged as DRS tags the ones it manages, and its default version 1 launches into
    # the default subnet of us-east-1a on interface 0
    template = w.ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    assert template["LaunchTemplateName"] == f"drs-{S1}"
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (1, 1)
    assert {tag["Key"]: tag["Value"] for tag in template["Tags"]} == {
        "AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
        "AWSElasticDisasterRecoverySourceServerID": S1,
    }
    data = w.ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"
    ][0]["LaunchTemplateData"]
    default_subnet = w.ec2.describe_subnets(
        Filters=[
            {"Name": "default-for-az", "Values": ["true"]},
            {"Name": "availability-zone", "Values": ["us-east-1a"]},
        ]
    )["Subnets"][0]["SubnetId"]
    assert data["NetworkInterfaces"] == [{"DeviceIndex": 0, "SubnetId": default_subnet}]
    assert data["InstanceType"] == "m5.large"
    # AND each server has its own template
    assert w.template_of(S2) != template_id


def test_update_launch_configuration_changes_what_it_is_given_and_nothing_else(world: Any) -> None:
    # GIVEN a server with DRS's default launch configuration
    w = world()
    template_id = w.template_of(S1)

    # WHEN some of its settings are updated
    updated = w.drs.update_launch_configuration(
        sourceServerID=S1,
        copyPrivateIp=True,
        launchDisposition="STOPPED",
        targetInstanceTypeRightSizingMethod="NONE",
        licensing={"osByol": True},
        name="db-primary",
    )

    # THEN the answer and a later read hold the new values, and the rest (the template) is unchanged
    updated.pop("ResponseMetadata")
    read = w.drs.get_launch_configuration(sourceServerID=S1)
    read.pop("ResponseMetadata")
    assert (
        updated
        == read
        == {
            "sourceServerID": S1,
            "name": "db-primary",
            "ec2LaunchTemplateID": template_id,
            "launchDisposition": "STOPPED",
            "targetInstanceTypeRightSizingMethod": "NONE",
            "copyPrivateIp": True,
            "copyTags": False,
            "licensing": {"osByol": True},
            "postLaunchEnabled": False,
        }
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"launchDisposition": "PAUSED"},
            "launchDisposition",
            "Invalid value 'PAUSED' for launchDisposition: must be one of STOPPED, STARTED",
        ),
        (
            {"targetInstanceTypeRightSizingMethod": "SMART"},
            "targetInstanceTypeRightSizingMethod",
            "Invalid value 'SMART' for targetInstanceTypeRightSizingMethod: must be one of NONE, BASIC, IN_AWS",
        ),
        (
            {"recoveryMode": "SLOW"},
            "recoveryMode",
            "Invalid value 'SLOW' for recoveryMode: must be one of FAST, OPTIMAL",
        ),
        ({"name": "x" * 129}, "name", "name must be at most 128 characters long"),
        (
            {"launchIntoInstanceProperties": {"launchIntoEC2InstanceID": "i-xyz"}},
            "launchIntoEC2InstanceID",
            "Invalid EC2 instance id 'i-xyz'",
        ),
    ],
)
def test_an_invalid_update_is_a_validation_exception_and_changes_nothing(
    world: Any, change: dict[str, Any], field: str, message: str
) -> None:
    # GIVEN a server's launch configuration
    w = world()
    before = w.drs.get_launch_configuration(sourceServerID=S1)
    before.pop("ResponseMetadata")

    # WHEN an update carries a valid change and an invalid one
    with pytest.raises(ClientError) as refused:
        w.drs.update_launch_configuration(sourceServerID=S1, copyTags=True, **change)

    # THEN DRS answers ValidationException naming the field, and the valid change was not applied either
    code, status, response = _error(refused)
    assert (code, status) == ("ValidationException", 400)
    assert response["Error"]["Message"] == message
    assert response["reason"] == "fieldValidationFailed"
    assert response["fieldList"] == [{"name": field, "message": message}]
    after = w.drs.get_launch_configuration(sourceServerID=S1)
    after.pop("ResponseMetadata")
    assert after == before


def test_an_unknown_source_server_is_resource_not_found(world: Any) -> None:
    # GIVEN a simulator that does not know s-999...
    w = world()
    unknown = "s-99999999999999999"

    # WHEN its launch configuration is read or updated THEN ResourceNotFoundException names it
    for call in (
        lambda: w.drs.get_launch_configuration(sourceServerID=unknown),
        lambda: w.drs.update_launch_configuration(sourceServerID=unknown, copyTags=True),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        code, status, response = _error(refused)
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert response["Error"]["Message"] == f"Source server {unknown} not found"
        assert (response["resourceId"], response["resourceType"]) == (unknown, "SOURCE_SERVER")


def test_without_ec2_a_server_has_a_launch_configuration_but_no_template() -> None:
    # GIVEN a bare simulator (no EC2 bound: the unit tier of the orchestrator)
    sim = DrsSimulator(FakeClock(), DrsSimConfig(launch_seconds_min=1, launch_seconds_max=1))
    sim.ensure_servers([S1])
    client = sim.attach(boto3.client("drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"))

    # WHEN its launch configuration is read THEN it has no ec2LaunchTemplateID
    configuration = client.get_launch_configuration(sourceServerID=S1)
    assert "ec2LaunchTemplateID" not in configuration
    assert configuration["launchDisposition"] == "STARTED"


# ---------------------------------------------------------------------- where a launch lands


def test_a_launch_lands_on_the_templates_subnet_ip_groups_and_type(world: Any) -> None:
    # GIVEN S1's template: the DB subnet, the db group, a static IP, r5.large (right-sizing NONE), copyTags
    w = world({S1: _server(subnet=DB, groups=(SG_DB,), ip="10.0.2.15", copy_tags=True, tags={"tier": "db"})})

    # WHEN a drill of S1 completes
    job = w.launch(S1)
    w.finish()

    # THEN the recovery instance carries that IP, and its EC2 instance that subnet, group and type
    assert w.job(job["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    recovery = w.recovery_instance(S1)
    assert recovery["recoveryInstanceProperties"]["networkInterfaces"] == [{"ips": ["10.0.2.15"], "isPrimary": True}]
    assert recovery["ec2InstanceID"] == recovery["recoveryInstanceID"]
    assert recovery["ec2InstanceState"] == "RUNNING"
    instance = w.ec2_instance(recovery["ec2InstanceID"])
    assert (instance["SubnetId"], instance["PrivateIpAddress"], instance["InstanceType"]) == (
        DB,
        "10.0.2.15",
        "r5.large",
    )
    assert [group["GroupId"] for group in instance["SecurityGroups"]] == [SG_DB]
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert {tag["Key"]: tag["Value"] for tag in instance["Tags"]} == {
        "AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com",
        "AWSElasticDisasterRecoverySourceServerID": S1,
        "tier": "db",
        "aws:ec2launchtemplate:id": w.template_of(S1),
        "aws:ec2launchtemplate:version": "1",
    }


def test_copy_private_ip_launches_on_the_source_servers_ip_and_otherwise_ec2_assigns_one(world: Any) -> None:
    # GIVEN S1 (source IP 10.0.1.77, copyPrivateIp) and S2 (no static IP, no copy), both in the app subnet
    w = world({S1: _server(source_ip="10.0.1.77", copy_private_ip=True), S2: _server()})

    # WHEN both launch
    w.launch(S1, S2)
    w.finish()

    # THEN S1 has its source IP (the one DescribeSourceServers shows) and S2 one EC2 assigned in the subnet
    source = w.drs.describe_source_servers(filters={"sourceServerIDs": [S1]})["items"][0]
    assert source["sourceProperties"]["networkInterfaces"][0]["ips"] == ["10.0.1.77"]
    assert w.recovery_instance(S1)["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"] == ["10.0.1.77"]
    assigned = w.recovery_instance(S2)["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"][0]
    assert assigned.startswith("10.0.1.")
    assert int(assigned.rsplit(".", 1)[1]) not in (0, 1, 2, 3, 255)
    assert assigned != "10.0.1.77"


def test_right_sizing_basic_launches_the_recommended_type_whatever_the_template_says(world: Any) -> None:
    # GIVEN S1's template asks for r5.large but right-sizing is BASIC (DRS's default)
    w = world({S1: _server(target_instance_type_right_sizing_method="BASIC")})

    # WHEN it launches THEN the instance is the recommended m5.large
    w.launch(S1)
    w.finish()
    assert w.ec2_instance(w.recovery_instance(S1)["ec2InstanceID"])["InstanceType"] == "m5.large"


def test_launch_disposition_stopped_leaves_the_instance_stopped(world: Any) -> None:
    # GIVEN S1 launched STOPPED
    w = world({S1: _server(launch_disposition="STOPPED")})

    # WHEN it launches THEN the recovery instance and its EC2 instance are stopped
    w.launch(S1)
    w.finish()
    recovery = w.recovery_instance(S1)
    assert recovery["ec2InstanceState"] == "STOPPED"
    assert w.ec2_instance(recovery["ec2InstanceID"])["State"]["Name"] == "stopped"


def test_a_launch_uses_the_default_version_at_launch_time_and_setting_it_back_restores(world: Any) -> None:
    # GIVEN S1 whose template version 1 puts it in the app subnet at 10.0.1.10
    w = world({S1: _server(ip="10.0.1.10")})
    template = w.template_of(S1)

    # WHEN version 2 (db subnet, db group, 10.0.2.20) is made the default and a drill starts
    assert w.new_default_version(S1, SubnetId=DB, Groups=[SG_DB], PrivateIpAddress="10.0.2.20") == 2
    first = w.launch(S1)
    w.finish()

    # THEN the drill landed as version 2 says
    instance = w.ec2_instance(w.recovery_instance(S1)["ec2InstanceID"])
    assert (instance["SubnetId"], instance["PrivateIpAddress"]) == (DB, "10.0.2.20")
    assert {t["Key"]: t["Value"] for t in instance["Tags"]}["aws:ec2launchtemplate:version"] == "2"

    # WHEN version 1 is the default again and the next drill runs
    w.ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="1")
    second = w.launch(S1)
    w.finish()

    # THEN it lands as version 1 says, and the first drill's EC2 instance was terminated (it was replaced)
    replaced = w.ec2_instance(w.job(first["jobID"])["participatingServers"][0]["recoveryInstanceID"])
    assert replaced["State"]["Name"] == "terminated"
    now = w.ec2_instance(w.job(second["jobID"])["participatingServers"][0]["recoveryInstanceID"])
    assert (now["SubnetId"], now["PrivateIpAddress"], now["State"]["Name"]) == (APP, "10.0.1.10", "running")


def test_the_template_is_read_when_the_instance_launches_not_at_start_recovery(world: Any) -> None:
    # GIVEN a drill of S1 started while version 1 (app subnet) is the default
    w = world({S1: _server()})
    w.launch(S1)

    # WHEN version 2 (db subnet) becomes the default before the launch ends
    w.new_default_version(S1, SubnetId=DB, Groups=[SG_DB])
    w.finish()

    # THEN the instance is in the db subnet
    assert w.ec2_instance(w.recovery_instance(S1)["ec2InstanceID"])["SubnetId"] == DB


def test_a_terminated_recovery_instance_frees_its_ip_for_the_next_launch(world: Any) -> None:
    # GIVEN S1 launched on its static IP, then terminated
    w = world({S1: _server(ip="10.0.1.10")})
    w.launch(S1)
    w.finish()
    first = w.recovery_instance(S1)["recoveryInstanceID"]
    w.drs.terminate_recovery_instances(recoveryInstanceIDs=[first])
    w.finish()

    # WHEN it launches again on the same IP
    job = w.launch(S1)
    w.finish()

    # THEN the EC2 instance is terminated and the new launch has the IP
    assert w.ec2_instance(first)["State"]["Name"] == "terminated"
    assert w.job(job["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    assert w.recovery_instance(S1)["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"] == ["10.0.1.10"]


# ---------------------------------------------------------------------- how a launch fails


def _rejected(code: str, message: str) -> str:
    return f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code})"


@pytest.mark.parametrize(
    ("server", "raw_error"),
    [
        (
            _server(ip="10.0.5.10"),
            _rejected("InvalidParameterValue", "Address 10.0.5.10 does not fall within the subnet's address range"),
        ),
        (
            _server(ip="10.0.1.0"),
            _rejected("InvalidParameterValue", "Address 10.0.1.0 is in subnet's reserved address range"),
        ),
        (
            _server(ip="10.0.1.3"),
            _rejected("InvalidParameterValue", "Address 10.0.1.3 is in subnet's reserved address range"),
        ),
        (
            _server(ip="10.0.1.255"),
            _rejected("InvalidParameterValue", "Address 10.0.1.255 is in subnet's reserved address range"),
        ),
        (
            _server(source_ip="192.168.0.10", copy_private_ip=True),
            _rejected("InvalidParameterValue", "Address 192.168.0.10 does not fall within the subnet's address range"),
        ),
        (
            _server(subnet="subnet-0c0000000000000c1"),
            _rejected("InvalidSubnetID.NotFound", "The subnet ID 'subnet-0c0000000000000c1' does not exist"),
        ),
        (
            _server(groups=("sg-0c0000000000000c1",)),
            _rejected("InvalidGroup.NotFound", "The security group 'sg-0c0000000000000c1' does not exist"),
        ),
        (
            _server(groups=(SG_APP, SG_FOREIGN)),
            _rejected(
                "InvalidParameter", f"Security group {SG_FOREIGN} and subnet {APP} belong to different networks."
            ),
        ),
        (
            _server(instance_type="x9.huge"),
            _rejected(
                "Unsupported",
                "Your requested instance type (x9.huge) is not supported in your requested Availability Zone "
                "(us-east-1a).",
            ),
        ),
    ],
    ids=[
        "ip-outside-cidr",
        "network-address",
        "reserved-third",
        "broadcast",
        "copied-ip-outside-cidr",
        "unknown-subnet",
        "unknown-group",
        "group-of-another-vpc",
        "type-not-offered",
    ],
)
def test_a_launch_ec2_refuses_fails_that_server_with_ec2s_error_in_the_job_log(
    world: Any, server: DrsServerSettings, raw_error: str
) -> None:
    # GIVEN S1 with a launch template EC2 refuses, and S2 with a good one
    w = world({S1: server, S2: _server()})

    # WHEN both launch in one drill
    job = w.launch(S1, S2)
    w.finish()

    # THEN S1 FAILED with EC2's error in a LAUNCH_FAILED log item, S2 LAUNCHED, and only S2 has an instance
    statuses = {p["sourceServerID"]: p["launchStatus"] for p in w.job(job["jobID"])["participatingServers"]}
    assert statuses == {S1: "FAILED", S2: "LAUNCHED"}
    assert w.failure_log(job["jobID"]) == [{"sourceServerID": S1, "rawError": raw_error}]
    assert w.drs.describe_recovery_instances(filters={"sourceServerIDs": [S1]})["items"] == []
    assert w.drs.describe_source_servers(filters={"sourceServerIDs": [S1]})["items"][0]["lastLaunchResult"] == "FAILED"
    tagged = w.ec2.describe_instances(
        Filters=[{"Name": "tag:AWSElasticDisasterRecoverySourceServerID", "Values": [S1]}]
    )["Reservations"]
    assert tagged == []
    results = {e["Resources"][0].rsplit("/", 1)[1]: e["Detail"] for e in w.events}
    assert '"RECOVERY_LAUNCH_FAILED"' in results[S1]
    assert '"RECOVERY_LAUNCH_SUCCEEDED"' in results[S2]


def test_an_ip_another_interface_uses_fails_the_launch(world: Any) -> None:
    # GIVEN 10.0.1.50 held by a network interface in the app subnet, and S1 asking for it
    w = world({S1: _server(ip="10.0.1.50")})
    w.ec2.create_network_interface(SubnetId=APP, PrivateIpAddress="10.0.1.50")

    # WHEN S1 launches THEN its launch fails as EC2 refuses an address in use
    job = w.launch(S1)
    w.finish()
    assert w.job(job["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"
    assert w.failure_log(job["jobID"]) == [
        {"sourceServerID": S1, "rawError": _rejected("InvalidIPAddress.InUse", "Address 10.0.1.50 is in use.")}
    ]


def test_a_relaunch_may_take_the_ip_of_the_instance_it_replaces_but_not_another_servers(world: Any) -> None:
    # GIVEN S1 running on 10.0.1.10 and S2 asking for the same IP
    w = world({S1: _server(ip="10.0.1.10"), S2: _server(ip="10.0.1.10")})
    w.launch(S1)
    w.finish()

    # WHEN S1 relaunches and S2 launches
    again = w.launch(S1)
    other = w.launch(S2)
    w.finish()

    # THEN S1's new instance has the IP (its previous instance gave it up) and S2's launch failed
    assert w.job(again["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    assert w.job(other["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"
    assert w.recovery_instance(S1)["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"] == ["10.0.1.10"]


# ---------------------------------------------------------------------- the simulation profile


def test_a_profile_declares_the_network_and_a_servers_tags_ip_and_launch_settings(tmp_path: Any) -> None:
    # GIVEN a profile with a VPC and a server with tags, source IP and launch settings
    from localcloud.cloud import LocalCloud

    path = tmp_path / "profile.yaml"
    path.write_text(
        f"""
ec2:
  vpcs:
    - vpcId: {VPC}
      cidrBlock: 10.0.0.0/16
      subnets: [{{subnetId: {DB}, cidrBlock: 10.0.2.0/24, availabilityZone: us-east-1b}}]
      securityGroups: [{{groupId: {SG_DB}, groupName: db}}]
drs:
  launchSeconds: {{min: 30, max: 30}}
  servers:
    {S1}:
      tags: {{app: shop, tier: db}}
      privateIp: 10.0.2.40
      launchConfiguration: {{copyPrivateIp: true, targetInstanceTypeRightSizingMethod: NONE}}
      launchTemplate: {{subnetId: {DB}, securityGroupIds: [{SG_DB}], instanceType: r5.xlarge}}
"""
    )
    cloud = LocalCloud(load_profile(path))
    cloud.start()
    try:
        drs = cloud.session.client("drs")
        # WHEN the cloud has started THEN S1 exists with its tags, before any plan named it
        server = drs.describe_source_servers()["items"]
        assert [(s["sourceServerID"], s["tags"]) for s in server] == [(S1, {"app": "shop", "tier": "db"})]
        assert drs.get_launch_configuration(sourceServerID=S1)["copyPrivateIp"] is True

        # WHEN it is launched THEN it lands in the profile's subnet on its copied IP
        drs.start_recovery(sourceServers=[{"sourceServerID": S1}], isDrill=True)
        cloud.clock.jump_to(cloud.clock.now() + timedelta(seconds=60))
        cloud.drs.advance()
        recovery = drs.describe_recovery_instances()["items"][0]
        instance = cloud.session.client("ec2").describe_instances(InstanceIds=[recovery["ec2InstanceID"]])
        launched = instance["Reservations"][0]["Instances"][0]
        assert (launched["SubnetId"], launched["PrivateIpAddress"], launched["InstanceType"]) == (
            DB,
            "10.0.2.40",
            "r5.xlarge",
        )
    finally:
        cloud.stop()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            f"ec2:\n  vpcs: [{{vpcId: {VPC}, cidrBlock: 10.0.0.0/16, "
            f"subnets: [{{subnetId: {APP}, cidrBlock: 10.1.0.0/24}}]}}]\n",
            f"ec2.vpcs.0: subnet {APP} (10.1.0.0/24) is not inside the VPC's 10.0.0.0/16",
        ),
        (
            f"ec2:\n  vpcs: [{{vpcId: {VPC}, cidrBlock: 10.0.0/16}}]\n",
            "ec2.vpcs.0: '10.0.0/16' is not an IPv4 CIDR block (e.g. 10.0.1.0/24)",
        ),
        (
            "ec2:\n  vpcs: [{vpcId: vpc-db, cidrBlock: 10.0.0.0/16}]\n",
            "ec2.vpcs.0.vpcId: String should match pattern '^vpc-([0-9a-f]{8}|[0-9a-f]{17})$'",
        ),
        (
            f"drs:\n  servers:\n    {S1}: {{launchTemplate: {{privateIpAddress: 10.0.1.300}}}}\n",
            f"drs.servers.{S1}.launchTemplate.privateIpAddress: '10.0.1.300' is not an IPv4 address",
        ),
        (
            f"drs:\n  servers:\n    {S1}: {{launchConfiguration: {{launchDisposition: PAUSED}}}}\n",
            f"drs.servers.{S1}.launchConfiguration.launchDisposition: Input should be 'STOPPED' or 'STARTED'",
        ),
    ],
)
def test_a_wrong_network_or_launch_setting_in_a_profile_is_named_by_its_path(
    tmp_path: Any, text: str, problem: str
) -> None:
    # GIVEN a profile with one mistake
    path = tmp_path / "profile.yaml"
    path.write_text(text)

    # WHEN it is loaded THEN the error names the key
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert str(raised.value) == f"{path}: {problem}"
