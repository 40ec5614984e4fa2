"""The dashboard's routes (drs_orch/ui/app.py) served by the real server (uvicorn on a free port of 127.0.0.1) over an
in-memory source: what the pages show, the event stream, the commands (and every bad input: unknown execution,
bad verb, missing token, another origin, an unconfirmed RECOVERY command), and that untrusted text stays text.

No httpx in the lock: requests go through the standard library's urllib, as a browser's would over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from drs_orch import control
from drs_orch.ui.app import TOKEN_HEADER
from drs_orch.ui.feed import ExecutionRow, execution_rows, moments
from drs_orch.ui.server import Dashboard
from events.models import Contract
from tests.unit.reporting.test_html import HOSTILE, report

TOKEN = "test-token-0123456789"


class FakeSource:
    """A source of fixed reports; `answer` is what every command gets; `sent` records them."""

    description = "fake source"
    local = True

    def __init__(self, *reports: dict[str, Any], answer: control.Outcome | None = None) -> None:
        self.reports = {r["executionId"]: r for r in reports}
        self.answer = answer or control.Outcome(control.Sent.APPLIED)
        self.sent: list[Contract] = []
        self.version = 0
        self._changed = threading.Condition()
        self._closed = False

    def executions(self) -> list[ExecutionRow]:
        return execution_rows(self.reports.values(), datetime(2026, 1, 1, 12, tzinfo=UTC))

    def report(self, execution_id: str) -> dict[str, Any] | None:
        return self.reports.get(execution_id)

    def send(self, command: Contract) -> control.Outcome:
        self.sent.append(command)
        return self.answer

    def change(self, execution_id: str, **fields: Any) -> None:
        with self._changed:
            self.reports[execution_id] = {**self.reports[execution_id], **fields}
            self.version += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen or self._closed, timeout=timeout)
            return self.version

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


@pytest.fixture
def source() -> FakeSource:
    return FakeSource(report(), report(executionId="recover-1", mode="RECOVERY", status="RUNNING", endedAt=None))


@pytest.fixture
def url(source: FakeSource) -> Iterator[str]:
    with Dashboard(source, token=TOKEN) as dashboard:
        yield dashboard.url.rstrip("/")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


AUTH = {TOKEN_HEADER: TOKEN}
NO_TOKEN = f"missing or wrong {TOKEN_HEADER}: send commands from the dashboard's own page"
UNCONFIRMED = "recover-1 is a RECOVERY (a real failover): confirm by typing its execution id"
UNKNOWN_VERB = "unknown verb 'explode': one of approve, deny, pause, resume, cancel, retry, skip"
NOT_A_FLAG = "allServers must be true or false"
EVIL = {**AUTH, "Origin": "http://evil.example"}


def test_the_list_shows_running_executions_first_with_plan_mode_status_start_and_duration(url: str) -> None:
    # GIVEN an ended drill and a running recovery
    # WHEN the list is read
    status, page, headers = get(url + "/")
    # THEN the running one comes first, each with its plan, mode, status, start and duration; the page is locked down
    assert status == 200
    assert page.index('data-execution-id="recover-1"') < page.index('data-execution-id="drill-2026-01"')
    assert "<td>Three tier</td>" in page
    assert '<strong class="recovery">RECOVERY</strong>' in page
    assert "10m00s" in page  # the drill: 600 s from its start to its end
    assert "script-src 'self'" in headers["content-security-policy"]
    assert f'<meta name="drs-orch-token" content="{TOKEN}">' in page


def test_execution_page_shows_graph_timeline_waves_and_buttons(url: str) -> None:
    # WHEN the drill's page is read
    status, page, _ = get(url + "/executions/drill-2026-01")
    # THEN its graph (each wave's status in words), the timeline, each wave's section and the operator's buttons
    assert status == 200
    assert 'class="dependency-graph"' in page
    assert 'data-wave-id="db" data-status="COMPLETED"' in page
    assert ">COMPLETED</text>" in page
    assert 'id="wave-app"' in page
    assert "Servers and recovery instances" in page
    assert 'data-verb="approve"' in page
    assert 'data-stream="/executions/drill-2026-01/stream"' in page


def test_unknown_execution_is_404_with_a_clear_message(url: str) -> None:
    # WHEN an execution the source does not have is asked for, its page or its stream
    page = get(url + "/executions/nope-1")
    stream = get(url + "/executions/nope-1/stream")
    # THEN 404, saying which execution and where it was looked for
    assert page[:2] == (404, "no execution nope-1 in the fake source")
    assert stream[:2] == (404, "no execution nope-1 in the fake source")


def test_another_host_is_refused(url: str) -> None:
    # GIVEN a request naming another host (a page of another site reaching the port through DNS rebinding)
    # WHEN it asks for the list
    status, body, _ = get(url + "/", headers={"Host": "evil.example:80"})
    # THEN it is refused
    assert (status, body) == (400, "Invalid host header")


def test_untrusted_text_is_shown_as_text(source: FakeSource, url: str) -> None:
    # GIVEN a plan name and a script output holding markup
    source.change("drill-2026-01", planName=HOSTILE)
    source.reports["drill-2026-01"]["waves"][0]["scripts"][0]["instances"][0]["output"] = HOSTILE
    # WHEN the page and the list are read
    _, page, _ = get(url + "/executions/drill-2026-01")
    _, listing, _ = get(url + "/")
    # THEN no tag of it reaches the page: it is escaped
    for text in (page, listing):
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(document.domain)&lt;/script&gt;" in text
        assert "<img src=x" not in text


def test_approve_sends_the_clis_command(source: FakeSource, url: str) -> None:
    # WHEN the page's Approve is posted with a comment
    status, answer = post(
        url + "/executions/drill-2026-01/commands", {"verb": "approve", "waveId": "app", "text": "db ok"}, AUTH
    )
    # THEN the ApprovalGranted the CLI sends went to the source, and it was applied
    assert (status, answer) == (200, {"ok": True, "sent": "APPLIED", "reason": ""})
    assert [(c.DETAIL_TYPE, c.to_detail()) for c in source.sent] == [
        (
            "ApprovalGranted",
            control.command_event(
                "ApprovalGranted", "drill-2026-01", {"waveId": "app", "comment": "db ok"}
            ).to_detail(),
        )
    ]


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ({"verb": "deny", "waveId": "app"}, ("ApprovalDenied", {"waveId": "app", "reason": "denied"})),
        ({"verb": "skip", "waveId": "web", "text": "by hand"}, ("SkipWave", {"waveId": "web", "reason": "by hand"})),
        ({"verb": "retry", "waveId": "app", "allServers": True}, ("RetryWave", {"waveId": "app", "allServers": True})),
        ({"verb": "cancel", "terminateDrillInstances": True}, ("CancelPlan", {"terminateDrillInstances": True})),
        ({"verb": "pause"}, ("PausePlan", {})),
        ({"verb": "resume", "waveId": "ignored"}, ("ResumePlan", {})),
    ],
)
def test_each_verb_sends_what_the_cli_sends(
    source: FakeSource, url: str, body: dict[str, Any], extra: tuple[str, dict[str, Any]]
) -> None:
    # WHEN a verb is posted
    status, _ = post(url + "/executions/drill-2026-01/commands", body, AUTH)
    # THEN the source got the command the CLI's verb builds with the same options
    detail_type, fields = extra
    assert status == 200
    assert [c.to_detail() for c in source.sent] == [
        control.command_event(detail_type, "drill-2026-01", fields).to_detail()
    ]


def test_a_rejected_command_answers_its_reason(source: FakeSource, url: str) -> None:
    # GIVEN the control function refuses the command
    source.answer = control.Outcome(control.Sent.REJECTED, "execution is RUNNING, not paused")
    # WHEN it is posted
    status, answer = post(url + "/executions/drill-2026-01/commands", {"verb": "resume"}, AUTH)
    # THEN the answer says it was refused, with ControlRejected's reason
    assert (status, answer) == (200, {"ok": False, "sent": "REJECTED", "reason": "execution is RUNNING, not paused"})


@pytest.mark.parametrize(
    ("path", "body", "headers", "expected"),
    [
        ("drill-2026-01", {"verb": "explode"}, AUTH, (400, UNKNOWN_VERB)),
        ("drill-2026-01", {"verb": "approve"}, AUTH, (400, "invalid ApprovalGranted: Input should be a valid string")),
        ("drill-2026-01", {"verb": "retry", "waveId": "a", "allServers": 1}, AUTH, (400, NOT_A_FLAG)),
        ("drill-2026-01", b"[1]", AUTH, (400, "the body must be a JSON object")),
        ("drill-2026-01", b"{", AUTH, (400, "the body must be a JSON object")),
        ("drill-2026-01", {"verb": "pause"}, {}, (403, NO_TOKEN)),
        ("drill-2026-01", {"verb": "pause"}, {TOKEN_HEADER: "guess"}, (403, NO_TOKEN)),
        ("drill-2026-01", {"verb": "pause"}, EVIL, (403, "cross-origin command refused (Origin http://evil.example)")),
        ("nope-1", {"verb": "pause"}, AUTH, (404, "no execution nope-1 in the fake source")),
        ("recover-1", {"verb": "pause"}, AUTH, (428, UNCONFIRMED)),
        ("recover-1", {"verb": "pause", "confirm": "recover-2"}, AUTH, (428, UNCONFIRMED)),
    ],
)  # fmt: skip
def test_bad_commands_are_refused_and_send_nothing(
    source: FakeSource, url: str, path: str, body: object, headers: dict[str, str], expected: tuple[int, str]
) -> None:
    # WHEN a bad command is posted
    status, answer = post(url + f"/executions/{path}/commands", body, headers)
    # THEN its specific error, and nothing was sent
    assert (status, answer["reason"]) == expected
    assert answer["ok"] is False
    assert source.sent == []


def test_a_confirmed_recovery_command_is_sent(source: FakeSource, url: str) -> None:
    # WHEN a RECOVERY execution's command carries its execution id as confirmation
    status, _ = post(url + "/executions/recover-1/commands", {"verb": "pause", "confirm": "recover-1"}, AUTH)
    # THEN it is sent
    assert status == 200
    assert [c.DETAIL_TYPE for c in source.sent] == ["PausePlan"]


def test_the_stream_pushes_the_fragments_that_changed(source: FakeSource, url: str) -> None:
    # GIVEN a page's stream, read as a browser's EventSource reads it
    with urllib.request.urlopen(url + "/executions/recover-1/stream", timeout=10) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = _event(stream)
        # WHEN a wave changes in the ledger
        waves = [dict(w) for w in source.reports["recover-1"]["waves"]]
        waves[2]["status"] = "LAUNCHING"
        source.change("recover-1", waves=waves)
        second = _event(stream)
    # THEN the first event holds every fragment; the next only those that changed, with the new status
    assert sorted(first) == ["events", "graph", "summary", "timeline", "waves"]
    assert {"waves", "graph", "timeline"} <= set(second)
    assert "summary" not in second
    assert 'data-wave-id="web" data-status="LAUNCHING"' in second["graph"]


def _event(stream: Any) -> dict[str, str]:
    """The next `fragments` event of a server-sent event stream (comments skipped)."""
    kind, data = None, None
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and kind == "fragments" and data is not None:
            parsed: dict[str, str] = json.loads(data)
            return parsed


def test_rows_and_moments() -> None:
    # GIVEN two ended executions and a running one, and a report's wave
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    items = [
        {"executionId": "a", "planId": "p", "mode": "DRILL", "status": "COMPLETED", "startedAt": "2026-01-01T10:00:00Z",
         "endedAt": "2026-01-01T10:05:00Z"},
        {"executionId": "b", "planId": "p", "planName": "Plan P", "mode": "DRILL", "status": "RUNNING",
         "startedAt": "2026-01-01T11:00:00Z"},
        {"executionId": "c", "planId": "p", "mode": "RECOVERY", "status": "FAILED", "startedAt": "2026-01-01T11:30:00Z",
         "endedAt": "2026-01-01T11:31:00Z"},
    ]  # fmt: skip
    # WHEN ordered
    rows = execution_rows(items, now)
    # THEN running first, then newest first; durations until the end, or until now
    assert [(r.execution_id, r.plan, r.duration_seconds) for r in rows] == [
        ("b", "Plan P", 3600.0),
        ("c", "p", 60.0),
        ("a", "p", 300.0),
    ]
    wave = {"waveId": "w", "readyAt": "T2", "preLaunchAt": "T3", "approval": {"requestedAt": "T1"}}
    assert moments({"waves": [wave]}) == [
        {"time": "T1", "waveId": "w", "what": "approval requested"},
        {"time": "T2", "waveId": "w", "what": "ready"},
        {"time": "T3", "waveId": "w", "what": "preLaunch"},
    ]
