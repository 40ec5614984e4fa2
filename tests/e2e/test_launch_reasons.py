"""End to end: every server that did not launch carries DRS's reason from the job log, in the wave's
reason, in the report and as a warning when the wave still launched well enough (issue #11, fault 4)."""

from __future__ import annotations

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, sid, wave

CAPACITY = (
    "LAUNCH_FAILED: Failed to launch recovery instance: InsufficientInstanceCapacity (simulated failure "
    "configured for this source server)"
)


def _servers(report: dict, wave_id: str) -> dict[str, dict]:  # type: ignore[type-arg]
    found = next(w for w in report["waves"] if w["waveId"] == wave_id)
    return {s["sourceServerId"]: s for s in found["servers"]}


def test_a_failed_critical_and_a_failed_optional_server_both_say_why(local_cloud):
    # GIVEN a wave whose CRITICAL and OPTIONAL servers DRS cannot launch (insufficient capacity), and one that works
    critical, optional, fine = sid("c", 1), sid("o", 1), sid("f", 1)
    cloud = local_cloud(
        **{f"drs.servers.{critical}": {"launch": "FAILED"}, f"drs.servers.{optional}": {"launch": "FAILED"}}
    )
    plan = parse_plan(
        {
            "planId": "reasons",
            "waves": [wave("db", [critical, {"sourceServerID": optional, "criticality": "OPTIONAL"}, fine])],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the wave failed naming the CRITICAL server and DRS's reason, and each failed server has its reason
    assert result.status == "FAILED"
    assert result.report is not None
    db = result.report["waves"][0]
    assert db["reason"] == f"1 CRITICAL server(s) did not launch: {critical} ({CAPACITY})"
    servers = _servers(result.report, "db")
    assert servers[critical]["reason"] == CAPACITY
    assert servers[optional]["reason"] == CAPACITY
    assert "reason" not in servers[fine]
    assert_choreography_invariants(cloud, result.execution_id)


def test_an_optional_server_that_did_not_launch_is_a_warning_of_a_completed_wave(local_cloud):
    # GIVEN a wave whose only OPTIONAL server DRS cannot launch
    optional, fine = sid("o", 2), sid("f", 2)
    cloud = local_cloud(**{f"drs.servers.{optional}": {"launch": "FAILED"}})
    plan = parse_plan(
        {"planId": "optional", "waves": [wave("app", [{"sourceServerID": optional, "criticality": "OPTIONAL"}, fine])]}
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the wave completed, with a warning that names the server and DRS's reason
    assert result.status == "COMPLETED"
    assert result.report is not None
    app = result.report["waves"][0]
    assert app["warnings"] == [f"OPTIONAL server {optional} ({CAPACITY}) did not launch"]
    assert _servers(result.report, "app")[optional]["reason"] == CAPACITY
    assert_choreography_invariants(cloud, result.execution_id)
