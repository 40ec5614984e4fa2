"""The collaborators a handler needs, built once per process from the settings.

Handlers call `get_runtime()`; the local cloud and tests install their own with `set_runtime()`.
Steps see the ledger, bus, scheduler, DRS, SSM, EC2 (the network checks' reads) and clock through their ports
(`orchestrator.domain.ports`): the unit tests build a Runtime of in-memory fakes (`tests/fakes.py`) and the ledger
on moto's in-memory DynamoDB.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from orchestrator.adapters.bus import Bus
from orchestrator.adapters.drs import Drs
from orchestrator.adapters.ec2 import Ec2Network
from orchestrator.adapters.ec2_templates import Ec2Templates
from orchestrator.adapters.evidence import EvidenceBucket
from orchestrator.adapters.kms import Kms
from orchestrator.adapters.lambda_invoke import LambdaInvoker
from orchestrator.adapters.ledger import Ledger
from orchestrator.adapters.plan_store import PlanStore
from orchestrator.adapters.scheduler import Scheduler
from orchestrator.adapters.ssm import Ssm
from orchestrator.adapters.sts import TargetClients
from orchestrator.config import Settings, get_settings
from orchestrator.domain.clock import Clock, SystemClock
from orchestrator.domain.plan.target import Target
from orchestrator.domain.ports import (
    BusPort,
    DrsPort,
    Ec2NetworkPort,
    Ec2TemplatesPort,
    EvidencePort,
    LambdaPort,
    LedgerPort,
    MacPort,
    PlanStorePort,
    SchedulerPort,
    SsmPort,
    TargetsPort,
)
from orchestrator.domain.targets import TargetUnavailable


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    ledger: LedgerPort
    bus: BusPort
    scheduler: SchedulerPort
    drs: DrsPort
    ssm: SsmPort | None = None
    operator_bus: BusPort | None = None  # the operator endpoint's: it publishes with the operator source
    ec2: Ec2NetworkPort | None = None  # the network checks' reads (a plan with launch settings needs it)
    ec2_templates: Ec2TemplatesPort | None = None  # launch templates and recovery instances (launch settings only)
    # the operator-proof key (orchestrator/steps/operator_proof.py): the operator function signs with it, the
    # StartPlan and control functions verify; None without OPERATOR_PROOF_KEY_ID (nothing from the operator
    # source is then taken)
    mac: MacPort | None = None
    # the stored plans a StartPlan may name (`planRef`); None without PLAN_BUCKET_NAME (the StartPlan function's)
    plan_store: PlanStorePort | None = None
    # the evidence bucket (issue #16): the archive function stores each ended execution's report there; None
    # without EVIDENCE_BUCKET_NAME (every other function)
    evidence: EvidencePort | None = None
    # Lambda, for LAMBDA steps (issue #18): their asynchronous invocations
    lambdas: LambdaPort | None = None
    # the adapters of waves' targets (issue #15: other accounts and Regions through STS AssumeRole); None: a wave
    # with a target cannot run here (NoTargetClients)
    targets: TargetsPort | None = None
    # the target this runtime acts in (None: the orchestrator's own account and Region) and the own runtime it was
    # derived from (`at`)
    target: Target | None = None
    home: Runtime | None = field(default=None, repr=False, compare=False)

    def at(self, target: Target | None) -> Runtime:
        """This runtime acting in `target`: a shallow copy whose `drs`, `ssm`, `ec2` and `ec2_templates` are the
        target's (on its role's cached credentials; a role-less target's: the runtime's own credentials in its Region,
        no STS call); `at(None)`, and a role-less target of the own account and Region, is the orchestrator's own
        runtime. Raises `orchestrator.domain.targets.TargetUnavailable` when STS refuses the role, or when a role-less
        target's account is not the orchestrator's own (`Settings.own_account`, from its bus ARN; unknown: refused)."""
        home = self.home or self
        if target is None:
            return home
        if target.role_less:  # the orchestrator's own account in another Region, on its own credentials
            own = home.settings.own_account
            if own is None or target.account_id != own:
                raise TargetUnavailable.not_own_account(target.account_id, own)
            if target.region == home.settings.region:
                return home
        if self.target == target:
            return self
        if home.targets is None:
            raise NoTargetClients(target)
        adapters = home.targets.adapters(target)
        return dataclasses.replace(
            home,
            drs=adapters.drs,
            ssm=adapters.ssm,
            ec2=adapters.ec2,
            ec2_templates=adapters.ec2_templates,
            target=target,
            home=home,
        )


class NoTargetClients(RuntimeError):
    """A wave has a target but this runtime was built without target clients (a wiring error, not a refusal)."""

    def __init__(self, target: Target) -> None:
        super().__init__(f"no target clients in this runtime for {target.role_arn or 'no role'} ({target.label})")


_runtime: Runtime | None = None


def build_runtime(
    settings: Settings | None = None,
    clock: Clock | None = None,
    session: boto3.session.Session | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    ledger: LedgerPort | None = None,
) -> Runtime:
    """The adapters on boto3 clients of `session`. `sleep`: how the DRS adapter waits between read retries
    (the local cloud passes one that moves its simulated clock); `ledger`: one built already on the same table
    (the local cloud keeps the concrete `Ledger` for its own reads), else a `Ledger` on `settings.table_name`."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    session = session or boto3.session.Session(region_name=settings.region)
    # one attempt per DRS call: our own retries own DRS throttling (the adapter's backoff for Describe* reads,
    # which honours retryAfterSeconds; the wave launch state machine's Retry for StartRecovery; the watcher's ticks)
    drs_config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    table = session.resource("dynamodb").Table(settings.table_name)
    events = session.client("events")
    return Runtime(
        settings=settings,
        clock=clock,
        ledger=ledger or Ledger(table, clock, finished_ttl_days=settings.finished_ttl_days),
        bus=Bus(events, settings.bus_name),
        scheduler=Scheduler(
            session.client("scheduler"),
            group=settings.scheduler_group,
            role_arn=settings.scheduler_role_arn,
            bus_arn=settings.bus_arn,  # required with the scheduler settings on Lambda (orchestrator.config)
        ),
        drs=Drs(session.client("drs", config=drs_config), sleep=sleep),
        ssm=Ssm(session.client("ssm")),
        operator_bus=Bus.for_operator(events, settings.bus_name),
        # botocore's standard retries absorb brief EC2 throttling; what is left raises, and the event comes again
        ec2=Ec2Network(session.client("ec2", config=Config(retries={"mode": "standard"}))),
        ec2_templates=Ec2Templates(session.client("ec2"), sleep=sleep),
        mac=Kms(session.client("kms"), settings.operator_proof_key) if settings.operator_proof_key else None,
        plan_store=PlanStore(session.client("s3"), settings.plan_bucket) if settings.plan_bucket else None,
        evidence=EvidenceBucket(session.client("s3"), settings.evidence_bucket) if settings.evidence_bucket else None,
        lambdas=LambdaInvoker(session.client("lambda")),
        targets=TargetClients(session, clock, sleep=sleep),
    )


def get_runtime() -> Runtime:
    global _runtime  # noqa: PLW0603 - one runtime per Lambda container, built on first use
    if _runtime is None:
        _runtime = build_runtime()
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime  # noqa: PLW0603
    _runtime = runtime
