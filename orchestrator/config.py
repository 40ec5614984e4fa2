"""Configuration read once from the environment (the CDK stack and the local cloud set it)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(default="drs-orchestrator-ledger", validation_alias="LEDGER_TABLE_NAME")
    bus_name: str = Field(default="drs-orchestrator", validation_alias="EVENT_BUS_NAME")
    bus_arn: str = Field(default="", validation_alias="EVENT_BUS_ARN")
    scheduler_group: str = Field(default="drs-orchestrator", validation_alias="SCHEDULER_GROUP_NAME")
    scheduler_role_arn: str = Field(default="", validation_alias="SCHEDULER_ROLE_ARN")
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    finished_ttl_days: int = Field(default=90, validation_alias="FINISHED_EXECUTION_TTL_DAYS")
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
    # The SSM documents plans may run (issue #13): comma-separated names or `prefix*` patterns; StartPlan refuses
    # a plan naming any other (orchestrator/domain/plan/documents.py). Default: the project's own documents
    # (infra/ssm_documents/). Blank: no document. A malformed value fails the cold start, not a StartPlan.
    allowed_ssm_documents: str = Field(
        default="DRSOrch-*",
        pattern=r"^\s*([A-Za-z0-9_.:/-]{1,256}\*?|\*)?\s*(,\s*([A-Za-z0-9_.:/-]{1,256}\*?|\*)?\s*)*$",
        validation_alias="ALLOWED_SSM_DOCUMENTS",
    )
    # Who may start a RECOVERY through the operator endpoint (issue #13): comma-separated IAM principals (role
    # ARNs, user ARNs, session patterns: orchestrator/domain/principals.py), the stack's `recoveryPrincipals`.
    # Blank: nobody (a RECOVERY is refused). Read by the operator function only; a malformed entry refuses every
    # RECOVERY (fail closed) and the CDK app refuses it at synth.
    recovery_principals: str = Field(default="", validation_alias="RECOVERY_PRINCIPALS")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
