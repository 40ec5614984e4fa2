"""The role SSM Automation runbooks run as (the runbooks' `AutomationAssumeRole`), and what it may do.

A runbook started without an assume role runs with the permissions of whoever started it: the script functions,
which must not hold what runbooks do (Route 53 changes, database failovers). Instead the step passes this role as
the runbook's `AutomationAssumeRole` parameter wherever the runbook declares one (orchestrator/steps/automation.py);
the functions may pass this role only, and only to SSM (`automation_statements`).

It holds exactly what the project's ready runbooks (infra/ssm_documents/, schemaVersion 0.3) call in their
aws:executeAwsApi, aws:waitForAwsResourceProperty and aws:assertAwsResourceProperty steps (RUNBOOK_ACTIONS;
tests/infra/test_automation_role.py derives the same set from the runbooks and checks the role grants it and
nothing else), each on the narrowest resource the Service Authorization Reference lets IAM check. A deployer who
allow-lists runbooks of their own extends it (`AutomationRole.role.add_to_policy`), or names an existing role
(context `automationAssumeRoleArn`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.constructs.permissions import ELB_TARGET_HEALTH


@dataclass(frozen=True)
class Grant:
    """One statement of the role: its Sid, actions and resources (`{partition}`, `{region}`, `{account}` filled in)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    reason: str


#: What the ready runbooks call, by runbook. Resource types per the Service Authorization Reference (Actions,
#: resources and condition keys for Route 53, Amazon RDS, Elastic Load Balancing V2, Amazon ECS).
GRANTS: tuple[Grant, ...] = (
    Grant(  # DRSOrch-DnsCutover
        "AutomationRoute53Records",
        ("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"),
        ("arn:{partition}:route53:::hostedzone/*",),
        "The DNS cutover runbook changes the record a plan names, in a hosted zone chosen at run time: only Route 53 "
        "record changes and reads.",
    ),
    Grant(
        "AutomationRoute53Changes",
        ("route53:GetChange",),
        ("arn:{partition}:route53:::change/*",),
        "A change id is known only once the change is made (route53:GetChange).",
    ),
    Grant(  # DRSOrch-AuroraGlobalFailover: the global cluster has no Region; its member clusters are in several
        "AutomationAuroraGlobalFailover",
        ("rds:FailoverGlobalCluster", "rds:SwitchoverGlobalCluster"),
        ("arn:{partition}:rds::{account}:global-cluster:*", "arn:{partition}:rds:*:{account}:cluster:*"),
        "The Aurora failover runbook promotes the cluster a plan names in the global database it names (chosen at "
        "run time; a global database's members are in several Regions): only this account's global clusters.",
    ),
    Grant(
        "AutomationAuroraDescribe",
        ("rds:DescribeDBClusters", "rds:DescribeGlobalClusters"),
        ("arn:{partition}:rds::{account}:global-cluster:*", "arn:{partition}:rds:*:{account}:cluster:*"),
        "The Aurora failover runbook waits on the global cluster and the cluster a plan names (read only).",
    ),
    Grant(  # DRSOrch-RegisterTargets
        "AutomationElbRegisterTargets",
        ("elasticloadbalancing:RegisterTargets",),
        ("arn:{partition}:elasticloadbalancing:{region}:{account}:targetgroup/*/*",),
        "The target registration runbook registers instances with the target group a plan names (chosen at run "
        "time): only target groups of this account and Region.",
    ),
    Grant(
        "AutomationElbTargetHealth",
        ELB_TARGET_HEALTH,
        ("*",),
        "elasticloadbalancing:DescribeTargetHealth supports no resource-level permissions (Service Authorization "
        "Reference): read only.",
    ),
    Grant(  # DRSOrch-ScaleEcsService
        "AutomationEcsServices",
        ("ecs:DescribeServices", "ecs:UpdateService"),
        ("arn:{partition}:ecs:{region}:{account}:service/*/*",),
        "The ECS scaling runbook sets the desired count of the service a plan names (chosen at run time): only ECS "
        "services of this account and Region.",
    ),
)
#: Every action the role grants (tests/infra/test_automation_role.py: exactly what the runbooks call).
RUNBOOK_ACTIONS = frozenset(action for grant in GRANTS for action in grant.actions)
#: Reasons for the role's wildcard resources (cdk-nag, infra/constructs/nag.py).
WILDCARD_REASONS: dict[str, str] = {grant.sid: grant.reason for grant in GRANTS}


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
        stack = Stack.of(self)
        for grant in GRANTS:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid=grant.sid,
                    actions=list(grant.actions),
                    resources=[
                        r.format(partition=stack.partition, region=stack.region, account=account)
                        for r in grant.resources
                    ],
                )
            )
