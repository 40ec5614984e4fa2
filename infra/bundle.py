"""Build the Lambda code asset without Docker.

One directory asset serves every function (each has its own handler module): our packages plus the
runtime dependencies, installed by pip for the Lambda platform (Python 3.12 on arm64) from binary wheels.

- The dependencies are exactly `requirements/lambda.lock`: every package the functions need, pinned with
  the sha256 of each of its files, installed with `--require-hashes` (a wheel whose hash is not in the lock,
  or a dependency the lock lacks, fails the synth). The lock is resolved for this platform at the versions
  of `requirements/dev.lock`, the one the tests run against; `make upgrade` moves both.
- The dependency directory is cached by a hash of the lock, so repeated synths do not reinstall and a
  changed lock rebuilds; the asset directory is cached by that and a hash of our source files.
- Both are built in a temporary directory and renamed into place, so parallel synths (pytest-xdist
  workers) never see a half-built directory.
- `DRS_ORCH_SKIP_BUNDLE=1` (or context `skipBundle`) builds only our own code (no pip): fast tests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / "cdk.out" / ".bundles"
SKIP_ENV = "DRS_ORCH_SKIP_BUNDLE"
CACHE_ENV = "DRS_ORCH_BUNDLE_DIR"

LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON = "3.12"

# What the functions import, resolved for the Lambda platform with hashes (requirements/lambda.in says why
# each is there; `make upgrade` regenerates it).
LAMBDA_LOCK = REPO_ROOT / "requirements" / "lambda.lock"

# Our code in the asset, chosen by package: the packages the functions import, minus the subpackages none
# of them imports. Not listed, so never shipped: drs_orch (the operator CLI: typer, rich, localcloud),
# localcloud, infra (no function imports it: the CDK app reads infra/definitions.py, the functions read
# their environment), tests and bench.
PACKAGES: tuple[str, ...] = ("events", "handlers", "orchestrator")
# (orchestrator/reporting ships since issue #16: the archive function stores the execution report on Lambda)
EXCLUDED_PACKAGES: tuple[str, ...] = ()
EXCLUDED_PARTS = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    """Our files that go into the asset (every file of PACKAGES outside EXCLUDED_PACKAGES, data files
    such as the event schemas included), relative to `root`, sorted."""
    excluded = [Path(package) for package in EXCLUDED_PACKAGES]
    files: list[Path] = []
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            if any(rel.is_relative_to(package_dir) for package_dir in excluded):
                continue
            if EXCLUDED_PARTS.intersection(rel.parts) or path.suffix in EXCLUDED_SUFFIXES:
                continue
            files.append(rel)
    return sorted(files)


def _digest(lines: Iterable[str | bytes]) -> str:
    sha = hashlib.sha256()
    for line in lines:
        sha.update(line.encode() if isinstance(line, str) else line)
        sha.update(b"\0")
    return sha.hexdigest()[:16]


def _code_digest(root: Path, files: list[Path]) -> str:
    def chunks() -> Iterator[str | bytes]:
        for rel in files:
            yield rel.as_posix()
            yield (root / rel).read_bytes()

    return _digest(chunks())


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


STALE_AFTER_SECONDS = 3600


def _prune(cache: Path, keep: Path) -> None:
    """Drop older builds of the same kind (code-*, lambda-*) that no synth has used for an hour."""
    prefix = keep.name.split("-", 1)[0] + "-"
    now = time.time()
    for path in cache.glob(prefix + "*"):
        if path != keep and path.is_dir() and now - path.stat().st_mtime > STALE_AFTER_SECONDS:
            shutil.rmtree(path, ignore_errors=True)


def _build_atomically(target: Path, build: Callable[[Path], None]) -> Path:
    """Run `build(tmp_dir)` and rename the result to `target`; a concurrent winner's copy is kept."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def dependency_key(lock: Path = LAMBDA_LOCK) -> str:
    """The dependency cache key: a hash of the lock's bytes (and of the platform it is installed for)."""
    return _digest([LAMBDA_PLATFORM, LAMBDA_PYTHON, lock.read_bytes()])


def install_dependencies(cache: Path, lock: Path = LAMBDA_LOCK) -> Path:
    """pip-install the Lambda platform wheels the lock pins, hash-checked, once per lock; later calls reuse it."""
    target = cache / f"deps-{dependency_key(lock)}"

    def build(tmp: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--platform",
            LAMBDA_PLATFORM,
            "--only-binary=:all:",
            "--python-version",
            LAMBDA_PYTHON,
            "--implementation",
            "cp",
            "--require-hashes",
            "--target",
            str(tmp),
            "-r",
            str(lock.resolve()),
        ]
        subprocess.run(command, check=True)  # noqa: S603 - a fixed argv: our lock, our target

    return _build_atomically(target, build)


def _copy_sources(root: Path, files: list[Path], dest: Path) -> None:
    for rel in files:
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, out)


def build_lambda_asset(
    *, skip_dependencies: bool = False, root: Path = REPO_ROOT, cache: Path | None = None, lock: Path = LAMBDA_LOCK
) -> Path:
    """The directory to hand to `lambda.Code.from_asset`: our code, plus dependencies unless skipped."""
    cache = cache or cache_dir()
    files = source_files(root)
    code = _code_digest(root, files)
    if skip_dependencies:
        asset = _build_atomically(cache / f"code-{code}", lambda tmp: _copy_sources(root, files, tmp))
        _prune(cache, asset)
        return asset

    deps = install_dependencies(cache, lock)

    def build(tmp: Path) -> None:
        shutil.copytree(deps, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        _copy_sources(root, files, tmp)

    asset = _build_atomically(cache / f"lambda-{deps.name.removeprefix('deps-')}-{code}", build)
    _prune(cache, asset)
    return asset


def skip_requested(context_value: object = None) -> bool:
    """Skip pip when the env var or the context flag says so."""
    if os.environ.get(SKIP_ENV, "").strip().lower() in {"1", "true", "yes"}:
        return True
    return str(context_value).strip().lower() in {"1", "true", "yes"}
