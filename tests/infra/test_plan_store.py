"""The plan store's bucket in the synthesized template: versioned, encrypted, TLS only, private, every version
written once; StartPlan reads it, the operators push to it, the readers read it, and nobody else is granted it."""

from __future__ import annotations

import json
from typing import Any

from infra.definitions import ENV_PLAN_BUCKET
from tests.infra.conftest import Synth


def _bucket(synth: Synth) -> tuple[str, dict[str, Any]]:
    logical_id = synth.logical_id(synth.stack.plan_store.bucket)
    return logical_id, synth.resources[logical_id]


def _statements_naming(synth: Synth, logical_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every policy (inline or managed) of the template with its statements that name the bucket."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy_id, policy in synth.resources.items():
        if policy["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if logical_id in json.dumps(statement["Resource"]):
                found.setdefault(policy_id, []).append(statement)
    return found


def test_the_bucket_is_versioned_encrypted_private_and_retained(synth: Synth) -> None:
    _, bucket = _bucket(synth)
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # it is not the evidence bucket: the stack outputs it on its own
    assert synth.template["Outputs"]["PlanBucketName"]["Value"] == {"Ref": _bucket(synth)[0]}


def test_its_policy_refuses_plain_http_and_any_put_that_could_overwrite_a_version(synth: Synth) -> None:
    logical_id, _ = _bucket(synth)
    [policy] = [
        p for p in synth.of_type("AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": logical_id}
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    denials = {(s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"])): s for s in statements}
    assert all(s["Effect"] == "Deny" and s["Principal"] == {"AWS": "*"} for s in statements)
    assert denials["s3:*"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert denials["s3:PutObject"]["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    assert denials["s3:PutObject"]["Sid"] == "VersionsAreWrittenOnce"


def test_only_start_plan_the_operators_and_the_readers_are_granted_it(synth: Synth) -> None:
    # GIVEN every identity policy that names the bucket
    logical_id, _ = _bucket(synth)
    stack = synth.stack
    start_plan_policy = synth.logical_id(stack.functions.roles["start_plan"].node.find_child("DefaultPolicy"))
    operate, read = synth.logical_id(stack.cli_policies.operate), synth.logical_id(stack.cli_policies.read)

    # WHEN their statements are read
    granted = {
        policy: sorted((s["Sid"], s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"])) for s in found)
        for policy, found in _statements_naming(synth, logical_id).items()
    }

    # THEN StartPlan reads, the operators push and read, the readers read; no other function or policy
    assert granted == {
        start_plan_policy: [("PlanStoreListsVersions", "s3:ListBucket"), ("PlanStoreReadsVersions", "s3:GetObject")],
        operate: [
            ("PushPlanListsVersions", "s3:ListBucket"),
            ("PushPlanReadsVersions", "s3:GetObject"),
            ("PushPlanVersions", "s3:PutObject"),
        ],
        read: [("ShowPlanListsVersions", "s3:ListBucket"), ("ShowPlanReadsVersions", "s3:GetObject")],
    }
    # AND a push only with If-None-Match, a listing only under plans/
    statements = {s["Sid"]: s for found in _statements_naming(synth, logical_id).values() for s in found}
    assert statements["PushPlanVersions"]["Condition"] == {"Null": {"s3:if-none-match": "false"}}
    for sid in ("PlanStoreListsVersions", "PushPlanListsVersions", "ShowPlanListsVersions"):
        assert statements[sid]["Condition"] == {"StringLike": {"s3:prefix": ["plans/*"]}}
    assert json.dumps(statements["PlanStoreReadsVersions"]["Resource"]).endswith('"/plans/*"]]}')


def test_start_plan_alone_is_told_the_bucket(synth: Synth) -> None:
    stack = synth.stack
    told = {
        name
        for name, function in stack.functions.functions.items()
        if ENV_PLAN_BUCKET in synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"]
    }
    assert told == {"start_plan"}
