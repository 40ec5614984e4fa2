"""The evidence bucket's adapter on moto's S3 (issue #16): conditional writes, metadata, reads, errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestrator.adapters.evidence import EvidenceBucket
from orchestrator.domain.evidence import EvidenceConflict, EvidenceError, evidence_key, sha256_hex

BUCKET = "evidence"
KEY = "executions/e1/report.json"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)  # versioned, as the stack's may be
        client.put_object_lock_configuration(
            Bucket=BUCKET,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        yield client


def test_a_report_is_created_once_with_its_sha256_and_ending(s3: Any) -> None:
    # GIVEN the bucket's adapter
    bucket = EvidenceBucket(s3, BUCKET)
    # WHEN a report is created, then created again
    stored = bucket.create(KEY, b'{"a": 1}\n', content_type="application/json", ended_at="2026-01-01T09:01:00.000Z")
    with pytest.raises(EvidenceConflict):
        bucket.create(KEY, b'{"a": 2}\n', content_type="application/json")
    # THEN the first stands, alone, with its SHA-256 and ending in its metadata (as HeadObject reads them back)
    assert stored.sha256 == sha256_hex(b'{"a": 1}\n')
    assert bucket.head(KEY) == stored
    versions = s3.list_object_versions(Bucket=BUCKET)["Versions"]
    assert [v["VersionId"] for v in versions] == [stored.version_id]
    head = s3.head_object(Bucket=BUCKET, Key=KEY)
    assert head["Metadata"] == {"sha256": stored.sha256, "ended-at": "2026-01-01T09:01:00.000Z"}
    assert head["ContentType"] == "application/json"


def test_a_replacement_is_written_only_over_the_version_it_compared(s3: Any) -> None:
    # GIVEN a stored report, and its current version as a writer read it
    bucket = EvidenceBucket(s3, BUCKET)
    first = bucket.create(KEY, b"one", content_type="application/json")
    # WHEN one writer replaces it, and another replaces the version it read before that
    second = bucket.replace(KEY, b"two", content_type="application/json", etag=first.etag)
    with pytest.raises(EvidenceConflict):
        bucket.replace(KEY, b"three", content_type="application/json", etag=first.etag)
    # THEN two versions exist, the second current; the late writer changed nothing
    assert second.version_id != first.version_id
    found = bucket.read(KEY)
    assert found is not None
    assert found[0] == b"two"
    assert found[1].sha256 == sha256_hex(b"two")
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 2


def test_a_missing_report_reads_as_none_and_a_missing_bucket_is_an_error(s3: Any) -> None:
    bucket = EvidenceBucket(s3, BUCKET)
    assert bucket.read("executions/nothing/report.json") is None
    assert bucket.head("executions/nothing/report.json") is None
    with pytest.raises(EvidenceError, match="NoSuchBucket"):
        EvidenceBucket(s3, "no-such-bucket").create(KEY, b"x", content_type="application/json")


def test_an_evidence_key_is_one_folder_per_execution() -> None:
    assert evidence_key("drill-2026.01:a_b", "report.json") == "executions/drill-2026.01:a_b/report.json"
    for bad in ("", "a/b", "../x", "a b"):
        with pytest.raises(ValueError, match="cannot name an evidence folder"):
            evidence_key(bad, "report.json")
