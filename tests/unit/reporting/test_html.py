"""`orchestrator.reporting.html.render_html`: the evidence report of an execution report, one self-contained HTML
page; what came from outside is text, never markup; it carries the SHA-256 of the JSON it was rendered from."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator.domain.untrusted import NOT_INERT
from orchestrator.reporting.html import SHA256_DEFINITION, render_html, report_sha256, tail
from orchestrator.reporting.report import report_json
from orchestrator.reporting.timeline import ReportError
from tests.html_page import Page

T0 = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)
R = "\ufffd"
SCRIPT = "<script>alert(document.domain)</script>"
HOSTILE = f'{SCRIPT}<img src=x onerror="alert(1)"> " onload="alert(2) \u202eevil\u202c \x1b[31mred'
HOSTILE_SHOWN = f'{SCRIPT}<img src=x onerror="alert(1)"> " onload="alert(2) {R}evil{R} {R}[31mred'

# What the page may contain: its own elements, the two drawings' SVG elements, and nothing else.
HTML_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "a", "section",
    "table", "thead", "tbody", "tr", "th", "td", "span", "br", "figure", "figcaption", "pre", "div", "ul", "li",
    "footer", "code",
}  # fmt: skip
SVG_TAGS = {"svg", "defs", "marker", "path", "rect", "g", "text", "tspan", "line"}


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _times(start: float, end: float) -> dict[str, str]:
    return {
        "readyAt": at(start),
        "preLaunchAt": at(start + 1),
        "launchStartedAt": at(start + 2),
        "launchedAt": at(end - 10),
        "postLaunchAt": at(end - 9),
        "completedAt": at(end),
        "endedAt": at(end),
    }


def objective(objective_minutes: float, achieved: float | None, verdict: str, **extra: Any) -> dict[str, Any]:
    margin = None if achieved is None else objective_minutes - achieved
    return {"objectiveMinutes": objective_minutes, "achievedMinutes": achieved, "marginMinutes": margin,
            "verdict": verdict, **extra}  # fmt: skip


def report(**changes: Any) -> dict[str, Any]:
    """An execution report as build_report gives it (with obj16's objectives): db -> app -> web, where db has a
    failed OPTIONAL server and a WARN script, app waited for an approval and was retried, web was skipped."""
    data: dict[str, Any] = {
        "executionId": "drill-2026-01",
        "planId": "three-tier",
        "planName": "Three tier",
        "mode": "DRILL",
        "status": "COMPLETED",
        "startedAt": at(0),
        "endedAt": at(600),
        "durationSeconds": 600.0,
        "requestedBy": "arn:aws:sts::123456789012:assumed-role/DROps/alice",
        "stopReason": None,
        "declaredAt": at(-120),
        "objectives": {
            "rto": objective(15.0, 12.0, "MET"),
            "rpo": objective(5.0, None, "NOT_MEASURED", reason="no point-in-time snapshot recorded"),
        },
        "waves": [
            {
                "waveId": "db",
                "status": "COMPLETED",
                "attempt": 1,
                "dependsOn": [],
                **_times(0, 200),
                "reason": None,
                "objectives": {"rto": objective(5.0, 5.33, "MISSED")},
                "jobs": [
                    {
                        "jobId": "drsjob-db1",
                        "sourceServerIds": ["s-db1", "s-db2"],
                        "status": "COMPLETED",
                        "startedAt": at(3),
                        "completedAt": at(190),
                    }
                ],
                "servers": [
                    {
                        "sourceServerId": "s-db1",
                        "criticality": "CRITICAL",
                        "launchStatus": "LAUNCHED",
                        "recoveryInstanceId": "i-0db1",
                        "jobId": "drsjob-db1",
                        "recoveryPointAt": at(-150),
                        "rpoMinutes": 0.5,
                        "launchSettings": {
                            "applied": {"instanceType": "m5.large", "securityGroupIds": ["sg-1", "sg-2"]},
                            "origins": {},
                            "status": "APPLIED",
                            "templateId": "lt-1",
                            "templateVersion": 4,
                            "landed": {
                                "recoveryInstanceId": "i-0db1",
                                "subnetId": "subnet-1",
                                "privateIp": "10.0.1.17",
                            },
                        },
                    },
                    {
                        "sourceServerId": "s-db2",
                        "criticality": "OPTIONAL",
                        "launchStatus": "FAILED",
                        "recoveryInstanceId": None,
                        "jobId": "drsjob-db1",
                        "reason": "LAUNCH_FAILED: InsufficientInstanceCapacity",
                    },
                ],
                "scripts": [
                    {
                        "phase": "POST_LAUNCH",
                        "index": 0,
                        "documentName": "app-smoke-test",
                        "status": "Failed",
                        "onFailure": "WARN",
                        "attempts": 1,
                        "startedAt": at(191),
                        "endedAt": at(199),
                        "instanceCount": 1,
                        "instances": [
                            {
                                "instanceId": "i-0db1",
                                "status": "Failed",
                                "output": "smoke test failed",
                                "durationSeconds": 5,
                            }
                        ],
                    }
                ],
                "warnings": ["db: post-launch script #1 app-smoke-test Failed (onFailure WARN)"],
                "approval": None,
            },
            {
                "waveId": "app",
                "status": "COMPLETED",
                "attempt": 2,
                "dependsOn": ["db"],
                **_times(400, 500),
                "reason": None,
                "jobs": [],
                "servers": [
                    {
                        "sourceServerId": "s-app1",
                        "criticality": "CRITICAL",
                        "launchStatus": "LAUNCHED",
                        "recoveryInstanceId": "i-0app1",
                        "jobId": "drsjob-app2",
                        "privateIp": "10.0.2.9",
                    }
                ],
                "scripts": [],
                "warnings": [],
                "approval": {
                    "status": "GRANTED",
                    "approvers": ["arn:aws:iam::123456789012:role/DROps"],
                    "requestedAt": at(200),
                    "approvedBy": "arn:aws:sts::123456789012:assumed-role/DROps/bob",
                    "approvedAt": at(230),
                    "comment": "db smoke tests reviewed",
                    "gate": "wave approval.required",
                },
                "retriedBy": "arn:aws:sts::123456789012:assumed-role/DROps/ops",
                "retriedAt": at(399),
                "relaunchedServers": ["s-app1"],
                "previousAttempts": [
                    {
                        "attempt": 1,
                        "status": "FAILED",
                        "readyAt": at(200),
                        "endedAt": at(390),
                        "reason": "1 CRITICAL server(s) did not launch: s-app1",
                        "jobs": [{"jobId": "drsjob-app1"}],
                        "serversLaunched": 0,
                        "servers": [{"sourceServerId": "s-app1", "launchStatus": "FAILED", "reason": "LAUNCH_FAILED"}],
                    }
                ],
            },
            {
                "waveId": "web",
                "status": "SKIPPED",
                "attempt": 1,
                "dependsOn": ["app"],
                "readyAt": None,
                "reason": "skipped by arn:aws:sts::123456789012:assumed-role/DROps/ops: web is rebuilt by hand",
                "jobs": [],
                "servers": [],
                "scripts": [],
                "warnings": [],
                "approval": None,
                "skippedBy": "arn:aws:sts::123456789012:assumed-role/DROps/ops",
                "skippedAt": at(510),
            },
        ],
        "terminations": [],
        "events": [
            {"detailType": "StartPlan", "time": at(0), "waveId": None},
            {"detailType": "WaveReady", "time": at(0.05), "waveId": "db"},
            {"detailType": "PlanCompleted", "time": at(600), "waveId": None},
        ],
    }
    data.update(changes)
    return data


def _waves(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["waveId"]: w for w in data["waves"]}


# ---- what the page shows ------------------------------------------------------------------------------------


def test_the_summary_says_plan_mode_who_when_outcome_and_the_objectives() -> None:
    # GIVEN a report with objectives
    # WHEN it is rendered
    text = render_html(report())
    page = Page(text)

    # THEN the summary's rows are the report's, and the objectives table gives figure, margin and verdict
    facts = page.facts("summary")
    assert {k: facts[k] for k in ("plan", "plan id", "execution", "mode", "requested by", "outcome")} == {
        "plan": "Three tier",
        "plan id": "three-tier",
        "execution": "drill-2026-01",
        "mode": "DRILL",
        "requested by": "arn:aws:sts::123456789012:assumed-role/DROps/alice",
        "outcome": "COMPLETED",
    }
    assert (facts["disaster declared"], facts["started"], facts["ended"]) == (at(-120), at(0), at(600))
    assert facts["duration"] == "10m 00s (600 s)"
    assert "plan version" not in facts
    assert "plan SHA-256" not in facts
    assert page.rows("summary", "objectives") == [
        ["RTO (recovery time)", "15.00 min", "12.00 min", "3.00 min", "MET"],
        ["RPO (recovery point)", "5.00 min", "\u2014", "\u2014", "NOT_MEASURED no point-in-time snapshot recorded"],
    ]
    assert "<title>Evidence report: Three tier (three-tier), execution drill-2026-01</title>" in text


def test_a_report_without_objectives_has_no_objectives_table_and_a_version_when_it_has_one() -> None:
    # GIVEN a report of a plan that declares no objectives, with a stored plan's version
    data = report(planVersion=3, planSha256="ab" * 32)
    del data["objectives"], data["declaredAt"], data["waves"][0]["objectives"]

    # WHEN it is rendered
    page = Page(render_html(data))

    # THEN no objectives table, no declared time; the version is in the summary
    assert [t for t in page.tables if "objectives" in t.css_class] == []
    assert "disaster declared" not in page.facts("summary")
    assert page.facts("summary")["plan version"] == "3"
    assert page.facts("summary")["plan SHA-256"] == "ab" * 32
    assert "objectives" not in page.text("summary").lower()


def test_objectives_missed_anywhere_make_the_plan_s_verdict_missed() -> None:
    # GIVEN a plan whose RPO was missed and RTO met
    data = report(objectives={"rto": objective(15.0, 12.0, "MET"), "rpo": objective(5.0, 6.5, "MISSED")})
    # WHEN it is rendered
    page = Page(render_html(data))
    # THEN the heading of the objectives says MISSED, and the RPO row its negative margin
    assert "Recovery objectives: MISSED" in page.text("summary")
    assert page.rows("summary", "objectives")[1] == [
        "RPO (recovery point)",
        "5.00 min",
        "6.50 min",
        "-1.50 min",
        "MISSED",
    ]


def test_a_wave_s_missed_objective_makes_the_headline_missed_though_the_plan_s_own_are_met() -> None:
    # GIVEN a plan whose own RTO and RPO were met, and whose db wave missed its own RTO (5.33 of 5 minutes)
    data = report(objectives={"rto": objective(15.0, 12.0, "MET"), "rpo": objective(5.0, 1.0, "MET")})
    # WHEN it is rendered
    page = Page(render_html(data))
    # THEN neither the headline nor the summary says the objectives were met: they name the wave that missed
    assert page.text("outcome").endswith("Outcome COMPLETED · objectives MISSED")
    assert "Recovery objectives: MISSED" in page.text("summary")
    assert "missed by wave db: RTO (recovery time)" in page.text("summary")
    assert [row[-1] for row in page.rows("summary", "objectives")] == ["MET", "MET"]


def test_objectives_declared_only_on_waves_still_have_a_verdict_in_the_summary() -> None:
    # GIVEN a plan without objectives of its own, whose db wave declared an RTO and missed it
    data = report()
    del data["objectives"]
    # WHEN it is rendered
    page = Page(render_html(data))
    # THEN the headline and the summary give the waves' verdict, and there is no plan table to misread
    assert page.text("outcome").endswith("Outcome COMPLETED · objectives MISSED")
    assert "Recovery objectives: MISSED" in page.text("summary")
    assert "the plan declares none of its own" in page.text("summary")
    assert page.rows("summary", "objectives") == []


def test_a_packed_job_names_the_waves_it_was_shared_with() -> None:
    # GIVEN a report whose db wave's job was packed with the web wave of another execution (issue #19)
    data = report()
    data["waves"][0]["jobs"][0]["sharedWith"] = ["shop-2/web", "shop-3/db"]
    # WHEN it is rendered
    page = Page(render_html(data))
    # THEN the job's row names those waves beside this wave's own servers in it
    assert page.rows("wave-db", "jobs") == [
        ["drsjob-db1", "COMPLETED", "2: s-db1, s-db2", "shop-2/web, shop-3/db", at(3), at(190)]
    ]


def test_each_wave_has_its_servers_with_recovery_instance_private_ip_and_snapshot_time() -> None:
    # GIVEN the report
    # WHEN it is rendered
    page = Page(render_html(report()))

    # THEN db's servers table: the launched one with its instance, private IP (where it landed), snapshot time,
    # RPO, job and launch settings; the failed OPTIONAL one with DRS's reason
    assert page.rows("wave-db", "servers") == [
        ["s-db1", "CRITICAL", "LAUNCHED", "i-0db1", "10.0.1.17", at(-150), "0.50 min", "drsjob-db1",
         "instanceType=m5.large; securityGroupIds=sg-1,sg-2 APPLIED, lt-1 v4", ""],
        ["s-db2", "OPTIONAL", "FAILED", "\u2014", "\u2014", "\u2014", "\u2014", "drsjob-db1", "none",
         "LAUNCH_FAILED: InsufficientInstanceCapacity"],
    ]  # fmt: skip
    # AND app's (no RPO, no launch settings: those columns are left out), its private IP from the report's server
    assert page.rows("wave-app", "servers") == [
        ["s-app1", "CRITICAL", "LAUNCHED", "i-0app1", "10.0.2.9", "\u2014", "drsjob-app2", ""]
    ]
    assert page.rows("wave-db", "jobs") == [["drsjob-db1", "COMPLETED", "2: s-db1, s-db2", "\u2014", at(3), at(190)]]
    assert page.rows("wave-db", "objectives") == [
        ["RTO (recovery time)", "5.00 min", "5.33 min", "-0.33 min", "MISSED"]
    ]
    assert page.facts("wave-db")["ready"] == f"{at(0)} (+0:00)"
    assert page.facts("wave-db")["completed"] == f"{at(200)} (+3:20)"


def test_scripts_show_status_and_the_tail_of_their_output() -> None:
    # GIVEN a script whose instance wrote 30 lines
    data = report()
    output = "\n".join(f"line {n}" for n in range(1, 31))
    _waves(data)["db"]["scripts"][0]["instances"][0]["output"] = output

    # WHEN it is rendered
    page = Page(render_html(data))

    # THEN its row gives step, document, onFailure, status, times and the last 20 lines, said to be the last ones
    [row] = page.rows("wave-db", "scripts")
    last = " ".join(f"line {n}" for n in range(11, 31))
    assert row == ["post-launch #1", "app-smoke-test", "WARN", "Failed", at(191), at(199),
                   f"i-0db1 Failed 5 s {last} (the last lines of the output)"]  # fmt: skip


def test_a_script_shows_the_values_from_the_run_it_was_sent() -> None:
    # GIVEN a script whose parameters held references, resolved to a list and a text
    data = report()
    script = _waves(data)["db"]["scripts"][0]
    script["parameterValues"] = {"Hosts": ["10.0.1.17", "10.0.1.18"], "Note": "drill-2026-01 DRILL"}

    # WHEN it is rendered
    page = Page(render_html(data))

    # THEN its document cell names each parameter with its value as sent
    [row] = page.rows("wave-db", "scripts")
    assert row[1] == "app-smoke-test Hosts = 10.0.1.17, 10.0.1.18 Note = drill-2026-01 DRILL"


def test_hostile_values_from_the_run_are_text() -> None:
    # GIVEN a script whose resolved parameter, name and value, holds markup and terminal escapes
    data = report()
    _waves(data)["db"]["scripts"][0]["parameterValues"] = {HOSTILE: [HOSTILE]}

    # WHEN it is rendered
    page = Page(render_html(data))

    # THEN they are shown as text: no element of theirs, the escapes made inert
    assert {tag for tag, _ in page.elements} <= HTML_TAGS | SVG_TAGS
    [row] = page.rows("wave-db", "scripts")
    assert row[1] == f"app-smoke-test {HOSTILE_SHOWN} = {HOSTILE_SHOWN}"


def test_tail_keeps_the_last_lines_and_characters() -> None:
    assert tail("a\nb\nc\n", lines=2) == ("b\nc", True)
    assert tail("a\nb\n", lines=2) == ("a\nb", False)
    assert tail("x" * 50, chars=10) == ("x" * 10, True)


def test_approval_decisions_and_retries_are_in_the_wave_s_section() -> None:
    # GIVEN the report (app approved, then retried; web skipped by an operator)
    # WHEN it is rendered
    page = Page(render_html(report()))

    # THEN app's approval: who approved, when, what they said
    approval = page.facts("wave-app", "approval")
    assert (approval["status"], approval["approved by"], approval["approved at"], approval["comment"]) == (
        "GRANTED",
        "arn:aws:sts::123456789012:assumed-role/DROps/bob",
        at(230),
        "db smoke tests reviewed",
    )
    # AND the operator decisions: approved and retried, who, when and why
    assert page.rows("wave-app", "decisions") == [
        ["approved", "arn:aws:sts::123456789012:assumed-role/DROps/bob", at(230), "db smoke tests reviewed"],
        ["retried", "arn:aws:sts::123456789012:assumed-role/DROps/ops", at(399), "launched again: s-app1"],
    ]
    # AND the earlier attempt, with how its server ended
    attempt = page.facts("wave-app", "attempt")
    assert (attempt["attempt"], attempt["reason"], attempt["servers launched"], attempt["DRS jobs"]) == (
        "1 FAILED",
        "1 CRITICAL server(s) did not launch: s-app1",
        "0",
        "drsjob-app1",
    )
    assert page.rows("wave-app", "attempt-servers") == [["s-app1", "FAILED", "\u2014", "LAUNCH_FAILED"]]
    assert page.facts("wave-app")["status"] == "COMPLETED (attempt 2)"
    # AND web's skip, with the operator's reason
    assert page.rows("wave-web", "decisions") == [
        [
            "skipped",
            "arn:aws:sts::123456789012:assumed-role/DROps/ops",
            at(510),
            "skipped by arn:aws:sts::123456789012:assumed-role/DROps/ops: web is rebuilt by hand",
        ]
    ]


def test_warnings_event_log_graph_and_timeline() -> None:
    # GIVEN the report
    # WHEN it is rendered
    page = Page(render_html(report()))

    # THEN every wave's warnings are gathered, the event log lists each event with its offset
    assert page.rows("warnings", "warnings") == [
        ["db", "db: post-launch script #1 app-smoke-test Failed (onFailure WARN)"]
    ]
    assert page.rows("events", "events") == [
        [at(0), "+0:00", "StartPlan", ""],
        [at(0.05), "+0:00", "WaveReady", "db"],
        [at(600), "+10:00", "PlanCompleted", ""],
    ]
    # AND the graph has a box per wave with its status, the timeline a row per attempt
    nodes = [a for a in page.tags("g") if a.get("class") == "node"]
    assert [(n["data-wave-id"], n["data-status"]) for n in nodes] == [
        ("db", "COMPLETED"),
        ("app", "COMPLETED"),
        ("web", "SKIPPED"),
    ]
    assert "COMPLETED · attempt 2" in page.text("graph")
    assert "FAILED · attempt 1" in page.text("timeline")


def test_a_report_read_from_the_ledger_says_where_the_events_are() -> None:
    # GIVEN a report without events (drs-orch report reads the ledger, which does not keep them)
    data = report()
    del data["events"]
    # WHEN it is rendered
    page = Page(render_html(data))
    # THEN the event log says the bus archive has them
    assert "bus archive" in page.text("events")
    assert page.rows("events", "events") == []


# ---- what came from outside stays text ----------------------------------------------------------------------


def test_a_script_tag_in_script_output_and_in_operator_reasons_is_text() -> None:
    # GIVEN a script's output, an approver's comment, a skip reason and a DRS reason each holding a <script>
    data = report()
    waves = _waves(data)
    waves["db"]["scripts"][0]["instances"][0]["output"] = HOSTILE
    waves["db"]["servers"][1]["reason"] = HOSTILE
    waves["app"]["approval"]["comment"] = HOSTILE
    waves["web"]["reason"] = HOSTILE

    # WHEN it is rendered
    text = render_html(data)
    page = Page(text)

    # THEN the page has no script element and no event-handler attribute; each shows the text as written (made
    # inert: the bidi override and the escape character are U+FFFD)
    assert page.tags("script") == []
    assert page.tags("img") == []
    assert [(tag, name) for tag, attrs in page.elements for name in attrs if name.lower().startswith("on")] == []
    assert NOT_INERT.search(text) is None
    assert SCRIPT not in text
    [script] = page.rows("wave-db", "scripts")
    assert script[-1] == f"i-0db1 Failed 5 s {HOSTILE_SHOWN}"
    assert page.rows("wave-db", "servers")[1][-1] == HOSTILE_SHOWN
    assert page.rows("wave-app", "decisions")[0][-1] == HOSTILE_SHOWN
    assert page.rows("wave-web", "decisions")[0][-1] == HOSTILE_SHOWN


def _everything(value: Any, text: str) -> Any:
    """`value` with every string in it (keys of times and statuses kept) replaced by `text`."""
    if isinstance(value, dict):
        return {
            k: v if k.endswith("At") or k in ("time", "deadline") else _everything(v, text) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_everything(v, text) for v in value]
    return text if isinstance(value, str) else value


def test_every_string_of_the_report_hostile_still_gives_only_the_page_s_own_elements() -> None:
    # GIVEN a report where every string (ids, statuses, names, reasons, outputs, events) is hostile
    data = _everything(report(), HOSTILE)

    # WHEN it is rendered
    text = render_html(data)
    page = Page(text)

    # THEN only the page's own elements exist, no event handler, no URL but the page's own anchors, nothing a
    # viewer would act on
    assert {tag for tag, _ in page.elements} <= HTML_TAGS | SVG_TAGS
    assert [(tag, name) for tag, attrs in page.elements for name in attrs if name.lower().startswith("on")] == []
    assert {a["href"][:1] for a in page.tags("a")} == {"#"}
    assert NOT_INERT.search(text) is None
    assert HOSTILE_SHOWN in page.text("summary")


# ---- self-contained, deterministic, and its digest --------------------------------------------------------------


def test_the_page_is_self_contained_and_the_same_report_gives_the_same_page() -> None:
    # GIVEN the report
    # WHEN it is rendered twice
    first, second = render_html(report()), render_html(copy.deepcopy(report()))

    # THEN the same text; no element loads anything (no src, no link, no script); CSS is inline
    assert first == second
    page = Page(first)
    assert [attrs for _, attrs in page.elements if "src" in attrs] == []
    assert page.tags("link") == []
    assert page.tags("script") == []
    assert len(page.tags("style")) == 1
    assert "http://" not in first.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in first
    assert "@media print" in first


def test_the_page_carries_the_sha256_of_the_json_report_file() -> None:
    # GIVEN a report, and its digest computed as an auditor would from its JSON file (sha256sum report.json)
    data = report()
    file_bytes = (json.dumps(data, indent=2) + "\n").encode("utf-8")
    expected = hashlib.sha256(file_bytes).hexdigest()

    # WHEN it is rendered
    text = render_html(data)
    page = Page(text)

    # THEN the page states that digest (in its integrity section and its meta) and the definition of the bytes
    assert report_sha256(data) == expected
    assert report_json(data).encode("utf-8") == file_bytes
    assert expected in page.text("integrity")
    assert [m["content"] for m in page.tags("meta") if m.get("name") == "report-sha256"] == [expected]
    assert SHA256_DEFINITION in page.text("integrity")
    # AND another report (one character changed) gives another digest
    changed = report(requestedBy="mallory")
    assert report_sha256(changed) != expected
    assert expected not in render_html(changed)


def test_what_is_not_a_report_is_refused() -> None:
    with pytest.raises(ReportError, match="no executionId"):
        render_html({"waves": []})
    with pytest.raises(ReportError, match="waves: expected a list"):
        render_html({"executionId": "x", "waves": {}})
