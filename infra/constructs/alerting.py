"""Alerts and the dashboard: failure events to SNS, alarms on DLQs, errors and failed executions."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.functions import pascal, secure_queue
from infra.constructs.rules import apply_pattern
from infra.definitions import METRICS_NAMESPACE, alarm_pattern, approval_message, approval_pattern

PERIOD = Duration.minutes(5)
# Powertools metric names the code emits (orchestrator/steps/: progress.py, launch_wave.py, post_launch.py; handlers).
PLAN_METRICS = ("PlansCompleted", "PlansFailed", "PlansCancelled")
WAVE_METRICS = ("WavesCompleted", "ServersFailed")
DRS_METRICS = ("DrsJobsStarted", "DrsLaunchFailures", "LaunchesRecovered")
HEALTH_METRICS = ("InvalidEvents",)


def orchestrator_metric(name: str, label: str | None = None) -> cloudwatch.IMetric:
    """The sum over every `service` dimension Powertools adds (whichever function emits the metric)."""
    return cloudwatch.MathExpression(
        expression=f"SUM(SEARCH('{{{METRICS_NAMESPACE},service}} MetricName=\"{name}\"', 'Sum', 300))",
        using_metrics={},
        label=label or name,
        period=PERIOD,
    )


class Alerting(Construct):
    """An encrypted topic fed by PlanFailed/WaveFailed, ObjectiveAtRisk/ObjectiveMissed (infra/definitions.py
    ALARM_EVENTS) and by the alarms; a dashboard of the choreography."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        functions: Mapping[str, lambda_.IFunction],
        state_machine: sfn.StateMachine,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarm_email: str | None,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        # A customer managed key: EventBridge and CloudWatch cannot publish to a topic encrypted with the
        # AWS managed SNS key (its key policy cannot grant them).
        self.key = kms.Key(
            self,
            "TopicKey",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            description="DRS Orchestrator alert topic",
        )
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            self.key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey")
        self.topic = sns.Topic(
            self, "Topic", master_key=self.key, enforce_ssl=True, display_name="DRS Orchestrator alerts"
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))

        self.dead_letter_queue = secure_queue(self, "AlertDlq")
        self.rule = events.Rule(
            self,
            "FailureEvents",
            event_bus=bus,
            description="PlanFailed, WaveFailed, ObjectiveAtRisk and ObjectiveMissed page the operators",
            event_pattern=events.EventPattern(source=["placeholder"]),
        )
        apply_pattern(self.rule, alarm_pattern())
        self.rule.add_target(
            targets.SnsTopic(
                self.topic,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=retry_attempts,
                max_event_age=max_event_age,
            )
        )

        self.approval_rule = self._approval_requests(bus, retry_attempts, max_event_age)

        action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        queues = {**dead_letter_queues, "alert": self.dead_letter_queue}
        for name, queue in queues.items():
            self._alarm(
                f"{pascal(name)}DlqNotEmpty",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"Events for {name} were dead-lettered: inspect and redrive the queue",
                action,
            )
        for name, function in functions.items():
            self._alarm(
                f"{pascal(name)}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                f"The {name} function raised",
                action,
            )
        self._alarm(
            "InvalidEvents",
            # an alarm cannot use SEARCH: the metric as every function emits it (orchestrator/observability.py
            # names one service for all of them, Powertools' `service` dimension)
            cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name="InvalidEvents",
                dimensions_map={"service": "drs-orchestrator"},
                statistic="Sum",
                period=PERIOD,
            ),
            "An event or direct invocation named what the ledger does not back (a forged or malformed input, "
            "dropped): look up its log line (`invalid event`, `refused chunk`) for the sender",
            action,
        )
        self._alarm(
            "WaveLaunchFailed",
            state_machine.metric_failed(period=PERIOD, statistic="Sum"),
            "A wave launch execution failed",
            action,
        )
        self._let_the_alarms_publish()

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Plan executions",
                left=[orchestrator_metric(name) for name in PLAN_METRICS],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Wave launch state machine",
                left=[
                    state_machine.metric_started(period=PERIOD, statistic="Sum", label="Started"),
                    state_machine.metric_succeeded(period=PERIOD, statistic="Sum", label="Succeeded"),
                    state_machine.metric_failed(period=PERIOD, statistic="Sum", label="Failed"),
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Waves", left=[orchestrator_metric(name) for name in WAVE_METRICS], width=8),
            cloudwatch.GraphWidget(
                title="DRS jobs and launches", left=[orchestrator_metric(name) for name in DRS_METRICS], width=8
            ),
            cloudwatch.GraphWidget(
                title="Invalid events dropped",
                left=[orchestrator_metric(name) for name in HEALTH_METRICS],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[
                    function.metric_errors(period=PERIOD, statistic="Sum", label=name)
                    for name, function in functions.items()
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum", label=name)
                    for name, queue in queues.items()
                ],
                width=12,
            ),
        )

    def _approval_requests(self, bus: events.IEventBus, retry_attempts: int, max_event_age: Duration) -> events.Rule:
        """ApprovalRequested to the topic, as a message giving the exact approve and deny commands (an input
        transformer on the rule: `infra.definitions.approval_message`), so whoever the topic reaches (a chat
        channel through Amazon Q Developer in chat applications, an email) can answer the gate at once."""
        rule = events.Rule(
            self,
            "ApprovalRequests",
            event_bus=bus,
            description="ApprovalRequested: ask the approvers, with the commands that answer",
            event_pattern=events.EventPattern(source=["placeholder"]),
        )
        apply_pattern(rule, approval_pattern())
        field = events.EventField.from_path
        message = approval_message(
            field("$.detail.executionId"),
            field("$.detail.waveId"),
            field("$.detail.planId"),
            field("$.detail.deadline"),
            stack_name=Aws.STACK_NAME,
            region=Aws.REGION,
        )
        rule.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_object(message),
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=retry_attempts,
                max_event_age=max_event_age,
            )
        )
        return rule

    def _let_the_alarms_publish(self) -> None:
        """A topic policy replaces SNS's default one: without this statement CloudWatch may not publish, and no
        alarm would ever notify anyone (the topic key admits cloudwatch.amazonaws.com above). Only the alarms of
        this stack, in this account (aws:SourceArn / aws:SourceAccount, against the confused deputy: SNS
        developer guide, "Amazon SNS topic policies for CloudWatch alarms" and "Cross-service confused deputy
        prevention")."""
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisStackPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": [alarm.alarm_arn for alarm in self.alarms]},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, description: str, action: cw_actions.SnsAction
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(action)
        self.alarms.append(alarm)
