"""orchestrator.config: in a Lambda function the deployment's settings are required at cold start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import (
    OPERATOR_PROOF_SERVICES,
    MissingSettingError,
    Settings,
    check_required,
    missing_settings,
)

VARIABLES = (
    "LEDGER_TABLE_NAME",
    "EVENT_BUS_NAME",
    "EVENT_BUS_ARN",
    "SCHEDULER_GROUP_NAME",
    "SCHEDULER_ROLE_ARN",
    "AWS_LAMBDA_FUNCTION_NAME",
    "RECOVERY_PRINCIPALS",
    "ALLOWED_SSM_DOCUMENTS",
    "OPERATOR_PROOF_KEY_ID",
    "POWERTOOLS_SERVICE_NAME",
    "EVIDENCE_BUCKET_NAME",
    "FINISHED_EXECUTION_TTL_DAYS",
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


def test_the_operator_function_needs_only_the_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the operator function's environment: the bus and its recovery principals (none configured), no table
    settings = _settings(monkeypatch, EVENT_BUS_NAME="b", RECOVERY_PRINCIPALS="")
    # THEN nothing is missing; without the bus, the bus is
    assert missing_settings(settings) == []
    monkeypatch.delenv("EVENT_BUS_NAME")
    assert missing_settings(Settings()) == ["EVENT_BUS_NAME"]


def test_every_deployed_function_environment_passes_the_cold_start_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.definitions import FUNCTIONS, function_environment

    # GIVEN each function's environment as the stack builds it
    for name, spec in FUNCTIONS.items():
        env = function_environment(
            spec,
            table_name="t",
            bus_name="b",
            bus_arn="arn:aws:events:eu-west-1:111122223333:event-bus/b",
            scheduler_group="g",
            scheduler_role_arn="arn:aws:iam::111122223333:role/r",
            allowed_ssm_documents=("DRSOrch-*",),
            recovery_principals="",
            operator_proof_key="arn:aws:kms:eu-west-1:111122223333:key/k",
            evidence_bucket="drs-orchestrator-evidence-1a2b3c",
        )
        for variable in VARIABLES:
            monkeypatch.delenv(variable, raising=False)
        # WHEN the function starts THEN nothing it needs is missing
        assert check_required(_settings(monkeypatch, **env), f"drs-orch-{name}") is not None, name


def test_the_archive_function_needs_its_bucket_and_the_ledger_but_no_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the archive function's environment (issue #16) with an empty bucket name, as a broken deploy would give
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    env = {"POWERTOOLS_SERVICE_NAME": "drs-orch-archive", "LEDGER_TABLE_NAME": "t", "EVIDENCE_BUCKET_NAME": ""}
    # WHEN it starts THEN the bucket is named missing, and nothing else (it publishes nothing: no bus)
    with pytest.raises(MissingSettingError) as caught:
        check_required(_settings(monkeypatch, **env), "drs-orch-archive")
    assert caught.value.variables == ["EVIDENCE_BUCKET_NAME"]
    # AND with its bucket it starts
    env["EVIDENCE_BUCKET_NAME"] = "b"
    assert check_required(_settings(monkeypatch, **env), "drs-orch-archive").evidence_bucket == "b"


@pytest.mark.parametrize("service", sorted(OPERATOR_PROOF_SERVICES))
def test_the_functions_that_sign_or_verify_operator_commands_need_the_proof_key(
    monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    # GIVEN the environment of a function that signs or verifies the operator's commands, without the key
    env = {"POWERTOOLS_SERVICE_NAME": service, "EVENT_BUS_NAME": "b", "LEDGER_TABLE_NAME": "t"}
    if service == "drs-orch-operator":
        env["RECOVERY_PRINCIPALS"] = ""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    # WHEN it starts THEN it fails naming the key's variable; with the key it starts
    assert missing_settings(_settings(monkeypatch, **env)) == ["OPERATOR_PROOF_KEY_ID"]
    assert missing_settings(_settings(monkeypatch, **env, OPERATOR_PROOF_KEY_ID="arn:aws:kms:r:1:key/k")) == []


def test_the_proof_services_are_the_functions_the_stack_gives_the_key() -> None:
    from infra.definitions import FUNCTIONS

    # GIVEN the stack's functions WHEN listing those that sign or verify THEN the cold-start check knows each
    assert {f"drs-orch-{f.name}" for f in FUNCTIONS.values() if f.operator_proof} == OPERATOR_PROOF_SERVICES


@pytest.mark.parametrize(
    ("env", "account"),
    [
        ({"EVENT_BUS_ARN": "arn:aws:events:eu-west-1:111122223333:event-bus/b"}, "111122223333"),
        # StartPlan has no bus ARN: the operator-proof key's ARN (a resource of the same stack) tells it
        ({"OPERATOR_PROOF_KEY_ID": "arn:aws-us-gov:kms:us-gov-west-1:444455556666:key/abc"}, "444455556666"),
        ({"SCHEDULER_ROLE_ARN": "arn:aws:iam::777788889999:role/ticks"}, "777788889999"),
        ({"OPERATOR_PROOF_KEY_ID": "1234abcd-12ab-34cd-56ef-1234567890ab"}, None),  # a key id names no account
        ({}, None),
    ],
)
def test_the_own_account_is_read_from_a_stack_resources_arn(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], account: str | None
) -> None:
    settings = _settings(monkeypatch, **env)
    assert settings.own_account == account
    assert settings.home == (account, settings.region)
