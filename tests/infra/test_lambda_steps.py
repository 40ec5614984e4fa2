"""The stack's side of LAMBDA steps (infra/constructs/lambda_steps.py, permissions.py, definitions.py) and of the
approval requests on the alert topic (infra/constructs/alerting.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from events.models import LAMBDA_RESULT_FAILURE, LAMBDA_RESULT_SUCCESS, LAMBDA_SOURCE, SOURCE
from events.samples import load_sample
from infra.definitions import ENV_ALLOWED_LAMBDA_FUNCTIONS, REPLAY_EXCLUSION, ROUTES, approval_message
from infra.stack import StackConfig
from tests.infra.conftest import LAMBDA_FUNCTIONS, Synth


def _statements(synth: Synth, function: str) -> list[dict[str, Any]]:
    role = synth.logical_id(synth.stack.functions.roles[function])
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_each_allowed_function_sends_its_results_to_the_bus_and_lambda_does_not_retry(synth: Synth) -> None:
    # GIVEN the stack synthesized with two allowed functions
    bus = {"Fn::GetAtt": [synth.logical_id(synth.stack.bus.bus), "Arn"]}

    # WHEN its asynchronous-invocation configurations are read
    ours = {synth.stack.resolve(config.logical_id) for config in synth.stack.lambda_steps.configs}
    configs = [c["Properties"] for key, c in synth.of_type("AWS::Lambda::EventInvokeConfig").items() if key in ours]

    # THEN each allowed function has one, on $LATEST, both destinations the bus, no retry by Lambda, 6 hours
    assert sorted(c["FunctionName"] for c in configs) == sorted(LAMBDA_FUNCTIONS)
    for config in configs:
        assert config["Qualifier"] == "$LATEST"
        assert config["MaximumRetryAttempts"] == 0
        assert config["MaximumEventAgeInSeconds"] == 21600
        assert config["DestinationConfig"] == {"OnSuccess": {"Destination": bus}, "OnFailure": {"Destination": bus}}


def test_invoke_is_granted_on_the_allowed_functions_to_the_script_functions_only(synth: Synth) -> None:
    # GIVEN every function's role policy statements
    granted = {
        name: [s for s in _statements(synth, name) if "lambda:InvokeFunction" in json.dumps(s.get("Action"))]
        for name in synth.stack.functions.roles
    }

    # THEN the two script functions may invoke exactly the allowed functions, and no other function may invoke any
    assert {name for name, found in granted.items() if found} == {"pre_launch", "post_launch"}
    for name in ("pre_launch", "post_launch"):
        [statement] = granted[name]
        assert statement["Action"] == "lambda:InvokeFunction"
        assert statement["Resource"] == list(LAMBDA_FUNCTIONS)


def test_the_allowed_functions_reach_the_functions_that_check_them(synth: Synth) -> None:
    # GIVEN every function's environment
    allowed = {
        name: synth.resources[synth.logical_id(function)]["Properties"]["Environment"]["Variables"].get(
            ENV_ALLOWED_LAMBDA_FUNCTIONS
        )
        for name, function in synth.stack.functions.functions.items()
    }

    # THEN StartPlan (which refuses a plan naming another function) and the script functions have the list
    assert {name: value for name, value in allowed.items() if value is not None} == dict.fromkeys(
        ("start_plan", "pre_launch", "post_launch"), ",".join(LAMBDA_FUNCTIONS)
    )


def _matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern features the rules use: value lists, prefix, exists, nesting."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(
            _matches_value(value, event.get(key), key in event)
            if isinstance(value, list)
            else _matches(value, event.get(key))
            for key, value in pattern.items()
        )
    return False


def _matches_value(options: list[Any], value: Any, present: bool) -> bool:
    for option in options:
        if isinstance(option, dict) and "exists" in option:
            if option["exists"] == present:
                return True
        elif isinstance(option, dict) and "prefix" in option:
            if isinstance(value, str) and value.startswith(option["prefix"]):
                return True
        elif option == value:
            return True
    return False


def _record(detail_type: str, correlation: str | None) -> dict[str, Any]:
    """The sample invocation record (events/samples) with this correlation id (None: no run context at all)."""
    event = load_sample(detail_type)
    assert event["source"] == LAMBDA_SOURCE
    payload = event["detail"]["requestPayload"]
    if correlation is None:
        del payload["drsOrchestrator"]
    else:
        payload["drsOrchestrator"]["correlationId"] = correlation
    return event


def test_the_result_rule_takes_only_the_records_of_our_invocations(synth: Synth) -> None:
    # GIVEN the rule of LAMBDA results, as synthesized
    [route] = [r for r in ROUTES if r.name == "lambda-result"]
    props = synth.resources[synth.logical_id(synth.stack.routes.rules[route.name])]["Properties"]
    pattern = props["EventPattern"]
    assert props["EventBusName"] == {"Ref": synth.logical_id(synth.stack.bus.bus)}

    # THEN it takes the success and failure records of an invocation of ours (the samples as they are), live only
    assert _matches(pattern, load_sample(LAMBDA_RESULT_SUCCESS))
    assert _matches(pattern, load_sample(LAMBDA_RESULT_FAILURE))
    assert not _matches(pattern, {**_record(LAMBDA_RESULT_SUCCESS, "drsorch-1"), "replay-name": "r"})
    # AND not the records of another invocation of the same function, nor another source's
    assert not _matches(pattern, _record(LAMBDA_RESULT_SUCCESS, None))
    assert not _matches(pattern, _record(LAMBDA_RESULT_SUCCESS, "theirs-1"))
    assert not _matches(pattern, {**_record(LAMBDA_RESULT_SUCCESS, "drsorch-1"), "source": SOURCE})


def _render(template: str, paths: dict[str, str], event: dict[str, Any]) -> Any:
    """What EventBridge's input transformer makes of `event`: a placeholder inside a JSON string gets the value's
    text, one in a value's place (`"key":<name>`) the value as JSON."""

    def value(match: re.Match[str]) -> str:
        node: Any = event
        for part in paths[match.group(2)].removeprefix("$.").split("."):
            node = node[part]
        return f":{json.dumps(node)}" if match.group(1) else str(node)

    return json.loads(re.sub(r"(:)?<([A-Za-z0-9_.-]+)>", value, template))


def test_an_approval_request_reaches_the_alert_topic_with_the_commands_that_answer_it(synth: Synth) -> None:
    # GIVEN the approval rule as synthesized
    props = synth.resources[synth.logical_id(synth.stack.alerting.approval_rule)]["Properties"]
    [topic] = synth.of_type("AWS::SNS::Topic")
    [target] = props["Targets"]

    # THEN it takes the live ApprovalRequested events of the orchestrator, to the alert topic
    assert props["EventPattern"] == {
        "source": [SOURCE],
        "detail-type": ["ApprovalRequested"],
        **REPLAY_EXCLUSION,
    }
    assert target["Arn"] == {"Ref": topic}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 50}
    # AND an ApprovalRequested becomes the chat notification naming the exact approve and deny commands
    transformer = target["InputTransformer"]
    template = synth.stack.resolve(transformer["InputTemplate"])
    text = "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in template["Fn::Join"][1])
    event = {
        "detail": {"executionId": "dr-2026-12-01", "waveId": "web", "planId": "shop", "deadline": "2026-12-01T10:00Z"}
    }
    rendered = _render(
        text.replace("<AWS::StackName>", "DrsOrchestrator").replace("<AWS::Region>", "eu-west-1"),
        transformer["InputPathsMap"],
        event,
    )
    assert rendered == approval_message(
        "dr-2026-12-01", "web", "shop", "2026-12-01T10:00Z", stack_name="DrsOrchestrator", region="eu-west-1"
    )
    assert rendered["content"]["description"] == (
        "Plan shop: wave web of execution dr-2026-12-01 waits for an approver until 2026-12-01T10:00Z.\n"
        "Approve: `drs-orch approve dr-2026-12-01 --wave web --aws --stack DrsOrchestrator --region eu-west-1`\n"
        'Deny: `drs-orch deny dr-2026-12-01 --wave web --reason "..." --aws --stack DrsOrchestrator --region eu-west-1`'
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dns-cutover", "malformed entry 'dns-cutover'"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:prod", "malformed entry 'arn:aws:lambda:us-east-1"),
        ("*", "malformed entry '\\*'"),
    ],
)
def test_an_allowed_function_that_is_not_an_unqualified_arn_fails_the_synth(value: str, message: str) -> None:
    # GIVEN / WHEN / THEN a name, a qualified ARN or a wildcard is refused, naming the setting and the entry
    with pytest.raises(ValueError, match=f"allowedLambdaFunctions: {message}"):
        StackConfig.from_context({"allowedLambdaFunctions": [value]}.get)
