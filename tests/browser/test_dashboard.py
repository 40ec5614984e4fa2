"""The live dashboard (issue #17 items 1 and 4) in headless Chromium, driven over the DevTools protocol
(tests/browser/chromium.py `Browser`).

A real local run serves its dashboard as `drs-orch run --ui` does: the local cloud runs `run_session` on its own
thread, refreshing the page's source between its steps, with the control socket the CLI's commands (and the
page's buttons) go through. The plan: db -> app -> web, app behind an approval gate. The page must show db
running, then COMPLETED, while app waits for its approval; a command the control function refuses shows its
reason; clicking Approve releases app, and the plan completes, every wave drawn COMPLETED. Every wait is on the
DOM (a MutationObserver in the page), never a sleep. Screenshots go to build/artifacts/ ($DRS_ORCH_ARTIFACTS);
with DRS_ORCH_UPDATE_SCREENSHOT=1 the README's docs/dashboard.png is written too.

Skipped only when Chromium is absent outside CI (`chromium.require`); in CI it must be there (`make browser`)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drs_orch import control
from drs_orch.ui.feed import LocalSource
from drs_orch.ui.server import Dashboard
from localcloud.cloud import LocalCloud
from localcloud.control_socket import ControlServer, run_session, socket_path
from localcloud.runner import RunResult, start
from orchestrator.domain.plan import parse_plan
from tests.browser import chromium
from tests.e2e.helpers import ALICE, DROPS, sid, wave
from tests.unit.reporting.test_html import HOSTILE, report
from tests.unit.test_ui_app import FakeSource

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DRS_ORCH_ARTIFACTS") or ROOT / "build" / "artifacts")
RUNNING = ("PRE_LAUNCH", "LAUNCHING", "LAUNCHED", "POST_LAUNCH")

# Records every status each wave's box of the graph has shown, in order, as the stream replaces the drawing.
RECORD_GRAPH = """
window.seen = {};
const record = () => {
  for (const node of document.querySelectorAll("#graph g.node")) {
    const statuses = (window.seen[node.dataset.waveId] ||= []);
    if (statuses[statuses.length - 1] !== node.dataset.status) statuses.push(node.dataset.status);
  }
};
record();
new MutationObserver(record).observe(document.getElementById("graph"), { subtree: true, childList: true });
true
"""


def node(wave_id: str) -> str:
    return f"document.querySelector('#graph g.node[data-wave-id=\"{wave_id}\"]')?.dataset.status"


@pytest.fixture(autouse=True)
def _chromium() -> None:
    chromium.require()


def _artifact(name: str, png: bytes) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
    if name == "dashboard-approval.png" and os.environ.get("DRS_ORCH_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs" / "dashboard.png").write_bytes(png)


def test_the_list_and_a_hostile_execution_page_load_without_console_errors() -> None:
    # GIVEN a dashboard over an execution whose plan name and script output hold a script element
    hostile = report(planName=HOSTILE)
    hostile["waves"][0]["scripts"][0]["instances"][0]["output"] = HOSTILE
    with Dashboard(FakeSource(hostile)) as dashboard, chromium.Browser() as browser:
        # WHEN the list and the execution's page are opened
        browser.navigate(dashboard.login_url())  # the printed URL: logs in, then the list without the secret
        browser.wait_for('document.getElementById("connection").textContent === "live"')
        assert browser.evaluate("location.href") == dashboard.url
        assert browser.evaluate("document.cookie") == ""  # HttpOnly: no script of the page reads the session
        listed = browser.evaluate("document.body.innerText")
        browser.navigate(f"{dashboard.url}executions/drill-2026-01")
        browser.wait_for('document.getElementById("connection").textContent === "live"')
        page = browser.evaluate("document.body.innerText")
        _artifact("dashboard-hostile.png", browser.screenshot())
        # THEN no console error (nothing injected ran: an alert() would be one), the text shown as text
        assert browser.errors == []
    assert "drill-2026-01" in listed
    assert "<script>alert(document.domain)</script>" in page
    assert "Dependency graph" in page


#: How long the run may take to reach a state the page must show (real seconds): generous, for a machine whose two
#: cores also run the other test worker; each wait ends as soon as the page shows the state.
RUN_WAIT_SECONDS = 150


def _wait_for_run(browser: chromium.Browser, expression: str) -> None:
    """Wait until `expression` holds in the page, up to RUN_WAIT_SECONDS (in waits under the protocol's deadline)."""
    deadline = time.monotonic() + RUN_WAIT_SECONDS
    while True:
        try:
            browser.wait_for(expression, timeout=min(50.0, max(deadline - time.monotonic(), 1.0)))
            return
        except chromium.ChromiumError:
            if time.monotonic() >= deadline:
                raise


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    """45 simulated seconds a launch (1.5 s real at the run's speed): long enough for the page to draw a wave
    running, short enough that a loaded machine still ends the run within the waits below."""
    return {"min": 45, "max": 45}


@pytest.fixture
def live_run(local_cloud: Callable[..., LocalCloud]) -> Iterator[tuple[Dashboard, str, Callable[[], RunResult]]]:
    """A paced local run of db -> app (gated) -> web with its dashboard: (the dashboard, execution id, a call that
    waits for the run's end and returns its result)."""
    cloud = local_cloud(**{"clock.pace": True, "clock.speed": 30})
    plan = parse_plan(
        {
            "planId": "live",
            "name": "Live <b>drill</b>",
            "waves": [
                wave("db", [sid("a", 1), sid("a", 2)]),
                wave("app", [sid("b", 1)], ["db"], approval={"required": True, "approvers": [DROPS]}),
                wave("web", [sid("c", 1)], ["app"]),
            ],
        }
    )
    execution_id = start(cloud, plan)
    source = LocalSource(cloud, [execution_id], as_=ALICE)
    source.refresh(force=True)
    results: list[RunResult] = []
    with ControlServer(socket_path(execution_id)) as server, Dashboard(source) as dashboard:

        def run() -> None:
            results.append(
                run_session(cloud, execution_id, server, timeout=2 * RUN_WAIT_SECONDS + 60, on_progress=source.refresh)
            )
            source.refresh(force=True)  # as `run --ui` does at the end (ui/cli.py local_dashboard): the last read

        loop = threading.Thread(target=run, name="local-cloud")
        loop.start()

        def finish() -> RunResult:
            loop.join(2 * RUN_WAIT_SECONDS + 90)
            assert len(results) == 1, "the local run did not end"
            return results[0]

        try:
            yield dashboard, execution_id, finish
        finally:
            if loop.is_alive():  # a failed test leaves the run at its gate: cancel it rather than wait it out
                control.send_local(control.command_event("CancelPlan", execution_id, {}), as_=ALICE)
            loop.join(2 * RUN_WAIT_SECONDS + 90)


def test_a_live_run_is_drawn_as_it_changes_and_approve_releases_the_gated_wave(
    live_run: tuple[Dashboard, str, Callable[[], RunResult]],
) -> None:
    dashboard, execution_id, finish = live_run
    with chromium.Browser(height=2200) as browser:
        # GIVEN the execution's page, every status its graph shows recorded
        browser.navigate(dashboard.login_url(f"executions/{execution_id}"))
        assert browser.evaluate(RECORD_GRAPH) is True

        # WHEN db runs and ends, and app reaches its approval gate
        _wait_for_run(browser, f'{node("db")} === "COMPLETED" && {node("app")} === "AWAITING_APPROVAL"')
        _artifact("dashboard-approval.png", browser.screenshot())
        seen_before: dict[str, list[str]] = browser.evaluate("window.seen")

        # THEN db was drawn running before COMPLETED, web still PENDING; app's READY moment is in its section
        assert any(status in RUNNING for status in seen_before["db"]), seen_before
        assert seen_before["db"][-1] == "COMPLETED"
        assert seen_before["web"] == ["PENDING"]
        assert "ready" in browser.evaluate('document.getElementById("wave-app").innerText')
        assert browser.evaluate('Array.from(document.getElementById("command-wave").options, (o) => o.value)') == [
            "db",
            "app",
            "web",
        ]

        # WHEN a command the control function refuses is sent: resume a plan that is not paused
        browser.click('button[data-verb="resume"]')
        browser.wait_for('document.getElementById("command-result").textContent.includes("rejected")')
        # THEN its ControlRejected reason is on the page
        assert browser.evaluate('document.getElementById("command-result").textContent') == (
            "resume rejected: execution is RUNNING, not paused"
        )

        # WHEN Approve is clicked on the gated wave
        browser.click('button[data-verb="approve"][data-wave="app"]')
        browser.wait_for('document.getElementById("command-result").textContent === "approve app: applied"')
        # THEN app is released, runs, and the plan completes with every wave drawn COMPLETED
        _wait_for_run(
            browser,
            f'{node("app")} === "COMPLETED" && {node("web")} === "COMPLETED" && '
            'document.getElementById("execution-status").dataset.status === "COMPLETED"',
        )
        _artifact("dashboard-completed.png", browser.screenshot())
        seen: dict[str, Any] = browser.evaluate("window.seen")
        approved_by = browser.evaluate('document.getElementById("wave-app").innerText')
        assert browser.errors == []

    gate = seen["app"].index("AWAITING_APPROVAL")
    assert seen["app"][0] == "PENDING"
    assert any(status in RUNNING for status in seen["app"][gate + 1 :]), seen  # released by the approval
    assert seen["app"][-1] == "COMPLETED"
    assert seen["web"][0] == "PENDING"
    assert seen["web"][-1] == "COMPLETED"
    assert ALICE in approved_by
    assert finish().status == "COMPLETED"
    assert "<h1>Live &lt;b&gt;drill&lt;/b&gt; " in _served(dashboard.login_url(f"executions/{execution_id}"))


def _served(login_url: str) -> str:
    """The page as the server sends it (logged in by `login_url`, the redirect followed with the cookie)."""
    import urllib.request

    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with browser.open(login_url, timeout=10) as response:
        return str(response.read().decode())


def _wide_report(chain: int, side: int) -> dict[str, Any]:
    """A running execution of `chain` waves in a line, the first with `side` dependents of its own (one wide layer)."""
    ids = [f"w{n:03d}" for n in range(chain)]
    waves = [
        {"waveId": wave_id, "status": "PENDING", "attempt": 1, "dependsOn": ids[n - 1 : n] if n else []}
        for n, wave_id in enumerate(ids)
    ]
    waves += [{"waveId": f"s{n:03d}", "status": "PENDING", "attempt": 1, "dependsOn": [ids[0]]} for n in range(side)]
    return report(status="RUNNING", endedAt=None, waves=waves)


def test_a_wide_graph_scrolls_inside_its_panel_not_the_page() -> None:
    # GIVEN an execution of 40 waves in a line and a layer of 60 waves side by side
    with Dashboard(FakeSource(_wide_report(40, 60))) as dashboard, chromium.Browser(width=1024) as browser:
        # WHEN its page is opened in a 1024-pixel window
        browser.navigate(dashboard.login_url("executions/drill-2026-01"))
        browser.wait_for('document.getElementById("connection").textContent === "live"')
        page = browser.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        panel = browser.evaluate(
            '(() => { const g = document.getElementById("graph"); const svg = g.querySelector("svg");'
            " return [g.scrollWidth, g.clientWidth, getComputedStyle(g).overflowX,"
            ' svg.getBoundingClientRect().width, Number(svg.getAttribute("width"))]; })()'
        )
        _artifact("dashboard-wide-graph.png", browser.screenshot())
        assert browser.errors == []
    # THEN the page does not overflow its window; the graph's panel scrolls, its drawing at its own size (not shrunk
    # to a sliver)
    assert page[0] <= page[1], page
    scroll_width, client_width, overflow, drawn, natural = panel
    assert overflow == "auto"
    assert scroll_width > client_width
    assert drawn == natural


def test_a_ledger_that_stops_answering_is_said_on_the_open_page() -> None:
    # GIVEN an open execution page of a source that reads
    source = FakeSource(report(status="RUNNING", endedAt=None))
    with Dashboard(source) as dashboard, chromium.Browser() as browser:
        browser.navigate(dashboard.login_url("executions/drill-2026-01"))
        browser.wait_for('document.getElementById("connection").textContent === "live"')
        # WHEN the ledger starts refusing the reads (AccessDenied)
        source.failure = "reading drill-2026-01 from the ledger table t: AccessDeniedException: no dynamodb:Query"
        source.change("drill-2026-01", status="FAILED")
        # THEN the page says why in its connection status, without a console error
        browser.wait_for('document.getElementById("connection").textContent.startsWith("ledger unreadable")')
        shown = browser.evaluate('document.getElementById("connection").textContent')
        assert browser.errors == []
    assert shown == f"ledger unreadable: {source.failure}"
