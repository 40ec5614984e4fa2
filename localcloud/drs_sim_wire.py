"""HTTP plumbing of the DRS simulator: botocore ``before-send`` hooks, responses and wire errors.

botocore emits ``before-send.drs.<Operation>`` just before it would send a prepared request; a handler
that returns an ``AWSResponse`` short-circuits the network. The response then goes through botocore's
own rest-json parser, so everything here must match the ``drs`` service model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

from localcloud.botocore_hook import GlobalHook, Handles

EVENT_NAME = "before-send.drs"
_UNIQUE_ID = "localcloud-drs-simulator"

# HTTP status of every error the simulator answers with (from the botocore drs model)
ERROR_STATUS = {
    "ThrottlingException": 429,
    "ValidationException": 400,
    "ConflictException": 409,
    "ServiceQuotaExceededException": 402,
    "ResourceNotFoundException": 404,
    "InternalServerException": 500,
    "UninitializedAccountException": 400,
    "AccessDeniedException": 403,
    # not in the drs model: AWS's answer to a request signed with an expired session (localcloud.account_router)
    "ExpiredTokenException": 403,
}


class DrsError(Exception):
    """A modeled DRS error; ``fields`` are extra body members, ``headers`` extra response headers."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(f"{code}: {message}")
        if code not in ERROR_STATUS:
            raise ValueError(f"unsupported DRS error code {code}")
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.fields = fields

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]


class _RawBody:
    """The minimal urllib3-like raw body botocore reads (``stream()``)."""

    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, amt: int | None = None, decode_content: bool = True) -> Iterator[bytes]:
        if self._payload:
            yield self._payload

    def read(self, amt: int | None = None) -> bytes:
        payload, self._payload = self._payload, b""
        return payload


def json_response(url: str, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> AWSResponse:
    payload = json.dumps(body).encode() if body is not None else b""
    all_headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "x-amzn-RequestId": headers.pop("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000"),
        **headers,
    }
    return AWSResponse(url, status, all_headers, _RawBody(payload))


def error_response(url: str, error: DrsError, request_id: str) -> AWSResponse:
    body: dict[str, Any] = {"message": error.message, **error.fields}
    headers = {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id, **error.headers}
    return json_response(url, error.status, body, headers)


_hook = GlobalHook([EVENT_NAME], _UNIQUE_ID)


def install_globally(simulator: Handles) -> None:
    """Serve every boto3 ``drs`` client created from now on (and boto3's default session) by ``simulator``.

    Calling it again swaps the simulator; clients already made keep dispatching to the current one.
    """
    _hook.install(simulator)


def uninstall_globally() -> None:
    """Stop serving DRS globally: later clients talk to the network again."""
    _hook.uninstall()


def current_simulator() -> Handles | None:
    return _hook.current
