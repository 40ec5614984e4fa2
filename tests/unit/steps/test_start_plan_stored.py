"""StartPlan naming a stored plan (`planRef`): the version is read from the plan store (the real adapter on moto's
S3), frozen with its SHA-256, and an unknown or altered version is refused with nothing created."""

from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

from events.models import OPERATOR_SOURCE, ControlRejected, Mode, PlanFailed, PlanRef, PlanStarted, StartPlan, WaveReady
from orchestrator.adapters.plan_store import PlanStore
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import parse_plan, plan_to_document
from orchestrator.domain.stored_plans import canonical_bytes, digest, version_key
from orchestrator.steps.start_plan import start_plan
from tests.unit.steps.world import S1, S2, World, plan, wave

_BUCKETS = itertools.count(1)


def _document(name: str = "p") -> dict[str, Any]:
    return plan_to_document(parse_plan({**plan(wave("db", S1), wave("app", S2, dependsOn=["db"])), "name": name}))


@pytest.fixture
def store(world: World) -> PlanStore:
    """A plan store on a bucket of its own (moto runs for the whole package), wired into the world's runtime."""
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"plans-{next(_BUCKETS)}"
    s3.create_bucket(Bucket=bucket)
    store = PlanStore(s3, bucket)
    world.rt.plan_store = store
    for server in (S1, S2):
        world.drs.add_source_server(server)
    return store


def _failed(world: World) -> PlanFailed:
    [answer] = world.bus.published
    assert isinstance(answer, PlanFailed)
    return answer


def test_a_stored_version_starts_and_the_execution_records_its_version_and_digest(
    world: World, store: PlanStore
) -> None:
    # GIVEN versions 1 and 2 of plan p (2 renamed)
    store.push("p", _document())
    second = store.push("p", _document(name="second"))

    # WHEN version 2 is started by reference
    started = start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=2), execution_id="e1"), "evt-1")

    # THEN the execution runs version 2, and records which version and digest it froze
    assert started == "e1"
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.plan_ref == {"planId": "p", "version": 2, "sha256": second.sha256}
    assert second.sha256 == digest(canonical_bytes(_document(name="second")))
    assert frozen_plan(execution).name == "second"
    assert world.bus.published == [
        PlanStarted(
            execution_id="e1",
            plan_id="p",
            mode=Mode.DRILL,
            plan_name="second",
            wave_ids=["db", "app"],
            root_wave_ids=["db"],
        ),
        WaveReady(execution_id="e1", plan_id="p", wave_id="db"),
    ]


def test_an_inline_start_records_no_stored_version(world: World, store: PlanStore) -> None:
    start_plan(world.rt, StartPlan(plan=_document(), execution_id="e1"), "evt-1")
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.plan_ref is None


def test_a_redelivered_start_by_reference_creates_nothing_twice(world: World, store: PlanStore) -> None:
    # GIVEN a started stored version
    store.push("p", _document())
    detail = StartPlan(plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1")
    start_plan(world.rt, detail, "evt-1")
    first = world.ledger.get_execution("e1")
    # WHEN the event comes again, and a new version is pushed in between
    store.push("p", _document(name="newer"))
    start_plan(world.rt, detail, "evt-1")
    # THEN the execution is the same, still version 1
    assert world.ledger.get_execution("e1") == first


@pytest.mark.parametrize(
    ("pushed", "version", "message"),
    [
        (0, 1, "stored plan p:1 cannot be run: no stored plan 'p' (push it first: drs-orch plan push PLAN)"),
        (2, 3, "stored plan p:3 cannot be run: stored plan 'p' has no version 3 (its versions are 1 to 2)"),
    ],
)
def test_an_unknown_plan_or_version_is_refused_naming_what_exists_and_creates_nothing(
    world: World, store: PlanStore, pushed: int, version: int, message: str
) -> None:
    # GIVEN `pushed` versions of p
    for n in range(pushed):
        store.push("p", _document(name=f"v{n + 1}"))
    detail = StartPlan(plan_ref=PlanRef(plan_id="p", version=version), execution_id="e1")

    # WHEN a version that does not exist is started, twice (a redelivery)
    assert start_plan(world.rt, detail, "evt-1") is None
    assert start_plan(world.rt, detail, "evt-1") is None

    # THEN one PlanFailed says which, and nothing is created
    failed = _failed(world)
    assert (failed.execution_id, failed.plan_id, failed.reason) == ("e1", "p", message)
    assert [(e.code, e.path) for e in failed.errors] == [("unknown_plan_version", "planRef")]
    assert world.ledger.get_execution("e1") is None
    assert world.drs.started == []


def test_a_version_altered_since_its_push_is_refused(world: World, store: PlanStore) -> None:
    # GIVEN version 1 whose object was replaced by hand (the bucket's policy refuses this on AWS), its recorded
    # digest kept
    pushed = store.push("p", _document())
    store._client.put_object(  # type: ignore[attr-defined]
        Bucket=store.bucket,
        Key=version_key("p", 1),
        Body=canonical_bytes(_document(name="evil")),
        Metadata={"sha256": pushed.sha256},
    )
    # WHEN it is started
    assert start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1"), "e") is None
    # THEN it is refused, nothing created
    failed = _failed(world)
    assert [e.code for e in failed.errors] == ["corrupt_stored_plan"]
    assert "does not match the SHA-256 recorded when it was pushed" in failed.reason
    assert world.ledger.get_execution("e1") is None


def test_a_stored_document_of_another_plan_is_refused(world: World, store: PlanStore) -> None:
    # GIVEN an object under plans/p/ that holds plan q (written by hand: plan push never does)
    body = canonical_bytes({**_document(), "planId": "q"})
    store._client.put_object(  # type: ignore[attr-defined]
        Bucket=store.bucket, Key=version_key("p", 1), Body=body, Metadata={"sha256": digest(body)}
    )
    assert start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1"), "e") is None
    failed = _failed(world)
    assert [(e.code, e.message) for e in failed.errors] == [
        ("stored-plan-id-mismatch", "stored plan p:1 holds plan 'q'")
    ]
    assert world.ledger.get_execution("e1") is None


def test_without_a_plan_store_a_start_by_reference_is_refused(world: World) -> None:
    # GIVEN a deployment without a plan store (no PLAN_BUCKET_NAME)
    assert world.rt.plan_store is None
    # WHEN / THEN a start by reference is refused, nothing created
    assert start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1"), "e") is None
    assert [e.code for e in _failed(world).errors] == ["no_plan_store"]
    assert world.ledger.get_execution("e1") is None


def test_another_version_under_a_started_execution_id_is_rejected(world: World, store: PlanStore) -> None:
    # GIVEN execution e1 running version 1
    store.push("p", _document())
    store.push("p", _document(name="two"))
    start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1"), "evt-1")
    world.bus.published.clear()
    # WHEN another StartPlan names version 2 under the same id
    start_plan(world.rt, StartPlan(plan_ref=PlanRef(plan_id="p", version=2), execution_id="e1"), "evt-2")
    # THEN it is rejected; e1 still runs version 1
    [answer] = world.bus.published
    assert isinstance(answer, ControlRejected)
    execution = world.ledger.execution("e1")
    assert execution is not None
    assert execution.plan_ref is not None
    assert execution.plan_ref["version"] == 1


def test_a_recovery_by_reference_is_confirmed_with_the_plan_id(world: World, store: PlanStore) -> None:
    # GIVEN a stored plan; a RECOVERY through the operator endpoint confirming p
    store.push("p", _document())
    detail = StartPlan(
        plan_ref=PlanRef(plan_id="p", version=1), execution_id="e1", mode=Mode.RECOVERY, confirm_recovery="p"
    )
    # WHEN / THEN it starts
    assert start_plan(world.rt, detail, "evt-1", source=OPERATOR_SOURCE) == "e1"


@pytest.mark.parametrize(
    "detail",
    [
        {"executionId": "e1"},
        {"plan": {"planId": "p", "waves": []}, "planRef": {"planId": "p", "version": 1}},
        {"planRef": {"planId": "p", "version": 0}},
        {"planRef": {"planId": "p/../x", "version": 1}},
        {"planRef": {"planId": "p"}},
        {"planRef": {"planId": "p", "version": True}},  # not version 1
        {"planRef": {"planId": "p", "version": "1_0"}},  # not version 10
        {"planRef": {"planId": "p", "version": " 3 "}},
    ],
)
def test_a_start_plan_carries_exactly_one_well_formed_plan_or_reference(detail: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        StartPlan.model_validate(detail)
