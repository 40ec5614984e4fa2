"""End to end: a handler that keeps failing on an event gives up after its retry budget, the wave that
the event names fails with the error as its reason, and the plan ends (issue #11, fault 2)."""

from __future__ import annotations

from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, ledger_waves, sid, wave


def test_every_drs_call_throttled_fails_the_first_wave_with_the_throttling_as_reason(local_cloud):
    # GIVEN three waves in a chain, and DRS answering every call with ThrottlingException
    cloud = local_cloud(**{"drs.throttleRate": 1.0})
    plan = parse_plan(
        {
            "planId": "throttled",
            "waves": [
                wave("db", [sid("d", 1)]),
                wave("app", [sid("a", 1)], ["db"]),
                wave("web", [sid("w", 1)], ["app"]),
            ],
        }
    )

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the plan ends FAILED with its report: the first wave failed on the preflight's DRS read after the
    # retry budget (3 deliveries), naming the throttling; the others were skipped; nothing launched
    assert result.status == "FAILED"
    assert result.report is not None
    waves = ledger_waves(cloud, result.execution_id)
    assert {w: waves[w]["status"] for w in waves} == {"db": "FAILED", "app": "SKIPPED", "web": "SKIPPED"}
    assert waves["db"]["reason"].startswith("WaveReady could not be handled after 3 attempts (drs-orch-pre_launch): ")
    assert "ThrottlingException" in waves["db"]["reason"]
    failed = events_of(cloud, "WaveFailed", result.execution_id)
    assert [e.wave_id for e in failed] == ["db"]
    assert cloud.drs.stats.launches == {}
    assert_choreography_invariants(cloud, result.execution_id, handler_errors=2)


def test_a_handler_that_fails_twice_then_succeeds_changes_nothing(local_cloud, monkeypatch):
    # GIVEN the pre-launch step failing on the first two deliveries of each WaveReady only
    cloud = local_cloud()
    import orchestrator.steps.pre_launch as pre_launch

    real = pre_launch.on_wave_ready
    failures: dict[str, int] = {}

    def flaky(rt, detail, event_id):  # type: ignore[no-untyped-def]
        failures[event_id] = failures.get(event_id, 0) + 1
        if failures[event_id] <= 2:
            raise RuntimeError("passing trouble")
        return real(rt, detail, event_id)

    monkeypatch.setattr("handlers.pre_launch.on_wave_ready", flaky)
    plan = parse_plan({"planId": "flaky", "waves": [wave("db", [sid("d", 1)]), wave("app", [sid("a", 1)], ["db"])]})

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the third delivery of each WaveReady succeeds and the plan completes, each server launched once
    assert result.status == "COMPLETED"
    assert sorted(failures.values()) == [3, 3]
    assert sorted(cloud.drs.stats.launches.values()) == [1, 1]
    assert_choreography_invariants(cloud, result.execution_id, handler_errors=4)


def test_a_prepare_task_that_keeps_failing_fails_its_wave_through_the_state_machines_retries(local_cloud, monkeypatch):
    # GIVEN the wave launch state machine's prepare task failing every time
    cloud = local_cloud()
    calls: list[str] = []

    def broken(rt, detail, event_id):  # type: ignore[no-untyped-def]
        calls.append(event_id)
        raise RuntimeError("the ledger is not answering")

    monkeypatch.setattr("handlers.launch_wave.prepare", broken)
    plan = parse_plan({"planId": "no-prepare", "waves": [wave("db", [sid("d", 1)])]})

    # WHEN it runs
    result = run_plan(cloud, plan, timeout=60)

    # THEN the task ran three times (the state machine retried it twice), then failed the wave with the error
    assert result.status == "FAILED"
    assert len(calls) == 3
    assert len(set(calls)) == 1
    db = ledger_waves(cloud, result.execution_id)["db"]
    assert db["status"] == "FAILED"
    assert db["reason"] == (
        "PreLaunchDone could not be handled after 3 attempts (drs-orch-launch_wave): "
        "RuntimeError: the ledger is not answering"
    )
    assert cloud.drs.stats.launches == {}
    assert_choreography_invariants(cloud, result.execution_id)
