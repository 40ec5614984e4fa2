"""Configuration read once from the environment (the CDK stack and the local cloud set it).

In a Lambda function (Lambda sets `AWS_LAMBDA_FUNCTION_NAME` in every function's environment) the settings
that name the deployment's resources are required at cold start: the table, the bus, and, for a function
that schedules ticks, the schedule group, the role Scheduler assumes and the bus ARN its schedules target,
all three, and for the functions that sign or verify the operator's commands, the operator-proof key. A
missing or empty one raises `MissingSettingError` when this module is imported (the function's
init phase fails, naming the variables) instead of a default standing in for it: a default table name or a
bus ARN in another account would fail later, far from the cause, or never visibly (a schedule firing into
nowhere). Outside Lambda (the local cloud, the CLI, tests) the defaults apply and nothing is required.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"  # a reserved variable Lambda sets in every function
#: An ARN's account field (`arn:<partition>:<service>:<region>:<account>:...`; IAM's Region is empty).
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:([0-9]{12}):")


class MissingSettingError(RuntimeError):
    """A deployed function lacks settings it needs; `variables`: the environment variables to set."""

    def __init__(self, function: str, variables: list[str]) -> None:
        super().__init__(
            f"function {function} cannot start: environment variable(s) {', '.join(variables)} missing or empty "
            "(the stack sets them: infra/definitions.py function_environment; redeploy it)"
        )
        self.variables = variables


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(default="drs-orchestrator-ledger", validation_alias="LEDGER_TABLE_NAME")
    bus_name: str = Field(default="drs-orchestrator", validation_alias="EVENT_BUS_NAME")
    bus_arn: str = Field(default="", validation_alias="EVENT_BUS_ARN")
    scheduler_group: str = Field(default="drs-orchestrator", validation_alias="SCHEDULER_GROUP_NAME")
    scheduler_role_arn: str = Field(default="", validation_alias="SCHEDULER_ROLE_ARN")
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # The ledger's time to live (issue #16): days after a run ends before DynamoDB deletes its items. A deploy
    # setting (context ledgerTtlDays), off by default: unset, no item gets `expiresAt` and nothing expires; the
    # stack refuses a value shorter than the evidence bucket's Object Lock retention (orchestrator/domain/evidence.py).
    finished_ttl_days: int | None = Field(default=None, ge=3, validation_alias="FINISHED_EXECUTION_TTL_DAYS")
    # The evidence bucket (issue #16): the archive function writes each ended execution's report there; the stack
    # sets it for that function only (infra/constructs/evidence.py).
    evidence_bucket: str = Field(default="", validation_alias="EVIDENCE_BUCKET_NAME")
    # Deliveries of one event after which a handler that keeps failing gives up: the wave the event names
    # fails with the error as its reason (orchestrator/steps/handler_failures.py). Lambda runs an asynchronous
    # invocation at most three times (the first try and `MaximumRetryAttempts` = 2 retries, the value the
    # stack sets: infra/constructs/functions.py ASYNC_RETRY_ATTEMPTS); the budget must not exceed that.
    handler_attempts: int = Field(default=3, ge=1, validation_alias="HANDLER_ATTEMPTS")
    # DRS quotas (not adjustable; these defaults are AWS's values; Service Quotas lists them under service
    # code `drs`: L-B827C881, L-D88FAC3A, L-05AFA8C6). The stack sets none of them, so the functions on AWS
    # use the defaults; the local cloud sets all three from its simulation profile (`drs.quotas`).
    drs_servers_per_job: int = Field(default=100, ge=1, validation_alias="DRS_QUOTA_SERVERS_PER_JOB")
    drs_concurrent_jobs: int = Field(default=20, ge=1, validation_alias="DRS_QUOTA_CONCURRENT_JOBS")
    drs_servers_in_active_jobs: int = Field(default=500, ge=1, validation_alias="DRS_QUOTA_SERVERS_IN_ACTIVE_JOBS")
    # Launch packing (issue #19; orchestrator/steps/packer.py): with it on, the chunks ready to launch (of every wave
    # and every execution of this account and Region, same mode) wait up to the gathering window, then the packer
    # starts them in as few StartRecovery jobs as the quotas allow. Off: every chunk is its own DRS job, started at
    # once (the behaviour before #19). The window is how long a ready chunk waits for others to share its job when
    # capacity is free; starvation: a chunk that has waited this long is overtaken by no one.
    drs_packing: bool = Field(default=True, validation_alias="DRS_LAUNCH_PACKING")
    drs_packing_window_seconds: int = Field(default=5, ge=0, le=300, validation_alias="DRS_PACKING_WINDOW_SECONDS")
    drs_packing_starvation_seconds: int = Field(
        default=600, ge=0, le=86_400, validation_alias="DRS_PACKING_STARVATION_SECONDS"
    )
    # The SSM documents plans may run (issue #13): comma-separated names or `prefix*` patterns; StartPlan refuses
    # a plan naming any other (orchestrator/domain/plan/documents.py). Default: the project's own documents
    # (infra/ssm_documents/). Blank: no document. A malformed value fails the cold start, not a StartPlan.
    allowed_ssm_documents: str = Field(
        default="DRSOrch-*",
        pattern=r"^\s*([A-Za-z0-9_.:/-]{1,256}\*?|\*)?\s*(,\s*([A-Za-z0-9_.:/-]{1,256}\*?|\*)?\s*)*$",
        validation_alias="ALLOWED_SSM_DOCUMENTS",
    )
    # The Lambda functions LAMBDA steps may invoke (issue #18): comma-separated unqualified function ARNs, the stack's
    # context `allowedLambdaFunctions` (it grants lambda:InvokeFunction on these alone and points their asynchronous
    # destinations at the bus). StartPlan refuses a plan naming any other (orchestrator/domain/plan/lambda_functions.py)
    # and a step refuses it again at run time. Blank: none. A malformed value fails the cold start.
    allowed_lambda_functions: str = Field(
        default="",
        pattern=(
            r"^\s*(arn:aws[a-z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64})?\s*"
            r"(,\s*(arn:aws[a-z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64})?\s*)*$"
        ),
        validation_alias="ALLOWED_LAMBDA_FUNCTIONS",
    )
    # The role SSM_AUTOMATION runbooks run as (issue #18; infra/constructs/automation_role.py), set for the script
    # functions: passed as a runbook's AutomationAssumeRole wherever it declares one. Blank: none is passed (the
    # runbook runs as the function, which holds none of what runbooks do: set it).
    automation_assume_role_arn: str = Field(default="", validation_alias="AUTOMATION_ASSUME_ROLE_ARN")
    # Who may start a RECOVERY through the operator endpoint (issue #13): comma-separated IAM principals (role
    # ARNs, user ARNs, session patterns: orchestrator/domain/principals.py), the stack's `recoveryPrincipals`.
    # Blank: nobody (a RECOVERY is refused). Read by the operator function only; a malformed entry refuses every
    # RECOVERY (fail closed) and the CDK app refuses it at synth.
    recovery_principals: str = Field(default="", validation_alias="RECOVERY_PRINCIPALS")
    # The operator-proof KMS key (HMAC_256; issue #13): the operator function signs its commands with it, the
    # StartPlan and control functions verify them (orchestrator/steps/operator_proof.py). Required for those
    # three (by their POWERTOOLS_SERVICE_NAME, which the stack sets for every function).
    operator_proof_key: str = Field(default="", validation_alias="OPERATOR_PROOF_KEY_ID")
    service: str = Field(default="", validation_alias="POWERTOOLS_SERVICE_NAME")
    # The plan store's S3 bucket (issue #16, stored plans: orchestrator/adapters/plan_store.py), set for the StartPlan
    # function only: a StartPlan naming `planRef` reads its version there. Blank: no store (such a start is refused).
    plan_bucket: str = Field(default="", validation_alias="PLAN_BUCKET_NAME")
    # The share of a recovery time objective (percent) after which a wave or plan still running is at risk
    # (ObjectiveAtRisk; issue #16): the stack's `objectiveAtRiskPercent`, default 80.
    objective_at_risk_percent: float = Field(
        default=80.0, gt=0, lt=100, allow_inf_nan=False, validation_alias="OBJECTIVE_AT_RISK_PERCENT"
    )

    @property
    def own_account(self) -> str | None:
        """The orchestrator's own account, read from the ARN of a resource of its own stack in the environment (no
        call made): the bus ARN (every function that schedules: preflight, launch, watcher, scripts, control), else
        the operator-proof key's (StartPlan), else the scheduler role's; None without any. A wave target without a
        role must be this account (`orchestrator.runtime.Runtime.at`)."""
        for arn in (self.bus_arn, self.operator_proof_key, self.scheduler_role_arn):
            match = _ARN_ACCOUNT.match(arn)
            if match is not None:
                return match.group(1)
        return None

    @property
    def home(self) -> tuple[str | None, str]:
        """(own account, own Region): where the orchestrator runs (`orchestrator.domain.targets.pool_of`)."""
        return (self.own_account, self.region)


# What every function uses (the ledger, the bus), and what a function that schedules ticks uses, together.
ALWAYS_REQUIRED = ("table_name", "bus_name")
SCHEDULER_SETTINGS = ("scheduler_group", "scheduler_role_arn", "bus_arn")
# The operator function (the one whose environment names the recovery principals, even none) uses the bus only:
# it reads no ledger, and is granted none.
OPERATOR_SETTING = "recovery_principals"
OPERATOR_REQUIRED = ("bus_name",)
# The archive function (the one whose environment names the evidence bucket) reads the ledger and writes the
# bucket; it publishes nothing.
EVIDENCE_SETTING = "evidence_bucket"
EVIDENCE_REQUIRED = ("table_name", "evidence_bucket")
# The functions that sign (operator) or verify (start_plan, control) the operator's commands, by the service
# name the stack gives them (infra/definitions.py function_environment: drs-orch-<function>).
OPERATOR_PROOF_SERVICES = frozenset({"drs-orch-operator", "drs-orch-start_plan", "drs-orch-control"})


def _variable(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, str)
    return alias


def missing_settings(settings: Settings) -> list[str]:
    """The environment variables a deployed function lacks (set and not empty counts as present)."""

    def present(field: str) -> bool:
        return field in settings.model_fields_set and bool(str(getattr(settings, field)).strip())

    required = OPERATOR_REQUIRED if OPERATOR_SETTING in settings.model_fields_set else ALWAYS_REQUIRED
    if EVIDENCE_SETTING in settings.model_fields_set:
        required = EVIDENCE_REQUIRED
    if settings.service in OPERATOR_PROOF_SERVICES:
        required = (*required, "operator_proof_key")
    missing = [field for field in required if not present(field)]
    scheduler = [field for field in SCHEDULER_SETTINGS if present(field)]
    if scheduler:  # a function that schedules needs all three; one without any never schedules
        missing += [field for field in SCHEDULER_SETTINGS if not present(field)]
    return [_variable(field) for field in missing]


def check_required(settings: Settings, function: str) -> Settings:
    """`settings`, or MissingSettingError naming what the deployed `function` lacks."""
    missing = missing_settings(settings)
    if missing:
        raise MissingSettingError(function, missing)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    function = os.environ.get(LAMBDA_FUNCTION_NAME)
    return check_required(settings, function) if function else settings


if os.environ.get(LAMBDA_FUNCTION_NAME):  # a cold start: fail the init phase, not a later invocation
    get_settings()
