"""Every `drs-orch` path turns an AWS error into one line and exit 2, and an internal error into one line
naming the log that holds its traceback, exit 1 (issue #11, faults 2(a) and 5): never a traceback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from drs_orch.app import app
from orchestrator.runtime import set_runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"
PLAN = str(EXAMPLES / "diamond.yaml")
REGION = ["--region", "us-east-1"]
runner = CliRunner()

# every command that talks to AWS, as an operator types it
AWS_PATHS = [
    ["cleanup", "exec-1", *REGION],
    ["report", "exec-1", *REGION],
    ["report", "exec-1", "--table", "my-ledger", *REGION, "--timeline", "x.svg"],
    ["run", PLAN, "--aws", *REGION],
    ["run", PLAN, "--aws", "--recovery", "--confirm", *REGION],
    ["approve", "exec-1", "--wave", "A", "--aws", *REGION],
    ["deny", "exec-1", "--wave", "A", "--reason", "not now", "--aws", *REGION],
    ["pause", "exec-1", "--aws", *REGION],
    ["resume", "exec-1", "--aws", *REGION],
    ["cancel", "exec-1", "--terminate-drill-instances", "--aws", *REGION],
    ["retry", "exec-1", "--wave", "A", "--all", "--aws", *REGION],
    ["skip", "exec-1", "--wave", "A", "--aws", *REGION],
    ["inspect", "exec-1", "--aws", "--archive", "drs-orchestrator-archive", "--table", "my-ledger", *REGION],
]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A machine with no AWS configuration at all: no credentials anywhere, no region."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "LEDGER_TABLE_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("DRS_ORCH_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.chdir(tmp_path)
    set_runtime(None)
    yield monkeypatch
    set_runtime(None)


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize("args", AWS_PATHS, ids=lambda args: " ".join(a for a in args if a != PLAN)[:60])
def test_no_credentials_is_one_line_and_exit_2_on_every_aws_path(aws_env, args):
    # GIVEN no AWS credentials anywhere
    # WHEN an operator runs the command
    result = runner.invoke(app, args)
    # THEN one line says so and what to do, exit 2, no traceback
    assert result.exit_code == 2, result.output
    line = _one_line(result.output)
    assert line.startswith(
        "AWS: no usable credentials (NoCredentialsError: Unable to locate credentials): "
        "configure them (aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY)"
    ), line
    assert not list(Path.cwd().glob("*.svg"))


def test_no_region_is_one_line_and_exit_2(aws_env):
    # GIVEN credentials but no region, WHEN a plan is started on AWS
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    result = runner.invoke(app, ["run", PLAN, "--aws"])
    # THEN
    assert result.exit_code == 2, result.output
    assert _one_line(result.output) == "AWS: no region (NoRegionError): pass --region, or set AWS_REGION"


def test_an_endpoint_out_of_reach_is_one_line_and_exit_2(aws_env):
    # GIVEN an endpoint nobody listens on
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws_env.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    # WHEN a control command is published
    result = runner.invoke(app, ["pause", "exec-1", "--aws", *REGION])
    # THEN
    assert result.exit_code == 2, result.output
    assert _one_line(result.output) == (
        "AWS: cannot reach the endpoint (EndpointConnectionError: Could not "
        'connect to the endpoint URL: "http://127.0.0.1:9/"): check the region '
        "and the network"
    )


def test_an_aws_api_error_is_one_line_with_its_code_and_exit_2(aws_env):
    aws_env.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with mock_aws():
        # GIVEN an account without the ledger table the command names
        # WHEN cleanup and report read it
        cleanup = runner.invoke(app, ["cleanup", "exec-1", "--table", "no-such-table", *REGION])
        report = runner.invoke(app, ["report", "exec-1", "--table", "no-such-table", *REGION])
    # THEN each says which call failed, DynamoDB's code and message (and report which table), exit 2
    assert cleanup.exit_code == 2, cleanup.output
    assert _one_line(cleanup.output) == "AWS GetItem: ResourceNotFoundException: Requested resource not found"
    assert report.exit_code == 2, report.output
    assert _one_line(report.output) == (
        "AWS GetItem: ResourceNotFoundException: Requested resource not found (ledger table no-such-table)"
    )


def test_an_internal_error_is_one_line_naming_the_log_with_its_traceback_exit_1(aws_env, tmp_path):
    # GIVEN a bug: loading a plan raises something no command expects
    def broken(path: Any) -> Any:
        raise ValueError("unexpected [i-0123456789abcdef0]\nsecond line")

    aws_env.setattr("drs_orch.plan_verbs.load_plan", broken)

    # WHEN a plan is validated
    result = runner.invoke(app, ["validate", PLAN])

    # THEN one line names the error (its text intact, on one line) and the log file, exit 1
    assert result.exit_code == 1, result.output
    line = _one_line(result.output)
    found = re.fullmatch(
        r"drs-orch: internal error: ValueError: unexpected \[i-0123456789abcdef0\] second line "
        r"\(the traceback is in (.+\.log)\)",
        line,
    )
    assert found, line
    log = Path(found.group(1))
    assert log.parent == tmp_path
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert 'raise ValueError("unexpected [i-0123456789abcdef0]\\nsecond line")' in text


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--speed", "inf"], "clock.speed: Input should be a finite number"),
        (["--speed", "1e308"], "clock.speed: Input should be less than or equal to 1000000"),
        (["--timeout", "-5"], "Invalid value for '--timeout'"),
        (["--linger", "-5"], "Invalid value for '--linger'"),
    ],
)
def test_an_impossible_speed_or_duration_is_refused_with_exit_2_before_anything_starts(args, problem):
    # GIVEN a valid plan and an option no run can honour (an infinite speed overflowed the clock; a negative
    # timeout started the run and then reported it as never recorded)
    # WHEN it is run locally
    result = runner.invoke(app, ["run", PLAN, *args])

    # THEN it is refused with the option's problem, exit 2, and no execution was started
    assert result.exit_code == 2, result.output
    assert problem in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert "started" not in result.output.lower()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--from", "garbage"], "'garbage' is not an ISO 8601 time"),
        (["--from", "2030-01-01T00:00:00Z", "--to", "2029-01-01T00:00:00Z"], "is not before --to"),
    ],
)
def test_inspect_refuses_a_time_window_it_cannot_read_with_exit_2(args, problem):
    # GIVEN an --from/--to that is not a time, or a window that ends before it begins (a ValueError traceback
    # reported as an internal error, exit 1, before)
    # WHEN inspect is asked for it
    result = runner.invoke(app, ["inspect", "exec-1", *args])

    # THEN it names the option and the problem, exit 2
    assert result.exit_code == 2, result.output
    assert problem in " ".join(result.output.split())
    assert "internal error" not in result.output
