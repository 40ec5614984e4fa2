"""The user functions of LAMBDA steps, simulated: a profile function answers an asynchronous Invoke at once and,
after its simulated duration, its result comes back as Lambda's destination record on the orchestrator's bus.

On AWS a LAMBDA step's function is the user's; the stack points its asynchronous-invocation destinations (on
success and on failure) at the orchestrator's bus, where Lambda puts an invocation record: source `lambda`,
detail-type "Lambda Function Invocation Result - Success" or "- Failure", `resources` the function's qualified
ARN, and the detail {version, timestamp, requestContext {requestId, functionArn, condition,
approximateInvokeCount}, requestPayload, responseContext {statusCode, executedVersion[, functionError]},
responsePayload} (the Lambda developer guide, "Capturing records of Lambda asynchronous invocations"). Here each
function of the profile's `lambda.functions` (name, durationSeconds, outcome success | failure | never-returns,
output) does exactly that on the simulated clock: `advance` puts the records that are due, `next_due` says when
the next one is. An Invoke of a function the profile does not define fails as on AWS (404
ResourceNotFoundException). The record is put by the service (`unattributed`), not by the function that invoked.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse

from events.models import LAMBDA_RESULT_FAILURE, LAMBDA_RESULT_SUCCESS, LAMBDA_SOURCE
from localcloud.clock import SimClock
from localcloud.drs_sim_wire import _RawBody, json_response

if TYPE_CHECKING:  # the profile imports what imports this module
    from localcloud.profile import LambdaFunctionProfile

ACCOUNT = "123456789012"
REGION = "us-east-1"


def profile_function_arn(name: str) -> str:
    """The unqualified ARN of a profile function in the local account."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@dataclass
class _Pending:
    at: datetime
    function: LambdaFunctionProfile
    request_id: str
    payload: Any


class LambdaSimulator:
    """The profile's functions; `publish(entry)` puts one PutEvents entry on the orchestrator's bus."""

    def __init__(
        self, clock: SimClock, functions: list[LambdaFunctionProfile], publish: Callable[[dict[str, Any]], None]
    ) -> None:
        self._clock = clock
        self._functions = {f.name: f for f in functions}
        self._publish = publish
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self.invocations: list[tuple[str, Any]] = []  # (function name, payload) of every Invoke, in order

    def arns(self) -> list[str]:
        """The unqualified ARNs of the profile's functions (the deploy's allowed functions in a local run)."""
        return [profile_function_arn(name) for name in sorted(self._functions)]

    def serves(self, name: str) -> bool:
        """Is `name` (a name or an ARN, possibly qualified) one of the profile's functions?"""
        return _function_name(name) in self._functions

    def handle(self, request: Any) -> AWSResponse:
        """Answer an Invoke: 404 for a function the profile does not define, 202 (queued) for an asynchronous one,
        200 with its output for a synchronous one (the record of an asynchronous one follows at its duration)."""
        url = str(request.url)
        name = _function_name(unquote(url.split("/functions/", 1)[1].split("/", 1)[0]))
        function = self._functions.get(name)
        if function is None:
            return function_not_found(url, profile_function_arn(name))
        payload = invoke_payload(request)
        request_id = str(uuid.uuid4())
        headers = {"x-amzn-RequestId": request_id}
        invocation_type = request.headers.get("X-Amz-Invocation-Type", b"RequestResponse")
        if isinstance(invocation_type, bytes):
            invocation_type = invocation_type.decode()
        with self._lock:
            self.invocations.append((name, payload))
            if invocation_type == "Event":
                if function.outcome != "never-returns":
                    at = self._clock.now() + timedelta(seconds=function.duration_seconds)
                    self._pending.append(_Pending(at, function, request_id, payload))
                return AWSResponse(url, 202, headers, _RawBody(b""))
        return AWSResponse(url, 200, {"Content-Type": "application/json", **headers}, _RawBody(b"null"))

    def next_due(self) -> datetime | None:
        with self._lock:
            return min((p.at for p in self._pending), default=None)

    def advance(self) -> bool:
        """Put the records that are due on the bus. Returns whether any was."""
        now = self._clock.now()
        with self._lock:
            due = sorted((p for p in self._pending if p.at <= now), key=lambda p: p.at)
            self._pending = [p for p in self._pending if p.at > now]
        for pending in due:
            self._publish(_record_entry(pending))
        return bool(due)


def function_not_found(url: str, name: str) -> Any:
    """Lambda's answer to an Invoke of a function that does not exist: 404 ResourceNotFoundException naming it."""
    return json_response(
        url,
        404,
        {"Type": "User", "message": f"Function not found: {name}"},
        {"x-amzn-ErrorType": "ResourceNotFoundException"},
    )


def invoke_payload(request: Any) -> Any:
    """The JSON payload of an Invoke request (an empty body is `{}`)."""
    body = request.body
    return json.loads(body.decode() if isinstance(body, bytes) else (body or "{}"))


def _function_name(name: str) -> str:
    """`fn`, `fn:alias`, `arn:aws:lambda:r:a:function:fn[:q]` -> `fn`."""
    if name.startswith("arn:"):
        parts = name.split(":")
        return parts[6] if len(parts) > 6 else name
    return name.split(":", 1)[0]


def _record_entry(pending: _Pending) -> dict[str, Any]:
    """The PutEvents entry of the invocation record, as Lambda's destination puts it."""
    function = pending.function
    succeeded = function.outcome == "success"
    qualified = f"{profile_function_arn(function.name)}:$LATEST"
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if succeeded:
        response = function.output
    else:
        response_context["functionError"] = "Unhandled"
        response = {"errorType": "Error", "errorMessage": function.error_message, "trace": []}
    detail = {
        "version": "1.0",
        "timestamp": pending.at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{pending.at.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": pending.request_id,
            "functionArn": qualified,
            "condition": "Success" if succeeded else "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": pending.payload,
        "responseContext": response_context,
        "responsePayload": response,
    }
    return {
        "Source": LAMBDA_SOURCE,
        "DetailType": LAMBDA_RESULT_SUCCESS if succeeded else LAMBDA_RESULT_FAILURE,
        "Resources": [qualified],
        "Detail": json.dumps(detail),
    }
