"""The control socket of a local `drs-orch run`: operator commands while the local cloud runs.

`drs-orch run` listens on a Unix domain socket (`socket_path(execution_id)`: in `$DRS_ORCH_SOCKET_DIR`,
`$XDG_RUNTIME_DIR` or `/tmp`), one JSON object per line each way. A listener thread only *enqueues*
requests; the cloud's own loop serves them between its steps (`ControlServer.serve_pending`, called from
`LocalCloud.run_until`'s `on_progress`), so nothing is ever published concurrently with the loop.

Requests: `{"op": "command", "detailType": "ApprovalGranted", "detail": {...}, "as": CALLER}` sends the
command through the operator endpoint as the local caller CALLER (`localcloud.operators.local_caller`: an
ARN, or a session name of the local role), delivers what it published, and answers `{"ok": true}` or, when
the operator endpoint or the control function refused it, `{"ok": false, "reason": ...}`;
`{"op": "status"}` answers the execution's and waves' statuses; `{"op": "inspect"}` replays the bus archive
into an inspector rule and compares the execution rebuilt from events with the ledger
(`orchestrator.reporting.inspect`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import socket
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from localcloud.cloud import ARCHIVE_NAME, BUS_NAME, LocalCloud
from localcloud.operators import local_caller
from localcloud.runner import RunResult, finish_drill_cleanup, stopped, wait

COMMANDS = frozenset(
    {"ApprovalGranted", "ApprovalDenied", "CancelPlan", "PausePlan", "ResumePlan", "RetryWave", "SkipWave"}
)
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux (104 on macOS)
REPLY_TIMEOUT = 120.0


class ControlUnavailable(RuntimeError):
    """No local run serves this execution (no socket, or nobody listening)."""


def socket_path(execution_id: str) -> Path:
    base = os.environ.get("DRS_ORCH_SOCKET_DIR") or os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"drs-orch-{execution_id}.sock"
    if len(str(path)) > MAX_SOCKET_PATH:
        digest = hashlib.sha256(execution_id.encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"drs-orch-{digest}.sock"
    return path


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class ControlServer:
    """Accepts connections on a thread; requests wait in a queue until the loop thread serves them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._requests: queue.Queue[tuple[dict[str, Any], queue.Queue[dict[str, Any]]]] = queue.Queue()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        os.chmod(self.path, 0o600)  # only this user may operate the run
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="drs-orch-control", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        while not self._requests.empty():  # nobody will serve these any more
            _, reply = self._requests.get_nowait()
            reply.put({"ok": False, "reason": "the run has ended"})

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._converse, args=(conn,), daemon=True).start()

    def _converse(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream:
            try:
                request = json.loads(stream.readline() or b"null")
            except ValueError as exc:
                request = f"not JSON: {exc}"
            if not isinstance(request, dict):
                answer: dict[str, Any] = {
                    "ok": False,
                    "reason": f"bad request ({request}): send one JSON object on one line",
                }
            else:
                reply: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1)
                self._requests.put((request, reply))
                try:
                    answer = reply.get(timeout=REPLY_TIMEOUT)
                except queue.Empty:
                    answer = {"ok": False, "reason": "the run did not answer in time"}
            stream.write(json.dumps(answer).encode() + b"\n")
            stream.flush()

    def serve_pending(self, handle: Handler) -> int:
        """Serve every queued request on the calling (loop) thread. Returns how many were served."""
        served = 0
        while True:
            try:
                request, reply = self._requests.get_nowait()
            except queue.Empty:
                return served
            try:
                answer = handle(request)
            except Exception as exc:  # the client gets the reason, the run goes on
                answer = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
            reply.put(answer)
            served += 1


class Session:
    """What the control socket of one execution does, on the cloud's loop thread."""

    def __init__(self, cloud: LocalCloud, execution_id: str) -> None:
        self.cloud = cloud
        self.execution_id = execution_id

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "command":
            caller = request.get("as")
            return self._command(
                str(request.get("detailType")),
                dict(request.get("detail") or {}),
                local_caller(caller if isinstance(caller, str) and caller else None),
            )
        if op == "status":
            return self.status()
        if op == "inspect":
            return self.inspect(_moment(request.get("from")), _moment(request.get("to")))
        return {"ok": False, "reason": f"unknown op {op!r}"}

    def _command(self, detail_type: str, detail: dict[str, Any], caller: str) -> dict[str, Any]:
        if detail_type not in COMMANDS:
            return {"ok": False, "reason": f"{detail_type} is not a control command"}
        detail["executionId"] = self.execution_id
        seen = len(self.cloud.events)
        reply = self.cloud.operate(detail_type, detail, caller=caller)
        if not reply.accepted:
            return {"ok": False, "rejected": True, "reason": reply.error}
        self.cloud.drain()  # the control function has handled it once this returns
        for event in self.cloud.events[seen:]:
            if (
                event.detail_type == "ControlRejected"
                and event.detail.get("command") == detail_type
                and event.detail.get("executionId") == self.execution_id
                and event.detail.get("requestedBy") == caller
            ):
                return {"ok": False, "rejected": True, "reason": event.detail.get("reason")}
        if detail_type == "CancelPlan":  # what the cancel asked DRS to terminate by now (the CLI reports it)
            from orchestrator.reporting.report import terminations

            assert self.cloud.ledger is not None
            cancel = [t for t in terminations(self.cloud.ledger, self.execution_id) if t["reason"] == "CANCEL"]
            return {"ok": True, **self.status(), "terminations": cancel}
        return {"ok": True, **self.status()}

    def status(self) -> dict[str, Any]:
        assert self.cloud.ledger is not None
        ledger = self.cloud.ledger
        execution = ledger.get_execution(self.execution_id)
        waves = ledger.list_waves(self.execution_id) if execution else []
        return {
            "ok": True,
            "executionId": self.execution_id,
            "status": execution["status"] if execution else None,
            "waves": {w["waveId"]: w["status"] for w in waves},
        }

    def inspect(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        from orchestrator.reporting.inspect import inspect_events, replay_archive

        assert self.cloud.runtime is not None
        now = datetime.now(UTC)  # the archive holds wall-clock times, not the simulated clock's
        events = replay_archive(
            self.cloud.events_client,
            self.cloud.sqs,
            bus_name=BUS_NAME,
            archive_name=ARCHIVE_NAME,
            start=start or now - timedelta(days=1),
            end=end or now + timedelta(minutes=1),
            execution_id=self.execution_id,
            quiet_seconds=0.0,
            sleep=lambda _: None,
        )
        return {"ok": True, **inspect_events(events, self.cloud.ledger, self.execution_id)}


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def send(path: Path, request: dict[str, Any], *, timeout: float = REPLY_TIMEOUT + 5) -> dict[str, Any]:
    """One request to a running `drs-orch run` and its answer."""
    if not path.exists():
        raise ControlUnavailable(f"no local run of this execution is listening ({path} does not exist)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise ControlUnavailable(f"no local run of this execution is listening on {path}") from exc
        with sock.makefile("rwb") as stream:
            stream.write(json.dumps(request).encode() + b"\n")
            stream.flush()
            line = stream.readline()
    if not line:
        raise ControlUnavailable("the run closed the connection without answering")
    answer = json.loads(line)
    return answer if isinstance(answer, dict) else {"ok": False, "reason": "malformed answer"}


def run_session(
    cloud: LocalCloud,
    execution_id: str,
    server: ControlServer,
    *,
    timeout: float = 300.0,
    linger: float = 0.0,
    on_progress: Callable[[], None] | None = None,
) -> RunResult:
    """Run the cloud until the execution ends, serving the control socket between steps; a drill with a
    time to live then runs on until its instances were terminated (`finish_drill_cleanup`); then keep
    serving the socket for `linger` real seconds (a RetryWave or SkipWave may take a failed plan on: the
    run goes on). Returns the runner's RunResult, never raises from the loop: a run that stalls, times
    out, is interrupted or meets an exception returns what the ledger holds with the `problem`."""
    import time

    session = Session(cloud, execution_id)
    served = [0]

    def progress() -> None:
        served[0] += server.serve_pending(session.handle)
        if on_progress is not None:
            on_progress()

    def run() -> RunResult:
        try:
            result = wait(cloud, execution_id, timeout=timeout, on_progress=progress)
        except (Exception, KeyboardInterrupt) as exc:  # the report is still written, with what is stuck
            return stopped(cloud, execution_id, exc, timeout=timeout)
        return finish_drill_cleanup(cloud, result, timeout=timeout, on_progress=progress)

    result = run()
    until = time.monotonic() + linger
    while result.problem is None and time.monotonic() < until:
        before = served[0]
        try:
            progress()
            reopened = not cloud.execution_finished(execution_id)
            if not reopened:
                time.sleep(0.05)
        except KeyboardInterrupt:  # Ctrl-C while lingering ends the lingering, not the run's record
            return result
        except Exception as exc:
            return stopped(cloud, execution_id, exc, timeout=timeout)
        if reopened or served[0] > before:  # a command may have reopened and ended the plan at once (a
            result = run()  # retry DRS refused): the result is what the ledger holds now
            until = time.monotonic() + linger
    return result
