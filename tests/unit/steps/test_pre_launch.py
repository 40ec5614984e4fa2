"""WaveReady (orchestrator/steps/pre_launch.py) against fakes: READY -> PRE_LAUNCH, the pre-launch scripts."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import PreLaunchDone, WaveReady
from orchestrator.adapters.drs import DrsThrottled
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import S1, S2, World, plan, wave

FENCE = {
    "type": "SSM_DOCUMENT",
    "documentName": "Fence",
    "targets": {"instanceIds": ["i-00000000000000001"]},
}


def _ready(wave_id: str = "db") -> WaveReady:
    return WaveReady(execution_id="e1", plan_id="p", wave_id=wave_id)


def test_a_ready_wave_without_scripts_goes_to_pre_launch_and_is_done_at_once(world: World) -> None:
    # GIVEN a started plan whose root wave has no pre-launch script
    world.start(plan(wave("db", S1), wave("app", S2, dependsOn=["db"])))
    # WHEN its WaveReady arrives
    on_wave_ready(world.rt, _ready(), "wr-1")
    # THEN the wave is PRE_LAUNCH and PreLaunchDone goes out, with no script
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.bus.published == [PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db")]
    assert world.ssm.sent == []


def test_a_pre_launch_script_is_sent_once_however_often_wave_ready_arrives(world: World) -> None:
    # GIVEN a wave with one pre-launch script on a fixed instance, whose command is still running
    world.ssm.add_document("Fence")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    world.start(plan(wave("db", S1, preLaunch=[FENCE])))
    # WHEN the same WaveReady is delivered twice, then a second copy with another id
    on_wave_ready(world.rt, _ready(), "wr-1")
    on_wave_ready(world.rt, _ready(), "wr-1")
    on_wave_ready(world.rt, _ready(), "wr-2")
    # THEN one SendCommand went out, to that instance, and the phase is not done yet
    assert [(s["document"], s["instance_ids"]) for s in world.ssm.sent] == [("Fence", ["i-00000000000000001"])]
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.published(PreLaunchDone) == []


def test_a_failing_required_pre_launch_script_fails_the_wave(world: World) -> None:
    # GIVEN a wave whose required pre-launch script names a document that existed when the plan started (its
    # parameters were checked then) and has been deleted since
    world.ssm.add_document("Missing")
    world.start(plan(wave("db", S1, preLaunch=[{**FENCE, "documentName": "Missing"}])))
    del world.ssm.documents["Missing"]
    # WHEN its WaveReady arrives
    on_wave_ready(world.rt, _ready(), "wr-1")
    # THEN the wave failed before any launch, and nothing was sent or launched
    assert world.wave_status("e1", "db") == "FAILED"
    assert world.ssm.sent == []
    assert world.drs.started == []
    assert world.bus.types() == ["WaveFailed"]
    assert "Missing" in world.bus.published[0].reason


def test_drs_throttling_the_preflight_leaves_the_wave_ready_for_the_redelivery(world: World) -> None:
    # GIVEN a started plan, and DRS throttling DescribeSourceServers once
    world.start(plan(wave("db", S1)))
    world.drs.fail("describe_source_servers", DrsThrottled("ThrottlingException: slow down", "ThrottlingException"))
    # WHEN WaveReady arrives, fails, and is redelivered
    with pytest.raises(DrsThrottled):
        on_wave_ready(world.rt, _ready(), "wr-1")
    assert world.wave_status("e1", "db") == "READY"
    on_wave_ready(world.rt, _ready(), "wr-1")
    # THEN the redelivery passes the preflight and the wave goes on
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.bus.types() == ["PreLaunchDone"]


def test_wave_ready_for_a_paused_execution_holds_the_wave(world: World) -> None:
    # GIVEN a started plan, paused
    from events.models import PausePlan
    from orchestrator.steps.control import pause_plan

    world.start(plan(wave("db", S1)))
    pause_plan(world.rt, PausePlan(execution_id="e1"), "pause-1")
    world.bus.published.clear()
    # WHEN its WaveReady arrives
    on_wave_ready(world.rt, _ready(), "wr-1")
    # THEN the wave stays READY and nothing is published
    assert world.wave_status("e1", "db") == "READY"
    assert world.bus.published == []


class _CountedReads:
    """The ledger's table, noting the sort key of every item read (GetItem) and every Query."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def get_item(self, **request: Any) -> Any:
        self.reads.append(request["Key"]["sk"])
        return self._table.get_item(**request)

    def query(self, **request: Any) -> Any:
        self.reads.append("Query")
        return self._table.query(**request)


def test_a_wave_ready_reads_the_execution_and_the_wave_once(world: World) -> None:
    # GIVEN a gated wave granted, failed by its preflight (S2 stalled), repaired and retried: attempt 2 is READY
    from events.models import ApprovalGranted, RetryWave
    from orchestrator.steps.control import grant_approval, retry_wave

    world.drs.add_source_server(S2, replication="STALLED")
    world.start(
        plan(wave("db", S1, S2, approval={"required": True, "approvers": ["arn:aws:iam::123456789012:role/DROps"]}))
    )
    on_wave_ready(world.rt, _ready(), "wr-1")
    grant_approval(
        world.rt,
        ApprovalGranted(
            execution_id="e1", wave_id="db", requested_by="arn:aws:sts::123456789012:assumed-role/DROps/ops"
        ),
        "grant-1",
    )
    on_wave_ready(world.rt, _ready(), "wr-2")
    assert world.wave_status("e1", "db") == "FAILED"
    world.drs.add_source_server(S2)
    retry_wave(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1")
    [again] = [w for w in world.published(WaveReady) if w.attempt == 2]
    world.bus.published.clear()
    counted = _CountedReads(world.ledger._table)
    world.ledger._table = counted
    # WHEN its WaveReady passes the approval gate (granted before), the preflight (of the retried servers)
    # and goes to pre-launch
    on_wave_ready(world.rt, again, "wr-3")
    # THEN the execution and the wave were each read once, and the wave went on
    assert counted.reads == ["#EXECUTION", "WAVE#db"]
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.bus.published == [PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db", attempt=2)]


def _retried_after_failed_preflight(world: World) -> None:
    """Plan of one wave db whose attempt 1 failed its preflight (S1 stalled), S1 repaired and db retried: db is
    READY for attempt 2 and its WaveReady (attempt 2) is out; the bus is emptied."""
    from events.models import RetryWave
    from orchestrator.steps.control import decide, retry_wave

    world.drs.add_source_server(S1, replication="STALLED")
    world.start(plan(wave("db", S1)))
    on_wave_ready(world.rt, _ready(), "wr-1")
    assert world.wave_status("e1", "db") == "FAILED"
    world.drs.add_source_server(S1)
    decide(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1", retry_wave)
    world.bus.published.clear()


def test_a_late_copy_of_the_first_attempts_wave_ready_does_not_start_the_retried_wave(world: World) -> None:
    # GIVEN a wave retried after its first attempt failed
    _retried_after_failed_preflight(world)
    # WHEN a late copy of attempt 1's WaveReady arrives (EventBridge delivers at least once), then attempt 2's
    on_wave_ready(world.rt, _ready(), "wr-1-copy")
    held = (world.wave_status("e1", "db"), list(world.bus.published))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db", attempt=2), "wr-2")
    # THEN the copy changed nothing, and attempt 2's WaveReady starts attempt 2 (which a copy that had moved the
    # wave to PRE_LAUNCH as attempt 1 would have wedged: its PreLaunchDone is stale for attempt 2)
    assert held == ("READY", [])
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"
    assert world.bus.published == [PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db", attempt=2)]


def test_a_wave_ready_for_an_attempt_the_wave_has_not_reached_changes_nothing(world: World) -> None:
    # GIVEN a started plan whose root wave is READY for attempt 1
    world.start(plan(wave("db", S1)))
    # WHEN a WaveReady names attempt 3
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db", attempt=3), "wr-9")
    # THEN the wave stays READY and nothing is published
    assert world.wave_status("e1", "db") == "READY"
    assert world.bus.published == []
