"""Where a wave recovers (issue #15 item 1): an account and Region reached through STS AssumeRole, or another
Region of the orchestrator's own account (no role: cross-Region DR and failback inside one account).

A plan may set a default `target`; a wave may set its own. A wave with neither runs in the orchestrator's own
account and Region exactly as before (no AssumeRole). A target without `roleArn` and `externalId` (both or neither)
is the orchestrator's own account in that Region: its calls use the functions' own credentials there, and a run
refuses it (the wave fails at preflight) when `accountId` is not the orchestrator's own account. The limits are
AWS's (STS AssumeRole: RoleArn 20 to 2,048 characters, ExternalId 2 to 1,224 characters of `[\\w+=,.@:/-]`); the
role must belong to the target's account, or every call would go to some other account than the one the plan
names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from orchestrator.domain.plan.base import PlanModel
from orchestrator.domain.plan.problems import Problem
from orchestrator.domain.plan.suggest import quote

TARGET_ACCOUNT_PATTERN = r"^[0-9]{12}$"
#: A commercial, GovCloud, China or ISO Region name (us-west-2, us-gov-west-1, cn-north-1, us-isob-east-1).
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$"
#: An IAM role ARN of any partition, with its path (IAM: role names of `[\w+=,.@-]`, paths of `/` and those).
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/[\w+=,.@/-]+$"
#: STS AssumeRole's RoleArn length (botocore's sts model, arnType: 20 to 2,048).
ROLE_ARN_MIN, ROLE_ARN_MAX = 20, 2048
#: STS AssumeRole's ExternalId (botocore's sts model, externalIdType: 2 to 1,224 characters of this pattern).
EXTERNAL_ID_PATTERN = r"^[\w+=,.@:/-]{2,1224}$"
EXTERNAL_ID_MIN, EXTERNAL_ID_MAX = 2, 1224

if TYPE_CHECKING:
    from orchestrator.domain.plan.model import Wave


def _quoted_account(value: Any) -> Any:
    """As the plan's stagingAccountID: a 12-digit account id must be quoted in YAML (unquoted, YAML reads it as a
    number, and one with a leading 0 as octal), so a number is refused rather than guessed back into digits."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        msg = f"accountId must be a quoted string of 12 digits (YAML read {value!r} as a number: quote it)"
        raise ValueError(msg)  # noqa: TRY004 (pydantic turns a ValueError into the plan problem at this path)
    return value


class Target(PlanModel):
    """The account and Region a wave recovers in, and the role the orchestrator assumes there (the target-account
    stack's TargetRoleArn, with the ExternalId that stack was deployed with), or no role (both left out): the
    orchestrator's own account in `region`, on its own credentials. Every DRS, EC2 and SSM call of the wave goes
    there; its launches count against that account's DRS quotas in that Region."""

    # both or neither (the model validator's rule, for editors reading the schema too)
    model_config = ConfigDict(
        **PlanModel.model_config,
        json_schema_extra={"dependentRequired": {"roleArn": ["externalId"], "externalId": ["roleArn"]}},
    )

    account_id: Annotated[str, BeforeValidator(_quoted_account)] = Field(
        description="The target account (12 digits, quoted).",
        json_schema_extra={"pattern": TARGET_ACCOUNT_PATTERN},
    )
    region: str = Field(
        description="The target Region (e.g. us-west-2).",
        json_schema_extra={"pattern": REGION_PATTERN},
    )
    role_arn: str | None = Field(
        default=None,
        description=(
            "The role to assume in the target account (its account must be accountId). Leave it and externalId out "
            "for another Region of the orchestrator's own account (no role is assumed)."
        ),
        json_schema_extra={"pattern": ROLE_ARN_PATTERN, "minLength": ROLE_ARN_MIN, "maxLength": ROLE_ARN_MAX},
    )
    external_id: str | None = Field(
        default=None,
        description=(
            "The external id the role's trust policy requires (sts:ExternalId; 2 to 1,224 characters of letters, "
            "digits and +=,.@:/-_). Required with roleArn: the target-account stack's role is only assumable with "
            "one; left out with it."
        ),
        json_schema_extra={"pattern": EXTERNAL_ID_PATTERN, "minLength": EXTERNAL_ID_MIN, "maxLength": EXTERNAL_ID_MAX},
    )

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        if re.fullmatch(TARGET_ACCOUNT_PATTERN, value) is None:
            msg = f"malformed accountId '{quote(value)}' (expected 12 digits)"
            raise ValueError(msg)
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if re.fullmatch(REGION_PATTERN, value) is None:
            msg = f"malformed region '{quote(value)}' (expected a Region name such as us-west-2)"
            raise ValueError(msg)
        return value

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not ROLE_ARN_MIN <= len(value) <= ROLE_ARN_MAX or re.fullmatch(ROLE_ARN_PATTERN, value) is None:
            msg = (
                f"malformed roleArn '{quote(value)}' (expected an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME, of "
                f"{ROLE_ARN_MIN} to {ROLE_ARN_MAX} characters)"
            )
            raise ValueError(msg)
        return value

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if re.fullmatch(EXTERNAL_ID_PATTERN, value) is None:
            # never echoed: an external id is not a secret, but it is not for error messages and logs either
            msg = (
                f"malformed externalId ({len(value)} characters; expected {EXTERNAL_ID_MIN} to {EXTERNAL_ID_MAX} "
                "letters, digits and +=,.@:/-_)"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _role_in_account(self) -> Target:
        if (self.role_arn is None) != (self.external_id is None):
            given, missing = ("roleArn", "externalId") if self.external_id is None else ("externalId", "roleArn")
            msg = (
                f"target {self.label} gives {given} without {missing}: give both (a role in account {self.account_id} "
                "and the external id its trust policy requires) or neither (another Region of the orchestrator's "
                "own account, no role)"
            )
            raise ValueError(msg)
        if self.role_arn is None:
            return self
        match = re.fullmatch(ROLE_ARN_PATTERN, self.role_arn)
        if match is not None and match.group(1) != self.account_id:
            msg = (
                f"roleArn '{quote(self.role_arn)}' is a role of account {match.group(1)}, not of the target's "
                f"accountId {self.account_id}"
            )
            raise ValueError(msg)
        return self

    @property
    def role_less(self) -> bool:
        """No role to assume: the orchestrator's own account in `region`, on the functions' own credentials."""
        return self.role_arn is None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a client cache keys on: the same role, external id and Region share credentials and clients (a
        role-less target: `("", "", region, account)`, one per Region of the own account)."""
        return (self.role_arn or "", self.external_id or "", self.region, self.account_id)

    @property
    def label(self) -> str:
        """How the report and the live table show it: `222233334444/us-west-2` (with or without a role)."""
        return f"{self.account_id}/{self.region}"


def target_problems(waves: Iterable[tuple[int, Wave]]) -> list[Problem]:
    """What a wave with a target may not do yet: select servers by tag (`sourceServerTags` resolves against the
    orchestrator's own account's source servers when the execution starts, not the target's). `waves`: (index in
    the plan, wave) of the well-formed waves."""
    return [
        Problem(
            f"wave '{wave.wave_id}' has a target ({wave.target.label}) and sourceServerTags: tag selection resolves "
            "against the orchestrator's own account only; list the target's servers in `servers` instead",
            "target-with-selector",
            wave.wave_id,
            f"waves[{index}].sourceServerTags",
        )
        for index, wave in waves
        if wave.target is not None and wave.source_server_tags
    ]
