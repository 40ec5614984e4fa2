"""The dashboard's web application (Starlette): pages, their server-sent event streams, and the operator's commands.

Routes (every one only for the Host this server is bound to, 127.0.0.1 or localhost with its port: a page of
another site cannot reach it through DNS rebinding):

    GET  /                              the executions list (running first)
    GET  /stream                        its fragments, pushed as server-sent events whenever they change
    GET  /executions/{id}               one execution: graph, timeline, waves, events, the operator's panel
    GET  /executions/{id}/stream        its fragments, pushed as server-sent events
    POST /executions/{id}/commands      an operator command: JSON `{verb, waveId?, text?, allServers?,
                                        terminateDrillInstances?, confirm?}` with the page's token in the
                                        `X-DRS-Orch-Token` header
    GET  /static/...                    dashboard.js and dashboard.css (no build step)

A stream sends `event: fragments` with `data: {element id: HTML}` (only the fragments that changed), and a comment
line every KEEPALIVE_SECONDS so a dead connection is noticed. A command answers JSON `{ok, sent, reason}`: 200
when it was sent, `ok` true when applied, false with its ControlRejected reason when the control function (or the
operator endpoint) refused it; 400 for a bad verb or fields; 403 without the page's token or from another
origin; 404 for an unknown execution; 428 for a RECOVERY execution's command without its confirmation (the
execution id typed again); 503 when no run or operator URL answered.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from drs_orch import control
from drs_orch.ui import views
from drs_orch.ui.feed import Source
from orchestrator import reporting

STATIC = Path(__file__).resolve().parent / "static"
EVIDENCE_CSS = Path(reporting.__file__).resolve().parent / "templates" / "evidence.css"  # the evidence report's style
KEEPALIVE_SECONDS = 15.0
MAX_COMMAND_BYTES = 16_384
TOKEN_HEADER = "X-DRS-Orch-Token"  # noqa: S105 - the header's name, not a secret
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
DEFAULTS: dict[str, dict[str, Any]] = {  # what the CLI sends when an option is left out
    "deny": {"reason": control.DENY_REASON},
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
    CommandError 400 for an unknown verb or a field of the wrong type."""
    if verb not in control.VERBS:
        raise CommandError(400, f"unknown verb {verb[:50]!r}: one of {', '.join(control.VERBS)}")
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise CommandError(400, "text must be a string")
    extra: dict[str, Any] = dict(DEFAULTS.get(verb, {}))
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


def _check_origin(request: Request, token: str) -> None:
    """CommandError 403 unless the request carries the page's token and, when it names one, comes from this
    origin (a browser names the page's origin on every POST)."""
    given = request.headers.get(TOKEN_HEADER, "")
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise CommandError(403, f"missing or wrong {TOKEN_HEADER}: send commands from the dashboard's own page")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"http://{request.headers.get('host')}":
        raise CommandError(403, f"cross-origin command refused (Origin {origin[:100]})")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_COMMAND_BYTES:
        raise CommandError(413, f"a command is at most {MAX_COMMAND_BYTES} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise CommandError(400, "the body must be a JSON object") from None
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


async def _stream(source: Source, render: Callable[[], dict[str, str] | None]) -> AsyncIterator[str]:
    """Server-sent events: the fragments that changed, each time the source may have changed."""
    version, last = -1, dict[str, str]()
    while not source.closed:
        version = await anyio.to_thread.run_sync(source.wait, version, KEEPALIVE_SECONDS)
        fragments = await anyio.to_thread.run_sync(render)
        if fragments is None:
            return
        changed = {key: html for key, html in fragments.items() if last.get(key) != html}
        last = fragments
        yield f"event: fragments\ndata: {json.dumps(changed)}\n\n" if changed else ": keep-alive\n\n"


def _sse(events: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type="text/event-stream", headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    )


def create_app(source: Source, *, token: str | None = None) -> Starlette:
    """The dashboard of `source`, answering only requests for the hosts 127.0.0.1 and localhost; `token` (default:
    a new random one) is the page's secret every command must carry."""
    secret = token or secrets.token_urlsafe(32)

    async def evidence_css(_: Request) -> Response:
        return Response(EVIDENCE_CSS.read_text(encoding="utf-8"), media_type="text/css", headers=SECURITY_HEADERS)

    async def executions(_: Request) -> Response:
        page = await anyio.to_thread.run_sync(views.list_page, source, secret)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def executions_stream(_: Request) -> Response:
        return _sse(_stream(source, lambda: views.list_fragments(source.executions())))

    async def execution(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        report = await anyio.to_thread.run_sync(source.report, execution_id)
        if report is None:
            return PlainTextResponse(_unknown(source, execution_id), 404, headers=SECURITY_HEADERS)
        page = await anyio.to_thread.run_sync(views.execution_page, source, report, secret)
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def execution_stream(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        if await anyio.to_thread.run_sync(source.report, execution_id) is None:
            return PlainTextResponse(_unknown(source, execution_id), 404, headers=SECURITY_HEADERS)

        def render() -> dict[str, str] | None:
            report = source.report(execution_id)
            return None if report is None else views.execution_fragments(report, views.row_of(report, source))

        return _sse(_stream(source, render))

    async def command(request: Request) -> Response:
        execution_id = request.path_params["execution_id"]
        try:
            _check_origin(request, secret)
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
        # Starlette compares the host without its port: a page of another site reaching this port through DNS
        # rebinding names its own host, and is refused
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])],
    )
