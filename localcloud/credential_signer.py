"""Which account a request of the local cloud acts in: its credentials' access key id, carried without signing.

On AWS a request's account is its credentials' (a role assumed in account B acts in B). moto reads it the same
way: the access key id in the ``Authorization`` header's ``Credential=`` (``moto.core.responses.get_access_key``)
is mapped to its account (``moto.iam.models.get_account_id_from``: the key of an assumed role belongs to the
role's account; any other key, ``local`` included, to moto's default account, the profile's own).

The local cloud used to skip signing altogether (``choose-signer`` answering UNSIGNED: SigV4 costs ~0.2 ms a call
and moto checks no signature), which also dropped the access key: every call, assumed-role credentials or not, was
the default account's. This signer keeps the speed and the account: it writes a SigV4-shaped ``Authorization``
header naming the access key id (and the session token header), with no signature computed. moto, the DRS and
SSM simulators (``localcloud.account_router``) read the account from it. A request without credentials (a client
made with ``signature_version=UNSIGNED``) stays unsigned: the default account.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.auth

SIGNATURE_VERSION = "drs-orch-local"
ACCOUNT_HEADER = "x-moto-account-id"  # moto's own way to name a request's account (moto.core.responses)
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


class CredentialOnlySigner:
    """Names the credentials' access key id the way SigV4 does, without computing a signature (botocore's signer
    interface: the class attributes it reads, ``add_auth``)."""

    REQUIRES_REGION = True
    REQUIRES_TOKEN = False

    def __init__(self, credentials: Any, service_name: str, region_name: str, **_: Any) -> None:
        self.credentials = credentials
        self.service_name = service_name
        self.region_name = region_name

    def add_auth(self, request: Any) -> None:
        if self.credentials is None:
            return  # no credentials: an anonymous request, as before
        scope = f"{self.credentials.access_key}/20260101/{self.region_name}/{self.service_name}/aws4_request"
        if "Authorization" in request.headers:
            del request.headers["Authorization"]
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=not-signed-locally"
        )
        if self.credentials.token:
            if "X-Amz-Security-Token" in request.headers:
                del request.headers["X-Amz-Security-Token"]
            request.headers["X-Amz-Security-Token"] = self.credentials.token


def install() -> None:
    """Make the signature version known to botocore (idempotent)."""
    botocore.auth.AUTH_TYPE_MAPS[SIGNATURE_VERSION] = CredentialOnlySigner


def choose_signer(**_: Any) -> str:
    """A ``choose-signer`` handler: every request of the session names its access key without signing."""
    return SIGNATURE_VERSION


def access_key_of(request: Any) -> str | None:
    """The access key id a prepared request names (its ``Authorization`` header), or None (unsigned)."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    if isinstance(header, bytes):
        header = header.decode("utf-8", "replace")
    match = _CREDENTIAL.search(header)
    return match.group(1) if match else None


def account_of(request: Any, default: str) -> str:
    """The account a prepared request acts in, as moto decides it: its ``x-moto-account-id`` header (the local
    cloud's own service clients: DRS doing its EC2 work in a target account), else the account of its access key's
    assumed role, else `default` (moto's default account)."""
    named = request.headers.get(ACCOUNT_HEADER)
    if named:
        return named.decode() if isinstance(named, bytes) else str(named)
    key = access_key_of(request)
    if key is None:
        return default
    from moto.iam.models import get_account_id_from

    return get_account_id_from(key)


def region_of(request: Any, default: str) -> str:
    """The Region a prepared request goes to: its endpoint's host (``drs.us-west-2.amazonaws.com``)."""
    from urllib.parse import urlsplit

    host = urlsplit(request.url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[-2] == "amazonaws":
        return parts[1]
    return default
