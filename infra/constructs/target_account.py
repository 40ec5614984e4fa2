"""The target-account stack's two concerns (issue #15 item 3): the role the orchestrator is to assume in a recovery
or staging account (a wave's target: `orchestrator/adapters/sts.py` assumes it), and the rules that
forward that account's DRS and SSM events to the orchestrator's bus.

One source of truth with the orchestrator stack: the role's statements are the ones `infra.constructs.permissions`
builds for the orchestrator's functions (the same builders, the same deploy settings, scoped to the target account
and Region), merged; the forwarding rules' patterns are `infra.definitions.ROUTES`'s default-bus patterns, the ones
the orchestrator's own rules match in its own account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import definitions
from infra.constructs.functions import pascal, secure_queue
from infra.constructs.permissions import (
    PermissionSettings,
    failback_statements,
    launch_settings_statements,
    own_account_statements,
)
from infra.constructs.rules import apply_pattern
from infra.definitions import FUNCTIONS, Function, Route


def calls_target_account(spec: Function) -> bool:
    """Whether a function calls DRS, EC2 or SSM (the calls a wave makes in its target account): the functions whose
    roles the target role trusts."""
    return spec.needs_drs or spec.needs_ssm or spec.needs_ssm_documents or spec.stops_automations


def target_functions() -> list[str]:
    """The names of the functions the target role trusts, in `FUNCTIONS` order."""
    return [spec.name for spec in FUNCTIONS.values() if calls_target_account(spec)]


def forwarded_routes() -> list[Route]:
    """The routes whose events AWS services put on an account's default bus (aws.drs, aws.ssm): what a target
    account forwards."""
    return [route for route in definitions.ROUTES if route.bus == "default"]


def function_statements(scope: Construct, spec: Function, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """The DRS, EC2, SSM and PassRole statements the orchestrator stack grants function `spec` (the same builders
    infra/constructs/functions.py grants them with), scoped to `scope`'s account and Region."""
    statements = own_account_statements(scope, spec, settings)
    if spec.needs_drs:
        statements += launch_settings_statements(scope, spec.name, settings)
        statements += failback_statements(scope, spec.name, settings)
    return statements


def merge_statements(statements: Iterable[iam.PolicyStatement]) -> list[iam.PolicyStatement]:
    """One statement per Sid: statements of the same Sid on the same resources with the same conditions have their
    actions united (post_launch's LaunchSettingsConfiguration lacks the launcher's GetLaunchConfiguration). A Sid
    whose statements differ otherwise is a ValueError naming it (two grants would hide behind one reason)."""
    merged: dict[str, dict[str, Any]] = {}
    for statement in statements:
        document = statement.to_statement_json()
        sid = str(document.get("Sid", ""))
        if not sid:
            raise ValueError(f"a target-role statement has no Sid: {json.dumps(document, sort_keys=True)}")
        actions = document.pop("Action")
        actions = [actions] if isinstance(actions, str) else list(actions)
        known = merged.get(sid)
        if known is None:
            merged[sid] = {"shape": document, "actions": actions}
        elif json.dumps(known["shape"], sort_keys=True, default=str) != json.dumps(
            document, sort_keys=True, default=str
        ):
            raise ValueError(f"statements {sid!r} differ in resources or conditions: they cannot be merged")
        else:
            known["actions"] += [action for action in actions if action not in known["actions"]]
    return [
        iam.PolicyStatement.from_json({**entry["shape"], "Action": sorted(entry["actions"])})
        for entry in merged.values()
    ]


def target_statements(scope: Construct, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """Every DRS, EC2, SSM and PassRole statement of the functions the target role serves, merged by Sid."""
    return merge_statements(
        statement
        for spec in FUNCTIONS.values()
        if calls_target_account(spec)
        for statement in function_statements(scope, spec, settings)
    )


class TargetRole(Construct):
    """The role the orchestrator's functions assume in this account for a wave's target: trusted by exactly
    `trusted_role_arns` (the orchestrator's function roles, by ARN: a token of the stack's comma-delimited list
    parameter), only with the external id `external_id` (sts:ExternalId); granted exactly `target_statements`, in
    managed policies by concern (`pack_policies`). Sessions last at most an hour (MaxSessionDuration)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        trusted_role_arns: str,
        external_id: str,
        settings: PermissionSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ArnPrincipal(trusted_role_arns).with_conditions(
                {"StringEquals": {"sts:ExternalId": external_id}}
            ),
            description="drs-orch target account: the DRS, EC2 and SSM calls of the orchestrator's functions",
            max_session_duration=Duration.hours(1),
        )
        self.statements = target_statements(self, settings)
        self.policies = [
            iam.ManagedPolicy(
                self,
                f"{name}Policy",
                description=f"drs-orch target account: {name} grants of the orchestrator's functions",
                statements=statements,
                roles=[self.role],
            )
            for name, statements in pack_policies(self, self.statements).items()
        ]


# IAM quota: a managed policy document holds at most 6,144 characters (whitespace not counted). The template's
# form of a statement (Fn::Join of the partition, Region and account) is longer than the deployed one, so packing
# by it stays under the quota with room to spare.
MANAGED_POLICY_CHARACTERS = 6144
_POLICY_BUDGET = MANAGED_POLICY_CHARACTERS - 200  # the document's own braces, Version and Statement key


def _concern(statement: iam.PolicyStatement) -> str:
    sid = str(statement.sid)
    if sid.startswith("Ssm"):
        return "Ssm"
    if sid.startswith("LaunchSettings"):
        return "LaunchSettings"
    return "Ec2" if any(action.startswith("ec2:") for action in statement.actions) else "Drs"


def pack_policies(scope: Construct, statements: list[iam.PolicyStatement]) -> dict[str, list[iam.PolicyStatement]]:
    """The statements grouped by concern (Drs, Ec2, LaunchSettings, Ssm), a concern split into numbered parts
    (Ec2, Ec2Part2, ...) where its statements would pass `_POLICY_BUDGET` characters. A single statement larger
    than the budget is a ValueError naming it."""
    stack = Stack.of(scope)
    packed: dict[str, list[iam.PolicyStatement]] = {}
    sizes: dict[str, int] = {}
    for statement in statements:
        size = len(json.dumps(stack.resolve(statement.to_statement_json()), separators=(",", ":")))
        if size > _POLICY_BUDGET:
            raise ValueError(f"statement {statement.sid} alone is {size} characters, over a managed policy's quota")
        concern, part = _concern(statement), 1
        while True:
            name = concern if part == 1 else f"{concern}Part{part}"
            if sizes.get(name, 0) + size + 1 <= _POLICY_BUDGET:
                packed.setdefault(name, []).append(statement)
                sizes[name] = sizes.get(name, 0) + size + 1
                break
            part += 1
    return packed


class EventForwarding(Construct):
    """One rule per forwarded route on this account's default bus, with the route's own pattern, targeting the
    orchestrator's bus through a role that may put events on that bus only; undeliverable events go to a DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        orchestrator_bus_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="drs-orch target account: forward DRS and SSM events to the orchestrator's bus",
        )
        # the EventBus target grants the role events:PutEvents on that bus ARN only (aws_events_targets.EventBus)
        bus = events.EventBus.from_event_bus_arn(self, "OrchestratorBus", orchestrator_bus_arn)
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.dead_letter_queue: sqs.Queue = secure_queue(self, "ForwardDlq")
        self.rules: dict[str, events.Rule] = {}
        for route in forwarded_routes():
            rule = events.Rule(
                self,
                f"Forward{pascal(route.name)}",
                event_bus=default_bus,
                description=f"Forward to the orchestrator: {route.description}",
                event_pattern=events.EventPattern(source=[route.source]),  # replaced verbatim below
            )
            apply_pattern(rule, route.pattern)
            rule.add_target(targets.EventBus(bus, role=self.role, dead_letter_queue=self.dead_letter_queue))
            self.rules[route.name] = rule
