"""The ``accounts:`` section of a simulation profile: the target accounts and Regions the local cloud models.

Each entry is an account the orchestrator may recover into, the role it assumes there (STS AssumeRole with the
external id that role's trust policy requires, as the target-account stack deploys it: ``infra/target_stack.py``)
and, per Region, that account's DRS and SSM (the shapes of the top-level ``drs:`` and ``ssm:`` sections)::

    accounts:
      - accountId: "222233334444"
        roleName: DrsOrchestratorTarget      # default; the role's ARN is arn:aws:iam::<accountId>:role/<roleName>
        externalId: drs-orch-7f3a            # the trust policy's sts:ExternalId (required)
        maxSessionSeconds: 3600              # the role's MaxSessionDuration (the target stack's: one hour)
        regions:
          us-west-2:
            drs: {servers: {s-...: {tags: {app: web}}}, quotas: {concurrentJobs: 5}}
            ssm: {documents: {...}}
            ec2: {vpcs: [...]}               # the recovery network there (the ec2: section's shape)

The profile's own account (123456789012, moto's default) in us-east-1 is the top-level ``drs:``/``ssm:``; the
same account may be listed here for *other* Regions (a cross-Region recovery in one account), with a role to
assume or not. Without this section the local cloud is one account in one Region, as before. An account+Region
not listed answers every DRS call with UninitializedAccountException (DRS not initialized there).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from localcloud.drs_sim_config import AccountId, DrsProfile
from localcloud.ec2_network import Ec2Profile
from localcloud.profile_keys import ProfileSection, invalid
from localcloud.ssm_sim_config import SsmProfile

#: the profile's own account and Region (moto's default account; the functions' Region)
HOME_ACCOUNT = "123456789012"
HOME_REGION = "us-east-1"
DEFAULT_ROLE_NAME = "DrsOrchestratorTarget"

RegionName = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
# STS AssumeRole's ExternalId: 2 to 1224 characters of [\w+=,.@:/-] (botocore sts model, externalIdType)
ExternalId = Annotated[str, StringConstraints(min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$")]
# IAM role names: 1 to 64 characters of [\w+=,.@-]
RoleName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w+=,.@-]+$")]


class RegionProfile(ProfileSection):
    """One Region of a target account: its DRS (the ``drs:`` section's keys), SSM (the ``ssm:`` section's) and
    recovery network (the ``ec2:`` section's, made in that account and Region)."""

    drs: DrsProfile = Field(default_factory=DrsProfile)
    ssm: SsmProfile = Field(default_factory=SsmProfile)
    ec2: Ec2Profile = Field(default_factory=Ec2Profile)


class AccountProfile(ProfileSection):
    """A target account: the role the orchestrator assumes in it, and its Regions."""

    account_id: AccountId
    role_name: RoleName | None = Field(
        default=DEFAULT_ROLE_NAME, description="null: no role to assume (the home account's other Regions only)"
    )
    external_id: ExternalId | None = Field(default=None, description="the role's trust policy's sts:ExternalId")
    max_session_seconds: int = Field(default=3600, ge=900, le=43_200, description="the role's MaxSessionDuration")
    regions: dict[RegionName, RegionProfile | None] = Field(default_factory=dict)

    @field_validator("regions")
    @classmethod
    def _some_region(cls, value: dict[str, RegionProfile | None]) -> dict[str, RegionProfile | None]:
        if not value:
            raise invalid("an account lists at least one Region (its DRS and SSM there)")
        return value

    @model_validator(mode="after")
    def _role(self) -> AccountProfile:
        if self.role_name is not None and self.external_id is None:
            raise invalid(
                f"account {self.account_id}: externalId is required (the target role's trust policy requires "
                "sts:ExternalId)"
            )
        if self.role_name is None and self.account_id != HOME_ACCOUNT:
            raise invalid(f"account {self.account_id}: only the home account ({HOME_ACCOUNT}) may have no role")
        if self.account_id == HOME_ACCOUNT and HOME_REGION in self.regions:
            raise invalid(
                f"account {HOME_ACCOUNT} in {HOME_REGION} is the profile's own drs and ssm sections, not an entry here"
            )
        return self

    @property
    def role_arn(self) -> str | None:
        return None if self.role_name is None else f"arn:aws:iam::{self.account_id}:role/{self.role_name}"

    def region_profile(self, region: str) -> RegionProfile:
        return self.regions.get(region) or RegionProfile()


def accounts_problem(accounts: list[AccountProfile]) -> str | None:
    """An account listed twice, or None."""
    ids = [account.account_id for account in accounts]
    twice = sorted({value for value in ids if ids.count(value) > 1})
    return f"account(s) listed twice: {', '.join(twice)}" if twice else None
