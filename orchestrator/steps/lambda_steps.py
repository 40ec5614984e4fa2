"""LAMBDA steps: one asynchronous invocation of a deploy-allowed function per try, its result back through Lambda's
own destinations, nothing waiting anywhere.

A LAMBDA step is a script item like the others (`orchestrator.steps.scripts`: claimed SENDING once, whatever the
deliveries of the event that starts it; retried, warned or failing its wave by its onFailure, as an SSM step):

- **send**: the function the step names must resolve to one of the deploy's allowed function ARNs
  (`Settings.allowed_lambda_functions`; StartPlan checked it, the list may have been narrowed since): else the
  step ends Failed at once (no retry: the list does not change between tries). The try gets a fresh correlation
  id (`drsorch-` and 32 random hex digits: unguessable, so no event can name another execution's step), and ONE
  Invoke (InvocationType=Event) goes to the allowed ARN with the step's `payload` and, under `drsOrchestrator`,
  the run context: correlation id, execution, plan, wave, wave attempt, phase, step index, try, mode and the
  wave's recovery instances (`{sourceServerId: {instanceId, privateIp}}`: post-launch, what the wave launched;
  pre-launch, its previous ones). The item goes RUNNING with `commandIds` = [correlation id, request id] (an
  index item each), `expected` 1, and one timeout tick at send + timeoutSeconds. A throttled Invoke (or DRS
  throttling while reading the instances) defers the try to a resend tick, as an SSM send; any other refusal
  (the function does not exist, access denied) fails the try with Lambda's words.
- **result**: Lambda puts the invocation record on the orchestrator's bus (its on-success and on-failure
  destinations; source `lambda`, detail-type "Lambda Function Invocation Result - Success" or "- Failure"); the
  route keeps only records whose request payload carries a correlation id of ours. The record is untrusted (anyone
  allowed to put events on the bus can write one): its correlation id picks the step through the ledger's index,
  never a field naming an execution, and it concludes the step only when its request id is the one Lambda
  answered the Invoke with, its function is the step's, and the step's try is still running (a record that
  outruns the ledger's record of its send, from a function that ends in milliseconds, finds its step through the
  index item written before the Invoke, is kept on the item, and concludes the try as soon as either side sees
  the other's write: `_early`, `_adopt_early`). Success
  ends the try Success, Failure ends it Failed (the function's errorType and errorMessage as its reason); the
  function's response is kept, cut to OUTPUT_EXCERPT characters and made inert (`orchestrator.domain.untrusted`).
- **timeout**: the tick at the deadline ends the try TimedOut (an asynchronous invocation cannot be stopped). A
  result arriving after the try ended (timed out, retried, or the step ended) is kept on the script item
  (`lateResults`: request id, outcome, response, its try; once each, at most 10), logged and counted (metric
  LambdaResultsLate); it changes nothing else.

A crash between the claim and the record of the send (the claiming event then comes again with the same id) sends
the try again with a new correlation id: the first invocation's result then matches no running try and changes
nothing. Lambda itself runs an asynchronous invocation at least once (rarely twice: the Lambda developer guide,
"Asynchronous invocation"): a function that must act once should key its work on the correlation id.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from events.models import LAMBDA_RESULT_SUCCESS
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.lambda_invoke import LambdaError
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Script
from orchestrator.domain.plan.lambda_functions import FunctionAllowList, not_allowed_reason
from orchestrator.domain.plan.model import LAMBDA_CONTEXT_KEY
from orchestrator.domain.records.scripts import InvocationResult, ScriptId, ScriptRun, ScriptStatus
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.steps import scripts as _scripts
from orchestrator.steps.targets import wave_runtime

if TYPE_CHECKING:
    from orchestrator.runtime import Runtime

CORRELATION_PREFIX = "drsorch-"
#: The most a LAMBDA step sends, as compact JSON: the invocation record that brings its result back carries this
#: request payload and the function's response, and an EventBridge event is at most 256 KB (PutEvents, the
#: EventBridge user guide's quotas; Lambda's own asynchronous limit, 1 MB, is not the one that binds).
MAX_INVOKE_PAYLOAD_BYTES = 131_072
_CORRELATION = re.compile(r"drsorch-[0-9a-f]{32}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]{1,30}:\d{12}:function:[A-Za-z0-9_-]{1,64}(:[^:]{1,128})?")
_S = ScriptStatus


def _allowed_arn(rt: Runtime, script: Script) -> str | None:
    return FunctionAllowList.parse(rt.settings.allowed_lambda_functions).resolve(script.function)


# ---- send ------------------------------------------------------------------------------------------


def send(reads: _scripts._Reads, run: ScriptRun, script: Script, *, try_number: int, key: str) -> None:
    """Invoke the step's function once for try `try_number` (claimed SENDING by `key`), record the send and arm
    its timeout tick; see the module's docstring for what may end the try instead."""
    rt = reads.rt
    arn = _allowed_arn(rt, script)
    if arn is None:
        allowed = FunctionAllowList.parse(rt.settings.allowed_lambda_functions)
        reason = f"{not_allowed_reason(script.function, allowed)}: not invoked"[: _scripts.REASON_LIMIT]
        logger.warning("LAMBDA step not invoked: its function is not allowed", function=script.function)
        ended = _scripts._Ended(try_number, _S.FAILED, [], reason, _scripts._SENDING)
        _scripts._finish(reads, run, ended, _scripts._warnings(run, _S.FAILED, reason), key=key)
        return
    if rt.lambdas is None:
        raise RuntimeError("this runtime has no Lambda client")
    correlation = CORRELATION_PREFIX + secrets.token_hex(16)
    try:
        payload = _payload(reads, run, script, correlation, try_number)
        if _too_big(reads, run, payload, try_number, key):
            return
        # indexed first: a function that ends before the send is recorded still finds its step (`on_result`)
        rt.ledger.index_command(run.id, try_number=try_number, command_id=correlation, expected=1)
        request_id = rt.lambdas.invoke_async(arn, payload) or correlation
    except (DrsError, LambdaError) as exc:
        if exc.retryable:
            _scripts._defer(reads, run, try_number, exc, key=key)
            return
        why = "Lambda refused the invocation" if isinstance(exc, LambdaError) else "could not read its instances"
        reason = f"{why}: {exc}"
        _scripts._end_try(reads, run, try_number, _S.FAILED, reason, key=key, from_=_scripts._SENDING)
        return
    deadline = rt.clock.now() + timedelta(seconds=script.timeout_seconds)
    ids = [correlation, request_id]
    if not rt.ledger.record_sent(
        run.id, try_number=try_number, key=key, command_ids=ids, expected=1, deadline=deadline
    ):
        return
    metrics.add_metric(name="LambdaStepsInvoked", unit="Count", value=1)
    logger.info(
        "LAMBDA step invoked",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        function=arn,
        request_id=request_id,
        try_number=try_number,
    )
    _scripts._schedule(reads, run.id, try_number, "timeout", deadline)
    _adopt_early(reads, run.id, try_number, key)


def _too_big(reads: _scripts._Reads, run: ScriptRun, payload: dict[str, Any], try_number: int, key: str) -> bool:
    """A payload over MAX_INVOKE_PAYLOAD_BYTES is not sent: the step ends Failed at once (its size does not change
    between tries), naming its size and the wave's recovery instances. Returns whether it was."""
    size = len(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    if size <= MAX_INVOKE_PAYLOAD_BYTES:
        return False
    instances = len(payload[LAMBDA_CONTEXT_KEY]["recoveryInstances"])
    reason = (
        f"its payload and run context ({instances} recovery instance(s)) are {size} bytes as JSON, over the "
        f"{MAX_INVOKE_PAYLOAD_BYTES} a LAMBDA step sends (its result record must fit an EventBridge event, 256 KB): "
        "not invoked"
    )
    ended = _scripts._Ended(try_number, _S.FAILED, [], reason, _scripts._SENDING)
    _scripts._finish(reads, run, ended, _scripts._warnings(run, _S.FAILED, reason), key=key)
    return True


def _payload(
    reads: _scripts._Reads, run: ScriptRun, script: Script, correlation: str, try_number: int
) -> dict[str, Any]:
    """The step's payload and, under LAMBDA_CONTEXT_KEY, the run context (see the module's docstring)."""
    execution = reads.execution
    plan_wave = frozen_plan(execution).wave(run.wave_id)
    instances = _scripts._own_instances(reads.rt, execution.execution_id, plan_wave, run.phase)
    context = {
        "correlationId": correlation,
        "executionId": execution.execution_id,
        "planId": execution.plan_id,
        "waveId": run.wave_id,
        "waveAttempt": run.wave_attempt,
        "phase": run.phase,
        "stepIndex": run.index,
        "try": try_number,
        "mode": str(execution.mode),
        "recoveryInstances": _scripts._instance_map(instances),
    }
    return {**(script.payload or {}), LAMBDA_CONTEXT_KEY: context}


# ---- timeout ---------------------------------------------------------------------------------------


def on_running_tick(reads: _scripts._Reads, run: ScriptRun, purpose: str, event_id: str) -> None:
    """A tick of the running try: its timeout ends it TimedOut (not before its deadline); no other tick polls a
    LAMBDA step (its result is an event)."""
    if purpose != "timeout" or _scripts._early(reads, run):
        return
    metrics.add_metric(name="ScriptsTimedOut", unit="Count", value=1)
    reason = (
        f"no result within {run.timeout_seconds} s (an asynchronous invocation cannot be stopped: a result arriving "
        "later is recorded and changes nothing)"
    )
    result = InvocationResult(instance_id=_request_id(run), status="TimedOut")
    ended = _scripts._Ended(run.try_number, _S.TIMED_OUT, [result], reason, _scripts._RUNNING)
    _scripts._conclude(reads, run, ended, key=event_id)


def _request_id(run: ScriptRun) -> str:
    return run.command_ids[1] if len(run.command_ids) > 1 else (run.command_ids or ("unknown",))[0]


# ---- result ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LambdaResult:
    """What an invocation record says, checked for shape (its values are still only claims)."""

    correlation_id: str
    request_id: str
    function_arn: str
    succeeded: bool
    condition: str
    response: str  # the response payload as JSON, cut and inert
    error: str  # errorType: errorMessage of a failure, cut and inert ("" on success)
    timestamp: str | None


def _text(value: object, limit: int) -> str:
    if isinstance(value, str):
        return inert(value[:limit])
    return inert(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)[:limit])


def _error(response: object) -> str:
    if isinstance(response, dict):
        kind, message = response.get("errorType"), response.get("errorMessage")
        if kind is not None or message is not None:
            return _text(f"{kind or 'Error'}: {message or ''}", _scripts.REASON_LIMIT)
    return ""


def parse_result(detail_type: str, detail: object) -> LambdaResult | None:
    """The invocation record's fields, or None (logged) when it is not one of ours in shape: no correlation id of
    our form, no request id, no function ARN."""
    record = detail if isinstance(detail, dict) else {}
    request = record.get("requestPayload")
    context = record.get("requestContext")
    ours = request.get(LAMBDA_CONTEXT_KEY) if isinstance(request, dict) else None
    correlation = ours.get("correlationId") if isinstance(ours, dict) else None
    request_id = context.get("requestId") if isinstance(context, dict) else None
    function_arn = context.get("functionArn") if isinstance(context, dict) else None
    if not (
        isinstance(correlation, str)
        and _CORRELATION.fullmatch(correlation)
        and isinstance(request_id, str)
        and _REQUEST_ID.fullmatch(request_id)
        and isinstance(function_arn, str)
        and _FUNCTION_ARN.fullmatch(function_arn)
    ):
        logger.warning("Lambda invocation record without our correlation id, a request id or a function ignored")
        return None
    context = cast("dict[str, Any]", context)  # a dict: its requestId was read above
    response = record.get("responsePayload")
    succeeded = detail_type == LAMBDA_RESULT_SUCCESS
    timestamp = record.get("timestamp")
    return LambdaResult(
        correlation_id=correlation,
        request_id=request_id,
        function_arn=function_arn,
        succeeded=succeeded,
        condition=_text(context.get("condition") or "", 40),
        response=_text(response, _scripts.OUTPUT_EXCERPT) if response is not None else "",
        error="" if succeeded else (_error(response) or "the function failed"),
        timestamp=timestamp if isinstance(timestamp, str) and len(timestamp) <= 40 else None,
    )


def _same_function(claimed_arn: str, script: Script) -> bool:
    """The record's function (`functionArn`, qualified by the version that ran) is the step's: its unqualified
    ARN when the step names an ARN, else its name."""
    unqualified = ":".join(claimed_arn.split(":")[:7])
    if script.function.startswith("arn:"):
        return unqualified == script.function
    return unqualified.rsplit(":", 1)[-1] == script.function


def on_result(rt: Runtime, detail_type: str, detail: object, event_id: str) -> None:
    """A Lambda invocation record (see the module's docstring): conclude the running try it belongs to, or log it
    (late, or not ours: nothing changes)."""
    result = parse_result(detail_type, detail)
    if result is None:
        return
    entry = rt.ledger.command_index(result.correlation_id)
    run = rt.ledger.get_script(entry.script) if entry is not None else None
    execution = rt.ledger.execution(entry.script.execution_id) if entry is not None else None
    if entry is None or run is None or execution is None:
        logger.warning("Lambda invocation record of no step of ours ignored", request_id=result.request_id)
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return
    reads = _scripts._Reads(wave_runtime(rt, execution, run.wave_id), execution)
    if run.status is _S.SENDING and run.try_number == entry.try_number:
        _early(reads, run, result, event_id)  # it outran our record of its send (a function of milliseconds)
        return
    current = run.command_ids[:1] == (result.correlation_id,)
    if run.status is not _S.RUNNING or run.try_number != entry.try_number or not current:
        _late(rt, run, result, entry.try_number)  # its try ended, or a send of it was superseded (a crash)
        return
    _check_and_conclude(reads, run, result, event_id)


def _check_and_conclude(reads: _scripts._Reads, run: ScriptRun, result: LambdaResult, key: str) -> None:
    """Conclude the running try with `result` when its request id and function are the try's (else refused)."""
    script = _scripts._plan_step(reads.execution, run.id).script
    if not script.is_lambda or _request_id(run) != result.request_id or not _same_function(result.function_arn, script):
        logger.error(
            "Lambda invocation record refused: its request id or function is not the step's",
            wave_id=run.wave_id,
            index=run.index,
            request_id=result.request_id,
        )
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return
    _conclude(reads, run, result, key)


def _early(reads: _scripts._Reads, run: ScriptRun, result: LambdaResult, event_id: str) -> None:
    """A record of a try still SENDING: kept on the script item (`lateResults`, marked early), then the try is read
    again: if its send has been recorded meanwhile, the record concludes it now; otherwise the send, which reads
    the item after recording itself, finds it there (`_adopt_early`). One of the two sees the other's write."""
    rt = reads.rt
    rt.ledger.record_late_result(run.id, _invocation(run, result, **_kept(result), tryNumber=run.try_number))
    now = rt.ledger.get_script(run.id)
    if now is not None and now.status is _S.RUNNING and now.try_number == run.try_number:
        _check_and_conclude(reads, now, result, event_id)


def _kept(result: LambdaResult) -> dict[str, Any]:
    """What a kept early record adds to its result row, to be concluded from later (`_adopt_early`)."""
    return {"early": True, "correlationId": result.correlation_id, "error": result.error, "at": result.timestamp}


def _adopt_early(reads: _scripts._Reads, script_id: ScriptId, try_number: int, key: str) -> None:
    """After the send of try `try_number` is recorded: a record that came before (kept by `_early`) concludes it."""
    now = reads.rt.ledger.get_script(script_id)
    if now is None or now.status is not _S.RUNNING or now.try_number != try_number:
        return
    correlation = (now.command_ids or ("",))[0]
    for row in now.extra.get("lateResults") or []:
        if _early_row_of(row, try_number, correlation):
            _check_and_conclude(reads, now, _from_row(row), key)
            return


def _early_row_of(row: object, try_number: int, correlation: str) -> bool:
    """Is `row` (one of a script item's `lateResults`) a record of try `try_number` kept before its send was?"""
    return (
        isinstance(row, dict)
        and bool(row.get("early"))
        and row.get("tryNumber") == try_number
        and row.get("correlationId") == correlation
    )


def _from_row(row: dict[str, Any]) -> LambdaResult:
    """The LambdaResult an early record was kept as (`_early`)."""
    return LambdaResult(
        correlation_id=str(row.get("correlationId")),
        request_id=str(row.get("instanceId")),
        function_arn=str(row.get("functionArn")),
        succeeded=row.get("status") == "Success",
        condition=str(row.get("condition") or ""),
        response=str(row.get("output") or ""),
        error=str(row.get("error") or ""),
        timestamp=row.get("at") if isinstance(row.get("at"), str) else None,
    )


def _invocation(run: ScriptRun, result: LambdaResult, **extra: Any) -> InvocationResult:
    """The record as the step's result row: the request id, the outcome, the response, how long after the send."""
    duration = None
    if result.timestamp and run.sent_at:
        try:
            duration = max(0.0, (parse_iso(result.timestamp) - parse_iso(run.sent_at)).total_seconds())
        except ValueError:
            duration = None
    return InvocationResult(
        instance_id=result.request_id,
        status="Success" if result.succeeded else "Failed",
        output=result.response or None,
        duration_seconds=duration,
        extra={"functionArn": result.function_arn, "condition": result.condition, **extra},
    )


def _conclude(reads: _scripts._Reads, run: ScriptRun, result: LambdaResult, event_id: str) -> None:
    invocation = _invocation(run, result)
    status = invocation.status
    reason = None if result.succeeded else f"the function failed ({result.condition}): {result.error}"
    verdict = _S.SUCCESS if result.succeeded else _S.FAILED
    logger.info("LAMBDA step result", wave_id=run.wave_id, index=run.index, request_id=result.request_id, status=status)
    ended = _scripts._Ended(run.try_number, verdict, [invocation], reason, _scripts._RUNNING)
    _scripts._conclude(reads, run, ended, key=event_id)


def _late(rt: Runtime, run: ScriptRun, result: LambdaResult, try_number: int) -> None:
    """A result after its try ended: kept on the script item (`lateResults`, with its try), logged (request id,
    outcome, response) and counted; nothing else changes."""
    if not rt.ledger.record_late_result(run.id, _invocation(run, result, tryNumber=try_number)):
        return  # kept already (a redelivery), or the item holds as many as it keeps
    metrics.add_metric(name="LambdaResultsLate", unit="Count", value=1)
    logger.warning(
        "Lambda result after its try ended: recorded, changes nothing",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        step_status=run.status,
        request_id=result.request_id,
        outcome="Success" if result.succeeded else "Failure",
        response=result.response[:300],
    )
