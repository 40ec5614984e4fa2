"""The plan store: an S3 bucket of stored plans (`drs-orch plan push`; orchestrator/adapters/plan_store.py).

Why S3 and not the ledger table: a plan is a document that must outlive every execution (the ledger's items expire
with their executions, and its TTL is a deploy setting), that grows with the estate (a 10,000-server plan is about
660 KB as JSON, past DynamoDB's 400 KB item without the compression the frozen plan needs), and that operators write
while the functions only read: in S3 the operator policy may put objects under `plans/` and nothing else, where a
ledger grant would be a write on the table every execution lives in. S3 conditional writes (If-None-Match) number the
versions without a counter item, and bucket versioning keeps every object version whatever happens to a key.

The bucket: versioned, encrypted (SSE-S3), TLS only, every public access blocked, objects owned by the bucket
owner (no ACLs), retained when the stack is deleted. Its policy refuses any PutObject without `If-None-Match` (the
condition key `s3:if-none-match`, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html),
so a stored version is never overwritten in place, by anyone. This is not the evidence bucket (the archive of
execution reports): each has its own policy and readers.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constructs.buckets import private_bucket
from infra.constructs.nag import acknowledge
from orchestrator.domain.stored_plans import PREFIX

#: The key pattern of every stored version (what the functions read and the operators write).
VERSIONS = f"{PREFIX}*"


class PlanStore(Construct):
    """The plan store's bucket and its grants: `grant_read` (StartPlan: one version, and the listing that tells an
    unknown version from a refusal), `read_statements` and `push_statements` (the CLI's policies)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(self, "Bucket")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="VersionsAreWrittenOnce",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        reason = (
            "The plan store records who pushed each version in CloudTrail (S3 data events, where the account "
            "enables them: the IAM identity per object call); server access logs would need a second bucket for "
            "best-effort, unauthenticated-format records of the same calls."
        )
        acknowledge(self.bucket, "S1", reason)
        cfn = self.bucket.node.default_child
        assert isinstance(cfn, CfnResource)
        cfn.add_metadata("checkov", {"skip": [{"id": "CKV_AWS_18", "comment": reason}]})

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """GetObject of the versions, and ListBucket under `plans/` (S3 answers a missing key NoSuchKey only to a
        caller allowed to list; the error then names the versions there are)."""
        for statement in self.read_statements(sid_prefix="PlanStore"):
            grantee.grant_principal.add_to_principal_policy(statement)

    def read_statements(self, *, sid_prefix: str) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                sid=f"{sid_prefix}ReadsVersions",
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(VERSIONS)],
            ),
            iam.PolicyStatement(
                sid=f"{sid_prefix}ListsVersions",
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [VERSIONS]}},
            ),
        ]

    def push_statements(self) -> list[iam.PolicyStatement]:
        """`plan push`: PutObject of a new version only with If-None-Match (the bucket policy refuses the rest
        anyway), and the reads that find the latest version and its digest."""
        return [
            iam.PolicyStatement(
                sid="PushPlanVersions",
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(VERSIONS)],
                conditions={"Null": {"s3:if-none-match": "false"}},
            ),
            *self.read_statements(sid_prefix="PushPlan"),
        ]
