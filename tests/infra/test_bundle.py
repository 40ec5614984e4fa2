"""The Lambda asset: our packages (no local cloud, no CLI) and pinned Lambda-platform dependencies."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from infra import bundle


def test_requirements_are_pinned_to_the_installed_versions() -> None:
    reqs = bundle.requirements()
    assert f"aws-lambda-powertools[parser,tracer]=={version('aws-lambda-powertools')}" in reqs
    for name in ("pydantic", "pydantic-settings", "PyYAML", "boto3"):
        assert f"{name}=={version(name)}" in reqs


def test_asset_holds_our_code_but_not_the_local_cloud_or_the_cli() -> None:
    files = {path.as_posix() for path in bundle.source_files()}
    assert "handlers/start_plan.py" in files
    assert "infra/definitions.py" in files
    assert "infra/wave_launch.asl.json" in files
    assert "events/schemas/StartPlan.json" in files
    assert not [f for f in files if f.startswith(("localcloud/", "tests/", "infra/constructs/"))]
    assert not [f for f in files if f.startswith("orchestrator/cli")]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_code_only_asset_is_built_once_and_reused(tmp_path: Path) -> None:
    first = bundle.build_lambda_asset(skip_dependencies=True, cache=tmp_path)
    second = bundle.build_lambda_asset(skip_dependencies=True, cache=tmp_path)
    assert first == second
    assert (first / "handlers" / "progress.py").is_file()
    assert (first / "infra" / "definitions.py").is_file()
    assert not (first / "localcloud").exists()
    assert not (first / "infra" / "stack.py").exists()


def test_skip_flag_from_env_or_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bundle.SKIP_ENV, raising=False)
    assert not bundle.skip_requested(None)
    assert bundle.skip_requested(True)
    assert bundle.skip_requested("true")
    monkeypatch.setenv(bundle.SKIP_ENV, "1")
    assert bundle.skip_requested(None)
