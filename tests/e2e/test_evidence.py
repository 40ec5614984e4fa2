"""Evidence kept on AWS, end to end on the local cloud (issue #16): a run that ends leaves its report in the
evidence bucket, exactly the report the ledger gives; duplicated deliveries leave one version; a reopened execution
that ends again adds a version; once the ledger has lost the execution, `drs-orch report --aws` reads the stored
one; Object Lock and the ledger's time to live behave as deployed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from drs_orch.app import app
from events.models import Mode
from localcloud.cloud import EVIDENCE_BUCKET, TABLE_NAME, LocalCloud
from localcloud.runner import run_plan, start, wait
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.evidence import sha256_hex
from orchestrator.domain.plan import parse_plan
from orchestrator.reporting.html import render_html
from orchestrator.reporting.stored import ledger_report, report_json
from tests.e2e.helpers import command, sid, wave

PLAN = {"planId": "evidence", "waves": [wave("db", [sid("v", 1)]), wave("app", [sid("v", 2)], ["db"])]}


def _key(execution_id: str, name: str = "report.json") -> str:
    return f"executions/{execution_id}/{name}"


def _versions(cloud: LocalCloud, execution_id: str) -> list[bytes]:
    """The stored versions of the execution's report.json, oldest first, the current one (IsLatest) last
    (LastModified has whole seconds: two versions written in one second tie)."""
    s3 = cloud.session.client("s3")
    listed = s3.list_object_versions(Bucket=EVIDENCE_BUCKET, Prefix=_key(execution_id)).get("Versions", [])
    listed = [v for v in listed if v["Key"] == _key(execution_id)]
    ordered = sorted(listed, key=lambda v: (v["IsLatest"], v["LastModified"]))
    return [
        s3.get_object(Bucket=EVIDENCE_BUCKET, Key=_key(execution_id), VersionId=v["VersionId"])["Body"].read()
        for v in ordered
    ]


def _ledger_report(cloud: LocalCloud, execution_id: str) -> dict[str, Any]:
    assert cloud.ledger is not None
    report = ledger_report(cloud.ledger, execution_id)
    assert report is not None
    return report


def test_a_run_that_ends_leaves_the_ledgers_report_in_the_bucket(local_cloud: Any) -> None:
    # GIVEN a local cloud WHEN a plan runs to its end
    cloud = local_cloud()
    result = run_plan(cloud, parse_plan(PLAN), timeout=60)
    assert result.status == "COMPLETED"
    # THEN report.json holds the report build_report gives from the ledger (without the events, which the ledger
    # does not keep), byte for byte as report_json writes it, with its SHA-256 in the object's metadata
    [body] = _versions(cloud, result.execution_id)
    assert result.report is not None
    assert json.loads(body) == {key: value for key, value in result.report.items() if key != "events"}
    assert body == report_json(_ledger_report(cloud, result.execution_id)).encode()
    head = cloud.session.client("s3").head_object(Bucket=EVIDENCE_BUCKET, Key=_key(result.execution_id))
    assert head["Metadata"] == {"sha256": sha256_hex(body), "ended-at": result.report["endedAt"]}
    # AND report.html beside it is the evidence report of exactly that JSON, naming its SHA-256
    page = cloud.session.client("s3").get_object(Bucket=EVIDENCE_BUCKET, Key=_key(result.execution_id, "report.html"))
    html = page["Body"].read().decode("utf-8")
    assert html == render_html(json.loads(body))
    assert f'<meta name="report-sha256" content="{sha256_hex(body)}">' in html


def test_every_event_delivered_twice_still_leaves_one_version(local_cloud: Any) -> None:
    # GIVEN every delivery duplicated (EventBridge's at-least-once, at its worst)
    cloud = local_cloud(**{"faults.duplicateDelivery": 1.0})
    # WHEN a plan runs to its end
    result = run_plan(cloud, parse_plan(PLAN), timeout=60)
    assert result.status == "COMPLETED"
    # THEN the archive function handled the PlanCompleted twice and one version holds the report
    assert cloud.stats.delivered["archive"] == 2
    assert _versions(cloud, result.execution_id) == [report_json(_ledger_report(cloud, result.execution_id)).encode()]


def test_a_reopened_execution_that_ends_again_adds_the_version_of_its_second_ending(local_cloud: Any) -> None:
    # GIVEN a run that fails (a CRITICAL server does not launch) and is archived
    failing = sid("r", 1)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan({"planId": "evidence-retry", "waves": [wave("A", [failing])]})
    cloud.drs.ensure_servers([failing])
    execution_id = start(cloud, plan, mode=Mode.DRILL)
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    # WHEN the server is fixed and an operator retries the wave, and the execution completes
    cloud.drs.set_launch_outcome(failing, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": execution_id, "waveId": "A"}, by="ops")
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    # THEN the bucket keeps both endings, the COMPLETED one current and equal to the ledger's report
    first, second = _versions(cloud, execution_id)
    assert json.loads(first)["status"] == "FAILED"
    assert second == report_json(_ledger_report(cloud, execution_id)).encode()
    assert json.loads(second)["status"] == "COMPLETED"


def test_report_aws_reads_the_stored_report_once_the_ledger_lost_the_execution(
    local_cloud: Any, tmp_path: Path
) -> None:
    # GIVEN a run that ended and was archived, and then deleted from the ledger (as its time to live would)
    cloud = local_cloud()
    result = run_plan(cloud, parse_plan(PLAN), timeout=60)
    [stored] = _versions(cloud, result.execution_id)
    runner = CliRunner()
    base = ["report", result.execution_id, "--table", TABLE_NAME, "--region", "us-east-1"]
    aws = ["--aws", "--bucket", EVIDENCE_BUCKET]
    # (while the ledger has it, --aws reads the ledger, and says so)
    from_ledger = runner.invoke(app, [*base, *aws])
    assert from_ledger.exit_code == 0, from_ledger.output
    assert f"read from the ledger table {TABLE_NAME}" in " ".join(from_ledger.output.split())
    table = cloud.session.resource("dynamodb").Table(TABLE_NAME)
    with table.batch_writer() as batch:
        for item in table.scan()["Items"]:
            if result.execution_id in str(item["pk"]):
                batch.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})
    assert cloud.ledger is not None
    assert cloud.ledger.execution(result.execution_id) is None
    # WHEN the report is asked from the ledger alone THEN there is none
    alone = runner.invoke(app, base)
    assert alone.exit_code == 2
    assert f"no execution {result.execution_id} in the ledger table {TABLE_NAME}" in " ".join(alone.output.split())
    # WHEN it is asked with --aws
    out = tmp_path / "report.json"
    found = runner.invoke(app, [*base, *aws, "-o", str(out)])
    # THEN the stored report is written, and the command says it read it from the bucket (and which version)
    assert found.exit_code == 0, found.output
    assert out.read_bytes() == stored
    said = " ".join(found.output.split())
    assert f"read from s3://{EVIDENCE_BUCKET}/{_key(result.execution_id)} (version " in said
    assert f"sha256 {sha256_hex(stored)})" in said


def test_report_aws_refuses_a_stored_report_whose_bytes_do_not_match_its_sha256(
    local_cloud: Any, tmp_path: Path
) -> None:
    # GIVEN a stored report altered after it was written (its metadata still says the first SHA-256)
    cloud = local_cloud()
    s3 = cloud.session.client("s3")
    s3.put_object(
        Bucket=EVIDENCE_BUCKET, Key=_key("gone-1"), Body=b'{"status": "COMPLETED"}\n', Metadata={"sha256": "0" * 64}
    )
    # WHEN report --aws reads it (the ledger never had it) THEN it is refused, not printed
    args = ["report", "gone-1", "--table", TABLE_NAME, "--region", "us-east-1", "--aws", "--bucket", EVIDENCE_BUCKET]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert "is not the one the archive recorded" in " ".join(refused.output.split())


def test_object_lock_and_a_time_to_live_set_in_the_profile_apply_as_deployed(local_cloud: Any) -> None:
    # GIVEN the deploy's retention: Object Lock for 30 days, the ledger's items kept 45 days after a run ends
    cloud = local_cloud(**{"retention.evidenceObjectLockDays": 30, "retention.ledgerTtlDays": 45})
    # WHEN a plan runs to its end
    result = run_plan(cloud, parse_plan(PLAN), timeout=60)
    assert result.report is not None
    # THEN its report is locked in COMPLIANCE mode for 30 days from when it was stored: its version cannot be deleted
    # (moto's GetObjectRetention fails on a default retention: HeadObject reports the lock)
    s3 = cloud.session.client("s3")
    head = s3.head_object(Bucket=EVIDENCE_BUCKET, Key=_key(result.execution_id))
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs(head["ObjectLockRetainUntilDate"] - (head["LastModified"] + timedelta(days=30))) < timedelta(minutes=1)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=EVIDENCE_BUCKET, Key=_key(result.execution_id), VersionId=head["VersionId"])
    # AND the execution's ledger items expire 45 days after its end (the simulated clock's)
    table = cloud.session.resource("dynamodb").Table(TABLE_NAME)
    ended = parse_iso(result.report["endedAt"])
    expiries = {int(item["expiresAt"]) for item in table.scan()["Items"] if "expiresAt" in item}
    assert expiries == {int((ended + timedelta(days=45)).timestamp())}


def test_by_default_the_ledger_keeps_every_item_of_an_ended_run(local_cloud: Any) -> None:
    cloud = local_cloud()
    result = run_plan(cloud, parse_plan(PLAN), timeout=60)
    assert result.status == "COMPLETED"
    items = cloud.session.resource("dynamodb").Table(TABLE_NAME).scan()["Items"]
    assert items
    assert [item["sk"] for item in items if "expiresAt" in item] == []
