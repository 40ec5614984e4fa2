"""EventBridge Scheduler: the group the watchers' one-shot ticks live in and the role that fires them."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct


class TickScheduler(Construct):
    """A schedule group, and a role Scheduler assumes that may only put events on the orchestrator bus."""

    def __init__(self, scope: Construct, construct_id: str, *, bus: events.IEventBus) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=f"{stack.stack_name}-ticks")
        self.group_name: str = self.group.name or ""
        self.role = iam.Role(
            self,
            "Role",
            description="EventBridge Scheduler puts the orchestrator's tick events on its bus",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                # confused deputy: only schedules of this account's tick group
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": self.group.attr_arn},
                },
            ),
        )
        self.role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus.event_bus_arn]))

    @property
    def schedule_arn_pattern(self) -> str:
        """Every schedule in the group (schedule names are per wave and per tick, hence the wildcard)."""
        return Stack.of(self).format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group.name}/*")

    def grant_schedule(self, grantee: iam.IGrantable, *, delete: bool = False) -> None:
        """Create schedules in the group (and delete them, with `delete`), passing only the tick role, only to
        Scheduler."""
        actions = ["scheduler:CreateSchedule", *(["scheduler:DeleteSchedule"] if delete else [])]
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(sid="SchedulerTicks", actions=actions, resources=[self.schedule_arn_pattern])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
