"""The archive step (issue #16): an ended execution's report is stored once per content, under conditional writes.

The real ledger (moto's DynamoDB) and an in-memory evidence bucket (`tests.fakes.FakeEvidence`, S3's versioning
and conditional writes): what is stored is exactly `report_json(ledger_report(...))`, a duplicate delivery writes
nothing, a reopened execution that ended again replaces it with a new version, a stale delivery never replaces a
later ending, and a write that lost a race is compared again rather than forced.
"""

from __future__ import annotations

import json

import pytest

from orchestrator.domain.evidence import EvidenceConflict, EvidenceError, StoredEvidence, sha256_hex
from orchestrator.reporting.html import render_html
from orchestrator.reporting.stored import ledger_report, report_json
from orchestrator.steps.archive import Stored, archive_execution
from tests.fakes import FakeEvidence
from tests.unit.steps.world import S1, World, plan, wave

KEY = "executions/e1/report.json"
HTML_KEY = "executions/e1/report.html"


def _ended(world: World, status: str = "FAILED") -> FakeEvidence:
    """A started execution of one wave, ended `status`; the world's runtime gets an evidence bucket."""
    world.start(plan(wave("db", S1)))
    world.advance(60)
    assert world.ledger.set_execution_status("e1", from_=["RUNNING"], to=status, key="end").value == "WON"
    bucket = FakeEvidence()
    world.rt.evidence = bucket
    return bucket


def _bodies(bucket: FakeEvidence) -> list[bytes]:
    return [body for body, _ in bucket.versions.get(KEY, [])]


def test_an_ended_execution_stores_its_report_as_the_ledger_gives_it(world: World) -> None:
    # GIVEN an execution that ended FAILED
    bucket = _ended(world)
    # WHEN its ending is archived
    stored = archive_execution(world.rt, "e1")
    # THEN report.json holds exactly the report `drs-orch report` prints, with its SHA-256 and ending
    expected = report_json(ledger_report(world.ledger, "e1") or pytest.fail("no report")).encode()
    assert stored == {"report.json": Stored.CREATED, "report.html": Stored.CREATED}
    assert _bodies(bucket) == [expected]
    [(_, meta)] = bucket.versions[KEY]
    assert (meta.sha256, meta.ended_at) == (sha256_hex(expected), json.loads(expected)["endedAt"])
    assert bucket.content_types[KEY] == "application/json"
    assert json.loads(expected)["status"] == "FAILED"
    assert "events" not in json.loads(expected)
    # AND report.html beside it is the evidence report of that JSON, carrying the JSON file's SHA-256
    [(page, page_meta)] = bucket.versions[HTML_KEY]
    assert page.decode() == render_html(json.loads(expected))
    assert sha256_hex(expected) in page.decode()
    assert (page_meta.sha256, bucket.content_types[HTML_KEY]) == (sha256_hex(page), "text/html; charset=utf-8")


def test_a_duplicated_ending_writes_nothing_more(world: World) -> None:
    # GIVEN an ended execution whose report is archived
    bucket = _ended(world, "COMPLETED")
    archive_execution(world.rt, "e1")
    # WHEN the same ending is delivered twice more
    again = [archive_execution(world.rt, "e1"), archive_execution(world.rt, "e1")]
    # THEN nothing is written: one version, the first
    assert again == [{"report.json": Stored.UNCHANGED, "report.html": Stored.UNCHANGED}] * 2
    assert len(bucket.versions[KEY]) == len(bucket.versions[HTML_KEY]) == 1


def test_a_reopened_execution_that_ended_again_replaces_its_report_and_a_stale_delivery_does_not(world: World) -> None:
    # GIVEN an execution archived as FAILED, then reopened by an operator (RetryWave) and ended COMPLETED later
    bucket = _ended(world, "FAILED")
    archive_execution(world.rt, "e1")
    first_body, first = bucket.versions[KEY][0]
    world.ledger.reopen_execution("e1", from_=["FAILED"], key="retry")
    # WHILE it runs again, a late copy of the first PlanFailed stores nothing
    assert archive_execution(world.rt, "e1") == {}
    world.advance(600)
    world.ledger.set_execution_status("e1", from_=["RUNNING"], to="COMPLETED", key="end-2")
    # WHEN its PlanCompleted is archived
    stored = archive_execution(world.rt, "e1")
    # THEN a second version holds the COMPLETED report, written only over the version it compared (If-Match)
    assert stored == {"report.json": Stored.REPLACED, "report.html": Stored.REPLACED}
    [(_, _), (body, second)] = bucket.versions[KEY]
    assert json.loads(body)["status"] == "COMPLETED"
    assert json.loads(first_body)["status"] == "FAILED"
    assert (first.ended_at, second.ended_at) == (json.loads(first_body)["endedAt"], json.loads(body)["endedAt"])
    assert (second.ended_at or "") > (first.ended_at or "")


def test_a_delivery_built_from_an_earlier_ending_never_replaces_a_later_one(world: World) -> None:
    # GIVEN an ended execution whose stored report describes a later ending than the ledger's (a reopened execution's
    # second ending, stored before this stale delivery read the ledger)
    bucket = _ended(world, "FAILED")
    later = StoredEvidence(KEY, '"later"', "v9", sha256_hex(b"later"), ended_at="2099-01-01T00:00:00.000Z")
    bucket.versions[KEY] = [(b"later", later)]
    # WHEN it is archived THEN it is STALE: nothing is written over the later ending
    assert archive_execution(world.rt, "e1") == {"report.json": Stored.STALE, "report.html": Stored.STALE}
    assert bucket.versions == {KEY: [(b"later", later)]}


def test_nothing_is_stored_for_an_execution_the_ledger_does_not_hold_or_that_runs(world: World) -> None:
    # GIVEN a running execution, and an id the ledger never held (a StartPlan refused before it existed)
    world.start(plan(wave("db", S1)))
    bucket = FakeEvidence()
    world.rt.evidence = bucket
    # WHEN either is archived THEN nothing is written
    assert archive_execution(world.rt, "e1") == {}
    assert archive_execution(world.rt, "never-started") == {}
    assert bucket.versions == {}


def test_a_write_that_lost_a_race_compares_again_instead_of_forcing(world: World) -> None:
    # GIVEN an ended execution, and a concurrent delivery that stores the same report just before this one writes
    bucket = _ended(world)
    report = report_json(ledger_report(world.ledger, "e1") or pytest.fail("no report")).encode()
    raced: list[str] = []

    def concurrent_writer(key: str) -> None:
        if not raced:
            raced.append(key)
            bucket.versions.setdefault(key, []).append((report, _stored_like(key, report)))

    bucket.before_write = concurrent_writer
    # WHEN this delivery archives it
    stored = archive_execution(world.rt, "e1")
    # THEN its create was refused (412), it compared, found the same bytes and wrote nothing
    assert (raced, stored) == ([KEY], {"report.json": Stored.UNCHANGED, "report.html": Stored.CREATED})
    assert len(bucket.versions[KEY]) == 1


def test_an_s3_failure_is_raised_for_the_platform_to_retry_and_writes_nothing(world: World) -> None:
    # GIVEN an ended execution and a bucket that refuses the next write (throttled)
    bucket = _ended(world)
    bucket.fail("create", EvidenceError("PutObject: SlowDown", code="SlowDown", retryable=True))
    # WHEN it is archived THEN the error is raised (Lambda retries the invocation), nothing is stored
    with pytest.raises(EvidenceError, match="SlowDown"):
        archive_execution(world.rt, "e1")
    assert bucket.versions == {}
    # AND the retry stores it
    assert archive_execution(world.rt, "e1") == {"report.json": Stored.CREATED, "report.html": Stored.CREATED}


def test_endless_lost_races_end_in_an_error_not_a_loop(world: World) -> None:
    # GIVEN a bucket whose every conditional write loses (another writer keeps changing the object)
    bucket = _ended(world)
    bucket.versions[KEY] = [(b"other", _stored_like(KEY, b"other"))]
    bucket.fail("replace", *[EvidenceConflict("PreconditionFailed", code="PreconditionFailed")] * 3)
    # WHEN it is archived THEN it gives up after three rounds, raising (the invocation is retried)
    with pytest.raises(EvidenceConflict, match="lost 3 conditional writes"):
        archive_execution(world.rt, "e1")
    assert bucket.unused_errors() == {}


def _stored_like(key: str, body: bytes) -> StoredEvidence:
    sha = sha256_hex(body)
    return StoredEvidence(key=key, etag=f'"{sha[:32]}"', version_id="v0", sha256=sha, ended_at=None)
