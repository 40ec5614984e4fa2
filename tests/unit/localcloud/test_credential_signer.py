"""How the local cloud tells a request's account and Region (localcloud/credential_signer.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.credential_signer import CredentialOnlySigner, access_key_of, account_of, region_of


def _request(url: str = "https://drs.us-west-2.amazonaws.com/ListExtensibleSourceServers", **headers: Any) -> Any:
    return AWSRequest(method="POST", url=url, headers=headers).prepare()


def test_the_signer_names_the_access_key_and_the_token_without_signing() -> None:
    # GIVEN a request and session credentials
    request = AWSRequest(method="POST", url="https://drs.us-west-2.amazonaws.com/StartRecovery")
    # WHEN the signer adds its header
    CredentialOnlySigner(Credentials("ASIAEXAMPLE0000001", "secret", "token-1"), "drs", "us-west-2").add_auth(request)
    # THEN the header is SigV4-shaped with the key (what moto and the routers read), the token travels, no secret
    prepared = request.prepare()
    assert access_key_of(prepared) == "ASIAEXAMPLE0000001"
    assert prepared.headers["X-Amz-Security-Token"] == "token-1"
    assert "secret" not in prepared.headers["Authorization"]


def test_a_request_without_credentials_stays_anonymous_and_is_the_default_account() -> None:
    # GIVEN a signer without credentials (an anonymous client) / WHEN it signs
    request = AWSRequest(method="POST", url="https://drs.us-east-1.amazonaws.com/DescribeJobs")
    CredentialOnlySigner(None, "drs", "us-east-1").add_auth(request)
    # THEN nothing is added: the request is the default account's
    prepared = request.prepare()
    assert "Authorization" not in prepared.headers
    assert account_of(prepared, "123456789012") == "123456789012"


def test_the_account_header_of_the_clouds_own_service_clients_names_the_account() -> None:
    # GIVEN a request of DRS's own EC2 work in a target account / THEN its account is the header's
    assert account_of(_request(**{"x-moto-account-id": "222233334444"}), "123456789012") == "222233334444"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://drs.us-west-2.amazonaws.com/StartRecovery", "us-west-2"),
        ("https://ssm.eu-central-1.amazonaws.com/", "eu-central-1"),
        ("https://drs-fips.us-gov-west-1.amazonaws.com/DescribeJobs", "us-gov-west-1"),
        ("https://sts.amazonaws.com/", "us-east-1"),  # the global endpoint
        ("http://localhost:5000/", "us-east-1"),  # a custom endpoint: the default
    ],
)
def test_the_region_is_the_endpoints(url: str, region: str) -> None:
    assert region_of(_request(url), "us-east-1") == region
