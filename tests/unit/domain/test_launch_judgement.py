"""judge_launch (orchestrator/domain/launch_judgement.py): CRITICAL and OPTIONAL servers, the success threshold."""

from __future__ import annotations

import pytest

from orchestrator.domain.launch_judgement import judge_launch
from orchestrator.domain.plan import Criticality
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerResult


def _wave(*servers: tuple[str, str]) -> dict[str, ServerResult]:
    """servers: (criticality, launch status), ids s-0, s-1, ..."""
    return {
        f"s-{n}": ServerResult(
            execution_id="e",
            wave_id="w",
            source_server_id=f"s-{n}",
            criticality=Criticality(criticality),
            launch_status=ServerLaunchStatus(status),
            attempt=1,
            reason=None if status == "LAUNCHED" else "X",
        )
        for n, (criticality, status) in enumerate(servers)
    }


def test_every_server_launched_is_a_success() -> None:
    # GIVEN / WHEN / THEN
    assert judge_launch(_wave(("CRITICAL", "LAUNCHED"), ("OPTIONAL", "LAUNCHED")), 1.0) == (
        True,
        "2/2 servers launched",
        [],
    )


def test_one_critical_failure_fails_the_wave_whatever_the_threshold() -> None:
    # GIVEN 9 launched OPTIONAL servers and one failed CRITICAL one, a 10 % threshold
    ok, reason, failed = judge_launch(_wave(("CRITICAL", "FAILED"), *[("OPTIONAL", "LAUNCHED")] * 9), 0.1)
    # THEN the wave failed, naming it
    assert (ok, reason) == (False, "1 CRITICAL server(s) did not launch: s-0 (X)")
    assert [f.source_server_id for f in failed] == ["s-0"]


@pytest.mark.parametrize(
    ("launched", "total", "threshold", "ok"),
    [
        (3, 4, 0.75, True),  # exactly at the threshold: a success
        (2, 4, 0.75, False),  # just below
        (0, 3, None, True),  # no threshold: OPTIONAL failures never fail the wave
        (0, 3, 0.01, False),  # all OPTIONAL servers failing, any threshold
    ],
)
def test_optional_failures_count_against_the_threshold(
    launched: int, total: int, threshold: float | None, ok: bool
) -> None:
    # GIVEN `total` OPTIONAL servers of which `launched` launched
    wave = _wave(*[("OPTIONAL", "LAUNCHED")] * launched, *[("OPTIONAL", "FAILED")] * (total - launched))
    # WHEN judged
    result, reason, failed = judge_launch(wave, threshold)
    # THEN success exactly when the launched share reaches the threshold
    assert result is ok
    assert len(failed) == total - launched
    if not ok:
        assert reason == f"only {launched}/{total} servers launched, below the success threshold {threshold:.0%}"


def test_a_wave_of_no_server_launched_well_enough() -> None:
    # GIVEN a wave with no server (every one left out), WHEN judged with a threshold, THEN no division by zero
    assert judge_launch({}, 0.5) == (True, "0/0 servers launched", [])
