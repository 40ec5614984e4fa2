"""cdk-nag acknowledgments (cdk-nag 3: CDK's `Validations.of(...).acknowledge`), each with its reason.

IAM5 (wildcards) is acknowledged statement by statement from the synthesized policy documents: a
wildcard resource is accepted only if its statement's Sid has a reason in `WILDCARD_REASONS`, and
`Resource: "*"` only if every action granted on "*" in that policy is one without resource-level
permissions (`STAR_ONLY_ACTIONS`). Anything else stays a finding and fails the synth.

cdk-nag reports one finding per policy and wildcard resource (`IAM5[Resource::<arn>]`), however many
statements name that resource: its acknowledgment carries the reason of every one of them, each after its
Sid, so no statement's reason stands for another's. A wildcard named by a statement without a reason stays
a finding even when another statement of the policy has one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from infra.constructs.automation_role import WILDCARD_REASONS as AUTOMATION_WILDCARD_REASONS
from infra.constructs.operator_policy import WILDCARD_REASONS as CLI_WILDCARD_REASONS
from infra.constructs.permissions import STAR_ONLY_ACTIONS
from infra.constructs.permissions import WILDCARD_REASONS as FUNCTION_WILDCARD_REASONS

PACK = "AwsSolutions"
# the reason of each statement (by Sid) that names a wildcard resource: the functions' roles, the CLI's policies, the
# role SSM Automation runbooks run as
WILDCARD_REASONS: dict[str, str] = {
    **FUNCTION_WILDCARD_REASONS,
    **CLI_WILDCARD_REASONS,
    **AUTOMATION_WILDCARD_REASONS,
}
if len(WILDCARD_REASONS) != len(FUNCTION_WILDCARD_REASONS) + len(CLI_WILDCARD_REASONS) + len(
    AUTOMATION_WILDCARD_REASONS
):  # one Sid, one reason
    raise ValueError(f"a Sid has two reasons: {sorted(FUNCTION_WILDCARD_REASONS.keys() & CLI_WILDCARD_REASONS)}")


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{PACK}-{rule}", reason=reason))


def render(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it (`<AWS::Region>`, `<Logical.Arn>`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            separator, parts = arg
            return str(separator).join(render(part) for part in parts)
    return str(value)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_acknowledgments(statements: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """IAM5 finding id -> reason, for the wildcards this module accepts in one policy document."""
    reasons: dict[str, list[str]] = {}  # finding -> "Sid: reason" of each statement naming the resource
    unexplained: set[str] = set()
    star_actions: set[str] = set()
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(action) for action in _as_list(statement.get("Action", []))]
        sid = str(statement.get("Sid", ""))
        for resource in map(render, _as_list(statement.get("Resource", []))):
            if resource == "*":
                star_actions.update(actions)
            elif "*" in resource:
                finding = f"IAM5[Resource::{resource}]"
                reason = WILDCARD_REASONS.get(sid)
                if reason is None:
                    unexplained.add(finding)
                elif f"{sid}: {reason}" not in reasons.setdefault(finding, []):
                    reasons[finding].append(f"{sid}: {reason}")
    out = {finding: " | ".join(lines) for finding, lines in reasons.items() if finding not in unexplained}
    if star_actions and star_actions <= STAR_ONLY_ACTIONS:
        out["IAM5[Resource::*]"] = (
            "Only actions without resource-level permissions are granted on '*' (Service Authorization "
            "Reference): " + ", ".join(sorted(star_actions))
        )
    return out


def acknowledge_policy_wildcards(stack: Stack) -> None:
    """Walk every IAM policy of the stack (the roles' policies and the customer-managed ones) and acknowledge its
    accepted wildcards."""
    for construct in stack.node.find_all():
        if isinstance(construct, (iam.CfnPolicy, iam.CfnManagedPolicy)):
            document = stack.resolve(construct.policy_document)
            for finding, reason in wildcard_acknowledgments(document.get("Statement", [])).items():
                acknowledge(construct, finding, reason)
