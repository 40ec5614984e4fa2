"""IAM statements for DRS, SSM and EC2, per function, scoped as tightly as each API allows.

Sources: the Service Authorization Reference for AWS Elastic Disaster Recovery (prefix `drs`), Systems
Manager and EC2, and AWS's own DRS policies, which these statements follow (AWS managed policies
AWSElasticDisasterRecoveryServiceRolePolicy v8, AWSElasticDisasterRecoveryConsoleFullAccess v8 and
AWSElasticDisasterRecoveryLaunchActionsPolicy, in the AWS Managed Policy Reference). `Resource: "*"` appears
only for actions that have no resource-level permissions (their Resource types column is empty);
`STAR_ONLY_ACTIONS` lists them, and the infra tests fail when any other action is granted on "*".

Which function holds what follows what its code calls: tests/infra/test_grants_match_calls.py runs the
functions on the local cloud, records every AWS operation each makes, and fails on a call its role does not
grant or on a grant nothing uses (unless AWS itself needs it: the EC2 actions DRS performs with the caller's
credentials while it launches or terminates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.definitions import Function

DRS_SERVICE = "drs.amazonaws.com"
# DRS tags every EC2 resource it creates with this key; AWS's own DRS policies scope on its presence
# (`"Null": {"aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "false"}`), on the resource for a change and
# on the request for a creation.
DRS_MANAGED_TAG_KEY = "AWSElasticDisasterRecoveryManaged"
RESOURCE_MANAGED_BY_DRS = {"Null": {f"aws:ResourceTag/{DRS_MANAGED_TAG_KEY}": "false"}}
REQUEST_TAGGED_BY_DRS = {"Null": {f"aws:RequestTag/{DRS_MANAGED_TAG_KEY}": "false"}}
# The EC2 calls DRS makes while it launches or terminates carry the caller's credentials (forward access
# sessions): `aws:ViaAWSService` is true there and false for a call the function would make itself, so these
# statements cannot serve a direct RunInstances, CreateVolume, ... (ConsoleFullAccess v8 does the same).
VIA_AWS_SERVICE = {"Bool": {"aws:ViaAWSService": "true"}}
# Only requests DRS made on the caller's behalf (AWSElasticDisasterRecoveryLaunchActionsPolicy, PassRole).
CALLED_VIA_DRS = {"ForAnyValue:StringEquals": {"aws:CalledVia": [DRS_SERVICE]}}

# ---- actions without resource-level permissions (Resource must be "*") ---------------------------
DRS_DESCRIBE_JOBS = ("drs:DescribeJobs",)
DRS_DESCRIBE_SOURCE_SERVERS = ("drs:DescribeSourceServers",)
DRS_NATIVE_PLAN_STAR = ("drs:ListRecoveryPlans", "drs:CreateRecoveryPlan")  # no resource-level permissions
# drs-orch extend (infra/constructs/operator_policy.py): neither has resource-level permissions
DRS_EXTEND_STAR = ("drs:ListExtensibleSourceServers", "drs:CreateExtendedSourceServer")
DRS_DESCRIBE_RECOVERY_INSTANCES = ("drs:DescribeRecoveryInstances",)
# A dependent action of ReverseReplication (with DescribeSourceServers and ec2:DescribeInstances): the replication
# settings template DRS copies for the reversed source server; no resource-level permissions (Service Authorization
# Reference: empty Resource types column).
DRS_DESCRIBE_REPLICATION_TEMPLATES = ("drs:DescribeReplicationConfigurationTemplates",)
# EC2 reads DRS performs with the caller's credentials while launching (dependent actions of StartRecovery).
# No condition: AWS's own DRS policies grant them plainly; a read launches nothing.
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
# What the network checks of launch settings read before anything launches (orchestrator/steps/network_preflight.py):
# EC2's Describe* actions have no resource-level permissions (EC2 User Guide: "ec2:Describe* API actions do not
# support resource-level permissions"; Service Authorization Reference: empty Resource types column).
EC2_NETWORK_READS = (
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeInstanceTypeOfferings",
)
# What applying a plan's launch settings reads (orchestrator/steps/launch_settings.py): a launch template's versions
# (its default, and ours found again by description) and where a recovery instance landed; ec2:DescribeInstances is
# also a dependent action of drs:UpdateLaunchConfiguration (Service Authorization Reference). Neither has
# resource-level permissions (empty Resource types column).
EC2_LAUNCH_SETTINGS_READS = ("ec2:DescribeLaunchTemplateVersions", "ec2:DescribeInstances")
SSM_COMMAND_READ = (
    "ssm:ListCommandInvocations",
    "ssm:ListCommands",  # a resent try finds the commands a crash or a refused batch left (by comment)
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
#: The Automation role's read of target health (infra/constructs/automation_role.py): no resource-level permissions.
ELB_TARGET_HEALTH = ("elasticloadbalancing:DescribeTargetHealth",)
STAR_ONLY_ACTIONS = frozenset(
    DRS_DESCRIBE_JOBS
    + DRS_DESCRIBE_SOURCE_SERVERS
    + DRS_DESCRIBE_RECOVERY_INSTANCES
    + DRS_DESCRIBE_REPLICATION_TEMPLATES
    + EC2_LAUNCH_DESCRIBE
    + EC2_NETWORK_READS
    + EC2_LAUNCH_SETTINGS_READS
    + SSM_COMMAND_READ
    + XRAY
    + LOG_DELIVERY
    + DRS_NATIVE_PLAN_STAR  # drs-orch import-native / export-native (infra/constructs/operator_policy.py)
    + DRS_EXTEND_STAR  # drs-orch extend (infra/constructs/operator_policy.py)
    + ELB_TARGET_HEALTH
)

# ---- why a wildcard resource is acceptable, by statement Sid (read by infra.constructs.nag) ----------
_RUN_TIME_IDS = "their ids exist only once DRS creates them"
WILDCARD_REASONS: dict[str, str] = {
    "DrsStartRecovery": "StartRecovery takes the source servers of a plan chosen at run time: every source "
    "server of this account and Region, narrowed by the source-server tag condition when configured.",
    "DrsCreateRecoveryInstance": "Permission-only action DRS checks for each source server of a StartRecovery "
    "(chosen at run time); source-server ARNs of this account and Region, as in AWS's DRS service-role policy.",
    "DrsSnapshotReads": "The preflight reads the recovery snapshots of any source server a plan names (chosen "
    "at run time).",
    "DrsJobLogReads": "The job log of the DRS jobs this orchestrator started (why a server did not launch, or "
    "an instance was not terminated); job ids exist only at run time.",
    "DrsTagJobOnCreate": "Job and recovery-instance ids exist only once StartRecovery creates them; the "
    "drs:CreateAction condition limits tagging to that call.",
    "DrsLaunchInstance": f"The instance DRS launches for StartRecovery: {_RUN_TIME_IDS}; only through an AWS "
    "service, only with DRS's AWSElasticDisasterRecoveryManaged tag in the request.",
    "DrsLaunchInstanceResources": "What a launch uses (subnets, security groups, volumes, images, network "
    "interfaces, the launch template DRS keeps per source server): chosen by the source server's launch "
    "settings; only through an AWS service (DRS launching).",
    "DrsCreateVolume": f"Volumes DRS creates from its snapshots: {_RUN_TIME_IDS}; only through an AWS "
    "service, only with DRS's tag (on the new volume, or on the snapshot it comes from).",
    "DrsCreateVolumeFromSnapshot": "Snapshots DRS creates volumes from (run-time ids): only through an AWS "
    "service, only snapshots carrying DRS's tag.",
    "DrsCreateSnapshotOfVolume": "Volumes DRS snapshots (run-time ids): only through an AWS service, only volumes "
    "carrying DRS's tag.",
    "DrsCreateSecurityGroupInVpc": "The VPC of a security group DRS creates is the source server's launch "
    "settings' (chosen outside the stack); only through an AWS service.",
    "DrsCreateSnapshot": f"Snapshots DRS takes of its volumes: {_RUN_TIME_IDS}; only through an AWS service, "
    "only with DRS's tag.",
    "DrsCreateSecurityGroup": f"Security groups DRS creates: {_RUN_TIME_IDS}; only through an AWS service, "
    "only with DRS's tag (the VPC is the source server's launch settings').",
    "DrsCreateLaunchTemplate": f"Launch templates DRS creates: {_RUN_TIME_IDS}; only through an AWS service, "
    "only with DRS's tag.",
    "DrsManagedInstances": "Instances DRS launched (run-time ids): only through an AWS service, only those "
    "carrying DRS's AWSElasticDisasterRecoveryManaged tag.",
    "DrsManagedVolumes": "Volumes DRS created (run-time ids): only through an AWS service, only those carrying "
    "DRS's tag.",
    "DrsDetachVolume": "Volumes DRS detaches from the instances it launched (run-time ids): only through an AWS "
    "service; the instance side is tag-scoped.",
    "DrsManagedSnapshots": "Snapshots DRS took (run-time ids): only through an AWS service, only those carrying "
    "DRS's tag.",
    "DrsManagedLaunchTemplates": "The launch template DRS keeps per source server (run-time ids): only through "
    "an AWS service, only those carrying DRS's tag.",
    "DrsManagedSecurityGroups": "Security groups DRS created (run-time ids): only through an AWS service, only "
    "those carrying DRS's tag.",
    "DrsLaunchTagOnCreate": "DRS tags the EC2 resources it creates; ec2:CreateAction limits tagging to those "
    "create calls, only through an AWS service.",
    "DrsLaunchPassInstanceRole": "The recovery-instance role may live under /service-role/; only the "
    "configured role names, only to EC2, only when DRS passes it.",
    "DrsTerminate": "Recovery instances are created at run time by the plan's DRS jobs.",
    "DrsFailbackLaunch": "A failback launches from the recovery instances of the plan's earlier recovery "
    "(created at run time by its DRS jobs): recovery-instance ARNs of this account and Region.",
    "DrsReverseReplication": "A failback (and a reprotect) reverses the replication of the recovery instances of "
    "the plan's earlier recovery (created at run time): recovery-instance ARNs of this account and Region.",
    "DrsTagFailbackJobOnCreate": "A failback launch job's id exists only once StartFailbackLaunch creates it; the "
    "drs:CreateAction condition limits tagging to that call.",
    "DrsStartReplication": "A reprotect restarts replication of the plan's source servers (chosen at run time): "
    "source-server ARNs of this account and Region, narrowed by the source-server tag when configured.",
    "DrsStopFailback": "A cancelled failback stops it on the plan's recovery instances (run-time ids): "
    "recovery-instance ARNs of this account and Region.",
    "DrsTerminateManagedInstances": "Only instances carrying DRS's AWSElasticDisasterRecoveryManaged tag, only "
    "through an AWS service (DRS terminating).",
    "DrsTerminateManagedVolumes": "Only volumes carrying DRS's tag, only through an AWS service (DRS terminating).",
    "SsmSendCommandDocuments": "Only the deploy-configured script documents (context allowedSsmDocuments); a "
    "'prefix*' entry names documents by prefix on purpose.",
    "SsmSendCommandToScriptTargets": "Scripts run on instances chosen by a plan at run time: only those carrying "
    "the deploy-configured script-target tag (context scriptTargetTag).",
    "SsmSendCommandToRecoveryInstances": "Post-launch scripts run on recovery instances (run-time ids): only "
    "those DRS launched (its AWSElasticDisasterRecoveryManaged tag) and carrying the source-server tag "
    "StartRecovery is limited to, when one is configured.",
    "SsmDescribeDocument": "The parameters a script document declares: only the allowed documents.",
    "SsmStartAutomationRunbooks": "Only the deploy-configured runbooks (context allowedSsmDocuments, the same "
    "allow-list), any version; a 'prefix*' entry names runbooks by prefix on purpose.",
    "SsmStopAutomations": "A cancel stops the runbooks of SSM_AUTOMATION steps still running, whose ids are known "
    "only at run time: executions of this account and Region, stop only.",
    "SsmAutomationExecutions": "An automation execution's id is known only once it starts: executions of this "
    "account and Region (read, and stopped at its step's timeout).",
    "LaunchSettingsConfiguration": "The DRS launch configuration of any source server a plan names (chosen at run "
    "time): source-server ARNs of this account and Region, narrowed by the source-server tag when configured.",
    "LaunchSettingsTemplates": "The EC2 launch template DRS keeps per source server (ids known only at run time): "
    "only templates carrying DRS's AWSElasticDisasterRecoveryManaged tag.",
    "Ec2NetworkReads": "The subnets, security groups, network interfaces and instance type offerings a plan's launch "
    "settings name, checked before anything launches: EC2 Describe* actions have no resource-level permissions.",
    "EvidenceArchive": "The archive function stores each ended execution's report under executions/<executionId>/ "
    "(ids known only at run time): objects of that prefix of the evidence bucket only.",
    "SchedulerTicks": "One-shot tick schedules are named per execution and wave at run time; limited to the "
    "orchestrator's schedule group.",
    "PlanStoreReadsVersions": "StartPlan reads the stored plan version a planRef names (chosen at start time): "
    "objects under plans/ of the plan store only.",
}

# ---- DRS: which function may do what ---------------------------------------------------------------
# What each function's code calls (orchestrator/steps: preflight and scripts run in pre_launch, scripts in
# post_launch, the launch and the capacity queue in launch_wave, the watcher's polls in job_watcher,
# terminations in control; post_launch reads the job a DRSJobCompleted reports, to record DRS's answer rather
# than the event's; start_plan reads the source servers a plan's sourceServerTags select). Only the wave launcher
# starts recoveries; only the control function terminates. "network": the EC2 reads of the network checks of
# launch settings (at StartPlan for the whole plan, and again in the wave preflight, in pre_launch; their DRS read
# is the recovery instances of a server whose static IP an instance holds). "launch_settings": a plan's launch
# settings applied before StartRecovery and restored (`launch_settings_statements`, a managed policy of their own):
# the wave launcher applies them, restores them when a launch does not happen, and restores a stale hold's; the
# post-launch step restores them once the wave's jobs ended and reads where each recovery instance landed.
DRS_CAPABILITIES: dict[str, frozenset[str]] = {
    "start_plan": frozenset({"source_servers", "recovery_instances", "network", "reverse_replication"}),
    "pre_launch": frozenset({"source_servers", "recovery_snapshots", "recovery_instances", "network"}),
    "launch_wave": frozenset({"jobs", "start_recovery", "launch_settings", "failback_launch"}),
    "job_watcher": frozenset({"jobs", "job_log"}),
    "post_launch": frozenset({"jobs", "recovery_instances", "launch_settings"}),
    "control": frozenset({"jobs", "recovery_instances", "job_log", "terminate", "stop_failback"}),
}

DEFAULT_SCRIPT_TARGET_TAG = ("drs-orch:script-target", "allowed")


@dataclass(frozen=True)
class PermissionSettings:
    """Deployment choices that narrow the grants (from cdk.json context)."""

    # StartRecovery only for source servers with this tag (key, value); None: any source server.
    source_server_tag: tuple[str, str] | None = None
    # Roles DRS may pass to recovery instances (instance profiles); patterns are allowed.
    recovery_instance_role_names: Sequence[str] = ("AWSElasticDisasterRecoveryRecoveryInstanceRole",)
    # SSM documents the script steps may run: names, or `prefix*` patterns (context allowedSsmDocuments).
    allowed_ssm_documents: Sequence[str] = ()
    # Instances scripts may target besides the recovery instances DRS launched (context scriptTargetTag).
    script_target_tag: tuple[str, str] = DEFAULT_SCRIPT_TARGET_TAG
    # The unqualified function ARNs LAMBDA steps may invoke (context allowedLambdaFunctions); none: no grant.
    allowed_lambda_functions: Sequence[str] = ()
    # The role SSM_AUTOMATION runbooks run as (infra/constructs/automation_role.py): the only role the script
    # functions may pass, only to SSM. None: no PassRole (runbooks without an AutomationAssumeRole parameter).
    automation_role_arn: str | None = None
    # Other Regions of this account that plans may target without a role (issue #15: a wave `target` with no roleArn,
    # context targetRegions): each DRS, EC2 and SSM grant of the orchestrator's functions scoped to this Region is
    # granted in exactly these Regions too (`in_region`: a managed policy per Region); none: this Region only.
    target_regions: Sequence[str] = ()


def in_region(scope: Construct, statements: Sequence[iam.PolicyStatement], region: str) -> list[iam.PolicyStatement]:
    """The twins of `statements` in `region`: each statement with a resource ARN scoped to this stack's Region
    (`_arn`'s) again, with only those ARNs, in `region` (the same Sid, actions, conditions, account, resource type
    and name). Statements without such an ARN (`*` only, IAM roles, ARNs given whole, such as a shared document's)
    need no twin: nothing is widened beyond exactly `region`. None for the stack's own Region."""
    here = f":{Stack.of(scope).region}:"
    if f":{region}:" == here:
        return []
    twins = []
    for statement in statements:
        regional = [arn.replace(here, f":{region}:", 1) for arn in statement.resources if here in arn]
        if regional:
            twins.append(
                iam.PolicyStatement(
                    sid=statement.sid,
                    effect=statement.effect,
                    actions=list(statement.actions),
                    resources=regional,
                    conditions=statement.conditions or None,
                )
            )
    return twins


def _arn(scope: Construct, service: str, resource: str, name: str, *, account: bool = True, sep: str = "/") -> str:
    stack = Stack.of(scope)
    return f"arn:{Aws.PARTITION}:{service}:{stack.region}:{stack.account if account else ''}:{resource}{sep}{name}"


def _ec2(scope: Construct, resource: str) -> str:
    """Every EC2 resource of this type in this account and Region (images have no account in their ARN)."""
    return _arn(scope, "ec2", resource, "*", account=resource != "image")


def _conditions(*parts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for operator, keys in part.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


def _via_drs(
    sid: str, actions: Sequence[str], resources: Sequence[str], *conditions: dict[str, dict[str, Any]]
) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        sid=sid,
        actions=list(actions),
        resources=list(resources),
        conditions=_conditions(VIA_AWS_SERVICE, *conditions),
    )


def drs_statements(scope: Construct, function_name: str, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    capabilities = DRS_CAPABILITIES.get(function_name, frozenset())
    source_servers = _arn(scope, "drs", "source-server", "*")
    statements: list[iam.PolicyStatement] = []
    reads = (
        ("jobs", "DrsDescribeJobs", DRS_DESCRIBE_JOBS),
        ("source_servers", "DrsDescribeSourceServers", DRS_DESCRIBE_SOURCE_SERVERS),
        ("recovery_instances", "DrsDescribeRecoveryInstances", DRS_DESCRIBE_RECOVERY_INSTANCES),
    )
    for capability, sid, actions in reads:  # list-level reads without resource-level permissions
        if capability in capabilities:
            statements.append(iam.PolicyStatement(sid=sid, actions=list(actions), resources=["*"]))
    if "recovery_snapshots" in capabilities:  # the preflight checks that pinned recovery snapshots exist
        statements.append(
            iam.PolicyStatement(
                sid="DrsSnapshotReads", actions=["drs:DescribeRecoverySnapshots"], resources=[source_servers]
            )
        )
    if "job_log" in capabilities:  # why a server did not launch: the job's log (the job is read by its ARN)
        statements.append(
            iam.PolicyStatement(
                sid="DrsJobLogReads", actions=["drs:DescribeJobLogItems"], resources=[_arn(scope, "drs", "job", "*")]
            )
        )
    if "network" in capabilities:  # EC2 Describe*: no resource-level permissions
        statements.append(iam.PolicyStatement(sid="Ec2NetworkReads", actions=list(EC2_NETWORK_READS), resources=["*"]))
    if "start_recovery" in capabilities:
        statements += start_recovery_statements(scope, settings)
    if "terminate" in capabilities:
        statements += terminate_statements(scope)
    return statements


def failback_statements(
    scope: Construct, function_name: str, settings: PermissionSettings
) -> list[iam.PolicyStatement]:
    """The failback engine's DRS calls (issue #15 item 4: orchestrator/steps/failback.py, reprotect.py, the launcher's
    StartFailbackLaunch), for the function with each capability (none otherwise), as the Service Authorization
    Reference scopes each. "failback_launch" (the wave launcher): StartFailbackLaunch (non-EC2 origins) on
    recovery-instance ARNs, its required resource type, and tagging only as part of it (the launch key on its job,
    as on StartRecovery's); it lists no dependent action (drs:CreateRecoveryInstanceForDrs stays StartRecovery's).
    "reverse_replication" (the start function, which starts a failback and a reprotect): ReverseReplication (EC2
    origins) on recovery-instance ARNs with its dependent reads, and StartReplication (a reprotect of non-EC2
    origins) on source-server ARNs narrowed by the source-server tag as StartRecovery is. "stop_failback" (the
    control function: a cancelled failback): StopFailback on recovery-instance ARNs. A managed policy of their own
    on AWS (infra/constructs/functions.py): inline, they would take the launcher's role policy past IAM's inline
    size."""
    capabilities = DRS_CAPABILITIES.get(function_name, frozenset())
    recovery_instances = _arn(scope, "drs", "recovery-instance", "*")
    statements = []
    if "failback_launch" in capabilities:
        statements += [
            iam.PolicyStatement(
                sid="DrsFailbackLaunch", actions=["drs:StartFailbackLaunch"], resources=[recovery_instances]
            ),
            iam.PolicyStatement(
                sid="DrsTagFailbackJobOnCreate",
                actions=["drs:TagResource"],
                resources=[_arn(scope, "drs", "job", "*")],
                conditions={"StringEquals": {"drs:CreateAction": "StartFailbackLaunch"}},
            ),
        ]
    if "reverse_replication" in capabilities:
        statements += [
            iam.PolicyStatement(
                sid="DrsReverseReplication", actions=["drs:ReverseReplication"], resources=[recovery_instances]
            ),
            iam.PolicyStatement(
                sid="DrsReverseReplicationReads",
                actions=[*DRS_DESCRIBE_REPLICATION_TEMPLATES, *DRS_DESCRIBE_SOURCE_SERVERS, "ec2:DescribeInstances"],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="DrsStartReplication",
                actions=["drs:StartReplication"],
                resources=[_arn(scope, "drs", "source-server", "*")],
                conditions=_source_server_tag(settings),
            ),
        ]
    if "stop_failback" in capabilities:
        statements.append(
            iam.PolicyStatement(sid="DrsStopFailback", actions=["drs:StopFailback"], resources=[recovery_instances])
        )
    return statements


def own_account_statements(scope: Construct, spec: Function, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """The DRS, EC2 and SSM statements of function `spec`'s role policy: the calls it makes in the account it
    recovers into (the orchestrator's own today; each target account's too, through the target-account stack's
    role: infra/constructs/target_account.py). The launch-settings statements are `launch_settings_statements`
    (a managed policy of their own); nothing else of the role (ledger, bus, scheduler, Lambda) is here."""
    statements: list[iam.PolicyStatement] = []
    if spec.needs_drs:
        statements += drs_statements(scope, spec.name, settings)
    if spec.needs_ssm:
        statements += ssm_statements(scope, settings)
    elif spec.needs_ssm_documents:  # StartPlan reads the allowed documents only
        statements.append(ssm_document_statement(scope, settings))
    if spec.stops_automations:
        statements.append(automation_stop_statement(scope))
    return statements


def _source_server_tag(settings: PermissionSettings) -> dict[str, dict[str, str]] | None:
    """The condition limiting a source-server action to the deploy-configured source-server tag, if any."""
    if settings.source_server_tag is None:
        return None
    key, value = settings.source_server_tag
    return {"StringEquals": {f"aws:ResourceTag/{key}": value}}


def launch_settings_statements(
    scope: Construct, function_name: str, settings: PermissionSettings
) -> list[iam.PolicyStatement]:
    """A plan's launch settings (orchestrator/steps/launch_settings.py), for a function with the launch_settings
    capability (none otherwise): each server's DRS launch configuration read (the wave launcher only, before it
    applies) and updated, on source-server ARNs narrowed by the source-server tag as StartRecovery is; a version
    of its EC2 launch template created from the default (the wave launcher only) and made the default, then the
    previous one made the default again, only on templates carrying DRS's AWSElasticDisasterRecoveryManaged tag
    (both actions take `aws:ResourceTag` on launch-template, Service Authorization Reference; AWS's
    AWSElasticDisasterRecoveryServiceRolePolicy and ConsoleFullAccess scope the same actions the same way). These
    are the function's own calls, so, unlike the EC2 statements DRS uses while it launches, they carry no
    `aws:ViaAWSService` condition. Then the reads: the template's versions, the recovery instances' subnet and IP."""
    if "launch_settings" not in DRS_CAPABILITIES.get(function_name, frozenset()):
        return []
    applies = function_name == "launch_wave"  # post_launch only restores (and reads where instances landed)
    return [
        iam.PolicyStatement(
            sid="LaunchSettingsConfiguration",
            actions=[*(["drs:GetLaunchConfiguration"] if applies else []), "drs:UpdateLaunchConfiguration"],
            resources=[_arn(scope, "drs", "source-server", "*")],
            conditions=_source_server_tag(settings),
        ),
        iam.PolicyStatement(
            sid="LaunchSettingsTemplates",
            actions=[*(["ec2:CreateLaunchTemplateVersion"] if applies else []), "ec2:ModifyLaunchTemplate"],
            resources=[_ec2(scope, "launch-template")],
            conditions=RESOURCE_MANAGED_BY_DRS,
        ),
        iam.PolicyStatement(sid="LaunchSettingsReads", actions=list(EC2_LAUNCH_SETTINGS_READS), resources=["*"]),
    ]


def start_recovery_statements(scope: Construct, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """StartRecovery, and what DRS does with the caller's credentials while it launches."""
    source_servers = _arn(scope, "drs", "source-server", "*")
    return [
        iam.PolicyStatement(
            sid="DrsStartRecovery",
            actions=["drs:StartRecovery"],
            resources=[source_servers],
            conditions=_source_server_tag(settings),
        ),
        # The launch key tags on the job: only as part of StartRecovery, never on existing resources.
        iam.PolicyStatement(
            sid="DrsTagJobOnCreate",
            actions=["drs:TagResource"],
            resources=[_arn(scope, "drs", "job", "*"), _arn(scope, "drs", "recovery-instance", "*")],
            conditions={"StringEquals": {"drs:CreateAction": "StartRecovery"}},
        ),
        # Permission-only action DRS authorises against the caller for each source server it recovers: on
        # source-server ARNs, as AWSElasticDisasterRecoveryServiceRolePolicy (DRSServiceRolePolicy3) grants it.
        iam.PolicyStatement(
            sid="DrsCreateRecoveryInstance", actions=["drs:CreateRecoveryInstanceForDrs"], resources=[source_servers]
        ),
        iam.PolicyStatement(sid="DrsLaunchDescribe", actions=list(EC2_LAUNCH_DESCRIBE), resources=["*"]),
        *ec2_launch_statements(scope),
        iam.PolicyStatement(
            sid="DrsLaunchPassInstanceRole",
            actions=["iam:PassRole"],
            resources=[
                f"arn:{Aws.PARTITION}:iam::{Stack.of(scope).account}:role/{path}{name}"
                for name in settings.recovery_instance_role_names
                for path in ("", "service-role/")
            ],
            # as AWSElasticDisasterRecoveryLaunchActionsPolicy (LaunchActionsPolicy11) passes its instance role
            conditions=_conditions({"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}, CALLED_VIA_DRS),
        ),
    ]


# EC2 creations DRS makes while launching; the tag condition is on the request (the resource is new).
EC2_LAUNCH_CREATE = (
    "ec2:RunInstances",
    "ec2:CreateVolume",
    "ec2:CreateSnapshot",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateSecurityGroup",
)


def ec2_launch_statements(scope: Construct) -> list[iam.PolicyStatement]:
    """The EC2 actions DRS performs with the caller's credentials during StartRecovery, statement by statement
    as AWSElasticDisasterRecoveryConsoleFullAccess v8 grants them (ConsoleFullAccess9 to 27, 30): each only
    through an AWS service (`aws:ViaAWSService`), each creation only with DRS's tag in the request, each change
    only on a resource carrying DRS's tag. (AWS leaves the launch-template statements and CreateSecurityGroup on
    a VPC without `aws:ViaAWSService` because console users edit DRS's launch templates; no code of ours calls
    EC2, so here they carry it too.)"""
    instance, volume, snapshot = _ec2(scope, "instance"), _ec2(scope, "volume"), _ec2(scope, "snapshot")
    security_group, launch_template = _ec2(scope, "security-group"), _ec2(scope, "launch-template")
    return [
        _via_drs("DrsLaunchInstance", ["ec2:RunInstances"], [instance], REQUEST_TAGGED_BY_DRS),
        _via_drs(
            "DrsLaunchInstanceResources",
            ["ec2:RunInstances"],
            [
                security_group,
                volume,
                _ec2(scope, "subnet"),
                _ec2(scope, "image"),
                _ec2(scope, "network-interface"),
                launch_template,
            ],
        ),
        _via_drs("DrsCreateVolume", ["ec2:CreateVolume"], [volume], REQUEST_TAGGED_BY_DRS),
        _via_drs("DrsCreateVolumeFromSnapshot", ["ec2:CreateVolume"], [snapshot], RESOURCE_MANAGED_BY_DRS),
        _via_drs("DrsCreateSnapshot", ["ec2:CreateSnapshot"], [snapshot], REQUEST_TAGGED_BY_DRS),
        _via_drs("DrsCreateSnapshotOfVolume", ["ec2:CreateSnapshot"], [volume], RESOURCE_MANAGED_BY_DRS),
        _via_drs("DrsCreateSecurityGroup", ["ec2:CreateSecurityGroup"], [security_group], REQUEST_TAGGED_BY_DRS),
        _via_drs("DrsCreateSecurityGroupInVpc", ["ec2:CreateSecurityGroup"], [_ec2(scope, "vpc")]),
        _via_drs("DrsCreateLaunchTemplate", ["ec2:CreateLaunchTemplate"], [launch_template], REQUEST_TAGGED_BY_DRS),
        _via_drs(
            "DrsManagedInstances",
            [
                "ec2:StartInstances",
                "ec2:StopInstances",
                "ec2:TerminateInstances",
                "ec2:ModifyInstanceAttribute",
                "ec2:AttachVolume",
                "ec2:DetachVolume",
            ],
            [instance],
            RESOURCE_MANAGED_BY_DRS,
        ),
        _via_drs("DrsManagedVolumes", ["ec2:AttachVolume", "ec2:DeleteVolume"], [volume], RESOURCE_MANAGED_BY_DRS),
        _via_drs("DrsDetachVolume", ["ec2:DetachVolume"], [volume]),
        _via_drs("DrsManagedSnapshots", ["ec2:DeleteSnapshot"], [snapshot], RESOURCE_MANAGED_BY_DRS),
        _via_drs(
            "DrsManagedLaunchTemplates",
            ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplateVersions"],
            [launch_template],
            RESOURCE_MANAGED_BY_DRS,
        ),
        _via_drs(
            "DrsManagedSecurityGroups",
            ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"],
            [security_group],
            RESOURCE_MANAGED_BY_DRS,
        ),
        _via_drs(
            "DrsLaunchTagOnCreate",
            ["ec2:CreateTags"],
            [instance, volume, snapshot, security_group, launch_template],
            {"StringEquals": {"ec2:CreateAction": [action.split(":")[1] for action in EC2_LAUNCH_CREATE]}},
        ),
    ]


def terminate_statements(scope: Construct) -> list[iam.PolicyStatement]:
    """TerminateRecoveryInstances, and what DRS does with the caller's credentials to terminate them."""
    return [
        iam.PolicyStatement(
            sid="DrsTerminate",
            actions=["drs:TerminateRecoveryInstances"],
            resources=[_arn(scope, "drs", "recovery-instance", "*")],
        ),
        _via_drs(
            "DrsTerminateManagedInstances",
            ["ec2:TerminateInstances"],
            [_ec2(scope, "instance")],
            RESOURCE_MANAGED_BY_DRS,
        ),
        _via_drs("DrsTerminateManagedVolumes", ["ec2:DeleteVolume"], [_ec2(scope, "volume")], RESOURCE_MANAGED_BY_DRS),
    ]


def document_arn(scope: Construct, name: str) -> str:
    """An SSM document's ARN; AWS-owned documents (`AWS-...`) have no account in it; a document shared from
    another account is named by its ARN already. `prefix*` stays a pattern."""
    if name.startswith("arn:"):
        return name
    return _arn(scope, "ssm", "document", name, account=not name.startswith("AWS-"))


def _document_arns(scope: Construct, settings: PermissionSettings) -> list[str]:
    if not settings.allowed_ssm_documents:
        raise ValueError("allowedSsmDocuments is empty: no script could run (name the documents plans may run)")
    return [document_arn(scope, name) for name in settings.allowed_ssm_documents]


def ssm_document_statement(scope: Construct, settings: PermissionSettings) -> iam.PolicyStatement:
    """The parameters an allowed document declares (StartPlan checks a plan's scripts against them; a script
    step passes the run context only where declared)."""
    return iam.PolicyStatement(
        sid="SsmDescribeDocument", actions=["ssm:DescribeDocument"], resources=_document_arns(scope, settings)
    )


def ssm_statements(scope: Construct, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """SendCommand of the allowed documents only, to instances carrying the script-target tag or launched by DRS
    (SSM evaluates `ssm:resourceTag/...` on the EC2 instance: Systems Manager user guide, "Restricting Run Command
    access based on tags"); a command needs both its document and each of its instances allowed."""
    documents = _document_arns(scope, settings)
    instances = _ec2(scope, "instance")
    key, value = settings.script_target_tag
    launched_by_drs: dict[str, dict[str, str]] = {"Null": {f"ssm:resourceTag/{DRS_MANAGED_TAG_KEY}": "false"}}
    if settings.source_server_tag:  # DRS copies the source server's tags to its instance (launch setting copyTags)
        server_key, server_value = settings.source_server_tag
        launched_by_drs["StringEquals"] = {f"ssm:resourceTag/{server_key}": server_value}
    return [
        iam.PolicyStatement(sid="SsmSendCommandDocuments", actions=["ssm:SendCommand"], resources=documents),
        iam.PolicyStatement(
            sid="SsmSendCommandToScriptTargets",
            actions=["ssm:SendCommand"],
            resources=[instances],
            conditions={"StringEquals": {f"ssm:resourceTag/{key}": value}},
        ),
        iam.PolicyStatement(
            sid="SsmSendCommandToRecoveryInstances",
            actions=["ssm:SendCommand"],
            resources=[instances],
            conditions=launched_by_drs,
        ),
        ssm_document_statement(scope, settings),
        # Command reads and cancel have no resource-level permissions.
        iam.PolicyStatement(sid="SsmCommandReads", actions=list(SSM_COMMAND_READ), resources=["*"]),
        *automation_statements(scope, settings),
    ]


def lambda_invoke_statement(settings: PermissionSettings) -> iam.PolicyStatement | None:
    """lambda:InvokeFunction (the action of Invoke, asynchronous ones included) on the allowed functions only, or
    None when the deploy allows none (no LAMBDA step can run)."""
    if not settings.allowed_lambda_functions:
        return None
    return iam.PolicyStatement(
        sid="LambdaStepsInvoke", actions=["lambda:InvokeFunction"], resources=list(settings.allowed_lambda_functions)
    )


def automation_stop_statement(scope: Construct) -> iam.PolicyStatement:
    """A cancel's StopAutomationExecution (the control function): executions of this account and Region only."""
    return iam.PolicyStatement(
        sid="SsmStopAutomations",
        actions=["ssm:StopAutomationExecution"],
        resources=[_arn(scope, "ssm", "automation-execution", "*")],
    )


def automation_definition_arn(scope: Construct, name: str) -> str:
    """The IAM resource StartAutomationExecution is authorized on: `automation-definition/NAME:VERSION` (Service
    Authorization Reference, AWS Systems Manager; AWS-owned runbooks have no account in it), any version of an
    allowed runbook (`:*`; a `prefix*` entry already matches every version)."""
    if name.startswith("arn:"):
        return name.replace(":document/", ":automation-definition/") + ("" if name.endswith("*") else ":*")
    resource = name if name.endswith("*") else f"{name}:*"
    return _arn(scope, "ssm", "automation-definition", resource, account=not name.startswith("AWS-"))


def automation_statements(scope: Construct, settings: PermissionSettings) -> list[iam.PolicyStatement]:
    """SSM_AUTOMATION steps (orchestrator/steps/automation.py): StartAutomationExecution of the allowed runbooks only
    (the same allow-list as SendCommand's documents), GetAutomationExecution and StopAutomationExecution of this
    account's executions (`automation-execution/*`: ids known only at run time), and iam:PassRole of the Automation
    role only, only to SSM (the runbooks' AutomationAssumeRole)."""
    runbooks = [automation_definition_arn(scope, name) for name in settings.allowed_ssm_documents]
    statements = [
        iam.PolicyStatement(
            sid="SsmStartAutomationRunbooks", actions=["ssm:StartAutomationExecution"], resources=runbooks
        ),
        iam.PolicyStatement(
            sid="SsmAutomationExecutions",
            actions=["ssm:GetAutomationExecution", "ssm:StopAutomationExecution"],
            resources=[_arn(scope, "ssm", "automation-execution", "*")],
        ),
    ]
    if settings.automation_role_arn:
        statements.append(
            iam.PolicyStatement(
                sid="SsmAutomationPassRole",
                actions=["iam:PassRole"],
                resources=[settings.automation_role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}},
            )
        )
    return statements


# ---- the operator-proof key (infra/constructs/operator_proof.py) --------------------------------------


def operator_proof_statement(key_arn: str, use: str) -> iam.PolicyStatement:
    """The identity-policy side of the operator-proof key's grants: GenerateMac ("generate": the operator
    function) or VerifyMac ("verify": StartPlan, control) on that key only, with HMAC_SHA_256 only. The key
    policy names the same roles; both must allow (the key policy does not delegate to IAM)."""
    action = {"generate": "kms:GenerateMac", "verify": "kms:VerifyMac"}[use]
    return iam.PolicyStatement(
        actions=[action],
        resources=[key_arn],
        conditions={"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}},
    )
