"""The dashboard's routes (drs_orch/ui/app.py) served by the real server (uvicorn on a free port of 127.0.0.1) over an
in-memory source: what the pages show, the event stream, the commands (and every bad input: unknown execution,
bad verb, no session cookie, another origin, an unconfirmed RECOVERY command, a body too large, too deep or not
JSON, a ledger that cannot be read), the login (the secret only in the printed URL, then an HttpOnly cookie), and
that untrusted text stays text.

No httpx in the lock: requests go through the standard library's urllib, as a browser's would over HTTP."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from drs_orch import control
from drs_orch.ui.app import MAX_COMMAND_BYTES, cookie_name, json_depth
from drs_orch.ui.feed import ExecutionRow, SourceUnavailable, execution_rows, moments
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
        self.failure: str | None = None  # set: every read raises SourceUnavailable with it
        self.version = 0
        self._changed = threading.Condition()
        self._closed = False

    def executions(self) -> list[ExecutionRow]:
        if self.failure:
            raise SourceUnavailable(self.failure)
        return execution_rows(self.reports.values(), datetime(2026, 1, 1, 12, tzinfo=UTC))

    def report(self, execution_id: str) -> dict[str, Any] | None:
        if self.failure:
            raise SourceUnavailable(self.failure)
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


SESSION: dict[str, str] = {}  # the Cookie header of the test's dashboard (its name holds the port)


@pytest.fixture
def url(source: FakeSource) -> Iterator[str]:
    with Dashboard(source, token=TOKEN) as dashboard:
        SESSION["Cookie"] = f"{cookie_name(dashboard.port)}={TOKEN}"
        yield dashboard.url.rstrip("/")
    SESSION.clear()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    """GET `url` logged in (the session cookie) unless `headers` name their own Cookie; redirects not followed."""
    request = urllib.request.Request(url, headers={**SESSION, **(headers or {})})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **SESSION, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


AUTH: dict[str, str] = {}  # the session cookie is sent by default
NO_DENY_REASON = "a deny must give its reason (the comment or reason field): the audit record keeps it"
LOGGED_OUT = {"Cookie": "drs-orch-1=guess"}
NOT_LOGGED_IN = "not logged in: open the URL drs-orch printed in its terminal (it carries the login token)"
NOT_JSON = "the body must be a JSON object: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
TOO_LARGE = f"a command is at most {MAX_COMMAND_BYTES} bytes (Content-Length {MAX_COMMAND_BYTES + 1})"
DEEP = "the body nests deeper than 2 levels: a command is one flat JSON object"
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
    assert TOKEN not in page  # the secret is never in a page


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
        ({"verb": "deny", "waveId": "app", "text": "no"}, ("ApprovalDenied", {"waveId": "app", "reason": "no"})),
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
        ("drill-2026-01", {"verb": "deny", "waveId": "app"}, AUTH, (400, NO_DENY_REASON)),
        ("drill-2026-01", {"verb": "deny", "waveId": "app", "text": "  "}, AUTH, (400, NO_DENY_REASON)),
        ("drill-2026-01", b"[1]", AUTH, (400, "the body must be a JSON object")),
        ("drill-2026-01", b"{", AUTH, (400, NOT_JSON)),
        ("drill-2026-01", b"\xff{}", AUTH, (400, "the body must be a JSON object in UTF-8")),
        ("drill-2026-01", b"[" * 10_000, AUTH, (400, DEEP)),
        ("drill-2026-01", b'{"verb": "pause", "text": {"a": [1]}}', AUTH, (400, DEEP)),
        ("drill-2026-01", b"x" * (MAX_COMMAND_BYTES + 1), AUTH, (413, TOO_LARGE)),
        ("drill-2026-01", {"verb": "pause"}, {"Cookie": ""}, (403, NOT_LOGGED_IN)),
        ("drill-2026-01", {"verb": "pause"}, LOGGED_OUT, (403, NOT_LOGGED_IN)),
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
    request = urllib.request.Request(url + "/executions/recover-1/stream", headers=SESSION)
    with urllib.request.urlopen(request, timeout=10) as stream:
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


def _event(stream: Any, wanted: str = "fragments") -> dict[str, str]:
    """The next `wanted` event of a server-sent event stream (comments and other events skipped)."""
    kind, data = None, None
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and kind == wanted and data is not None:
            parsed: dict[str, str] = json.loads(data)
            return parsed


def test_the_printed_url_logs_the_browser_in_with_an_http_only_cookie_and_drops_the_secret(url: str) -> None:
    # GIVEN a browser without the session cookie
    logged_out = {"Cookie": ""}
    # WHEN it opens a page, a stream, or the login URL with a wrong token
    page = get(url + "/executions/drill-2026-01", logged_out)
    stream = get(url + "/stream", logged_out)
    wrong = get(url + "/?token=guess", logged_out)
    # THEN each is refused, saying to open the printed URL, and shows nothing of the executions
    for status, body, _ in (page, stream):
        assert (status, body) == (403, NOT_LOGGED_IN)
    assert wrong[:2] == (403, "wrong login token: open the URL drs-orch printed in its terminal")
    # WHEN it opens the printed URL (the secret in its query)
    status, _, headers = get(url + f"/executions/drill-2026-01?token={TOKEN}", logged_out)
    # THEN a 303 to the same page without the secret, setting the session cookie: HttpOnly (no script reads it),
    # SameSite=Strict (no other site's request carries it), for every path; its name holds the port
    assert status == 303
    assert headers["location"] == "/executions/drill-2026-01"
    cookie = headers["set-cookie"]
    port = url.rsplit(":", 1)[1]
    assert cookie.startswith(f"drs-orch-{port}={TOKEN};")
    assert {"HttpOnly", "Path=/", "SameSite=strict"} <= {part.strip() for part in cookie.split(";")}
    # AND with the cookie the page is served, without the secret in it
    status, body, _ = get(url + "/executions/drill-2026-01", {"Cookie": cookie.split(";")[0]})
    assert status == 200
    assert TOKEN not in body
    # AND the static files (no data, no secret) need no login
    assert get(url + "/static/dashboard.js", logged_out)[0] == 200
    assert TOKEN not in get(url + "/static/dashboard.js", logged_out)[1]


def _raw_post(url: str, head: str, body: bytes) -> bytes:
    """Send a POST's `head` (request line and headers) and `body` over a socket, never ending the body; the status
    line and headers of the answer (a server that waits for the whole body answers nothing: the read times out)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + f"Host: {host}:{port}\r\nCookie: {SESSION['Cookie']}\r\n\r\n".encode())
        connection.sendall(body)
        return connection.recv(4096)


def test_a_body_too_large_is_refused_without_reading_it_whole(source: FakeSource, url: str) -> None:
    # GIVEN a command whose Content-Length says a terabyte, and a chunked one that passes the limit and never ends
    huge = "POST /executions/drill-2026-01/commands HTTP/1.1\r\nContent-Length: 1000000000000\r\n"
    chunked = "POST /executions/drill-2026-01/commands HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    chunk = b"1000\r\n" + b"x" * 0x1000 + b"\r\n"
    # WHEN each is sent (neither body is ever complete)
    answers = [_raw_post(url, huge, b"{"), _raw_post(url, chunked, chunk * (MAX_COMMAND_BYTES // 0x1000 + 1))]
    # THEN each is answered 413 at once: the server stopped reading at the limit; nothing was sent
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert source.sent == []


def test_a_small_chunked_command_is_read(source: FakeSource, url: str) -> None:
    # GIVEN a command sent chunked (no Content-Length), complete
    body = json.dumps({"verb": "pause"}).encode()
    chunked = "POST /executions/drill-2026-01/commands HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    # WHEN it is sent
    answer = _raw_post(url, chunked, f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    # THEN it is applied
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert [c.DETAIL_TYPE for c in source.sent] == ["PausePlan"]


def test_json_depth_counts_brackets_outside_strings() -> None:
    assert json_depth('{"verb": "pause"}') == 1
    assert json_depth('{"text": "[[[{{{\\"]]"}') == 1
    assert json_depth('{"a": [{"b": 1}]}') == 3
    assert json_depth("[" * 5000) == 5000


READ_FAILURE = "listing the executions of the ledger table t: AccessDeniedException: not authorized to Query"


def test_a_ledger_that_cannot_be_read_answers_502_with_the_reason(source: FakeSource, url: str) -> None:
    # GIVEN the ledger refuses the reads (DynamoDB AccessDenied, throttling)
    source.failure = READ_FAILURE
    # WHEN the list, a page, a stream and a command ask for it
    pages = [get(url + path) for path in ("/", "/executions/drill-2026-01", "/executions/drill-2026-01/stream")]
    command = post(url + "/executions/drill-2026-01/commands", {"verb": "pause"})
    # THEN 502 with the reason (no stack trace), and nothing was sent
    for status, body, _ in pages:
        assert (status, body) == (502, f"the dashboard could not read the ledger: {READ_FAILURE}")
    assert command == (
        502,
        {"ok": False, "sent": None, "reason": f"the dashboard could not read the ledger: {READ_FAILURE}"},
    )
    assert source.sent == []


def test_a_stream_says_when_the_ledger_cannot_be_read_and_goes_on(source: FakeSource, url: str) -> None:
    # GIVEN an open list stream
    request = urllib.request.Request(url + "/stream", headers=SESSION)
    with urllib.request.urlopen(request, timeout=10) as stream:
        _event(stream)
        # WHEN the ledger starts refusing reads, then answers again
        source.failure = READ_FAILURE
        source.change("drill-2026-01", status="FAILED")
        refused = _event(stream, "unavailable")
        source.failure = None
        source.change("drill-2026-01", status="CANCELLED")
        again = _event(stream)
    # THEN the stream says why (the page shows it), and then resumes pushing fragments
    assert refused == {"reason": READ_FAILURE}
    assert "CANCELLED" in again["executions"]


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


def test_pages_watching_one_execution_share_one_rendering_per_change(
    source: FakeSource, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN three pages watching one execution, each having got its first event; its renderings counted
    from drs_orch.ui import views

    rendered: list[str] = []
    fragments = views.execution_fragments

    def counted(report: dict[str, Any], row: ExecutionRow) -> dict[str, str]:
        rendered.append(str(report.get("status")))
        return fragments(report, row)

    monkeypatch.setattr(views, "execution_fragments", counted)
    request = urllib.request.Request(url + "/executions/recover-1/stream", headers=SESSION)
    with (
        urllib.request.urlopen(request, timeout=10) as first,
        urllib.request.urlopen(request, timeout=10) as second,
        urllib.request.urlopen(request, timeout=10) as third,
    ):
        streams = (first, second, third)
        for stream in streams:
            _event(stream)
        # WHEN the execution changes once
        source.change("recover-1", status="PAUSED")
        changed = [_event(stream) for stream in streams]
    # THEN each page got the change, from one rendering for all (and one for their first event)
    assert all('data-status="PAUSED"' in event["summary"] for event in changed)
    assert rendered == ["RUNNING", "PAUSED"]
