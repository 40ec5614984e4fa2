"""Shared fixtures of the end-to-end and chaos tiers: one embedded local cloud per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile

# Property tests judge correctness, not speed: no per-example deadline (a loaded CI machine or the other
# xdist worker would otherwise make them flaky).
settings.register_profile("repo", deadline=None)
settings.load_profile("repo")


@pytest.fixture(autouse=True, scope="session")
def _run_logs_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local run writes its log to $DRS_ORCH_LOG_DIR (else /tmp): keep the tests' logs out of /tmp."""
    import os

    before = os.environ.get("DRS_ORCH_LOG_DIR")
    os.environ["DRS_ORCH_LOG_DIR"] = str(tmp_path_factory.mktemp("run-logs"))
    yield
    if before is None:
        os.environ.pop("DRS_ORCH_LOG_DIR", None)
    else:
        os.environ["DRS_ORCH_LOG_DIR"] = before


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    """Simulated DRS launch time of a server: 30 s to 2 min, so a 3-wave plan runs in a few real seconds."""
    return {"min": 30, "max": 120}


@pytest.fixture
def faults() -> dict[str, Any]:
    """Profile overrides applied on top of every scenario's own (none here; the chaos tier overrides it)."""
    return {}


@pytest.fixture
def local_cloud(drs_launch_seconds: dict[str, float], faults: dict[str, Any]) -> Iterator[Callable[..., LocalCloud]]:
    """`local_cloud(**{"dotted.key": value})` starts a LocalCloud with that profile (plus `faults`)."""
    started: list[LocalCloud] = []

    def make(**overrides: Any) -> LocalCloud:
        assert not started, "one local cloud per test (it installs process-wide hooks)"
        cloud = LocalCloud(load_profile(None, **{"drs.launchSeconds": drs_launch_seconds, **overrides, **faults}))
        cloud.start()
        started.append(cloud)
        return cloud

    yield make
    for cloud in started:
        cloud.stop()
