"""The orchestrator's event bus: archive, schema registry and who may publish commands.

The bus policy uses EventBridge's condition keys `events:source` and `events:detail-type`, which PutEvents
supplies (one value per entry: `ForAnyValue` in a Deny catches a batch with any such entry): see
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html and the custom-bus example
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-cross-account-custom-bus-source.html.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_eventschemas as eventschemas
from aws_cdk import aws_iam as iam
from constructs import Construct

from events.generate import SCHEMAS_DIR, load_schema
from events.models import OPERATOR_SOURCE, SOURCE
from infra.definitions import ARCHIVE_PATTERN, CONTROL_EVENTS, OPERATOR_EVENTS, ROUTES, START_EVENTS

SCHEMA_TYPE = "JSONSchemaDraft4"


def schema_detail_types() -> list[str]:
    """One registry schema per file in events/schemas (the generated contracts)."""
    return sorted(path.stem for path in SCHEMAS_DIR.glob("*.json"))


class OrchestratorBus(Construct):
    """A custom bus whose every event is archived and described in a schema registry.

    Who may put what (each Deny also binds roles of this account whose IAM policies allow `events:PutEvents`):

    - StartPlan: `publisher_principals` (an Allow lets them, also from other accounts, put exactly StartPlan
      with our source), the operator function and the scheduled drills' role; nobody else. A StartPlan put on
      the bus starts only a DRILL: a RECOVERY is started only from the operator source
      (orchestrator/steps/start_plan.py).
    - The operator commands (approve, deny, cancel, pause, resume, retry, skip) and the operator source:
      the operator function's role only (`only_the_operator_commands`), which stamps them with the caller's
      verified ARN; the publishers reach it through its Function URL.
    - The choreography's own events: the orchestrator's function roles and the scheduler's only
      (`only_the_orchestrator_sends`).

    With no publisher configured, nobody can put a StartPlan on the bus (fail closed).
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
                    sid="PublishersStartPlans",
                    effect=iam.Effect.ALLOW,
                    principals=[iam.ArnPrincipal(arn) for arn in self.publisher_principals],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                    conditions={"StringEquals": {"events:source": SOURCE, "events:detail-type": list(START_EVENTS)}},
                )
            )

    def admit_target_accounts(self, accounts: Sequence[str]) -> None:
        """Allow `accounts` (the target accounts, whose stacks forward their DRS and SSM events here) to put events
        whose every entry has source aws.drs or aws.ssm and a detail type a forwarded route matches, nothing else:
        a StartPlan, an operator command or a choreography event from them has no Allow (and the Denies above
        bind them too), and EventBridge refuses an `aws.` source in a customer's PutEvents, so only the events
        AWS itself emitted in those accounts, forwarded by their rules, get in. `ForAllValues` checks every entry of
        a batch; the `Null` condition keeps it from passing a request without a source. No accounts: no statement
        (no cross-account put at all)."""
        if not accounts:
            return
        routes = [route for route in ROUTES if route.bus == "default"]
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TargetAccountsForwardDrsAndSsmEvents",
                effect=iam.Effect.ALLOW,
                principals=[iam.AccountPrincipal(account) for account in accounts],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "events:source": sorted({route.source for route in routes}),
                        "events:detail-type": sorted({t for route in routes for t in route.detail_types}),
                    },
                    "Null": {"events:source": "false", "events:detail-type": "false"},
                },
            )
        )

    def only_the_operator_commands(
        self, operator_role_arn: str, *, drill_scheduler_role_arn: str | None = None
    ) -> None:
        """Deny every other principal the operator commands and the operator source (a command, or a StartPlan
        that could be a RECOVERY, that claims to come from the operator endpoint), and StartPlan to everyone but
        the publishers, the operator and the scheduled drills' role (`drill_scheduler_role_arn`, when the stack
        has scheduled drills: a StartPlan from the bus's own source is always a DRILL)."""
        self._deny_all_but("OnlyTheOperatorSendsCommands", list(OPERATOR_EVENTS), [operator_role_arn])
        self._deny_all_but("OnlyTheOperatorUsesItsSource", [OPERATOR_SOURCE], [operator_role_arn], key="events:source")
        self._deny_all_but(
            "OnlyPublishersStartPlans",
            list(START_EVENTS),
            [
                *self.publisher_principals,
                operator_role_arn,
                *([drill_scheduler_role_arn] if drill_scheduler_role_arn else []),
            ],
        )

    def only_the_orchestrator_sends(self, role_arns: Sequence[str]) -> None:
        """Deny every other principal the choreography's own detail types (WaveReady, PostLaunchDone,
        DRSJobCompleted, the scheduler's ticks such as ApprovalTimeout, ...): a forged one could release,
        close or fail a wave. `role_arns`: the roles of the functions that publish, and the scheduler's."""
        internal = sorted(set(schema_detail_types()) - set(CONTROL_EVENTS))
        self._deny_all_but("OnlyTheOrchestratorSendsItsEvents", internal, list(role_arns))

    def _deny_all_but(
        self, sid: str, values: list[str], principal_arns: list[str], *, key: str = "events:detail-type"
    ) -> None:
        """PutEvents of an entry whose `key` (detail-type, or source) is one of `values` is denied to every
        principal but `principal_arns` (to everyone when there are none). AWS services acting for themselves
        (an archive replay) are not concerned."""
        conditions: dict[str, dict[str, object]] = {
            "ForAnyValue:StringEquals": {key: values},
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
