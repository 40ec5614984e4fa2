"""`drs-orch ui` as a process (issue #17's dashboard, its login): the secret that logs a browser in appears only in
the URL printed to the terminal that started it, not in the process's arguments or environment (which any local
user reads from /proc, or `ps`), not in any page; without it (another local user curling the port) every page,
stream and command is refused."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"(http://127\.0\.0\.1:\d+/)\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`drs-orch ui --aws` on a free port, as a user starts it (no AWS is called until a page is read): the process,
    its base URL and the token of the URL it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    args = [sys.executable, "-m", "drs_orch", "ui", "--aws", "--table", "ledger", "--region", "us-east-1"]
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first line says where it serves (the socket is listening by then)
        found = URL.search(line)
        assert found, line
        yield process, found[1], found[2]
    finally:
        process.terminate()
        process.wait(30)


def test_the_secret_is_only_in_the_printed_url(served: tuple[subprocess.Popen[str], str, str]) -> None:
    process, url, token = served
    # WHEN another local user looks at the process (ps reads /proc/PID/cmdline; environ is the user's own)
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    # THEN the secret is in neither
    assert token.encode() not in cmdline
    assert token.encode() not in environ
    # WHEN they read the port without it: the list, a stream, a command
    refused = []
    for path, data in (("", None), ("stream", None), ("executions/e-1/commands", json.dumps({"verb": "pause"}))):
        request = urllib.request.Request(url + path, data=None if data is None else data.encode())
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)
        refused.append(answer.value.code)
    # THEN each is refused
    assert refused == [403, 403, 403]

    # AND the printed URL logs in: a 303 to the clean URL setting the HttpOnly cookie
    class _Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    with pytest.raises(urllib.error.HTTPError) as login:
        urllib.request.build_opener(_Stop).open(f"{url}?token={token}", timeout=10)
    assert login.value.code == 303
    assert login.value.headers["location"] == "/"
    assert "HttpOnly" in login.value.headers["set-cookie"]
