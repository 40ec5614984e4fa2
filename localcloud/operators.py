"""Who operates a local run: the local caller's IAM identity, as the operator endpoint would see it on AWS.

On AWS the operator endpoint takes the caller's ARN from AWS authentication (SigV4). The local cloud has no
credentials to verify, so a local operator is named: `arn:aws:sts::<local account>:assumed-role/local/<name>`
for a bare name (`drs-orch approve --as alice`, default the user's login name), or a full ARN as given
(`--as arn:aws:sts::123456789012:assumed-role/DROps/alice`, to act as one of a plan's approvers).
"""

from __future__ import annotations

import getpass
import re

from localcloud.lambda_runtime import ACCOUNT
from orchestrator.domain.principals import parse_principal, principal_problem

LOCAL_ROLE = "local"
#: Every local operator by default: any session of the local role may start a RECOVERY on the local cloud.
LOCAL_RECOVERY_PRINCIPALS = (f"arn:aws:sts::{ACCOUNT}:assumed-role/{LOCAL_ROLE}/*",)
_SESSION_CHARS = re.compile(r"[^\w+=,.@-]")


def session_name(name: str) -> str:
    """`name` as an STS role session name (2 to 64 of `[\\w+=,.@-]`; anything else becomes `-`)."""
    cleaned = _SESSION_CHARS.sub("-", name)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]  # STS wants at least 2 characters


def local_caller(name: str | None = None) -> str:
    """The caller ARN of a local operator: `name` itself when it is an ARN, else a session of the local role
    named `name` (default: the login name)."""
    given = name if name is not None else getpass.getuser()
    if given.startswith("arn:"):
        return given
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{LOCAL_ROLE}/{session_name(given)}"


def caller_for(approvers: list[str], name: str) -> str:
    """A caller the first well-formed approver admits (a session named `name` of its role), or the local
    caller `name` when no approver is listed: who the simulated approver answers as."""
    for approver in approvers:
        if principal_problem(approver) is None:
            return parse_principal(approver).a_caller(session_name(name))
    return local_caller(name)
