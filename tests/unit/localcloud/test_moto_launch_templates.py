"""localcloud/moto_launch_templates.py: CreateLaunchTemplateVersion's SourceVersion and ClientToken on moto's EC2,
as EC2 answers them (and as moto alone does not)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import moto_launch_templates

SOURCE = {
    "ImageId": "ami-0123456789abcdef0",
    "InstanceType": "m5.large",
    "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-00000001", "AssociatePublicIpAddress": False}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "drs", "Value": "yes"}]}],
}
OURS = {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-00000002", "PrivateIpAddress": "10.0.3.15"}]}


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        moto_launch_templates.install()
        try:
            yield boto3.client("ec2", region_name="us-east-1")
        finally:
            moto_launch_templates.uninstall()


def _template(ec2: Any) -> str:
    made = ec2.create_launch_template(LaunchTemplateName="drs-s-1", LaunchTemplateData=SOURCE)
    return str(made["LaunchTemplate"]["LaunchTemplateId"])


def _data(ec2: Any, template_id: str, version: int) -> dict[str, Any]:
    [found] = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[str(version)])[
        "LaunchTemplateVersions"
    ]
    return dict(found["LaunchTemplateData"])


def test_a_version_from_a_source_version_keeps_the_sources_other_parameters(ec2: Any) -> None:
    # GIVEN a template whose version 1 has an image, a type, an interface and instance tags
    template_id = _template(ec2)
    # WHEN a version is made from version 1 with only a new interface
    made = ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData=OURS)
    # THEN it has version 1's other parameters and the new interface list in place of version 1's
    assert made["LaunchTemplateVersion"]["VersionNumber"] == 2
    assert _data(ec2, template_id, 2) == {**SOURCE, **OURS}
    # AND a version without SourceVersion holds only what was given
    ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData=OURS)
    assert _data(ec2, template_id, 3) == OURS


def test_a_repeated_client_token_returns_the_first_version(ec2: Any) -> None:
    # GIVEN a version made with a client token
    template_id = _template(ec2)
    request = {
        "LaunchTemplateId": template_id,
        "SourceVersion": "1",
        "LaunchTemplateData": OURS,
        "VersionDescription": "drs-orch k e1",
        "ClientToken": "k-s-1",
    }
    first = ec2.create_launch_template_version(**request)["LaunchTemplateVersion"]["VersionNumber"]
    # WHEN the same request comes again (a retry after a lost answer)
    again = ec2.create_launch_template_version(**request)["LaunchTemplateVersion"]["VersionNumber"]
    # THEN it is the same version, and no other exists
    assert (first, again) == (2, 2)
    [template] = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    assert template["LatestVersionNumber"] == 2
    # AND the token with other parameters is refused
    with pytest.raises(ClientError) as refused:
        ec2.create_launch_template_version(**{**request, "VersionDescription": "another"})
    assert refused.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
