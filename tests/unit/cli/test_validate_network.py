"""`drs-orch validate --sim PROFILE` and `--aws`: each server's launch settings against the recovery network (a
simulation profile's, made in moto's EC2; or the account's, here moto's), in both modes, at the plan's lines."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from drs_orch import app as cli

runner = CliRunner()
VPC, OTHER_VPC = "vpc-0a0000000000000a1", "vpc-0b0000000000000b1"
DB, DRILL = "subnet-0a0000000000000a1", "subnet-0a0000000000000a2"
SG_DB, SG_FOREIGN = "sg-0a0000000000000a1", "sg-0b0000000000000b1"
PROFILE = f"""\
ec2:
  vpcs:
    - vpcId: {VPC}
      cidrBlock: 10.0.0.0/16
      subnets:
        - {{subnetId: {DB}, cidrBlock: 10.0.3.0/24, availabilityZone: us-east-1a}}
        - {{subnetId: {DRILL}, cidrBlock: 10.0.9.0/24, availabilityZone: us-east-1b}}
      securityGroups:
        - {{groupId: {SG_DB}, groupName: db}}
    - vpcId: {OTHER_VPC}
      cidrBlock: 10.9.0.0/16
      securityGroups:
        - {{groupId: {SG_FOREIGN}, groupName: foreign}}
"""
PLAN = f"""\
planId: net
defaults:
  launchSettings:
    subnetId: {DB}
    drill:
      subnetId: {DRILL}
waves:
  - waveId: db
    servers:
      - sourceServerID: s-00000000000000001
        launchSettings:
          privateIp: 10.0.3.20
          securityGroupIds: [{SG_FOREIGN}]
      - sourceServerID: s-00000000000000002
        launchSettings:
          instanceType: x9.huge
"""
GOOD = f"""\
planId: good
waves:
  - waveId: db
    launchSettings: {{subnetId: {DB}, securityGroupIds: [{SG_DB}], instanceType: m5.large}}
    servers:
      - sourceServerID: s-00000000000000001
        launchSettings: {{privateIp: 10.0.3.20}}
"""


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line]


def _expected(plan: Path) -> list[str]:
    return [
        f"{plan}:12: waves[0].servers[0].launchSettings.privateIp (wave db): in a drill, server 's-00000000000000001': "
        f"privateIp '10.0.3.20' is outside subnet '{DRILL}' (10.0.9.0/24)",
        f"{plan}:13: waves[0].servers[0].launchSettings.securityGroupIds[0] (wave db): server 's-00000000000000001': "
        f"security group '{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of subnet '{DB}' (a network "
        "interface's groups are in its subnet's VPC)",
        f"{plan}:13: waves[0].servers[0].launchSettings.securityGroupIds[0] (wave db): in a drill, server "
        f"'s-00000000000000001': security group '{SG_FOREIGN}' is in VPC '{OTHER_VPC}', not in VPC '{VPC}' of subnet "
        f"'{DRILL}' (a network interface's groups are in its subnet's VPC)",
        f"{plan}:16: waves[0].servers[1].launchSettings.instanceType (wave db): server 's-00000000000000002': "
        f"instanceType 'x9.huge' is not offered in availability zone 'us-east-1a' of subnet '{DB}'",
        f"{plan}:16: waves[0].servers[1].launchSettings.instanceType (wave db): in a drill, server "
        f"'s-00000000000000002': instanceType 'x9.huge' is not offered in availability zone 'us-east-1b' of subnet "
        f"'{DRILL}'",
        f"✗ {plan}: 5 problems",
    ]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    profile, plan, good = tmp_path / "profile.yaml", tmp_path / "plan.yaml", tmp_path / "good.yaml"
    profile.write_text(PROFILE)
    plan.write_text(PLAN)
    good.write_text(GOOD)
    return profile, plan, good


def test_validate_sim_checks_both_modes_against_the_profiles_network(files: tuple[Path, Path, Path]) -> None:
    # GIVEN a profile's network and a plan whose recovery and drill settings it cannot serve, and one it can
    profile, plan, good = files
    # WHEN they are validated against the profile
    result = runner.invoke(cli.app, ["validate", str(plan), str(good), "--sim", str(profile)])
    # THEN each problem is at its line, a drill's marked so; exit 2; the good plan is valid
    assert result.exit_code == 2, result.output
    assert _lines(result.output) == [
        *_expected(plan),
        f"✓ {good}: plan 'good' is valid (1 wave, 1 server)",
    ]
    # AND without --sim the same plan is statically valid
    assert runner.invoke(cli.app, ["validate", str(plan)]).exit_code == 0


def test_validate_aws_checks_the_accounts_network(files: tuple[Path, Path, Path]) -> None:
    # GIVEN the account holding that network (moto), and 10.0.3.20 held by a detached interface
    import yaml

    from localcloud.ec2_network import Ec2Profile, create_network

    _, plan, _ = files
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        create_network(ec2, Ec2Profile.model_validate(yaml.safe_load(PROFILE)["ec2"]))
        nic = ec2.create_network_interface(SubnetId=DB, PrivateIpAddress="10.0.3.20")["NetworkInterface"]
        # WHEN the plan is validated with --aws
        result = runner.invoke(cli.app, ["validate", str(plan), "--aws", "--region", "us-east-1"])
    # THEN the account's problems are the profile's, and the address in use is one more
    assert result.exit_code == 2, result.output
    in_use = (
        f"{plan}:12: waves[0].servers[0].launchSettings.privateIp (wave db): server 's-00000000000000001': "
        f"privateIp '10.0.3.20' is in use in subnet '{DB}' (10.0.3.0/24) by network interface "
        f"'{nic['NetworkInterfaceId']}'"
    )
    expected = _expected(plan)
    assert _lines(result.output) == [in_use, *expected[:-1], f"✗ {plan}: 6 problems"]
