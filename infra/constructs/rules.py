"""One EventBridge rule per `definitions.ROUTES` entry, each target with retries and its own DLQ."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra import definitions
from infra.constructs.functions import pascal, secure_queue
from infra.definitions import STATE_MACHINE, Route


def apply_pattern(rule: events.Rule, pattern: dict[str, object]) -> None:
    """Set the rule's pattern verbatim (the L2 EventPattern type cannot say `replay-name`)."""
    cfn_rule = rule.node.default_child
    assert isinstance(cfn_rule, events.CfnRule)
    cfn_rule.add_property_override("EventPattern", pattern)


class Routes(Construct):
    """Rules on the orchestrator bus, and on the account's default bus for aws.drs / aws.ssm events (and, with
    `target_accounts`, on the orchestrator bus for those events forwarded from the target accounts)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        functions: dict[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        retry_attempts: int,
        max_event_age: Duration,
        target_accounts: Sequence[str] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.rules: dict[str, events.Rule] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        for route in definitions.ROUTES:  # read at synth time: the one routing table
            name = pascal(route.name)
            dlq = secure_queue(self, f"{name}Dlq")
            rule = events.Rule(
                self,
                name,
                event_bus=bus if route.bus == "orchestrator" else default_bus,
                description=route.description,
                # placeholder: replaced verbatim by the route's full pattern below
                event_pattern=events.EventPattern(source=[route.source]),
            )
            apply_pattern(rule, route.pattern)
            rule.add_target(self._target(route, functions, state_machine, dlq, retry_attempts, max_event_age))
            self.rules[route.name] = rule
            self.dead_letter_queues[route.name] = dlq
        # the same events from the target accounts, forwarded to the orchestrator bus by their stacks
        # (infra/target_stack.py): the same pattern, limited to those accounts, the same target
        self.forwarded_rules: dict[str, events.Rule] = {}
        for route in [route for route in definitions.ROUTES if route.bus == "default"] if target_accounts else []:
            name = f"Forwarded{pascal(route.name)}"
            dlq = secure_queue(self, f"{name}Dlq")
            rule = events.Rule(
                self,
                name,
                event_bus=bus,
                description=f"{route.description} (forwarded from the target accounts)",
                event_pattern=events.EventPattern(source=[route.source]),  # replaced verbatim below
            )
            apply_pattern(rule, {**route.pattern, "account": list(target_accounts)})
            rule.add_target(self._target(route, functions, state_machine, dlq, retry_attempts, max_event_age))
            self.forwarded_rules[route.name] = rule
            self.dead_letter_queues[f"forwarded-{route.name}"] = dlq

    @staticmethod
    def _target(
        route: Route,
        functions: dict[str, lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        dlq: sqs.IQueue,
        retry_attempts: int,
        max_event_age: Duration,
    ) -> events.IRuleTarget:
        if route.target == STATE_MACHINE:
            return targets.SfnStateMachine(
                state_machine, dead_letter_queue=dlq, retry_attempts=retry_attempts, max_event_age=max_event_age
            )
        return targets.LambdaFunction(
            functions[route.target],
            dead_letter_queue=dlq,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )
