"""The operator endpoint: a Lambda Function URL with AuthType AWS_IAM in front of the operator function.

Callers sign their requests with SigV4; Lambda authenticates them and gives the function the caller's ARN
(`requestContext.authorizer.iam.userArn`, https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html),
which the function writes into the command's `requestedBy` before publishing it with the operator source
(handlers/operator.py, orchestrator/steps/operator.py). Only the configured `invokers` (the stack's
`publisherPrincipals`) are granted the URL in the function's resource policy: `lambda:InvokeFunctionUrl` with
`lambda:FunctionUrlAuthType = AWS_IAM`, and `lambda:InvokeFunction` with `lambda:InvokedViaFunctionUrl = true`
(both are needed for URLs created since October 2025: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
Principals of the stack's own account may also be granted both in their own IAM policies.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class OperatorEndpoint(Construct):
    """`url`: the Function URL (AuthType AWS_IAM) of `function`, callable by `invokers` (IAM role or user ARNs)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.Function, invokers: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.url = lambda_.FunctionUrl(self, "Url", function=function, auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        self.invokers = list(invokers)
        for arn in self.invokers:
            function.grant_invoke_url(iam.ArnPrincipal(arn))
