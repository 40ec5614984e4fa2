"""One Lambda function per `definitions.FUNCTIONS` entry, each with its own role, log group and grants."""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from events.models import OPERATOR_SOURCE
from infra import definitions
from infra.constructs.evidence import EvidenceBucket
from infra.constructs.ledger import Ledger
from infra.constructs.permissions import (
    PermissionSettings,
    failback_statements,
    in_region,
    lambda_invoke_statement,
    launch_settings_statements,
    operator_proof_statement,
    own_account_statements,
)
from infra.constructs.plan_store import PlanStore
from infra.constructs.scheduler import TickScheduler
from infra.definitions import DEFAULT_OBJECTIVE_AT_RISK_PERCENT, Function, LaunchPacking, function_environment

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
# Lambda's own retries of an event-driven invocation whose handler raised, before the failure queue.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(6)
QUEUE_RETENTION = Duration.days(14)


def pascal(name: str) -> str:
    return "".join(part.title() for part in name.replace("-", "_").split("_"))


@jsii.implements(lambda_.IDestination)
class FailedInvocationQueue:
    """An SQS on-failure destination granting only what Lambda uses: sqs:SendMessage on the queue (Lambda
    developer guide, destinations: the execution role needs sqs:SendMessage). CDK's SqsDestination also grants
    GetQueueAttributes and GetQueueUrl, which nothing calls (tests/infra/test_grants_match_calls.py)."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        _scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,  # noqa: A002 - the name jsii calls the IDestination interface with
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn]))
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


def secure_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A dead-letter queue: SQS-managed encryption (EventBridge can write to it), TLS only, 14 days."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
    )


class OrchestratorFunctions(Construct):
    """The functions; each sees only its own environment and holds only its own permissions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        ledger: Ledger,
        bus: events.IEventBus,
        ticks: TickScheduler,
        log_retention: logs.RetentionDays,
        permissions: PermissionSettings,
        recovery_principals: Sequence[str] = (),
        operator_proof_key_arn: str = "",
        plan_store: PlanStore | None = None,
        objective_at_risk_percent: float = DEFAULT_OBJECTIVE_AT_RISK_PERCENT,
        evidence: EvidenceBucket | None = None,
        ledger_ttl_days: int | None = None,
        launch_packing: LaunchPacking | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.launch_packing = launch_packing  # the launch function's packing settings (issue #19; None: defaults)
        self.plan_store = plan_store  # the stored plans StartPlan reads (planRef)
        self.evidence = evidence  # the archive function's bucket (issue #16)
        self.ledger_ttl_days = ledger_ttl_days  # the ledger's time to live (None: none), for the ledger's writers
        self.operator_proof_key_arn = operator_proof_key_arn  # signs (operator) and verifies (start_plan, control)
        self.recovery_principals = ",".join(recovery_principals)  # the operator function's RECOVERY_PRINCIPALS
        self.objective_at_risk_percent = objective_at_risk_percent
        # Invocations whose handler still fails after Lambda's retries (the rules' DLQs only catch
        # delivery failures: once Lambda accepted an async event, its own retry and destination apply).
        self.failed_invocations = secure_queue(self, "FailedInvocations")
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        self.environments: dict[str, dict[str, str]] = {}
        for spec in definitions.FUNCTIONS.values():
            self._add(
                spec,
                code=code,
                ledger=ledger,
                bus=bus,
                ticks=ticks,
                log_retention=log_retention,
                permissions=permissions,
            )

    def _grant_buckets(self, spec: Function, role: iam.Role) -> None:
        """The S3 grants of `spec`: the evidence bucket (the archive function writes), the plan store (StartPlan
        reads). ValueError when the function needs a bucket the stack did not give."""
        if spec.needs_evidence:
            if self.evidence is None:
                raise ValueError(f"function {spec.name} stores evidence: give the evidence bucket")
            self.evidence.grant_archive(role)
        if spec.reads_plan_store:
            if self.plan_store is None:
                raise ValueError(f"function {spec.name} reads stored plans: give the plan store")
            self.plan_store.grant_read(role)

    def _add(
        self,
        spec: Function,
        *,
        code: lambda_.Code,
        ledger: Ledger,
        bus: events.IEventBus,
        ticks: TickScheduler,
        log_retention: logs.RetentionDays,
        permissions: PermissionSettings,
    ) -> None:
        name = pascal(spec.name)
        # No managed policy (AWSLambdaBasicExecutionRole grants logs on every log group): grants below.
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"drs-orch {spec.name}: {spec.description}",
        )
        log_group = logs.LogGroup(self, f"{name}Logs", retention=log_retention)
        environment = function_environment(
            spec,
            table_name=ledger.table.table_name,
            bus_name=bus.event_bus_name,
            bus_arn=bus.event_bus_arn,
            scheduler_group=ticks.group_name,
            scheduler_role_arn=ticks.role.role_arn,
            allowed_ssm_documents=permissions.allowed_ssm_documents,
            allowed_lambda_functions=permissions.allowed_lambda_functions,
            recovery_principals=self.recovery_principals,
            operator_proof_key=self.operator_proof_key_arn,
            plan_bucket=self.plan_store.bucket.bucket_name if self.plan_store is not None else "",
            objective_at_risk_percent=self.objective_at_risk_percent,
            evidence_bucket=self.evidence.bucket.bucket_name if self.evidence else "",
            ledger_ttl_days=self.ledger_ttl_days,
            automation_role_arn=permissions.automation_role_arn or "",
            launch_packing=self.launch_packing,
        )
        function = lambda_.Function(
            self,
            name,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=spec.handler,
            code=code,
            role=role,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment=environment,
        )
        log_group.grant_write(role)
        if spec.needs_table:
            ledger.grant_ledger(role, read_only=spec.ledger_read_only)
        if spec.queries_executions:
            ledger.grant_executions_query(role)
        self._grant_buckets(spec, role)
        if spec.needs_bus:
            # the operator endpoint publishes only with its own source (the bus policy keeps that source, and the
            # operator commands, to its role alone)
            only_its_source = {"ForAllValues:StringEquals": {"events:source": [OPERATOR_SOURCE]}}
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["events:PutEvents"],
                    resources=[bus.event_bus_arn],
                    conditions=only_its_source if spec.operator else None,
                )
            )
        if spec.operator_proof:
            if not self.operator_proof_key_arn:
                raise ValueError(f"function {spec.name} signs or verifies operator commands: give the proof key")
            role.add_to_policy(operator_proof_statement(self.operator_proof_key_arn, spec.operator_proof))
        if spec.needs_scheduler:  # only the script steps and a cancel (of a WAIT step) delete a tick
            ticks.grant_schedule(role, delete=spec.needs_ssm or spec.deletes_ticks)
        for statement in own_account_statements(self, spec, permissions):  # DRS, EC2, SSM (one source of truth)
            role.add_to_policy(statement)
        if spec.needs_drs:
            self._launch_settings_policy(name, spec.name, role, function, permissions)
            self._failback_policy(name, spec.name, role, function, permissions)
        self._target_region_policies(name, spec, role, function, permissions)
        if spec.needs_ssm:
            invoke = lambda_invoke_statement(permissions)  # the script steps run LAMBDA steps too
            if invoke is not None:
                role.add_to_policy(invoke)
        if any(route.target == spec.name for route in definitions.ROUTES):  # async, from EventBridge
            function.configure_async_invoke(
                retry_attempts=ASYNC_RETRY_ATTEMPTS,
                max_event_age=ASYNC_MAX_EVENT_AGE,
                on_failure=FailedInvocationQueue(self.failed_invocations),
            )
        self.functions[spec.name] = function
        self.roles[spec.name] = role
        self.environments[spec.name] = environment

    def _target_region_policies(
        self, name: str, spec: Function, role: iam.Role, function: lambda_.Function, permissions: PermissionSettings
    ) -> None:
        """The function's DRS, EC2 and SSM grants of this Region again in each of the deploy's targetRegions
        (role-less wave targets: other Regions of this account), as managed policies of their own per Region: one
        with the role policy's twins, one with the launch-settings and failback policies' (a customer managed policy
        holds at most 6,144 characters: the wave launcher's twins of both would not fit in one; inline, they would
        take the role policy past IAM's inline size). The function depends on them, so no invocation runs before the
        grants exist."""
        groups = (
            ("", own_account_statements(self, spec, permissions)),
            (
                "Launch",
                [
                    *launch_settings_statements(self, spec.name, permissions),
                    *failback_statements(self, spec.name, permissions),
                ],
            ),
        )
        for region in permissions.target_regions:
            for suffix, here in groups:
                self._managed_policy(
                    f"{name}In{pascal(region)}{suffix}",
                    f"drs-orch {spec.name}: its DRS, EC2 and SSM grants in {region} (role-less targets)",
                    in_region(self, here, region),
                    role,
                    function,
                )

    def _failback_policy(
        self, name: str, function_name: str, role: iam.Role, function: lambda_.Function, permissions: PermissionSettings
    ) -> None:
        """The failback engine's grants (`failback_statements`) in a managed policy of their own, attached to the role
        (inline, they would take the wave launcher's role policy past IAM's inline size). The function depends on it."""
        self._managed_policy(
            f"{name}Failback",
            f"drs-orch {function_name}: failback, reverse replication and reprotect (issue #15)",
            failback_statements(self, function_name, permissions),
            role,
            function,
        )

    def _launch_settings_policy(
        self, name: str, function_name: str, role: iam.Role, function: lambda_.Function, permissions: PermissionSettings
    ) -> None:
        """The launch-settings statements (`launch_settings_statements`) in a managed policy of their own, attached
        to the role: inline, they would take the wave launcher's role policy past IAM's inline size, and CDK would
        split the excess into an overflow policy named after the role. The function depends on the policy, so no
        invocation runs before the grant exists."""
        self._managed_policy(
            f"{name}LaunchSettings",
            f"drs-orch {function_name}: a plan's launch settings, applied before StartRecovery, restored",
            launch_settings_statements(self, function_name, permissions),
            role,
            function,
        )

    def _managed_policy(
        self,
        logical_id: str,
        description: str,
        statements: list[iam.PolicyStatement],
        role: iam.Role,
        function: lambda_.Function,
    ) -> None:
        """`statements` in a customer managed policy of their own attached to `role` (nothing when there are none);
        the function depends on it, so no invocation runs before the grant exists."""
        if not statements:
            return
        policy = iam.ManagedPolicy(self, logical_id, description=description, statements=statements, roles=[role])
        function.node.add_dependency(policy)
