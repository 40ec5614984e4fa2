"""The evidence bucket on S3 (issue #16): an ended execution's reports under `executions/<executionId>/`.

Writes are conditional (S3 conditional writes, PutObject `If-None-Match: *` and `If-Match: <ETag>`): a first report
is created only if no object has the key, and a report that changed (the execution was reopened and ended again)
replaces only the version it was compared with. A write that loses either race is `EvidenceConflict` (S3 412
PreconditionFailed, or 409 ConditionalRequestConflict for a concurrent one), so two deliveries of one event never
leave two versions. Each object carries the SHA-256 of its bytes twice: in its user metadata (`sha256`, lowercase
hex, what the reports and the archive step compare) and as S3's own checksum (`ChecksumSHA256`: S3 refuses the
upload if the bytes it received differ; Object Lock refuses an upload without `x-amz-sdk-checksum-algorithm` or
Content-MD5).

The functions hold s3:PutObject and s3:GetObject on the prefix and no s3:ListBucket, so HeadObject of a key that
does not exist answers 403 rather than 404 (S3 API reference, HeadObject): the archive step never asks for a key
before it has created it (it creates first, and reads only after a 412 said the key exists). `read` (the CLI's
`report --aws`) maps NoSuchKey to None, and AccessDenied to an error naming both causes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orchestrator.domain.evidence import (
    ENDED_AT_METADATA,
    SHA256_METADATA,
    EvidenceConflict,
    EvidenceError,
    StoredEvidence,
)

_CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_RETRYABLE = frozenset({"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"})


def _error(exc: ClientError, what: str) -> EvidenceError:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _CONFLICTS:
        return EvidenceConflict(f"{what}: {code}", code=code)
    return EvidenceError(f"{what}: {exc}", code=code, retryable=code in _RETRYABLE)


class EvidenceBucket:
    """An S3 bucket of evidence on a boto3 S3 client (EvidencePort; the CLI reads with `read`)."""

    def __init__(self, client: Any, bucket: str) -> None:
        if not bucket:
            raise ValueError("the evidence bucket name must not be empty")
        self._client = client
        self.bucket = bucket

    def create(self, key: str, body: bytes, *, content_type: str, ended_at: str | None = None) -> StoredEvidence:
        """Store `body` at `key` unless an object has that key (`If-None-Match: *`). EvidenceConflict when one
        has; EvidenceError for any other refusal. `ended_at`: the ending it describes (metadata `ended-at`)."""
        return self._put(key, body, content_type, {ENDED_AT_METADATA: ended_at}, {"IfNoneMatch": "*"})

    def replace(
        self, key: str, body: bytes, *, content_type: str, etag: str, ended_at: str | None = None
    ) -> StoredEvidence:
        """Store `body` at `key` as a new version, only if the current one is still `etag` (`If-Match`).
        EvidenceConflict when another write came first."""
        return self._put(key, body, content_type, {ENDED_AT_METADATA: ended_at}, {"IfMatch": etag})

    def head(self, key: str) -> StoredEvidence | None:
        """The current version of `key` (HeadObject), or None when S3 says it does not exist (404)."""
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:
                return None
            raise _error(exc, f"HeadObject s3://{self.bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise EvidenceError(f"HeadObject s3://{self.bucket}/{key}: {exc}", retryable=True) from exc
        return _stored(key, response)

    def read(self, key: str) -> tuple[bytes, StoredEvidence] | None:
        """The current version's bytes and what S3 says of it (GetObject), or None when the key does not exist."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                return None
            if code == "AccessDenied":
                raise EvidenceError(
                    f"GetObject s3://{self.bucket}/{key}: AccessDenied (no such report, as S3 answers a caller "
                    "without s3:ListBucket, or your role lacks s3:GetObject on it: ReaderPolicyArn grants it)",
                    code=code,
                ) from exc
            raise _error(exc, f"GetObject s3://{self.bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise EvidenceError(f"GetObject s3://{self.bucket}/{key}: {exc}", retryable=True) from exc
        return bytes(body), _stored(key, response)

    def _put(
        self,
        key: str,
        body: bytes,
        content_type: str,
        extra: Mapping[str, str | None],
        condition: dict[str, str],
    ) -> StoredEvidence:
        digest = hashlib.sha256(body)
        metadata = {SHA256_METADATA: digest.hexdigest(), **{k: v for k, v in extra.items() if v}}
        try:
            response = self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=metadata,
                # Object Lock refuses an upload without x-amz-sdk-checksum-algorithm (or Content-MD5)
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
                **condition,
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _MISSING:  # If-Match on a key gone meanwhile
                raise EvidenceConflict(f"PutObject s3://{self.bucket}/{key}: the object is gone", code="404") from exc
            raise _error(exc, f"PutObject s3://{self.bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise EvidenceError(f"PutObject s3://{self.bucket}/{key}: {exc}", retryable=True) from exc
        return StoredEvidence(
            key=key,
            etag=str(response.get("ETag", "")),
            version_id=response.get("VersionId"),
            sha256=digest.hexdigest(),
            ended_at=metadata.get(ENDED_AT_METADATA),
        )


def _stored(key: str, response: dict[str, Any]) -> StoredEvidence:
    metadata = response.get("Metadata") or {}
    sha, ended = metadata.get(SHA256_METADATA), metadata.get(ENDED_AT_METADATA)
    return StoredEvidence(
        key=key,
        etag=str(response.get("ETag", "")),
        version_id=response.get("VersionId"),
        sha256=str(sha) if sha else None,
        ended_at=str(ended) if ended else None,
    )
