"""PlanCompleted, PlanFailed, PlanCancelled -> the execution's evidence in the S3 bucket (issue #16).

When an execution ends, its report is built from the ledger (`orchestrator.reporting.stored.ledger_report`: the
same report `drs-orch report` prints) and each document of `EVIDENCE_DOCUMENTS` is stored at
`executions/<executionId>/<name>` with the SHA-256 of its bytes in its metadata (`sha256`) and the ending it
describes (`ended-at`). The bucket is versioned, and may be under Object Lock: every version written is kept.

Idempotence: by conditional writes, compared by content. The first delivery creates the object (If-None-Match:
*). Any later one (EventBridge's duplicate, Lambda's retry, the ending of a reopened execution) finds the key
taken (412), reads the current version's metadata and:
- the same SHA-256: UNCHANGED, nothing written (a duplicate leaves one version);
- a later ending than the stored one (the execution was reopened by an operator and ended again): REPLACED, a
  new version, only if the current one is still the one compared (If-Match: its ETag);
- an earlier ending than the stored one (a stale delivery built before the reopening): STALE, nothing written.
A conditional write that loses a race is tried again from the start, at most `MAX_ROUNDS` times. "Same bytes"
alone would not do: the report of an execution reopened and ended again must replace the first one, and a
conditional put alone (create only) would keep the first forever.

An event whose execution the ledger does not hold (a StartPlan refused before its execution existed: its
PlanFailed), or holds as running again (reopened since the event), stores nothing. S3 failures are raised: the
invocation is retried by Lambda and then kept on the failed-invocations queue (alarmed). This function reads the
ledger and writes nothing to it, not even a failure count (its role holds no ledger write).

The documents are `EVIDENCE_DOCUMENTS` (name, content type, render from the report dict): report.json and the
HTML evidence report rendered from it (report.html, deterministic: a duplicate finds the same bytes). When the
JSON is STALE, the documents after it are not written (they would describe the same earlier ending).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.evidence import REPORT_HTML, REPORT_JSON, EvidenceConflict, evidence_key, sha256_hex
from orchestrator.domain.ports import EvidencePort
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.observability import logger, metrics
from orchestrator.reporting.html import render_html
from orchestrator.reporting.stored import ledger_report, report_json
from orchestrator.runtime import Runtime

MAX_ROUNDS = 3  # conditional writes lost to a concurrent writer before the error is raised (and retried)


class Stored(StrEnum):
    CREATED = "CREATED"
    REPLACED = "REPLACED"
    UNCHANGED = "UNCHANGED"
    STALE = "STALE"


@dataclass(frozen=True)
class EvidenceDocument:
    """One file of an execution's evidence: its name under the execution's folder, its Content-Type, and how it
    is rendered from the report dict."""

    name: str
    content_type: str
    render: Callable[[dict[str, Any]], str]


EVIDENCE_DOCUMENTS: tuple[EvidenceDocument, ...] = (
    EvidenceDocument(REPORT_JSON, "application/json", report_json),
    # the HTML evidence report of that JSON (it carries the JSON file's SHA-256): deterministic, so a duplicate
    # delivery finds the same bytes and writes nothing
    EvidenceDocument(REPORT_HTML, "text/html; charset=utf-8", render_html),
)


def archive_execution(rt: Runtime, execution_id: str) -> dict[str, Stored]:
    """Store the evidence of the ended execution `execution_id`; what happened to each document, by name (empty
    when there is nothing to store). Raises EvidenceError (S3 refused or failed) and what the ledger raises."""
    if rt.evidence is None:
        raise RuntimeError("no evidence bucket: EVIDENCE_BUCKET_NAME is not set for this function")
    ledger = rt.ledger
    if not isinstance(ledger, Ledger):  # the report reads the DynamoDB ledger's items directly
        raise TypeError("the archive builds its report from the DynamoDB ledger")
    execution = ledger.execution(execution_id)
    if execution is None:
        logger.info("nothing to archive: the ledger has no such execution", execution_id=execution_id)
        return {}
    if execution.status not in EXECUTION_FINAL:
        logger.info("nothing to archive: the execution runs again", execution_id=execution_id, status=execution.status)
        return {}
    report = ledger_report(ledger, execution_id)
    if report is None:  # gone between the two reads (the ledger's time to live)
        return {}
    ended_at = report.get("endedAt")
    stored: dict[str, Stored] = {}
    for document in EVIDENCE_DOCUMENTS:
        if Stored.STALE in stored.values():  # rendered from the same stale report: stale too, nothing written
            stored[document.name] = Stored.STALE
            continue
        stored[document.name] = _store(
            rt.evidence,
            evidence_key(execution_id, document.name),
            document.render(report).encode("utf-8"),
            document.content_type,
            ended_at if isinstance(ended_at, str) else None,
        )
    for name, outcome in stored.items():
        metrics.add_metric(name=f"Evidence{outcome.value.title()}", unit="Count", value=1)
        logger.info("evidence stored", execution_id=execution_id, document=name, outcome=outcome.value)
    return stored


def _store(bucket: EvidencePort, key: str, body: bytes, content_type: str, ended_at: str | None) -> Stored:
    sha = sha256_hex(body)
    for _ in range(MAX_ROUNDS):
        try:
            bucket.create(key, body, content_type=content_type, ended_at=ended_at)
            return Stored.CREATED
        except EvidenceConflict:
            pass  # the key is taken: compare with what it holds
        current = bucket.head(key)
        if current is None:  # gone since the create was refused: create again
            continue
        if current.sha256 == sha:
            return Stored.UNCHANGED
        if _earlier(ended_at, current.ended_at):
            return Stored.STALE
        try:
            bucket.replace(key, body, content_type=content_type, etag=current.etag, ended_at=ended_at)
            return Stored.REPLACED
        except EvidenceConflict:
            continue  # another writer replaced it meanwhile: compare again
    raise EvidenceConflict(f"{key}: lost {MAX_ROUNDS} conditional writes in a row to concurrent writers")


def _earlier(ours: str | None, theirs: str | None) -> bool:
    """Whether our report describes an earlier ending than the stored one (then it must not replace it)."""
    if ours is None or theirs is None:
        return False
    try:
        return parse_iso(ours) < parse_iso(theirs)
    except ValueError:
        return False
