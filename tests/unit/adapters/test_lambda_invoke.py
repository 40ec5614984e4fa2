"""The Lambda adapter of LAMBDA steps on botocore's Stubber: one asynchronous Invoke, Lambda's request id back, and
its errors as LambdaError (throttling retryable, anything else not)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from orchestrator.adapters.lambda_invoke import LambdaError, LambdaInvoker

ARN = "arn:aws:lambda:us-east-1:123456789012:function:dns-cutover"


def _client() -> tuple[LambdaInvoker, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return LambdaInvoker(client), Stubber(client)


def test_an_invoke_is_asynchronous_with_the_payload_as_compact_json_and_returns_the_request_id() -> None:
    # GIVEN Lambda accepting the invocation
    invoker, stub = _client()
    payload = {"record": "app", "drsOrchestrator": {"correlationId": "drsorch-1"}}
    stub.add_response(
        "invoke",
        {"StatusCode": 202, "ResponseMetadata": {"RequestId": "r-1", "HTTPHeaders": {"x-amzn-requestid": "r-1"}}},
        {
            "FunctionName": ARN,
            "InvocationType": "Event",
            "Payload": json.dumps(payload, separators=(",", ":"), sort_keys=True).encode(),
        },
    )

    # WHEN the step invokes
    with stub:
        request_id = invoker.invoke_async(ARN, payload)

    # THEN it was one Event invocation, and Lambda's request id comes back
    assert request_id == "r-1"
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("TooManyRequestsException", True), ("ServiceException", True), ("ResourceNotFoundException", False)],
)
def test_errors_are_lambda_errors_throttling_retryable(code: str, retryable: bool) -> None:
    # GIVEN Lambda refusing with `code`
    invoker, stub = _client()
    stub.add_client_error("invoke", service_error_code=code, service_message="no", http_status_code=429)

    # WHEN / THEN a LambdaError with the code and message, retryable only for throttling and service errors
    with stub, pytest.raises(LambdaError) as raised:
        invoker.invoke_async(ARN, {})
    assert (raised.value.code, raised.value.retryable, str(raised.value)) == (code, retryable, f"{code}: no")
