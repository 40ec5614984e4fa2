"""KMS HMAC with the operator-proof key (GenerateMac, VerifyMac; MacAlgorithm HMAC_SHA_256).

The key is the stack's (infra/constructs/operator_proof.py): KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC, a
key policy that lets only the operator function's role GenerateMac and the StartPlan and control functions'
roles VerifyMac. VerifyMac answers an invalid MAC with KMSInvalidMacException (KMS API reference, VerifyMac);
any other error (throttling after the client's retries, KMS unreachable, a disabled key) is MacUnavailable,
which the caller raises for the platform to retry: a command is never refused because KMS was busy.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAC_ALGORITHM = "HMAC_SHA_256"
MAC_BYTES = 32  # HMAC_SHA_256
MAX_MESSAGE_BYTES = 4096  # GenerateMac / VerifyMac Message
INVALID_MAC = "KMSInvalidMacException"


class MacUnavailable(RuntimeError):
    """KMS did not answer a GenerateMac or VerifyMac (the request may be sent again)."""


class Kms:
    """The operator-proof key on a boto3 KMS client (MacPort)."""

    def __init__(self, client: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError("the operator-proof key id must not be empty")
        self._client = client
        self._key_id = key_id

    def generate(self, message: bytes) -> str:
        _check_size(message)
        try:
            response = self._client.generate_mac(KeyId=self._key_id, Message=message, MacAlgorithm=MAC_ALGORITHM)
        except (ClientError, BotoCoreError) as exc:
            raise MacUnavailable(f"GenerateMac failed: {exc}") from exc
        return base64.b64encode(response["Mac"]).decode("ascii")

    def verify(self, message: bytes, mac: str) -> bool:
        _check_size(message)
        try:
            raw = base64.b64decode(mac.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return False
        if len(raw) != MAC_BYTES:
            return False
        try:
            response = self._client.verify_mac(KeyId=self._key_id, Message=message, Mac=raw, MacAlgorithm=MAC_ALGORITHM)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == INVALID_MAC:
                return False
            raise MacUnavailable(f"VerifyMac failed: {exc}") from exc
        except BotoCoreError as exc:
            raise MacUnavailable(f"VerifyMac failed: {exc}") from exc
        return bool(response.get("MacValid"))


def _check_size(message: bytes) -> None:
    if not 1 <= len(message) <= MAX_MESSAGE_BYTES:
        raise ValueError(f"a MAC message is 1 to {MAX_MESSAGE_BYTES} bytes, got {len(message)}")
