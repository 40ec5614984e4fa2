"""The one definition of the deployment that the CDK stack and the local cloud both read.

Rules (which events reach which function or state machine), the ledger key schema, each function's
environment and the wave state machine's substitutions live here, in plain Python, so a pattern or a
table key changed here changes what deploys *and* what `drs-orch run` executes locally.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from events.models import (
    DRS_LAUNCH_RESULT,
    DRS_SOURCE,
    LAMBDA_RESULT_FAILURE,
    LAMBDA_RESULT_SUCCESS,
    LAMBDA_SOURCE,
    OPERATOR_COMMANDS,
    OPERATOR_SOURCE,
    SOURCE,
    SOURCES,
    SSM_AUTOMATION_STATUS,
    SSM_COMMAND_STATUS,
    SSM_SOURCE,
)

INFRA_DIR = Path(__file__).resolve().parent
WAVE_LAUNCH_ASL = INFRA_DIR / "wave_launch.asl.json"
SSM_DOCUMENTS_DIR = INFRA_DIR / "ssm_documents"  # the project's own script documents, deployed by the stack

REPLAY_EXCLUSION: dict[str, Any] = {"replay-name": [{"exists": False}]}

# ---- the ledger table ----------------------------------------------------------------------------
TABLE_PARTITION_KEY = "pk"
TABLE_SORT_KEY = "sk"
TABLE_TTL_ATTRIBUTE = "expiresAt"
EXECUTIONS_INDEX = "executions-by-start"
"""The ledger's one global secondary index: the latest executions in one Query (`kind = EXECUTION`, `startedAt`
descending), for the console widget and the dashboard. Sparse: DynamoDB indexes only the items holding both key
attributes, the execution items (and the script and termination items, which also have a `kind` and a
`startedAt`, under their own `kind`), so no writer sets anything for it and an execution written before the index
existed is in it too."""
EXECUTIONS_INDEX_KEYS = ("kind", "startedAt")  # partition key, sort key (strings)
EXECUTIONS_INDEX_ATTRIBUTES = ("executionId", "planId", "planName", "mode", "status", "endedAt", "requestedBy")
"""The attributes the index carries besides the keys (projection INCLUDE): what a list of executions shows."""


def ledger_table_request(table_name: str) -> dict[str, Any]:
    """The ledger table as DynamoDB's CreateTable takes it (the local cloud and the tests create it so; the stack's
    `infra/constructs/ledger.py` declares the same keys and index): on-demand, `pk`/`sk`, `EXECUTIONS_INDEX`."""
    partition, sort = EXECUTIONS_INDEX_KEYS
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in (TABLE_PARTITION_KEY, TABLE_SORT_KEY, partition, sort)
        ],
        "KeySchema": [
            {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": EXECUTIONS_INDEX,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(EXECUTIONS_INDEX_ATTRIBUTES)},
            }
        ],
    }


# ---- functions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """One Lambda function: its handler module and what it may touch."""

    name: str
    module: str
    description: str
    needs_table: bool = True
    needs_bus: bool = True
    needs_scheduler: bool = False
    # deletes tick schedules it no longer needs (scheduler:DeleteSchedule): the script steps (needs_ssm) do, and the
    # control function, whose cancel cuts a running WAIT step short and deletes its tick
    deletes_ticks: bool = False
    needs_drs: bool = False
    needs_ssm: bool = False  # runs scripts (SendCommand, command reads; reads the documents too)
    # reads the allowed SSM documents only: StartPlan checks a plan's scripts against the allow-list and their
    # documents' declared parameters (DescribeDocument)
    needs_ssm_documents: bool = False
    # stops running SSM Automation executions (ssm:StopAutomationExecution): the control function, whose cancel stops
    # the runbooks of SSM_AUTOMATION steps still running (the script functions stop them at their timeout)
    stops_automations: bool = False
    # the operator endpoint: a Function URL (AWS_IAM) in front, the recovery principals in its environment,
    # and its own source on the bus (infra/constructs/operator.py); it publishes no choreography event
    operator: bool = False
    # the operator-proof KMS key (infra/constructs/operator_proof.py): "generate" (the operator function signs
    # its commands) or "verify" (StartPlan and control take the operator source only with a valid proof)
    operator_proof: Literal["", "generate", "verify"] = ""
    # reads the plan store (infra/constructs/plan_store.py): a StartPlan may name a stored plan's version (planRef)
    reads_plan_store: bool = False
    # queries the ledger's executions index (dynamodb:Query on it): StartPlan and Failback look for the plan's
    # RUNNING executions (a RECOVERY refused while its failback runs, and the other way round: issue #15)
    queries_executions: bool = False
    # watches recovery time objectives (ObjectiveAtRisk at the deploy's objectiveAtRiskPercent of an RTO): the
    # WaveReady that arms the ticks, and the function their ticks reach (issue #16)
    watches_objectives: bool = False
    # the evidence bucket (issue #16; infra/constructs/evidence.py): the archive function writes an ended
    # execution's reports there, and reads the ledger only (`ledger_read_only`: no ledger write is granted)
    needs_evidence: bool = False
    ledger_read_only: bool = False
    # starts DRS launches (issue #19): the launch packing settings (`LaunchPacking`) are in its environment
    packs_launches: bool = False
    timeout_seconds: int = 60
    memory_mb: int = 512

    @property
    def handler(self) -> str:
        return f"handlers.{self.module}.handler"


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        Function(
            "start_plan",
            "start_plan",
            "StartPlan: validate the plan, resolve its tag selectors, create the execution",
            needs_drs=True,  # DRS_CAPABILITIES: the servers tag selectors choose; the network checks of launch settings
            needs_ssm_documents=True,
            operator_proof="verify",
            reads_plan_store=True,
            queries_executions=True,
        ),
        Function(
            "pre_launch",
            "pre_launch",
            "WaveReady: approval gate, pre-launch scripts",
            needs_ssm=True,
            needs_drs=True,
            needs_scheduler=True,
            watches_objectives=True,
        ),
        Function(
            "launch_wave",
            "launch_wave",
            "Wave launch tasks: admit, claim and start DRS jobs; start parked launches",
            needs_drs=True,
            needs_scheduler=True,
            packs_launches=True,
        ),
        Function(
            "job_watcher",
            "job_watcher",
            "Poll DRS jobs on scheduler ticks and Launch Result events",
            needs_drs=True,
            needs_scheduler=True,
        ),
        Function(
            "post_launch",
            "post_launch",
            "DRSJobCompleted: judge launch results, post-launch scripts",
            needs_ssm=True,
            needs_drs=True,
            needs_scheduler=True,
        ),
        Function(
            "progress",
            "progress",
            "Close waves and plans, release dependent waves, announce objectives at risk or missed",
            watches_objectives=True,
        ),
        Function(
            "control",
            "control",
            "Operator commands: approve, pause, resume, cancel, retry, skip",
            needs_drs=True,
            needs_scheduler=True,
            deletes_ticks=True,
            stops_automations=True,
            operator_proof="verify",
        ),  # scheduler: deferred terminations (drill clean-up); the tick of a WAIT step a cancel cuts short
        Function(
            "operator",
            "operator",
            "Operator endpoint (Function URL, AWS_IAM): publish commands with the caller's verified ARN",
            needs_table=False,
            operator=True,
            operator_proof="generate",
            timeout_seconds=10,
            memory_mb=256,
        ),
        Function(
            "archive",
            "archive",
            "PlanCompleted, PlanFailed, PlanCancelled: store the execution's report in the evidence bucket",
            needs_bus=False,
            needs_evidence=True,
            ledger_read_only=True,
            timeout_seconds=120,  # a report of thousands of servers reads many ledger pages
            memory_mb=1024,
        ),
    )
}

STATE_MACHINE = "wave_launch"

# ---- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """An EventBridge rule: a pattern on a bus and the target it feeds."""

    name: str
    bus: Literal["orchestrator", "default"]
    source: str
    detail_types: tuple[str, ...]
    target: str  # a FUNCTIONS key, or STATE_MACHINE
    description: str
    extra_pattern: dict[str, Any] = field(default_factory=dict)

    @property
    def pattern(self) -> dict[str, Any]:
        """The event pattern; every live rule ignores replayed events."""
        pattern: dict[str, Any] = {"source": [self.source], "detail-type": list(self.detail_types)}
        pattern.update(copy.deepcopy(self.extra_pattern))
        pattern.update(copy.deepcopy(REPLAY_EXCLUSION))
        return pattern

    @property
    def pattern_json(self) -> str:
        return json.dumps(self.pattern, sort_keys=True)


#: What starts work from outside the choreography: a plan, a failback of a completed recovery, a reprotect of a
#: completed failback (issue #15). The start function takes them from the bus's publishers (drills; a real failover
#: or failback is refused from there) and from the operator endpoint.
START_EVENTS: tuple[str, ...] = ("StartPlan", "Failback", "Reprotect")

ROUTES: tuple[Route, ...] = (
    Route(
        "start-plan",
        "orchestrator",
        SOURCE,
        START_EVENTS,
        "start_plan",
        "Start a drill, a failback drill or a reprotect (the bus's publishers)",
    ),
    Route(
        "operator-start",
        "orchestrator",
        OPERATOR_SOURCE,
        START_EVENTS,
        "start_plan",
        "Start a drill or a RECOVERY, a failback or a reprotect sent through the operator endpoint",
    ),
    Route(
        "reprotect-after-failback",
        "orchestrator",
        SOURCE,
        ("PlanCompleted",),
        "start_plan",
        "A failback execution that completed reprotects its servers when its plan or Failback asked for it",
    ),
    Route(
        "pre-launch",
        "orchestrator",
        SOURCE,
        ("WaveReady", "PreLaunchTick"),
        "pre_launch",
        "A wave is ready: gate and pre-launch scripts",
    ),
    Route(
        "wave-launch",
        "orchestrator",
        SOURCE,
        ("PreLaunchDone",),
        STATE_MACHINE,
        "Launch the wave's DRS jobs (one Express execution per wave)",
    ),
    Route(
        "job-watch",
        "orchestrator",
        SOURCE,
        ("DRSJobStarted", "JobWatchTick"),
        "job_watcher",
        "Watch DRS jobs until they end",
    ),
    Route(
        "drs-launch-result",
        "default",
        DRS_SOURCE,
        (DRS_LAUNCH_RESULT,),
        "job_watcher",
        "DRS launch results speed up the job watcher",
    ),
    Route(
        "capacity",
        "orchestrator",
        SOURCE,
        ("CapacityTick",),
        "launch_wave",
        "Start the DRS launches parked until the quotas have room",
    ),
    Route(
        "terminate",
        "orchestrator",
        SOURCE,
        ("WaveFailed", "TerminationTick", "PlanCancelled"),
        "control",
        "Roll back failed waves (rollback: TERMINATE), end drills after their time to live or once cancelled",
    ),
    Route(
        "post-launch",
        "orchestrator",
        SOURCE,
        ("DRSJobCompleted", "PostLaunchTick"),
        "post_launch",
        "Judge the wave's launch and run post-launch scripts",
    ),
    Route(
        "ssm-status",
        "default",
        SSM_SOURCE,
        (SSM_COMMAND_STATUS, SSM_AUTOMATION_STATUS),
        "post_launch",
        "SSM command and Automation execution status speed up script completion",
    ),
    Route(
        "lambda-result",
        "orchestrator",
        LAMBDA_SOURCE,
        (LAMBDA_RESULT_SUCCESS, LAMBDA_RESULT_FAILURE),
        "post_launch",
        "LAMBDA steps' results: the allowed functions' asynchronous-invocation destinations put them on the bus",
        # only the records of our invocations (the correlation id each carries in its request payload)
        extra_pattern={"detail": {"requestPayload": {"drsOrchestrator": {"correlationId": [{"prefix": "drsorch-"}]}}}},
    ),
    Route(
        "progress",
        "orchestrator",
        SOURCE,
        ("PostLaunchDone", "WaveFailed", "ObjectiveTick"),
        "progress",
        "Close waves, release dependents, close the plan; an RTO's deadline (ObjectiveAtRisk, ObjectiveMissed)",
    ),
    Route(
        "control",
        "orchestrator",
        OPERATOR_SOURCE,  # only the operator endpoint's: their requestedBy is the caller's verified ARN
        tuple(cls.DETAIL_TYPE for cls in OPERATOR_COMMANDS),
        "control",
        "Operator commands, from the operator endpoint only",
    ),
    Route(
        "archive",
        "orchestrator",
        SOURCE,
        ("PlanCompleted", "PlanFailed", "PlanCancelled"),
        "archive",
        "Keep the ended execution's report in the evidence bucket",
    ),
    Route(
        "approval-timeout",
        "orchestrator",
        SOURCE,
        ("ApprovalTimeout",),
        "control",
        "An approval's deadline (the scheduler's tick)",
    ),
)


# ---- environment ---------------------------------------------------------------------------------

ENV_TABLE = "LEDGER_TABLE_NAME"
ENV_BUS = "EVENT_BUS_NAME"
ENV_SCHEDULER_GROUP = "SCHEDULER_GROUP_NAME"
ENV_SCHEDULER_ROLE = "SCHEDULER_ROLE_ARN"
ENV_BUS_ARN = "EVENT_BUS_ARN"
# The SSM documents plans may run, comma-separated names or `prefix*` patterns (context allowedSsmDocuments;
# the IAM grant of SendCommand is limited to the same documents).
ENV_ALLOWED_SSM_DOCUMENTS = "ALLOWED_SSM_DOCUMENTS"
# The Lambda functions LAMBDA steps may invoke, comma-separated unqualified ARNs (context allowedLambdaFunctions; the
# IAM grant of lambda:InvokeFunction is limited to the same functions): the script functions and StartPlan.
ENV_ALLOWED_LAMBDA_FUNCTIONS = "ALLOWED_LAMBDA_FUNCTIONS"
# The role SSM_AUTOMATION runbooks run as, passed as their AutomationAssumeRole (infra/constructs/automation_role.py).
ENV_AUTOMATION_ROLE = "AUTOMATION_ASSUME_ROLE_ARN"
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_RECOVERY_PRINCIPALS = "RECOVERY_PRINCIPALS"
ENV_OPERATOR_PROOF_KEY = "OPERATOR_PROOF_KEY_ID"
ENV_PLAN_BUCKET = "PLAN_BUCKET_NAME"  # the plan store's bucket (stored plans: StartPlan's planRef)
ENV_OBJECTIVE_AT_RISK_PERCENT = "OBJECTIVE_AT_RISK_PERCENT"  # the stack's objectiveAtRiskPercent
DEFAULT_OBJECTIVE_AT_RISK_PERCENT = 80
# launch packing (issue #19; orchestrator/config.py Settings.drs_packing*)
ENV_LAUNCH_PACKING = "DRS_LAUNCH_PACKING"
ENV_PACKING_WINDOW = "DRS_PACKING_WINDOW_SECONDS"
ENV_PACKING_STARVATION = "DRS_PACKING_STARVATION_SECONDS"


@dataclass(frozen=True)
class LaunchPacking:
    """The deploy's launch packing (issue #19): on or off, the gathering window and the starvation limit (seconds;
    the bounds are `orchestrator.config.Settings`': window 0-300, starvation 0-86,400)."""

    enabled: bool = True
    window_seconds: int = 5
    starvation_seconds: int = 600

    def __post_init__(self) -> None:
        if not 0 <= self.window_seconds <= 300:
            raise ValueError(f"packingWindowSeconds: {self.window_seconds} is not 0 to 300 seconds")
        if not 0 <= self.starvation_seconds <= 86_400:
            raise ValueError(f"packingStarvationSeconds: {self.starvation_seconds} is not 0 to 86,400 seconds")

    def environment(self) -> dict[str, str]:
        return {
            ENV_LAUNCH_PACKING: "true" if self.enabled else "false",
            ENV_PACKING_WINDOW: str(self.window_seconds),
            ENV_PACKING_STARVATION: str(self.starvation_seconds),
        }


ENV_EVIDENCE_BUCKET = "EVIDENCE_BUCKET_NAME"
ENV_LEDGER_TTL_DAYS = "FINISHED_EXECUTION_TTL_DAYS"  # unset: the ledger keeps every item (no time to live)

METRICS_NAMESPACE = "DRSOrchestrator"


def project_ssm_documents() -> tuple[str, ...]:
    """The names of the project's own SSM documents (infra/ssm_documents/*.yaml): the default script allow-list."""
    return tuple(sorted(path.stem for path in SSM_DOCUMENTS_DIR.glob("*.yaml")))


def function_environment(
    function: Function,
    *,
    table_name: str,
    bus_name: str,
    bus_arn: str,
    scheduler_group: str,
    scheduler_role_arn: str,
    allowed_ssm_documents: Sequence[str] = (),
    allowed_lambda_functions: Sequence[str] = (),
    recovery_principals: str = "",
    operator_proof_key: str = "",
    plan_bucket: str = "",
    objective_at_risk_percent: float = DEFAULT_OBJECTIVE_AT_RISK_PERCENT,
    evidence_bucket: str = "",
    ledger_ttl_days: int | None = None,
    automation_role_arn: str = "",
    launch_packing: LaunchPacking | None = None,
) -> dict[str, str]:
    """Each function's own environment: only what it uses. `recovery_principals`: the operator function's
    comma-separated recovery principals; `operator_proof_key`: the operator-proof key's ARN; `plan_bucket`: the plan
    store's bucket (for the function that reads stored plans); `objective_at_risk_percent`: the share of an RTO
    after which what still runs is at risk; `allowed_lambda_functions`: the function ARNs LAMBDA steps may invoke (for
    the script functions and StartPlan); `evidence_bucket`: the archive function's bucket; `ledger_ttl_days`: the
    ledger's time to live (None: none) for every function that writes the ledger; `automation_role_arn`: the role
    SSM_AUTOMATION runbooks run as, for the script functions (blank: none); `launch_packing`: the launch function's
    packing settings (None: the defaults)."""
    env = {ENV_SERVICE: f"drs-orch-{function.name}", ENV_NAMESPACE: METRICS_NAMESPACE}
    if function.reads_plan_store:
        env[ENV_PLAN_BUCKET] = plan_bucket
    if function.operator_proof:
        env[ENV_OPERATOR_PROOF_KEY] = operator_proof_key
    if function.operator:
        env[ENV_RECOVERY_PRINCIPALS] = recovery_principals
    if function.needs_table:
        env[ENV_TABLE] = table_name
        if ledger_ttl_days is not None and not function.ledger_read_only:
            env[ENV_LEDGER_TTL_DAYS] = str(ledger_ttl_days)
    if function.needs_evidence:
        env[ENV_EVIDENCE_BUCKET] = evidence_bucket
    if function.needs_bus:
        env[ENV_BUS] = bus_name
    if function.needs_scheduler:
        env.update({ENV_SCHEDULER_GROUP: scheduler_group, ENV_SCHEDULER_ROLE: scheduler_role_arn, ENV_BUS_ARN: bus_arn})
    if function.needs_ssm or function.needs_ssm_documents:
        env[ENV_ALLOWED_SSM_DOCUMENTS] = ",".join(allowed_ssm_documents)
        env[ENV_ALLOWED_LAMBDA_FUNCTIONS] = ",".join(allowed_lambda_functions)
    if function.needs_ssm and automation_role_arn:
        env[ENV_AUTOMATION_ROLE] = automation_role_arn
    if function.watches_objectives:
        env[ENV_OBJECTIVE_AT_RISK_PERCENT] = f"{objective_at_risk_percent:g}"
    if function.packs_launches:
        env.update((launch_packing or LaunchPacking()).environment())
    return env


def state_machine_definition(substitutions: dict[str, str]) -> str:
    """The wave launch ASL with `${Name}` substitutions applied (the CDK stack passes tokens)."""
    text = WAVE_LAUNCH_ASL.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text


# ---- bus policy, archive and alarms (read by the CDK stack) -------------------------------------

# Operator commands: only the operator function's role may put them on the orchestrator bus, with its own source.
OPERATOR_EVENTS: tuple[str, ...] = tuple(cls.DETAIL_TYPE for cls in OPERATOR_COMMANDS)
# What may come from outside the choreography: StartPlan (a drill from the configured publishers, context
# `publisherPrincipals`, or anything through the operator endpoint) and the operator commands.
CONTROL_EVENTS: tuple[str, ...] = (*START_EVENTS, *OPERATOR_EVENTS)
# Events that page someone: the alert rule forwards them to the SNS topic (a recovery time objective at risk or
# missed while the run goes on too: issue #16).
ALARM_EVENTS: tuple[str, ...] = ("PlanFailed", "WaveFailed", "ObjectiveAtRisk", "ObjectiveMissed")
# The archive keeps every orchestrator event (the operator endpoint's commands too); a replay of it rebuilds any
# past execution.
ARCHIVE_PATTERN: dict[str, Any] = {"source": list(SOURCES)}


#: Events that ask someone to act: the approval rule sends each to the alert topic as a message naming the exact CLI
#: commands that answer it (infra/constructs/alerting.py).
APPROVAL_EVENTS: tuple[str, ...] = ("ApprovalRequested",)


def approval_pattern() -> dict[str, Any]:
    """The approval rule's pattern: approval requests of live executions only (a replay must not ask anyone)."""
    pattern: dict[str, Any] = {"source": [SOURCE], "detail-type": list(APPROVAL_EVENTS)}
    pattern.update(copy.deepcopy(REPLAY_EXCLUSION))
    return pattern


def approval_message(
    execution_id: str, wave_id: str, plan_id: str, deadline: str, *, stack_name: str, region: str
) -> dict[str, Any]:
    """The alert topic's message for an ApprovalRequested: a custom notification of Amazon Q Developer in chat
    applications (formerly AWS Chatbot: its user guide, "Custom notifications": version, source `custom`, content
    with textType client-markdown, title, description), which a chat channel subscribed to the topic shows as is,
    giving the exact commands that approve and deny (through the operator endpoint, found in the stack's outputs).
    The arguments are the values or, for the rule, the input transformer's placeholders (`<executionId>`, ...)."""
    where = f"--aws --stack {stack_name} --region {region}"
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{execution_id}/{wave_id}/approval",
        "content": {
            "textType": "client-markdown",
            "title": f"Approval requested: wave {wave_id} of {execution_id}",
            "description": (
                f"Plan {plan_id}: wave {wave_id} of execution {execution_id} waits for an approver until {deadline}.\n"
                f"Approve: `drs-orch approve {execution_id} --wave {wave_id} {where}`\n"
                f'Deny: `drs-orch deny {execution_id} --wave {wave_id} --reason "..." {where}`'
            ),
        },
        "metadata": {"additionalContext": {"executionId": execution_id, "waveId": wave_id, "planId": plan_id}},
    }


def alarm_pattern() -> dict[str, Any]:
    """The alert rule's pattern: failures of live executions only (a replay must not page anyone)."""
    pattern: dict[str, Any] = {"source": [SOURCE], "detail-type": list(ALARM_EVENTS)}
    pattern.update(copy.deepcopy(REPLAY_EXCLUSION))
    return pattern
