"""The evidence bucket (issue #16): every ended execution's report, kept for the auditors.

- Versioned; encrypted at rest with S3-managed keys (SSE-S3), or with a customer managed KMS key of its own
  (rotated, retained) when the deploy sets `evidenceCustomerManagedKey`, as the ledger does with
  `ledgerCustomerManagedKey`; TLS only (a bucket policy denies every request without aws:SecureTransport); every
  public access blocked; ACLs disabled (bucket owner enforced).
- Object Lock in COMPLIANCE mode with a default retention of `evidenceObjectLockDays` days when the deploy sets
  it (0, the default: no Object Lock). Object Lock is enabled at the bucket's creation only: turning it on later
  replaces the bucket (CloudFormation), so decide before the first deploy. In COMPLIANCE mode nobody, the
  account's root user included, can delete or overwrite a locked version before its retention ends.
- Server access logs go to a bucket of their own (SSE-S3: S3 cannot deliver access logs to an SSE-KMS bucket),
  kept as long as the evidence is locked and at least a year: who read the evidence is evidence too.
- Lifecycle: multipart uploads left incomplete are aborted after a day. Nothing expires: the reports are small
  (KBs) and the retention is the deploy's decision, so no rule deletes or moves them (an infrequent-access class
  bills small objects as 128 KB).

Grants: the archive function may put and get objects under `executions/` only (`grant_archive`): PutObject to
store, GetObject for the HeadObject it makes after a conditional put found the key taken (HeadObject is
authorized by s3:GetObject); the CLI's reader policy may get them (`report_reader_statements`).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.buckets import private_bucket
from infra.constructs.keys import customer_managed_key as customer_managed_key_of
from orchestrator.domain.evidence import EVIDENCE_PREFIX

ARCHIVE_ACTIONS: tuple[str, ...] = ("s3:PutObject", "s3:GetObject")
READ_ACTIONS: tuple[str, ...] = ("s3:GetObject",)
MIN_ACCESS_LOG_DAYS = 365


class EvidenceBucket(Construct):
    """The versioned, encrypted, TLS-only, private evidence bucket, optionally under Object Lock (COMPLIANCE)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        object_lock_days: int = 0,
        customer_managed_key: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.object_lock_days = object_lock_days
        self.key: kms.Key | None = customer_managed_key_of(
            self, enabled=customer_managed_key, description="DRS Orchestrator evidence bucket"
        )
        self.access_logs = private_bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(max(MIN_ACCESS_LOG_DAYS, object_lock_days)),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        cfn_logs = self.access_logs.node.default_child
        assert isinstance(cfn_logs, s3.CfnBucket)
        cfn_logs.add_metadata(
            "checkov",
            {
                "skip": [
                    {
                        "id": "CKV_AWS_18",
                        "comment": "the evidence bucket's access-log bucket: logging it would log into itself",
                    }
                ]
            },
        )
        self.bucket = private_bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS if self.key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=self.key,
            bucket_key_enabled=True if self.key else None,  # fewer KMS calls (and costs) per object
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="evidence/",
            object_lock_enabled=object_lock_days > 0 or None,
            object_lock_default_retention=(
                s3.ObjectLockRetention.compliance(Duration.days(object_lock_days)) if object_lock_days else None
            ),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                )
            ],
        )

    @property
    def reports_arn(self) -> str:
        """Every object under `executions/` (the one prefix the archive writes)."""
        return self.bucket.arn_for_objects(f"{EVIDENCE_PREFIX}*")

    def grant_archive(self, grantee: iam.IGrantable) -> None:
        """PutObject and GetObject under `executions/` only (and the key's data-key use through S3, with a key)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(sid="EvidenceArchive", actions=list(ARCHIVE_ACTIONS), resources=[self.reports_arn])
        )
        if self.key is not None:
            grantee.grant_principal.add_to_principal_policy(self._key_statement("EvidenceKeyArchive", encrypt=True))

    def report_reader_statements(self) -> list[iam.PolicyStatement]:
        """What `drs-orch report --aws` needs to read a stored report: GetObject under `executions/`."""
        statements = [
            iam.PolicyStatement(sid="ReadStoredReports", actions=list(READ_ACTIONS), resources=[self.reports_arn])
        ]
        if self.key is not None:
            statements.append(self._key_statement("ReadStoredReportsKey", encrypt=False))
        return statements

    def _key_statement(self, sid: str, *, encrypt: bool) -> iam.PolicyStatement:
        assert self.key is not None
        actions = ["kms:Decrypt", "kms:GenerateDataKey"] if encrypt else ["kms:Decrypt"]
        return iam.PolicyStatement(
            sid=sid,
            actions=actions,
            resources=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
        )
