"""The Lambda asset: our packages chosen by package (no local cloud, CLI or infra) and pinned
Lambda-platform dependencies."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from infra import bundle
from infra.definitions import FUNCTIONS
from tests.import_graph import REPO_ROOT, imported_closure, module_name
from tests.infra.lockfile import DEV_LOCK, LAMBDA_LOCK, read_in, read_lock, requirement_names, versions

LAMBDA_IN = bundle.REPO_ROOT / "requirements" / "lambda.in"
# Never in a function: the local cloud, the operator CLI's libraries, the tests' and the CDK app's tools.
NOT_IN_LAMBDA = {"moto", "typer", "rich", "pytest", "hypothesis", "ruff", "mypy", "aws-cdk-lib", "cfn-lint", "pip"}


def test_the_bundle_installs_the_lambda_lock() -> None:
    assert bundle.LAMBDA_LOCK == LAMBDA_LOCK
    assert LAMBDA_LOCK.is_file()


def test_lambda_lock_pins_every_package_with_hashes() -> None:
    # GIVEN the Lambda lock
    pins = read_lock(LAMBDA_LOCK)

    # THEN every requirement is one exact version with at least one sha256 and no marker (resolved for one platform)
    assert pins
    for pin in pins:
        assert pin.version is not None, str(pin.requirement)
        assert pin.hashes, pin.name
        assert all(h.startswith("sha256:") and len(h) == len("sha256:") + 64 for h in pin.hashes), pin.name
        assert pin.requirement.marker is None, pin.name
    assert len({pin.name for pin in pins}) == len(pins)


def test_lambda_lock_holds_what_the_functions_need_and_no_dev_tool() -> None:
    # GIVEN the Lambda lock and what requirements/lambda.in asks for
    locked = versions(read_lock(LAMBDA_LOCK))
    wanted = requirement_names(read_in(LAMBDA_IN))

    # THEN everything asked for is locked, and nothing the functions never import
    assert wanted == {"boto3", "aws-lambda-powertools", "pydantic", "pydantic-settings", "pyyaml", "jinja2"}
    assert wanted <= locked.keys()
    assert "pydantic-core" in locked  # the one compiled dependency pydantic needs on arm64
    assert not NOT_IN_LAMBDA & locked.keys()


def test_lambda_lock_has_the_versions_the_tests_run_against() -> None:
    # GIVEN both locks
    dev = versions(read_lock(DEV_LOCK))
    lam = versions(read_lock(LAMBDA_LOCK))

    # THEN every package the functions ship is pinned in the dev lock too, at the same version
    mismatched = {name: (found, dev.get(name)) for name, found in lam.items() if not found <= dev.get(name, set())}
    assert not mismatched


def _third_party_imports(files: list[Path]) -> set[str]:
    ours = {"events", "orchestrator", "handlers", "infra"}
    modules: set[str] = set()
    for rel in files:
        if rel.suffix != ".py":
            continue
        for node in ast.walk(ast.parse((bundle.REPO_ROOT / rel).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in ours and m not in sys.stdlib_module_names and m != "__future__"}


def test_the_lambda_lock_provides_every_import_of_the_shipped_code() -> None:
    # GIVEN the third-party modules our shipped files import, and the distribution providing each
    modules = _third_party_imports(bundle.source_files())
    providers = packages_distributions()
    unknown = sorted(m for m in modules if m not in providers)
    imported = {canonicalize_name(dist) for m in modules for dist in providers.get(m, [])}

    # THEN the Lambda lock has each (a new import of, say, rich fails here before it fails in AWS), and
    # requirements/lambda.in asks for nothing the code no longer imports
    assert not unknown
    assert imported == {
        "boto3",
        "botocore",
        "aws-lambda-powertools",
        "pydantic",
        "pydantic-core",  # InitErrorDetails (events/models.py), PydanticCustomError (the plan model's WAIT-step errors)
        "pydantic-settings",
        "pyyaml",
        "jinja2",  # the archive function renders the HTML evidence report (orchestrator/reporting/html.py)
        "markupsafe",  # Jinja2's Markup: the timeline's SVG put in the page as it is
    }
    assert imported <= versions(read_lock(LAMBDA_LOCK)).keys()
    assert requirement_names(read_in(LAMBDA_IN)) <= imported


def test_dependency_cache_key_is_the_lock_hash(tmp_path: Path) -> None:
    # GIVEN two copies of the lock and a third that differs by one byte
    same_a, same_b, other = tmp_path / "a.lock", tmp_path / "b.lock", tmp_path / "c.lock"
    text = LAMBDA_LOCK.read_bytes()
    same_a.write_bytes(text)
    same_b.write_bytes(text)
    other.write_bytes(text + b"\n")

    # THEN the key follows the content, not the path
    assert bundle.dependency_key(same_a) == bundle.dependency_key(same_b) == bundle.dependency_key(LAMBDA_LOCK)
    assert bundle.dependency_key(other) != bundle.dependency_key(same_a)
    assert len(bundle.dependency_key(same_a)) == 16


class FakePip:
    """Stands in for `pip install`: records the argv and writes one file where --target points."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "installed_from.txt").write_text(Path(command[command.index("-r") + 1]).read_text())
        return subprocess.CompletedProcess(command, 0)


def test_dependencies_are_installed_from_the_lock_once_per_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a lock in a scratch place and pip faked at the subprocess boundary
    lock = tmp_path / "lambda.lock"
    lock.write_bytes(LAMBDA_LOCK.read_bytes())
    pip = FakePip()
    monkeypatch.setattr(bundle.subprocess, "run", pip)
    cache = tmp_path / "cache"

    # WHEN the full asset is built twice
    first = bundle.build_lambda_asset(cache=cache, lock=lock)
    second = bundle.build_lambda_asset(cache=cache, lock=lock)

    # THEN pip ran once, hash-checked, for the Lambda platform, on exactly that lock, into the keyed directory
    assert first == second
    assert len(pip.calls) == 1
    command = pip.calls[0]
    assert command[:5] == [sys.executable, "-m", "pip", "install", "--quiet"]
    assert "--require-hashes" in command
    assert command[command.index("-r") + 1] == str(lock.resolve())
    assert command[command.index("--platform") + 1] == "manylinux2014_aarch64"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command
    assert "--no-deps" not in command  # a dependency missing from the lock must fail the install
    assert (cache / f"deps-{bundle.dependency_key(lock)}" / "installed_from.txt").read_bytes() == lock.read_bytes()
    assert (first / "installed_from.txt").is_file()
    assert (first / "handlers" / "start_plan.py").is_file()

    # WHEN the lock changes (make upgrade) and the asset is built again
    lock.write_text(lock.read_text() + "# moved\n")
    third = bundle.build_lambda_asset(cache=cache, lock=lock)

    # THEN pip ran again into a new dependency directory, and the asset is a new one
    assert len(pip.calls) == 2
    assert third != first
    assert (cache / f"deps-{bundle.dependency_key(lock)}" / "installed_from.txt").read_text().endswith("# moved\n")


def test_asset_holds_our_code_but_not_the_local_cloud_the_cli_or_infra() -> None:
    files = {path.as_posix() for path in bundle.source_files()}
    assert "handlers/start_plan.py" in files
    assert "orchestrator/steps/launch_wave.py" in files
    assert "events/schemas/StartPlan.json" in files
    assert "orchestrator/domain/plan/plan.schema.json" in files
    assert not [f for f in files if f.startswith(("localcloud/", "tests/", "infra/", "bench/"))]
    assert not [f for f in files if f.startswith("drs_orch/")]
    assert "orchestrator/reporting/report.py" in files  # the archive function stores the report (issue #16)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_asset_holds_every_module_a_function_imports() -> None:
    # GIVEN every function's handler module (and the console widget's, built outside FUNCTIONS)
    handlers = [f"handlers.{function.module}" for function in FUNCTIONS.values()] + ["handlers.console_widget"]
    # WHEN the modules of this repository that they import, transitively, are listed
    needed = imported_closure(handlers)
    # THEN the asset holds each of them (a package left out of the selection would fail at cold start)
    files = {path.as_posix() for path in bundle.source_files()}
    shipped = {module_name(REPO_ROOT / f) for f in files if f.endswith(".py")}
    assert "orchestrator.steps.start_plan" in needed
    assert "orchestrator.reporting.console_widget" in needed
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
    assert (first / "orchestrator" / "reporting" / "report.py").is_file()


def test_skip_flag_from_env_or_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bundle.SKIP_ENV, raising=False)
    assert not bundle.skip_requested(None)
    assert bundle.skip_requested(True)
    assert bundle.skip_requested("true")
    monkeypatch.setenv(bundle.SKIP_ENV, "1")
    assert bundle.skip_requested(None)
