"""End to end: a compromised recovery instance reports hostile output for its post-launch script (the local
cloud's SSM simulator writes it byte for byte, as such an instance's SSM agent would). The plan goes on (the
instance may lie about its own result: that is what it can do), and `drs-orch report` (JSON and the SVG
timeline) and `drs-orch inspect` of that execution print it inert: no terminal control sequence, no markup."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from drs_orch.app import app
from localcloud.cloud import ARCHIVE_NAME, BUS_NAME, TABLE_NAME
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.untrusted import NOT_INERT
from tests.e2e.helpers import allowing, assert_choreography_invariants, sid, wave

R = "\ufffd"
HOSTILE = (
    "\x1b[2J\x1b[31mHEALTHY\x1b[0m \x1b]52;c;cm0gLXJmIH4K\x07 \x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\ "
    "FAILED\rPASSED \x00 \x9b31m \ud800 \u202eevil\u202c [bold red]x[/] </text><script>alert(1)</script>\r\n"
)
KEPT = (
    f"{R}[2J{R}[31mHEALTHY{R}[0m {R}]52;c;cm0gLXJmIH4K{R} {R}]8;;https://evil.example/{R}\\docs{R}]8;;{R}\\ "
    f"FAILED{R}PASSED {R} {R}31m {R} {R}evil{R} [bold red]x[/] </text><script>alert(1)</script>\n"
)
REGION = ["--region", "us-east-1"]
runner = CliRunner()


def test_hostile_script_output_is_reported_and_inspected_inert(local_cloud, tmp_path: Path) -> None:
    # GIVEN a drill whose wave runs a post-launch script on its own recovery instances, which report it passed
    # with hostile output
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.ssm.set_document_behavior("AWS-RunShellScript", output=HOSTILE)
    servers = [sid("a", 1), sid("a", 2)]
    script = {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["systemctl is-active app"]}}
    result = run_plan(cloud, parse_plan({"planId": "hostile", "waves": [wave("app", servers, postLaunch=[script])]}))

    # THEN the plan completed on the instances' word
    assert result.status == "COMPLETED"
    assert_choreography_invariants(cloud, result.execution_id)

    # WHEN `drs-orch report` prints the execution's report, then writes it with its timeline
    printed = runner.invoke(app, ["report", result.execution_id, "--table", TABLE_NAME, *REGION])
    out, picture = tmp_path / "report.json", tmp_path / "report.svg"
    written = runner.invoke(
        app, ["report", result.execution_id, "--table", TABLE_NAME, *REGION, "-o", str(out), "--timeline", str(picture)]
    )

    # THEN the printed report is ASCII JSON, and each instance's output in it is the inert text, exactly
    assert (printed.exit_code, written.exit_code) == (0, 0), printed.output + written.output
    assert printed.stdout.isascii()
    report = json.loads(printed.stdout)
    [summary] = report["waves"][0]["scripts"]
    assert [(i["status"], i["output"]) for i in summary["instances"]] == [("Success", KEPT), ("Success", KEPT)]
    # AND the file is the same report; the timeline holds no control character and no script element
    assert json.loads(out.read_text(encoding="utf-8")) == report
    svg = picture.read_text(encoding="utf-8")
    assert NOT_INERT.search(svg) is None
    assert not [e for e in ET.fromstring(svg.encode("utf-8")).iter() if e.tag.endswith("script")]

    # WHEN the execution is inspected (archive replay) and printed, as a table and as JSON
    inspect = ["inspect", result.execution_id, "--aws", "--bus", BUS_NAME, "--archive", ARCHIVE_NAME]
    table = runner.invoke(app, [*inspect, "--table", TABLE_NAME, *REGION, "--settle", "0"])
    as_json = runner.invoke(app, [*inspect, "--table", TABLE_NAME, *REGION, "--settle", "0", "--json"])

    # THEN both agree with the ledger and print no control character
    assert (table.exit_code, as_json.exit_code) == (0, 0), table.output + as_json.output
    assert "the events and the ledger agree" in table.output
    assert NOT_INERT.search(table.output) is None
    assert as_json.output.isascii()
    assert json.loads(as_json.output)["rebuilt"]["waves"]["app"]["status"] == "COMPLETED"
