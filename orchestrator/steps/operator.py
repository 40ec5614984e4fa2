"""The operator endpoint: an operator command sent with AWS credentials is published with the caller's
verified IAM ARN as `requestedBy`.

EventBridge does not tell a receiver who put an event, so a `requestedBy` written by whoever publishes proves
nothing. The operator function sits behind a Lambda Function URL with `AuthType: AWS_IAM`: the caller signs the
request with SigV4, Lambda authenticates it and puts the caller's ARN in the request context
(`requestContext.authorizer.iam.userArn`; the handler reads it). This step validates the command with its event
contract, writes that ARN into `requestedBy` and publishes the command with `OPERATOR_SOURCE`, which only this
function's role may publish (the bus policy) and which the control rule alone takes the commands from. The control
function then checks the command against the ledger and the plan's approvers as before, with an ARN it can trust.

A request is `{"detailType": <one of OPERATOR_COMMANDS, StartPlan, Failback or Reprotect>, "detail": {...}}`. A
detail whose `requestedBy` names anyone but the caller is refused (403): a client that believes it acts as someone
else is told so, rather than recorded under a name it did not expect. A StartPlan in RECOVERY mode is published only
when the caller is one of the deploy's recovery principals (`Settings.recovery_principals`), and so are a Failback that
is not a drill and a Reprotect that terminates the recovery side's instances; a DRILL StartPlan (a failback drill, a
plain reprotect) is published for any caller (it may also be sent on the bus by its publishers).

Each published command carries `operatorProof` (orchestrator/steps/operator_proof.py): its `commandId` (from
the Function URL request's id), the time, and a KMS HMAC that only this function's role may generate; the
StartPlan and control functions take the operator source only with a valid proof, so a direct invocation that
writes the source itself proves nothing. A detail that brings its own `operatorProof` is refused (400: the
contract's field is the endpoint's to write).

Answers are HTTP statuses with a JSON body: 202 (published: `detailType`, `executionId`, `requestedBy`), 400 (not a
command: `error`, and `errors` per field), 403 (not allowed: `error`), 500 (the deploy's recovery principals are
malformed: every RECOVERY is refused), 503 (KMS did not sign it, or PutEvents refused the entry: nothing was
published; send it again).
Nothing is published unless the answer is 202.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from events.models import OPERATOR_COMMANDS, Contract, Failback, Mode, Reprotect, StartPlan
from orchestrator.adapters.bus import PublishError
from orchestrator.adapters.kms import MacUnavailable
from orchestrator.domain.principals import parse_principals, split_principals
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.operator_proof import sign

_ACCEPTED: tuple[type[Contract], ...] = (*OPERATOR_COMMANDS, StartPlan, Failback, Reprotect)
COMMANDS: dict[str, type[Contract]] = {cls.DETAIL_TYPE: cls for cls in _ACCEPTED}
_REQUEST_KEYS = frozenset({"detailType", "detail"})
_EXECUTION_ID = re.compile(r"[^A-Za-z0-9._:-]")  # what an id may not contain (executionId, commandId)
MAX_ERRORS = 20  # field errors listed in one answer (the rest are counted)


@dataclass(frozen=True)
class Caller:
    """Who called, as AWS authenticated the request: `arn` (an assumed-role session's
    `arn:aws:sts::<account>:assumed-role/<role>/<session>`, or an IAM user's ARN), `account_id`, `caller_id`."""

    arn: str
    account_id: str | None = None
    caller_id: str | None = None


@dataclass(frozen=True)
class Answer:
    """The endpoint's answer: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == 202


def _refused(status: int, error: str, caller: Caller, **extra: Any) -> Answer:
    logger.warning("operator request refused", status=status, error=error, caller=caller.arn)
    metrics.add_metric(name="OperatorRefused", unit="Count", value=1)
    return Answer(status, {"error": error, **extra})


def _field_errors(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False, include_input=False)[:MAX_ERRORS]:
        location = ".".join(str(part) for part in error["loc"])
        lines.append(f"detail.{location}: {error['msg']}" if location else f"detail: {error['msg']}")
    return lines


def operate(rt: Runtime, caller: Caller, request: Any, *, request_id: str) -> Answer:
    """Validate the operator's `request` (the decoded JSON body), stamp the caller's ARN and publish it with
    the operator source. `request_id`: the Function URL request's id (names a StartPlan's execution when the
    request gives none). Never raises for a bad request: the answer says what is wrong."""
    if not isinstance(request, dict) or set(request) != _REQUEST_KEYS:
        return _refused(400, 'the body must be a JSON object {"detailType": ..., "detail": {...}}', caller)
    detail_type, detail = request["detailType"], request["detail"]
    model = COMMANDS.get(detail_type) if isinstance(detail_type, str) else None
    if model is None:
        return _refused(
            400, f"detailType must be one of {', '.join(sorted(COMMANDS))}, got {str(detail_type)[:80]!r}", caller
        )
    if not isinstance(detail, dict):
        return _refused(400, "detail must be a JSON object", caller)
    claimed = detail.get("requestedBy")
    if claimed is not None and claimed != caller.arn:
        return _refused(
            403,
            f"requestedBy {str(claimed)[:256]!r} is not the caller {caller.arn}: the operator endpoint records the "
            "caller AWS authenticated; leave requestedBy out",
            caller,
        )
    if "operatorProof" in detail:
        return _refused(
            400, "detail.operatorProof: the operator endpoint writes the proof itself; leave it out", caller
        )
    stamped: dict[str, Any] = {**detail, "requestedBy": caller.arn}
    if model is StartPlan and "executionId" not in detail:
        stamped["executionId"] = _EXECUTION_ID.sub("-", f"op-{request_id}")[:128]
    try:
        command = model.model_validate(stamped)
    except ValidationError as exc:
        errors = _field_errors(exc)
        return _refused(400, f"invalid {detail_type}: {errors[0] if errors else exc}", caller, errors=errors)
    what = _moves_production(command)
    if what is not None:
        refusal = _recovery_refusal(rt, caller, what)
        if refusal is not None:
            return refusal
    return _publish(rt, caller, command, command_id=_EXECUTION_ID.sub("-", f"op-{request_id}")[:128])


def _moves_production(command: Contract) -> str | None:
    """What a recovery principal alone may do, when `command` does it (None otherwise): a real failover (a RECOVERY
    StartPlan), a real failback (a Failback that is not a drill), terminating the recovery side's instances (a
    Reprotect that asks for it)."""
    if isinstance(command, StartPlan) and command.mode is Mode.RECOVERY:
        return "start a RECOVERY (a real failover)"
    if isinstance(command, Failback) and not command.drill:
        return "start a failback (a real one, not a drill)"
    if isinstance(command, Reprotect) and command.terminate_recovery_instances:
        return "terminate the recovery side's instances"
    return None


def _recovery_refusal(rt: Runtime, caller: Caller, what: str = "start a RECOVERY (a real failover)") -> Answer | None:
    """Why `caller` may not start a RECOVERY (None: it may): it must be one of the deploy's recovery principals.
    A malformed setting refuses every RECOVERY (fail closed)."""
    setting = rt.settings.recovery_principals
    try:
        principals = parse_principals(split_principals(setting))
    except ValueError as exc:
        logger.error("RECOVERY_PRINCIPALS is malformed: every RECOVERY is refused", error=str(exc))
        return _refused(500, f"the deploy's recovery principals are malformed ({exc}): no RECOVERY can start", caller)
    if not any(principal.admits(caller.arn) for principal in principals):
        listed = ", ".join(p.text for p in principals) or "none: the deploy lists no recovery principal"
        return _refused(
            403,
            f"{caller.arn} may not {what}: it is none of the deploy's recovery principals ({listed})",
            caller,
        )
    return None


def _publish(rt: Runtime, caller: Caller, command: Contract, *, command_id: str) -> Answer:
    if rt.operator_bus is None:
        raise RuntimeError("this runtime has no operator bus")
    try:
        command = sign(rt, command, command_id=command_id)
    except MacUnavailable as exc:
        logger.error("operator command not signed", detail_type=command.DETAIL_TYPE, error=str(exc))
        return Answer(503, {"error": f"the {command.DETAIL_TYPE} was not signed ({exc}): send it again"})
    try:
        rt.operator_bus.publish(command)
    except PublishError as exc:
        logger.error("operator command not published", detail_type=command.DETAIL_TYPE, error=str(exc))
        return Answer(503, {"error": f"the {command.DETAIL_TYPE} was not published ({exc}): send it again"})
    execution_id = getattr(command, "execution_id", None)
    logger.info(
        "operator command published",
        detail_type=command.DETAIL_TYPE,
        execution_id=execution_id,
        requested_by=caller.arn,
        caller_id=caller.caller_id,
        command_id=command_id,
    )
    metrics.add_metric(name="OperatorCommands", unit="Count", value=1)
    return Answer(
        202,
        {"accepted": True, "detailType": command.DETAIL_TYPE, "executionId": execution_id, "requestedBy": caller.arn},
    )
