"""IAM statements for DRS, SSM and EC2, per function, scoped as tightly as each API allows.

Sources: the Service Authorization Reference for AWS Elastic Disaster Recovery (prefix `drs`), Systems
Manager and EC2. `Resource: "*"` appears only for actions that have no resource-level permissions (their
Resource types column is empty); `STAR_ONLY_ACTIONS` lists them, and the infra tests fail when any other
action is granted on "*".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

# DRS tags every EC2 resource it creates with this tag; its own service-role policy scopes on it too.
DRS_MANAGED_TAG = "aws:ResourceTag/AWSElasticDisasterRecoveryManaged"
DRS_MANAGED_VALUE = "drs.amazonaws.com"

# ---- actions without resource-level permissions (Resource must be "*") ---------------------------
DRS_DESCRIBE = ("drs:DescribeJobs", "drs:DescribeSourceServers", "drs:DescribeRecoveryInstances")
# Permission-only action DRS authorises against the caller during StartRecovery; AWS documents it on "*".
DRS_CREATE_RECOVERY_INSTANCE = ("drs:CreateRecoveryInstanceForDrs",)
# EC2 reads DRS performs with the caller's credentials while launching (dependent actions of StartRecovery).
EC2_LAUNCH_DESCRIBE = (
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
)
EC2_DESCRIBE_INSTANCES = ("ec2:DescribeInstances",)
SSM_COMMAND_READ = (
    "ssm:GetCommandInvocation",
    "ssm:ListCommandInvocations",
    "ssm:ListCommands",  # a resent try finds the commands a crash or a throttled batch left (by comment)
    "ssm:DescribeInstanceInformation",
    "ssm:CancelCommand",
)
XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")
# Step Functions' CloudWatch Logs delivery (vended logs) has no resource-level permissions.
LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
STAR_ONLY_ACTIONS = frozenset(
    DRS_DESCRIBE + DRS_CREATE_RECOVERY_INSTANCE + EC2_LAUNCH_DESCRIBE + SSM_COMMAND_READ + XRAY + LOG_DELIVERY
)

# ---- why a wildcard resource is acceptable, by statement Sid (read by infra.constructs.nag) ----------
WILDCARD_REASONS: dict[str, str] = {
    "DrsStartRecovery": "StartRecovery takes the source servers of a plan chosen at run time: every source "
    "server of this account and Region, narrowed by the source-server tag condition when configured.",
    "DrsSourceServerReads": "Snapshots and tags of any source server a plan names (chosen at run time).",
    "DrsSnapshotReads": "The preflight reads the recovery snapshots of any source server a plan names (chosen "
    "at run time).",
    "DrsJobLogReads": "The job watcher reads the log of the DRS jobs this orchestrator started (why a server did "
    "not launch); job ids exist only at run time.",
    "DrsTagJobOnCreate": "Job and recovery-instance ids exist only once StartRecovery creates them; the "
    "drs:CreateAction condition limits tagging to that call.",
    "DrsLaunchManaged": "EC2 resources DRS creates have run-time ids; the statement only applies to resources "
    "carrying the AWSElasticDisasterRecoveryManaged=drs.amazonaws.com tag DRS puts on them.",
    "DrsLaunchCreate": "Dependent actions of drs:StartRecovery that create EC2 resources (instances, volumes, "
    "snapshots, launch templates, security groups): their ids do not exist before the call; limited to "
    "this account and Region (images and snapshots DRS reads have no account in their ARN).",
    "DrsLaunchTagOnCreate": "DRS tags the EC2 resources it creates; ec2:CreateAction limits tagging to those "
    "create calls.",
    "DrsLaunchPassInstanceRole": "The recovery-instance role may live under /service-role/; only the "
    "configured role names, only to EC2.",
    "DrsTerminate": "Recovery instances are created at run time by the plan's DRS jobs.",
    "DrsTerminateManaged": "Only EC2 resources tagged AWSElasticDisasterRecoveryManaged=drs.amazonaws.com.",
    "SsmSendCommand": "Scripts run on instances chosen by the plan at run time (recovery instances have "
    "run-time ids); documents are limited to the configured SSM documents.",
    "SchedulerTicks": "One-shot tick schedules are named per execution and wave at run time; limited to the "
    "orchestrator's schedule group.",
}

# ---- DRS: which function may do what ---------------------------------------------------------------
# Only the wave launcher starts recoveries; only the control function (cancel, drill clean-up) terminates.
DRS_CAPABILITIES: dict[str, frozenset[str]] = {
    "launch_wave": frozenset({"describe", "start_recovery"}),
    "control": frozenset({"describe", "terminate", "job_log"}),  # a terminate job's log: why an instance stayed
    "job_watcher": frozenset({"describe", "job_log"}),
}
DEFAULT_DRS_CAPABILITIES = frozenset({"describe"})

# Dependent actions of drs:StartRecovery that change EC2 resources DRS already manages (tag-scoped).
EC2_LAUNCH_MANAGED = (
    "ec2:AttachVolume",
    "ec2:DetachVolume",
    "ec2:DeleteVolume",
    "ec2:DeleteSnapshot",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:ModifyLaunchTemplate",
    "ec2:DeleteLaunchTemplateVersions",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
)
# Dependent actions of drs:StartRecovery that create EC2 resources (no tag exists yet to scope on).
EC2_LAUNCH_CREATE = (
    "ec2:RunInstances",
    "ec2:CreateVolume",
    "ec2:CreateSnapshot",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateSecurityGroup",
)
# Dependent actions of drs:TerminateRecoveryInstances.
EC2_TERMINATE_MANAGED = ("ec2:TerminateInstances", "ec2:DeleteVolume")


@dataclass(frozen=True)
class PermissionSettings:
    """Deployment choices that narrow the grants (from cdk.json context)."""

    # StartRecovery only for source servers with this tag (key, value); None: any source server.
    source_server_tag: tuple[str, str] | None = None
    # Roles DRS may pass to recovery instances (instance profiles); patterns are allowed.
    recovery_instance_role_names: Sequence[str] = ("AWSElasticDisasterRecoveryRecoveryInstanceRole",)
    # SSM documents the script steps may run.
    ssm_documents: Sequence[str] = ("AWS-RunShellScript", "AWS-RunPowerShellScript")


def _arn(scope: Construct, service: str, resource: str, name: str, *, account: bool = True, sep: str = "/") -> str:
    stack = Stack.of(scope)
    return f"arn:{Aws.PARTITION}:{service}:{stack.region}:{stack.account if account else ''}:{resource}{sep}{name}"


def drs_statements(scope: Construct, function_name: str, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    capabilities = DRS_CAPABILITIES.get(function_name, DEFAULT_DRS_CAPABILITIES)
    source_servers = _arn(scope, "drs", "source-server", "*")
    statements = [
        # List-level reads without resource-level permissions.
        iam.PolicyStatement(sid="DrsDescribe", actions=list(DRS_DESCRIBE), resources=["*"]),
        # The preflight checks that a plan's pinned recovery snapshots exist.
        iam.PolicyStatement(
            sid="DrsSnapshotReads", actions=["drs:DescribeRecoverySnapshots"], resources=[source_servers]
        ),
    ]
    if "job_log" in capabilities:  # why a server did not launch: the job's log (the job is read by its ARN)
        statements.append(
            iam.PolicyStatement(
                sid="DrsJobLogReads", actions=["drs:DescribeJobLogItems"], resources=[_arn(scope, "drs", "job", "*")]
            )
        )
    if "start_recovery" in capabilities:
        tag_condition: dict[str, dict[str, str]] = {}
        if settings.source_server_tag:
            key, value = settings.source_server_tag
            tag_condition = {"StringEquals": {f"aws:ResourceTag/{key}": value}}
        statements += [
            iam.PolicyStatement(
                sid="DrsStartRecovery",
                actions=["drs:StartRecovery"],
                resources=[source_servers],
                conditions=tag_condition or None,
            ),
            iam.PolicyStatement(
                sid="DrsSourceServerReads",
                actions=["drs:ListTagsForResource"],
                resources=[source_servers],
            ),
            # The launch key tags on the job: only as part of StartRecovery, never on existing resources.
            iam.PolicyStatement(
                sid="DrsTagJobOnCreate",
                actions=["drs:TagResource"],
                resources=[_arn(scope, "drs", "job", "*"), _arn(scope, "drs", "recovery-instance", "*")],
                conditions={"StringEquals": {"drs:CreateAction": "StartRecovery"}},
            ),
            # Dependent actions of StartRecovery: DRS launches with the caller's permissions.
            iam.PolicyStatement(
                sid="DrsLaunchCreateRecoveryInstance", actions=list(DRS_CREATE_RECOVERY_INSTANCE), resources=["*"]
            ),
            iam.PolicyStatement(sid="DrsLaunchDescribe", actions=list(EC2_LAUNCH_DESCRIBE), resources=["*"]),
            iam.PolicyStatement(
                sid="DrsLaunchManaged",
                actions=list(EC2_LAUNCH_MANAGED),
                resources=[_arn(scope, "ec2", "*", "", sep="")],
                conditions={"StringEquals": {DRS_MANAGED_TAG: DRS_MANAGED_VALUE}},
            ),
            # Creating actions cannot be scoped by a tag that does not exist yet: this account and Region only.
            iam.PolicyStatement(
                sid="DrsLaunchCreate",
                actions=list(EC2_LAUNCH_CREATE),
                resources=[
                    _arn(scope, "ec2", "*", "", sep=""),
                    _arn(scope, "ec2", "image", "*", account=False),
                    _arn(scope, "ec2", "snapshot", "*", account=False),
                ],
            ),
            # DRS tags what it creates; tagging is allowed only inside those create calls.
            iam.PolicyStatement(
                sid="DrsLaunchTagOnCreate",
                actions=["ec2:CreateTags"],
                resources=[_arn(scope, "ec2", "*", "", sep="")],
                conditions={"StringEquals": {"ec2:CreateAction": [a.split(":")[1] for a in EC2_LAUNCH_CREATE]}},
            ),
            iam.PolicyStatement(
                sid="DrsLaunchPassInstanceRole",
                actions=["iam:PassRole"],
                resources=[
                    f"arn:{Aws.PARTITION}:iam::{Stack.of(scope).account}:role/{path}{name}"
                    for name in settings.recovery_instance_role_names
                    for path in ("", "service-role/")
                ],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
        ]
    if "terminate" in capabilities:
        statements += [
            iam.PolicyStatement(
                sid="DrsTerminate",
                actions=["drs:TerminateRecoveryInstances"],
                resources=[_arn(scope, "drs", "recovery-instance", "*")],
            ),
            iam.PolicyStatement(
                sid="DrsTerminateManaged",
                actions=list(EC2_TERMINATE_MANAGED),
                resources=[_arn(scope, "ec2", "*", "", sep="")],
                conditions={"StringEquals": {DRS_MANAGED_TAG: DRS_MANAGED_VALUE}},
            ),
        ]
    return statements


def instance_read_statement() -> iam.PolicyStatement:
    """ec2:DescribeInstances has no resource-level permissions."""
    return iam.PolicyStatement(sid="Ec2DescribeInstances", actions=list(EC2_DESCRIBE_INSTANCES), resources=["*"])


def ssm_statements(scope: Construct, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    documents = [
        # AWS-owned documents have no account in their ARN.
        _arn(scope, "ssm", "document", name, account=not name.startswith("AWS-"))
        for name in settings.ssm_documents
    ]
    return [
        iam.PolicyStatement(
            sid="SsmSendCommand",
            actions=["ssm:SendCommand"],
            resources=[*documents, _arn(scope, "ec2", "instance", "*")],
        ),
        # The parameters a document declares (the run context is passed only where declared).
        iam.PolicyStatement(sid="SsmDescribeDocument", actions=["ssm:DescribeDocument"], resources=documents),
        # Command reads and cancel have no resource-level permissions.
        iam.PolicyStatement(sid="SsmCommandReads", actions=list(SSM_COMMAND_READ), resources=["*"]),
    ]
