"""The SSM Automation calls of the SSM adapter: start a runbook (idempotently), read an execution, stop it.

Mixed into `orchestrator.adapters.ssm.Ssm` (one boto3 `ssm` client, one error translation): botocore's ssm model
is the source of every shape and limit here (StartAutomationExecution's ClientToken is a UUID, at most 200
parameters of at most 50 values of 1 to 512 characters each; an execution id has 36 characters).
"""

from __future__ import annotations

from typing import Any

#: AutomationExecutionStatus values in which an execution has ended (botocore's ssm model; the others, Pending,
#: InProgress, Waiting, Cancelling, PendingApproval, ..., mean it may still change).
AUTOMATION_ENDED = frozenset(
    {"Success", "Failed", "TimedOut", "Cancelled", "Rejected", "CompletedWithSuccess", "CompletedWithFailure", "Exited"}
)
#: AutomationExecutionStatus values that count as a success.
AUTOMATION_SUCCEEDED = frozenset({"Success", "CompletedWithSuccess"})


class AutomationCalls:
    """StartAutomationExecution, GetAutomationExecution and StopAutomationExecution on `self._call` (which turns
    ClientError into `SsmError`: throttling is retryable; an unknown runbook or bad parameters are SsmRejected)."""

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError  # the adapter's own (orchestrator.adapters.ssm.Ssm._call)

    def start_automation(self, document: str, parameters: dict[str, list[str]], *, client_token: str) -> str:
        """Start `document` with `parameters`; the same `client_token` (a UUID) again answers the execution it
        started (SSM's idempotency: a redelivery or a crash between this call and its record starts nothing new).
        Returns the automation execution id. Raises SsmError."""
        kwargs: dict[str, Any] = {"DocumentName": document, "ClientToken": client_token}
        if parameters:
            kwargs["Parameters"] = parameters
        return str(self._call("start_automation_execution", **kwargs)["AutomationExecutionId"])

    def automation_execution(self, execution_id: str) -> dict[str, Any]:
        """GetAutomationExecution's `AutomationExecution` (status, outputs, failure message, step executions).
        Raises SsmError (AutomationExecutionNotFoundException: SsmError with that code)."""
        answer: dict[str, Any] = self._call("get_automation_execution", AutomationExecutionId=execution_id)
        return dict(answer["AutomationExecution"])

    def stop_automation(self, execution_id: str) -> None:
        """StopAutomationExecution (Type Cancel). One that has already ended (InvalidAutomationStatusUpdate) is
        left as it is. Raises SsmError for any other refusal."""
        from orchestrator.adapters.ssm import SsmError

        try:
            self._call("stop_automation_execution", AutomationExecutionId=execution_id, Type="Cancel")
        except SsmError as exc:
            if exc.code != "InvalidAutomationStatusUpdateException":
                raise
