"""Who operates a local run: the local caller's IAM identity, as the operator endpoint would see it on AWS.

On AWS the operator endpoint takes the caller's ARN from AWS authentication (SigV4). The local cloud has no
credentials to verify, so a local operator is named: `arn:aws:sts::<local account>:assumed-role/local/<name>`
for a bare name (`drs-orch approve --as alice`, default the user's login name), or a full ARN as given
(`--as arn:aws:sts::123456789012:assumed-role/DROps/alice`, to act as one of a plan's approvers).
"""

from __future__ import annotations

import getpass
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from localcloud.lambda_runtime import ACCOUNT, REGION
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


URL_ID = "localoperatorurl0000000000000000"  # a Function URL id: 32 lowercase letters and digits


def url_request(body: dict[str, Any], caller: str) -> dict[str, Any]:
    """The event Lambda gives a function behind a Function URL with AuthType AWS_IAM for a signed POST of
    `body` by `caller` (payload format 2.0: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html).
    The identity fields are those AWS fills in from the verified signature; locally they are the named caller."""
    now = datetime.now(UTC)
    account = caller.split(":")[4] if caller.count(":") >= 5 else ACCOUNT
    session = caller.rsplit("/", 1)[-1]
    domain = f"{URL_ID}.lambda-url.{REGION}.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": domain, "user-agent": "drs-orch"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": URL_ID,
            "authorizer": {
                "iam": {
                    "accessKey": "ASIALOCALOPERATOR000",
                    "accountId": account,
                    "callerId": f"AROALOCALOPERATOR0000:{session}",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": caller,
                    "userId": f"AROALOCALOPERATOR0000:{session}",
                }
            },
            "domainName": domain,
            "domainPrefix": URL_ID,
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "drs-orch",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


@dataclass(frozen=True)
class OperatorReply:
    """The operator function's HTTP answer: `status` and the decoded JSON `body`."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, response: dict[str, Any]) -> OperatorReply:
        body = json.loads(response.get("body") or "{}")
        return cls(int(response["statusCode"]), body if isinstance(body, dict) else {})

    @property
    def accepted(self) -> bool:
        return self.status == 202

    @property
    def error(self) -> str:
        return str(self.body.get("error", ""))
