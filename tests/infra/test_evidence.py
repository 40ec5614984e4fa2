"""The evidence bucket, the archive function's grants and the ledger's time to live as deployed (issue #16).

The session's template (no Object Lock, no time to live: the defaults) and one more synthesized with Object Lock,
a customer managed key and a time to live; the refusal of a time to live shorter than the Object Lock is checked
where the stack reads its context (no synth needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.constructs.nag import render
from infra.definitions import ENV_EVIDENCE_BUCKET, ENV_LEDGER_TTL_DAYS, FUNCTIONS, ROUTES
from infra.stack import StackConfig
from tests.infra.conftest import CONTEXT, Synth, synthesize

LOCKED = {"evidenceObjectLockDays": 400, "ledgerTtlDays": 730, "evidenceCustomerManagedKey": True}


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out.locked"), {**CONTEXT, **LOCKED})


def _bucket(synth: Synth) -> dict[str, Any]:
    return dict(synth.resources[synth.logical_id(synth.stack.evidence.bucket)]["Properties"])


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _policy_statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    ref = {"Ref": synth.logical_id(role)}
    return [
        statement
        for res in synth.of_type("AWS::IAM::Policy").values()
        if ref in res["Properties"].get("Roles", [])
        for statement in res["Properties"]["PolicyDocument"]["Statement"]
    ]


def _environments(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        name: synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
        for name, function in synth.stack.functions.functions.items()
    }


def test_the_bucket_is_versioned_encrypted_private_logged_and_not_locked_by_default(synth: Synth) -> None:
    bucket = _bucket(synth)
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": synth.logical_id(synth.stack.evidence.access_logs)},
        "LogFilePrefix": "evidence/",
    }
    assert "ObjectLockEnabled" not in bucket
    assert "ObjectLockConfiguration" not in bucket
    assert [rule["Id"] for rule in bucket["LifecycleConfiguration"]["Rules"]] == ["abort-incomplete-uploads"]
    resource = synth.resources[synth.logical_id(synth.stack.evidence.bucket)]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_bucket_admits_tls_requests_only(synth: Synth) -> None:
    ref = {"Ref": synth.logical_id(synth.stack.evidence.bucket)}
    [policy] = [
        p["Properties"] for p in synth.of_type("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == ref
    ]
    [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == "s3:*"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(_listify(deny["Resource"])) == 2  # the bucket and every object in it


def test_the_archive_function_puts_and_gets_reports_only_and_reads_the_ledger_only(synth: Synth) -> None:
    # GIVEN the archive function's role
    statements = _policy_statements(synth, synth.stack.functions.roles["archive"])
    # THEN its S3 statement is PutObject and GetObject on executions/* of the evidence bucket, nothing else of S3
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _listify(s["Action"]))]
    assert [(s["Sid"], s["Action"]) for s in s3] == [("EvidenceArchive", ["s3:PutObject", "s3:GetObject"])]
    assert render(s3[0]["Resource"]) == f"<{synth.logical_id(synth.stack.evidence.bucket)}.Arn>/executions/*"
    # AND its DynamoDB statement only reads, and it may put nothing on the bus
    dynamodb = sorted(a for s in statements for a in _listify(s["Action"]) if a.startswith("dynamodb:"))
    assert dynamodb == ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"]
    assert not [a for s in statements for a in _listify(s["Action"]) if a.startswith("events:")]
    # AND no other function may touch the bucket
    for name, role in synth.stack.functions.roles.items():
        if name != "archive":
            assert not [s for s in _policy_statements(synth, role) if "s3:PutObject" in _listify(s["Action"])], name


def test_only_the_archive_function_knows_the_bucket_and_no_function_a_time_to_live(synth: Synth) -> None:
    environments = _environments(synth)
    assert [name for name, env in environments.items() if ENV_EVIDENCE_BUCKET in env] == ["archive"]
    assert environments["archive"][ENV_EVIDENCE_BUCKET] == {"Ref": synth.logical_id(synth.stack.evidence.bucket)}
    assert [name for name, env in environments.items() if ENV_LEDGER_TTL_DAYS in env] == []


def test_the_archive_function_receives_every_ending_of_an_execution() -> None:
    [route] = [r for r in ROUTES if r.target == "archive"]
    assert route.pattern["detail-type"] == ["PlanCompleted", "PlanFailed", "PlanCancelled"]
    assert route.pattern["replay-name"] == [{"exists": False}]  # a replay archives nothing again
    assert FUNCTIONS["archive"].ledger_read_only
    assert not FUNCTIONS["archive"].needs_bus


def test_object_lock_a_customer_key_and_a_time_to_live_when_the_deploy_sets_them(locked: Synth) -> None:
    assert locked.error is None, locked.error  # cdk-nag finds nothing
    bucket = _bucket(locked)
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 400}},
    }
    key = {"Fn::GetAtt": [locked.logical_id(locked.stack.evidence.key), "Arn"]}
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"KMSMasterKeyID": key, "SSEAlgorithm": "aws:kms"},
    }
    # the archive function may use the key through S3 only
    statements = _policy_statements(locked, locked.stack.functions.roles["archive"])
    [kms] = [s for s in statements if s.get("Sid") == "EvidenceKeyArchive"]
    assert (kms["Action"], kms["Resource"]) == (["kms:Decrypt", "kms:GenerateDataKey"], key)
    [(operator, condition)] = kms["Condition"].items()
    assert (operator, render(condition["kms:ViaService"])) == ("StringEquals", "s3.<AWS::Region>.amazonaws.com")
    # the ledger's writers get the time to live; the archive function, which writes nothing to the ledger, does not
    environments = _environments(locked)
    with_ttl = sorted(name for name, env in environments.items() if env.get(ENV_LEDGER_TTL_DAYS) == "730")
    writers = sorted(name for name, spec in FUNCTIONS.items() if spec.needs_table and not spec.ledger_read_only)
    assert with_ttl == writers


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"evidenceObjectLockDays": 365, "ledgerTtlDays": 90},
            "ledgerTtlDays=90 is shorter than the evidence bucket's Object Lock retention (evidenceObjectLockDays=365)",
        ),
        ({"ledgerTtlDays": 2}, "ledgerTtlDays=2: give 3 to 36500 days"),
        ({"ledgerTtlDays": "ninety"}, "ledgerTtlDays: 'ninety' is not a whole number of days"),
        ({"evidenceObjectLockDays": -1}, "evidenceObjectLockDays=-1: give 0 (no Object Lock) to 36500 days"),
    ],
)
def test_a_time_to_live_shorter_than_the_object_lock_is_refused_at_synth(context: dict[str, Any], message: str) -> None:
    # GIVEN retention settings a deploy must not accept WHEN the stack reads its context THEN it refuses them
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        StackConfig.from_context(context.get)


def test_the_refusal_stops_the_app_before_anything_is_synthesized(tmp_path: Path) -> None:
    from infra.app import build_app

    with pytest.raises(ValueError, match="ledgerTtlDays=100 is shorter"):
        build_app({**CONTEXT, "evidenceObjectLockDays": 400, "ledgerTtlDays": 100}, outdir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_no_time_to_live_or_one_at_least_the_lock_is_accepted() -> None:
    assert StackConfig.from_context({}.get).ledger_ttl_days is None
    assert StackConfig.from_context({"ledgerTtlDays": 0}.get).ledger_ttl_days is None
    config = StackConfig.from_context({"evidenceObjectLockDays": "400", "ledgerTtlDays": "400"}.get)
    assert (config.evidence_object_lock_days, config.ledger_ttl_days) == (400, 400)
