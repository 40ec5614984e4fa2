"""IAM principals as plans and the deploy name them, and whether a verified caller is one of them.

Who approves a wave (a plan's `approval.approvers`) and who may start a RECOVERY (the deploy's recovery
principals) are IAM principals, never free-form names: the operator endpoint learns the caller's ARN from
AWS's own authentication (SigV4 on a Function URL with AWS_IAM) and checks it here. Three forms are accepted:

- a role ARN, `arn:aws:iam::123456789012:role/DROps` (a path may come before the name): every session of
  the role (a caller `arn:aws:sts::123456789012:assumed-role/DROps/<session>`);
- a session pattern, `arn:aws:sts::123456789012:assumed-role/DROps/alice@example.com` or
  `.../assumed-role/DROps/*`: the sessions of that role whose session name matches (`*` any run of
  characters, `?` one character, case-sensitive; only in the session name);
- a user ARN, `arn:aws:iam::123456789012:user/alice`: that IAM user.

The account is always exact (twelve digits), and so is the role or user name: a pattern never admits a
principal of another account. Partitions: aws, aws-cn, aws-us-gov.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

_PARTITION = r"(?P<partition>aws|aws-cn|aws-us-gov)"
_ACCOUNT = r"(?P<account>\d{12})"
_NAME = r"(?P<name>[\w+=,.@-]{1,64})"  # IAM role and user names (64 characters at most)
_PATH = r"(?:[\w+=,.@-]{1,510}/)*"  # an IAM path between the kind and the name (no wildcard: it is exact)
_SESSION = r"(?P<session>[\w+=,.@-]{2,64})"  # an STS role session name

_IAM = re.compile(rf"arn:{_PARTITION}:iam::{_ACCOUNT}:(?P<kind>role|user)/{_PATH}{_NAME}")
_SESSION_PATTERN = re.compile(
    rf"arn:{_PARTITION}:sts::{_ACCOUNT}:assumed-role/{_NAME}/(?P<session>[\w+=,.@*?-]{{1,64}})"
)
_CALLER_SESSION = re.compile(rf"arn:{_PARTITION}:sts::{_ACCOUNT}:assumed-role/{_NAME}/{_SESSION}")
_CALLER_USER = re.compile(rf"arn:{_PARTITION}:iam::{_ACCOUNT}:user/{_PATH}{_NAME}")

EXAMPLES = (
    "arn:aws:iam::123456789012:role/DROps",
    "arn:aws:sts::123456789012:assumed-role/DROps/*",
    "arn:aws:iam::123456789012:user/alice",
)


@dataclass(frozen=True)
class Principal:
    """A principal as a plan or the deploy names it. `kind`: role, user or session (a session pattern);
    `session`: the session-name pattern of a session pattern (None otherwise)."""

    text: str
    partition: str
    account: str
    kind: str
    name: str
    session: str | None = None

    def admits(self, caller_arn: str) -> bool:
        """Whether the verified caller `caller_arn` (as AWS authenticated it) is this principal."""
        if self.kind == "user":
            user = _CALLER_USER.fullmatch(caller_arn)
            return user is not None and caller_arn == self.text
        session = _CALLER_SESSION.fullmatch(caller_arn)
        if session is None or (session["partition"], session["account"], session["name"]) != (
            self.partition,
            self.account,
            self.name,
        ):
            return False
        return self.session is None or fnmatchcase(session["session"], self.session)

    def a_caller(self, session_name: str) -> str:
        """A caller ARN this principal admits (a user's own ARN; a session of the role named `session_name`,
        or, for a session pattern, its pattern with each wildcard filled). For a local run's simulated
        operators; `session_name` must be a valid session name."""
        if self.kind == "user":
            return self.text
        pattern = self.session or "*"
        session = pattern.replace("*", session_name).replace("?", "x")
        return f"arn:{self.partition}:sts::{self.account}:assumed-role/{self.name}/{session[:64]}"


def principal_problem(text: object) -> str | None:
    """Why `text` is not a principal of the three accepted forms (None when it is one)."""
    if not isinstance(text, str):
        return f"an IAM principal is a string, got {type(text).__name__}"
    if _IAM.fullmatch(text) or _SESSION_PATTERN.fullmatch(text):
        return None
    shown = text if len(text) <= 80 else f"{text[:77]}..."
    return (
        f"'{shown}' is not an IAM principal: name a role ARN ({EXAMPLES[0]}), a session pattern "
        f"({EXAMPLES[1]}) or a user ARN ({EXAMPLES[2]}); the account is exact, wildcards only in the session name"
    )


def parse_principal(text: str) -> Principal:
    """`text` as a Principal; ValueError (the `principal_problem`) when it is not one."""
    iam = _IAM.fullmatch(text)
    if iam is not None:
        return Principal(text, iam["partition"], iam["account"], iam["kind"], iam["name"])
    session = _SESSION_PATTERN.fullmatch(text)
    if session is not None:
        return Principal(text, session["partition"], session["account"], "session", session["name"], session["session"])
    raise ValueError(principal_problem(text))


def parse_principals(values: Iterable[str]) -> tuple[Principal, ...]:
    """Every value as a Principal; ValueError naming the first that is not one."""
    return tuple(parse_principal(value) for value in values)


def split_principals(setting: str) -> list[str]:
    """A comma-separated setting (a deploy's list of principals) as its entries, blanks left out."""
    return [part.strip() for part in setting.split(",") if part.strip()]


def admitted(caller_arn: str, principals: Iterable[str | Principal]) -> bool:
    """Whether any of `principals` admits the verified caller `caller_arn`. A malformed principal admits
    nobody (plans and the deploy setting are validated before they get here)."""
    for principal in principals:
        if isinstance(principal, str):
            if principal_problem(principal) is not None:
                continue
            principal = parse_principal(principal)
        if principal.admits(caller_arn):
            return True
    return False
