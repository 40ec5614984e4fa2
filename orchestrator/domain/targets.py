"""A wave's target at run time (issue #15 item 1): the temporary credentials of its role, when they are due for
renewal, and the domain error of a refused AssumeRole.

The credentials are a typed record whose secret parts never appear in its repr, so a log line, an error or a report
that holds one by accident still shows no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.domain.plan.target import Target

#: Credentials are renewed this long before their `Expiration`, so no call starts with credentials that may expire
#: while DRS, EC2 or SSM handle it (and a clock a little off does not turn them stale mid-call).
REFRESH_MARGIN = timedelta(minutes=5)
#: AssumeRole's DurationSeconds: an hour. The orchestrator's functions run on role credentials themselves, so
#: assuming a target role is role chaining, which STS caps at one hour (a longer DurationSeconds fails with
#: ValidationError whatever the target role's MaxSessionDuration); an hour is also STS's default, and the cache
#: renews five minutes before the end.
SESSION_SECONDS = 3600
#: RoleSessionName: STS's 2 to 64 characters of [\w+=,.@-]. CloudTrail in the target account shows it beside
#: every call the session makes.
SESSION_NAME_PREFIX = "drs-orch"
SESSION_NAME_MAX = 64


@dataclass(frozen=True)
class TargetCredentials:
    """Temporary credentials of a target role (STS AssumeRole's Credentials). The secret key and the session token
    are left out of the repr."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime

    def fresh_at(self, now: datetime) -> bool:
        """Whether they may still be used at `now` (until REFRESH_MARGIN before they expire)."""
        return now < self.expiration - REFRESH_MARGIN


#: `TargetUnavailable.code` of a role-less target whose account is not the orchestrator's own (no STS call made).
NOT_OWN_ACCOUNT = "NotOwnAccount"


class TargetUnavailable(Exception):
    """STS refused to let the orchestrator assume a wave's target role (access denied, a malformed or disabled role,
    STS not active in the Region), or a target without a role names another account than the orchestrator's own
    (`not_own_account`; `role_arn` None): the wave fails before anything launches, with `reason` naming the role
    (if any) and the account. Transient STS errors (throttling, 5xx) are not this: they raise for the platform to
    retry."""

    def __init__(self, role_arn: str | None, account_id: str, code: str, message: str) -> None:
        self.role_arn = role_arn
        self.account_id = account_id
        self.code = code
        self.detail = message
        super().__init__(self.reason)

    @classmethod
    def not_own_account(cls, account_id: str, own_account: str | None) -> TargetUnavailable:
        """A role-less target of `account_id` when the orchestrator's own account is `own_account` (None: the
        runtime does not know its own account, so it cannot act in any account without a role)."""
        own = own_account or "(unknown: the function has no EVENT_BUS_ARN to read it from)"
        return cls(None, account_id, NOT_OWN_ACCOUNT, own)

    @property
    def reason(self) -> str:
        if self.role_arn is None:
            own = self.detail
            return f"target account {self.account_id} gives no roleArn and is not this orchestrator's account {own}"
        detail = f"{self.code}: {self.detail}" if self.detail else self.code
        return f"cannot assume {self.role_arn} in account {self.account_id}: {detail}"


def session_name(qualifier: str | None) -> str:
    """`drs-orch`, or `drs-orch@<qualifier>` (the function's name), cut to STS's 64 characters of [\\w+=,.@-]."""
    if not qualifier:
        return SESSION_NAME_PREFIX
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_+=,.@-") else "-" for c in qualifier)
    return f"{SESSION_NAME_PREFIX}@{cleaned}"[:SESSION_NAME_MAX]


def is_home(target: Target | None, home: tuple[str | None, str] | None) -> bool:
    """Whether `target` is the orchestrator's own account and Region without a role (or no target at all): `home` is
    (own account, own Region), the account None when the runtime does not know it (then only None is home)."""
    if target is None:
        return True
    return home is not None and target.role_less and (target.account_id, target.region) == home


def pool_of(target: Target | None, home: tuple[str | None, str] | None = None) -> str | None:
    """The DRS capacity pool of a wave target: `<account>#<region>` (None: the orchestrator's own account and Region,
    whose ledger keys are today's; also a role-less target naming them, with `home` = (own account, own Region)).
    DRS's quotas are per account and Region, so each pool has its own capacity record, queue and packed jobs."""
    return None if target is None or is_home(target, home) else f"{target.account_id}#{target.region}"
