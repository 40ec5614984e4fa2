"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`), standard library only.

`load(path)` opens a local HTML file in a fresh headless Chromium (Debian's `chromium` package) and returns what
the page did: every uncaught exception (`Runtime.exceptionThrown`), every `console.error`/`console.assert`
(`Runtime.consoleAPICalled`; a call of alert, confirm or prompt is one too), every error the browser logged for
the page (`Log.entryAdded` at level error: a resource that failed to load, a blocked request ...), every request
it made for something that is not the file itself (`Network.requestWillBeSent`), the document's text
(`document.body.innerText`), a PNG screenshot of the viewport (`width` x `height`) and, on request, the page
printed to PDF. Reading the protocol's events instead of Chromium's log lines is what makes "no console error" a
reliable check: a page that throws always yields an `exceptionThrown`.

The protocol on a pipe: Chromium reads commands from its file descriptor 3 and writes answers and events to its
file descriptor 4, each a JSON message ended by a NUL byte.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "chromium"
TIMEOUT = 60.0  # seconds for the whole load (a cold start of Chromium takes about 2 s here)


# argv: the read end of the command pipe, the write end of the answer pipe, then Chromium's command line. Both
# ends are first copied above 10, so that putting one on 3 or 4 cannot close the other.
_SHIM = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
for target, fd in zip((3, 4), ends):
    os.dup2(fd, target)
    os.close(fd)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class ChromiumError(RuntimeError):
    """Chromium could not be started, or did not answer in time."""


def executable() -> str | None:
    """The path of Debian's chromium, or None when it is not installed."""
    return shutil.which(CHROMIUM)


def in_ci() -> bool:
    """Whether the tests run in CI (`CI` set, as CI services and .ci/run set it, to anything but false or 0)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require() -> None:
    """Skip the calling test when Chromium is not installed, unless in CI: there, fail (`make browser` installs
    it, and `make test` depends on that)."""
    import pytest

    if executable() is not None:
        return
    if in_ci():
        pytest.fail(f"{CHROMIUM} is not installed: CI must have it (make browser installs Debian's package)")
    pytest.skip(f"{CHROMIUM} is not installed (make browser installs Debian's package)")


# Instrumentation added to every page before its own content runs: a dialog (alert, confirm, prompt: what an
# injected script would typically call) becomes a console error, instead of blocking the page.
_DIALOGS_ARE_ERRORS = """
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (message) => { console.error(`${name}() called: ${message}`); };
}
"""


@dataclass
class PageLoad:
    """What loading a page gave (see the module's docstring)."""

    url: str
    exceptions: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    text: str = ""
    screenshot: bytes = b""
    pdf: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Everything that counts as a console error: exceptions, console.error, errors the browser logged."""
        return [*self.exceptions, *self.console_errors, *self.log_errors]


class _Pipe:
    """One Chromium process and its protocol pipe."""

    def __init__(self, profile: str) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        command = [
            executable() or CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]

        # The protocol's fds 3 and 4 are set by a small Python shim that then execs Chromium: a preexec_fn is
        # unsafe with threads running (the local cloud's are).
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SHIM, str(to_chrome_r), str(from_chrome_w), *command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result (the events read meanwhile are kept in `events`)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ChromiumError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, deadline: float) -> dict[str, Any]:
        """Read until the event `method` arrives (or the deadline passes: ChromiumError)."""
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise ChromiumError(f"no {method} before the deadline")

    def _read(self, deadline: float | None = None) -> dict[str, Any]:
        import select

        deadline = deadline or time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise ChromiumError("Chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise ChromiumError(f"Chromium exited (code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def close(self) -> None:
        with contextlib.suppress(ChromiumError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def _describe(event: dict[str, Any]) -> str | None:
    """The error an event reports, or None when it reports none."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return str(details.get("exception", {}).get("description") or details.get("text"))
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
    if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        return f"{entry.get('source')}: {entry.get('text')} {entry.get('url') or ''}".strip()
    return None


def load(path: Path, *, width: int = 1280, height: int = 2000, pdf: bool = False) -> PageLoad:
    """Open `path` in headless Chromium, wait for its load event and a settled frame, and return what happened
    (see `PageLoad`). ChromiumError when Chromium is missing, fails, or does not finish in TIMEOUT seconds."""
    if executable() is None:
        raise ChromiumError(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    url = path.resolve().as_uri()
    deadline = time.monotonic() + TIMEOUT
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        chrome = _Pipe(profile)
        try:
            target = chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Network", "Page"):
                chrome.send(f"{domain}.enable", session=session)
            chrome.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session=session,
            )
            chrome.send("Page.addScriptToEvaluateOnNewDocument", {"source": _DIALOGS_ARE_ERRORS}, session=session)
            chrome.events.clear()
            chrome.send("Page.navigate", {"url": url}, session=session)
            chrome.wait_for("Page.loadEventFired", deadline)
            text = chrome.send(
                "Runtime.evaluate", {"expression": "document.body.innerText", "returnByValue": True}, session=session
            )["result"].get("value", "")
            shot = chrome.send(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, session=session
            )
            printed = (
                chrome.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, session=session)
                if pdf
                else {}
            )
            chrome.send("Runtime.evaluate", {"expression": "1", "returnByValue": True}, session=session)  # flush
            result = PageLoad(url=url, text=str(text))
            for event in chrome.events:
                _collect(result, event, url)
            result.screenshot = base64.b64decode(shot["data"])
            result.pdf = base64.b64decode(printed["data"]) if printed else b""
            return result
        finally:
            chrome.close()


def _collect(result: PageLoad, event: dict[str, Any], url: str) -> None:
    error = _describe(event)
    method = event.get("method")
    if error is not None:
        target = {
            "Runtime.exceptionThrown": result.exceptions,
            "Runtime.consoleAPICalled": result.console_errors,
        }.get(str(method), result.log_errors)
        target.append(error)
    if method == "Network.requestWillBeSent":
        requested = str(event["params"]["request"]["url"])
        if requested != url:
            result.requests.append(requested)


# ---- a page kept open: navigate to a URL, evaluate, click, wait for the DOM (the live dashboard's tests) ----------

# Resolves once `test()` holds, checked at once and then on every change of the DOM (a MutationObserver: the page
# tells when it changed, nothing is polled on a timer); false when `timeout_ms` passed first.
_WAIT_FOR = """
new Promise((resolve) => {
  const test = () => { try { return Boolean(%(expression)s); } catch (error) { return false; } };
  if (test()) { resolve(true); return; }
  const observer = new MutationObserver(() => { if (test()) { observer.disconnect(); resolve(true); } });
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  setTimeout(() => { observer.disconnect(); resolve(test()); }, %(timeout_ms)d);
})
"""


class Browser:
    """One headless Chromium with one page, open until `close()` (or the `with` block ends): `navigate(url)`,
    `evaluate(js)`, `click(selector)`, `wait_for(js, timeout)`, `screenshot()`; `errors` lists every console error,
    exception and error the browser logged since it started (as `PageLoad.errors` does for `load`)."""

    def __init__(self, *, width: int = 1280, height: int = 1600) -> None:
        if executable() is None:
            raise ChromiumError(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        self._chrome = _Pipe(self._profile.name)
        try:
            target = self._chrome.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._chrome.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Runtime", "Log", "Network", "Page"):
                self._send(f"{domain}.enable")
            self._send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            self._send("Page.addScriptToEvaluateOnNewDocument", {"source": _DIALOGS_ARE_ERRORS})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._chrome.send(method, params, session=self._session)

    def navigate(self, url: str, *, timeout: float = TIMEOUT) -> None:
        """Open `url` and wait for its load event (ChromiumError when it does not come within `timeout` s)."""
        seen = len(self._chrome.events)
        self._send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self._chrome.events[seen:]):
            if time.monotonic() >= deadline:
                raise ChromiumError(f"{url}: no load event within {timeout} s")
            self._chrome.events.append(self._chrome._read(deadline))

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The value of the JavaScript `expression` in the page (JSON-able values); ChromiumError when it throws."""
        answer = self._send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": await_promise}
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise ChromiumError(f"{expression[:200]}: {details.get('exception', {}).get('description') or details}")
        return answer["result"].get("value")

    def click(self, selector: str) -> None:
        """Click the first element matching the CSS `selector` (ChromiumError when there is none)."""
        if not self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                             "if (!e) return false; e.click(); return true; })()"):  # fmt: skip
            raise ChromiumError(f"nothing matches {selector}")

    def wait_for(self, expression: str, *, timeout: float = 30.0) -> None:
        """Wait until the JavaScript `expression` is true in the page, checked on every change of its DOM;
        ChromiumError (with the page's text) when it is still false after `timeout` seconds."""
        if timeout >= TIMEOUT:
            raise ValueError(f"timeout must be under {TIMEOUT} s (the protocol's own deadline)")
        script = _WAIT_FOR % {"expression": expression, "timeout_ms": int(timeout * 1000)}
        if not self.evaluate(script, await_promise=True):
            text = self.evaluate("document.body.innerText")
            raise ChromiumError(f"still false after {timeout} s: {expression}\n--- the page ---\n{str(text)[:3000]}")

    def screenshot(self) -> bytes:
        """A PNG of the whole page (beyond the viewport)."""
        shot = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return base64.b64decode(shot["data"])

    @property
    def errors(self) -> list[str]:
        """Every exception, console error and error the browser logged so far."""
        self.evaluate("1")  # read what Chromium sent before now
        return [error for event in self._chrome.events if (error := _describe(event)) is not None]

    def close(self) -> None:
        self._chrome.close()
        self._profile.cleanup()
