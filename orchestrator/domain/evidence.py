"""Evidence kept on AWS (issue #16): where an execution's reports are stored, and how long the ledger may keep
what they were built from.

- `evidence_key(execution_id, name)`: `executions/<executionId>/<name>` (report.json; report.html later), the one
  prefix the archive function may write (infra/constructs/evidence.py grants s3:PutObject on it alone).
- `StoredEvidence`: what S3 says of a stored report (HeadObject / PutObject), its SHA-256 from the object's
  metadata (`x-amz-meta-sha256`, lowercase hex of the stored bytes).
- `ledger_ttl_problem(ttl_days, object_lock_days)`: the deploy rule of the ledger's time to live: off (None) by
  default; when on, never shorter than the archive's Object Lock retention, so the ledger never loses a run the
  archive may still lack (the CDK app refuses it at synth, the local cloud's profile at load).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

EVIDENCE_PREFIX = "executions/"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"  # the evidence report rendered from report.json (orchestrator/reporting/html.py)
SHA256_METADATA = "sha256"  # the user metadata key of the stored bytes' SHA-256 (S3 sends it as x-amz-meta-sha256)
ENDED_AT_METADATA = "ended-at"  # the user metadata key of the ending the report describes (its endedAt, ISO UTC)
# an execution id as StartPlan admits it (events/models.py): letters, digits and . _ : - (no '/': one id, one folder)
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# S3 Object Lock's default retention is at most 36,500 days (100 years; S3 API PutObjectLockConfiguration)
MAX_OBJECT_LOCK_DAYS = 36_500
# the ledger's time to live in days, when on. At least 3: a captured operator proof is refused once older than
# 2 days (orchestrator/steps/operator_proof.py MAX_PROOF_AGE), so the decisions it is checked against must outlive it
MIN_LEDGER_TTL_DAYS = 3
MAX_LEDGER_TTL_DAYS = 36_500


class EvidenceError(RuntimeError):
    """S3 refused or failed a call on the evidence bucket (`retryable`: throttling or a 5xx)."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class EvidenceConflict(EvidenceError):
    """A conditional write lost: another writer created or replaced the object first (S3 412 / 409)."""


@dataclass(frozen=True)
class StoredEvidence:
    """One stored version of an evidence object. `sha256`, `ended_at`: from its metadata (None when it has none)."""

    key: str
    etag: str
    version_id: str | None
    sha256: str | None
    ended_at: str | None = None


def sha256_hex(body: bytes) -> str:
    """The SHA-256 of `body`, lowercase hex (what the evidence's metadata and the HTML report carry)."""
    return hashlib.sha256(body).hexdigest()


def evidence_key(execution_id: str, name: str) -> str:
    """`executions/<executionId>/<name>`; ValueError for an id that is no single path segment."""
    if not _EXECUTION_ID.match(execution_id):
        raise ValueError(f"execution id {execution_id!r} cannot name an evidence folder")
    return f"{EVIDENCE_PREFIX}{execution_id}/{name}"


def ledger_ttl_problem(ttl_days: int | None, object_lock_days: int) -> str | None:
    """Why these retention settings are refused, or None. `ttl_days`: the ledger's time to live after a run ends
    (None: off, nothing expires); `object_lock_days`: the evidence bucket's Object Lock retention (0: none)."""
    if not 0 <= object_lock_days <= MAX_OBJECT_LOCK_DAYS:
        return f"evidenceObjectLockDays={object_lock_days}: give 0 (no Object Lock) to {MAX_OBJECT_LOCK_DAYS} days"
    if ttl_days is None:
        return None
    if not MIN_LEDGER_TTL_DAYS <= ttl_days <= MAX_LEDGER_TTL_DAYS:
        return (
            f"ledgerTtlDays={ttl_days}: give {MIN_LEDGER_TTL_DAYS} to {MAX_LEDGER_TTL_DAYS} days, or leave it unset "
            "(no time to live)"
        )
    if ttl_days < object_lock_days:
        return (
            f"ledgerTtlDays={ttl_days} is shorter than the evidence bucket's Object Lock retention "
            f"(evidenceObjectLockDays={object_lock_days}): the ledger would delete runs whose evidence the archive "
            f"must keep; set ledgerTtlDays to at least {object_lock_days}, or leave it unset"
        )
    return None
