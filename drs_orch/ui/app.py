"""The dashboard's web application (Starlette): pages, their server-sent event streams, and the operator's commands.

Routes (every one only for the Host this server is bound to, 127.0.0.1 or localhost with its port: a page of
another site cannot reach it through DNS rebinding):

    GET  /                              the executions list (running first)
    GET  /stream                        its fragments, pushed as server-sent events whenever they change
    GET  /executions/{id}               one execution: graph, timeline, waves, events, the operator's panel
    GET  /executions/{id}/stream        its fragments, pushed as server-sent events
    POST /executions/{id}/commands      an operator command: JSON `{verb, waveId?, text?, allServers?,
                                        terminateDrillInstances?, confirm?}`, at most MAX_COMMAND_BYTES
    GET  /static/...                    dashboard.js and dashboard.css (no build step; the only routes open
                                        without the session cookie: they hold no secret and no data)

Login (as Jupyter's): the server's secret appears only in the URL it prints to its terminal (`?token=...`, never in
argv, the environment or a page). The first request carrying it gets an HttpOnly, SameSite=Strict, Path=/ session
cookie (`drs-orch-PORT`: cookies do not tell ports apart) and a 303 to the same URL without the token; every other
request needs that cookie (403 without it, saying to open the printed URL). A page never embeds the secret, so
another local user who reaches the port (or curls a page) learns nothing. A command also needs, when the request
names one, this server's Origin (SameSite=Strict already keeps the cookie off another site's requests).

A stream sends `event: fragments` with `data: {element id: HTML}` (only the fragments that changed), and a comment
line every KEEPALIVE_SECONDS so a dead connection is noticed. A command answers JSON `{ok, sent, reason}`: 200
when it was sent, `ok` true when applied, false with its ControlRejected reason when the control function (or the
operator endpoint) refused it; 400 for a bad verb or fields, a body that is not a JSON object or nests deeper than
MAX_JSON_DEPTH; 403 without the session cookie or from another origin; 404 for an unknown execution; 413 for a
body over MAX_COMMAND_BYTES (refused from its Content-Length, or once a chunked body passes the limit: never
read whole); 428 for a RECOVERY execution's command without its confirmation (the execution id typed again); 502
when the ledger could not be read (`SourceUnavailable`: AccessDenied, throttling; a page shows the reason, a stream
sends it as `event: unavailable`); 503 when no run or operator URL answered.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from drs_orch import control
from drs_orch.ui import views
from drs_orch.ui.feed import Source, SourceUnavailable
from orchestrator import reporting

STATIC = Path(__file__).resolve().parent / "static"
EVIDENCE_CSS = Path(reporting.__file__).resolve().parent / "templates" / "evidence.css"  # the evidence report's style
KEEPALIVE_SECONDS = 15.0
MAX_COMMAND_BYTES = 16_384  # a command is a handful of short fields; its text is at most 1,000 characters
MAX_JSON_DEPTH = 2  # a command is one object of scalars: deeper nesting is refused before it is parsed
TOKEN_PARAMETER = "token"  # noqa: S105 - the login URL's query parameter's name, not a secret
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEFAULTS: dict[str, dict[str, Any]] = {  # what the CLI sends when an option is left out (a deny has no default:
    # without its reason the contract refuses it, 400, nothing sent)
    "skip": {"reason": control.SKIP_REASON},
}


class CommandError(Exception):
    """A command refused before it was sent: its HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "sent": None, "reason": reason}, status_code=status)


def command_fields(verb: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the detail-type, its fields) of `verb` from the request's JSON `body`, as the CLI's options give them.
    CommandError 400 for an unknown verb, a field of the wrong type, or a deny without a reason (blank text)."""
    if verb not in control.VERBS:
        raise CommandError(400, f"unknown verb {verb[:50]!r}: one of {', '.join(control.VERBS)}")
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise CommandError(400, "text must be a string")
    extra: dict[str, Any] = dict(DEFAULTS.get(verb, {}))
    if verb == "deny" and not (text or "").strip():
        raise CommandError(400, "a deny must give its reason (the comment or reason field): the audit record keeps it")
    if verb in ("approve", "deny", "retry", "skip"):
        extra["waveId"] = body.get("waveId")
    if text:
        extra["comment" if verb == "approve" else "reason"] = text
    for flag, verbs in (("allServers", ("retry",)), ("terminateDrillInstances", ("cancel",))):
        value = body.get(flag, False)
        if not isinstance(value, bool):
            raise CommandError(400, f"{flag} must be true or false")
        if verb in verbs:
            extra[flag] = value
    if verb not in ("approve", "deny", "skip"):
        extra.pop("reason", None)
    return control.VERBS[verb], extra


def _check_origin(request: Request) -> None:
    """CommandError 403 when the request names an origin that is not this server's (a browser names the page's
    origin on every POST; the session cookie was already checked)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"http://{request.headers.get('host')}":
        raise CommandError(403, f"cross-origin command refused (Origin {origin[:100]})")


async def _read_bounded(request: Request) -> bytes:
    """The request's body, at most MAX_COMMAND_BYTES: CommandError 413 from its Content-Length when that says more,
    or as soon as a body without one (chunked) passes the limit, so a large body is never held in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_COMMAND_BYTES):
        raise CommandError(413, f"a command is at most {MAX_COMMAND_BYTES} bytes (Content-Length {declared[:20]})")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_COMMAND_BYTES:
            raise CommandError(413, f"a command is at most {MAX_COMMAND_BYTES} bytes")
    return bytes(raw)


def json_depth(raw: str) -> int:
    """How deep the arrays and objects of the JSON text `raw` nest (brackets inside strings do not count), counted
    without parsing it: json.loads recurses once per level and a 16 KB body of `[` raises RecursionError."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


async def _body(request: Request) -> dict[str, Any]:
    """The command's JSON object. CommandError 413 (too large), 400 (not UTF-8, not JSON, nested too deep, not an
    object), each saying which."""
    raw = await _read_bounded(request)
    try:
        text = raw.decode("utf-8") if raw else "{}"
    except UnicodeDecodeError:
        raise CommandError(400, "the body must be a JSON object in UTF-8") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise CommandError(
            400, f"the body nests deeper than {MAX_JSON_DEPTH} levels: a command is one flat JSON object"
        )
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise CommandError(400, f"the body must be a JSON object: {exc}") from None
    if not isinstance(body, dict):
        raise CommandError(400, "the body must be a JSON object")
    return body


def _send(source: Source, detail_type: str, execution_id: str, extra: dict[str, Any]) -> control.Outcome:
    try:
        command = control.command_event(detail_type, execution_id, extra)
    except control.CommandInvalid as exc:
        raise CommandError(400, f"invalid {detail_type}: {exc}") from None
    return source.send(command)


def _answer(outcome: control.Outcome) -> JSONResponse:
    # a refused command is an answer, not an HTTP failure: 200 with ok false and the reason (the page shows it)
    status = 503 if outcome.sent is control.Sent.UNAVAILABLE else 200
    return JSONResponse({"ok": outcome.applied, "sent": outcome.sent.value, "reason": outcome.reason}, status)


def _unknown(source: Source, execution_id: str) -> str:
    return f"no execution {execution_id[:200]} in the {source.description}"


class SharedRenders:
    """One rendering per (stream, version) shared by every page watching it: N pages of one execution cost one read
    and one rendering per change (a local run: per read of the loop; a deployed stack: per poll interval, the
    versions of `LedgerSource` being its poll windows), not N. A rendering that fails is not kept."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._kept: dict[str, tuple[int, dict[str, str] | None]] = {}
        self.renders = 0  # how many renderings were made (the tests count them)

    def get(self, key: str, version: int, render: Callable[[], dict[str, str] | None]) -> dict[str, str] | None:
        """`render()`'s answer for `key` at `version`: the kept one when a page already rendered it."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == version:
                return kept[1]
            fragments = render()
            self.renders += 1
            self._kept[key] = (version, fragments)
            return fragments


async def _stream(
    source: Source, renders: SharedRenders, key: str, render: Callable[[], dict[str, str] | None]
) -> AsyncIterator[str]:
    """Server-sent events: the fragments that changed, each time the source may have changed (rendered once per
    version for every page: `renders`); `event: unavailable` with the reason while the source cannot be read (the
    next change or poll tries again)."""
    version, last = -1, dict[str, str]()
    while not source.closed:
        version = await anyio.to_thread.run_sync(source.wait, version, KEEPALIVE_SECONDS)
        try:
            fragments = await anyio.to_thread.run_sync(renders.get, key, version, render)
        except SourceUnavailable as exc:
            yield f"event: unavailable\ndata: {json.dumps({'reason': exc.reason})}\n\n"
            continue
        if fragments is None:
            return
        changed = {element: html for element, html in fragments.items() if last.get(element) != html}
        last = fragments
        yield f"event: fragments\ndata: {json.dumps(changed)}\n\n" if changed else ": keep-alive\n\n"


def _sse(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream", headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    )


def cookie_name(port: int) -> str:
    """The session cookie of the dashboard on `port` (browsers share cookies between the ports of one host)."""
    return f"drs-orch-{port}"


def _refused(request: Request, reason: str) -> Response:
    """403 with `reason`: as a command's answer (JSON) to a POST, as text to a page or stream."""
    if request.method == "POST":
        return _error(403, reason)
    return PlainTextResponse(reason, 403)


class SessionGate:
    """ASGI middleware: the login of the module's docstring. `/static/` is open; a request with `?token=` is
    logged in (303 without it, the cookie set) or refused; every other request needs the session cookie."""

    def __init__(self, app: ASGIApp, *, secret: str, cookie: str) -> None:
        self.app, self.secret, self.cookie = app, secret, cookie

    def _matches(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.secret.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith("/static/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get(TOKEN_PARAMETER)
        response: Response | None = None
        if given is not None:
            if self._matches(given):
                clean = request.url.remove_query_params(TOKEN_PARAMETER)
                response = RedirectResponse(clean.path + (f"?{clean.query}" if clean.query else ""), 303)
                response.set_cookie(self.cookie, self.secret, path="/", httponly=True, samesite="strict")
            else:
                response = _refused(request, "wrong login token: open the URL drs-orch printed in its terminal")
        elif not self._matches(request.cookies.get(self.cookie)):
            response = _refused(
                request, "not logged in: open the URL drs-orch printed in its terminal (it carries the login token)"
            )
        if response is None:
            await self.app(scope, receive, send)
            return
        response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)


def _unavailable_page(exc: SourceUnavailable) -> Response:
    return PlainTextResponse(f"the dashboard could not read the ledger: {exc.reason}", 502, headers=SECURITY_HEADERS)


def create_app(source: Source, *, token: str | None = None, cookie: str = "drs-orch") -> Starlette:
    """The dashboard of `source`, answering only requests for the hosts 127.0.0.1 and localhost, logged in by
    `token` (default: a new random one; the login of the module's docstring) into the session cookie `cookie`."""
    secret = token or secrets.token_urlsafe(32)
    renders = SharedRenders()

    async def evidence_css(_: Request) -> Response:
        return Response(EVIDENCE_CSS.read_text(encoding="utf-8"), media_type="text/css", headers=SECURITY_HEADERS)

    async def executions(_: Request) -> Response:
        try:
            page = await anyio.to_thread.run_sync(views.list_page, source)
        except SourceUnavailable as exc:
            return _unavailable_page(exc)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def executions_stream(_: Request) -> Response:
        return _sse(_stream(source, renders, "list", lambda: views.list_fragments(source.executions())))

    async def execution(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            report = await anyio.to_thread.run_sync(source.report, execution_id)
            if report is None:
                return PlainTextResponse(_unknown(source, execution_id), 404, headers=SECURITY_HEADERS)
            page = await anyio.to_thread.run_sync(views.execution_page, source, report)
        except SourceUnavailable as exc:
            return _unavailable_page(exc)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def execution_stream(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            if await anyio.to_thread.run_sync(source.report, execution_id) is None:
                return PlainTextResponse(_unknown(source, execution_id), 404, headers=SECURITY_HEADERS)
        except SourceUnavailable as exc:
            return _unavailable_page(exc)

        def render() -> dict[str, str] | None:
            report = source.report(execution_id)
            return None if report is None else views.execution_fragments(report, views.row_of(report, source))

        return _sse(_stream(source, renders, f"execution {execution_id}", render))

    async def command(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            _check_origin(request)
            body = await _body(request)
            verb = body.get("verb")
            detail_type, extra = command_fields(verb if isinstance(verb, str) else repr(verb), body)
            report = await anyio.to_thread.run_sync(source.report, execution_id)
            if report is None:
                raise CommandError(404, _unknown(source, execution_id))
            if report.get("mode") == "RECOVERY" and body.get("confirm") != execution_id:
                raise CommandError(
                    428, f"{execution_id} is a RECOVERY (a real failover): confirm by typing its execution id"
                )
            outcome = await anyio.to_thread.run_sync(_send, source, detail_type, execution_id, extra)
        except CommandError as exc:
            return _error(exc.status, exc.reason)
        except SourceUnavailable as exc:
            return _error(502, f"the dashboard could not read the ledger: {exc.reason}")
        return _answer(outcome)

    return Starlette(
        routes=[
            Route("/", executions),
            Route("/stream", executions_stream),
            Route("/executions/{execution_id}", execution),
            Route("/executions/{execution_id}/stream", execution_stream),
            Route("/executions/{execution_id}/commands", command, methods=["POST"]),
            Route("/static/evidence.css", evidence_css),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[
            # Starlette compares the host without its port: a page of another site reaching this port through DNS
            # rebinding names its own host, and is refused
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
            Middleware(SessionGate, secret=secret, cookie=cookie),
        ],
    )
