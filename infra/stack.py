"""The DRS Orchestrator stack: one construct per concern, wired from `infra.definitions`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bundle import build_lambda_asset, skip_requested
from infra.constructs.alerting import Alerting
from infra.constructs.automation_role import AutomationRole
from infra.constructs.bus import OrchestratorBus
from infra.constructs.console_widget import ConsoleWidget
from infra.constructs.drill_schedules import DrillSchedules
from infra.constructs.evidence import EvidenceBucket
from infra.constructs.functions import OrchestratorFunctions
from infra.constructs.lambda_steps import LambdaStepDestinations
from infra.constructs.ledger import Ledger
from infra.constructs.nag import acknowledge, acknowledge_policy_wildcards
from infra.constructs.operator import OperatorEndpoint
from infra.constructs.operator_policy import OperatorPolicies
from infra.constructs.operator_proof import OperatorProofKey
from infra.constructs.permissions import DEFAULT_SCRIPT_TARGET_TAG, PermissionSettings
from infra.constructs.plan_store import PlanStore
from infra.constructs.rules import Routes
from infra.constructs.scheduler import TickScheduler
from infra.constructs.script_documents import ScriptDocuments
from infra.constructs.target_account import target_functions
from infra.constructs.wave_launch import WaveLaunch
from infra.definitions import DEFAULT_OBJECTIVE_AT_RISK_PERCENT, FUNCTIONS, LaunchPacking, project_ssm_documents
from orchestrator.domain.evidence import ledger_ttl_problem
from orchestrator.domain.plan.lambda_functions import FunctionAllowList
from orchestrator.domain.plan.target import REGION_PATTERN
from orchestrator.domain.principals import principal_problem
from orchestrator.domain.schedules import DrillSchedule, parse_schedules

_TRUE = {"1", "true", "yes", "on"}


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def _strings(value: Any) -> list[str]:
    """A list from JSON context, or a comma-separated string from `-c key=a,b`."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in value]


_RETENTION_DAYS = {
    "ONE_DAY": 1,
    "THREE_DAYS": 3,
    "FIVE_DAYS": 5,
    "ONE_WEEK": 7,
    "TWO_WEEKS": 14,
    "ONE_MONTH": 30,
    "TWO_MONTHS": 60,
    "THREE_MONTHS": 90,
    "FOUR_MONTHS": 120,
    "FIVE_MONTHS": 150,
    "SIX_MONTHS": 180,
    "ONE_YEAR": 365,
    "THIRTEEN_MONTHS": 400,
    "EIGHTEEN_MONTHS": 545,
    "TWO_YEARS": 731,
    "THREE_YEARS": 1096,
    "FIVE_YEARS": 1827,
    "SIX_YEARS": 2192,
    "SEVEN_YEARS": 2557,
    "EIGHT_YEARS": 2922,
    "NINE_YEARS": 3288,
    "TEN_YEARS": 3653,
}


# An SSM document name (SSM API reference, DocumentName pattern), a shared document's ARN, or such a prefix
# followed by `*` (the functions' allow-list reads the same syntax: orchestrator/domain/plan/documents.py).
_DOCUMENT = re.compile(r"^(arn:[a-z-]+:ssm:[a-z0-9-]+:[0-9]{12}:document/)?[a-zA-Z0-9_.:/-]{1,128}\*?$")


def _documents(value: Any, default: Sequence[str]) -> tuple[str, ...]:
    names = tuple(_strings(value)) or tuple(default)
    if "*" in names:
        raise ValueError(
            "allowedSsmDocuments: '*' would let plans run every document (AWS-RunShellScript included) on the "
            "instances scripts reach: name the documents, or a 'prefix*' of your own"
        )
    bad = [name for name in names if not _DOCUMENT.match(name)]
    if bad:
        raise ValueError(
            f"allowedSsmDocuments: {', '.join(map(repr, bad))} is not an SSM document name, ARN or 'prefix*' pattern"
        )
    return names


def _functions(value: Any) -> tuple[str, ...]:
    """allowedLambdaFunctions: unqualified function ARNs (no pattern, no name: a grant and a destination each)."""
    arns = tuple(_strings(value))
    try:
        FunctionAllowList.parse(",".join(arns))
    except ValueError as exc:
        raise ValueError(f"allowedLambdaFunctions: {exc}".replace("ALLOWED_LAMBDA_FUNCTIONS: ", "")) from None
    return arns


def _tag(name: str, value: Any, default: tuple[str, str] | None) -> tuple[str, str] | None:
    """`key=value` from context; `default` when unset; a malformed one is an error naming the setting."""
    text = str(value or "").strip()
    if not text:
        return default
    key, equals, tag_value = text.partition("=")
    if not equals or not key.strip() or not tag_value.strip():
        raise ValueError(f"{name}: {text!r} is not KEY=VALUE")
    return key.strip(), tag_value.strip()


def _days(name: str, value: Any) -> int | None:
    """Whole days from context: None when unset, empty or 0 (the setting is off); an error naming the setting else."""
    if value is None or value == "" or value is False:
        return None
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number of days") from None
    return days or None


def _json(name: str, value: Any) -> Any:
    """A structured setting: as cdk.json holds it, or the JSON text `-c name=...` gives."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not JSON ({exc})") from None


_ACCOUNT = re.compile(r"^[0-9]{12}$")


def _accounts(name: str, value: Any) -> tuple[str, ...]:
    """AWS account ids (12 digits), deduplicated in order; a malformed one is an error naming the setting."""
    accounts = tuple(dict.fromkeys(_strings(value)))
    bad = [account for account in accounts if not _ACCOUNT.match(account)]
    if bad:
        raise ValueError(f"{name}: {', '.join(map(repr, bad))} is not an AWS account id (12 digits)")
    return accounts


#: targetRegions at most: each Region adds two managed policies to the wave launcher's role, which has two of its own
#: (launch settings, failback), and IAM attaches at most 10 managed policies to a role by default (IAM quotas).
MAX_TARGET_REGIONS = 4


def _regions(name: str, value: Any) -> tuple[str, ...]:
    """Region names (us-west-2), deduplicated in order, at most MAX_TARGET_REGIONS; a malformed one is an error naming
    the setting (the plan's own Region syntax: orchestrator/domain/plan/target.py REGION_PATTERN)."""
    regions = tuple(dict.fromkeys(_strings(value)))
    bad = [region for region in regions if not re.fullmatch(REGION_PATTERN, region)]
    if bad:
        raise ValueError(f"{name}: {', '.join(map(repr, bad))} is not a Region name (such as us-west-2)")
    if len(regions) > MAX_TARGET_REGIONS:
        raise ValueError(
            f"{name}: {len(regions)} Regions, at most {MAX_TARGET_REGIONS} (each adds two managed policies to the "
            "wave launcher's role, and IAM attaches at most 10 to a role by default)"
        )
    return regions


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")


def _role_arns(name: str, value: Any) -> tuple[str, ...]:
    """IAM role ARNs (no wildcard), deduplicated in order; a malformed one is an error naming the setting."""
    arns = tuple(dict.fromkeys(_strings(value)))
    bad = [arn for arn in arns if not _ROLE_ARN.match(arn)]
    if bad:
        raise ValueError(f"{name}: {', '.join(map(repr, bad))} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return arns


def _retention(days: int) -> logs.RetentionDays:
    for name, member_days in _RETENTION_DAYS.items():
        if member_days == days:
            return logs.RetentionDays[name]
    raise ValueError(f"logRetentionDays={days} is not a CloudWatch Logs retention period")


def _percent(name: str, value: Any) -> float:
    """A share in percent, above 0 and below 100; a malformed one is an error naming the setting."""
    try:
        percent = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if not 0 < percent < 100:
        raise ValueError(f"{name}: {percent:g} is not above 0 and below 100 (a share of the RTO, in percent)")
    return percent


def _strict_flag(name: str, value: Any) -> bool:
    """true/false (or yes/no, on/off, 1/0) from context; anything else is an error naming the setting."""
    text = str(value).strip().lower()
    if value is True or text in _TRUE:
        return True
    if value is False or text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}: {value!r} is not true or false")


def _seconds(name: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a whole number of seconds") from None


def _launch_packing(get: Callable[[str], Any], defaults: LaunchPacking) -> LaunchPacking:
    """Context launchPacking (default true), packingWindowSeconds, packingStarvationSeconds (issue #19)."""
    enabled, window, starvation = get("launchPacking"), get("packingWindowSeconds"), get("packingStarvationSeconds")
    return LaunchPacking(
        enabled=defaults.enabled if enabled is None else _strict_flag("launchPacking", enabled),
        window_seconds=defaults.window_seconds if window is None else _seconds("packingWindowSeconds", window),
        starvation_seconds=(
            defaults.starvation_seconds if starvation is None else _seconds("packingStarvationSeconds", starvation)
        ),
    )


@dataclass(frozen=True)
class StackConfig:
    """Deployment choices, read from cdk.json context (`-c key=value` overrides)."""

    publisher_principals: Sequence[str] = ()
    # who may start a RECOVERY through the operator endpoint (role ARNs, user ARNs, session patterns)
    recovery_principals: Sequence[str] = ()
    alarm_email: str | None = None
    archive_retention_days: int = 365
    log_retention_days: int = 30
    target_retry_attempts: int = 50
    target_max_event_age_seconds: int = 6 * 3600
    start_job_concurrency: int = 5
    throttle_retry_interval_seconds: int = 2
    ledger_customer_managed_key: bool = False
    source_server_tag: tuple[str, str] | None = None
    recovery_instance_role_names: Sequence[str] = ("AWSElasticDisasterRecoveryRecoveryInstanceRole",)
    # the SSM documents plans may run (names or `prefix*`): by default the project's own, deployed by the stack
    allowed_ssm_documents: Sequence[str] = field(default_factory=project_ssm_documents)
    # scripts may target instances carrying this tag, besides the recovery instances DRS launched for a plan
    script_target_tag: tuple[str, str] = DEFAULT_SCRIPT_TARGET_TAG
    # the unqualified function ARNs LAMBDA steps may invoke (granted, and their destinations pointed at the bus)
    allowed_lambda_functions: Sequence[str] = ()
    skip_bundle: bool = False
    # the share of a recovery time objective (percent, above 0 and below 100) after which ObjectiveAtRisk goes out
    objective_at_risk_percent: float = DEFAULT_OBJECTIVE_AT_RISK_PERCENT
    # evidence kept on AWS (issue #16): the evidence bucket's Object Lock retention in days (COMPLIANCE mode; 0: no
    # Object Lock), its customer managed key, and the ledger's time to live in days (None: off, nothing expires),
    # which may never be shorter than that retention (checked here, at synth)
    evidence_object_lock_days: int = 0
    evidence_customer_managed_key: bool = False
    ledger_ttl_days: int | None = None
    # scheduled drills (issue #16 item 5): stored plan versions EventBridge Scheduler starts as a DRILL
    drill_schedules: tuple[DrillSchedule, ...] = ()
    # the recovery or staging accounts whose target-account stacks forward aws.drs and aws.ssm events to the bus
    # (issue #15): the bus policy admits exactly these accounts for exactly those sources; none: no such statement
    target_accounts: tuple[str, ...] = ()
    # the target roles (issue #15: a wave's `target.roleArn`, the target stacks' TargetRoleArn outputs) the functions
    # that call DRS, EC2 or SSM may assume (sts:AssumeRole on exactly these ARNs; each of an account of
    # `target_accounts`); none: no such grant, and a plan whose waves name a target fails those waves at preflight
    target_role_arns: tuple[str, ...] = ()
    # other Regions of this account that waves may target without a role (issue #15: cross-Region DR inside one
    # account, context targetRegions): the functions' DRS, EC2 and SSM grants of this Region are granted there too,
    # exactly those Regions; none: a role-less target in another Region is refused by IAM there
    target_regions: tuple[str, ...] = ()
    # launch packing (issue #19): context launchPacking (true/false), packingWindowSeconds, packingStarvationSeconds
    launch_packing: LaunchPacking = field(default_factory=LaunchPacking)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problem = ledger_ttl_problem(self.ledger_ttl_days, self.evidence_object_lock_days)
        if problem is not None:
            raise ValueError(problem)
        outside = [arn for arn in self.target_role_arns if arn.split(":")[4] not in self.target_accounts]
        if outside:
            raise ValueError(
                f"targetRoleArns: {', '.join(map(repr, outside))} is not a role of an account of targetAccounts "
                f"({', '.join(self.target_accounts) or 'none'}): add its account there (its events are forwarded "
                "to the bus only from those)"
            )

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> StackConfig:
        defaults = cls()

        def value(key: str, default: Any) -> Any:
            found = get(key)
            return default if found is None else found

        script_target_tag = _tag("scriptTargetTag", get("scriptTargetTag"), defaults.script_target_tag)
        assert script_target_tag is not None
        recovery_principals = tuple(_strings(get("recoveryPrincipals")))
        for principal in recovery_principals:
            problem = principal_problem(principal)
            if problem is not None:
                raise ValueError(f"recoveryPrincipals: {problem}")
        return cls(
            publisher_principals=tuple(_strings(get("publisherPrincipals"))),
            recovery_principals=recovery_principals,
            alarm_email=str(value("alarmEmail", "") or "") or None,
            archive_retention_days=int(value("archiveRetentionDays", defaults.archive_retention_days)),
            log_retention_days=int(value("logRetentionDays", defaults.log_retention_days)),
            target_retry_attempts=int(value("targetRetryAttempts", defaults.target_retry_attempts)),
            target_max_event_age_seconds=int(value("targetMaxEventAgeSeconds", defaults.target_max_event_age_seconds)),
            start_job_concurrency=int(value("startJobConcurrency", defaults.start_job_concurrency)),
            throttle_retry_interval_seconds=int(
                value("throttleRetryIntervalSeconds", defaults.throttle_retry_interval_seconds)
            ),
            ledger_customer_managed_key=_flag(value("ledgerCustomerManagedKey", False)),
            source_server_tag=_tag("sourceServerTag", get("sourceServerTag"), None),
            recovery_instance_role_names=tuple(
                _strings(get("recoveryInstanceRoleNames")) or defaults.recovery_instance_role_names
            ),
            allowed_ssm_documents=_documents(get("allowedSsmDocuments"), defaults.allowed_ssm_documents),
            script_target_tag=script_target_tag,
            allowed_lambda_functions=_functions(get("allowedLambdaFunctions")),
            skip_bundle=skip_requested(get("skipBundle")),
            objective_at_risk_percent=_percent(
                "objectiveAtRiskPercent", value("objectiveAtRiskPercent", defaults.objective_at_risk_percent)
            ),
            evidence_object_lock_days=_days("evidenceObjectLockDays", get("evidenceObjectLockDays")) or 0,
            evidence_customer_managed_key=_flag(value("evidenceCustomerManagedKey", False)),
            ledger_ttl_days=_days("ledgerTtlDays", get("ledgerTtlDays")),
            drill_schedules=parse_schedules(_json("drillSchedules", get("drillSchedules"))),
            target_accounts=_accounts("targetAccounts", get("targetAccounts")),
            target_role_arns=_role_arns("targetRoleArns", get("targetRoleArns")),
            target_regions=_regions("targetRegions", get("targetRegions")),
            launch_packing=_launch_packing(get, defaults.launch_packing),
        )


class OrchestratorStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig | None = None, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config or StackConfig.from_context(self.node.try_get_context)
        cfg = self.config
        log_retention = _retention(cfg.log_retention_days)
        max_event_age = Duration.seconds(cfg.target_max_event_age_seconds)

        self.bus = OrchestratorBus(
            self,
            "Bus",
            archive_retention=Duration.days(cfg.archive_retention_days),
            publisher_principals=cfg.publisher_principals,
        )
        self.ledger = Ledger(self, "Ledger", customer_managed_key=cfg.ledger_customer_managed_key)
        self.evidence = EvidenceBucket(
            self,
            "Evidence",
            object_lock_days=cfg.evidence_object_lock_days,
            customer_managed_key=cfg.evidence_customer_managed_key,
        )
        self.ticks = TickScheduler(self, "Ticks", bus=self.bus.bus)
        self.script_documents = ScriptDocuments(self, "ScriptDocuments")
        # the role SSM_AUTOMATION runbooks run as (their AutomationAssumeRole): the script functions may pass it only
        self.automation_role = AutomationRole(self, "AutomationRole")
        # the operator function's proof that it published a command (a KMS HMAC key only it may generate with)
        self.operator_proof = OperatorProofKey(self, "OperatorProof")
        # stored plans (drs-orch plan push), read by StartPlan when it names one (planRef)
        self.plan_store = PlanStore(self, "PlanStore")
        code = lambda_.Code.from_asset(str(build_lambda_asset(skip_dependencies=cfg.skip_bundle)))
        self.functions = OrchestratorFunctions(
            self,
            "Functions",
            code=code,
            ledger=self.ledger,
            bus=self.bus.bus,
            ticks=self.ticks,
            log_retention=log_retention,
            permissions=PermissionSettings(
                source_server_tag=cfg.source_server_tag,
                recovery_instance_role_names=cfg.recovery_instance_role_names,
                allowed_ssm_documents=cfg.allowed_ssm_documents,
                script_target_tag=cfg.script_target_tag,
                allowed_lambda_functions=cfg.allowed_lambda_functions,
                automation_role_arn=self.automation_role.role.role_arn,
                target_regions=cfg.target_regions,
            ),
            recovery_principals=cfg.recovery_principals,
            operator_proof_key_arn=self.operator_proof.key.key_arn,
            plan_store=self.plan_store,
            objective_at_risk_percent=cfg.objective_at_risk_percent,
            evidence=self.evidence,
            ledger_ttl_days=cfg.ledger_ttl_days,
            launch_packing=cfg.launch_packing,
        )
        # the allowed functions of LAMBDA steps send their results to the bus (their asynchronous destinations)
        self.lambda_steps = LambdaStepDestinations(
            self, "LambdaSteps", bus=self.bus.bus, function_arns=cfg.allowed_lambda_functions
        )
        for spec in FUNCTIONS.values():
            if spec.operator_proof:
                self.operator_proof.admit(self.functions.roles[spec.name], spec.operator_proof)
        operator = next(spec.name for spec in FUNCTIONS.values() if spec.operator)
        self.operator = OperatorEndpoint(
            self, "Operator", function=self.functions.functions[operator], invokers=cfg.publisher_principals
        )
        self.drill_schedules = (
            DrillSchedules(self, "DrillSchedules", bus=self.bus.bus, schedules=cfg.drill_schedules)
            if cfg.drill_schedules
            else None
        )
        self.bus.only_the_operator_commands(
            self.functions.roles[operator].role_arn,
            drill_scheduler_role_arn=self.drill_schedules.role.role_arn if self.drill_schedules else None,
        )
        # what the CLI's AWS verbs call, for the people who run them (README "Deploy to AWS")
        self.cli_policies = OperatorPolicies(
            self,
            "CliPolicies",
            bus=self.bus.bus,
            archive=self.bus.archive,
            table=self.ledger.table,
            operator_function=self.functions.functions[operator],
            allowed_ssm_documents=cfg.allowed_ssm_documents,
            plan_store=self.plan_store,
            evidence=self.evidence,
        )
        self.bus.only_the_orchestrator_sends(
            [
                self.functions.roles[spec.name].role_arn
                for spec in FUNCTIONS.values()
                if spec.needs_bus and not spec.operator
            ]
            + [self.ticks.role.role_arn]
        )
        # the target accounts' forwarded DRS and SSM events (infra/target_stack.py), their sources only
        self.bus.admit_target_accounts(cfg.target_accounts)
        # a wave's target (issue #15): the functions that call DRS, EC2 or SSM may assume exactly the target roles
        if cfg.target_role_arns:
            assume = iam.PolicyStatement(
                sid="AssumeTargetRoles", actions=["sts:AssumeRole"], resources=list(cfg.target_role_arns)
            )
            for name in target_functions():
                self.functions.roles[name].add_to_principal_policy(assume)
        self.wave_launch = WaveLaunch(
            self,
            "WaveLaunch",
            launch_function=self.functions.functions["launch_wave"],
            start_job_concurrency=cfg.start_job_concurrency,
            throttle_retry_interval_seconds=cfg.throttle_retry_interval_seconds,
            log_retention=log_retention,
        )
        self.routes = Routes(
            self,
            "Routes",
            bus=self.bus.bus,
            functions=dict(self.functions.functions),
            state_machine=self.wave_launch.state_machine,
            retry_attempts=cfg.target_retry_attempts,
            max_event_age=max_event_age,
            target_accounts=cfg.target_accounts,
        )
        self.alerting = Alerting(
            self,
            "Alerting",
            bus=self.bus.bus,
            functions=self.functions.functions,
            state_machine=self.wave_launch.state_machine,
            dead_letter_queues={
                **self.routes.dead_letter_queues,
                "failed-invocations": self.functions.failed_invocations,
            },
            alarm_email=cfg.alarm_email,
            retry_attempts=cfg.target_retry_attempts,
            max_event_age=max_event_age,
        )
        # the plans' executions in the console: a custom widget on the same dashboard (issue #17)
        self.console_widget = ConsoleWidget(
            self, "ConsoleWidget", code=code, ledger=self.ledger, log_retention=log_retention
        )
        self.alerting.dashboard.add_widgets(self.console_widget.widget)
        self._acknowledge()
        self._outputs()

    def _outputs(self) -> None:
        """What a user needs after `cdk deploy`: where to publish, what to subscribe to, what to replay."""
        CfnOutput(
            self,
            "EventBusName",
            value=self.bus.bus.event_bus_name,
            description="publish a drill's StartPlan here (drs-orch run --aws --bus ...)",
        )
        CfnOutput(self, "EventBusArn", value=self.bus.bus.event_bus_arn)
        CfnOutput(
            self,
            "ArchiveName",
            value=self.bus.archive.archive_name,
            description="aws events start-replay --event-source-arn <EventBusArn> ...",
        )
        CfnOutput(
            self,
            "AlertTopicArn",
            value=self.alerting.topic.topic_arn,
            description="PlanFailed, WaveFailed, ObjectiveAtRisk and ObjectiveMissed events, alarms, and approval "
            "requests with their approve/deny commands; subscribe here (email, or a chat channel)",
        )
        CfnOutput(self, "LedgerTableName", value=self.ledger.table.table_name)
        CfnOutput(
            self,
            "EvidenceBucketName",
            value=self.evidence.bucket.bucket_name,
            description="each ended execution's report (executions/<executionId>/report.json): drs-orch report "
            "EXECUTION --aws --bucket <EvidenceBucketName>",
        )
        CfnOutput(
            self,
            "OperatorUrl",
            value=self.operator.url.url,
            description="the operator endpoint (AWS_IAM, SigV4): drs-orch approve|deny|cancel|retry|skip|run "
            "--recovery ... --aws",
        )
        CfnOutput(
            self,
            "OperatorPolicyArn",
            value=self.cli_policies.operate.managed_policy_arn,
            description="what drs-orch run --aws and the operator commands call: aws iam attach-role-policy "
            "--policy-arn <OperatorPolicyArn> --role-name <an operator role>",
        )
        CfnOutput(
            self,
            "ReaderPolicyArn",
            value=self.cli_policies.read.managed_policy_arn,
            description="what drs-orch report, inspect --aws and validate --aws call (read only)",
        )
        CfnOutput(
            self,
            "ConsoleWidgetFunctionArn",
            value=self.console_widget.function.function_arn,
            description="the dashboard's custom widget (the plans' executions): its viewers need lambda:InvokeFunction",
        )
        CfnOutput(
            self,
            "TargetTrustedRoleArns",
            value=Fn.join(",", [self.functions.roles[name].role_arn for name in target_functions()]),
            description="the function roles a target-account stack trusts: cdk deploy DrsOrchestratorTarget "
            "--parameters OrchestratorFunctionRoleArns=<this>",
        )
        CfnOutput(
            self,
            "PlanBucketName",
            value=self.plan_store.bucket.bucket_name,
            description="the stored plans: drs-orch plan push PLAN --aws, run --plan-ref ID:VERSION --aws",
        )

    def _acknowledge(self) -> None:
        """cdk-nag findings accepted on purpose, each with its reason."""
        for function in [*self.functions.functions.values(), self.console_widget.function]:
            acknowledge(
                function,
                "L1",
                "Python 3.12 on purpose: the bundled binary wheels (pydantic-core, PyYAML) are built for cp312 "
                "arm64 and the code is tested on it; move runtime and wheel tag together.",
            )
        queues = [
            *self.routes.dead_letter_queues.values(),
            self.functions.failed_invocations,
            self.alerting.dead_letter_queue,
        ]
        for queue in queues:
            acknowledge(
                queue,
                "SQS3",
                "This queue is itself a dead-letter queue (of an EventBridge target or of Lambda's asynchronous "
                "invocations); its depth is alarmed. A DLQ of a DLQ would only hide failures.",
            )
        acknowledge_policy_wildcards(self)
