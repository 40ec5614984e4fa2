"""End to end: a scheduled drill (issue #16 item 5) fires on the simulated clock and runs its stored version.

A plan pushed to the local cloud's plan store as version 1, and a `rate(1 hour)` drill schedule of it (as the
deploy setting `drillSchedules` declares one): one simulated hour later the schedule publishes a DRILL StartPlan
naming `planRef`, whose executionId is the schedule's name and the time it was due, and the drill completes.
Delivered twice, that firing still starts one execution. A cron schedule fires at its next wall-clock time in its
time zone, and its drill cleans up after itself: the schedule's time to live terminates the drill's instances
although the plan sets none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from localcloud.runner import push, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.schedules import parse_schedule
from tests.e2e.helpers import events_of, sid, wave

QUIET = {"drs.launchEvents": "drop", "ssm.events": "drop"}


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    return {"min": 60, "max": 60}


def test_an_hourly_schedule_fires_a_drill_of_the_stored_version_that_completes(local_cloud):
    # GIVEN version 1 of a two-wave plan in the plan store, and an hourly drill schedule of it
    cloud = local_cloud(**QUIET)
    plan = parse_plan(
        {"planId": "payments", "waves": [wave("db", [sid("db", 1)]), wave("app", [sid("app", 1)], ["db"])]}
    )
    assert push(cloud, plan).version == 1
    cloud.drs.ensure_servers(server for w in plan.waves for server in w.server_ids)  # the estate DRS replicates
    created = cloud.clock.now()
    due = cloud.schedule_drill(
        parse_schedule({"name": "payments-hourly", "planId": "payments", "version": 1, "expression": "rate(1 hour)"})
    )
    assert timedelta(minutes=59, seconds=59) < due - created <= timedelta(hours=1)
    execution_id = f"payments-hourly-{due.strftime('%Y-%m-%dT%H:%M:%SZ')}"

    # WHEN the simulated clock runs until that execution ends
    result = wait(cloud, execution_id, timeout=120)

    # THEN the schedule fired once, an hour after it was created, a DRILL of version 1 by reference
    [started] = [e for e in cloud.events if e.detail_type == "StartPlan"]
    assert started.detail == {
        "planRef": {"planId": "payments", "version": 1},
        "mode": "DRILL",
        "executionId": execution_id,
        "requestedBy": "schedule:payments-hourly",
        "drillInstanceTtlSeconds": 14_400,  # the default: a scheduled drill always cleans up after itself
    }
    published = datetime.fromisoformat(started.time)
    assert due <= published < due + timedelta(seconds=1)
    # AND the drill completed, both servers launched as drill instances
    assert result.status == "COMPLETED", result.problem
    assert result.report is not None
    assert result.report["mode"] == "DRILL"
    assert result.report["planRef"]["version"] == 1
    assert [w["status"] for w in result.report["waves"]] == ["COMPLETED", "COMPLETED"]
    assert cloud.drs.stats.calls["StartRecovery"] == 2
    assert [e.detail["executionId"] for e in events_of(cloud, "PlanCompleted", execution_id)] == [execution_id]


def test_a_firing_delivered_twice_starts_one_drill(local_cloud):
    # GIVEN a stored plan and its hourly schedule, fired once
    cloud = local_cloud(**QUIET)
    plan = parse_plan({"planId": "payments", "waves": [wave("db", [sid("db", 1)])]})
    push(cloud, plan)
    cloud.drs.ensure_servers(server for w in plan.waves for server in w.server_ids)
    schedule = parse_schedule({"name": "h", "planId": "payments", "version": 1, "expression": "rate(1 hour)"})
    first = cloud.schedule_drill(schedule)
    due = first.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution_id = f"h-{due}"
    # WHEN Scheduler delivers the same firing again (at-least-once) while the first runs
    cloud.clock.jump_to(first)
    cloud.fire_schedules()
    cloud.publish("StartPlan", schedule.start_plan_detail(due))
    result = wait(cloud, execution_id, timeout=120)
    # THEN one drill ran: its server launched once
    assert result.status == "COMPLETED", result.problem
    assert len([e for e in cloud.events if e.detail_type == "StartPlan"]) == 2
    assert cloud.drs.stats.calls["StartRecovery"] == 1
    assert len(events_of(cloud, "PlanStarted", execution_id)) == 1


def _running_instances(cloud: Any, server_ids: list[str]) -> list[str]:
    assert cloud.runtime is not None
    found = cloud.runtime.drs.describe_recovery_instances(source_server_ids=sorted(server_ids))
    return [i["recoveryInstanceID"] for i in found if i["ec2InstanceState"] == "RUNNING"]


def test_a_cron_schedule_fires_at_its_wall_clock_time_and_its_drill_cleans_up_after_itself(local_cloud):
    # GIVEN a stored plan that sets no time to live, and a weekday 02:30 Paris-time drill schedule of it whose
    # instances live 15 minutes
    cloud = local_cloud(**QUIET)
    servers = [sid("db", 1), sid("db", 2)]
    plan = parse_plan({"planId": "payments", "waves": [wave("db", servers)]})
    assert plan.defaults.drill_instance_ttl_seconds is None
    push(cloud, plan)
    cloud.drs.ensure_servers(servers)
    schedule = parse_schedule(
        {
            "name": "nightly",
            "planId": "payments",
            "version": 1,
            "expression": "cron(30 2 ? * MON-FRI *)",
            "timezone": "Europe/Paris",
            "drillInstanceTtlSeconds": 900,
        }
    )
    now = cloud.clock.now()
    due = cloud.schedule_drill(schedule)

    # THEN it is due at the next weekday 02:30 in Paris, within the coming four days (a weekend in between)
    in_paris = due.astimezone(ZoneInfo("Europe/Paris"))
    assert (in_paris.hour, in_paris.minute, in_paris.second) == (2, 30, 0)
    assert in_paris.isoweekday() <= 5
    assert now < due <= now + timedelta(days=4)
    assert not any(
        now < now + timedelta(minutes=k) < due
        and (t := (now + timedelta(minutes=k)).astimezone(ZoneInfo("Europe/Paris"))).isoweekday() <= 5
        and (t.hour, t.minute) == (2, 30)
        for k in range(1, 4 * 24 * 60)
    ), "an earlier weekday 02:30 in Paris was skipped"
    execution_id = f"nightly-{due.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"

    # WHEN the simulated clock runs until that drill ends, then on until its instances' time to live is over
    result = wait(cloud, execution_id, timeout=120)
    assert result.status == "COMPLETED", result.problem
    [started] = [e for e in cloud.events if e.detail_type == "StartPlan"]
    assert started.detail["drillInstanceTtlSeconds"] == 900
    assert due <= datetime.fromisoformat(started.time) < due + timedelta(seconds=1)
    assert len(_running_instances(cloud, servers)) == 2
    cloud.run_until(lambda: bool(events_of(cloud, "RecoveryInstancesTerminated", execution_id)), timeout=60)

    # THEN the schedule's time to live terminated the drill's instances, 15 minutes after its launch
    [terminated] = events_of(cloud, "RecoveryInstancesTerminated", execution_id)
    assert terminated.detail["reason"] == "TIME_TO_LIVE"
    assert _running_instances(cloud, servers) == []
    # (the time to live counts from the launch, seconds after the drill started)
    started_at = datetime.fromisoformat(started.time)
    assert timedelta(seconds=900) <= datetime.fromisoformat(terminated.time) - started_at < timedelta(seconds=960)
