"""End to end on the local cloud: LAMBDA steps invoke a function of the simulation profile asynchronously; its result
comes back as Lambda's destination record on the orchestrator's bus, through the real rule, to the real handler."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import LAMBDA_RESULT_FAILURE, LAMBDA_SOURCE
from localcloud.lambda_sim import profile_function_arn
from localcloud.runner import start, wait
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.scripts import ScriptId, ScriptStatus
from orchestrator.reporting.html import render_html
from orchestrator.reporting.timeline import render_svg
from tests.e2e.helpers import assert_choreography_invariants, count_metrics, events_of, sid, wave

DB = sid("lam", 1)


def _functions(**outcome: Any) -> dict[str, Any]:
    """The profile's one function, dns-cutover (20 simulated seconds, success, an output) with `outcome` over it."""
    return {"lambda.functions": [{"name": "dns-cutover", "durationSeconds": 20, "output": {"updated": 1}, **outcome}]}


def _plan(**step: Any) -> Any:
    lambda_step = {"type": "LAMBDA", "functionName": "dns-cutover", "timeoutSeconds": 120, **step}
    return parse_plan({"planId": "lam", "waves": [wave("db", [DB], postLaunch=[lambda_step])]})


def _script(report: dict[str, Any]) -> dict[str, Any]:
    [db] = report["waves"]
    [script] = db["scripts"]
    return dict(script)


def test_a_lambda_step_that_succeeds_gets_the_recovered_instances_and_completes_the_plan(local_cloud) -> None:
    # GIVEN a function that succeeds after 20 s, invoked after the wave's launch with a payload
    cloud = local_cloud(**_functions())

    # WHEN the plan runs
    execution_id = start(cloud, _plan(payload={"record": "app.example.com"}))
    result = wait(cloud, execution_id, timeout=120)

    # THEN it completed, the function invoked once with the payload and the wave's recovery instance
    assert result.status == "COMPLETED", result.problem
    [(name, payload)] = cloud.lambda_sim.invocations
    context = payload["drsOrchestrator"]
    assert (name, payload["record"], context["executionId"], context["mode"]) == (
        "dns-cutover",
        "app.example.com",
        execution_id,
        "DRILL",
    )
    [(source_server, instance)] = context["recoveryInstances"].items()
    assert source_server == DB
    assert instance["instanceId"].startswith("i-")
    # AND the report shows the step's request id, outcome and response
    assert result.report is not None
    script = _script(result.report)
    assert (script["documentName"], script["status"]) == ("LAMBDA dns-cutover", "Success")
    [invocation] = script["instances"]
    assert (invocation["status"], invocation["output"], invocation["functionArn"]) == (
        "Success",
        '{"updated": 1}',
        profile_function_arn("dns-cutover") + ":$LATEST",
    )
    assert invocation["durationSeconds"] == pytest.approx(20, abs=0.05)  # from the send recorded just after the Invoke
    # AND the evidence page and the timeline name the invocation by its request id
    request_id = invocation["instanceId"]
    assert (
        request_id
        == cloud.runtime.ledger.get_script(  # type: ignore[union-attr]
            ScriptId(execution_id=execution_id, wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)
        ).command_ids[1]
    )
    assert f'<span class="mono">request {request_id}</span>' in render_html(result.report)
    assert f"LAMBDA dns-cutover: Success (request {request_id})" in render_svg(result.report)
    assert_choreography_invariants(cloud, execution_id)


def test_a_failing_warn_step_warns_and_the_plan_completes(local_cloud) -> None:
    # GIVEN a function that fails, in a WARN step
    cloud = local_cloud(**_functions(outcome="failure", errorMessage="zone not found"))

    # WHEN the plan runs
    execution_id = start(cloud, _plan(onFailure="WARN"))
    result = wait(cloud, execution_id, timeout=120)

    # THEN the plan completed with the step Failed and its warning
    assert result.status == "COMPLETED", result.problem
    assert result.report is not None
    script = _script(result.report)
    reason = "the function failed (RetriesExhausted): Error: zone not found"
    assert (script["status"], script["reason"]) == ("Failed", reason)
    [done] = events_of(cloud, "PostLaunchDone", execution_id)
    assert done.detail["warnings"] == [
        f"db: post-launch script #1 LAMBDA dns-cutover Failed ({reason}) (onFailure WARN)"
    ]


def test_a_failing_fail_step_fails_its_wave_and_the_plan(local_cloud) -> None:
    # GIVEN a function that fails, in a FAIL step
    cloud = local_cloud(**_functions(outcome="failure", errorMessage="zone not found"))

    # WHEN the plan runs
    execution_id = start(cloud, _plan(onFailure="FAIL"))
    result = wait(cloud, execution_id, timeout=120)

    # THEN the wave and the plan failed, with the function's error as the reason
    assert result.status == "FAILED", result.problem
    [failed] = events_of(cloud, "WaveFailed", execution_id)
    assert failed.detail["reason"] == (
        "post-launch script #1 LAMBDA dns-cutover Failed: the function failed (RetriesExhausted): Error: zone not found"
    )
    assert_choreography_invariants(cloud, execution_id)


def test_a_function_that_never_returns_times_out_at_its_timeout(local_cloud) -> None:
    # GIVEN a function that never returns, in a step with a 120 s timeout
    cloud = local_cloud(**_functions(outcome="never-returns"))

    # WHEN the plan runs
    execution_id = start(cloud, _plan())
    result = wait(cloud, execution_id, timeout=120)

    # THEN the step timed out 120 s after its invocation (whole seconds, never early), failing the plan
    assert result.status == "FAILED", result.problem
    assert result.report is not None
    script = _script(result.report)
    assert script["status"] == "TimedOut"
    [invocation] = script["instances"]
    assert invocation["status"] == "TimedOut"
    assert cloud.runtime is not None
    run = cloud.runtime.ledger.get_script(
        ScriptId(execution_id=execution_id, wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)
    )
    assert run is not None
    assert run.sent_at is not None
    assert run.ended_at is not None
    waited = (parse_iso(run.ended_at) - parse_iso(run.sent_at)).total_seconds()
    assert 120 <= waited <= 122


@pytest.mark.parametrize("faults", [{"faults.duplicateDelivery": 1.0}])
def test_duplicated_deliveries_invoke_the_function_once(local_cloud, faults: dict[str, Any]) -> None:
    # GIVEN every event delivered twice (the function's result record too)
    cloud = local_cloud(**_functions())

    # WHEN the plan runs
    execution_id = start(cloud, _plan())
    result = wait(cloud, execution_id, timeout=120)

    # THEN it completed with the function invoked once
    assert result.status == "COMPLETED", result.problem
    assert [name for name, _ in cloud.lambda_sim.invocations] == ["dns-cutover"]
    assert cloud.stats.duplicated > 0
    assert_choreography_invariants(cloud, execution_id)


def test_a_forged_result_for_the_running_execution_changes_nothing(local_cloud, monkeypatch) -> None:
    # GIVEN a function that answers after 100 s, invoked and still running
    cloud = local_cloud(**_functions(durationSeconds=100))
    execution_id = start(cloud, _plan())
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    step = ScriptId(execution_id=execution_id, wave_id="db", wave_attempt=1, phase="POST_LAUNCH", index=0)

    def invoked() -> bool:
        run = ledger.get_script(step)
        return run is not None and run.status is ScriptStatus.RUNNING

    cloud.run_until(invoked, timeout=60)
    [(_, real)] = cloud.lambda_sim.invocations
    counted = count_metrics(monkeypatch)

    # WHEN someone puts a failure record on the bus naming the execution, its wave and step, with a correlation id
    # of our form that is not the step's
    forged_payload = {"drsOrchestrator": {**real["drsOrchestrator"], "correlationId": "drsorch-" + "f" * 32}}
    cloud.publish(
        LAMBDA_RESULT_FAILURE,
        {
            "version": "1.0",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "requestContext": {
                "requestId": "11111111-2222-3333-4444-555555555555",
                "functionArn": profile_function_arn("dns-cutover") + ":$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": forged_payload,
            "responsePayload": {"errorType": "Error", "errorMessage": "forged"},
        },
        source=LAMBDA_SOURCE,
    )
    cloud.drain()

    # THEN the step still runs, the forgery counted as invalid
    run = ledger.get_script(step)
    assert run is not None
    assert run.status is ScriptStatus.RUNNING
    assert counted["InvalidEvents"] == 1
    # AND the function's own result completes the plan
    result = wait(cloud, execution_id, timeout=120)
    assert result.status == "COMPLETED", result.problem
    assert result.report is not None
    assert _script(result.report)["status"] == "Success"


def test_a_function_the_profile_does_not_define_fails_like_aws(local_cloud) -> None:
    # GIVEN the local cloud's Lambda WHEN a function the profile does not define is invoked
    cloud = local_cloud(**_functions())
    client = cloud.session.client("lambda")

    # THEN Lambda answers ResourceNotFoundException, as on AWS
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="unknown-function", InvocationType="Event", Payload=b"{}")
    assert cloud.lambda_sim.invocations == []
