"""Managed nodes declared in a profile (`ssm.instances`) exist before any launch."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from localcloud.ssm_sim import SsmSimulator
from localcloud.ssm_sim_config import SsmSimConfig


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


def test_profile_instances_are_targets_by_tag() -> None:
    # GIVEN a profile with the old site's primary, tagged
    config = SsmSimConfig.from_profile({"instances": {"i-0a1b2c3d4e5f60718": {"tags": {"Role": "database-primary"}}}})
    sim = SsmSimulator(_Clock(), config)
    client = sim.attach(
        boto3.client(
            "ssm",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )
    )
    # WHEN a command targets that tag
    command = client.send_command(
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["echo fence"]},
        Targets=[{"Key": "tag:Role", "Values": ["database-primary"]}],
    )["Command"]
    # THEN it reaches that one instance
    assert command["TargetCount"] == 1
    info = client.describe_instance_information()["InstanceInformationList"]
    assert [i["InstanceId"] for i in info] == ["i-0a1b2c3d4e5f60718"]


def test_unknown_instance_key_is_an_error() -> None:
    # GIVEN / WHEN / THEN a typo in an instance's settings is named
    with pytest.raises(ValueError, match=r"ssm\.instances\.i-1\.tag"):
        SsmSimConfig.from_profile({"instances": {"i-1": {"tag": {}}}})
