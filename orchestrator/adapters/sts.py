"""STS AssumeRole for a wave's target (issue #15 item 1), and the per-target clients built on its credentials.

`Sts.assume_role` returns typed `TargetCredentials`; a refusal (AccessDenied, a malformed role or policy, STS not
active in the Region, a rejected context) raises `TargetUnavailable` naming the role and the account, and anything
else (throttling, 5xx, the function's own expired token) raises `StsError` for the platform to retry.

`TargetClients` caches each target's credentials per (roleArn, externalId, Region) until five minutes before they
expire, with the DRS, SSM and EC2 adapters built on them from the runtime's own boto3 session (so the local
cloud's hooks apply) and the same retry configurations as the orchestrator's own adapters; a target without a role
(another Region of the orchestrator's own account) gets its adapters per Region on the session's own credentials,
with no STS call. Neither ever logs
credentials: nothing here logs at all, and the credentials' repr leaves the secret out. botocore itself logs, at
DEBUG, AssumeRole's response body and each signed request's session token: `REDACT` removes every target secret
and token from those loggers' records (at INFO and above, the Lambda functions' level, it does nothing).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.adapters.drs import Drs
from orchestrator.adapters.ec2 import Ec2Network
from orchestrator.adapters.ec2_templates import Ec2Templates
from orchestrator.adapters.ssm import Ssm
from orchestrator.domain.clock import Clock
from orchestrator.domain.plan.target import Target
from orchestrator.domain.ports import TargetAdapters
from orchestrator.domain.targets import SESSION_SECONDS, TargetCredentials, TargetUnavailable, session_name

#: AssumeRole errors that will not pass on a retry: the caller may not assume the role (AccessDenied: no trust, a
#: wrong external id, no sts:AssumeRole grant), the role or a policy is malformed, STS is not active in the Region,
#: a parameter is invalid (ValidationError: e.g. a DurationSeconds above the role-chaining hour).
REFUSALS = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "MalformedPolicyDocument",
        "PackedPolicyTooLarge",
        "RegionDisabledException",
        "InvalidContextAssertion",
        "ValidationError",
        "InvalidParameterValue",
        "NoSuchEntity",
    }
)

#: The DRS adapter's client config (orchestrator.runtime): one attempt, our own retries own DRS throttling.
DRS_CONFIG = Config(retries={"total_max_attempts": 1, "mode": "standard"})
#: The network checks' EC2 client config: botocore's standard retries absorb brief throttling.
EC2_CONFIG = Config(retries={"mode": "standard"})


#: botocore's loggers that write response bodies, signed headers or requests at DEBUG.
BOTOCORE_LOGGERS = (
    "botocore.parsers",
    "botocore.auth",
    "botocore.endpoint",
    "botocore.httpsession",
    "botocore.hooks",
    "botocore.retryhandler",
    "botocore.awsrequest",
)
REDACTED = "[redacted]"
#: What botocore writes at DEBUG before the adapter has seen the credentials: AssumeRole's XML response body (its
#: secret key and session token) and the session token header of each signed request.
_SECRET_PATTERNS = (
    re.compile(r"(<SecretAccessKey>)[^<]*(</SecretAccessKey>)"),
    re.compile(r"(<SessionToken>)[^<]*(</SessionToken>)"),
    re.compile(r"(x-amz-security-token[\"']?\s*[:=]\s*b?[\"']?)[^\s\"',}]+()", re.IGNORECASE),
)


class _Redact(logging.Filter):
    """Replaces every known target secret and session token in a record's message (a filter on each botocore
    logger that can write them; filters run only for records the logger is enabled for)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        original = text = record.getMessage()
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(rf"\g<1>{REDACTED}\g<2>", text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        if text != original:
            record.msg, record.args = text, None
        return True


REDACT = _Redact()
for _name in BOTOCORE_LOGGERS:
    logging.getLogger(_name).addFilter(REDACT)


class StsError(RuntimeError):
    """A transient or unexpected STS failure (not a refusal): raised for the platform to retry."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Sts:
    def __init__(self, client: Any) -> None:
        self._client = client

    def assume_role(self, target: Target, *, name: str) -> TargetCredentials:
        try:
            response = self._client.assume_role(
                RoleArn=target.role_arn,
                RoleSessionName=name,
                ExternalId=target.external_id,
                DurationSeconds=SESSION_SECONDS,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if code in REFUSALS:
                raise TargetUnavailable(target.role_arn, target.account_id, code, message) from None
            raise StsError(f"AssumeRole of {target.role_arn} failed: {code}: {message}", code) from None
        credentials = response["Credentials"]
        REDACT.secrets.update((credentials["SecretAccessKey"], credentials["SessionToken"]))
        return TargetCredentials(
            access_key_id=credentials["AccessKeyId"],
            secret_access_key=credentials["SecretAccessKey"],
            session_token=credentials["SessionToken"],
            expiration=credentials["Expiration"],
        )


class TargetClients:
    """The adapters of each target, on credentials cached per (roleArn, externalId, Region) until five minutes
    before they expire. Thread-safe (the launch packer may act for several pools in one invocation)."""

    def __init__(
        self,
        session: Any,
        clock: Clock,
        *,
        sts: Sts | None = None,
        sleep: Callable[[float], None] = time.sleep,
        qualifier: str | None = None,
    ) -> None:
        self._session = session
        self._clock = clock
        self._sts = sts  # built on first use: a runtime whose plans have no targets never creates an STS client
        self._sleep = sleep
        self._name = session_name(qualifier if qualifier is not None else os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], tuple[TargetCredentials, TargetAdapters]] = {}
        self._regions: dict[str, TargetAdapters] = {}  # role-less targets: the own account's adapters per Region
        self.assumed = 0  # AssumeRole calls made (for tests and metrics)

    def adapters(self, target: Target) -> TargetAdapters:
        if target.role_arn is None or target.external_id is None:
            return self._own(target.region)
        key = (target.role_arn, target.external_id, target.region)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0].fresh_at(self._clock.now()):
                return cached[1]
            if self._sts is None:
                self._sts = Sts(self._session.client("sts"))
            credentials = self._sts.assume_role(target, name=self._name)
            self.assumed += 1
            built = self._build(target.region, credentials)
            self._cache[key] = (credentials, built)
            return built

    def _own(self, region: str) -> TargetAdapters:
        """A role-less target (the orchestrator's own account, `region`): the adapters on the session's own
        credentials in that Region, built once per Region (no STS call; the session's credentials renew
        themselves). The caller (`Runtime.at`) has checked the account is the orchestrator's own."""
        with self._lock:
            built = self._regions.get(region)
            if built is None:
                built = self._regions[region] = self._build(region, None)
            return built

    def _build(self, region: str, credentials: TargetCredentials | None) -> TargetAdapters:
        def client(service: str, config: Config | None = None) -> Any:
            if credentials is None:
                return self._session.client(service, region_name=region, config=config)
            return self._session.client(
                service,
                region_name=region,
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
                config=config,
            )

        return TargetAdapters(
            drs=Drs(client("drs", DRS_CONFIG), sleep=self._sleep),
            ssm=Ssm(client("ssm")),
            ec2=Ec2Network(client("ec2", EC2_CONFIG)),
            ec2_templates=Ec2Templates(client("ec2"), sleep=self._sleep),
        )
