"""Chaos: late and stale copies of the choreography's own events (a redelivery hours later, an operator
re-publishing from the archive by hand) change nothing and launch nothing."""

from __future__ import annotations

import pytest

from localcloud.cloud import Stalled
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import (
    assert_choreography_invariants,
    events_of,
    execution,
    ledger_items,
    sid,
    start_recovery_calls,
    wave,
)

ZERO_DRS = {"drs.launchSeconds": {"min": 0, "max": 0}}


def _finished_two_wave_run(local_cloud):
    cloud = local_cloud(**ZERO_DRS)
    plan = parse_plan({"planId": "stale", "waves": [wave("w1", [sid("a", 1)]), wave("w2", [sid("a", 2)], ["w1"])]})
    result = run_plan(cloud, plan, timeout=60)
    assert result.status == "COMPLETED"
    return cloud, result.execution_id


def test_stale_copies_of_every_event_of_a_finished_execution_change_nothing(local_cloud):
    # GIVEN a finished execution
    cloud, execution_id = _finished_two_wave_run(local_cloud)
    before = ledger_items(cloud)
    calls = start_recovery_calls(cloud)
    published = [e for e in cloud.events if e.source == "drs.orchestrator" and e.detail_type != "PreLaunchDone"]

    # WHEN a new copy of each of its events (but PreLaunchDone, see below) is published and delivered,
    # and the clock then runs until nothing is left to do
    for event in published:
        cloud.publish(event.detail_type, event.detail)
    cloud.drain()
    with pytest.raises(Stalled):
        cloud.run_until(lambda: False, timeout=30)

    # THEN nothing was launched or written
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == before
    assert execution(cloud, execution_id)["status"] == "COMPLETED"
    # the original PlanCompleted and the copy the test published: the plan did not close again
    assert_choreography_invariants(cloud, execution_id, closing_events=2)


def test_a_stale_pre_launch_done_ends_its_launch_execution_cleanly(local_cloud):
    # GIVEN a finished execution
    cloud, execution_id = _finished_two_wave_run(local_cloud)
    before = ledger_items(cloud)
    calls = start_recovery_calls(cloud)
    stale = events_of(cloud, "PreLaunchDone", execution_id, "w2")[0]

    # WHEN a copy of a wave's PreLaunchDone arrives again (as when WaveReady is redelivered: the pre-launch
    # phase announces itself again under a new event id)
    cloud.publish(stale.detail_type, stale.detail)
    cloud.drain()  # raises when a wave-launch execution fails

    # THEN the launch execution finds the launch taken and succeeds without launching
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == before
    assert_choreography_invariants(cloud, execution_id)
