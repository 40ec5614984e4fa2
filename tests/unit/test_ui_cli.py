"""`drs-orch ui` and `--ui` at the CLI: misuse is refused with a clear message and starts nothing; `run --ui` serves
the run's page on 127.0.0.1 while it runs and says where (the local cloud runs the plan for real: e2e-sized, but the
lowest tier that holds the CLI's wiring)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from drs_orch.app import app
from drs_orch.ui import cli as ui_cli
from drs_orch.ui.server import Dashboard

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ui"], "drs-orch ui serves a deployed stack's dashboard: --aws --table <LedgerTableName>"),
        (["ui", "--aws"], "drs-orch ui serves a deployed stack's dashboard: --aws --table <LedgerTableName>"),
        (["run", str(EXAMPLES / "three-tier.yaml"), "--aws", "--ui"], "--ui and --ui-port serve a local run's"),
        (["run", str(EXAMPLES / "three-tier.yaml"), "--aws", "--ui-port", "0"], "--ui and --ui-port serve a local"),
    ],
)
def test_misuse_is_refused(args: list[str], message: str) -> None:
    # WHEN ui is asked without a stack's ledger, or --ui with --aws
    result = runner.invoke(app, args)
    # THEN exit 2 with what to do instead
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_a_taken_port_is_refused() -> None:
    # GIVEN a port already listening on 127.0.0.1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # WHEN the dashboard is asked to serve on it
        result = runner.invoke(app, ["ui", "--aws", "--table", "t", "--region", "us-east-1", "--port", str(port)])
    # THEN exit 2, saying which port
    assert result.exit_code == 2
    assert f"cannot serve the dashboard on 127.0.0.1:{port}: Address already in use" in " ".join(result.output.split())


def test_a_run_whose_ui_port_is_taken_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN a port already listening on 127.0.0.1, and the run's log directory
    monkeypatch.setenv("DRS_ORCH_LOG_DIR", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # WHEN a local run is asked to serve its dashboard there
        result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--ui-port", str(port)])
    # THEN exit 2 at once, saying which port; no execution was started (none named, no run log written)
    output = " ".join(result.output.split())
    assert result.exit_code == 2
    assert f"cannot serve the dashboard on 127.0.0.1:{port}: Address already in use; nothing was started" in output
    assert "execution " not in output
    assert list(tmp_path.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_with_ui_serves_the_runs_page_while_it_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # GIVEN a run of the diamond example with --ui on a given port; the list page is read by the loop's first
    # refresh of the dashboard (the run is going on then)
    port = _free_port()
    pages: list[str] = []
    printed: list[str] = []
    local_dashboard = ui_cli.local_dashboard
    login_url = Dashboard.login_url

    def recorded(self: Dashboard, path: str = "") -> str:
        printed.append(login_url(self, path))
        return printed[-1]

    @contextmanager
    def reading(*args: Any, **kwargs: Any) -> Iterator[Callable[[], None]]:
        with local_dashboard(*args, **kwargs) as refresh:

            def refresh_and_read() -> None:
                refresh()
                if not pages:
                    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
                    with browser.open(printed[0], timeout=10) as response:  # logs in, then the page
                        pages.append(response.read().decode())
                    refused = urllib.request.Request(f"http://127.0.0.1:{port}/")  # no cookie: refused
                    with pytest.raises(urllib.error.HTTPError, match="403"):
                        urllib.request.urlopen(refused, timeout=10)

            yield refresh_and_read

    monkeypatch.setattr(ui_cli, "local_dashboard", reading)
    monkeypatch.setattr(Dashboard, "login_url", recorded)
    report = tmp_path / "report.json"
    # WHEN it runs (--ui-port alone implies --ui)
    args = ["run", str(EXAMPLES / "diamond.yaml"), "--ui-port", str(port), "--report", str(report)]
    result = runner.invoke(app, [*args, "--speed", "600"])
    # THEN it printed its page's login URL, served the page to it while it ran, and ended as without --ui
    assert result.exit_code == 0, result.output
    execution_id = json.loads(report.read_text())["executionId"]
    assert printed == [f"http://127.0.0.1:{port}/executions/{execution_id}?token={printed[0].rsplit('=', 1)[1]}"]
    assert f"dashboard: {printed[0]}" in " ".join(result.output.split())
    assert len(pages) == 1
    assert f'data-execution-id="{execution_id}"' in pages[0]
    assert printed[0].rsplit("=", 1)[1] not in pages[0]
