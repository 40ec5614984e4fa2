"""Operator commands as `drs-orch approve|deny|pause|resume|cancel|retry|skip` and the dashboard's buttons send them.

One path for both: the command event is built and checked by its contract (`events.models.BY_DETAIL_TYPE`), then
sent to a local run's control socket (`localcloud.control_socket`, as the local caller `as_`) or, for a deployed
stack, POSTed to the operator URL signed with the caller's own credentials (`drs_orch.operator_client`). Either
way the control function decides; a command it refuses comes back with its ControlRejected reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from events.models import Contract

VERBS: dict[str, str] = {
    "approve": "ApprovalGranted",
    "deny": "ApprovalDenied",
    "pause": "PausePlan",
    "resume": "ResumePlan",
    "cancel": "CancelPlan",
    "retry": "RetryWave",
    "skip": "SkipWave",
}
"""Each operator verb and the control command (EventBridge detail-type) it sends."""

SKIP_REASON = "skipped by operator"  # the reason of a skip when the operator gives none (a deny must give one)


class Sent(StrEnum):
    """What became of a command."""

    APPLIED = "APPLIED"  # the local run applied it / the operator URL published it (202)
    REJECTED = "REJECTED"  # the control function or the operator endpoint refused it (ControlRejected's reason)
    UNAVAILABLE = "UNAVAILABLE"  # nothing answered: no local run listening, no operator URL, HTTP error
    INVALID = "INVALID"  # the command breaks its contract: nothing was sent


@dataclass(frozen=True)
class Outcome:
    """A command's fate: `sent`, the `reason` (refused, unavailable or invalid; empty when applied), and the
    answer's fields (`answer`: the local run's `status` and `waves`, or the operator URL's JSON body), and the
    operator URL's HTTP status when it answered something else than the operator function (`http_status`: IAM
    refused the signature or the caller, 403)."""

    sent: Sent
    reason: str = ""
    answer: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None

    @property
    def applied(self) -> bool:
        return self.sent is Sent.APPLIED


class CommandInvalid(ValueError):
    """The command's fields break its contract (the first error's message)."""


def command_event(detail_type: str, execution_id: str, extra: dict[str, Any]) -> Contract:
    """The control command `detail_type` (a value of `VERBS`) for `execution_id` with `extra` fields (camelCase:
    `waveId`, `comment`, `reason`, `allServers`, `terminateDrillInstances`). CommandInvalid when they break the
    contract, KeyError for a detail-type that is not a command."""
    from pydantic import ValidationError

    from events.models import BY_DETAIL_TYPE

    if detail_type not in VERBS.values():
        raise KeyError(detail_type)
    try:
        return BY_DETAIL_TYPE[detail_type].model_validate({"executionId": execution_id, **extra})
    except ValidationError as exc:
        raise CommandInvalid(str(exc.errors(include_url=False)[0]["msg"])) from None


def _unsigned_detail(command: Contract) -> dict[str, Any]:
    """The command's detail without `requestedBy`: who sent it is what the receiver authenticates."""
    return {key: value for key, value in command.to_detail().items() if key != "requestedBy"}


def send_local(command: Contract, *, as_: str | None) -> Outcome:
    """Send `command` to the control socket of the local `drs-orch run` of its execution, as the local caller `as_`
    (`localcloud.operators.local_caller`: an ARN or a session name of the local role; None: your login name).
    The run serves it between its steps and answers once the control function has handled it."""
    from localcloud.control_socket import ControlUnavailable, send, socket_path
    from localcloud.operators import local_caller

    execution_id = str(command.to_detail()["executionId"])
    request = {"op": "command", "detailType": command.DETAIL_TYPE, "detail": _unsigned_detail(command)}
    try:
        answer = send(socket_path(execution_id), {**request, "as": local_caller(as_)})
    except ControlUnavailable as exc:
        return Outcome(Sent.UNAVAILABLE, str(exc))
    if not answer.get("ok"):
        return Outcome(Sent.REJECTED, str(answer.get("reason")), answer)
    return Outcome(Sent.APPLIED, "", answer)


def send_aws(command: Contract, *, url: str | None, stack: str, region: str | None) -> Outcome:
    """POST `command` to the operator URL (`url`, else `$DRS_ORCH_OPERATOR_URL`, else the `OperatorUrl` output of
    `stack`), signed with SigV4 by your credentials: the operator function records the ARN AWS authenticated.
    Raises botocore's errors for missing credentials or region and an unreachable endpoint."""
    from drs_orch import operator_client

    try:
        target = operator_client.operator_url(url, stack=stack, region=region)
    except operator_client.OperatorUnavailable as exc:
        return Outcome(Sent.UNAVAILABLE, str(exc))
    response = operator_client.send(target, command.DETAIL_TYPE, _unsigned_detail(command), region=region)
    if response.accepted:
        return Outcome(Sent.APPLIED, "", response.body)
    if response.refused_by_the_function:
        return Outcome(Sent.REJECTED, response.reason, response.body)
    reason = f"the operator URL answered HTTP {response.status}: {response.reason}"
    return Outcome(Sent.UNAVAILABLE, reason, http_status=response.status)
