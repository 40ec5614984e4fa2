"""The plan store: stored plans (orchestrator/domain/stored_plans.py) as objects of an S3 bucket of the stack.

One object per version, `plans/<planId>/<version, 8 digits>.json`, holding the document's canonical JSON, with its
SHA-256 in the object's metadata (`sha256`). A version is written once: PutObject with `If-None-Match: *`, which S3
refuses (412 Precondition Failed) when the key exists (https://docs.aws.amazon.com/AmazonS3/latest/userguide/
conditional-writes.html), so two pushes at the same moment never get the same number: the loser takes the next
one. The bucket is versioned and its policy refuses a PutObject without that header (infra/constructs/plan_store.py):
nothing overwrites a version in place, and an old object version stays readable even if someone deletes or
overwrites a key by hand. Reading a version checks its text against the recorded digest.

Calls: s3:ListBucket (ListObjectsV2 under `plans/<planId>/`, and under `plans/` to list plan ids), s3:GetObject
(GetObject, HeadObject), s3:PutObject (PutObject). S3 answers a missing key with NoSuchKey (404) only to a caller
allowed s3:ListBucket (else AccessDenied): the StartPlan function holds both reads so an unknown version is told
apart from a refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.domain.stored_plans import (
    PREFIX,
    CorruptStoredPlan,
    PushResult,
    StoredPlan,
    StoredVersion,
    UnknownStoredPlan,
    canonical_bytes,
    digest,
    parse_key,
    plan_prefix,
    version_key,
)

DIGEST_METADATA = "sha256"  # x-amz-meta-sha256: the document's SHA-256 as pushed
#: Pushes that lost the race for a number in a row before giving up (each loss means another push won it).
MAX_PUSH_ATTEMPTS = 20
_RETRYABLE = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class PlanStoreError(RuntimeError):
    """An S3 call of the plan store failed; `retryable`: a passing error (throttling, a 5xx)."""

    def __init__(self, message: str, code: str = "", *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _translate(exc: ClientError, what: str) -> PlanStoreError:
    code = _code(exc)
    message = exc.response.get("Error", {}).get("Message") or str(exc)
    return PlanStoreError(f"{what}: {code}: {message}", code, retryable=code in _RETRYABLE)


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else None


class PlanStore:
    """Stored plans in `bucket` (S3 client `client`)."""

    def __init__(self, client: Any, bucket: str) -> None:
        if not bucket:
            raise ValueError("the plan store needs its bucket's name (PLAN_BUCKET_NAME, stack output PlanBucketName)")
        self._client = client
        self.bucket = bucket

    # ---- reading -----------------------------------------------------------------------------------

    def _keys(self, prefix: str, **extra: Any) -> Iterator[dict[str, Any]]:
        """Every page of ListObjectsV2 under `prefix`."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, **extra}
            if token:
                kwargs["ContinuationToken"] = token
            try:
                page: dict[str, Any] = self._client.list_objects_v2(**kwargs)
            except ClientError as exc:
                raise _translate(exc, f"listing s3://{self.bucket}/{prefix}") from exc
            yield page
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return

    def versions(self, plan_id: str) -> list[StoredVersion]:
        """Every version of `plan_id`, oldest first (empty: never pushed). A listing carries no digest."""
        found = []
        for page in self._keys(plan_prefix(plan_id)):
            for item in page.get("Contents", []):
                parsed = parse_key(str(item["Key"]))
                if parsed is not None and parsed[0] == plan_id:
                    found.append(
                        StoredVersion(plan_id, parsed[1], int(item.get("Size", 0)), _iso(item.get("LastModified")))
                    )
        return sorted(found, key=lambda v: v.version)

    def latest(self, plan_id: str) -> int | None:
        """The newest version of `plan_id` (None: never pushed)."""
        versions = self.versions(plan_id)
        return versions[-1].version if versions else None

    def plan_ids(self) -> list[str]:
        """Every plan id with at least one version, sorted."""
        ids = []
        for page in self._keys(PREFIX, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                ids.append(str(common["Prefix"])[len(PREFIX) :].rstrip("/"))
        return sorted(ids)

    def digest_of(self, plan_id: str, version: int) -> str | None:
        """The SHA-256 recorded when the version was pushed (HeadObject); None if the version does not exist."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=version_key(plan_id, version))
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise _translate(exc, f"reading {plan_id}:{version}") from exc
        value = (head.get("Metadata") or {}).get(DIGEST_METADATA)
        return str(value) if value else None

    def get(self, plan_id: str, version: int) -> StoredPlan:
        """The version with its document. UnknownStoredPlan when the plan or the version does not exist (naming
        the versions there are); CorruptStoredPlan when its text is not what was pushed; PlanStoreError else."""
        key = version_key(plan_id, version)
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise UnknownStoredPlan(plan_id, version, self.latest(plan_id)) from exc
            raise _translate(exc, f"reading {plan_id}:{version}") from exc
        body = answer["Body"].read()
        recorded = (answer.get("Metadata") or {}).get(DIGEST_METADATA)
        actual = digest(body)
        if recorded != actual:
            raise CorruptStoredPlan(
                f"stored plan {plan_id}:{version} does not match the SHA-256 recorded when it was pushed "
                f"({recorded or 'none recorded'}; its text now: {actual}): it is not run"
            )
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptStoredPlan(f"stored plan {plan_id}:{version} is not JSON text: {exc}") from exc
        if not isinstance(document, dict):
            raise CorruptStoredPlan(f"stored plan {plan_id}:{version} is not a JSON object")
        return StoredPlan(plan_id, version, actual, document, _iso(answer.get("LastModified")))

    # ---- writing -----------------------------------------------------------------------------------

    def push(self, plan_id: str, document: Mapping[str, Any]) -> PushResult:
        """Store `document` (a validated plan's, `plan_to_document`) as the next version of `plan_id`.

        Nothing is written when it is the latest version's document already (`created` False, that version). Else
        the next number is claimed with a conditional PutObject (If-None-Match: *): a number another push took
        meanwhile (412) is not overwritten, the next one is tried (and if that other push stored this very
        document, its version is the answer); S3's 409 ConditionalRequestConflict (a concurrent write of the same
        key in flight) is tried again. PlanStoreError after MAX_PUSH_ATTEMPTS lost races."""
        if document.get("planId") != plan_id:
            raise ValueError(f"the document's planId is {document.get('planId')!r}, not {plan_id!r}")
        body = canonical_bytes(document)
        sha = digest(body)
        latest = self.latest(plan_id)
        if latest is not None and self.digest_of(plan_id, latest) == sha:
            return PushResult(plan_id, latest, sha, created=False, size=len(body))
        version = (latest or 0) + 1
        for _ in range(MAX_PUSH_ATTEMPTS):
            outcome = self._put(plan_id, version, body, sha)
            if outcome == "written":
                return PushResult(plan_id, version, sha, created=True, size=len(body))
            if outcome == "taken":
                if self.digest_of(plan_id, version) == sha:  # a concurrent push of the same document won it
                    return PushResult(plan_id, version, sha, created=False, size=len(body))
                version += 1
        raise PlanStoreError(
            f"pushing {plan_id}: {MAX_PUSH_ATTEMPTS} version numbers in a row were taken by other pushes; try again",
            "TooManyConcurrentPushes",
            retryable=True,
        )

    def _put(self, plan_id: str, version: int, body: bytes, sha: str) -> str:
        """'written', 'taken' (the key exists: 412) or 'conflict' (409: try the same key again)."""
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=version_key(plan_id, version),
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
                Metadata={DIGEST_METADATA: sha},
            )
        except ClientError as exc:
            code = _code(exc)
            if code in {"PreconditionFailed", "412"}:
                return "taken"
            if code in {"ConditionalRequestConflict", "409"}:
                return "conflict"
            raise _translate(exc, f"pushing {plan_id}:{version}") from exc
        return "written"
