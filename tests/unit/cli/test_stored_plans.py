"""`drs-orch plan push|list|show --aws` and `run --plan-ref|--push`: stored plans from the CLI (moto's S3 as the
stack's plan store), and the inline StartPlan of a plan too large for an event refused before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner

from drs_orch import app as cli
from events.envelope import MAX_ENTRY_BYTES
from events.models import Contract, StartPlan
from orchestrator.domain.plan import parse_plan, plan_to_document
from tests.e2e.test_stored_plans import big_plan

runner = CliRunner()
BUCKET = "plans-bucket"
PLAN = {"planId": "shop", "waves": [{"waveId": "db", "servers": ["s-00000000000000001"]}]}


def _out(result: Any) -> str:
    return " ".join(result.output.split())


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Contract]:
    """What `run --aws` would put on the bus (the entry itself is tested in test_aws.py)."""
    sent: list[Contract] = []

    def put(event: Contract, *, bus: str, region: str | None) -> str | None:
        sent.append(event)
        return None

    monkeypatch.setattr(cli, "_put_event", put)
    return sent


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("DRS_ORCH_PLAN_BUCKET", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _file(tmp_path: Path, document: dict[str, Any], name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_plan_too_large_for_an_event_is_refused_naming_the_limit_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the 4,000-server plan of the end-to-end test, whose StartPlan is over the 256 KB entry limit
    plan = big_plan()
    assert len(json.dumps(plan_to_document(parse_plan(plan)), separators=(",", ":"))) > MAX_ENTRY_BYTES
    path = _file(tmp_path, plan)

    def no_client(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no AWS client may be made: the refusal comes before any call")

    monkeypatch.setattr(boto3, "client", no_client)

    # WHEN it is started inline on AWS
    result = runner.invoke(cli.app, ["run", str(path), "--aws", "--bus", "b"])

    # THEN it is refused with the limit named and what to do instead, and nothing was sent
    assert result.exit_code == 1, result.output
    output = _out(result)
    assert "the StartPlan was not published: StartPlan entry is" in output
    assert f"PutEvents accepts at most {MAX_ENTRY_BYTES} (256 KB, EventBridge's limit for one entry)" in output
    assert "drs-orch run PLAN --push" in output
    assert "run --plan-ref ID:VERSION --aws" in output


def test_plan_verbs_need_aws(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["plan", "push", str(_file(tmp_path, PLAN))])
    assert result.exit_code == 2
    assert "add --aws" in _out(result)


def test_push_validates_numbers_and_says_when_nothing_changed(s3: Any, tmp_path: Path) -> None:
    # GIVEN an invalid plan, then a valid one
    bad = _file(tmp_path, {"planId": "shop", "waves": [{"waveId": "db", "dependsOn": ["x"], "servers": []}]}, "b.yaml")
    good = _file(tmp_path, PLAN)
    push = ["plan", "push", "--aws", "--bucket", BUCKET]

    # WHEN each is pushed (the valid one twice, then changed)
    refused = runner.invoke(cli.app, [*push[:2], str(bad), *push[2:]])
    first = runner.invoke(cli.app, [*push[:2], str(good), *push[2:]])
    again = runner.invoke(cli.app, [*push[:2], str(good), *push[2:]])
    changed = runner.invoke(cli.app, [*push[:2], str(_file(tmp_path, {**PLAN, "name": "v2"}, "c.yaml")), *push[2:]])

    # THEN the invalid one stored nothing (exit 2, its problem); versions 1 and 2, the repeat named version 1
    assert refused.exit_code == 2
    assert "waves[0].dependsOn[0] (wave db): unknown dependency 'x'" in _out(refused)
    assert (first.exit_code, again.exit_code, changed.exit_code) == (0, 0, 0)
    assert "pushed shop as version 1" in _out(first)
    assert "unchanged: shop version 1 is this document already" in _out(again)
    assert "pushed shop as version 2" in _out(changed)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["plans/shop/00000001.json", "plans/shop/00000002.json"]


def test_list_and_show(s3: Any, tmp_path: Path) -> None:
    # GIVEN two versions of shop
    for name, document in (("a.yaml", PLAN), ("b.yaml", {**PLAN, "name": "v2"})):
        runner.invoke(cli.app, ["plan", "push", str(_file(tmp_path, document, name)), "--aws", "--bucket", BUCKET])
    # WHEN listed and shown
    plans = runner.invoke(cli.app, ["plan", "list", "--aws", "--bucket", BUCKET])
    versions = runner.invoke(cli.app, ["plan", "list", "shop", "--aws", "--bucket", BUCKET])
    out = tmp_path / "v1.json"
    shown = runner.invoke(cli.app, ["plan", "show", "shop:1", "--aws", "--bucket", BUCKET, "-o", str(out)])
    missing = runner.invoke(cli.app, ["plan", "show", "shop:7", "--aws", "--bucket", BUCKET])
    # THEN each says what is stored
    assert plans.exit_code == 0
    assert "shop" in _out(plans)
    assert versions.exit_code == 0
    assert [line.split("│")[1].strip() for line in versions.output.splitlines() if line.startswith("│")] == ["1", "2"]
    assert shown.exit_code == 0
    assert "shop version 1: 1 wave(s), 1 server(s)" in _out(shown)
    assert json.loads(out.read_text()) == plan_to_document(parse_plan(PLAN))
    assert missing.exit_code == 2
    assert "stored plan 'shop' has no version 7 (its versions are 1 to 2)" in _out(missing)


def test_run_by_reference(s3: Any, tmp_path: Path, published: list[Contract]) -> None:
    # GIVEN versions 1 and 2 of shop
    for name, document in (("a.yaml", PLAN), ("b.yaml", {**PLAN, "name": "v2"})):
        runner.invoke(cli.app, ["plan", "push", str(_file(tmp_path, document, name)), "--aws", "--bucket", BUCKET])
    run = ["run", "--aws", "--bus", "b", "--bucket", BUCKET]

    # WHEN a drill names the plan without a version, a drill names version 1, a recovery names none, and a drill
    # names a version that does not exist
    latest = runner.invoke(cli.app, [*run, "--plan-ref", "shop"])
    first = runner.invoke(cli.app, [*run, "--plan-ref", "shop:1"])
    recovery = runner.invoke(cli.app, [*run, "--plan-ref", "shop", "--recovery", "--confirm"])
    unknown = runner.invoke(cli.app, [*run, "--plan-ref", "shop:3"])

    # THEN the drills named versions 2 (the latest) and 1, and nothing else was sent
    assert (latest.exit_code, first.exit_code) == (0, 0), latest.output + first.output
    starts = [e for e in published if isinstance(e, StartPlan)]
    assert [(e.plan, e.plan_ref and (e.plan_ref.plan_id, e.plan_ref.version)) for e in starts] == [
        (None, ("shop", 2)),
        (None, ("shop", 1)),
    ]
    assert "of stored plan shop:2" in _out(latest)
    # a RECOVERY must name its version; an unknown version is refused before anything is sent
    assert recovery.exit_code == 2
    assert "a RECOVERY names the version it runs: --plan-ref shop:VERSION (the latest is 2" in _out(recovery)
    assert unknown.exit_code == 2
    assert "stored plan 'shop' has no version 3 (its versions are 1 to 2); nothing was started" in _out(unknown)
    assert len(published) == 2


def test_run_push_stores_then_starts_by_reference(s3: Any, tmp_path: Path, published: list[Contract]) -> None:
    result = runner.invoke(
        cli.app, ["run", str(_file(tmp_path, PLAN)), "--push", "--aws", "--bus", "b", "--bucket", BUCKET]
    )
    assert result.exit_code == 0, result.output
    [start] = published
    assert isinstance(start, StartPlan)
    assert start.plan is None
    assert start.plan_ref is not None
    assert (start.plan_ref.plan_id, start.plan_ref.version) == ("shop", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--plan-ref", "shop:1"], "--plan-ref names a plan of a deployed stack's plan store (--aws)"),
        (["run", "p.yaml", "--plan-ref", "shop:1", "--aws"], "give no PLAN file and no --push with it"),
        (["run", "--aws"], "give a PLAN file, or --plan-ref ID[:VERSION]"),
        (["run", "--plan-ref", "shop:x", "--aws"], "'x' is not a version number"),
    ],
)
def test_run_refuses_what_does_not_fit(args: list[str], message: str, published: list[Contract]) -> None:
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 2
    assert message in _out(result)
    assert published == []
