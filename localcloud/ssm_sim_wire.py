"""HTTP plumbing of the SSM Run Command simulator: per-operation botocore hooks and JSON 1.1 errors.

SSM speaks JSON 1.1 (``POST /`` with ``X-Amz-Target: AmazonSSM.<Operation>``). moto serves most of
SSM (parameters, ...), so the simulator hooks only the Run Command operations, one botocore event per
operation (``before-send.ssm.SendCommand``, ...). botocore calls the most specific handlers first, so
these answer before moto's generic ``before-send`` stubber; every other SSM call still reaches moto.

The response helpers are the DRS simulator's (:mod:`localcloud.drs_sim_wire`); a JSON 1.1 error only
differs by carrying its code in the body's ``__type`` member.
"""

from __future__ import annotations

from typing import Any, Protocol

import botocore.handlers
from botocore.awsrequest import AWSResponse

from localcloud.drs_sim_wire import DrsError, _existing_sessions, error_response, json_response

__all__ = [
    "OPERATIONS",
    "SsmError",
    "current_simulator",
    "error_response",
    "event_names",
    "install_globally",
    "json_response",
    "uninstall_globally",
]

OPERATIONS = (
    "SendCommand",
    "GetCommandInvocation",
    "ListCommandInvocations",
    "ListCommands",
    "CancelCommand",
    "DescribeInstanceInformation",
    "DescribeDocument",
    "GetDocument",
)
_UNIQUE_ID = "localcloud-ssm-simulator"


def event_names() -> list[str]:
    return [f"before-send.ssm.{operation}" for operation in OPERATIONS]


class SsmError(DrsError):
    """A JSON 1.1 SSM error (``{"__type": code, "message": ...}``), rendered by the shared ``error_response``.

    It reuses :class:`DrsError`'s shape (code, message, headers, fields, status) without its list of
    DRS codes: SSM answers every client error with HTTP 400.
    """

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        Exception.__init__(self, f"{code}: {message}")  # DrsError.__init__ only knows DRS codes
        self.code = code
        self.message = message
        self.headers = {}
        self.fields = {"__type": code}
        self._status = status

    @property
    def status(self) -> int:
        return self._status


class _Handles(Protocol):
    def handle(self, request: Any, **kwargs: Any) -> AWSResponse | None: ...


_current: _Handles | None = None


def _global_handler(request: Any, **kwargs: Any) -> AWSResponse | None:
    simulator = _current
    if simulator is None:
        return None
    return simulator.handle(request, **kwargs)


def install_globally(simulator: _Handles) -> None:
    """Serve the Run Command operations of every boto3 ``ssm`` client created from now on (and of
    boto3's default session) by ``simulator``; other SSM operations are untouched.

    Calling it again swaps the simulator; clients already made keep dispatching to the current one.
    """
    global _current  # noqa: PLW0603 - the one process-wide hook botocore offers
    _current = simulator
    for name in event_names():
        entry = (name, _global_handler)
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)
        for session in _existing_sessions():
            session.register(name, _global_handler, unique_id=f"{_UNIQUE_ID}-{name}")


def uninstall_globally() -> None:
    """Stop serving Run Command globally: later clients talk to moto or the network again."""
    global _current  # noqa: PLW0603
    _current = None
    for name in event_names():
        entry = (name, _global_handler)
        while entry in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        for session in _existing_sessions():
            session.unregister(name, _global_handler, unique_id=f"{_UNIQUE_ID}-{name}")


def current_simulator() -> _Handles | None:
    return _current
