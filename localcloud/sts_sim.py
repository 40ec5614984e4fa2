"""STS AssumeRole on the local cloud: the target roles of the profile's ``accounts`` section, external id checked.

botocore emits ``before-send.sts.AssumeRole`` before it sends the request; this answers it in-process (moto's own
AssumeRole checks nothing: any role, any external id). A call succeeds only when

- the role is one the profile declares (``arn:aws:iam::<accountId>:role/<roleName>``),
- the caller is the orchestrator's own account (the target stack's trust policy names only the orchestrator's
  function roles: a session of another account, a target's assumed role included, is not trusted),
- ``ExternalId`` is exactly the role's ``externalId`` (its trust policy's ``sts:ExternalId`` condition),
- the role's account is not in ``faults.assumeRoleRefused``,
- ``DurationSeconds`` (default 3600) is at most the role's ``maxSessionSeconds``;

otherwise AccessDenied (HTTP 403) worded as STS words it: ``User: <caller ARN> is not authorized to perform:
sts:AssumeRole on resource: <role ARN>`` (ValidationError for a too long session). The credentials are moto's
(``moto.sts`` registers the access key in the role's account, so moto and the simulators route every call made
with them to that account: ``localcloud.credential_signer``); their ``Expiration`` is on the simulated clock, and
:meth:`StsSimulator.expired` tells the simulators when a session has run out (they answer ExpiredTokenException,
as AWS does).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse

from localcloud.botocore_hook import GlobalHook
from localcloud.credential_signer import access_key_of, account_of, region_of
from localcloud.drs_sim_wire import _RawBody
from orchestrator.domain.clock import Clock

EVENT_NAME = "before-send.sts.AssumeRole"
_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
DEFAULT_DURATION = 3600


@dataclass(frozen=True)
class TargetRole:
    """A role the orchestrator may assume: its ARN, the external id its trust policy requires, its session limit."""

    arn: str
    account_id: str
    external_id: str
    max_session_seconds: int = 3600

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass
class _Session:
    account_id: str
    role_arn: str
    expires: datetime


class StsSimulator:
    """AssumeRole of the profile's target roles; the sessions it handed out, with their expiry."""

    def __init__(
        self, clock: Clock, roles: list[TargetRole], *, trusted_account: str, refused: frozenset[str] = frozenset()
    ) -> None:
        self.clock = clock
        self.roles = {role.arn: role for role in roles}
        self.trusted_account = trusted_account
        self.refused = refused
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self.assumed = 0  # AssumeRole calls answered with credentials
        self.denied = 0  # AssumeRole calls refused
        self.by_role: Counter[tuple[str, str]] = Counter()  # (role ARN asked for, "assumed" | "denied")

    # ------------------------------------------------------------------ the hook

    def handle(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, bytes | bytearray):
            body = body.decode()
        params = {key: values[0] for key, values in parse_qs(body or "", keep_blank_values=True).items()}
        caller_account = account_of(request, self.trusted_account)
        region = region_of(request, "us-east-1")
        caller_arn = self._caller_arn(access_key_of(request), caller_account, region)
        role_arn = params.get("RoleArn", "")
        role = self.roles.get(role_arn)
        duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
        if (
            role is None
            or caller_account != self.trusted_account
            or params.get("ExternalId") != role.external_id
            or role.account_id in self.refused
        ):
            self._count(role_arn, "denied")
            message = f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            return _error(request.url, 403, "AccessDenied", message)
        if duration > role.max_session_seconds:
            self._count(role_arn, "denied")
            return _error(
                request.url,
                400,
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
        return self._assume(request.url, role, params.get("RoleSessionName", ""), duration, params, region)

    def _assume(
        self, url: str, role: TargetRole, session_name: str, duration: int, params: dict[str, str], region: str
    ) -> AWSResponse:
        from moto.sts.models import sts_backends

        backend = sts_backends[self.trusted_account]["aws"]
        assumed = backend.assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role.arn,
            policy=params.get("Policy", ""),
            duration=duration,
            external_id=params.get("ExternalId", ""),
        )
        expires = self.clock.now() + timedelta(seconds=duration)
        with self._lock:
            self._sessions[assumed.access_key_id] = _Session(role.account_id, role.arn, expires)
        self._count(role.arn, "assumed")
        role_id = f"AROA{uuid.uuid5(uuid.NAMESPACE_URL, role.arn).hex[:17].upper()}"
        body = (
            f'<AssumeRoleResponse xmlns="{_NS}"><AssumeRoleResult>'
            "<Credentials>"
            f"<AccessKeyId>{escape(assumed.access_key_id)}</AccessKeyId>"
            f"<SecretAccessKey>{escape(assumed.secret_access_key)}</SecretAccessKey>"
            f"<SessionToken>{escape(assumed.session_token)}</SessionToken>"
            f"<Expiration>{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration>"
            "</Credentials>"
            "<AssumedRoleUser>"
            f"<AssumedRoleId>{role_id}:{escape(session_name)}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{role.account_id}:assumed-role/{escape(role.name)}/{escape(session_name)}</Arn>"
            "</AssumedRoleUser>"
            "</AssumeRoleResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )
        return _xml(url, 200, body)

    def _count(self, role_arn: str, outcome: str) -> None:
        with self._lock:
            self.by_role[(role_arn, outcome)] += 1
            if outcome == "assumed":
                self.assumed += 1
            else:
                self.denied += 1

    def _caller_arn(self, access_key: str | None, account: str, region: str) -> str:
        """Who is calling, as STS names them (moto's GetCallerIdentity for the key)."""
        from moto.sts.models import sts_backends

        _, arn, _ = sts_backends[account]["aws"].get_caller_identity(access_key or "", region)
        return str(arn)

    # ------------------------------------------------------------------ sessions

    def expired(self, access_key: str | None) -> bool:
        """Whether `access_key` is a session this handed out that has expired on the simulated clock."""
        if access_key is None:
            return False
        with self._lock:
            session = self._sessions.get(access_key)
        return session is not None and session.expires <= self.clock.now()


def _xml(url: str, status: int, body: str) -> AWSResponse:
    payload = body.encode()
    headers = {"Content-Type": "text/xml", "Content-Length": str(len(payload))}
    return AWSResponse(url, status, headers, _RawBody(payload))


def _error(url: str, status: int, code: str, message: str) -> AWSResponse:
    body = (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return _xml(url, status, body)


_hook = GlobalHook([EVENT_NAME], "localcloud-sts-simulator")


def install_globally(simulator: StsSimulator) -> None:
    """Answer AssumeRole of every boto3 ``sts`` client by `simulator` (moto's is kept off: `serves`)."""
    _hook.install(simulator)


def uninstall_globally() -> None:
    _hook.uninstall()


def serves(event_name: str) -> bool:
    """Whether the installed simulator answers `event_name` (moto's stubber must then stay off it)."""
    return event_name == EVENT_NAME and _hook.current is not None
