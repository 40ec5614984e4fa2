"""LAMBDA steps in the plan model: what they take, how they are written back, and which functions a deploy allows
(orchestrator/domain/plan/lambda_functions.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.plan.lambda_functions import FunctionAllowList, disallowed_functions
from orchestrator.domain.plan.model import Plan, ScriptType, plan_to_document

ARN_A = "arn:aws:lambda:us-east-1:123456789012:function:fence"
ARN_B = "arn:aws:lambda:eu-west-1:123456789012:function:fence"
ARN_C = "arn:aws:lambda:us-east-1:123456789012:function:check"


def _plan(*steps: dict[str, Any], health: dict[str, Any] | None = None) -> Plan:
    wave: dict[str, Any] = {"waveId": "db", "servers": ["s-00000000000000001"], "postLaunch": list(steps)}
    if health is not None:
        wave["healthCheck"] = health
    return parse_plan({"planId": "p", "defaults": {"scriptTimeoutSeconds": 120}, "waves": [wave]})


def test_a_lambda_step_keeps_its_function_payload_and_the_ssm_step_defaults_it_takes() -> None:
    # GIVEN a LAMBDA step with a payload and onFailure WARN, under a plan whose scripts time out in 120 s
    plan = _plan(
        {"type": "LAMBDA", "functionName": "fence", "payload": {"dns": "app.example.com"}, "onFailure": "WARN"}
    )

    # WHEN it is loaded and written back
    [step] = plan.waves[0].post_launch
    written = plan_to_document(plan)["waves"][0]["postLaunch"]

    # THEN it keeps its own keys and inherits the plan's timeout, with no SSM key (no targets filled in)
    assert (step.type, step.function, step.payload, step.timeout_seconds) == (
        ScriptType.LAMBDA,
        "fence",
        {"dns": "app.example.com"},
        120,
    )
    assert step.targets is None
    assert step.name == "LAMBDA fence"
    assert written == [
        {
            "type": "LAMBDA",
            "functionName": "fence",
            "payload": {"dns": "app.example.com"},
            "timeoutSeconds": 120,
            "onFailure": "WARN",
            "retries": 0,
        }
    ]
    assert parse_plan(plan_to_document(plan)) == plan


def test_a_payload_over_16_kib_is_refused() -> None:
    # GIVEN a payload of 16,385 bytes as compact JSON
    big = {"k": "x" * (16_384 - len('{"k":""}') + 1)}

    # WHEN / THEN the step is refused with the size
    with pytest.raises(Exception, match="payload is 16385 bytes as JSON \\(at most 16384\\)"):
        _plan({"type": "LAMBDA", "functionName": "fence", "payload": big})


def test_a_name_resolves_to_the_one_allowed_arn_of_that_name_and_an_arn_only_to_itself() -> None:
    # GIVEN two allowed functions named fence (two regions) and one named check
    allowed = FunctionAllowList.parse(f" {ARN_A}, {ARN_B},{ARN_C} ")

    # WHEN / THEN a unique name resolves to its ARN, a shared one to nothing, an ARN to itself only
    assert allowed.resolve("check") == ARN_C
    assert allowed.resolve("fence") is None
    assert allowed.resolve(ARN_B) == ARN_B
    assert allowed.resolve("arn:aws:lambda:us-east-1:999999999999:function:check") is None
    assert FunctionAllowList.parse("").resolve("check") is None


def test_a_malformed_allowed_function_is_refused_naming_it() -> None:
    # GIVEN / WHEN / THEN a qualified ARN in the list is refused, named
    with pytest.raises(ValueError, match="ALLOWED_LAMBDA_FUNCTIONS: malformed entry 'arn:aws:lambda:us-east-1:1"):
        FunctionAllowList.parse(f"{ARN_A}:prod")


def test_each_function_outside_the_list_is_a_problem_at_its_function_name() -> None:
    # GIVEN a plan invoking an allowed function, an unknown one and, as health check, another account's
    plan = _plan(
        {"type": "LAMBDA", "functionName": "check"},
        {"type": "LAMBDA", "functionName": "dns-cutover"},
        health={"type": "LAMBDA", "functionName": "arn:aws:lambda:us-east-1:999999999999:function:check"},
    )

    # WHEN it is checked against the allowed functions
    problems = disallowed_functions(plan, FunctionAllowList.parse(ARN_C))

    # THEN the two others are problems, each at its step's functionName
    assert [(p.code, p.path, p.wave_id) for p in problems] == [
        ("function-not-allowed", "waves[0].postLaunch[1].functionName", "db"),
        ("function-not-allowed", "waves[0].healthCheck.functionName", "db"),
    ]
    assert problems[0].message.startswith(
        f"Lambda function 'dns-cutover' is not in the deploy's allowed Lambda functions ({ARN_C})"
    )


def test_validate_warns_of_a_function_outside_the_given_list_at_its_line(tmp_path: Path) -> None:
    # GIVEN a plan file with two LAMBDA steps, one of an allowed function
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "planId: p\n"
        "waves:\n"
        "  - waveId: db\n"
        "    servers: [s-00000000000000001]\n"
        "    postLaunch:\n"
        "      - type: LAMBDA\n"
        "        functionName: check\n"
        "      - type: LAMBDA\n"
        "        functionName: dns-cutover\n",
        encoding="utf-8",
    )
    app = typer.Typer()
    register(app)

    # WHEN it is validated with the deployed list of allowed functions
    result = CliRunner().invoke(app, ["validate", str(plan), "--allowed-functions", ARN_C])

    # THEN it is valid, with one warning at the other function's line
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.output.splitlines() if "warning:" in line]
    assert warning.startswith(
        f"{plan}:9: waves[0].postLaunch[1].functionName (wave db): warning: Lambda function 'dns-cutover' is not in"
    )
    assert warning.endswith("(validate assumed this list: pass the deployed one with --allowed-functions)")
