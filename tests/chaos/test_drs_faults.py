"""Chaos: DRS faults and launcher crashes at every point of a launch. Each launch is admitted, claimed in
the ledger and tagged with its launch key before StartRecovery, so whatever dies and whatever is retried
or delivered twice, every server launches exactly once and the plan still completes."""

from __future__ import annotations

from typing import Any

import pytest

from infra.definitions import STATE_MACHINE
from localcloud.cloud import CrashInjected, LocalCloud
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, start_recovery_calls, wave


@pytest.fixture
def faults() -> dict[str, Any]:
    """Small DRS jobs (5 servers at most), so a few servers make several jobs."""
    return {"drs.quotas": {"serversPerJob": 5, "concurrentJobs": 20, "serversInAllJobs": 500}}


def _plan(plan_id: str = "faults") -> Any:
    return parse_plan(
        {
            "planId": plan_id,
            "waves": [
                wave("db", [sid("d", n) for n in range(8)]),  # two DRS jobs
                wave("app", [sid("a", n) for n in range(3)], ["db"]),
            ],
        }
    )


def _assert_each_server_launched_once(cloud: LocalCloud, expected: int = 11) -> None:
    launches = cloud.drs.stats.launches
    assert len(launches) == expected
    assert set(launches.values()) == {1}


PACKING = pytest.mark.parametrize("packing", [True, False], ids=["packed", "unpacked"])


def _handler_errors(cloud: LocalCloud, packing: bool) -> int:
    """Crashes the platform redelivered: packed, every StartRecovery is the packer's (a CapacityTick: a failed
    delivery, retried); unpacked, the wave launch state machine retries its own task (no handler error)."""
    return cloud.stats.crashes_injected if packing else 0


@PACKING
def test_a_crash_after_every_first_start_recovery_never_launches_twice(local_cloud, packing):
    # GIVEN the launch function dies right after DRS accepted each job, before the ledger knows it
    cloud = local_cloud(**{"faults.crashAfterStartRecovery": 1.0, "packing.enabled": packing})

    # WHEN a plan of three jobs runs
    result = run_plan(cloud, _plan(), timeout=120)

    # THEN every retry found the job its crashed attempt started (DescribeJobs by launch-key tag)
    assert result.status == "COMPLETED"
    assert cloud.stats.crashes_injected == 3
    assert start_recovery_calls(cloud) == 3
    _assert_each_server_launched_once(cloud)
    assert_choreography_invariants(cloud, result.execution_id, handler_errors=_handler_errors(cloud, packing))


def _crash_once(target: Any, name: str, cloud: LocalCloud, *, after: bool, when: Any = None) -> list[int]:
    """Make `target.name` raise CrashInjected once (before or after doing its work)."""
    original = getattr(target, name)
    crashed: list[int] = []

    def crashing(*args: Any, **kwargs: Any) -> Any:
        hit = not crashed and (when is None or when(*args, **kwargs))
        if hit and not after:
            crashed.append(1)
            cloud.stats.crashes_injected += 1
            raise CrashInjected(f"injected: died before {name}")
        result = original(*args, **kwargs)
        if hit:
            crashed.append(1)
            cloud.stats.crashes_injected += 1
            raise CrashInjected(f"injected: died after {name}")
        return result

    setattr(target, name, crashing)
    return crashed


@pytest.mark.parametrize(
    "point",
    [
        "after-claim",
        "before-start-recovery",
        "after-launch-recorded",
        "after-job-recorded-on-wave",
        "after-job-started-published",
    ],
)
@PACKING
def test_a_crash_at_any_point_of_a_launch_launches_each_server_once(local_cloud, point, packing):
    # GIVEN the launch function dies once at `point` (packed: the packer's CapacityTick; unpacked: the state machine)
    cloud = local_cloud(**{"packing.enabled": packing})
    rt = cloud.runtime
    assert rt is not None
    if point == "after-claim":
        crashed = _crash_once(rt.ledger, "claim_launch", cloud, after=True)
    elif point == "before-start-recovery":
        crashed = _crash_once(rt.drs, "start_recovery", cloud, after=False)
    elif point == "after-launch-recorded":
        crashed = _crash_once(rt.ledger, "complete_launch", cloud, after=True)
    elif point == "after-job-recorded-on-wave":
        crashed = _crash_once(rt.ledger, "add_job", cloud, after=True)
    else:
        crashed = _crash_once(
            rt.bus,
            "publish",
            cloud,
            after=True,
            when=lambda *events: any(e.DETAIL_TYPE == "DRSJobStarted" for e in events),
        )

    # WHEN the plan runs (the state machine retries the crashed task)
    result = run_plan(cloud, _plan(point), timeout=120)

    # THEN it completed with each server launched once, and the capacity record is balanced again
    assert crashed
    assert result.status == "COMPLETED"
    _assert_each_server_launched_once(cloud)
    assert start_recovery_calls(cloud) == 3
    capacity = rt.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers) == (0, 0)
    # packed, a crash after the claim is the state machine's (StartJob only gathers); every other is the packer's
    crashed_in_tick = packing and point != "after-claim"
    assert_choreography_invariants(
        cloud, result.execution_id, handler_errors=cloud.stats.crashes_injected if crashed_in_tick else 0
    )


def test_a_retried_express_execution_finds_the_jobs_it_already_started(local_cloud):
    # GIVEN every wave launch execution is started twice with the same input (a retried async start)
    cloud = local_cloud()
    invoke = cloud._invoke_target

    def twice(route: Any, event: dict[str, Any]) -> None:
        invoke(route, event)
        if route.target == STATE_MACHINE:
            invoke(route, event)

    cloud._invoke_target = twice  # type: ignore[method-assign]

    # WHEN the plan runs
    result = run_plan(cloud, _plan("retried"), timeout=120)

    # THEN the second execution of each wave recognised the launches as its own and started nothing
    assert result.status == "COMPLETED"
    assert cloud.stats.executions_started == 4
    assert start_recovery_calls(cloud) == 3
    _assert_each_server_launched_once(cloud)
    assert_choreography_invariants(cloud, result.execution_id)


def test_internal_server_errors_are_retried_with_backoff(local_cloud):
    # GIVEN DRS fails the first two StartRecovery calls with InternalServerException
    cloud = local_cloud()
    cloud.drs.inject_error("InternalServerException", operation="StartRecovery", count=2)

    # WHEN the plan runs
    result = run_plan(cloud, _plan("internal"), timeout=120)

    # THEN the launches were retried and each server launched once
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.errors["InternalServerException"] == 2
    assert start_recovery_calls(cloud) == 5
    _assert_each_server_launched_once(cloud)
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_permanent_drs_error_fails_the_wave_at_once_with_its_reason(local_cloud):
    # GIVEN DRS refuses the first StartRecovery as invalid
    cloud = local_cloud()
    cloud.drs.inject_error(
        "ValidationException",
        operation="StartRecovery",
        count=1,
        message="Invalid launch configuration for the source server",
    )

    # WHEN a one-job plan runs
    plan = parse_plan({"planId": "invalid", "waves": [wave("W", [sid("w", 1), sid("w", 2)])]})
    result = run_plan(cloud, plan, timeout=60)

    # THEN nothing was retried, the wave failed naming the error, nothing launched
    assert result.status == "FAILED"
    assert start_recovery_calls(cloud) == 1
    reason = result.report["waves"][0]["reason"]
    assert sid("w", 1) in reason
    failed = events_of(cloud, "WaveFailed", result.execution_id)
    assert "Invalid launch configuration" in failed[0].detail["failedServers"][0]["reason"]
    assert not cloud.drs.stats.launches
    assert_choreography_invariants(cloud, result.execution_id)


def test_drs_quota_refusals_from_jobs_outside_the_orchestrator_park_the_launch(local_cloud):
    # GIVEN DRS says its quotas are used up (by someone else) on the first StartRecovery
    cloud = local_cloud()
    cloud.drs.inject_error("ServiceQuotaExceededException", operation="StartRecovery", count=1)

    # WHEN the plan runs
    result = run_plan(cloud, _plan("outside"), timeout=120)

    # THEN the refused launch waited in the ledger and a capacity tick started it
    assert result.status == "COMPLETED"
    assert start_recovery_calls(cloud) == 4
    _assert_each_server_launched_once(cloud)
    assert cloud.runtime.ledger.parked() == []
    assert_choreography_invariants(cloud, result.execution_id)


@PACKING
def test_a_parked_launch_whose_tick_drs_throttles_stays_parked_and_launches_later(local_cloud, monkeypatch, packing):
    # GIVEN a launch parked by a quota refusal, and DRS throttling a read of the capacity tick that starts it
    # past that read's retries (seed 637 of the campaign: the tick failed the chunk's servers as if DRS had
    # refused them for good)
    from orchestrator.adapters.drs import DrsThrottled
    from orchestrator.steps import capacity

    cloud = local_cloud(**{"packing.enabled": packing})
    cloud.drs.inject_error("ServiceQuotaExceededException", operation="StartRecovery", count=1)
    admit = capacity.admit
    throttled: list[str] = []

    def throttled_once_from_the_queue(rt: Any, key: str, servers: int, **kwargs: Any) -> Any:
        if not kwargs.get("behind_queue", True) and not throttled:
            throttled.append(key)
            raise DrsThrottled("Rate exceeded", code="ThrottlingException")
        return admit(rt, key, servers, **kwargs)

    monkeypatch.setattr(capacity, "admit", throttled_once_from_the_queue)

    # WHEN the plan runs
    result = run_plan(cloud, _plan("tick-throttled"), timeout=120)

    # THEN the throttled tick left the launch parked, a later tick started it, and every server launched once
    assert len(throttled) == 1
    assert result.status == "COMPLETED"
    _assert_each_server_launched_once(cloud)
    assert cloud.runtime.ledger.parked() == []
    assert_choreography_invariants(cloud, result.execution_id)


def test_throttling_and_duplicate_deliveries_together_still_launch_each_server_once(local_cloud):
    # GIVEN DRS throttles 30 % of all calls and half of all events arrive twice
    cloud = local_cloud(**{"drs.throttleRate": 0.3, "faults.duplicateDelivery": 0.5, "seed": 4})

    # WHEN the plan runs
    result = run_plan(cloud, _plan("storm"), timeout=120)

    # THEN it completes with each server launched once
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.errors["ThrottlingException"] > 0
    _assert_each_server_launched_once(cloud)
