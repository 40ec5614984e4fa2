"""What a failed wave names: a few servers in the reason and warnings, at most 50 in WaveFailed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from events.models import ServerLaunch, WaveFailed
from orchestrator.domain.launch_judgement import FAILED_SERVERS_LIMIT, _named, judge_launch, launch_warnings, listed
from orchestrator.domain.plan import Criticality
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerResult


def _failed(n: int, criticality: str | None = "CRITICAL") -> ServerLaunch:
    return ServerLaunch(
        source_server_id=f"s-{n:017d}",
        launch_status="FAILED",
        criticality=criticality,  # type: ignore[arg-type]
        reason="LAUNCH_FAILED: " + "x" * 2000,
    )


def test_listed_names_the_first_ten_and_counts_the_rest():
    assert listed(["a", "b"]) == "a; b"
    assert listed([str(n) for n in range(10)]) == "0; 1; 2; 3; 4; 5; 6; 7; 8; 9"
    assert listed([str(n) for n in range(13)]) == "0; 1; 2; 3; 4; 5; 6; 7; 8; 9; … and 3 more"


def test_wave_failed_names_critical_servers_first_and_at_most_fifty():
    failed = [_failed(n, "OPTIONAL" if n < 100 else "CRITICAL") for n in range(200)]
    named = _named(failed)
    assert len(named) == FAILED_SERVERS_LIMIT == 50
    assert [s.source_server_id for s in named] == [f"s-{n:017d}" for n in range(100, 150)]
    event = WaveFailed(
        execution_id="e",
        plan_id="p",
        wave_id="w",
        attempt=1,
        reason="r",
        on_failure="STOP",
        failed_servers=named,
        failed_servers_total=len(failed),
    )
    assert len(json.dumps(event.model_dump(mode="json", by_alias=True))) < 256 * 1024  # even with 2 KB reasons
    with pytest.raises(ValidationError, match="at most 50"):
        WaveFailed(
            execution_id="e", plan_id="p", wave_id="w", attempt=1, reason="r", on_failure="STOP", failed_servers=failed
        )


def test_a_wave_of_2000_critical_failures_names_ten_in_its_reason():
    servers = {
        f"s-{n:017d}": ServerResult(
            execution_id="e",
            wave_id="w",
            source_server_id=f"s-{n:017d}",
            criticality=Criticality.CRITICAL,
            launch_status=ServerLaunchStatus.FAILED,
            attempt=1,
            reason="LAUNCH_FAILED",
        )
        for n in range(2000)
    }
    ok, reason, failed = judge_launch(servers, None)
    assert not ok
    assert len(failed) == 2000
    assert reason.startswith("2000 CRITICAL server(s) did not launch: s-00000000000000000 (LAUNCH_FAILED); ")
    assert reason.endswith("s-00000000000000009 (LAUNCH_FAILED); … and 1990 more")


def test_launch_warnings_name_ten_servers_then_count_the_rest():
    assert launch_warnings([_failed(1, None)]) == [
        f"OPTIONAL server s-{1:017d} (LAUNCH_FAILED: {'x' * 2000}) did not launch"
    ]
    lines = launch_warnings([_failed(n, "OPTIONAL") for n in range(25)])
    assert len(lines) == 11
    assert lines[-1] == "… and 15 more server(s) did not launch"
