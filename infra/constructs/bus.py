"""The orchestrator's event bus: archive, schema registry and who may publish commands."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_iam as iam
from constructs import Construct

from events.generate import SCHEMAS_DIR, load_schema
from events.models import SOURCE
from infra.definitions import ARCHIVE_PATTERN, CONTROL_EVENTS

SCHEMA_TYPE = "JSONSchemaDraft4"


def schema_detail_types() -> list[str]:
    """One registry schema per file in events/schemas (the generated contracts)."""
    return sorted(path.stem for path in SCHEMAS_DIR.glob("*.json"))


class OrchestratorBus(Construct):
    """A custom bus whose every event is archived and described in a schema registry.

    Control events (StartPlan, CancelPlan, ...) may be published only by `publisher_principals`: an Allow
    statement lets those principals (also from other accounts) publish exactly those detail types with our
    source, and a Deny statement refuses the control detail types to every other principal, including
    roles of this account whose IAM policies would otherwise allow `events:PutEvents` on the bus. With no
    publisher configured, nobody can start or steer a plan (fail closed). The choreography's own events
    may be put only by the orchestrator's roles (`only_the_orchestrator_sends`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        archive_retention: Duration,
        publisher_principals: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)

        self.bus = events.EventBus(self, "Bus", description="DRS Orchestrator: every plan event")
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            event_pattern=events.EventPattern(source=list(ARCHIVE_PATTERN["source"])),
            retention=archive_retention,
            description="Every orchestrator event: replay one to rebuild a past execution",
        )

        self.registry = eventschemas.CfnRegistry(
            self, "Registry", description="DRS Orchestrator event contracts (generated from events/models.py)"
        )
        self.schemas: dict[str, eventschemas.CfnSchema] = {}
        for detail_type in schema_detail_types():
            self.schemas[detail_type] = eventschemas.CfnSchema(
                self,
                f"Schema{detail_type}",
                registry_name=self.registry.attr_registry_name,
                schema_name=f"{SOURCE}@{detail_type}",
                type=SCHEMA_TYPE,
                content=json.dumps(load_schema(detail_type), sort_keys=True),
                description=f"{detail_type} event ({SOURCE})",
            )

        self.publisher_principals = list(publisher_principals)
        if self.publisher_principals:
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="PublishersSendControlEvents",
                    effect=iam.Effect.ALLOW,
                    principals=[iam.ArnPrincipal(arn) for arn in self.publisher_principals],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={
                        "StringEquals": {"events:source": SOURCE, "events:detail-type": list(CONTROL_EVENTS)},
                    },
                )
            )
        self._deny_all_but("OnlyPublishersSendControlEvents", list(CONTROL_EVENTS), self.publisher_principals)

    def only_the_orchestrator_sends(self, role_arns: Sequence[str]) -> None:
        """Deny every other principal the choreography's own detail types (WaveReady, PostLaunchDone,
        DRSJobCompleted, the scheduler's ticks such as ApprovalTimeout, ...): a forged one could release,
        close or fail a wave. `role_arns`: the roles of the functions that publish, and the scheduler's."""
        internal = sorted(set(schema_detail_types()) - set(CONTROL_EVENTS))
        self._deny_all_but("OnlyTheOrchestratorSendsItsEvents", internal, list(role_arns))

    def _deny_all_but(self, sid: str, detail_types: list[str], principal_arns: list[str]) -> None:
        """PutEvents of `detail_types` is denied to every principal but `principal_arns` (to everyone when
        there are none). AWS services acting for themselves (an archive replay) are not concerned."""
        conditions: dict[str, dict[str, object]] = {
            "ForAnyValue:StringEquals": {"events:detail-type": detail_types},
            "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
        }
        if principal_arns:
            conditions["ArnNotLike"] = {"aws:PrincipalArn": principal_arns}
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions=conditions,
            )
        )
