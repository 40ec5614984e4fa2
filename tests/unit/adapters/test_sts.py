"""STS AssumeRole for a wave's target and the per-target client cache (issue #15 item 1): credentials cached per
(roleArn, externalId, Region) until five minutes before they expire, the target's clients built from the runtime's
own session with the target's Region and credentials, a refusal as a domain error naming the role and the account,
a throttle raised for the platform, and no secret in any log line (botocore's DEBUG output included)."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from orchestrator.adapters.drs import Drs
from orchestrator.adapters.sts import Sts, StsError, TargetClients
from orchestrator.domain.plan import Target
from orchestrator.domain.targets import REFRESH_MARGIN, SESSION_SECONDS, TargetCredentials, TargetUnavailable
from orchestrator.runtime import NoTargetClients, build_runtime
from tests.unit.moto_ledger import SettableClock

B, C = "222233334444", "333344445555"


def _target(account: str = B, region: str = "us-west-2", external_id: str = "ext-1") -> Target:
    return Target(
        account_id=account,
        region=region,
        role_arn=f"arn:aws:iam::{account}:role/drs-orchestrator-target",
        external_id=external_id,
    )


class _SpySession:
    """The runtime's boto3 session, recording every client it builds (the local cloud hooks this session)."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(region_name="us-east-1")
        self.built: list[tuple[str, dict[str, Any]]] = []

    def client(self, service: str, **kwargs: Any) -> Any:
        self.built.append((service, kwargs))
        return self.session.client(service, **kwargs)


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield


def _clock_now() -> SettableClock:
    clock = SettableClock()
    clock.at = datetime.now(UTC)  # moto's Expiration is real time plus DurationSeconds
    return clock


@pytest.mark.usefixtures("aws")
def test_a_targets_clients_are_built_from_the_runtimes_session_with_its_region_and_assumed_credentials() -> None:
    session, clock = _SpySession(), _clock_now()
    clients = TargetClients(session, clock, qualifier="StartJobFunction")
    # WHEN a target's adapters are asked for
    adapters = clients.adapters(_target())
    # THEN one AssumeRole was made, and every target client came from the runtime's session in the target's Region
    # with the assumed (temporary) credentials
    assert clients.assumed == 1
    services = {service: kwargs for service, kwargs in session.built if service != "sts"}
    assert set(services) == {"drs", "ssm", "ec2"}
    for kwargs in services.values():
        assert kwargs["region_name"] == "us-west-2"
        assert kwargs["aws_access_key_id"].startswith("ASIA")
        assert kwargs["aws_session_token"]
    assert isinstance(adapters.drs, Drs)
    # AND the DRS client keeps the orchestrator's one-attempt retry config (its own retries own DRS throttling)
    [drs_kwargs] = [kwargs for service, kwargs in session.built if service == "drs"]
    assert drs_kwargs["config"].retries == {"total_max_attempts": 1, "mode": "standard"}


@pytest.mark.usefixtures("aws")
def test_credentials_are_cached_per_role_external_id_and_region_until_five_minutes_before_they_expire() -> None:
    clock = _clock_now()
    clients = TargetClients(boto3.session.Session(region_name="us-east-1"), clock)
    first = clients.adapters(_target())
    # the same target again: the cached adapters, no new AssumeRole
    assert clients.adapters(_target()) is first
    assert clients.assumed == 1
    # another Region, another external id, another account: each its own credentials
    other_region = clients.adapters(_target(region="eu-west-1"))
    clients.adapters(_target(external_id="ext-2"))
    clients.adapters(_target(C))
    assert clients.assumed == 4
    assert other_region is not first
    # just before the renewal margin: still cached
    clock.at += timedelta(seconds=SESSION_SECONDS) - REFRESH_MARGIN - timedelta(seconds=30)
    assert clients.adapters(_target()) is first
    assert clients.assumed == 4
    # within five minutes of Expiration: assumed again, new adapters
    clock.at += timedelta(seconds=60)
    renewed = clients.adapters(_target())
    assert renewed is not first
    assert clients.assumed == 5


def test_credentials_are_fresh_until_the_margin() -> None:
    expires = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    credentials = TargetCredentials("ASIAEXAMPLE", "the-secret", "the-token", expires)
    assert credentials.fresh_at(expires - REFRESH_MARGIN - timedelta(seconds=1))
    assert not credentials.fresh_at(expires - REFRESH_MARGIN)
    # AND the repr shows neither the secret nor the token
    assert "the-secret" not in repr(credentials)
    assert "the-token" not in repr(credentials)


def _stubbed_sts() -> tuple[Sts, Stubber]:
    client = botocore.session.get_session().create_client(
        "sts", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return Sts(client), Stubber(client)


def test_assume_role_sends_the_external_id_the_session_name_and_an_hour() -> None:
    sts, stub = _stubbed_sts()
    expires = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    stub.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
                "SecretAccessKey": "s" * 40,
                "SessionToken": "t" * 40,
                "Expiration": expires,
            }
        },
        {
            "RoleArn": f"arn:aws:iam::{B}:role/drs-orchestrator-target",
            "RoleSessionName": "drs-orch@fn",
            "ExternalId": "ext-1",
            "DurationSeconds": 3600,
        },
    )
    with stub:
        credentials = sts.assume_role(_target(), name="drs-orch@fn")
    assert (credentials.access_key_id, credentials.expiration) == ("ASIAEXAMPLEEXAMPLE01", expires)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["AccessDenied", "MalformedPolicyDocument", "RegionDisabledException"])
def test_a_refused_assume_role_is_a_domain_error_naming_the_role_and_the_account(code: str) -> None:
    sts, stub = _stubbed_sts()
    stub.add_client_error("assume_role", service_error_code=code, service_message="not authorized to sts:AssumeRole")
    with stub, pytest.raises(TargetUnavailable) as caught:
        sts.assume_role(_target(), name="drs-orch")
    assert caught.value.reason == (
        f"cannot assume arn:aws:iam::{B}:role/drs-orchestrator-target in account {B}: "
        f"{code}: not authorized to sts:AssumeRole"
    )


def test_a_throttled_assume_role_raises_for_the_platform_to_retry() -> None:
    sts, stub = _stubbed_sts()
    stub.add_client_error("assume_role", service_error_code="Throttling", http_status_code=400)
    with stub, pytest.raises(StsError) as caught:
        sts.assume_role(_target(), name="drs-orch")
    assert not isinstance(caught.value, TargetUnavailable)
    assert caught.value.code == "Throttling"


@pytest.mark.usefixtures("aws")
def test_no_secret_or_session_token_reaches_any_log_line_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    session = boto3.session.Session(region_name="us-east-1")
    clients = TargetClients(session, _clock_now())
    with caplog.at_level(logging.DEBUG):
        adapters = clients.adapters(_target())
        # a signed request with the session token (moto's DRS may refuse it: it was signed and logged either way)
        with contextlib.suppress(Exception):
            adapters.drs.describe_jobs(["drsjob-00000000000000001"])
    # the credentials the adapters were built with
    [(_, (credentials, _))] = clients._cache.items()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "AssumeRole" in text or "assume_role" in text.lower()  # botocore did log the call at DEBUG
    assert credentials.secret_access_key not in text
    assert credentials.session_token not in text


def test_the_orchestrators_runtime_creates_no_sts_client_and_at_none_is_itself() -> None:
    with mock_aws():
        session = _SpySession()
        rt = build_runtime(session=session.session)
        assert rt.at(None) is rt
        assert rt.targets is not None
        assert not any(service == "sts" for service, _ in session.built)


@pytest.mark.usefixtures("aws")
def test_runtime_at_a_target_swaps_only_the_target_adapters() -> None:
    from orchestrator.config import Settings

    rt = build_runtime(Settings(table_name="ledger"), clock=_clock_now())
    there = rt.at(_target())
    assert there is not rt
    assert there.target == _target()
    assert (there.ledger, there.bus, there.scheduler, there.clock) == (rt.ledger, rt.bus, rt.scheduler, rt.clock)
    assert there.drs is not rt.drs
    assert there.ssm is not rt.ssm
    assert there.ec2 is not rt.ec2
    assert there.ec2_templates is not rt.ec2_templates
    # the same target again from there: itself; back home: the own runtime; another target: from home
    assert there.at(_target()) is there
    assert there.at(None) is rt
    elsewhere = there.at(_target(C))
    assert elsewhere.home is rt
    assert elsewhere.target == _target(C)
    # a runtime without target clients refuses a target (a wiring error, not a refusal by STS)
    rt.targets = None
    with pytest.raises(NoTargetClients):
        rt.at(_target(region="ap-south-1"))


@pytest.mark.usefixtures("aws")
def test_a_role_less_targets_clients_are_the_sessions_own_credentials_in_its_region_cached_per_region() -> None:
    # GIVEN the runtime's session and a target without a role (another Region of the orchestrator's own account)
    session, clock = _SpySession(), _clock_now()
    clients = TargetClients(session, clock)
    west = Target(account_id=B, region="us-west-2")
    # WHEN its adapters are asked for, twice, and another Region's
    adapters = clients.adapters(west)
    again = clients.adapters(west)
    eu = clients.adapters(Target(account_id=B, region="eu-west-1"))
    # THEN no STS client and no AssumeRole: the session's own credentials (none passed) in the target's Region, built
    # once per Region
    assert clients.assumed == 0
    assert not any(service == "sts" for service, _ in session.built)
    assert again is adapters
    assert eu is not adapters
    built = [(service, kwargs) for service, kwargs in session.built]
    assert {kwargs["region_name"] for _, kwargs in built} == {"us-west-2", "eu-west-1"}
    assert all("aws_access_key_id" not in kwargs for _, kwargs in built)
    assert len([s for s, kwargs in built if s == "drs" and kwargs["region_name"] == "us-west-2"]) == 1
    [drs_kwargs] = [kw for service, kw in built if service == "drs" and kw["region_name"] == "us-west-2"]
    assert drs_kwargs["config"].retries == {"total_max_attempts": 1, "mode": "standard"}


@pytest.mark.usefixtures("aws")
def test_runtime_at_a_role_less_target_checks_the_account_against_the_bus_arn() -> None:
    from orchestrator.config import Settings

    own_bus = f"arn:aws:events:us-east-1:{B}:event-bus/drs-orch"
    rt = build_runtime(Settings(table_name="ledger", bus_arn=own_bus, region="us-east-1"), clock=_clock_now())
    # the own account in another Region: that Region's adapters, no role assumed
    west = rt.at(Target(account_id=B, region="us-west-2"))
    assert west.home is rt
    assert west.drs is not rt.drs
    assert rt.targets is not None
    assert getattr(rt.targets, "assumed", None) == 0
    # the own account and Region: the own runtime itself
    assert rt.at(Target(account_id=B, region="us-east-1")) is rt
    # another account without a role: refused, naming both accounts, before any call
    with pytest.raises(TargetUnavailable, match=f"target account {C} gives no roleArn and is not .* account {B}$"):
        rt.at(Target(account_id=C, region="us-west-2"))
