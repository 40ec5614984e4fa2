"""The embedded local cloud: the deployed architecture, on one machine, in one process.

moto serves DynamoDB, EventBridge (rules, archive, replay), SQS, Step Functions (executing the real ASL)
and EventBridge Scheduler; our simulators serve DRS and SSM Run Command (their service events go to the
default bus; SSM's managed nodes are the running DRS recovery instances). Everything is built from
`infra.definitions`, the same definitions the CDK stack reads: each rule is created with its real
pattern and targets an SQS queue (moto's EventBridge cannot target Lambda), and a dispatcher hands each
message to the handler function or starts the state machine, like EventBridge would.

With the profile's `accounts`, the cloud also models target accounts and Regions: STS AssumeRole of their roles
(localcloud/sts_sim.py), a DRS and an SSM simulator per account and Region that calls reach by their credentials
and endpoint (localcloud/account_router.py, localcloud/credential_signer.py), moto's EC2 of that account and Region
for their launches, and their AWS events forwarded to the orchestrator's bus with their own account and Region.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import json
import os
import random
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from events.models import SOURCE
from infra.definitions import (
    ARCHIVE_PATTERN,
    ENV_ALLOWED_LAMBDA_FUNCTIONS,
    ENV_AUTOMATION_ROLE,
    ENV_BUS,
    ENV_BUS_ARN,
    ENV_EVIDENCE_BUCKET,
    ENV_LEDGER_TTL_DAYS,
    ENV_OPERATOR_PROOF_KEY,
    ENV_PLAN_BUCKET,
    ENV_RECOVERY_PRINCIPALS,
    ENV_SCHEDULER_GROUP,
    ENV_SCHEDULER_ROLE,
    ENV_TABLE,
    FUNCTIONS,
    ROUTES,
    STATE_MACHINE,
    TABLE_TTL_ATTRIBUTE,
    Route,
    ledger_table_request,
    state_machine_definition,
)
from localcloud import credential_signer, moto_global_clusters, moto_launch_templates, moto_speedups
from localcloud.account_router import AccountRouter, Key, drs_expired, drs_uninitialized, ssm_expired
from localcloud.approver_sim import ApproverSimulator
from localcloud.call_record import CallRecord, PerFunction, unattributed
from localcloud.clock import SimClock
from localcloud.drs_sim import DrsSimulator
from localcloud.drs_sim_wire import install_globally as install_drs
from localcloud.drs_sim_wire import uninstall_globally as uninstall_drs
from localcloud.ec2_network import create_network
from localcloud.lambda_runtime import ACCOUNT, REGION, LambdaRuntime, function_arn
from localcloud.lambda_runtime import install_globally as install_lambda
from localcloud.lambda_runtime import uninstall_globally as uninstall_lambda
from localcloud.lambda_sim import LambdaSimulator
from localcloud.operators import OperatorReply, url_request
from localcloud.profile import SimProfile
from localcloud.schedule_times import next_runs
from localcloud.ssm_sim import SsmSimulator
from localcloud.ssm_sim_wire import OPERATIONS as SSM_SIM_OPERATIONS
from localcloud.ssm_sim_wire import current_simulator as current_ssm
from localcloud.ssm_sim_wire import install_globally as install_ssm
from localcloud.ssm_sim_wire import uninstall_globally as uninstall_ssm
from localcloud.sts_sim import StsSimulator, TargetRole
from localcloud.sts_sim import install_globally as install_sts
from localcloud.sts_sim import serves as sts_serves
from localcloud.sts_sim import uninstall_globally as uninstall_sts
from orchestrator.adapters.ledger import Ledger
from orchestrator.adapters.plan_store import PlanStore
from orchestrator.config import Settings
from orchestrator.domain.clock import iso
from orchestrator.domain.plan.documents import DEFAULT_ALLOWED_DOCUMENTS
from orchestrator.domain.schedules import SCHEDULED_TIME, DrillSchedule
from orchestrator.runtime import Runtime, build_runtime, set_runtime

BUS_NAME = "drs-orchestrator"
TABLE_NAME = "drs-orchestrator-ledger"
ARCHIVE_NAME = "drs-orchestrator-archive"
SCHEDULER_GROUP = "drs-orchestrator"
#: the scheduled drills' group (the stack's is `<stack>-drills`)
DRILL_SCHEDULER_GROUP = "drs-orchestrator-drills"
PLAN_BUCKET = "drs-orchestrator-plans"  # the plan store (stored plans), as the stack's PlanStore bucket
EVIDENCE_BUCKET = "drs-orchestrator-evidence"  # the stack's evidence bucket (infra/constructs/evidence.py)
MAX_RECEIVE = 5
PLAN_ENDINGS = frozenset({"PlanCompleted", "PlanFailed", "PlanCancelled"})


class Stalled(RuntimeError):
    """Nothing is running, nothing is due, and the execution has not ended."""


@dataclass
class PublishedEvent:
    detail_type: str
    source: str
    time: str
    detail: dict[str, Any]
    # a target account's AWS event forwarded to the orchestrator's bus: its account and Region (None: our own)
    account: str | None = None
    region: str | None = None

    @property
    def wave_id(self) -> str | None:
        value = self.detail.get("waveId")
        return value if isinstance(value, str) else None


@dataclass
class RouteQueue:
    route: Route
    url: str
    arn: str
    dlq_url: str

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass
class Stats:
    delivered: dict[str, int] = field(default_factory=dict)
    duplicated: int = 0
    reordered: int = 0  # deliveries held back until later ones were delivered (faults.reorderDelivery)
    handler_errors: int = 0
    schedules_fired: int = 0
    executions_started: int = 0
    crashes_injected: int = 0


@dataclass
class _Held:
    """A delivery held back (`faults.reorderDelivery`) until `later` more deliveries have gone out."""

    queue: RouteQueue
    message: dict[str, Any]
    later: int
    overtaken: bool = False  # a later delivery went out before it


HOLD_VISIBILITY_SECONDS = 3600  # a held message does not come back while it waits (it goes out in this pump)
MAX_HELD_BEHIND = 3  # a held delivery goes out after 1 to this many later ones


#: The role SSM_AUTOMATION runbooks run as in the local cloud (the simulator runs every runbook as the account).
AUTOMATION_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/drs-orch-automation"


class CrashInjected(RuntimeError):
    """A fault injected by the profile: the function died at this point."""


class LocalCloud:
    def __init__(
        self, profile: SimProfile | None = None, *, clock: SimClock | None = None, log_level: str | None = None
    ) -> None:
        self.profile = profile or SimProfile()
        self.log_level = log_level  # the functions' log level (default: $DRS_ORCH_LOG_LEVEL, else ERROR)
        self.clock = clock or SimClock(speed=self.profile.clock.speed)
        self.pace = self.profile.clock.pace
        self.rng = random.Random(self.profile.seed)
        self.events: list[PublishedEvent] = []
        self.stats = Stats()
        self.lambdas = LambdaRuntime()
        self.calls = CallRecord()  # the AWS operations each function made (the grant test reads it)
        self.drs = DrsSimulator(self.clock, self.profile.drs_config(), on_event=self._publish_aws_event)
        self.ssm = SsmSimulator(
            self.clock,
            self.profile.ssm_config(),
            on_event=self._publish_aws_event,
            instance_resolver=self._managed_instance,
        )
        self.ssm.load_library()
        # the profile's target accounts and Regions (`accounts`): a DRS and an SSM simulator each, their events
        # forwarded to the orchestrator's bus; AssumeRole of their roles (localcloud/sts_sim.py)
        self._drs_sims: dict[Key, DrsSimulator] = {(ACCOUNT, REGION): self.drs}
        self._ssm_sims: dict[Key, SsmSimulator] = {(ACCOUNT, REGION): self.ssm}
        self._create_target_simulators()
        for drs in self._drs_sims.values():  # ReverseReplication reaches the origin Region's simulator
            drs.peers = lambda account_id, region: self._drs_sims.get((account_id, region))
        self.sts = StsSimulator(
            self.clock,
            [
                TargetRole(account.role_arn, account.account_id, account.external_id, account.max_session_seconds)
                for account in self.profile.accounts
                if account.role_arn is not None and account.external_id is not None
            ],
            trusted_account=ACCOUNT,
            refused=frozenset(self.profile.faults.assume_role_refused),
        )
        self._drs_router = AccountRouter(
            self._drs_sims,
            home=(ACCOUNT, REGION),
            missing=drs_uninitialized,
            expired=self.sts.expired,
            expired_error=drs_expired,
        )
        self._ssm_router = AccountRouter(
            self._ssm_sims,
            home=(ACCOUNT, REGION),
            missing=self._new_ssm_simulator,
            expired=self.sts.expired,
            expired_error=ssm_expired,
        )
        # the user functions LAMBDA steps invoke (profile `lambda.functions`): their records come back on our bus
        self.lambda_sim = LambdaSimulator(self.clock, self.profile.lambda_.functions, self._publish_lambda_record)
        self.lambdas.simulated = self.lambda_sim
        self.queues: list[RouteQueue] = []
        self._held: list[_Held] = []
        self._executions: list[str] = []
        self._schedules: dict[str, datetime] = {}
        # scheduled drills (deploy setting drillSchedules): name -> (its schedule, when it fires next)
        self._drills: dict[str, tuple[DrillSchedule, datetime]] = {}
        self._mock: Any = None
        self._env_backup: dict[str, str | None] = {}
        self.runtime: Runtime | None = None
        self.ledger: Ledger | None = None  # the runtime's ledger, as its concrete adapter (the cloud's own reads)
        approvals = self.profile.approvals
        self.approver = ApproverSimulator(
            self.clock,
            self.events,
            self._simulated_decision,
            decision=approvals.decision,
            after_seconds=approvals.after_seconds,
            by=approvals.by,
        )

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto import mock_aws

        env = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self.log_level or os.environ.get("DRS_ORCH_LOG_LEVEL", "ERROR"),
            "POWERTOOLS_DEV": "false",
            ENV_TABLE: TABLE_NAME,
            ENV_BUS: BUS_NAME,
            ENV_BUS_ARN: f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS_NAME}",
            ENV_SCHEDULER_GROUP: SCHEDULER_GROUP,
            ENV_SCHEDULER_ROLE: f"arn:aws:iam::{ACCOUNT}:role/drs-orch-scheduler",
            # the orchestrator admits DRS jobs against the quotas the simulator enforces
            "DRS_QUOTA_SERVERS_PER_JOB": str(self.drs.config.quotas.servers_per_job),
            "DRS_QUOTA_CONCURRENT_JOBS": str(self.drs.config.quotas.concurrent_jobs),
            "DRS_QUOTA_SERVERS_IN_ACTIVE_JOBS": str(self.drs.config.quotas.servers_in_all_jobs),
            # launch packing (issue #19), as the profile's `packing` section sets it
            "DRS_LAUNCH_PACKING": "true" if self.profile.packing.enabled else "false",
            "DRS_PACKING_WINDOW_SECONDS": str(self.profile.packing.window_seconds),
            "DRS_PACKING_STARVATION_SECONDS": str(self.profile.packing.starvation_seconds),
            # the deploy setting of the documents plans may run (localcloud/ssm_sim_config.py: allowedDocuments)
            "ALLOWED_SSM_DOCUMENTS": ",".join(self.allowed_documents()),
            # the deploy setting of the functions LAMBDA steps may invoke: the profile's functions
            ENV_ALLOWED_LAMBDA_FUNCTIONS: ",".join(self.lambda_sim.arns()),
            # who may start a RECOVERY through the operator endpoint (profile `operators.recoveryPrincipals`)
            ENV_RECOVERY_PRINCIPALS: ",".join(self.profile.operators.recovery_principals),
            ENV_PLAN_BUCKET: PLAN_BUCKET,  # the StartPlan function reads stored plans here (planRef)
            # the role SSM_AUTOMATION runbooks run as (the stack's AutomationRole): passed as AutomationAssumeRole
            ENV_AUTOMATION_ROLE: AUTOMATION_ROLE_ARN,
            # evidence kept (issue #16): the archive function's bucket; the ledger's time to live when the profile's
            # `retention.ledgerTtlDays` sets one (unset, as deployed by default: nothing expires)
            ENV_EVIDENCE_BUCKET: EVIDENCE_BUCKET,
        }
        if self.profile.retention.ledger_ttl_days is not None:
            env[ENV_LEDGER_TTL_DAYS] = str(self.profile.retention.ledger_ttl_days)
        else:
            self._unset_env(ENV_LEDGER_TTL_DAYS)
        for key, value in env.items():
            self._set_env(key, value)
        self._mock = mock_aws(
            config={"stepfunctions": {"execute_state_machine": True}, "core": {"reset_boto3_session": True}}
        )
        self._mock.start()
        from orchestrator.observability import logger

        logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        moto_speedups.install()
        moto_launch_templates.install()  # SourceVersion and ClientToken as EC2 answers them
        moto_global_clusters.install()  # FailoverGlobalCluster, SwitchoverGlobalCluster (moto has neither)
        self._speed_up_state_machine_retries()
        install_lambda(self.lambdas)
        # every DRS and SSM call goes to its account and Region's simulator (localcloud/account_router.py)
        install_drs(self._drs_router)
        install_ssm(self._ssm_router)
        install_sts(self.sts)
        _keep_moto_off_run_command()
        self.session = boto3.session.Session(region_name=REGION)
        # moto checks no signature, it reads the account from the access key: the functions' clients skip SigV4
        # (~0.2 ms of every call here) but name their access key, so a client made with a target role's assumed
        # credentials acts in that account (localcloud/credential_signer.py)
        credential_signer.install()
        self.session.events.register("choose-signer", credential_signer.choose_signer)
        self.calls.install(self.session)
        self._record_published_events()
        self.events_client = self.session.client("events")
        self.sqs = self.session.client("sqs")
        self.sfn = self.session.client("stepfunctions")
        self.scheduler = self.session.client("scheduler")
        self.dynamodb = self.session.client("dynamodb")
        self._create_resources()
        # EC2 (launch templates per source server, a moto instance per launch) costs seconds per thousand servers:
        # only a profile that declares a network or a server's launch settings gets it (a 5,000-server wave without
        # either ran past its 300 s when every server had a template)
        if self.profile.ec2.vpcs or self.drs.declared_servers():
            self._create_recovery_network()
        self._create_target_networks()
        # the operator-proof key, as the stack makes it (infra/constructs/operator_proof.py); moto's KMS
        # computes and checks its HMACs. Every function here shares one environment: the key's ARN is in it
        self._set_env(ENV_OPERATOR_PROOF_KEY, self._create_operator_proof_key())
        # a DRS backoff passes simulated time, not real time
        settings = Settings()
        self.ledger = Ledger(
            self.session.resource("dynamodb").Table(settings.table_name),
            self.clock,
            finished_ttl_days=settings.finished_ttl_days,
        )
        self.runtime = build_runtime(
            settings, clock=self.clock, session=self.session, sleep=self.sleep, ledger=self.ledger
        )
        self._inject_launch_crashes(self.runtime)
        if self.runtime.ssm is not None:  # each function caches its documents' parameters in its own process
            self.runtime.ssm._parameters = PerFunction()  # type: ignore[attr-defined]
        set_runtime(self.runtime)
        for name in FUNCTIONS:  # import every handler now: a cold start is not simulated time
            self.lambdas.handler_for(name)
        # Everything loaded so far (botocore's service models, moto, every handler) lives as long as the
        # process: keep it out of the garbage collector's full passes. On AWS each function has a small
        # heap of its own; here one heap holds them all, and full passes over it were the slowest hops.
        gc.collect()
        gc.freeze()
        self.clock.restart()
        for where, drs in self._drs_sims.items():
            # our own account: the profile's servers with tags or launch settings (a plan's others appear when the
            # runner registers them); a target Region: every server its profile lists (no plan registers them there)
            drs.ensure_servers(drs.declared_servers() if where == (ACCOUNT, REGION) else list(drs.config.servers))
            drs.advance()  # the simulated time starts now: jobs started outside the orchestrator are due from here

    def allowed_documents(self) -> list[str]:
        """The SSM documents this run's plans may run: the profile's `ssm.allowedDocuments`, else the deployed
        default (DRSOrch-*) and the documents the profile itself creates (in any of its accounts and Regions)."""
        configured = self.profile.ssm.allowed_documents
        if configured is not None:
            return list(configured)
        own = {name for ssm in self._ssm_sims.values() for name in ssm.profile_documents()}
        return [DEFAULT_ALLOWED_DOCUMENTS, *sorted(own)]

    def stop(self) -> None:
        gc.unfreeze()
        set_runtime(None)
        uninstall_lambda()
        uninstall_drs()
        uninstall_ssm()
        uninstall_sts()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _managed_instance(self, instance_id: str) -> dict[str, Any] | None:
        """The SSM simulator's view of an EC2 instance: DRS recovery instances are Online Linux managed
        nodes (with their private IP and tags) as long as they run, once their agent is online
        (`ssm.agentOnlineAfterSeconds` after the launch)."""
        return _managed_instance_of(self.drs, instance_id)

    # ---- accounts and Regions --------------------------------------------------------------------

    def drs_for(self, account_id: str, region: str) -> DrsSimulator:
        """The DRS simulator of `account_id` in `region` (the profile's own account in us-east-1: `drs`)."""
        try:
            return self._drs_sims[(account_id, region)]
        except KeyError:
            known = ", ".join(f"{a}/{r}" for a, r in sorted(self._drs_sims))
            raise KeyError(f"no DRS simulator for account {account_id} in {region} (profile has: {known})") from None

    def ssm_for(self, account_id: str, region: str) -> SsmSimulator:
        """The SSM simulator of `account_id` in `region` (the profile's own account in us-east-1: `ssm`)."""
        try:
            return self._ssm_sims[(account_id, region)]
        except KeyError:
            known = ", ".join(f"{a}/{r}" for a, r in sorted(self._ssm_sims))
            raise KeyError(f"no SSM simulator for account {account_id} in {region} (profile has: {known})") from None

    def _create_target_simulators(self) -> None:
        """A DRS and an SSM simulator for each account and Region of the profile's `accounts`."""
        for account in self.profile.accounts:
            for region in account.regions:
                section = account.region_profile(region)
                key = (account.account_id, region)
                seed = _simulator_seed(self.profile.seed, account.account_id, region)
                drs = DrsSimulator(
                    self.clock,
                    section.drs.to_config(default_seed=seed),
                    on_event=self._event_publisher(key),
                    account_id=account.account_id,
                    region=region,
                )
                ssm = SsmSimulator(
                    self.clock,
                    section.ssm.to_config(default_seed=seed),
                    on_event=self._event_publisher(key),
                    instance_resolver=lambda instance_id, drs=drs: _managed_instance_of(drs, instance_id),  # type: ignore[misc]
                    account_id=account.account_id,
                    region=region,
                    aws_clients=_account_clients(account.account_id, region),
                )
                ssm.load_library()  # the documents plans run exist there too (deployed with the target stack)
                self._drs_sims[key] = drs
                self._ssm_sims[key] = ssm

    def _new_ssm_simulator(self, request: Any, key: Key) -> None:
        """SSM is on in every account and Region: an account+Region the profile does not list gets an empty SSM
        (no managed nodes, only AWS's own documents) when first called."""
        del request
        account_id, region = key
        self._ssm_sims[key] = SsmSimulator(
            self.clock, on_event=self._event_publisher(key), account_id=account_id, region=region
        )

    def _create_target_networks(self) -> None:
        """Each target account+Region whose DRS declares launch settings keeps its launch templates and recovery
        instances in moto's EC2 of that account and Region (and gets the region's `ec2` VPCs there)."""
        for account in self.profile.accounts:
            for region in account.regions:
                section = account.region_profile(region)
                drs = self._drs_sims[(account.account_id, region)]
                if not (section.ec2.vpcs or drs.declared_servers()):
                    continue
                ec2 = _service_client("ec2", account.account_id, region)
                create_network(ec2, section.ec2)
                drs.bind_ec2(ec2)

    def _simulators(self) -> list[DrsSimulator | SsmSimulator]:
        """Every DRS and SSM simulator, ours first."""
        return [*self._drs_sims.values(), *self._ssm_sims.values()]

    def all_drs(self) -> dict[Key, DrsSimulator]:
        """Every DRS simulator, by (account, Region)."""
        return dict(self._drs_sims)

    def sleep(self, seconds: float) -> None:
        """Time passing inside a function (a backoff): the simulated clock moves on, nothing waits."""
        self.clock.jump_to(self.clock.now() + timedelta(seconds=seconds))

    def _inject_launch_crashes(self, runtime: Runtime) -> None:
        """`faults.crashAfterStartRecovery`: the launch function dies right after DRS accepted the job,
        before the ledger knows its id (the worst moment for a duplicate launch)."""
        share = self.profile.faults.crash_after_start_recovery
        if not share:
            return
        start_recovery = runtime.drs.start_recovery

        def crashing(*args: Any, **kwargs: Any) -> Any:
            job = start_recovery(*args, **kwargs)
            if self.rng.random() < share:
                self.stats.crashes_injected += 1
                raise CrashInjected("injected: the function died right after StartRecovery")
            return job

        runtime.drs.start_recovery = crashing  # type: ignore[method-assign]

    def _speed_up_state_machine_retries(self) -> None:
        """moto sleeps out Retry intervals in real time; on the simulated clock they pass `speed` times faster."""
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

        clock = self.clock

        class _Time:
            @staticmethod
            def sleep(seconds: float) -> None:
                time.sleep(min(seconds / max(clock.speed, 1.0), 0.05))

        retrier_decl.time = _Time  # type: ignore[assignment,attr-defined]

        # a Wait state (the launcher's throttling backoff) passes simulated time, like a backoff does
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

        def wait_interval(_self: Any, env: Any, wait_seconds: int) -> None:
            if wait_seconds > 0:
                clock.jump_to(clock.now() + timedelta(seconds=wait_seconds))

        setattr(WaitFunction, "_wait_interval", wait_interval)  # noqa: B010 - a class-level patch

    # ---- resources from infra.definitions --------------------------------------------------------

    def _set_env(self, key: str, value: str) -> None:
        """Set an environment variable for the functions, restored by `stop`."""
        self._env_backup.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def _unset_env(self, key: str) -> None:
        """Remove an environment variable for the functions, restored by `stop`."""
        self._env_backup.setdefault(key, os.environ.get(key))
        os.environ.pop(key, None)

    def _create_operator_proof_key(self) -> str:
        """The HMAC key the operator function signs its commands with (its ARN)."""
        key = self.session.client("kms").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Description="drs-orch operator proof"
        )
        return str(key["KeyMetadata"]["Arn"])

    def _create_resources(self) -> None:
        self.dynamodb.create_table(**ledger_table_request(TABLE_NAME))
        self.dynamodb.update_time_to_live(
            TableName=TABLE_NAME, TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE_TTL_ATTRIBUTE}
        )
        bus_arn = self.events_client.create_event_bus(Name=BUS_NAME)["EventBusArn"]
        self.bus_arn = bus_arn
        self.events_client.create_archive(
            ArchiveName=ARCHIVE_NAME,
            EventSourceArn=bus_arn,
            EventPattern=json.dumps(ARCHIVE_PATTERN),
            RetentionDays=0,
        )
        self.scheduler.create_schedule_group(Name=SCHEDULER_GROUP)
        # the plan store, versioned like the stack's (infra/constructs/plan_store.py)
        s3 = self.session.client("s3")
        s3.create_bucket(Bucket=PLAN_BUCKET)
        s3.put_bucket_versioning(Bucket=PLAN_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self._create_evidence_bucket()
        definition = state_machine_definition(
            {
                "LaunchWaveFunctionArn": function_arn("launch_wave"),
                "StartJobConcurrency": "4",
                "ThrottleRetryIntervalSeconds": "1",
            }
        )
        self.state_machine_arn = self.sfn.create_state_machine(
            name="drs-orch-wave-launch",
            definition=definition,
            type="EXPRESS",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/drs-orch-wave-launch",
        )["stateMachineArn"]
        for route in ROUTES:
            self._create_route(route)
        self._create_forwarded_routes()

    def _create_evidence_bucket(self) -> None:
        """The evidence bucket as the stack makes it: versioned, every public access blocked, SSE-S3, and under
        Object Lock (COMPLIANCE, the profile's `retention.evidenceObjectLockDays`) when the profile sets one."""
        s3 = self.session.client("s3")
        lock_days = self.profile.retention.evidence_object_lock_days
        s3.create_bucket(Bucket=EVIDENCE_BUCKET, **({"ObjectLockEnabledForBucket": True} if lock_days else {}))
        s3.put_bucket_versioning(Bucket=EVIDENCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=EVIDENCE_BUCKET,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=EVIDENCE_BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        if lock_days:
            s3.put_object_lock_configuration(
                Bucket=EVIDENCE_BUCKET,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": lock_days}},
                },
            )

    def _create_recovery_network(self) -> None:
        """The profile's VPCs, subnets and security groups in moto's EC2, where the DRS simulator keeps its
        launch templates and recovery instances. The simulator's EC2 client has a session of its own: DRS
        makes those calls as the service, not as the function that called DRS (the grant test)."""
        ec2 = boto3.session.Session(region_name=REGION).client("ec2")
        ec2.meta.events.register("choose-signer", _unsigned)
        create_network(ec2, self.profile.ec2)
        self.drs.bind_ec2(ec2)

    def _target_accounts(self) -> list[str]:
        """The accounts whose events are forwarded to the orchestrator's bus (the deploy's `targetAccounts`)."""
        return sorted({account.account_id for account in self.profile.accounts})

    def _create_forwarded_routes(self) -> None:
        """As the stack does with `targetAccounts` (infra/constructs/rules.py): a rule per default-bus route on the
        orchestrator's bus, the route's pattern limited to the target accounts, feeding the same function (here: its
        queue). The input keeps `account` (moto's default rendering drops it)."""
        accounts = self._target_accounts()
        if not accounts:
            return
        queues = {queue.route.name: queue for queue in self.queues}
        for route in [route for route in ROUTES if route.bus == "default"]:
            name = f"drs-orch-forwarded-{route.name}"
            self.events_client.put_rule(
                Name=name,
                EventBusName=BUS_NAME,
                EventPattern=json.dumps({**route.pattern, "account": accounts}, sort_keys=True),
                State="ENABLED",
            )
            self.events_client.put_targets(
                Rule=name,
                EventBusName=BUS_NAME,
                Targets=[{"Id": "queue", "Arn": queues[route.name].arn, "InputTransformer": _WHOLE_EVENT}],
            )

    def _create_route(self, route: Route) -> None:
        dlq = self.sqs.create_queue(QueueName=f"drs-orch-{route.name}-dlq")["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = self.sqs.create_queue(
            QueueName=f"drs-orch-{route.name}",
            Attributes={
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE)}),
                "VisibilityTimeout": "30",
            },
        )["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = BUS_NAME if route.bus == "orchestrator" else "default"
        self.events_client.put_rule(
            Name=f"drs-orch-{route.name}", EventBusName=bus, EventPattern=route.pattern_json, State="ENABLED"
        )
        self.events_client.put_targets(
            Rule=f"drs-orch-{route.name}", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}]
        )
        self.queues.append(RouteQueue(route, url, arn, dlq))

    # ---- what was published ----------------------------------------------------------------------

    def _record_published_events(self) -> None:
        def record(params: dict[str, Any], **_: Any) -> None:
            now = iso(self.clock.now())
            for entry in params.get("Entries", []):
                try:
                    detail = json.loads(entry.get("Detail") or "{}")
                except ValueError:
                    detail = {}
                self.events.append(
                    PublishedEvent(
                        entry.get("DetailType", ""),
                        entry.get("Source", ""),
                        now,
                        detail if isinstance(detail, dict) else {},
                    )
                )

        self.session.events.register("provide-client-params.events.PutEvents", record)

        def schedule_created(params: dict[str, Any], **_: Any) -> None:
            expression = str(params.get("ScheduleExpression", ""))
            if expression.startswith("at("):
                at = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC)
                # a name that exists already is refused (ConflictException): the first schedule stands
                self._schedules.setdefault(str(params["Name"]), at)

        def schedule_deleted(params: dict[str, Any], **_: Any) -> None:
            self._schedules.pop(str(params.get("Name")), None)

        # an index of the one-time schedules, so the loop need not list them every round
        self.session.events.register("provide-client-params.scheduler.CreateSchedule", schedule_created)
        self.session.events.register("provide-client-params.scheduler.DeleteSchedule", schedule_deleted)

    def _event_publisher(self, key: Key) -> Callable[[dict[str, Any]], None]:
        """Where the simulators of `key` (account, Region) put their AWS service events: ours go to our default
        bus; a target's reach the orchestrator's bus through that account's forwarding rules."""
        if key == (ACCOUNT, REGION):
            return self._publish_aws_event
        account_id, region = key
        return lambda entry: self._forward_aws_event(entry, account_id, region)

    def _forward_aws_event(self, entry: dict[str, Any], account_id: str, region: str) -> None:
        """A target account's AWS event, as its default bus's forwarding rule (the target stack's) puts it on the
        orchestrator's bus: EventBridge keeps the event's own `account` and `region` across accounts and Regions.
        moto's event-bus target would put it again as the orchestrator's account, so the local cloud forwards it
        itself: every rule of the orchestrator's bus sees it (the forwarded routes' rules match it,
        `_create_forwarded_routes`)."""
        from moto.core.utils import unix_time
        from moto.events.models import events_backends

        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": account_id,
            "time": unix_time(),
            "region": region,
            "resources": list(entry.get("Resources", [])),
            "detail": json.loads(entry.get("Detail") or "{}"),
            "ingestion-time": unix_time(),
        }
        self.events.append(
            PublishedEvent(
                event["detail-type"], event["source"], iso(self.clock.now()), event["detail"], account_id, region
            )
        )
        bus = events_backends[ACCOUNT][REGION].describe_event_bus(BUS_NAME)
        for rule in list(bus.rules.values()):
            rule.send_to_targets(copy.deepcopy(event))  # type: ignore[arg-type]  # moto's TypedDict, all keys set

    def _publish_aws_event(self, entry: dict[str, Any]) -> None:
        """The simulators' AWS service events go to the default bus, as AWS services do."""
        entry = dict(entry)
        entry.pop("Time", None)
        entry["EventBusName"] = "default"
        with unattributed():  # AWS publishes its services' events, not the function whose call caused them
            self.events_client.put_events(Entries=[entry])

    def _publish_lambda_record(self, entry: dict[str, Any]) -> None:
        """A LAMBDA step function's invocation record goes to the orchestrator's bus (its destinations), put by
        the Lambda service."""
        with unattributed():
            self.events_client.put_events(Entries=[{**entry, "EventBusName": BUS_NAME}])

    def publish(self, detail_type: str, detail: dict[str, Any], *, source: str = SOURCE) -> None:
        """Publish an event on the orchestrator bus, as a user does with PutEvents (a drill's StartPlan), or
        as anyone may try to (a forged command: the local cloud has no bus policy, so nothing refuses it here;
        on AWS the bus policy refuses every operator command but the operator function's)."""
        response = self.events_client.put_events(
            Entries=[
                {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": BUS_NAME}
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {response['Entries']}")

    def plan_store(self) -> PlanStore:
        """The plan store of this cloud, as `drs-orch plan push` reaches it (its calls belong to no function)."""
        return PlanStore(self.session.client("s3"), PLAN_BUCKET)

    def operate(self, detail_type: str, detail: dict[str, Any], *, caller: str) -> OperatorReply:
        """Send an operator command through the operator function, as `drs-orch ... --aws` does through its
        Function URL: `caller` is the ARN AWS would have authenticated (the local operator's, see
        `localcloud.operators`). The function publishes the accepted command on the bus; deliver it with
        `drain` or the loop. Returns the function's HTTP answer."""
        response = self.lambdas.invoke("operator", url_request({"detailType": detail_type, "detail": detail}, caller))
        return OperatorReply.of(response)

    def _simulated_decision(self, detail_type: str, detail: dict[str, Any]) -> None:
        """The simulated approver's answer, through the operator endpoint as the caller it names."""
        reply = self.operate(detail_type, detail, caller=str(detail["requestedBy"]))
        if not reply.accepted:
            raise RuntimeError(f"the operator endpoint refused the simulated approver's {detail_type}: {reply.error}")

    # ---- the loop --------------------------------------------------------------------------------

    @staticmethod
    def _sqs_backend() -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[ACCOUNT][REGION]

    def _has_messages(self, queue: RouteQueue) -> bool:
        """A cheap look into moto's queue (no API round trip) before receiving from it."""
        backend_queue = self._sqs_backend().queues.get(queue.name)
        return backend_queue is None or bool(backend_queue.messages)

    def pump(self) -> bool:
        """Deliver every queued message once. Returns whether anything was delivered."""
        delivered = False
        for queue in self.queues:
            while self._has_messages(queue):
                # the dispatcher stands for EventBridge's own delivery: it reads moto's queue directly
                # (same receive, visibility and redrive rules, without a wire round trip per message)
                messages = [
                    {"Body": m.body, "ReceiptHandle": m.receipt_handle}
                    for m in self._sqs_backend().receive_message(queue.name, 10, 0, 30)
                ]
                if not messages:
                    break
                delivered = True
                for message in messages:
                    self._deliver_in_some_order(queue, message)
        return delivered

    def _deliver_in_some_order(self, queue: RouteQueue, message: dict[str, Any]) -> None:
        """`faults.reorderDelivery`: that share of deliveries is held back and goes out after 1 to 3 later
        ones (of any rule, in this pump or a later one), as EventBridge promises no order; when nothing else is
        in flight, the oldest held one goes (`_release_oldest`) before simulated time moves on to the next due
        moment, so nothing due later (a tick, a DRS job's end) overtakes it. Otherwise delivered now, in queue
        order."""
        share = self.profile.faults.reorder_delivery
        if share and self.rng.random() < share:
            self._sqs_backend().change_message_visibility(queue.name, message["ReceiptHandle"], HOLD_VISIBILITY_SECONDS)
            self._held.append(_Held(queue, message, later=self.rng.randint(1, MAX_HELD_BEHIND)))
            return
        self._deliver(queue, message)
        due = []
        for held in self._held:
            held.overtaken = True
            held.later -= 1
            if held.later <= 0:
                due.append(held)
        for held in due:
            self._held.remove(held)
            self._release(held)

    def _release(self, held: _Held) -> None:
        if held.overtaken:
            self.stats.reordered += 1
        self._deliver(held.queue, held.message)

    def _release_oldest(self) -> bool:
        """Nothing else is running, queued or due: the oldest held delivery goes now."""
        if not self._held:
            return False
        self._release(self._held.pop(0))
        return True

    def _deliver(self, queue: RouteQueue, message: dict[str, Any]) -> None:
        event = json.loads(message["Body"])
        # moto's SQS target drops `account`, which EventBridge always sends (Powertools requires it)
        event.setdefault("account", ACCOUNT)
        copies = 1
        if self.profile.faults.duplicate_delivery and self.rng.random() < self.profile.faults.duplicate_delivery:
            copies = 2
            self.stats.duplicated += 1
        try:
            for _ in range(copies):
                self._invoke_target(queue.route, event)
        except Exception:  # a failed delivery is retried by SQS, then dead-lettered
            self.stats.handler_errors += 1
            self._sqs_backend().change_message_visibility(queue.name, message["ReceiptHandle"], 0)
            if os.environ.get("DRS_ORCH_RAISE_HANDLER_ERRORS"):
                raise
            return
        self._sqs_backend().delete_message(queue.name, message["ReceiptHandle"])

    def _invoke_target(self, route: Route, event: dict[str, Any]) -> None:
        key = route.target
        self.stats.delivered[key] = self.stats.delivered.get(key, 0) + 1
        if key == STATE_MACHINE:
            # Express executions need no unique name on AWS; moto wants one
            name = f"{event.get('id', 'event')}-{self.stats.executions_started}"[:80]
            arn = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(event))[
                "executionArn"
            ]
            self._executions.append(arn)
            self.stats.executions_started += 1
            return
        self.lambdas.invoke(key, event)

    def wait_for_executions(self) -> bool:
        """Wait for the state machine executions started so far (moto runs each in a thread).
        Returns whether there were any."""
        from moto.stepfunctions.parser.backend import execution_worker

        if not self._executions:
            return False
        for thread in list(execution_worker.TMP_THREADS):  # type: ignore[attr-defined]
            thread.join(timeout=60)
        execution_worker.TMP_THREADS.clear()  # type: ignore[attr-defined]
        self.running_executions()
        return True

    def running_executions(self) -> int:
        still = []
        for arn in self._executions:
            status = self.sfn.describe_execution(executionArn=arn)["status"]
            if status == "RUNNING":
                still.append(arn)
            elif status != "SUCCEEDED":
                history = self.sfn.describe_execution(executionArn=arn)
                raise RuntimeError(f"wave launch execution {status}: {history.get('error')} {history.get('cause')}")
        self._executions = still
        return len(still)

    def _due_schedules(self) -> tuple[list[dict[str, Any]], datetime | None]:
        due, next_at = [], None
        now = self.clock.now()
        for name, at in sorted(self._schedules.items(), key=lambda item: item[1]):
            if at <= now:
                due.append(self.scheduler.get_schedule(Name=name, GroupName=SCHEDULER_GROUP))
            elif next_at is None or at < next_at:
                next_at = at
        return due, next_at

    def schedule_drill(self, schedule: DrillSchedule) -> datetime:
        """A scheduled drill (deploy setting `drillSchedules`) on the simulated clock, as the stack deploys it: a
        recurring schedule in a group of its own publishing the DRILL StartPlan of a stored version at the times
        Scheduler would (localcloud/schedule_times.py: a rate schedule one interval after it is created, a cron
        schedule at its next time in its time zone). Returns its first time (whole seconds); ValueError for an
        expression whose times are not computed locally (a cron with `W`) or that never fires again."""
        first = self._next_drill_time(schedule, self.clock.now().replace(microsecond=0))
        if not self._drills:
            self.scheduler.create_schedule_group(Name=DRILL_SCHEDULER_GROUP)
        self.scheduler.create_schedule(
            Name=schedule.name,
            GroupName=DRILL_SCHEDULER_GROUP,
            ScheduleExpression=schedule.expression,
            ScheduleExpressionTimezone=schedule.timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": self.bus_arn,
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/drs-orch-drill-scheduler",
                "EventBridgeParameters": {"DetailType": "StartPlan", "Source": SOURCE},
                "Input": json.dumps(schedule.start_plan_detail(), sort_keys=True),
            },
        )
        self._drills[schedule.name] = (schedule, first)
        return first

    @staticmethod
    def _next_drill_time(schedule: DrillSchedule, after: datetime) -> datetime:
        """The first time `schedule` fires after `after` (UTC); ValueError when it never does."""
        runs = next_runs(schedule.expression, schedule.timezone, after, count=1)
        if not runs:
            raise ValueError(f"{schedule.name}: {schedule.expression!r} fires no more after {after.isoformat()}")
        return runs[0].astimezone(UTC)

    def _fire_drills(self) -> tuple[bool, datetime | None]:
        """Each scheduled drill due: its StartPlan (Scheduler's `<aws.scheduler.scheduled-time>` replaced by the
        time it was due), then its next time. Returns (any fired, the earliest next time)."""
        fired = False
        for name, (schedule, at) in sorted(self._drills.items()):
            if at > self.clock.now():
                continue
            target = self.scheduler.get_schedule(Name=name, GroupName=DRILL_SCHEDULER_GROUP)["Target"]
            detail = target["Input"].replace(SCHEDULED_TIME, at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            params = target["EventBridgeParameters"]
            self.events_client.put_events(
                Entries=[
                    {
                        "Source": params["Source"],
                        "DetailType": params["DetailType"],
                        "Detail": detail,
                        "EventBusName": target["Arn"].split("/")[-1],
                    }
                ]
            )
            try:
                self._drills[name] = (schedule, self._next_drill_time(schedule, at))
            except ValueError:  # the year field has ended: the schedule stays, firing no more
                self._drills.pop(name)
            self.stats.schedules_fired += 1
            fired = True
        return fired, min((at for _, at in self._drills.values()), default=None)

    def fire_schedules(self) -> tuple[bool, datetime | None]:
        drills_fired, next_drill = self._fire_drills()
        due, next_at = self._due_schedules()
        if next_drill is not None and (next_at is None or next_drill < next_at):
            next_at = next_drill
        for schedule in sorted(due, key=lambda s: s["ScheduleExpression"]):
            target = schedule["Target"]
            params = target["EventBridgeParameters"]
            self.events_client.put_events(
                Entries=[
                    {
                        "Source": params["Source"],
                        "DetailType": params["DetailType"],
                        "Detail": target["Input"],
                        "EventBusName": target["Arn"].split("/")[-1],
                    }
                ]
            )
            self.scheduler.delete_schedule(Name=schedule["Name"], GroupName=SCHEDULER_GROUP)
            self.stats.schedules_fired += 1
        return bool(due) or drills_fired, next_at

    def pending_schedules(self) -> list[tuple[datetime, str, dict[str, Any]]]:
        """The one-time schedules not fired yet: (when, detail-type, detail of the event it will publish)."""
        pending = []
        for name, at in sorted(self._schedules.items(), key=lambda item: item[1]):
            target = self.scheduler.get_schedule(Name=name, GroupName=SCHEDULER_GROUP)["Target"]
            detail = json.loads(target.get("Input") or "{}")
            pending.append(
                (at, str(target["EventBridgeParameters"]["DetailType"]), detail if isinstance(detail, dict) else {})
            )
        return pending

    def step(self) -> tuple[bool, datetime | None]:
        """One round: simulators, schedules, queues. Returns (progressed, next due moment)."""
        progressed = False
        for simulator in self._simulators():
            before = simulator.next_due()
            simulator.advance()
            progressed |= before is not None and before <= self.clock.now()
        progressed |= self.approver.advance()
        progressed |= self.lambda_sim.advance()
        fired, next_schedule = self.fire_schedules()
        progressed |= fired
        progressed |= self.pump()
        progressed |= self.wait_for_executions()
        candidates = [
            t
            for t in (
                next_schedule,
                *(simulator.next_due() for simulator in self._simulators()),
                self.approver.next_due(),
                self.lambda_sim.next_due(),
            )
            if t is not None
        ]
        if not progressed:
            # a held delivery is overtaken by what is in flight now, never by what is due later in simulated
            # time: EventBridge reorders concurrent deliveries within seconds, it does not hold one for minutes
            # (campaign seed 1389: a GRANT held back 110 s went out after its gate's timeout tick)
            progressed = self._release_oldest()
        return progressed, min(candidates) if candidates else None

    def run_until(
        self, done: Callable[[], bool], *, timeout: float = 120.0, on_progress: Callable[[], None] | None = None
    ) -> None:
        """Run the cloud until `done()`; idle gaps jump (or, with pace, wait) to the next due moment."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"local cloud did not finish within {timeout:.0f} s of real time")
            progressed, next_due = self.step()
            if on_progress is not None:
                on_progress()
            if progressed:
                # a plan that just ended stops the loop at once: no later tick fires into its timeline
                ended = any(e.detail_type in PLAN_ENDINGS for e in self.events[seen:])
                seen = len(self.events)
                if ended and done():
                    return
                continue
            if done():
                return
            if next_due is None:
                raise Stalled("nothing is running or scheduled, and the execution has not ended")
            if self.pace:
                time.sleep(min(self.clock.real_seconds_until(next_due), 0.1))
                if self.clock.now() < next_due:
                    continue
            self.clock.jump_to(next_due)

    def drain(self) -> None:
        """Deliver what is already queued without moving the clock."""
        while True:
            progressed = self.pump()
            progressed |= self.wait_for_executions()
            if not progressed and not self._release_oldest():
                return

    # ---- inspection ------------------------------------------------------------------------------

    def dead_letters(self) -> dict[str, int]:
        counts = {}
        for queue in self.queues:
            attrs = self.sqs.get_queue_attributes(
                QueueUrl=queue.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            counts[queue.route.name] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
        return counts

    def execution_finished(self, execution_id: str) -> bool:
        assert self.ledger is not None
        execution = self.ledger.get_execution(execution_id)
        return execution is not None and execution["status"] in {"COMPLETED", "FAILED", "CANCELLED"}


def _simulator_seed(seed: int, account_id: str, region: str) -> int:
    """The default seed of an account's simulators in a Region: the profile's, told apart per account and Region so
    that no two simulators hand out the same ids (recovery instances, commands); the same profile, the same seeds."""
    digest = hashlib.sha256(f"{seed}/{account_id}/{region}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


#: an input transformer that delivers the whole event, `account` included (moto's default template leaves it out)
_WHOLE_EVENT = {
    "InputPathsMap": {
        name: f"$.{name}"
        for name in ("account", "detail", "detail-type", "source", "id", "region", "resources", "time", "version")
    },
    "InputTemplate": '{"version": "<version>", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, "detail": <detail>}',
}


def _unsigned(**_: Any) -> Any:
    from botocore import UNSIGNED

    return UNSIGNED


def _managed_instance_of(drs: DrsSimulator, instance_id: str) -> dict[str, Any] | None:
    """An SSM simulator's view of an EC2 instance of its account and Region: `drs`'s recovery instances are Online
    Linux managed nodes (with their private IP and tags) as long as they run."""
    with drs._lock:
        inst = drs._instances.get(instance_id)
        if inst is not None and inst.state == "RUNNING":
            return {
                "ping_status": "Online",
                "platform": "Linux",
                "private_ip": inst.private_ip,
                "tags": dict(inst.tags),
                "launched_at": inst.launched_at,
            }
    return None


def _service_client(service: str, account_id: str, region: str) -> Any:
    """A client of `service` acting in `account_id` and `region` as the service itself (DRS doing its EC2 work):
    unsigned, on a session of its own, the account named by moto's `x-moto-account-id` header."""
    client = boto3.session.Session(region_name=region).client(service)
    client.meta.events.register("choose-signer", _unsigned)
    if account_id != ACCOUNT:

        def in_account(request: Any, **_: Any) -> None:
            request.headers[credential_signer.ACCOUNT_HEADER] = account_id

        client.meta.events.register(f"request-created.{service}", in_account)
    return client


def _account_clients(account_id: str, region: str) -> Callable[[str], Any]:
    """The clients a target account's Automation runbooks call AWS with (aws:executeAwsApi): that account's and
    Region's, one per service."""
    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = _service_client(service, account_id, region)
        return cache[service]

    return make


_SSM_SIM_EVENTS = frozenset(f"before-send.ssm.{operation}" for operation in SSM_SIM_OPERATIONS)


def _keep_moto_off_run_command() -> None:
    """botocore calls *every* before-send handler (and keeps the first answer): moto's stubber would
    serve the Run Command operations again after the SSM simulator (creating its own commands, or raising
    NotImplementedError for ListCommandInvocations and CancelCommand). While a simulator is installed,
    moto skips them (and AssumeRole while the STS simulator is installed)."""
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber, "_drs_orch_ssm_patched", False):
        return
    original = BotocoreStubber.__call__

    def call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if event_name in _SSM_SIM_EVENTS and current_ssm() is not None:
            return None
        if sts_serves(event_name):  # AssumeRole is the STS simulator's (moto's would hand out a second session)
            return None
        return original(self, event_name, request, **kwargs)

    setattr(BotocoreStubber, "__call__", call)  # noqa: B010 - a class-level patch
    setattr(BotocoreStubber, "_drs_orch_ssm_patched", True)  # noqa: B010


@contextmanager
def local_cloud(profile: SimProfile | None = None, **kwargs: Any) -> Iterator[LocalCloud]:
    cloud = LocalCloud(profile, **kwargs)
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


__all__ = ["LocalCloud", "PublishedEvent", "Stalled", "local_cloud"]
