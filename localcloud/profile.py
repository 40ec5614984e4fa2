"""The simulation profile (`drs-orch run --sim PROFILE.yaml`): what the local cloud pretends.

Each section's keys are documented with its model: `drs:` in localcloud/drs_sim_config.py (among them
`drs.stagingAccounts`: staging accounts whose source servers this account recovers through extended source
servers, each `{trustsRecoveryAccount, servers: {s-...: {hostname, tags, replicationState, lagSeconds, extended,
extensionError}}}`, and `drs.quotas.sourceServers`), `ssm:` in localcloud/ssm_sim_config.py, the others below;
README "Simulation profile" shows them together."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from localcloud.accounts_config import AccountProfile, accounts_problem
from localcloud.drs_sim_config import AccountId, DrsProfile, DrsSimConfig
from localcloud.ec2_network import Ec2Profile
from localcloud.operators import LOCAL_RECOVERY_PRINCIPALS
from localcloud.profile_keys import ProfileSection, invalid
from localcloud.ssm_sim_config import SsmProfile, SsmSimConfig
from orchestrator.domain.evidence import ledger_ttl_problem
from orchestrator.domain.plan.limits import MAX_PLAN_BYTES, size_message
from orchestrator.domain.plan.source import LimitError, SourceError, load_yaml
from orchestrator.domain.principals import principal_problem


class ProfileError(ValueError):
    pass


MAX_SPEED = 1_000_000.0  # simulated seconds per real second: beyond this the clock's arithmetic overflows
MAX_SIMULATED_SECONDS = 366 * 86_400.0  # a simulated wait of more than a year is a typo, not a scenario


class ClockProfile(ProfileSection):
    speed: float = Field(default=1.0, gt=0, le=MAX_SPEED, description="simulated seconds per real second")
    pace: bool = Field(default=False, description="wait out idle gaps in real time / speed")


class FaultsProfile(ProfileSection):
    duplicate_delivery: float = Field(default=0.0, ge=0, le=1, description="share of events delivered twice")
    reorder_delivery: float = Field(
        default=0.0, ge=0, le=1, description="share of event deliveries held back until a later one was delivered"
    )
    crash_after_start_recovery: float = Field(
        default=0.0, ge=0, le=1, description="share of StartRecovery calls whose Lambda dies right after"
    )
    assume_role_refused: list[AccountId] = Field(
        default_factory=list, description="accounts whose target role refuses every AssumeRole (AccessDenied)"
    )


class ApprovalsProfile(ProfileSection):
    """Who answers approval gates in a local run (`localcloud/approver_sim.py`)."""

    decision: Literal["NONE", "GRANT", "DENY"] = Field(
        default="NONE", description="NONE: gates wait for drs-orch approve (or their timeout)"
    )
    after_seconds: float = Field(
        default=60.0, ge=0, le=MAX_SIMULATED_SECONDS, description="simulated seconds before the answer"
    )
    by: str = Field(
        default="simulated-approver",
        description="the session name the simulated approver answers as: a session of the gate's first approver's "
        "role (or the local role when the gate lists no approvers)",
    )


class OperatorsProfile(ProfileSection):
    """Who operates a local run (`localcloud/operators.py`)."""

    recovery_principals: list[str] = Field(
        default_factory=lambda: list(LOCAL_RECOVERY_PRINCIPALS),
        description="the deploy's recoveryPrincipals for this run: who may start a RECOVERY through the operator "
        "endpoint (default: every session of the local role)",
    )

    @field_validator("recovery_principals")
    @classmethod
    def _principals(cls, values: list[str]) -> list[str]:
        for value in values:
            problem = principal_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return values


class RetentionProfile(ProfileSection):
    """What the deploy keeps (issue #16), as the stack's context sets it: the evidence bucket's Object Lock and the
    ledger's time to live, under the same rule (a time to live shorter than the Object Lock is refused)."""

    evidence_object_lock_days: int = Field(
        default=0, ge=0, description="the evidence bucket's Object Lock retention, COMPLIANCE mode (0: none)"
    )
    ledger_ttl_days: int | None = Field(
        default=None, description="days after a run ends before the ledger's items expire (unset: never)"
    )

    @model_validator(mode="after")
    def _ttl_not_shorter_than_the_lock(self) -> RetentionProfile:
        problem = ledger_ttl_problem(self.ledger_ttl_days, self.evidence_object_lock_days)
        if problem is not None:
            raise invalid(problem)
        return self


class PackingProfile(ProfileSection):
    """Launch packing (issue #19; orchestrator/steps/packer.py), as the deploy's settings give it to the functions."""

    enabled: bool = Field(
        default=True,
        description="ready chunks of every wave and run share DRS jobs (false: each chunk is its own job, at once)",
    )
    window_seconds: int = Field(
        default=5, ge=0, le=300, description="how long a ready chunk waits for others to share its job (seconds)"
    )
    starvation_seconds: int = Field(
        default=600, ge=0, le=86_400, description="a chunk that has waited this long is overtaken by no one (seconds)"
    )


class LambdaFunctionProfile(ProfileSection):
    """A user function a LAMBDA step may invoke in a local run (`localcloud/lambda_sim.py`): its result comes back
    as Lambda's destination record on the bus `durationSeconds` after the Invoke."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the function's name (its ARN is arn:aws:lambda:us-east-1:123456789012:function:NAME); "
        "not drs-orch-*, the orchestrator's own",
    )
    duration_seconds: float = Field(default=5.0, ge=0, le=MAX_SIMULATED_SECONDS, description="simulated seconds")
    outcome: Literal["success", "failure", "never-returns"] = Field(
        default="success", description="never-returns: no record ever comes (the step times out)"
    )
    output: Any = Field(default=None, description="the function's response (JSON) when it succeeds")
    error_message: str = Field(default="simulated failure", max_length=1000, description="its error when it fails")

    @field_validator("name")
    @classmethod
    def _not_ours(cls, value: str) -> str:
        if value.startswith("drs-orch-"):
            raise invalid(f"{value}: drs-orch-* names the orchestrator's own functions")
        return value


class LambdaProfile(ProfileSection):
    """The user functions of a local run: the deploy's allowed Lambda functions are theirs."""

    functions: list[LambdaFunctionProfile] = Field(default_factory=list)

    @field_validator("functions")
    @classmethod
    def _unique(cls, values: list[LambdaFunctionProfile]) -> list[LambdaFunctionProfile]:
        names = [f.name for f in values]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise invalid(f"function(s) defined twice: {', '.join(twice)}")
        return values


class SimProfile(ProfileSection):
    """A whole simulation profile. Every mistake is reported at its camelCase key path
    (`localcloud.profile_keys`)."""

    seed: int = 0
    clock: ClockProfile = Field(default_factory=ClockProfile)
    drs: DrsProfile = Field(default_factory=DrsProfile)
    ssm: SsmProfile = Field(default_factory=SsmProfile)
    ec2: Ec2Profile = Field(default_factory=Ec2Profile)
    faults: FaultsProfile = Field(default_factory=FaultsProfile)
    approvals: ApprovalsProfile = Field(default_factory=ApprovalsProfile)
    operators: OperatorsProfile = Field(default_factory=OperatorsProfile)
    retention: RetentionProfile = Field(default_factory=RetentionProfile)
    packing: PackingProfile = Field(default_factory=PackingProfile)
    lambda_: LambdaProfile = Field(default_factory=LambdaProfile, alias="lambda")
    accounts: list[AccountProfile] = Field(
        default_factory=list, description="target accounts and Regions (localcloud/accounts_config.py)"
    )

    @field_validator("accounts")
    @classmethod
    def _accounts_once(cls, values: list[AccountProfile]) -> list[AccountProfile]:
        problem = accounts_problem(values)
        if problem is not None:
            raise invalid(problem)
        return values

    @model_validator(mode="after")
    def _refused_roles_exist(self) -> SimProfile:
        with_roles = {account.account_id for account in self.accounts if account.role_arn is not None}
        unknown = sorted(set(self.faults.assume_role_refused) - with_roles)
        if unknown:
            raise invalid(
                f"faults.assumeRoleRefused: {', '.join(unknown)} is not an account of `accounts` with a role to refuse"
            )
        return self

    def drs_config(self) -> DrsSimConfig:
        return self.drs.to_config(default_seed=self.seed)

    def ssm_config(self) -> SsmSimConfig:
        return self.ssm.to_config(default_seed=self.seed)


def _read_profile(path: str | Path) -> Any:
    """The profile's YAML, under the plan loader's input limits (size, depth, aliases, numbers, control
    characters): a malformed or hostile file is a ProfileError naming the file and line, never a traceback."""
    try:
        with Path(path).open("rb") as file:
            raw = file.read(MAX_PLAN_BYTES + 1)
        if len(raw) > MAX_PLAN_BYTES:
            raise ProfileError(f"{path}: {size_message(None)}")
        return load_yaml(raw.decode("utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read simulation profile: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ProfileError(f"{path}: not a text file (expected YAML in UTF-8)") from exc
    except LimitError as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise ProfileError(f"{where}: {exc.message}") from exc
    except SourceError as exc:
        where = f"{path}:{exc.line}" if exc.line is not None else str(path)
        raise ProfileError(f"{where}: not valid YAML: {exc.message}") from exc


def load_profile(path: str | Path | None, **overrides: Any) -> SimProfile:
    data: dict[str, Any] = {}
    if path is not None:
        loaded = _read_profile(path)
        if loaded is not None and not isinstance(loaded, dict):
            raise ProfileError(f"{path}: a simulation profile is a mapping of sections")
        data = loaded or {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return SimProfile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_url=False)
        )
        raise ProfileError(f"{path or 'profile'}: {problems}") from exc
