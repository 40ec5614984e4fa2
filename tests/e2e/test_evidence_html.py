"""End to end: the HTML evidence report of a real run on the local cloud (issue #16 item 2) holds what happened,
and loads in a real headless Chromium without a console error; a screenshot (and the PDF print) is kept as a test
artifact in build/artifacts/.

The run: db -> app -> web. In db an OPTIONAL server fails to launch and a post-launch script with onFailure WARN
fails (its output holds a <script>); app waits for an approval (the approver's comment holds one too), then
fails on a CRITICAL server, and an operator retries it; web then runs. The plan completes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from drs_orch.app import app
from localcloud.cloud import TABLE_NAME
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.reporting.html import render_html, report_sha256
from tests.browser import chromium
from tests.e2e.helpers import DROPS, allowing, assert_choreography_invariants, command, session, sid, wave, wave_status
from tests.html_page import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "artifacts"
EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"
FAILING = sid("b", 2)  # CRITICAL in app: fails its first launch
OPTIONAL = sid("o", 1)  # OPTIONAL in db: never launches
OUTPUT = "checking orders table\n<script>alert('from the instance')</script>\nsmoke test: 3 rows missing"
COMMENT = "db checks green <script>alert('from the approver')</script>"
runner = CliRunner()


def _plan() -> Any:
    return parse_plan(
        {
            "planId": "evidence",
            "name": "Evidence drill",
            "waves": [
                wave(
                    "db",
                    [sid("a", 1), {"sourceServerID": OPTIONAL, "criticality": "OPTIONAL"}],
                    postLaunch=[{"documentName": "app-smoke-test", "onFailure": "WARN"}],
                ),
                wave(
                    "app",
                    [sid("b", 1), FAILING],
                    ["db"],
                    onFailure="STOP",
                    approval={"required": True, "approvers": [DROPS], "timeoutSeconds": 3600},
                ),
                wave("web", [sid("c", 1)], ["app"]),
            ],
        }
    )


def _run(local_cloud: Any) -> tuple[Any, str, dict[str, Any]]:
    """The run of the module's docstring: the cloud, the execution id and its final report."""
    cloud = local_cloud(
        **allowing("app-smoke-test"),
        **{
            "ssm.documents.app-smoke-test.status": "Failed",
            f"drs.servers.{FAILING}.launch": "FAILED",
            f"drs.servers.{OPTIONAL}.launch": "FAILED",
        },
    )
    cloud.ssm.set_document_behavior("app-smoke-test", output=OUTPUT)
    execution_id = start(cloud, _plan())
    cloud.run_until(lambda: wave_status(cloud, execution_id, "app") == "AWAITING_APPROVAL", timeout=60)
    command(cloud, "ApprovalGranted", {"executionId": execution_id, "waveId": "app", "comment": COMMENT}, by="alice")
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"  # app's CRITICAL server did not launch
    cloud.drs.set_launch_outcome(FAILING, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": execution_id, "waveId": "app"}, by="ops")
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "COMPLETED", result.report
    assert result.report is not None
    assert_choreography_invariants(cloud, execution_id, relaunched={FAILING: 2})
    return cloud, execution_id, result.report


def _assert_holds_the_run(page: Page, report: dict[str, Any]) -> None:
    """The page shows the approval, the retry, the WARN script and the failed OPTIONAL server, cell by cell."""
    waves = {w["waveId"]: w for w in report["waves"]}
    alice, ops = session("alice"), session("ops")
    # the failed OPTIONAL server, with DRS's reason, beside db's launched one and its recovery instance
    servers = {row[0]: row for row in page.rows("wave-db", "servers")}
    instance = {s["sourceServerId"]: s["recoveryInstanceId"] for s in waves["db"]["servers"]}[sid("a", 1)]
    assert servers[sid("a", 1)][1:4] == ["CRITICAL", "LAUNCHED", instance]
    assert servers[OPTIONAL][1:4] == ["OPTIONAL", "FAILED", "\u2014"]
    assert "InsufficientInstanceCapacity" in servers[OPTIONAL][-1]
    # the WARN script: Failed, onFailure WARN, on db's recovery instance, the tail of what it wrote
    [script] = page.rows("wave-db", "scripts")
    assert script[:4] == ["post-launch #1", "app-smoke-test", "WARN", "Failed"]
    assert script[-1].startswith(f"{instance} Failed ")
    assert "<script>alert('from the instance')</script> smoke test: 3 rows missing" in script[-1]
    assert [row[0] for row in page.rows("warnings", "warnings")] == ["db", "db"]
    assert {row[1].split(" ")[0] for row in page.rows("warnings", "warnings")} == {"OPTIONAL", "db:"}
    # the approval: who approved, when, what they said
    approval = page.facts("wave-app", "approval")
    assert (approval["status"], approval["approved by"], approval["comment"]) == ("GRANTED", alice, COMMENT)
    assert approval["approved at"] == waves["app"]["approval"]["approvedAt"]
    # the retry: who and when, the server launched again, the failed first attempt and how its servers ended
    decisions = page.rows("wave-app", "decisions")
    assert [row[:2] for row in decisions] == [["approved", alice], ["retried", ops]]
    assert decisions[1][2:] == [waves["app"]["retriedAt"], f"launched again: {FAILING}"]
    attempt = page.facts("wave-app", "attempt")
    assert attempt["attempt"] == "1 FAILED"
    assert attempt["reason"].startswith(f"1 CRITICAL server(s) did not launch: {FAILING}")
    assert [row[:2] for row in page.rows("wave-app", "attempt-servers")] == [
        [sid("b", 1), "LAUNCHED"],
        [FAILING, "FAILED"],
    ]
    assert page.facts("wave-app")["status"] == "COMPLETED (attempt 2)"
    assert page.facts("summary")["outcome"] == "COMPLETED"


def test_the_evidence_report_of_a_run_holds_what_happened_and_loads_in_chromium(local_cloud, tmp_path: Path) -> None:
    chromium.require()
    # GIVEN the run of the module's docstring
    _, execution_id, report = _run(local_cloud)

    # WHEN its evidence report is rendered (as `run --html` does, from the run's report with its events)
    page_file = tmp_path / "evidence.html"
    page_file.write_text(render_html(report), encoding="utf-8")
    page = Page(page_file.read_text(encoding="utf-8"))

    # THEN it holds the approval, the retry, the WARN script and the failed OPTIONAL server, and the event log
    _assert_holds_the_run(page, report)
    events = page.rows("events", "events")
    assert [row[2] for row in events] == [e["detailType"] for e in report["events"]]
    assert events[0][2] == "StartPlan"
    assert events[-1][2] == "PlanCompleted"
    assert report_sha256(report) in page.text("integrity")

    # WHEN it is loaded in headless Chromium, screenshot and printed to PDF
    loaded = chromium.load(page_file, pdf=True)

    # THEN no console error (the <script>s were text: an alert() would be one), nothing loaded from outside, and
    # what a reader sees names each of them; the screenshot and the PDF are kept as artifacts
    assert (loaded.errors, loaded.requests) == ([], [])
    for seen in (COMMENT, "<script>alert('from the instance')</script>", f"launched again: {FAILING}", OPTIONAL):
        assert seen in loaded.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot, pdf = ARTIFACTS / "evidence-report.png", ARTIFACTS / "evidence-report.pdf"
    screenshot.write_bytes(loaded.screenshot)
    pdf.write_bytes(loaded.pdf)
    print(f"evidence report screenshot: {screenshot}; PDF: {pdf}; page: {page_file}")
    assert loaded.screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    assert loaded.pdf.startswith(b"%PDF-")

    # WHEN `drs-orch report` reads the same execution back from the ledger with --html (and -o for its JSON)
    html, out = tmp_path / "ledger.html", tmp_path / "ledger.json"
    cli = runner.invoke(
        app,
        ["report", execution_id, "--table", TABLE_NAME, "--region", "us-east-1", "-o", str(out), "--html", str(html)],
    )

    # THEN it writes the same evidence (without the events, which the ledger does not keep), carrying the SHA-256
    # of the JSON report written beside it
    assert cli.exit_code == 0, cli.output
    assert "evidence report written to" in cli.output
    from_ledger = Page(html.read_text(encoding="utf-8"))
    _assert_holds_the_run(from_ledger, report)
    assert "bus archive" in from_ledger.text("events")
    assert report_sha256(json.loads(out.read_text(encoding="utf-8"))) in from_ledger.text("integrity")


def test_run_html_writes_the_evidence_report_of_the_run_beside_its_json(tmp_path: Path) -> None:
    # GIVEN the diamond example and a fast profile
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"seed": 1, "drs": {"launchSeconds": {"min": 0, "max": 30}}}))
    report, html = tmp_path / "report.json", tmp_path / "report.html"

    # WHEN `drs-orch run --report --html` runs it
    result = runner.invoke(
        app,
        ["run", str(EXAMPLES / "diamond.yaml"), "--sim", str(profile), "--report", str(report), "--html", str(html)],
    )

    # THEN the page is the run's: every wave in its graph and its sections, and the SHA-256 of the JSON report
    assert result.exit_code == 0, result.output
    assert "evidence report written to" in result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    page = Page(html.read_text(encoding="utf-8"))
    assert [a["data-wave-id"] for a in page.tags("g") if a.get("class") == "node"] == ["A", "B", "C", "D"]
    assert [page.facts(f"wave-{w}")["status"] for w in "ABCD"] == ["COMPLETED"] * 4
    assert [m["content"] for m in page.tags("meta") if m.get("name") == "report-sha256"] == [report_sha256(data)]
    assert len(page.rows("events", "events")) == len(data["events"])


def test_run_aws_refuses_html(tmp_path: Path) -> None:
    # GIVEN / WHEN a run on AWS asked for the evidence report (a local run's option)
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--aws", "--html", str(out)])
    # THEN it is refused before anything is sent, pointing at drs-orch report
    assert result.exit_code == 2, result.output
    assert "apply to a local run" in result.output
    assert not out.exists()
