"""Each DRS and SSM call of the local cloud goes to the simulator of the account and Region it is made in.

The process-wide hooks (``localcloud.drs_sim_wire``, ``localcloud.ssm_sim_wire``) serve one handler: a router.
It reads the request's account from its credentials' access key id (``localcloud.credential_signer``: the
key of a role assumed through ``localcloud.sts_sim`` belongs to the role's account, any other key to the profile's
own) and its Region from the endpoint's host, then hands the request to that account+Region's simulator. DRS not
set up there answers UninitializedAccountException, as DRS does in an account and Region where it was never
initialized; an expired session answers ExpiredTokenException before any simulator sees the call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse

from localcloud.credential_signer import access_key_of, account_of, region_of
from localcloud.drs_sim_wire import DrsError, error_response
from localcloud.ssm_sim_wire import SsmError

Key = tuple[str, str]  # (account id, Region)

EXPIRED_MESSAGE = "The security token included in the request is expired"


class AccountRouter:
    """Dispatches a ``before-send`` request to ``simulators[(account, region)]``; `missing` answers the others
    (it may also create a simulator and return None: then the new one answers)."""

    def __init__(
        self,
        simulators: dict[Key, Any],
        *,
        home: Key,
        missing: Callable[[Any, Key], AWSResponse | None],
        expired: Callable[[str | None], bool],
        expired_error: Callable[[], DrsError],
    ) -> None:
        self.simulators = simulators
        self.home = home
        self._missing = missing
        self._expired = expired
        self._expired_error = expired_error

    def key_of(self, request: Any) -> Key:
        return account_of(request, self.home[0]), region_of(request, self.home[1])

    def handle(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        if self._expired(access_key_of(request)):
            return error_response(request.url, self._expired_error(), str(uuid.uuid4()))
        key = self.key_of(request)
        simulator = self.simulators.get(key)
        if simulator is None:
            answer = self._missing(request, key)
            if answer is not None:
                return answer
            simulator = self.simulators[key]
        response: AWSResponse | None = simulator.handle(request, **kwargs)
        return response


def drs_uninitialized(request: Any, key: Key) -> AWSResponse:
    """DRS where it was never initialized (the account+Region is not in the profile)."""
    error = DrsError("UninitializedAccountException", "Account not initialized for DRS in this region")
    return error_response(request.url, error, str(uuid.uuid4()))


def drs_expired() -> DrsError:
    return DrsError("ExpiredTokenException", EXPIRED_MESSAGE)


def ssm_expired() -> DrsError:
    return SsmError("ExpiredTokenException", EXPIRED_MESSAGE)
