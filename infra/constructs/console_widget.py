"""The console widget (issue #17 item 2): a Lambda function behind a CloudWatch dashboard custom widget that shows
the latest executions and, for one, its dependency graph and wave statuses (handlers/console_widget.py).

Built as the other functions are (infra/constructs/functions.py: the same bundle, runtime, architecture, a log
group of its own, active tracing), with a role of its own holding only the ledger's reads the widget makes
(`Ledger.grant_console_read`: GetItem and Query on the table, Query on its executions index) and its log group.

No resource policy: the CloudWatch console invokes a custom widget's function with the credentials of the person
viewing the dashboard, who needs lambda:InvokeFunction on it (CloudWatch user guide, "Creating a custom widget for a
CloudWatch dashboard" and "Security and JavaScript for custom CloudWatch widgets",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/add_custom_widget_dashboard_create.html); nothing
else calls it. Its answer is HTML of a few kilobytes per wave, under Lambda's 6 MB synchronous response
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html) for the largest plan (1,000 waves).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.functions import ARCHITECTURE, RUNTIME
from infra.constructs.ledger import Ledger
from infra.definitions import ENV_SERVICE, ENV_TABLE

HANDLER = "handlers.console_widget.handler"
TIMEOUT = Duration.seconds(10)  # three reads of the ledger; the dashboard waits for the answer
MEMORY_MB = 256
WIDTH, HEIGHT = 24, 10  # grid units of the dashboard (24 is its whole width)


class ConsoleWidget(Construct):
    """The widget's function (`function`, its `role`) and the `widget` to add to a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        ledger: Ledger,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="drs-orch console widget: reads the ledger (GetItem, Query) to show the plans' executions",
        )
        log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        self.function = lambda_.Function(
            self,
            "Function",
            description="The CloudWatch dashboard's custom widget: the latest executions, one execution's graph",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=code,
            role=self.role,
            timeout=TIMEOUT,
            memory_size=MEMORY_MB,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={ENV_TABLE: ledger.table.table_name, ENV_SERVICE: "drs-orch-console_widget"},
        )
        log_group.grant_write(self.role)
        ledger.grant_console_read(self.role)
        self.widget = cloudwatch.CustomWidget(
            function_arn=self.function.function_arn,
            title="Recovery plan executions",
            width=WIDTH,
            height=HEIGHT,
            update_on_refresh=True,
            update_on_resize=False,
            update_on_time_range_change=False,
        )
