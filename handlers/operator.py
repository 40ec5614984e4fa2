"""The operator endpoint (a Lambda Function URL with AuthType AWS_IAM): read who called from the request
context AWS filled in, decode the JSON body, call the operator step, answer in HTTP.

The request is Lambda's Function URL payload (format 2.0, parsed with Powertools' `LambdaFunctionUrlModel`;
https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads): with AuthType AWS_IAM, Lambda
verifies the caller's SigV4 signature and sets `requestContext.authorizer.iam` (`userArn`, `accountId`,
`callerId`). A request without that identity (the URL switched to AuthType NONE, or an event that is not a
Function URL request) is refused (403) before anything is read: the endpoint never falls back to a name the
body gives.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from pydantic import ValidationError

from handlers._lambda import lambda_handler
from orchestrator.observability import logger, metrics
from orchestrator.runtime import get_runtime
from orchestrator.steps.operator import Answer, Caller, operate

MAX_BODY_BYTES = 256 * 1024  # a command is an EventBridge entry: at most 256 KiB


def _http(answer: Answer) -> dict[str, Any]:
    return {
        "statusCode": answer.status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(answer.body, separators=(",", ":")),
    }


def _refuse(status: int, error: str) -> dict[str, Any]:
    logger.warning("operator request refused before its command was read", status=status, error=error)
    metrics.add_metric(name="OperatorRefused", unit="Count", value=1)
    return _http(Answer(status, {"error": error}))


def _body(request: LambdaFunctionUrlModel) -> Any:
    """The decoded JSON body; ValueError saying why it is not one."""
    raw = request.body if isinstance(request.body, str) else ""
    data = raw.encode("utf-8")
    if request.isBase64Encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"the body is not valid base64: {exc}") from exc
    if len(data) > MAX_BODY_BYTES:
        raise ValueError(f"the body is {len(data)} bytes; a command is at most {MAX_BODY_BYTES}")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = parse(event=event, model=LambdaFunctionUrlModel)
    except ValidationError:
        return _refuse(400, "not a Function URL request")
    iam = request.requestContext.authorizer.iam if request.requestContext.authorizer else None
    if iam is None or not iam.userArn:
        return _refuse(403, "no authenticated caller: the operator URL takes only SigV4-signed requests (AWS_IAM)")
    if request.requestContext.http.method != "POST":
        return _refuse(405, "POST a command")
    caller = Caller(arn=iam.userArn, account_id=iam.accountId, caller_id=iam.callerId)
    logger.append_keys(caller=caller.arn)
    try:
        body = _body(request)
    except ValueError as exc:
        return _refuse(400, str(exc))
    return _http(operate(get_runtime(), caller, body, request_id=request.requestContext.requestId))
