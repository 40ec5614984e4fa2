"""Operator commands on the bus: approve, deny, cancel, pause, resume, retry, skip (and the approval
deadline tick). Each is validated against the ledger; one that does not fit is answered with ControlRejected.
A command is taken only from the operator endpoint (`OPERATOR_SOURCE`: its `requestedBy` is the caller's
verified ARN) with its proof (`operatorProof`, a KMS HMAC only the operator function can make:
orchestrator/steps/operator_proof.py); one with any other source, or without a valid proof (a direct Invoke
that writes the source itself), is an invalid event (dropped, counted InvalidEvents). A command's decision is
recorded under its signed commandId, so a copy of it in another event is the same command. The approval
deadline tick is the scheduler's, not an operator's: one naming an execution or a wave that does not exist is
an invalid event too, like every internal event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from events.envelope import parse_event
from events.models import (
    OPERATOR_SOURCE,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalTimeout,
    CancelPlan,
    ControlEvent,
    PausePlan,
    ResumePlan,
    RetryWave,
    SkipWave,
)
from handlers._cleanup import CLEANUP_ROUTES
from handlers._lambda import Route, dispatch, lambda_handler, parse_known
from orchestrator.runtime import Runtime
from orchestrator.steps import control
from orchestrator.steps.operator_proof import proven_command_id

C = TypeVar("C", bound=ControlEvent)


def _route(model: type[C], command: Callable[[Runtime, C, str], None], *, internal: bool = False) -> Route:
    def route(rt: Runtime, event: dict[str, Any]) -> None:
        if internal:
            control.decide(rt, parse_known(rt, event, model), str(event["id"]), command)
            return
        detail = parse_event(event, model, sources=(OPERATOR_SOURCE,))
        control.decide(rt, detail, proven_command_id(rt, event), command)

    return route


ROUTES: dict[str, Route] = {
    ApprovalGranted.DETAIL_TYPE: _route(ApprovalGranted, control.grant_approval),
    ApprovalDenied.DETAIL_TYPE: _route(ApprovalDenied, control.deny_approval),
    ApprovalTimeout.DETAIL_TYPE: _route(ApprovalTimeout, control.approval_timeout, internal=True),
    CancelPlan.DETAIL_TYPE: _route(CancelPlan, control.cancel_plan),
    PausePlan.DETAIL_TYPE: _route(PausePlan, control.pause_plan),
    ResumePlan.DETAIL_TYPE: _route(ResumePlan, control.resume_plan),
    RetryWave.DETAIL_TYPE: _route(RetryWave, control.retry_wave),
    SkipWave.DETAIL_TYPE: _route(SkipWave, control.skip_wave),
}
ROUTES.update(CLEANUP_ROUTES)  # WaveFailed (rollback: TERMINATE) and TerminationTick (drill time to live)


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch(event, ROUTES)
