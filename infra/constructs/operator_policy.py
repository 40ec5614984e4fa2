"""The IAM policies of the people who use `drs-orch` against a deployed stack: what its AWS verbs call, no more.

Two customer-managed policies, because two kinds of people hold them:

- **operate** (stack output `OperatorPolicyArn`): start a drill on the bus (`run --aws --bus`), start a RECOVERY
  and send the operator commands through the operator URL (`run --recovery --confirm --aws`, approve, deny,
  pause, resume, cancel, retry, skip `--aws`), finding the URL in the stack's outputs. Each of these changes what
  runs; the bus policy and the operator function still decide who may start what (publishers, recovery
  principals, a wave's approvers).
- **read** (stack output `ReaderPolicyArn`): the record of a run (`report --table`, and the dashboard's pages,
  `ui --aws`: its buttons send the operator commands, which need **operate**), the replay of its events
  compared with the ledger (`inspect --aws`), and a plan's scripts checked against their documents
  (`validate --aws`, and its launch settings against the account's network). Nothing in it starts, stops or
  decides anything: an auditor, or a plan author who may check plans but not run them, holds it alone; an
  operator holds both. `import-native --aws` reads a native DRS recovery plan (it writes only a local file).
- `export-native --aws` creates or updates a native DRS recovery plan: it is in **operate**, with the reads it
  makes first (source servers, the plan of that name and its steps).

Each statement names this stack's resources only: its bus (PutEvents only for StartPlan with the orchestrator's
source), its operator function (through its AWS_IAM URL only), its own stack (DescribeStacks), its ledger table
(the reads the report makes, on the table, not its index), its archive, and the inspector's temporary rule,
queue and replay by the name prefixes `drs-orch inspect` gives them (orchestrator/reporting/inspect.py,
`replay_archive`). The SSM documents are those of the deploy's script allow-list (`allowedSsmDocuments`):
`validate --aws` reads only the allowed documents a plan names.

`tests/infra/test_cli_grants_match_calls.py` runs every verb of `VERBS` against the local cloud with the
call recorder on the CLI's clients, and fails when a verb calls an action its policy does not grant, or when a
policy grants an action no verb of it calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from events.models import SOURCE
from infra.constructs.evidence import EvidenceBucket
from infra.constructs.permissions import DRS_EXTEND_STAR, EC2_NETWORK_READS, document_arn
from infra.definitions import EXECUTIONS_INDEX

if TYPE_CHECKING:
    from infra.constructs.plan_store import PlanStore

OPERATE = "operate"
READ = "read"
# the CLI verbs (as their --help names them) each policy serves: the grant test runs each one
VERBS: dict[str, tuple[str, ...]] = {
    OPERATE: (
        "run --aws --bus",
        "run --recovery --confirm --aws",
        "approve --aws",
        "deny --aws",
        "pause --aws",
        "resume --aws",
        "cancel --aws",
        "retry --aws",
        "skip --aws",
        "export-native --aws",
        "extend --aws",
        "plan push --aws",
        "run --plan-ref --aws",
    ),
    READ: (
        "report --table",
        "report --aws",
        "inspect --aws",
        "validate --aws",
        "import-native --aws",
        "plan list --aws",
        "plan show --aws",
        "ui --aws",
    ),
}
# the names `drs-orch inspect --aws` gives what it creates and deletes (orchestrator/reporting/inspect.py)
INSPECTOR_PREFIX = "drs-orch-inspector-"  # its rule on the bus and its SQS queue
REPLAY_PREFIX = "inspect-"  # its replay of the archive

# cdk-nag IAM5 acknowledgements (infra/constructs/nag.py): the reason of each statement naming a wildcard
WILDCARD_REASONS: dict[str, str] = {
    "InspectorRule": f"drs-orch inspect creates a rule named {INSPECTOR_PREFIX}<random> on this stack's bus for "
    "one replay and deletes it after: only rules of that prefix on this bus.",
    "InspectorRuleTargets": f"Only the inspector's own rules ({INSPECTOR_PREFIX}*) on this bus, and only to the "
    "inspector's own queues (events:TargetArn).",
    "InspectorQueue": f"drs-orch inspect creates an SQS queue named {INSPECTOR_PREFIX}<random> for one replay and "
    "deletes it after: only queues of that prefix.",
    "InspectorReplay": f"A replay of this stack's archive onto its bus, named {REPLAY_PREFIX}<random> by drs-orch "
    "inspect: only replays of that prefix.",
    "ImportReadsNativePlans": "drs-orch import-native reads the native recovery plan the operator names, by ARN or "
    "name: any recovery plan of this account and Region (recovery-plan/*), never another resource type.",
    "ExportReadsNativePlans": "drs-orch export-native reads the native plan of the name it writes (its tags say "
    "whether drs-orch made it) and its steps: recovery plans of this account and Region only.",
    "ExportWritesNativePlanSteps": "drs-orch export-native replaces the steps of the native plan it made and sets "
    "its description; the plan's ARN exists only once DRS creates it: recovery plans (and their steps, whose ARNs "
    "are under the plan's) of this account and Region only.",
    "ExportTagsNativePlanOnCreate": "The drs-orch:plan-id tag on the native plan export-native creates: only as "
    "part of CreateRecoveryPlan (drs:CreateAction), never on an existing resource.",
    "ExtendTagsExtendedServerOnCreate": "The drs-orch:plan-id tag on the extended source servers drs-orch extend "
    "creates: only as part of CreateExtendedSourceServer (drs:CreateAction), never on an existing resource; their "
    "ids exist only once DRS creates them.",
    "ReadStoredReports": "drs-orch report --aws reads the stored report of the execution the operator names "
    "(executions/<executionId>/report.json): objects of that prefix of the evidence bucket only.",
    "ValidateReadsAllowedDocuments": "The script documents of the deploy's allow-list (context "
    "allowedSsmDocuments); a 'prefix*' entry names documents by prefix on purpose.",
    "PushPlanVersions": "drs-orch plan push writes a new version of a stored plan: only objects under plans/ of the "
    "plan store, only with If-None-Match (a version is written once); version keys exist only once pushed.",
    "PushPlanReadsVersions": "plan push and run --plan-ref read the stored versions (the latest one's digest, the "
    "version to start): objects under plans/ of the plan store only.",
    "ShowPlanReadsVersions": "drs-orch plan show reads a stored plan version: objects under plans/ of the plan "
    "store only.",
}


class OperatorPolicies(Construct):
    """`operate` and `read`: the customer-managed policies of the CLI's users (see the module docstring)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        archive: events.Archive,
        table: dynamodb.ITable,
        operator_function: lambda_.IFunction,
        allowed_ssm_documents: Sequence[str],
        plan_store: PlanStore,
        evidence: EvidenceBucket | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.operate = iam.ManagedPolicy(
            self,
            "Operate",
            description="drs-orch: start drills on the bus, start recoveries and send operator commands through "
            "the operator URL, push stored plans",
            statements=[*operate_statements(stack, bus, operator_function), *plan_store.push_statements()],
        )
        self.read = iam.ManagedPolicy(
            self,
            "Read",
            description="drs-orch: read a run's report from the ledger (or the evidence bucket), replay its events "
            "(inspect), check plans against their SSM documents (validate --aws), read stored plans",
            statements=[
                *read_statements(stack, bus, archive, table, allowed_ssm_documents),
                *plan_store.read_statements(sid_prefix="ShowPlan"),
                # `plan list|show --aws` without --bucket: the stack's PlanBucketName output
                iam.PolicyStatement(
                    sid="FindThePlanBucket", actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id]
                ),
                # `report --aws`: the stored report of an execution the ledger no longer holds (issue #16)
                *(evidence.report_reader_statements() if evidence is not None else []),
            ],
        )


def _recovery_plans(stack: Stack) -> str:
    """Every native DRS recovery plan of this account and Region, and so every step (`<plan ARN>/step/...`)."""
    return stack.format_arn(service="drs", resource="recovery-plan", resource_name="*")


def operate_statements(
    stack: Stack, bus: events.IEventBus, operator_function: lambda_.IFunction
) -> list[iam.PolicyStatement]:
    return [
        *_control_statements(stack, bus, operator_function),
        *export_native_statements(stack),
        *extend_statements(stack),
    ]


def extend_statements(stack: Stack) -> list[iam.PolicyStatement]:
    """`extend --aws`: which staging servers are extended (DescribeSourceServers, granted with export-native's
    list statement), which the staging accounts offer, then CreateExtendedSourceServer of each missing one, tagged
    `drs-orch:plan-id`. Neither action has resource-level permissions (Service Authorization Reference: empty
    Resource types column), so they are granted on "*" (STAR_ONLY_ACTIONS)."""
    return [
        iam.PolicyStatement(
            sid="ExtendCreatesExtendedSourceServers",
            actions=list(DRS_EXTEND_STAR),
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ExtendTagsExtendedServerOnCreate",
            actions=["drs:TagResource"],
            resources=[stack.format_arn(service="drs", resource="source-server", resource_name="*")],
            conditions={"StringEquals": {"drs:CreateAction": "CreateExtendedSourceServer"}},
        ),
    ]


def export_native_statements(stack: Stack) -> list[iam.PolicyStatement]:
    """`export-native --aws`: the account's source servers (their ARNs, tags for selectors), then create a native
    plan, or read the one of that name and replace its steps and description."""
    plans = _recovery_plans(stack)
    return [
        # list-level and create actions without resource-level permissions (STAR_ONLY_ACTIONS)
        iam.PolicyStatement(
            sid="ExportListsServersAndPlans",
            actions=["drs:DescribeSourceServers", "drs:ListRecoveryPlans", "drs:CreateRecoveryPlan"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="ExportReadsNativePlans",
            actions=["drs:GetRecoveryPlan", "drs:ListRecoveryPlanSteps"],
            resources=[plans],
        ),
        iam.PolicyStatement(
            sid="ExportWritesNativePlanSteps",
            actions=["drs:UpdateRecoveryPlan", "drs:CreateRecoveryPlanStep", "drs:DeleteRecoveryPlanStep"],
            resources=[plans],
        ),
        # CreateRecoveryPlan with tags is also authorized against drs:TagResource (Service Authorization Reference)
        iam.PolicyStatement(
            sid="ExportTagsNativePlanOnCreate",
            actions=["drs:TagResource"],
            resources=[plans],
            conditions={"StringEquals": {"drs:CreateAction": "CreateRecoveryPlan"}},
        ),
    ]


def _control_statements(
    stack: Stack, bus: events.IEventBus, operator_function: lambda_.IFunction
) -> list[iam.PolicyStatement]:
    return [
        # `run --aws --bus`: one StartPlan entry with the orchestrator's source (the bus policy also requires
        # the caller to be a publisher; a RECOVERY is not started from the bus)
        iam.PolicyStatement(
            sid="StartDrillsOnTheBus",
            actions=["events:PutEvents"],
            resources=[bus.event_bus_arn],
            conditions={"StringEquals": {"events:source": SOURCE, "events:detail-type": "StartPlan"}},
        ),
        # the operator URL (AWS_IAM): both permissions a URL created since October 2025 needs, the second only
        # through the URL (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html), as CDK's
        # grant_invoke_url writes them
        iam.PolicyStatement(
            sid="CallTheOperatorUrl",
            actions=["lambda:InvokeFunctionUrl"],
            resources=[operator_function.function_arn],
            conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        ),
        iam.PolicyStatement(
            sid="InvokeTheOperatorThroughItsUrlOnly",
            actions=["lambda:InvokeFunction"],
            resources=[operator_function.function_arn],
            conditions={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        ),
        # the URL from the stack's OperatorUrl output, unless --operator-url is given
        iam.PolicyStatement(
            sid="FindTheOperatorUrl", actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id]
        ),
    ]


def read_statements(
    stack: Stack,
    bus: events.IEventBus,
    archive: events.Archive,
    table: dynamodb.ITable,
    allowed_ssm_documents: Sequence[str],
) -> list[iam.PolicyStatement]:
    rules = stack.format_arn(
        service="events", resource="rule", resource_name=f"{bus.event_bus_name}/{INSPECTOR_PREFIX}*"
    )
    queues = f"arn:{Aws.PARTITION}:sqs:{stack.region}:{stack.account}:{INSPECTOR_PREFIX}*"
    replays = stack.format_arn(service="events", resource="replay", resource_name=f"{REPLAY_PREFIX}*")
    return [
        # `report` and `inspect --table`: the ledger's items of one execution; `ui --aws` too, and its list of the
        # latest executions: a Query of the executions-by-start index
        iam.PolicyStatement(
            sid="ReadTheLedger",
            actions=["dynamodb:GetItem", "dynamodb:Query"],
            resources=[table.table_arn],
        ),
        iam.PolicyStatement(
            sid="ListTheExecutions",
            actions=["dynamodb:Query"],
            resources=[f"{table.table_arn}/index/{EXECUTIONS_INDEX}"],
        ),
        # `inspect --aws`: the archive's replay onto the bus, caught by a temporary rule into a temporary queue
        iam.PolicyStatement(
            sid="FindTheBusAndItsArchive",
            actions=["events:DescribeEventBus", "events:DescribeArchive"],
            resources=[bus.event_bus_arn, archive.archive_arn],
        ),
        iam.PolicyStatement(
            sid="InspectorRule",
            actions=["events:PutRule", "events:RemoveTargets", "events:DeleteRule"],
            resources=[rules],
        ),
        iam.PolicyStatement(
            sid="InspectorRuleTargets",
            actions=["events:PutTargets"],
            resources=[rules],
            conditions={"ForAllValues:ArnLike": {"events:TargetArn": queues}, "Null": {"events:TargetArn": "false"}},
        ),
        iam.PolicyStatement(
            sid="InspectorQueue",
            actions=[
                "sqs:CreateQueue",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:DeleteQueue",
            ],
            resources=[queues],
        ),
        # StartReplay is authorized on the archive, the destination bus and the replay (Service Authorization
        # Reference: resource types archive, event-bus, replay)
        iam.PolicyStatement(
            sid="InspectorReplay",
            actions=["events:StartReplay", "events:DescribeReplay"],
            resources=[archive.archive_arn, bus.event_bus_arn, replays],
        ),
        # `validate --aws`: the parameters each allowed document a plan names declares
        iam.PolicyStatement(
            sid="ValidateReadsAllowedDocuments",
            actions=["ssm:DescribeDocument"],
            resources=[document_arn(stack, name) for name in allowed_ssm_documents],
        ),
        # `validate --aws`: the subnets, groups, interfaces and instance type offerings a plan's launch settings
        # name (EC2 Describe* have no resource-level permissions)
        iam.PolicyStatement(sid="ValidateReadsTheNetwork", actions=list(EC2_NETWORK_READS), resources=["*"]),
        # `import-native --aws`: a native plan by name (ListRecoveryPlans has no resource-level permissions) or ARN
        iam.PolicyStatement(sid="ImportListsNativePlans", actions=["drs:ListRecoveryPlans"], resources=["*"]),
        iam.PolicyStatement(
            sid="ImportReadsNativePlans",
            actions=["drs:GetRecoveryPlan", "drs:ListRecoveryPlanSteps"],
            resources=[_recovery_plans(stack)],
        ),
    ]
