"""Stored plans (issue #16 item 4): a plan kept as numbered, immutable versions, started by reference.

A plan travels inline in its StartPlan event, and a PutEvents entry is at most 256 KB
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html: "The total entry size must be
less than 256KB"; the same page recommends putting a larger payload in S3 and sending a reference to it): a plan of
a few thousand servers cannot travel that way. `drs-orch plan push` stores the plan as version 1, 2, 3... of its
planId (orchestrator/adapters/plan_store.py: an S3 bucket of the stack, one object per version, written once), and
a StartPlan names `planRef: {planId, version}` instead of carrying it.

What is stored is the plan's *document*: the validated plan as `plan_to_document` writes it (what `drs-orch run
--aws` sends inline, every default written out), as canonical JSON (keys sorted, no spaces, UTF-8). Its SHA-256
names that exact text: the execution records the version and the digest it ran, and the report shows both.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.domain.plan.model import PLAN_ID_PATTERN

#: Versions are numbered 1, 2, 3... per planId; the object key writes them with this many digits (zero-padded),
#: so S3's listing (in key order) is in version order.
VERSION_DIGITS = 8
MAX_VERSION = 10**VERSION_DIGITS - 1
#: Where the versions of a plan live in the bucket: `plans/<planId>/<version, zero-padded>.json`.
PREFIX = "plans/"
_KEY = re.compile(r"^plans/(?P<plan>[^/]+)/(?P<version>[0-9]{" + str(VERSION_DIGITS) + r"})\.json$")
_REF = re.compile(r"^(?P<plan>[^:]+?)(?::(?P<version>[^:]*))?$")


class UnknownStoredPlan(LookupError):
    """No stored plan of that id, or no such version of it. `latest`: the newest version there is (None: the
    plan was never pushed)."""

    def __init__(self, plan_id: str, version: int | None, latest: int | None) -> None:
        self.plan_id = plan_id
        self.version = version
        self.latest = latest
        if latest is None:
            message = f"no stored plan '{plan_id}' (push it first: drs-orch plan push PLAN)"
        elif version is None:
            message = f"stored plan '{plan_id}' has versions 1 to {latest}"
        else:
            message = f"stored plan '{plan_id}' has no version {version} (its versions are 1 to {latest})"
        super().__init__(message)


class CorruptStoredPlan(ValueError):
    """A stored version whose text is not what was pushed (its SHA-256 differs from the one recorded at push) or is
    not a JSON object: it is never run."""


@dataclass(frozen=True)
class PlanRef:
    """A stored plan's id and version (None: the latest, resolved by the client before it starts anything)."""

    plan_id: str
    version: int | None = None

    def __str__(self) -> str:
        return self.plan_id if self.version is None else f"{self.plan_id}:{self.version}"


@dataclass(frozen=True)
class StoredVersion:
    """One version of a stored plan as the store lists it."""

    plan_id: str
    version: int
    size: int  # bytes of the document's canonical JSON
    pushed_at: str | None = None  # ISO 8601, UTC (S3's LastModified)
    sha256: str | None = None  # hex; None where a listing does not carry it (S3 lists no metadata)


@dataclass(frozen=True)
class StoredPlan:
    """A stored version with its document."""

    plan_id: str
    version: int
    sha256: str
    document: dict[str, Any]
    pushed_at: str | None = None

    def record(self) -> dict[str, Any]:
        """What an execution keeps of it (`planRef` in the ledger and the report)."""
        return {"planId": self.plan_id, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True)
class PushResult:
    """What a push did: `created` False when the document was the latest version's already (nothing written)."""

    plan_id: str
    version: int
    sha256: str
    created: bool
    size: int


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The document's canonical JSON: keys sorted, no insignificant space, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def digest(data: bytes) -> str:
    """SHA-256 of `data`, hex."""
    return hashlib.sha256(data).hexdigest()


def version_key(plan_id: str, version: int) -> str:
    """The object key of a version: `plans/<planId>/<version, zero-padded to VERSION_DIGITS>.json`."""
    if not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version {version} is out of range (1 to {MAX_VERSION})")
    return f"{plan_prefix(plan_id)}{version:0{VERSION_DIGITS}d}.json"


def plan_prefix(plan_id: str) -> str:
    """The key prefix of every version of `plan_id`; ValueError for an id that is not a plan id (no `/`, no `..`:
    it names one folder of the bucket, nothing else)."""
    if not re.fullmatch(PLAN_ID_PATTERN, plan_id):
        raise ValueError(f"'{plan_id}' is not a plan id (letters, digits, '.', '_', '-'; starts alphanumeric)")
    return f"{PREFIX}{plan_id}/"


def parse_key(key: str) -> tuple[str, int] | None:
    """(planId, version) of a version's object key, or None for any other key."""
    found = _KEY.match(key)
    if found is None:
        return None
    return found.group("plan"), int(found.group("version"))


def parse_ref(text: str) -> PlanRef:
    """`ID` or `ID:VERSION` (the CLI's `--plan-ref`) as a PlanRef; ValueError naming what is wrong."""
    found = _REF.match(text.strip())
    if found is None:
        raise ValueError(f"'{text}' is not ID or ID:VERSION")
    plan_id, version = found.group("plan"), found.group("version")
    plan_prefix(plan_id)  # raises for a malformed id
    if version is None:
        return PlanRef(plan_id)
    if not version.isdigit() or not 1 <= int(version) <= MAX_VERSION:
        raise ValueError(f"'{version}' is not a version number (1, 2, 3 ...) in '{text}'")
    return PlanRef(plan_id, int(version))
