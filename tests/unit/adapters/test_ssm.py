"""`Ssm.document_parameters`: DescribeDocument's Parameters as declared and required names, read once per
document within DOCUMENT_CACHE_SECONDS; its errors as the adapter's domain errors."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.stub import Stubber

from orchestrator.adapters.ssm import DOCUMENT_CACHE_SECONDS, Ssm, SsmRejected, SsmThrottled
from orchestrator.domain.plan.documents import DocumentParameters

RUN_SHELL = {
    "Name": "AWS-RunShellScript",
    "Parameters": [
        {"Name": "commands", "Type": "StringList", "Description": "(Required) Specify a shell script."},
        {"Name": "workingDirectory", "Type": "String", "Description": "(Optional)", "DefaultValue": ""},
        {"Name": "executionTimeout", "Type": "String", "Description": "(Optional)", "DefaultValue": "3600"},
    ],
}


class _Monotonic:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def _stubbed() -> tuple[Ssm, Stubber, _Monotonic]:
    client = botocore.session.get_session().create_client(
        "ssm", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    clock = _Monotonic()
    return Ssm(client, monotonic=clock), Stubber(client), clock


def test_a_documents_parameters_are_read_once_within_the_cache_time_then_again() -> None:
    # GIVEN DescribeDocument answering AWS-RunShellScript twice (and nothing more)
    ssm, stubber, clock = _stubbed()
    asked_for = {"Name": "AWS-RunShellScript"}
    stubber.add_response("describe_document", {"Document": RUN_SHELL}, asked_for)
    stubber.add_response("describe_document", {"Document": {**RUN_SHELL, "Parameters": []}}, asked_for)
    names = frozenset({"commands", "workingDirectory", "executionTimeout"})
    expected = DocumentParameters(names, frozenset({"commands"}))
    with stubber:
        # WHEN its parameters are asked three times within the cache time
        asked = [ssm.document_parameters("AWS-RunShellScript") for _ in range(3)]
        clock.at += DOCUMENT_CACHE_SECONDS - 0.5
        asked.append(ssm.document_parameters("AWS-RunShellScript"))
        # THEN one call answered them all (only commands, without DefaultValue, is required)
        assert asked == [expected] * 4
        # AND once the cache time has passed, the document is read again (it changed meanwhile)
        clock.at += 1
        assert ssm.document_parameters("AWS-RunShellScript") == DocumentParameters(frozenset())
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "error"),
    [("InvalidDocument", SsmRejected), ("AccessDeniedException", SsmRejected), ("ThrottlingException", SsmThrottled)],
)
def test_describe_document_errors_are_the_adapters_errors(code: str, error: type[Exception]) -> None:
    # GIVEN DescribeDocument refusing / WHEN the parameters are asked / THEN the adapter's error says why
    ssm, stubber, _ = _stubbed()
    stubber.add_client_error("describe_document", service_error_code=code, service_message="no", http_status_code=400)
    with stubber, pytest.raises(error, match=f"^{code}: no$"):
        ssm.document_parameters("DRSOrch-Gone")
