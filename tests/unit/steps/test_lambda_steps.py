"""LAMBDA steps at run time (orchestrator/steps/lambda_steps.py) against fakes: one asynchronous Invoke per try
whatever the deliveries, the result taken from Lambda's invocation record only when it is the running try's, the
timeout tick ending a try that never answered, and the deploy's allowed functions checked again at run time."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from events.models import LAMBDA_RESULT_FAILURE, LAMBDA_RESULT_SUCCESS, PreLaunchDone, PreLaunchTick, WaveReady
from events.samples import load_sample
from orchestrator.adapters.lambda_invoke import LambdaError
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.records.scripts import ScriptId, ScriptRun, ScriptStatus
from orchestrator.steps import lambda_steps
from orchestrator.steps.lambda_steps import LambdaResult, on_result, parse_result
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.scripts import on_tick
from tests.fakes import FakeLambda
from tests.unit.steps.world import S1, World, plan, wave

ARN = "arn:aws:lambda:us-east-1:123456789012:function:dns-cutover"
STEP = ScriptId(execution_id="e1", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)


@pytest.fixture
def lambdas(world: World) -> FakeLambda:
    fake = FakeLambda()
    world.rt.lambdas = fake
    world.configure(allowed_lambda_functions=ARN)
    return fake


def _start(world: World, execution_id: str = "e1", **step: Any) -> None:
    """Wave `db` whose one pre-launch step invokes dns-cutover (then `after`), started; bus emptied."""
    lambda_step = {"type": "LAMBDA", "functionName": "dns-cutover", "timeoutSeconds": 120, **step}
    world.start(plan(wave("db", S1, preLaunch=[lambda_step])), execution_id=execution_id)


def _ready(world: World, key: str = "wr-1", execution_id: str = "e1") -> None:
    on_wave_ready(world.rt, WaveReady(execution_id=execution_id, plan_id="p", wave_id="db"), key)


def _run(world: World, step: ScriptId = STEP) -> ScriptRun:
    run = world.ledger.get_script(step)
    assert run is not None
    return run


def _record(
    payload: dict[str, Any], request_id: str = "req-1", *, failed: bool = False, arn: str = ARN
) -> tuple[str, dict[str, Any]]:
    """The invocation record Lambda puts on the bus for an invocation with `payload`."""
    detail = {
        "version": "1.0",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{arn}:$LATEST",
            "condition": "RetriesExhausted" if failed else "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"errorType": "RuntimeError", "errorMessage": "zone not found"}
        if failed
        else {"changed": "app.example.com", "note": "\u202ered"},
    }
    return (LAMBDA_RESULT_FAILURE if failed else LAMBDA_RESULT_SUCCESS), detail


def _timeout_tick(world: World) -> PreLaunchTick:
    [tick] = [t for _, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick)]
    return tick


def test_duplicated_deliveries_invoke_once_with_the_run_context_and_the_payload(
    world: World, lambdas: FakeLambda
) -> None:
    # GIVEN a wave whose pre-launch step invokes dns-cutover (by name) with a payload
    _start(world, payload={"record": "app.example.com"})
    started = world.clock.now()

    # WHEN its WaveReady is delivered twice, and again later
    _ready(world)
    _ready(world)
    world.advance(30)
    _ready(world, "wr-2")

    # THEN the allowed ARN was invoked once, with the payload and the run context under drsOrchestrator
    [(arn, payload)] = lambdas.invoked
    context = payload["drsOrchestrator"]
    assert arn == ARN
    assert payload["record"] == "app.example.com"
    assert context["correlationId"].startswith("drsorch-")
    assert len(context["correlationId"]) == len("drsorch-") + 32
    assert {k: v for k, v in context.items() if k != "correlationId"} == {
        "executionId": "e1",
        "planId": "p",
        "waveId": "db",
        "waveAttempt": 1,
        "phase": "PRE_LAUNCH",
        "stepIndex": 0,
        "try": 1,
        "mode": "DRILL",
        "recoveryInstances": {},
    }
    # AND the step runs with the correlation id and the request id, and one timeout tick at its deadline
    run = _run(world)
    assert (run.status, run.document_name, run.command_ids, run.expected) == (
        ScriptStatus.RUNNING,
        "LAMBDA dns-cutover",
        (context["correlationId"], "req-1"),
        1,
    )
    assert parse_iso(str(run.deadline)) == started + timedelta(seconds=120)
    assert _timeout_tick(world).purpose == "timeout"
    assert world.ssm.sent == []


def test_a_success_record_ends_the_step_success_with_its_request_id_and_inert_response(
    world: World, lambdas: FakeLambda
) -> None:
    # GIVEN a running LAMBDA step
    _start(world)
    _ready(world)
    [(_, payload)] = lambdas.invoked
    world.bus.published.clear()

    # WHEN its success record arrives, twice
    detail_type, detail = _record(payload)
    on_result(world.rt, detail_type, detail, "ev-1")
    on_result(world.rt, detail_type, detail, "ev-1")

    # THEN the step succeeded once, its result the request id and the response, made inert
    run = _run(world)
    [result] = world.ledger.list_scripts("e1", "db", 1)[0].instances or ()
    assert run.status is ScriptStatus.SUCCESS
    assert (result.instance_id, result.status) == ("req-1", "Success")
    assert result.output == '{"changed": "app.example.com", "note": "\ufffdred"}'
    assert result.extra == {"functionArn": f"{ARN}:$LATEST", "condition": "Success"}
    [done] = world.published(PreLaunchDone)
    assert [(s.document_name, s.status) for s in done.scripts] == [("LAMBDA dns-cutover", "Success")]
    assert world.scheduler.schedules == {}  # the timeout tick was cancelled


def test_a_failure_record_of_a_warn_step_warns_and_the_phase_goes_on(world: World, lambdas: FakeLambda) -> None:
    # GIVEN a running LAMBDA step with onFailure WARN
    _start(world, onFailure="WARN")
    _ready(world)
    [(_, payload)] = lambdas.invoked

    # WHEN its failure record arrives
    on_result(world.rt, *_record(payload, failed=True), "ev-1")

    # THEN the step failed with the function's error, a warning, and the phase is done
    run = _run(world)
    reason = "the function failed (RetriesExhausted): RuntimeError: zone not found"
    assert (run.status, run.reason) == (ScriptStatus.FAILED, reason)
    [done] = world.published(PreLaunchDone)
    assert done.warnings == [f"db: pre-launch script #1 LAMBDA dns-cutover Failed ({reason}) (onFailure WARN)"]
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"  # PreLaunchDone moves it on


def test_a_failure_record_of_a_fail_step_fails_the_wave(world: World, lambdas: FakeLambda) -> None:
    # GIVEN a running LAMBDA step with onFailure FAIL (the default)
    _start(world)
    _ready(world)
    [(_, payload)] = lambdas.invoked

    # WHEN its failure record arrives
    on_result(world.rt, *_record(payload, failed=True), "ev-1")

    # THEN the wave failed before launch with the function's error
    assert world.wave_status("e1", "db") == "FAILED"
    assert world.published(PreLaunchDone) == []
    [failed] = [e for e in world.bus.published if type(e).__name__ == "WaveFailed"]
    assert failed.reason == (
        "pre-launch script #1 LAMBDA dns-cutover Failed: the function failed (RetriesExhausted): RuntimeError: "
        "zone not found"
    )


def test_a_step_whose_function_never_answers_times_out_and_a_late_record_changes_nothing(
    world: World, lambdas: FakeLambda
) -> None:
    # GIVEN a running LAMBDA step with onFailure WARN
    _start(world, onFailure="WARN")
    _ready(world)
    [(_, payload)] = lambdas.invoked
    tick = _timeout_tick(world)

    # WHEN its timeout tick comes at the deadline, then the function's record
    world.advance(121)
    on_tick(world.rt, tick, "tick-1")
    ended = _run(world)
    on_result(world.rt, *_record(payload), "ev-late")

    # THEN the step timed out (its request id kept), and the late record changed nothing
    assert (ended.status, ended.reason) == (
        ScriptStatus.TIMED_OUT,
        "no result within 120 s (an asynchronous invocation cannot be stopped: a result arriving later is recorded "
        "and changes nothing)",
    )
    late = _run(world)
    assert replace(late, extra={}) == replace(ended, extra={})  # nothing of the step changed
    assert late.extra["lateResults"] == [
        {
            "instanceId": "req-1",
            "status": "Success",
            "output": '{"changed": "app.example.com", "note": "\ufffdred"}',
            "durationSeconds": 0,
            "functionArn": f"{ARN}:$LATEST",
            "condition": "Success",
            "tryNumber": 1,
        }
    ]
    [result] = world.ledger.list_scripts("e1", "db", 1)[0].instances or ()
    assert (result.instance_id, result.status) == ("req-1", "TimedOut")
    assert [s.status for s in world.published(PreLaunchDone)[0].scripts] == ["TimedOut"]


def test_an_early_timeout_tick_concludes_nothing(world: World, lambdas: FakeLambda) -> None:
    # GIVEN a running 120 s LAMBDA step, 60 s in WHEN a timeout tick arrives
    _start(world)
    _ready(world)
    world.advance(60)
    on_tick(world.rt, _timeout_tick(world), "forged")

    # THEN it still runs
    assert _run(world).status is ScriptStatus.RUNNING


def test_forged_records_change_nothing(world: World, lambdas: FakeLambda) -> None:
    # GIVEN two executions, each with a running LAMBDA step
    _start(world)
    _ready(world)
    _start(world, execution_id="e2")
    _ready(world, "wr-e2", execution_id="e2")
    (_, mine), (_, theirs) = lambdas.invoked
    other = ScriptId(execution_id="e2", wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)

    # WHEN records arrive that name e2 but carry an unknown correlation id, e1's correlation id with another request
    # id, e1's with another function, and one of no shape of ours
    forged_ids = {**theirs, "drsOrchestrator": {**theirs["drsOrchestrator"], "correlationId": "drsorch-" + "0" * 32}}
    on_result(world.rt, *_record(forged_ids, "req-2"), "f-1")
    on_result(world.rt, *_record(mine, "req-2"), "f-2")
    on_result(world.rt, *_record(mine, arn=ARN.replace("dns-cutover", "other")), "f-3")
    on_result(world.rt, LAMBDA_RESULT_SUCCESS, {"requestPayload": {"executionId": "e2"}}, "f-4")

    # THEN both steps still run
    assert _run(world).status is ScriptStatus.RUNNING
    assert _run(world, other).status is ScriptStatus.RUNNING
    # AND e2's own record concludes e2's step only
    on_result(world.rt, *_record(theirs, "req-2"), "ev-e2")
    assert (_run(world).status, _run(world, other).status) == (ScriptStatus.RUNNING, ScriptStatus.SUCCESS)


def test_a_function_no_longer_allowed_is_not_invoked_and_fails_the_step(world: World, lambdas: FakeLambda) -> None:
    # GIVEN a plan started while dns-cutover was allowed, and a redeploy that allows another function only
    _start(world)
    world.configure(allowed_lambda_functions=ARN.replace("dns-cutover", "other"))

    # WHEN its wave becomes ready
    _ready(world)

    # THEN nothing was invoked and the step failed with the reason, failing the wave (onFailure FAIL)
    assert lambdas.invoked == []
    run = _run(world)
    assert run.status is ScriptStatus.FAILED
    assert str(run.reason).startswith("Lambda function 'dns-cutover' is not in the deploy's allowed Lambda functions")
    assert str(run.reason).endswith(": not invoked")
    assert world.wave_status("e1", "db") == "FAILED"


def test_a_throttled_invoke_waits_for_a_resend_tick_that_invokes_once(world: World, lambdas: FakeLambda) -> None:
    # GIVEN Lambda throttles the first Invoke
    lambdas.fail("invoke_async", LambdaError("TooManyRequestsException: Rate exceeded", "x", retryable=True))
    _start(world)

    # WHEN the wave becomes ready, then its resend tick comes (twice)
    _ready(world)
    assert (lambdas.invoked, _run(world).status) == ([], ScriptStatus.SENDING)
    [resend] = [t for _, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick)]
    world.advance(15)
    on_tick(world.rt, resend, "resend-1")
    on_tick(world.rt, resend, "resend-1")

    # THEN the function was invoked once and the step runs
    assert len(lambdas.invoked) == 1
    assert _run(world).status is ScriptStatus.RUNNING


def test_a_refused_invoke_fails_the_try_with_lambdas_words(world: World, lambdas: FakeLambda) -> None:
    # GIVEN the function does not exist (Lambda refuses the Invoke) and the step has a retry
    lambdas.fail(
        "invoke_async", LambdaError("ResourceNotFoundException: Function not found", "ResourceNotFoundException")
    )
    _start(world, retries=1, onFailure="WARN")

    # WHEN the wave becomes ready
    _ready(world)

    # THEN the try failed with Lambda's words and waits for its retry
    run = _run(world)
    assert run.status is ScriptStatus.RETRY_WAIT
    assert run.last_result is not None
    assert run.last_result.reason == "Lambda refused the invocation: ResourceNotFoundException: Function not found"


def test_a_failed_try_is_retried_with_a_fresh_correlation_id_and_the_old_tries_record_changes_nothing(
    world: World, lambdas: FakeLambda
) -> None:
    # GIVEN a LAMBDA step with one retry whose first try failed
    _start(world, retries=1)
    _ready(world)
    [(_, first)] = lambdas.invoked
    on_result(world.rt, *_record(first, failed=True), "ev-1")
    assert _run(world).status is ScriptStatus.RETRY_WAIT

    # WHEN its retry tick comes (twice), then the first try's record again, then the second try's success
    [retry] = [t for _, t in world.scheduler.schedules.values() if isinstance(t, PreLaunchTick)]
    world.advance(10)
    on_tick(world.rt, retry, "retry-1")
    on_tick(world.rt, retry, "retry-1")
    [_, (_, second)] = lambdas.invoked
    on_result(world.rt, *_record(first, failed=True), "ev-old")
    still = _run(world)
    on_result(world.rt, *_record(second, "req-2"), "ev-2")

    # THEN the second try was invoked once, as try 2 with another correlation id, and it alone ended the step
    assert second["drsOrchestrator"]["try"] == 2
    assert second["drsOrchestrator"]["correlationId"] != first["drsOrchestrator"]["correlationId"]
    assert (still.status, still.try_number) == (ScriptStatus.RUNNING, 2)
    run = _run(world)
    assert (run.status, run.try_number) == (ScriptStatus.SUCCESS, 2)
    assert [(t.try_number, t.status, t.command_ids) for t in run.history] == [
        (1, ScriptStatus.FAILED, (first["drsOrchestrator"]["correlationId"], "req-1"))
    ]
    [done] = world.published(PreLaunchDone)
    assert [(s.status, s.attempts) for s in done.scripts] == [("Success", 2)]


def test_the_sample_records_parse_to_their_request_function_outcome_and_response() -> None:
    # GIVEN the sample records Lambda's destinations put on the bus (events/samples)
    success, failure = load_sample(LAMBDA_RESULT_SUCCESS), load_sample(LAMBDA_RESULT_FAILURE)

    # WHEN they are parsed
    ok = parse_result(success["detail-type"], success["detail"])
    failed = parse_result(failure["detail-type"], failure["detail"])

    # THEN each gives its correlation id, request id, function, outcome and response (or error)
    assert ok == LambdaResult(
        correlation_id="drsorch-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        request_id="c2a6f2ae-7dbb-4d22-8782-d0485c9877e2",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:dns-cutover:$LATEST",
        succeeded=True,
        condition="Success",
        response='{"to": ["10.20.0.31"], "updated": "app.example.com"}',
        error="",
        timestamp="2026-03-14T09:43:09.812Z",
    )
    assert failed is not None
    assert (failed.succeeded, failed.condition, failed.error) == (
        False,
        "RetriesExhausted",
        "RuntimeError: hosted zone Z0123456789 not found",
    )


class _FastFunction(FakeLambda):
    """A function whose record reaches the handler before the Invoke has even returned."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def invoke_async(self, function_arn: str, payload: dict[str, Any]) -> str:
        request_id = super().invoke_async(function_arn, payload)
        assert _run(self.world).status is ScriptStatus.SENDING
        on_result(self.world.rt, *_record(payload, request_id), "ev-fast")
        return request_id


def test_a_record_that_outruns_the_record_of_its_send_concludes_the_step_once_the_send_is_recorded(
    world: World,
) -> None:
    # GIVEN a function that ends before its Invoke returns (its record is handled while the try is SENDING)
    fast = _FastFunction(world)
    world.rt.lambdas = fast
    world.configure(allowed_lambda_functions=ARN)
    _start(world, onFailure="WARN")

    # WHEN the wave becomes ready
    _ready(world)

    # THEN the record was kept, and the send, once recorded, concluded the step with it: Success, no timeout left
    run = _run(world)
    assert (run.status, run.command_ids[1]) == (ScriptStatus.SUCCESS, "req-1")
    [result] = world.ledger.list_scripts("e1", "db", 1)[0].instances or ()
    assert (result.instance_id, result.status) == ("req-1", "Success")
    assert [s.status for s in world.published(PreLaunchDone)[0].scripts] == ["Success"]
    assert world.scheduler.schedules == {}
    # AND its redelivery changes nothing
    [(_, payload)] = fast.invoked
    on_result(world.rt, *_record(payload), "ev-fast-2")
    assert _run(world).status is ScriptStatus.SUCCESS
    assert len(world.published(PreLaunchDone)) == 1


def test_a_payload_too_big_for_its_result_record_is_not_sent(
    world: World, lambdas: FakeLambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a step whose payload and run context are over what a LAMBDA step sends (lowered here to 200 bytes)
    monkeypatch.setattr(lambda_steps, "MAX_INVOKE_PAYLOAD_BYTES", 200)
    _start(world, onFailure="WARN", retries=2, payload={"zone": "Z" * 100})

    # WHEN the wave becomes ready
    _ready(world)

    # THEN nothing was invoked, and the step failed at once (no retry) naming the size and the limit
    assert lambdas.invoked == []
    run = _run(world)
    assert (run.status, run.try_number) == (ScriptStatus.FAILED, 1)
    assert str(run.reason).startswith("its payload and run context (0 recovery instance(s)) are ")
    assert str(run.reason).endswith(
        " bytes as JSON, over the 200 a LAMBDA step sends (its result record must fit an EventBridge event, 256 KB): "
        "not invoked"
    )
