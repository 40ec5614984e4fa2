"""End to end: successThreshold counts the wave's servers that state no criticality (issue #11, fault 4)."""

from __future__ import annotations

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, sid, wave


def test_two_unmarked_servers_with_threshold_half_complete_when_one_fails_to_launch(local_cloud):
    # GIVEN a wave of two servers that state no criticality, successThreshold 0.5, and one of them failing
    # to launch; a second wave depends on it
    failing = sid("u", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "half",
            "waves": [
                wave("app", [sid("u", 1), failing], successThreshold=0.5),
                wave("web", [sid("w", 1)], ["app"]),
            ],
        }
    )

    # WHEN the plan runs
    result = run_plan(cloud, plan)

    # THEN 1/2 meets the threshold: the wave completes with a warning naming the server, and web runs
    assert result.status == "COMPLETED"
    assert result.report is not None
    waves = {w["waveId"]: w for w in result.report["waves"]}
    app = waves["app"]
    assert app["status"] == "COMPLETED"
    servers = {s["sourceServerId"]: (s["criticality"], s["launchStatus"]) for s in app["servers"]}
    assert servers == {sid("u", 1): ("OPTIONAL", "LAUNCHED"), failing: ("OPTIONAL", "FAILED")}
    [warning] = app["warnings"]
    assert warning == (
        f"OPTIONAL server {failing} (LAUNCH_FAILED: Failed to launch recovery instance: "
        "InsufficientInstanceCapacity (simulated failure configured for this source server)) did not "
        "launch"
    )
    assert waves["web"]["status"] == "COMPLETED"
    assert_choreography_invariants(cloud, result.execution_id)


def test_an_explicitly_critical_server_still_fails_a_wave_with_a_threshold(local_cloud):
    # GIVEN the same wave and threshold, the failing server explicitly CRITICAL
    failing = sid("c", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "critical",
            "waves": [
                wave(
                    "app", [sid("c", 1), {"sourceServerID": failing, "criticality": "CRITICAL"}], successThreshold=0.5
                ),
            ],
        }
    )

    # WHEN the plan runs
    result = run_plan(cloud, plan)

    # THEN the wave fails at once on its CRITICAL server, although 1/2 would meet the threshold
    assert result.status == "FAILED"
    assert result.report is not None
    [app] = result.report["waves"]
    assert app["status"] == "FAILED"
    assert app["reason"] == (
        f"1 CRITICAL server(s) did not launch: {failing} (LAUNCH_FAILED: Failed to launch "
        "recovery instance: InsufficientInstanceCapacity (simulated failure configured for "
        "this source server))"
    )
    assert_choreography_invariants(cloud, result.execution_id)
