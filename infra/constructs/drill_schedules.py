"""Scheduled drills (issue #16 item 5): one EventBridge Scheduler schedule per `drillSchedules` entry, publishing a
DRILL StartPlan of a stored plan version on the orchestrator's bus.

The schedules live in a group of their own, fired by a role of their own (not the ticks' role: that one may put the
choreography's internal events, this one only StartPlan): its policy allows PutEvents of detail type StartPlan with
the orchestrator's source on the bus, nothing else, and the bus lets it through its "only publishers start plans"
deny (infra/constructs/bus.py). A StartPlan from the bus's own source starts only a DRILL whatever it says
(orchestrator/steps/start_plan.py); the schedule's detail says DRILL, and the setting refuses any mode at synth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from events.models import SOURCE
from orchestrator.domain.schedules import DrillSchedule

#: A firing not delivered within an hour is dropped rather than starting a drill late (Scheduler's default would
#: retry for 24 hours).
MAX_EVENT_AGE_SECONDS = 3600
MAX_RETRY_ATTEMPTS = 10


class DrillSchedules(Construct):
    """The group, the role and one CfnSchedule per drill schedule (`schedules`: already validated)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, bus: events.IEventBus, schedules: Sequence[DrillSchedule]
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=f"{stack.stack_name}-drills")
        self.role = iam.Role(
            self,
            "Role",
            description="EventBridge Scheduler puts the scheduled drills' StartPlan events on the orchestrator bus",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                # confused deputy: only schedules of this account's drill group
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": self.group.attr_arn},
                },
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[bus.event_bus_arn],
                conditions={"StringEquals": {"events:source": SOURCE, "events:detail-type": "StartPlan"}},
            )
        )
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        for schedule in schedules:
            self.schedules[schedule.name] = scheduler.CfnSchedule(
                self,
                f"Schedule-{schedule.name}",
                name=schedule.name,
                group_name=self.group.name,
                description=f"DRILL of stored plan {schedule.plan_id} version {schedule.version}",
                schedule_expression=schedule.expression,
                schedule_expression_timezone=schedule.timezone,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                state="ENABLED",
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=bus.event_bus_arn,
                    role_arn=self.role.role_arn,
                    event_bridge_parameters=scheduler.CfnSchedule.EventBridgeParametersProperty(
                        detail_type="StartPlan", source=SOURCE
                    ),
                    input=json.dumps(schedule.start_plan_detail(), sort_keys=True),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS, maximum_retry_attempts=MAX_RETRY_ATTEMPTS
                    ),
                ),
            )
            self.schedules[schedule.name].add_dependency(self.group)
