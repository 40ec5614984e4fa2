"""Event contracts of the choreography.

Every event on the orchestrator bus has `source = SOURCE`, a `detail-type` equal to the class name of
its detail model, and a detail carrying `version` plus the correlation fields its consumers need
(`executionId`, `planId`, `waveId` where it applies). `events/schemas/` is generated from these models
(`make schemas`); a test fails when they drift.

Operator commands (`OPERATOR_COMMANDS`: approve, deny, cancel, pause, resume, retry, skip) and a StartPlan
sent through the operator endpoint have `source = OPERATOR_SOURCE`: only the operator function may publish
that source (the bus policy), after it wrote the caller's verified IAM ARN into `requestedBy`, and it signs
each with `operatorProof` (a KMS HMAC only its role may generate): a direct Lambda Invoke may write the
`source` field, not the proof. A RECOVERY StartPlan is started only from that source; a DRILL StartPlan may
also come from `SOURCE` (the bus's publishers).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails

SOURCE = "drs.orchestrator"
OPERATOR_SOURCE = "drs.orchestrator.operator"
SOURCES = (SOURCE, OPERATOR_SOURCE)  # every event of the orchestrator's (the archive keeps both)
DRS_SOURCE = "aws.drs"
DRS_LAUNCH_RESULT = "DRS Source Server Launch Result"
SSM_SOURCE = "aws.ssm"
SSM_COMMAND_STATUS = "EC2 Command Invocation Status-change Notification"
#: What Lambda puts on an EventBridge bus that is an asynchronous invocation's destination (the Lambda developer
#: guide, "Capturing records of Lambda asynchronous invocations": source `lambda`, these two detail-types; the
#: detail is the invocation record: requestContext, requestPayload, responseContext, responsePayload).
LAMBDA_SOURCE = "lambda"
LAMBDA_RESULT_SUCCESS = "Lambda Function Invocation Result - Success"
LAMBDA_RESULT_FAILURE = "Lambda Function Invocation Result - Failure"
SSM_AUTOMATION_STATUS = "EC2 Automation Execution Status-change Notification"
#: An ISO 8601 time with its time zone (`2026-03-01T09:30:00Z`, `...+02:00`), seconds, at most microseconds.
DECLARED_AT_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


class Mode(StrEnum):
    DRILL = "DRILL"
    RECOVERY = "RECOVERY"


class Contract(BaseModel):
    """Base of every detail: camelCase on the wire, unknown fields rejected, a version."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)
    DETAIL_TYPE: ClassVar[str] = ""

    version: Literal["1"] = "1"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.DETAIL_TYPE = cls.__name__

    def to_detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ExecutionEvent(Contract):
    execution_id: str = Field(min_length=1, max_length=128)
    plan_id: str = Field(min_length=1, max_length=128)


class WaveEvent(ExecutionEvent):
    wave_id: str = Field(min_length=1, max_length=128)
    attempt: int = Field(default=1, ge=1, description="1 for the first run of a wave, +1 per RetryWave")


class OperatorProof(BaseModel):
    """The operator endpoint's proof that it published a command (orchestrator/steps/operator_proof.py): an
    HMAC of the stack's KMS key, which only the operator function's role may generate, over the command's
    detail-type and detail (this field without `mac`, keys sorted). `commandId` names the command: a copy of it
    in another event is the same command, decided once."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    command_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    issued_at: str = Field(min_length=20, max_length=40, description="when the operator endpoint published it (UTC)")
    mac: str = Field(min_length=1, max_length=128, description="base64 of KMS GenerateMac (HMAC_SHA_256)")


_PROOF_DESCRIPTION = (
    "set by the operator endpoint only: its KMS HMAC over the command; a command with the operator source "
    "and no valid proof is an invalid event"
)


class ControlEvent(Contract):
    """Operator commands: only the execution id is needed, the ledger knows the rest. `requestedBy` of a
    command from the operator endpoint is the caller's IAM ARN as AWS authenticated it, and `operatorProof`
    proves that the operator endpoint published it."""

    execution_id: str = Field(min_length=1, max_length=128)
    requested_by: str = Field(default="unknown", max_length=256)
    operator_proof: OperatorProof | None = Field(default=None, description=_PROOF_DESCRIPTION)


# ---- nested shapes -------------------------------------------------------------------------------


class Problem(Contract):
    """One validation problem of a plan, with where it is."""

    message: str
    code: str = "invalid"
    wave_id: str | None = None
    path: str | None = None
    line: int | None = None


class ServerLaunch(Contract):
    source_server_id: str
    launch_status: Literal["PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED", "NOT_STARTED"]
    recovery_instance_id: str | None = None
    criticality: Literal["CRITICAL", "OPTIONAL"] | None = None
    reason: str | None = None


class InstanceResult(Contract):
    instance_id: str
    status: str
    output: str | None = None
    duration_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class ScriptResult(Contract):
    phase: Literal["PRE_LAUNCH", "POST_LAUNCH"]
    document_name: str
    status: Literal["Success", "Failed", "TimedOut", "Cancelled", "Skipped"]
    on_failure: Literal["WARN", "FAIL"] = "FAIL"
    attempts: int = Field(default=1, ge=1)
    started_at: str | None = None
    ended_at: str | None = None
    instances: list[InstanceResult] = Field(
        default_factory=list,
        description="per-instance results, at most 50 (those that did not succeed first, then in instance id "
        "order): an event is limited to 256 KB, a script may run on thousands of instances",
    )
    instance_count: int | None = Field(default=None, ge=0, description="how many instances the script ran on")
    index: int | None = Field(default=None, ge=0, description="position of the script in its phase")
    health_check: bool | None = Field(
        default=None, description="true for the wave's healthCheck gate (POST_LAUNCH, last)"
    )
    reason: str | None = None


# ---- plan lifecycle ------------------------------------------------------------------------------


class PlanRef(BaseModel):
    """A stored plan's version (`drs-orch plan push`): what a StartPlan names instead of carrying the plan."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    plan_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    version: int = Field(
        ge=1, le=99_999_999, strict=True, description="the version number `plan push` gave it: 1, 2, 3 ..."
    )


#: A drill's time to live (StartPlan's and a plan's `drillInstanceTtlSeconds`): 5 minutes to 7 days.
DRILL_TTL_MIN_SECONDS = 300
DRILL_TTL_MAX_SECONDS = 604_800


class StartPlan(Contract):
    """Published by a user (or `drs-orch run --aws`) to start a plan.

    The plan travels inline (`plan`) or, for a plan too large for an event (an entry is at most 256 KB), is named
    by `planRef`: a stored plan's id and version, which the execution reads from the plan store and freezes with
    its SHA-256. Exactly one of the two. `executionId` makes the start idempotent: publishing the same StartPlan
    twice starts one execution. A RECOVERY start is a real failover: it must carry `confirmRecovery` equal to the
    plan's planId.
    """

    plan: dict[str, Any] | None = None
    plan_ref: PlanRef | None = Field(
        default=None,
        description="a stored plan version (drs-orch plan push) instead of the plan itself; exactly one of plan and "
        "planRef",
    )
    mode: Mode = Mode.DRILL
    execution_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    confirm_recovery: str | None = None
    requested_by: str = Field(default="unknown", max_length=256)
    operator_proof: OperatorProof | None = Field(default=None, description=_PROOF_DESCRIPTION)
    declared_at: str | None = Field(
        default=None,
        max_length=40,
        pattern=DECLARED_AT_PATTERN,
        description="when the disaster was declared (ISO 8601 with a time zone): the moment the plan's recovery "
        "objectives are measured from; at most 7 days ago and not in the future (5 minutes of clock skew allowed). "
        "Default: when the StartPlan is handled",
    )
    drill_instance_ttl_seconds: int | None = Field(
        default=None,
        ge=DRILL_TTL_MIN_SECONDS,
        le=DRILL_TTL_MAX_SECONDS,
        description="DRILL only: terminate the drill's recovery instances this long after its first launch (once "
        "the execution has ended), whatever the plan says; when the plan sets drillInstanceTtlSeconds too, the "
        "shorter applies. A scheduled drill always carries one (deploy setting drillSchedules), so that it cleans up "
        "after itself",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _one_plan(cls, data: Any, handler: ModelWrapValidatorHandler[StartPlan]) -> StartPlan:
        """Exactly one of plan and planRef. A detail with neither also reports `plan` missing beside its other
        errors (as a required field would be), so one refusal lists every problem."""
        neither = isinstance(data, dict) and not ({"plan", "planRef", "plan_ref"} & data.keys())
        try:
            model = handler(data)
        except ValidationError as exc:
            if not neither:
                raise
            details: list[InitErrorDetails] = []
            for error in exc.errors():
                detail: InitErrorDetails = {"type": error["type"], "loc": error["loc"], "input": error["input"]}
                if "ctx" in error:
                    detail["ctx"] = error["ctx"]
                details.append(detail)
            details.append({"type": "missing", "loc": ("plan",), "input": data})
            raise ValidationError.from_exception_data(exc.title, details) from None
        if (model.plan is None) == (model.plan_ref is None):
            raise ValueError(
                "a StartPlan carries exactly one of plan (the plan itself) and planRef (a stored plan's "
                "{planId, version}, for a plan too large for an event)"
            )
        if model.drill_instance_ttl_seconds is not None and model.mode is not Mode.DRILL:
            raise ValueError(
                "drillInstanceTtlSeconds is for drills: a RECOVERY keeps its recovery instances (leave it out)"
            )
        return model

    @property
    def plan_id(self) -> str | None:
        """The plan's id as the event names it (the inline plan's planId, or the reference's), if any."""
        if self.plan_ref is not None:
            return self.plan_ref.plan_id
        raw = (self.plan or {}).get("planId") or (self.plan or {}).get("PlanId")
        return raw if isinstance(raw, str) and raw else None


class PlanStarted(ExecutionEvent):
    mode: Mode
    failback_of: str | None = Field(
        default=None, max_length=128, description="a failback execution: the RECOVERY execution it fails back"
    )
    plan_name: str
    wave_ids: list[str]
    root_wave_ids: list[str]


class PlanCompleted(ExecutionEvent):
    mode: Mode
    waves_completed: int = Field(ge=0)
    waves_skipped: int = Field(ge=0)
    duration_seconds: float = Field(ge=0, allow_inf_nan=False)


class PlanFailed(ExecutionEvent):
    plan_id: str = Field(default="unknown", max_length=128)
    reason: str
    errors: list[Problem] = Field(default_factory=list)
    failed_wave_ids: list[str] = Field(default_factory=list)


class PlanCancelled(ExecutionEvent):
    requested_by: str
    running_wave_ids: list[str] = Field(default_factory=list)


# ---- wave lifecycle ------------------------------------------------------------------------------


class WaveReady(WaveEvent):
    """Every dependency of the wave is met (or it is a root): the wave may start."""


class PreLaunchDone(WaveEvent):
    scripts: list[ScriptResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class DRSJobStarted(WaveEvent):
    job_id: str
    launch_key: str
    source_server_ids: list[str]


class DRSJobCompleted(WaveEvent):
    job_id: str
    servers: list[ServerLaunch]


class JobWatchTick(WaveEvent):
    """A scheduler tick: poll the wave's DRS jobs (15 s, then 30 s, then 60 s apart)."""

    tick: int = Field(ge=1)


class _ScriptTick(WaveEvent):
    """A scheduler tick for one script of a wave: poll its commands, enforce its timeout, retry it, or resend
    a try whose targets could not be resolved or whose SendCommand was throttled."""

    phase: Literal["PRE_LAUNCH", "POST_LAUNCH"]
    index: int = Field(ge=0, description="position of the script in its phase")
    try_number: int = Field(ge=1, description="1 for the first SendCommand of the script, +1 per retry")
    purpose: Literal["poll", "timeout", "retry", "resend"]
    command_id: str | None = Field(default=None, max_length=64)
    tick: int = Field(
        default=1,
        ge=1,
        description="poll ticks back off: 5 s, 10 s, 15 s, then 30 s and 60 s; "
        "resend ticks count the try's resends: 1, 2, ...",
    )


class PreLaunchTick(_ScriptTick):
    """A scheduler tick for a pre-launch script."""


class PostLaunchTick(_ScriptTick):
    """A scheduler tick for a post-launch script or the health check."""


class PostLaunchDone(WaveEvent):
    scripts: list[ScriptResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class WaveCompleted(WaveEvent):
    servers_launched: int = Field(ge=0)
    servers_failed: int = Field(ge=0)
    released_wave_ids: list[str] = Field(default_factory=list)


class WaveFailed(WaveEvent):
    reason: str
    on_failure: Literal["STOP", "CONTINUE"]
    failed_servers: list[ServerLaunch] = Field(
        default_factory=list,
        max_length=50,
        description="the servers that did not launch, CRITICAL first, at most 50 (failedServersTotal counts them "
        "all; the ledger keeps every one): an event stays under EventBridge's 256 KB entry limit",
    )
    failed_servers_total: int | None = Field(
        default=None, ge=0, description="how many servers did not launch (failedServers may name fewer)"
    )


class WaveSkipped(WaveEvent):
    reason: str
    because_of: str | None = Field(default=None, description="the failed or skipped upstream wave")
    skipped_by: str | None = Field(
        default=None, max_length=256, description="the operator who skipped it (SkipWave); its dependents run"
    )


class CapacityTick(Contract):
    """A scheduler tick: start the DRS launches parked until the quotas had room (one per time slot)."""

    due_at: str


class TerminationTick(ExecutionEvent):
    """A scheduler tick: terminate recovery instances of the execution: the drill's time to live is over
    (`reason` TIME_TO_LIVE; waits for the execution to end), or a failed wave's rollback or a cancelled
    drill's clean-up waits for DRS capacity (`reason` ROLLBACK, CANCEL)."""

    wave_id: str | None = Field(default=None, max_length=128)
    attempt: int = Field(default=1, ge=1)
    reason: Literal["ROLLBACK", "TIME_TO_LIVE", "CANCEL"]
    tick: int = Field(default=1, ge=1)
    deferrals: int = Field(
        default=0,
        ge=0,
        description="ticks in a row that could start no terminate job (no DRS "
        "capacity, throttled): the backoff grows with them and "
        "starts again once a tick starts a job",
    )


class RecoveryInstancesTerminated(ExecutionEvent):
    """The orchestrator asked DRS to terminate recovery instances: a failed wave's rollback, a drill's time
    to live, a drill cancelled with `terminateDrillInstances`, or a clean-up."""

    wave_id: str | None = Field(default=None, max_length=128)
    reason: Literal["ROLLBACK", "TIME_TO_LIVE", "CANCEL", "CLEANUP"]
    job_ids: list[str] = Field(default_factory=list)
    recovery_instance_ids: list[str] = Field(default_factory=list)


# ---- operators -----------------------------------------------------------------------------------


class ApprovalRequested(WaveEvent):
    approvers: list[str] = Field(default_factory=list)
    deadline: str
    completed_wave_ids: list[str] = Field(default_factory=list)
    request_id: str | None = Field(
        default=None, max_length=128, description="names this request; its ApprovalTimeout carries it"
    )


class ApprovalGranted(ControlEvent):
    wave_id: str = Field(min_length=1, max_length=128)
    comment: str | None = None


class ApprovalDenied(ControlEvent):
    """Deny a wave's approval: the wave fails and its onFailure policy applies. `reason` is required and not
    blank (surrounding blanks dropped): it is the approval's audit record (`denyReason`), the wave's reason and
    what the report shows; a deny without one is refused before it is sent or acted on."""

    wave_id: str = Field(min_length=1, max_length=128)
    reason: str = Field(
        description="why the approval is denied: the audit record keeps it",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},  # checked by _reason_given, with its own message
    )

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("a denial must give its reason (it is kept in the approval's audit record)")
        return reason.strip()


class CancelPlan(ControlEvent):
    """Stop the plan: nothing new starts, running DRS jobs finish, the plan ends CANCELLED.
    `terminateDrillInstances` (drills only): terminate the drill's recovery instances now, and the ones
    its running jobs still launch when the plan has ended."""

    terminate_drill_instances: bool = False


class PausePlan(ControlEvent):
    pass


class ResumePlan(ControlEvent):
    pass


class RetryWave(ControlEvent):
    wave_id: str = Field(min_length=1, max_length=128)
    all_servers: bool = False


class SkipWave(ControlEvent):
    wave_id: str = Field(min_length=1, max_length=128)
    reason: str = "skipped by operator"


class ApprovalTimeout(ControlEvent):
    """A scheduler tick at an approval's deadline: the wave fails if it is still waiting for that request."""

    requested_by: str = Field(default="scheduler", max_length=256)
    wave_id: str = Field(min_length=1, max_length=128)
    request_id: str = Field(min_length=1, max_length=128)


class ControlRejected(Contract):
    execution_id: str = Field(min_length=1, max_length=128)
    command: str
    reason: str
    wave_id: str | None = Field(default=None, max_length=128)
    requested_by: str | None = Field(default=None, max_length=256, description="who sent the rejected command")


# ---- failback and reprotect (issue #15) ----------------------------------------------------------

FAILBACK_EXECUTION_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"


class Failback(ControlEvent):
    """Fail back a completed RECOVERY execution (`executionId`) with the same plan: a new execution
    (`failbackExecutionId`, default `failback-<executionId>`) runs the plan's waves in the same dependency order and
    gates, with the scripts the plan gives for failback (each wave's `failback:`; by default its recovery ones).
    A wave whose servers came from on premises (or another non-EC2 origin) launches its recovery instances back
    through StartFailbackLaunch once each is FAILBACK_READY_FOR_LAUNCH; a wave of EC2 instances of another Region
    reverses their replication (ReverseReplication) and recovers the reversed source servers in the origin Region.

    A real failback (`drill` false) moves production: it starts only from the operator endpoint, for one of the
    deploy's recovery principals, and must carry `confirmFailback` equal to the plan's planId. A failback drill
    (`drill` true: DRS allows it only for EC2 origins, whose reversed source servers can be drilled) may also come
    from the bus's publishers. A refused Failback is answered with ControlRejected (command Failback) and changes
    nothing. `reprotect`: after the failback completes, protect the servers again in the original direction
    (default: the plan's `failback.reprotect`)."""

    failback_execution_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=FAILBACK_EXECUTION_ID_PATTERN
    )
    drill: bool = False
    confirm_failback: str | None = Field(default=None, max_length=128)
    reprotect: bool | None = None


class Reprotect(ControlEvent):
    """Protect the servers of a completed failback execution (`executionId`) again in the original direction:
    EC2 origins reverse the replication of their new instances back toward the recovery Region
    (ReverseReplication); on-premises origins restart their source servers' replication (StartReplication). The
    answer is a Reprotected event with each server's replication state. `terminateRecoveryInstances`: also
    terminate the recovery instances of the failed-over side (the RECOVERY execution's), which only an operator
    command from the operator endpoint may ask for."""

    terminate_recovery_instances: bool = False


class ReprotectedServer(Contract):
    source_server_id: str = Field(description="the server as the failback execution launched it")
    action: Literal["ReverseReplication", "StartReplication", "NONE"]
    protected_source_server_id: str | None = Field(
        default=None, description="the source server that replicates in the original direction"
    )
    replication_state: str | None = Field(default=None, description="its dataReplicationState, as DRS answered")
    reason: str | None = None


class Reprotected(ExecutionEvent):
    """The answer to a Reprotect (or the plan's `failback.reprotect`): what was done for each server."""

    servers: list[ReprotectedServer] = Field(default_factory=list)
    terminated_recovery_instance_ids: list[str] = Field(default_factory=list)


# ---- recovery objectives (issue #16) -------------------------------------------------------------

MAX_ALERT_WAVES = 50  # running waves an objective alert names (runningWaveCount counts them all)


class ObjectiveTick(ExecutionEvent):
    """A scheduler tick at a deadline of a recovery time objective (RTO): its at-risk share has passed
    (`alert` AT_RISK) or all of it (MISSED). Armed when the execution's first root wave is ready; the plan's RTO
    (`waveId` absent) or a wave's own."""

    wave_id: str | None = Field(default=None, max_length=128, description="the wave of its own RTO; absent: the plan's")
    alert: Literal["AT_RISK", "MISSED"]


class _ObjectiveAlert(ExecutionEvent):
    """An RTO whose deadline passed while what it measures still runs: the plan (`waveId` absent: some wave has not
    ended) or a wave (`waveId`: it has not ended). Published once per execution, scope and alert."""

    wave_id: str | None = Field(default=None, max_length=128, description="the wave of its own RTO; absent: the plan's")
    objective: Literal["RTO"] = "RTO"
    objective_minutes: float = Field(gt=0, allow_inf_nan=False, description="the RTO, in minutes")
    declared_at: str = Field(max_length=40, description="when the disaster was declared: the RTO counts from it")
    deadline: str = Field(max_length=40, description="when the RTO runs out: declaredAt + objectiveMinutes")
    elapsed_minutes: float = Field(ge=0, allow_inf_nan=False, description="minutes since declaredAt, now")
    running_wave_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_ALERT_WAVES,
        description="the waves that have not ended (COMPLETED, FAILED or SKIPPED), at most 50",
    )
    running_wave_count: int = Field(default=0, ge=0, description="how many waves have not ended")


class ObjectiveAtRisk(_ObjectiveAlert):
    """`atRiskPercent` of an RTO has passed and what it measures still runs (alarms may subscribe)."""

    at_risk_percent: float = Field(gt=0, lt=100, allow_inf_nan=False, description="the share of the RTO passed")


class ObjectiveMissed(_ObjectiveAlert):
    """An RTO has passed and what it measures still runs: it is missed (alarms may subscribe)."""


ALL_EVENTS: tuple[type[Contract], ...] = (
    StartPlan,
    PlanStarted,
    PlanCompleted,
    PlanFailed,
    PlanCancelled,
    WaveReady,
    PreLaunchDone,
    DRSJobStarted,
    DRSJobCompleted,
    JobWatchTick,
    PreLaunchTick,
    PostLaunchTick,
    PostLaunchDone,
    WaveCompleted,
    WaveFailed,
    WaveSkipped,
    CapacityTick,
    TerminationTick,
    RecoveryInstancesTerminated,
    ApprovalRequested,
    ApprovalGranted,
    ApprovalDenied,
    CancelPlan,
    PausePlan,
    ResumePlan,
    RetryWave,
    SkipWave,
    ApprovalTimeout,
    ControlRejected,
    ObjectiveTick,
    ObjectiveAtRisk,
    ObjectiveMissed,
    Failback,
    Reprotect,
    Reprotected,
)
BY_DETAIL_TYPE: dict[str, type[Contract]] = {cls.DETAIL_TYPE: cls for cls in ALL_EVENTS}
# The commands an operator sends through the operator endpoint (with StartPlan): the control function takes
# them only with OPERATOR_SOURCE.
OPERATOR_COMMANDS: tuple[type[ControlEvent], ...] = (
    ApprovalGranted,
    ApprovalDenied,
    CancelPlan,
    PausePlan,
    ResumePlan,
    RetryWave,
    SkipWave,
)


class AutomationStatusChange(BaseModel):
    """The detail of an aws.ssm "EC2 Automation Execution Status-change Notification" (SSM_AUTOMATION_STATUS): AWS's
    event, PascalCase, as the AWS Systems Manager user guide shows it ("Amazon EventBridge event examples for Systems
    Manager": ExecutionId, Definition, DefinitionVersion, Status, StartTime, EndTime, Time). Only what the
    orchestrator reads is modelled; AWS's other fields are ignored (AWS may add some). Raises ValidationError
    (pydantic) for a detail without a usable ExecutionId or Status."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_id: str = Field(alias="ExecutionId", min_length=1, max_length=64, description="the automation execution")
    definition: str | None = Field(default=None, alias="Definition", max_length=512, description="the runbook")
    status: str = Field(alias="Status", min_length=1, max_length=64, description="AutomationExecutionStatus")
