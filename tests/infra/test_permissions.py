"""The deploy settings that narrow the grants, and the cdk-nag reasons, without a synth of the whole stack."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack

from infra.constructs.nag import wildcard_acknowledgments
from infra.constructs.permissions import WILDCARD_REASONS, PermissionSettings, ssm_statements
from infra.definitions import project_ssm_documents
from infra.stack import StackConfig


def _resolved(settings: PermissionSettings) -> dict[str, dict[str, Any]]:
    stack = Stack(App(), "Grants", env={"account": "111122223333", "region": "eu-west-1"})
    return {s.sid or "-": stack.resolve(s.to_statement_json()) for s in ssm_statements(stack, settings)}


def test_allowed_documents_become_document_arns_and_patterns_stay_patterns() -> None:
    # GIVEN an allow-list with a document of the account, a prefix pattern, an AWS-owned and a shared document
    shared = "arn:aws:ssm:eu-west-1:444455556666:document/Shared-Fence"
    settings = PermissionSettings(allowed_ssm_documents=("Fence-Db", "Acme-*", "AWS-RunShellScript", shared))

    # WHEN the SSM statements are built
    statements = _resolved(settings)

    # THEN SendCommand and DescribeDocument name exactly those (AWS-owned documents have no account in their ARN)
    expected = [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:eu-west-1:111122223333:document/Fence-Db"]]},
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:eu-west-1:111122223333:document/Acme-*"]]},
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":ssm:eu-west-1::document/AWS-RunShellScript"]]},
        shared,  # a document shared from another account is named by its ARN
    ]
    assert statements["SsmSendCommandDocuments"]["Resource"] == expected
    assert statements["SsmDescribeDocument"]["Resource"] == expected


def test_the_script_target_tag_and_no_source_server_tag() -> None:
    # GIVEN a custom script-target tag and no source-server tag
    settings = PermissionSettings(allowed_ssm_documents=("X",), script_target_tag=("dr", "scripts-ok"))

    statements = _resolved(settings)

    # THEN tagged instances, and any instance DRS launched (there is no source-server tag to require)
    assert statements["SsmSendCommandToScriptTargets"]["Condition"] == {
        "StringEquals": {"ssm:resourceTag/dr": "scripts-ok"}
    }
    assert statements["SsmSendCommandToRecoveryInstances"]["Condition"] == {
        "Null": {"ssm:resourceTag/AWSElasticDisasterRecoveryManaged": "false"}
    }


def test_an_empty_allow_list_is_refused() -> None:
    with pytest.raises(ValueError, match="allowedSsmDocuments is empty"):
        _resolved(PermissionSettings(allowed_ssm_documents=()))


def _config(**context: Any) -> StackConfig:
    return StackConfig.from_context(context.get)


def test_context_defaults_to_the_projects_documents_and_tag() -> None:
    config = _config()
    assert tuple(config.allowed_ssm_documents) == project_ssm_documents()
    assert project_ssm_documents() == (
        "DRSOrch-AuroraGlobalFailover",
        "DRSOrch-DnsCutover",
        "DRSOrch-HealthCheck",
        "DRSOrch-RegisterTargets",
        "DRSOrch-ScaleEcsService",
        "DRSOrch-ServiceCheck",
        "DRSOrch-WaitForSsmAgent",
    )
    assert config.script_target_tag == ("drs-orch:script-target", "allowed")
    assert config.source_server_tag is None


def test_context_reads_lists_and_comma_separated_strings() -> None:
    config = _config(allowedSsmDocuments="Fence-Db, Acme-*", scriptTargetTag="dr=ok", sourceServerTag="drs=on")
    assert tuple(config.allowed_ssm_documents) == ("Fence-Db", "Acme-*")
    assert (config.script_target_tag, config.source_server_tag) == (("dr", "ok"), ("drs", "on"))
    assert tuple(_config(allowedSsmDocuments=["A-1", "B-2"]).allowed_ssm_documents) == ("A-1", "B-2")
    shared = "arn:aws:ssm:eu-west-1:444455556666:document/Shared-Fence"
    assert tuple(_config(allowedSsmDocuments=shared).allowed_ssm_documents) == (shared,)


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"allowedSsmDocuments": "DRSOrch-*,*"}, "allowedSsmDocuments: '\\*' would let plans run every document"),
        ({"allowedSsmDocuments": "Good,Bad Name"}, "allowedSsmDocuments: 'Bad Name' is not an SSM document name"),
        ({"allowedSsmDocuments": "Mid*dle"}, "allowedSsmDocuments: 'Mid\\*dle' is not"),
        ({"scriptTargetTag": "no-value"}, "scriptTargetTag: 'no-value' is not KEY=VALUE"),
        ({"scriptTargetTag": "=x"}, "scriptTargetTag: '=x' is not KEY=VALUE"),
        ({"sourceServerTag": "k="}, "sourceServerTag: 'k=' is not KEY=VALUE"),
    ],
)
def test_a_malformed_setting_fails_the_synth_naming_it(context: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(**context)


# ---- cdk-nag: one reason per statement ----------------------------------------------------------------


def _statement(sid: str, resource: str, action: str = "ec2:CreateVolume") -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def test_a_wildcard_two_statements_name_carries_both_reasons() -> None:
    # GIVEN two statements with reasons naming the same wildcard resource (one cdk-nag finding per resource)
    volumes = "arn:aws:ec2:eu-west-1:111122223333:volume/*"
    statements = [_statement("DrsCreateVolume", volumes), _statement("DrsManagedVolumes", volumes, "ec2:AttachVolume")]

    # WHEN the policy's wildcards are acknowledged
    acknowledged = wildcard_acknowledgments(statements)

    # THEN the finding's reason is each statement's own, after its Sid (not the last statement's alone)
    assert acknowledged == {
        f"IAM5[Resource::{volumes}]": f"DrsCreateVolume: {WILDCARD_REASONS['DrsCreateVolume']} | "
        f"DrsManagedVolumes: {WILDCARD_REASONS['DrsManagedVolumes']}"
    }


def test_a_wildcard_named_by_a_statement_without_a_reason_stays_a_finding() -> None:
    volumes = "arn:aws:ec2:eu-west-1:111122223333:volume/*"
    statements = [_statement("DrsCreateVolume", volumes), _statement("Unexplained", volumes, "ec2:DeleteVolume")]
    assert wildcard_acknowledgments(statements) == {}
