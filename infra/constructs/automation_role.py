"""The role SSM Automation runbooks run as (the runbooks' `AutomationAssumeRole`), and what it may do.

A runbook started without an assume role runs with the permissions of whoever started it: the script functions,
which must not hold what runbooks do (Route 53 changes, database failovers). Instead the step passes this role as
the runbook's `AutomationAssumeRole` parameter wherever the runbook declares one (orchestrator/steps/automation.py);
the functions may pass this role only, and only to SSM (`automation_statements`).

It starts with what the project's ready runbooks (infra/ssm_documents/, schemaVersion 0.3) call: Route 53 record
changes and reads for the DNS cutover. A deployer who allow-lists runbooks of their own extends it
(`AutomationRole.role.add_to_policy`), or names an existing role (context `automationAssumeRoleArn`).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

#: What the ready runbooks call (Route 53's record changes have no narrower resource than the hosted zone; the
#: zones a plan names are chosen at run time). GetChange: a change's status (INSYNC).
ROUTE53_RECORDS = ("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets")
ROUTE53_CHANGES = ("route53:GetChange",)
#: Reasons for the role's wildcard resources (cdk-nag, infra/constructs/nag.py).
WILDCARD_REASONS: dict[str, str] = {
    "AutomationRoute53Records": "The DNS cutover runbook changes the record a plan names, in a hosted zone chosen at "
    "run time: only Route 53 record changes and reads.",
    "AutomationRoute53Changes": "A change id is known only once the change is made (route53:GetChange).",
}


class AutomationRole(Construct):
    """`role`: assumed by ssm.amazonaws.com for this account's automations only (aws:SourceAccount)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ssm.amazonaws.com").with_conditions(
                {"StringEquals": {"aws:SourceAccount": account}}
            ),
            description="Runs the DRS Orchestrator's SSM Automation steps (the runbooks' AutomationAssumeRole)",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutomationRoute53Records",
                actions=list(ROUTE53_RECORDS),
                resources=[f"arn:{Stack.of(self).partition}:route53:::hostedzone/*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AutomationRoute53Changes",
                actions=list(ROUTE53_CHANGES),
                resources=[f"arn:{Stack.of(self).partition}:route53:::change/*"],
            )
        )
