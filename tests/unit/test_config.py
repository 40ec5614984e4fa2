"""orchestrator.config: in a Lambda function the deployment's settings are required at cold start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import MissingSettingError, Settings, check_required, missing_settings

VARIABLES = (
    "LEDGER_TABLE_NAME",
    "EVENT_BUS_NAME",
    "EVENT_BUS_ARN",
    "SCHEDULER_GROUP_NAME",
    "SCHEDULER_ROLE_ARN",
    "AWS_LAMBDA_FUNCTION_NAME",
)
COMPLETE = {
    "LEDGER_TABLE_NAME": "DrsOrchestrator-LedgerTable",
    "EVENT_BUS_NAME": "DrsOrchestratorBus",
    "EVENT_BUS_ARN": "arn:aws:events:eu-west-1:111122223333:event-bus/DrsOrchestratorBus",
    "SCHEDULER_GROUP_NAME": "DrsOrchestrator-ticks",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::111122223333:role/DrsOrchestrator-TicksRole",
}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_a_complete_environment_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, **COMPLETE)
    assert check_required(settings, "drs-orch-control") is settings


def test_a_function_without_the_scheduler_needs_only_the_table_and_the_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, LEDGER_TABLE_NAME="t", EVENT_BUS_NAME="b")
    assert missing_settings(settings) == []


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        (("LEDGER_TABLE_NAME",), ["LEDGER_TABLE_NAME"]),
        (("EVENT_BUS_NAME", "LEDGER_TABLE_NAME"), ["LEDGER_TABLE_NAME", "EVENT_BUS_NAME"]),
        (("EVENT_BUS_ARN",), ["EVENT_BUS_ARN"]),
        (("SCHEDULER_GROUP_NAME", "SCHEDULER_ROLE_ARN"), ["SCHEDULER_GROUP_NAME", "SCHEDULER_ROLE_ARN"]),
    ],
)
def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch, drop: tuple[str, ...], missing: list[str]) -> None:
    # GIVEN a deployed function's environment without some of its settings
    settings = _settings(monkeypatch, **{k: v for k, v in COMPLETE.items() if k not in drop})

    # WHEN its settings are checked THEN the error names exactly what is missing (no default stands in)
    with pytest.raises(MissingSettingError) as raised:
        check_required(settings, "drs-orch-pre_launch")
    assert raised.value.variables == missing
    assert str(raised.value).startswith(
        f"function drs-orch-pre_launch cannot start: environment variable(s) {', '.join(missing)}"
    )


def test_an_empty_value_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(monkeypatch, **{**COMPLETE, "EVENT_BUS_ARN": "  "})
    assert missing_settings(settings) == ["EVENT_BUS_ARN"]


def _import_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", "import orchestrator.config"],
        env={**base, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_cold_start_without_the_bus_arn_fails_at_import() -> None:
    # GIVEN a Lambda environment (AWS_LAMBDA_FUNCTION_NAME) whose scheduler settings lack the bus ARN
    env = {**{k: v for k, v in COMPLETE.items() if k != "EVENT_BUS_ARN"}, "AWS_LAMBDA_FUNCTION_NAME": "drs-orch-x"}

    # WHEN the function's code is imported (its init phase)
    failed = _import_config(env)

    # THEN the import fails, naming the variable, instead of a bus in account 000000000000 standing in
    assert failed.returncode != 0
    assert (
        "MissingSettingError: function drs-orch-x cannot start: environment variable(s) EVENT_BUS_ARN" in failed.stderr
    )


def test_a_complete_cold_start_and_any_run_outside_lambda_import_fine() -> None:
    assert _import_config({**COMPLETE, "AWS_LAMBDA_FUNCTION_NAME": "drs-orch-x"}).returncode == 0
    assert _import_config({}).returncode == 0  # the local cloud, the CLI and the tests: the defaults apply
