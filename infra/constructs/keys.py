"""A data store's optional customer managed KMS key (the ledger table, the evidence bucket)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct


def customer_managed_key(scope: Construct, *, enabled: bool, description: str) -> kms.Key | None:
    """`scope`'s own key ("Key"), rotated yearly and retained when the stack is deleted (the data it encrypts is
    retained too), when `enabled`; None otherwise (the store then uses its AWS-owned or S3-managed key)."""
    if not enabled:
        return None
    return kms.Key(scope, "Key", enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN, description=description)
