"""The Lambda asset: our packages chosen by package (no local cloud, CLI, reporting or infra) and pinned
Lambda-platform dependencies."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from infra import bundle
from infra.definitions import FUNCTIONS
from tests.import_graph import REPO_ROOT, imported_closure, module_name


def test_requirements_are_pinned_to_the_installed_versions() -> None:
    reqs = bundle.requirements()
    assert f"aws-lambda-powertools[parser,tracer]=={version('aws-lambda-powertools')}" in reqs
    for name in ("pydantic", "pydantic-settings", "PyYAML", "boto3"):
        assert f"{name}=={version(name)}" in reqs


def test_asset_holds_our_code_but_not_the_local_cloud_the_cli_the_reporting_or_infra() -> None:
    files = {path.as_posix() for path in bundle.source_files()}
    assert "handlers/start_plan.py" in files
    assert "orchestrator/steps/launch_wave.py" in files
    assert "events/schemas/StartPlan.json" in files
    assert "orchestrator/domain/plan/plan.schema.json" in files
    assert not [f for f in files if f.startswith(("localcloud/", "tests/", "infra/", "bench/"))]
    assert not [f for f in files if f.startswith(("drs_orch/", "orchestrator/reporting/"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_asset_holds_every_module_a_function_imports() -> None:
    # GIVEN every function's handler module
    handlers = [f"handlers.{function.module}" for function in FUNCTIONS.values()]
    # WHEN the modules of this repository that they import, transitively, are listed
    needed = imported_closure(handlers)
    # THEN the asset holds each of them (a package left out of the selection would fail at cold start)
    files = {path.as_posix() for path in bundle.source_files()}
    shipped = {module_name(REPO_ROOT / f) for f in files if f.endswith(".py")}
    assert "orchestrator.steps.start_plan" in needed
    assert sorted(needed - shipped) == []


def test_code_only_asset_is_built_once_and_reused(tmp_path: Path) -> None:
    first = bundle.build_lambda_asset(skip_dependencies=True, cache=tmp_path)
    second = bundle.build_lambda_asset(skip_dependencies=True, cache=tmp_path)
    assert first == second
    assert (first / "handlers" / "progress.py").is_file()
    assert (first / "orchestrator" / "domain" / "plan" / "model.py").is_file()
    assert not (first / "localcloud").exists()
    assert not (first / "infra").exists()
    assert not (first / "drs_orch").exists()
    assert not (first / "orchestrator" / "reporting").exists()


def test_skip_flag_from_env_or_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bundle.SKIP_ENV, raising=False)
    assert not bundle.skip_requested(None)
    assert bundle.skip_requested(True)
    assert bundle.skip_requested("true")
    monkeypatch.setenv(bundle.SKIP_ENV, "1")
    assert bundle.skip_requested(None)
