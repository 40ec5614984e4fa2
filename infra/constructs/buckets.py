"""The stack's S3 buckets share one baseline (the evidence bucket, its access-log bucket, the plan store)."""

from __future__ import annotations

from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(scope: Construct, construct_id: str, **props: Any) -> s3.Bucket:
    """A versioned bucket, TLS only, every public access blocked, ACLs disabled, retained when the stack is deleted,
    with S3-managed encryption unless `props` give another; `props`: any other `s3.Bucket` property."""
    baseline: dict[str, Any] = {
        "versioned": True,
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "enforce_ssl": True,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": RemovalPolicy.RETAIN,
    }
    return s3.Bucket(scope, construct_id, **{**baseline, **props})
