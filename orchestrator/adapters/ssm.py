"""The SSM Run Command adapter: boto3 `ssm` calls turned into domain results and domain exceptions."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.pagination import paginate
from orchestrator.adapters.ssm_automation import AutomationCalls
from orchestrator.domain.plan.documents import DocumentParameters

MAX_INSTANCE_IDS = 50  # SendCommand InstanceIds per call
MAX_TAG_TARGETS = 5  # SendCommand Targets per call
TERMINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
#: How long a document's parameters are kept (a warm function reads an updated document again after this).
DOCUMENT_CACHE_SECONDS = 60.0


class SsmError(RuntimeError):
    """An SSM call failed; `code` is the service's error code."""

    retryable = False

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.sent: list[dict[str, Any]] = []  # commands a batched SendCommand sent before this error


class SsmThrottled(SsmError):
    retryable = True


class SsmRejected(SsmError):
    """The request can never succeed as sent (unknown document, invalid parameters or instances)."""


class SsmAgentNotReady(SsmError):
    """SendCommand answered InvalidInstanceId: a target is not (yet) an online managed node. A recovery
    instance's SSM agent registers a minute or more after the instance launches, so the send is worth
    trying again until the step's timeout (SSM API reference, SendCommand: InvalidInstanceId is returned
    when "SSM Agent isn't registered with the SSM endpoint" or the instance is not running)."""

    retryable = True


_RETRYABLE = {"ThrottlingException", "InternalServerError", "ServiceUnavailable", "TooManyUpdates"}
_REJECTED = {
    "InvalidDocument",
    "InvalidDocumentVersion",
    "InvalidParameters",
    "ValidationException",
    "DuplicateInstanceId",
    "InvalidTarget",
    "UnsupportedPlatformType",
    "InvalidRole",
    "InvalidOutputFolder",
    "MaxDocumentSizeExceeded",
    "InvalidDocumentContent",
    "AccessDeniedException",
    "InvalidCommandId",
    # SSM Automation (StartAutomationExecution, GetAutomationExecution)
    "AutomationDefinitionNotFoundException",
    "AutomationDefinitionVersionNotFoundException",
    "InvalidAutomationExecutionParametersException",
    "IdempotentParameterMismatch",
    "AutomationExecutionNotFoundException",
}
_RETRYABLE_AUTOMATION = {"AutomationExecutionLimitExceededException"}  # too many running: try again later


def _translate(exc: ClientError) -> SsmError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = f"{code}: {error.get('Message') or exc}"
    if code in _RETRYABLE or code in _RETRYABLE_AUTOMATION:
        return SsmThrottled(message, code)
    if code == "InvalidInstanceId":
        return SsmAgentNotReady(message, code)
    if code in _REJECTED:
        return SsmRejected(message, code)
    return SsmError(message, code)


class Ssm(AutomationCalls):
    """SendCommand in chunks of 50, command reads, cancel; DescribeDocument cached per document for
    DOCUMENT_CACHE_SECONDS (`monotonic`: the clock of that cache); SSM Automation (`AutomationCalls`)."""

    def __init__(self, client: Any, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._monotonic = monotonic
        self._parameters: dict[str, tuple[float, DocumentParameters]] = {}

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise _translate(exc) from exc
        return result

    def document_parameters(self, name: str) -> DocumentParameters:
        """The parameters the document declares, and which are required (DescribeDocument; one call per
        document within DOCUMENT_CACHE_SECONDS: a StartPlan that names a document in many scripts, and the
        sends of a run, read it once)."""
        now = self._monotonic()
        cached = self._parameters.get(name)
        if cached is None or now - cached[0] >= DOCUMENT_CACHE_SECONDS:
            document = self._call("describe_document", Name=name)["Document"]
            cached = (now, DocumentParameters.from_described(document.get("Parameters") or []))
            self._parameters[name] = cached
        return cached[1]

    def send_command(
        self,
        document: str,
        parameters: dict[str, list[str]],
        *,
        instance_ids: list[str] | None = None,
        tags: dict[str, str] | None = None,
        timeout_seconds: int,
        comment: str,
    ) -> list[dict[str, Any]]:
        """Send the document to `instance_ids` (in calls of at most 50) or to the instances with every
        one of `tags`. Returns the Command of each call. An error after some batches went out carries
        their Commands in `SsmError.sent`."""
        common: dict[str, Any] = {
            "DocumentName": document,
            "Parameters": parameters,
            "TimeoutSeconds": max(30, min(timeout_seconds, 2_592_000)),
            "Comment": comment[:100],
        }
        if tags is not None:
            targets = [{"Key": f"tag:{key}", "Values": [value]} for key, value in sorted(tags.items())]
            return [self._call("send_command", Targets=targets[:MAX_TAG_TARGETS], **common)["Command"]]
        ids = list(instance_ids or [])
        sent: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_INSTANCE_IDS):
            try:
                sent.append(
                    self._call("send_command", InstanceIds=ids[start : start + MAX_INSTANCE_IDS], **common)["Command"]
                )
            except SsmError as exc:
                exc.sent = sent  # the batches already sent are running: the caller tracks or cancels them
                raise
        return sent

    def find_command(self, document: str, comment: str, since: datetime) -> list[dict[str, Any]]:
        """Commands of `document` sent since `since` whose comment is `comment` (after a crash between
        SendCommand and recording its id, a retry adopts them instead of sending again)."""
        filters = [
            {"key": "DocumentName", "value": document},
            {"key": "InvokedAfter", "value": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ]
        return [
            c for c in self._paginate("list_commands", "Commands", Filters=filters) if c.get("Comment") == comment[:100]
        ]

    def invocations(self, command_id: str) -> list[dict[str, Any]]:
        """Every visible invocation of a command, with its plugin output (ListCommandInvocations Details)."""
        return list(
            self._paginate("list_command_invocations", "CommandInvocations", CommandId=command_id, Details=True)
        )

    def cancel(self, command_id: str, instance_ids: list[str] | None = None) -> None:
        """Cancel the command's invocations that have not ended (only those on `instance_ids`, 50 per call,
        when given); an ended invocation keeps its status."""
        with contextlib.suppress(SsmRejected):  # already finished or unknown: nothing left to cancel
            if not instance_ids:
                self._call("cancel_command", CommandId=command_id)
                return
            for start in range(0, len(instance_ids), MAX_INSTANCE_IDS):
                self._call(
                    "cancel_command", CommandId=command_id, InstanceIds=instance_ids[start : start + MAX_INSTANCE_IDS]
                )

    def _paginate(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return paginate(self._call, operation, key, marker_member="NextToken", **kwargs)
