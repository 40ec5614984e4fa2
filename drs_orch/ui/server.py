"""The dashboard's server: uvicorn on a thread, on 127.0.0.1 only, so the caller's thread stays free (a local run
keeps running the local cloud on it).

The socket is bound and listening before `Dashboard` returns its URL: a browser may connect at once (the kernel
queues the connection until uvicorn accepts it), so nothing waits for the server to "be up".
"""

from __future__ import annotations

import secrets
import socket
import threading
from types import TracebackType
from urllib.parse import quote

import uvicorn

from drs_orch.ui.app import TOKEN_PARAMETER, cookie_name, create_app
from drs_orch.ui.feed import Source

HOST = "127.0.0.1"  # never another interface: the dashboard sends operator commands as the user who started it
STOP_SECONDS = 10.0


def reserve(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:`port` (0: a free one) and listening, for a `Dashboard` made later: a run binds
    its dashboard's port before it starts anything. OSError when the port is taken or not allowed."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((HOST, port))
        listening.listen(64)
    except OSError:
        listening.close()
        raise
    return listening


class Dashboard:
    """Serve `source` on 127.0.0.1:`port` (0: a free port the system chooses) while the `with` block runs; `url` is
    where it listens, `login_url()` the URL to print (it carries the secret, made here: never in argv or the
    environment). The port is bound here, before `with` (or was by `reserve`, `listening`): OSError when it is
    taken, and nothing was started."""

    def __init__(
        self, source: Source, *, port: int = 0, token: str | None = None, listening: socket.socket | None = None
    ) -> None:
        self.source = source
        self._token = token or secrets.token_urlsafe(32)
        self._socket = listening if listening is not None else reserve(port)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            create_app(source, token=self._token, cookie=cookie_name(self.port)),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="drs-orch-ui", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def login_url(self, path: str = "") -> str:
        """The URL of `path` (relative to `url`) that logs a browser in (app.py's login): print it to the terminal
        only."""
        return f"{self.url}{path}?{TOKEN_PARAMETER}={quote(self._token, safe='')}"

    def __enter__(self) -> Dashboard:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the streams (the source closes), stop the server, and close the socket."""
        self.source.close()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS)
        self._socket.close()
