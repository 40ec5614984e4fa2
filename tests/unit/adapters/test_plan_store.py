"""The plan store on moto's S3: numbered immutable versions, a conditional write per number, digests checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestrator.adapters.plan_store import PlanStore, PlanStoreError
from orchestrator.domain.stored_plans import (
    CorruptStoredPlan,
    UnknownStoredPlan,
    canonical_bytes,
    digest,
    parse_ref,
    version_key,
)

BUCKET = "plans-bucket"


def _plan(servers: int = 1, name: str = "shop") -> dict[str, Any]:
    return {
        "planId": "shop",
        "name": name,
        "waves": [{"waveId": "db", "servers": [{"sourceServerID": f"s-{n:017d}"} for n in range(servers)]}],
    }


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def test_pushes_number_versions_from_one_and_an_identical_push_makes_none(s3: Any) -> None:
    # GIVEN an empty store
    store = PlanStore(s3, BUCKET)

    # WHEN a plan is pushed, pushed again unchanged, then changed
    first = store.push("shop", _plan())
    again = store.push("shop", _plan())
    changed = store.push("shop", _plan(name="renamed"))

    # THEN versions 1 and 2 exist; the unchanged push answered version 1 and wrote nothing
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created, again.sha256) == (1, False, first.sha256)
    assert (changed.version, changed.created) == (2, True)
    assert [v.version for v in store.versions("shop")] == [1, 2]
    assert store.latest("shop") == 2
    assert store.plan_ids() == ["shop"]
    # each object is the canonical JSON, its digest in its metadata
    body = s3.get_object(Bucket=BUCKET, Key="plans/shop/00000001.json")["Body"].read()
    assert body == canonical_bytes(_plan())
    assert first.sha256 == digest(body)


def test_a_push_back_to_an_older_document_is_a_new_version(s3: Any) -> None:
    # GIVEN versions 1 (A) and 2 (B)
    store = PlanStore(s3, BUCKET)
    store.push("shop", _plan())
    store.push("shop", _plan(name="B"))

    # WHEN A is pushed again (a revert)
    result = store.push("shop", _plan())

    # THEN it is version 3: only the latest version is compared
    assert (result.version, result.created) == (3, True)


def test_a_number_another_push_took_meanwhile_is_never_overwritten(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a store with version 1, and another push that writes version 2 between our listing and our write
    store = PlanStore(s3, BUCKET)
    store.push("shop", _plan())
    theirs = canonical_bytes(_plan(name="theirs"))
    listed = store.latest

    def latest_then_race(plan_id: str) -> int | None:
        found = listed(plan_id)
        s3.put_object(
            Bucket=BUCKET, Key=version_key("shop", 2), Body=theirs, IfNoneMatch="*", Metadata={"sha256": digest(theirs)}
        )
        return found

    monkeypatch.setattr(store, "latest", latest_then_race)

    # WHEN our push (another document) runs
    ours = store.push("shop", _plan(name="ours"))

    # THEN ours is version 3, and version 2 is still theirs
    assert (ours.version, ours.created) == (3, True)
    assert store.get("shop", 2).document["name"] == "theirs"
    assert store.get("shop", 3).document["name"] == "ours"


def test_a_concurrent_push_of_the_same_document_answers_its_version(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN another push of the very same document that wins version 1 between our listing and our write
    store = PlanStore(s3, BUCKET)
    same = canonical_bytes(_plan())

    def empty_then_race(plan_id: str) -> int | None:
        s3.put_object(
            Bucket=BUCKET, Key=version_key("shop", 1), Body=same, IfNoneMatch="*", Metadata={"sha256": digest(same)}
        )
        return None

    monkeypatch.setattr(store, "latest", empty_then_race)

    # WHEN we push it
    result = store.push("shop", _plan())

    # THEN no second version: version 1 is that document
    assert (result.version, result.created) == (1, False)
    assert [v.version for v in store.versions("shop")] == [1]


def test_an_unknown_plan_or_version_names_what_there_is(s3: Any) -> None:
    store = PlanStore(s3, BUCKET)
    with pytest.raises(UnknownStoredPlan, match=r"no stored plan 'shop' \(push it first"):
        store.get("shop", 1)
    store.push("shop", _plan())
    with pytest.raises(UnknownStoredPlan, match=r"stored plan 'shop' has no version 4 \(its versions are 1 to 1\)"):
        store.get("shop", 4)


def test_a_version_whose_text_changed_since_its_push_is_refused(s3: Any) -> None:
    # GIVEN version 1, then its object replaced by hand (the bucket policy refuses this on AWS; versioning keeps
    # the original)
    store = PlanStore(s3, BUCKET)
    pushed = store.push("shop", _plan())
    s3.put_object(
        Bucket=BUCKET, Key=version_key("shop", 1), Body=json.dumps(_plan(name="x")), Metadata={"sha256": pushed.sha256}
    )

    # WHEN / THEN reading it fails naming both digests
    with pytest.raises(CorruptStoredPlan, match="does not match the SHA-256 recorded when it was pushed"):
        store.get("shop", 1)


def test_a_push_of_another_plans_document_is_refused(s3: Any) -> None:
    with pytest.raises(ValueError, match="planId is 'shop', not 'other'"):
        PlanStore(s3, BUCKET).push("other", _plan())


def test_a_bucket_that_does_not_exist_is_an_error_naming_it(s3: Any) -> None:
    with pytest.raises(PlanStoreError, match="NoSuchBucket") as caught:
        PlanStore(s3, "no-such-bucket").push("shop", _plan())
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("shop", ("shop", None)), ("shop:3", ("shop", 3)), (" a.b-c_d:12 ", ("a.b-c_d", 12))],
)
def test_plan_refs(text: str, expected: tuple[str, int | None]) -> None:
    ref = parse_ref(text)
    assert (ref.plan_id, ref.version) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shop:0", "'0' is not a version number"),
        ("shop:x", "'x' is not a version number"),
        ("shop:", "'' is not a version number"),
        ("../etc:1", "is not a plan id"),
        ("a/b", "is not a plan id"),
        ("a:1:2", "is not ID or ID:VERSION"),
    ],
)
def test_malformed_plan_refs(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ref(text)
