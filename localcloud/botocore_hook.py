"""One process-wide botocore hook that serves some requests in-process (our simulators, Lambda).

botocore lets a `before-send.<service>[.<Operation>]` handler answer a request instead of the network.
Registered in `botocore.handlers.BUILTIN_HANDLERS` (and on boto3's default session, which registered
its built-ins before) it reaches every client made afterwards, the ones moto's Step Functions makes
included. A more specific event name runs before moto's generic `before-send` stubber.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import botocore.handlers


class Handles(Protocol):
    def handle(self, request: Any, **kwargs: Any) -> Any: ...


class GlobalHook:
    """Dispatches the events `names` to the currently installed server (swappable, or none)."""

    def __init__(self, names: Sequence[str], unique_id: str) -> None:
        self._names = list(names)
        self._unique_id = unique_id
        self.current: Handles | None = None

    def _handler(self, request: Any, **kwargs: Any) -> Any:
        server = self.current
        return None if server is None else server.handle(request, **kwargs)

    def install(self, server: Handles) -> None:
        """Serve the events by `server` from now on; installing again swaps the server."""
        self.current = server
        for name in self._names:
            entry = (name, self._handler)
            if entry not in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.append(entry)
            for session in _existing_sessions():
                session.register(name, self._handler, unique_id=f"{self._unique_id}-{name}")

    def uninstall(self) -> None:
        """Stop serving: later requests go to moto or the network again."""
        self.current = None
        for name in self._names:
            entry = (name, self._handler)
            while entry in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.remove(entry)
            for session in _existing_sessions():
                session.unregister(name, self._handler, unique_id=f"{self._unique_id}-{name}")


def _existing_sessions() -> list[Any]:
    """boto3's default session registered its built-in handlers when it was created: patch it too."""
    import boto3

    session = boto3.DEFAULT_SESSION
    return [session._session] if session is not None else []
