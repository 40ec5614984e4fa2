"""End to end: malformed events on the bus are dropped by the handler they reach (InvalidEvents path):
no exception, no retry, no dead letter, nothing written, nothing launched, nothing published."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from events.models import DRS_LAUNCH_RESULT, DRS_SOURCE, SOURCE
from infra.definitions import FUNCTIONS, ROUTES
from localcloud.cloud import LocalCloud
from localcloud.lambda_runtime import ACCOUNT, REGION
from localcloud.runner import start, wait
from orchestrator.plan import parse_plan
from tests.e2e.helpers import (
    assert_choreography_invariants,
    events_of,
    execution,
    ledger_items,
    sid,
    start_recovery_calls,
    wave,
    wave_status,
)

PLAN = {"planId": "bad", "waves": [wave("w1", [sid("a", 1)]), wave("w2", [sid("b", 1)], ["w1"])]}


def _valid_details(execution_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """A well-formed detail of every event a Lambda handler consumes, and the function it reaches."""
    ids = {"executionId": execution_id, "planId": "bad", "waveId": "w1"}
    control = {"executionId": execution_id, "requestedBy": "test"}
    return {
        "WaveReady": ("pre_launch", ids),
        "DRSJobStarted": (
            "job_watcher",
            {**ids, "jobId": "drsjob-00000000000000001", "launchKey": "lk-0", "sourceServerIds": [sid("a", 1)]},
        ),
        "JobWatchTick": ("job_watcher", {**ids, "tick": 1}),
        "PreLaunchTick": ("pre_launch", {**ids, "phase": "PRE_LAUNCH", "index": 0, "tryNumber": 1, "purpose": "poll"}),
        "PostLaunchTick": ("post_launch", {**ids, "phase": "POST_LAUNCH", "index": 0, "tryNumber": 1,
                                           "purpose": "timeout"}),
        "DRSJobCompleted": (
            "post_launch",
            {
                **ids,
                "jobId": "drsjob-00000000000000001",
                "servers": [{"sourceServerId": sid("a", 1), "launchStatus": "FAILED"}],
            },
        ),
        "PostLaunchDone": ("ledger", ids),
        "WaveFailed": ("ledger", {**ids, "reason": "boom", "onFailure": "STOP"}),
        "CancelPlan": ("control", control),
        "PausePlan": ("control", control),
        "ResumePlan": ("control", control),
    }


def _malformed(execution_id: str) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(case, detail-type, detail, function it reaches, what the rejection names)."""
    cases = []
    for detail_type, (function, detail) in _valid_details(execution_id).items():
        missing = {k: v for k, v in detail.items() if k != "executionId"}
        cases.append((f"{detail_type} without executionId", detail_type, missing, function, "executionId"))
        cases.append((f"{detail_type} with an extra field", detail_type, {**detail, "bogus": 1}, function, "bogus"))
    return cases


def _record_results(cloud: LocalCloud) -> list[tuple[str, dict[str, Any], Any]]:
    """Every handler invocation from now on, with what the handler returned."""
    results: list[tuple[str, dict[str, Any], Any]] = []
    invoke = cloud.lambdas.invoke

    def recording(name: str, event: dict[str, Any]) -> Any:
        result = invoke(name, event)
        results.append((name, event, result))
        return result

    cloud.lambdas.invoke = recording  # type: ignore[method-assign]
    return results


def _live_execution(local_cloud) -> tuple[LocalCloud, str]:
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan(PLAN))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "LAUNCHING", timeout=60)
    return cloud, execution_id


def _envelope(detail_type: str, detail: dict[str, Any], source: str = SOURCE) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-01-01T09:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def test_malformed_events_are_dropped_by_the_handler_they_reach(local_cloud):
    # GIVEN a live execution (wave 1 launching, wave 2 pending)
    cloud, execution_id = _live_execution(local_cloud)
    before, published, calls = ledger_items(cloud), len(cloud.events), start_recovery_calls(cloud)
    results = _record_results(cloud)

    # WHEN each malformed event is published on the bus and delivered
    outcomes, expected = {}, {}
    for case, detail_type, detail, function, named in _malformed(execution_id):
        seen = len(results)
        cloud.publish(detail_type, detail)
        cloud.drain()
        outcomes[case] = [
            (name, result.get("status"), named in result.get("error", "")) for name, _, result in results[seen:]
        ]
        # every function whose rule matches the detail-type rejects it (WaveFailed: ledger and control)
        reached = sorted({r.target for r in ROUTES if detail_type in r.detail_types and r.source == SOURCE})
        expected[case] = [(f, "rejected", True) for f in reached] if function in reached else [
            (function, "rejected", True)]

    # THEN each reached its handler once and was rejected, and nothing else happened
    assert outcomes == expected
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + len(expected)  # only the malformed events themselves
    assert start_recovery_calls(cloud) == calls
    assert not cloud.lambdas.errors
    assert_choreography_invariants(cloud, execution_id)

    # AND the execution carries on undisturbed
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"


def test_a_malformed_start_plan_is_refused_without_creating_anything(local_cloud):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)
    results = _record_results(cloud)

    # WHEN StartPlans with an extra field, and with a plan that is not an object, arrive
    cloud.publish("StartPlan", {"plan": PLAN, "executionId": "extra-field", "bogus": 1})
    cloud.publish("StartPlan", {"plan": "not a plan", "executionId": "plan-not-object"})
    cloud.drain()

    # THEN both are rejected (InvalidEvents) and announced with a PlanFailed; nothing is created or launched
    assert [(name, result["status"]) for name, _, result in results] == [("start_plan", "rejected")] * 2
    for refused in ("extra-field", "plan-not-object"):
        assert len(events_of(cloud, "PlanFailed", refused)) == 1
        assert execution(cloud, refused) is None
    assert ledger_items(cloud) == before
    assert start_recovery_calls(cloud) == calls
    assert_choreography_invariants(cloud, execution_id)


def test_unknown_detail_types_are_rejected_by_every_handler_and_routed_nowhere(local_cloud):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, published, delivered = ledger_items(cloud), len(cloud.events), dict(cloud.stats.delivered)

    # WHEN an event of an unknown detail-type is published on the bus
    cloud.publish("NoSuchEvent", {"executionId": execution_id, "planId": "bad", "waveId": "w1"})
    cloud.drain()

    # THEN no rule routes it anywhere
    assert cloud.stats.delivered == delivered

    # WHEN every event handler is invoked with it directly
    rejected = {}
    for name in sorted(set(FUNCTIONS) - {"launch_wave"}):  # launch_wave is a state machine task, not an event target
        result = cloud.lambdas.invoke(name, _envelope("NoSuchEvent", {"executionId": execution_id}))
        rejected[name] = (result["status"], "does not handle" in result["error"])

    # THEN each rejects it, and nothing changed
    assert rejected == dict.fromkeys(rejected, ("rejected", True))
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + 1
    assert_choreography_invariants(cloud, execution_id)


def _publish_launch_result(cloud: LocalCloud, detail: dict[str, Any]) -> None:
    cloud.events_client.put_events(
        Entries=[
            {
                "Source": DRS_SOURCE,
                "DetailType": DRS_LAUNCH_RESULT,
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
        ]
    )


@pytest.mark.parametrize(
    "details",
    [
        pytest.param(
            [
                {"state": "RECOVERY_LAUNCH_SUCCEEDED"},
                {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": 42},
                {"state": "RECOVERY_LAUNCH_FAILED", "job-id": "drsjob-00000000000000009"},
            ],
            id="no-job-id,job-id-not-a-string,unknown-job",
        ),
        pytest.param(
            [{"state": "RECOVERY_LAUNCH_FAILED", "job-id": "drsjob-x"}],
            id="malformed-job-id",
        ),
    ],
)
def test_a_drs_launch_result_naming_no_job_of_ours_is_dropped(local_cloud, details):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, published = ledger_items(cloud), len(cloud.events)
    results = _record_results(cloud)

    # WHEN aws.drs Launch Result events that name no job of ours reach the default bus
    for detail in details:
        _publish_launch_result(cloud, detail)
    cloud.drain()

    # THEN the job watcher drops each without an error (no retry, no dead letter), and nothing changed
    assert [name for name, _, _ in results] == ["job_watcher"] * len(details)
    assert cloud.stats.handler_errors == 0
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + len(details)
    assert_choreography_invariants(cloud, execution_id)


def test_a_malformed_pre_launch_done_ends_the_launch_execution_without_launching(local_cloud):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)

    # WHEN a PreLaunchDone without executionId (the wave-launch state machine's trigger) arrives
    cloud.publish("PreLaunchDone", {"planId": "bad", "waveId": "w2"})
    cloud.drain()  # raises when a wave-launch execution fails

    # THEN it is dropped: the execution succeeds without launching or writing anything
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == before
    assert_choreography_invariants(cloud, execution_id)
