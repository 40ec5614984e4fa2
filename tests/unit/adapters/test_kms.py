"""The KMS adapter of the operator proof on moto's KMS (GenerateMac and VerifyMac of an HMAC_256 key), and what
it makes of KMS errors: an invalid MAC is False, anything else (throttling) MacUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from orchestrator.adapters.kms import Kms, MacUnavailable


@pytest.fixture
def kms() -> Iterator[tuple[Kms, Any]]:
    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1")
        key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        yield Kms(client, key), client


def test_a_mac_verifies_for_its_message_only(kms: tuple[Kms, Any]) -> None:
    adapter, _ = kms
    mac = adapter.generate(b"approve e1/w1 by alice")
    assert (adapter.verify(b"approve e1/w1 by alice", mac), adapter.verify(b"approve e1/w1 by bob", mac)) == (
        True,
        False,
    )


@pytest.mark.parametrize("mac", ["not base64!", "QUJD", ""])
def test_what_is_no_mac_of_32_bytes_is_invalid_without_asking_kms(kms: tuple[Kms, Any], mac: str) -> None:
    adapter, client = kms
    with Stubber(client):  # a call would raise: no response is queued
        assert adapter.verify(b"m", mac) is False


def test_kms_throttled_is_unavailable_not_invalid(kms: tuple[Kms, Any]) -> None:
    adapter, client = kms
    mac = adapter.generate(b"m")
    with Stubber(client) as stub:
        stub.add_client_error("verify_mac", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_client_error("generate_mac", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(MacUnavailable, match="ThrottlingException"):
            adapter.verify(b"m", mac)
        with pytest.raises(MacUnavailable, match="ThrottlingException"):
            adapter.generate(b"m")


def test_a_message_kms_cannot_take_is_a_bug_not_a_refusal(kms: tuple[Kms, Any]) -> None:
    adapter, _ = kms
    with pytest.raises(ValueError, match="a MAC message is 1 to 4096 bytes, got 4097"):
        adapter.generate(b"x" * 4097)
