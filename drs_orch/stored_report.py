"""`drs-orch report EXECUTION --aws`: the report the archive function stored in the evidence bucket (issue #16).

Read when the ledger no longer holds the execution: `executions/<executionId>/report.json`, its bytes checked
against the SHA-256 in the object's metadata (a report whose bytes do not match is refused, not printed).
"""

from __future__ import annotations

import json
from typing import Any


class StoredReportError(RuntimeError):
    """The stored report cannot be read or is not the one the archive wrote."""


def read_stored_report(bucket: str, execution_id: str, region: str | None) -> tuple[dict[str, Any], str] | None:
    """(the stored report, where it was read: `s3://bucket/key (version ..., sha256 ...)`), or None when the bucket
    has no report of `execution_id`. StoredReportError for anything else."""
    import boto3

    from orchestrator.adapters.evidence import EvidenceBucket
    from orchestrator.domain.evidence import REPORT_JSON, EvidenceError, evidence_key, sha256_hex

    try:
        key = evidence_key(execution_id, REPORT_JSON)
    except ValueError as exc:
        raise StoredReportError(str(exc)) from None
    try:
        found = EvidenceBucket(boto3.client("s3", region_name=region), bucket).read(key)
    except EvidenceError as exc:
        raise StoredReportError(str(exc)) from None
    if found is None:
        return None
    body, stored = found
    digest = sha256_hex(body)
    if stored.sha256 != digest:
        raise StoredReportError(
            f"s3://{bucket}/{key}: its bytes' SHA-256 {digest} is not the one the archive recorded ({stored.sha256})"
        )
    try:
        report = json.loads(body)
    except ValueError as exc:
        raise StoredReportError(f"s3://{bucket}/{key}: not JSON ({exc})") from None
    if not isinstance(report, dict):
        raise StoredReportError(f"s3://{bucket}/{key}: not a report (a JSON object)")
    version = f"version {stored.version_id}, " if stored.version_id else ""
    return report, f"s3://{bucket}/{key} ({version}sha256 {digest})"
