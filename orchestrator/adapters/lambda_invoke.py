"""The Lambda adapter of LAMBDA steps: one asynchronous Invoke (InvocationType=Event), its ClientError turned into a
domain exception.

An asynchronous invocation is queued by Lambda and answered at once (202, its request id in the response's
`x-amzn-RequestId`); its result comes back later through the function's asynchronous-invocation destinations
(the stack points them at the orchestrator's bus: infra/constructs/lambda_steps.py). Lambda caps an asynchronous
invocation's payload at 1 MB (the Invoke API reference); the step keeps its own far lower
(orchestrator/steps/lambda_steps.py MAX_INVOKE_PAYLOAD_BYTES: the record that comes back must fit an event).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class LambdaError(RuntimeError):
    """An Invoke failed; `code` is the service's error code, `retryable` whether trying again later may succeed
    (throttling, a service-side error); anything else (the function does not exist, access denied, an invalid
    request) can never succeed as sent."""

    def __init__(self, message: str, code: str = "", *, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


#: Invoke errors worth trying again later (botocore's lambda model: TooManyRequestsException, ServiceException,
#: and the ENI/EC2 errors Lambda answers while it sets up a function's network).
_RETRYABLE = frozenset(
    {
        "TooManyRequestsException",
        "ServiceException",
        "EC2ThrottledException",
        "ResourceNotReadyException",
        "ResourceConflictException",
        "ThrottlingException",
    }
)


class LambdaInvoker:
    """Asynchronous invocations on an injectable boto3 `lambda` client."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke_async(self, function_arn: str, payload: dict[str, Any]) -> str:
        """Queue one asynchronous invocation of `function_arn` with `payload` (a JSON object). Returns Lambda's
        request id of the invocation (the `requestContext.requestId` its destination event carries). Raises
        LambdaError (retryable or not, see the class)."""
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        try:
            response = self._client.invoke(FunctionName=function_arn, InvocationType="Event", Payload=body)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
            raise LambdaError(f"{code}: {message}"[:500], code, retryable=code in _RETRYABLE) from exc
        metadata = response.get("ResponseMetadata") or {}
        headers = metadata.get("HTTPHeaders") or {}
        return str(headers.get("x-amzn-requestid") or metadata.get("RequestId") or "")
