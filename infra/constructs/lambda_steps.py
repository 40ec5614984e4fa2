"""The functions LAMBDA steps may invoke (context allowedLambdaFunctions): their asynchronous-invocation
destinations are the orchestrator's bus, so each result comes back as an event and nothing waits for it.

For each allowed function ARN the stack writes an `AWS::Lambda::EventInvokeConfig` (on `$LATEST`, which an
unqualified asynchronous Invoke runs) whose on-success and on-failure destinations are the bus, with no retry by
Lambda itself (`MaximumRetryAttempts` 0: the step's own `retries` decide, each try a fresh invocation with its
own correlation id) and the step's longest timeout as the oldest event Lambda still runs (6 hours, Lambda's
maximum: `MaximumEventAgeInSeconds` 60 to 21600). Lambda sends a destination record with the FUNCTION's execution
role (the Lambda developer guide, "Capturing records of Lambda asynchronous invocations": the execution role needs
the destination's permission, and a record that cannot be delivered, for permissions or size, only counts in the
function's `DestinationDeliveryFailures` metric; CDK's own EventBridgeDestination grants events:PutEvents to the
function's role), so the function's owner must let that role call events:PutEvents on the bus (`EventBusArn`);
the bus is in the same account, so that identity policy is all it takes. A function of another account or Region
cannot be configured by this stack (an EventInvokeConfig is created in the function's own account and Region).
The orchestrator's functions get lambda:InvokeFunction on exactly these ARNs (infra/constructs/permissions.py
`lambda_invoke_statement`).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

#: The oldest asynchronous event Lambda still runs, in seconds (Lambda's maximum: EventInvokeConfig,
#: MaximumEventAgeInSeconds 60 to 21600).
MAX_EVENT_AGE_SECONDS = 21_600


class LambdaStepDestinations(Construct):
    """One EventInvokeConfig per allowed function: destinations on success and on failure = `bus`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bus: events.IEventBus, function_arns: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        destination = lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
            on_success=lambda_.CfnEventInvokeConfig.OnSuccessProperty(destination=bus.event_bus_arn),
            on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=bus.event_bus_arn),
        )
        self.configs = [
            lambda_.CfnEventInvokeConfig(
                self,
                f"Function{index}",
                function_name=arn,
                qualifier="$LATEST",
                maximum_retry_attempts=0,
                maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
                destination_config=destination,
            )
            for index, arn in enumerate(function_arns)
        ]
