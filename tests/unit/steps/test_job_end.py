"""A DRSJobCompleted is recorded from DRS (or, for a chunk no DRS job started, from its launch claim), never from
the event (orchestrator/steps/launch_checks.py `check_job_end`, issue #13 item 3)."""

from __future__ import annotations

from typing import Any

import pytest

from events.envelope import InvalidEvent
from events.models import DRSJobCompleted, RetryWave, ServerLaunch
from orchestrator.adapters.drs import DrsPermanentError
from orchestrator.domain.records.servers import ServerLaunchStatus
from orchestrator.steps.control import decide, retry_wave
from orchestrator.steps.launch_wave import chunk_failed, prepare, start_job
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, S2, World, launching, plan, pre_launched, wave


def _items(world: World) -> list[dict[str, Any]]:
    items = world.ledger._table.scan(ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"], item["sk"]))


def _refused(world: World, event: DRSJobCompleted) -> str:
    """What on_job_completed answers an event it must not record; nothing may change."""
    before = _items(world)
    with pytest.raises(InvalidEvent) as refused:
        on_job_completed(world.rt, event, "forged-1")
    assert _items(world) == before
    assert world.bus.published == []
    return str(refused.value).removeprefix("invalid DRSJobCompleted event: ")


def _ended(job: str, *servers: ServerLaunch, attempt: int = 1) -> DRSJobCompleted:
    return DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", attempt=attempt, job_id=job, servers=servers)


def test_an_event_that_is_not_drs_answer_for_the_job_is_refused_naming_the_difference(world: World) -> None:
    # GIVEN a wave whose job DRS ended, launching S1 and failing S2
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.drs.finish_job(job, {S2: "FAILED"})
    rid = world.drs.jobs[job]["participatingServers"][0]["recoveryInstanceID"]
    launched = ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id=rid)
    failed = ServerLaunch(source_server_id=S2, launch_status="FAILED", reason="LAUNCH_FAILED: x")
    # WHEN events differing from DRS's answer arrive
    refused = {
        "a server left out": _refused(world, _ended(job, launched)),
        "another instance": _refused(
            world, _ended(job, launched.model_copy(update={"recovery_instance_id": "i-0000000000000f0ed"}), failed)
        ),
        "a failed server launched": _refused(
            world, _ended(job, launched, failed.model_copy(update={"launch_status": "LAUNCHED", "reason": None}))
        ),
    }
    # THEN each is refused, naming what DRS says
    assert refused == {
        "a server left out": f"detail.servers: not the servers of job '{job}' ({S2})",
        "another instance": f"detail.servers: {S1} LAUNCHED (i-0000000000000f0ed) where job '{job}' has it "
        f"LAUNCHED ({rid})",
        "a failed server launched": f"detail.servers: {S2} LAUNCHED (None) where job '{job}' has it FAILED (None)",
    }
    # AND DRS's own answer is recorded, with the event's reason for the server that did not launch
    on_job_completed(world.rt, _ended(job, launched, failed), "jc-1")
    servers = world.ledger.wave_servers("e1", "db")
    assert [(s.launch_status, s.recovery_instance_id, s.reason) for s in servers.values()] == [
        (ServerLaunchStatus.LAUNCHED, rid, None),
        (ServerLaunchStatus.FAILED, None, "LAUNCH_FAILED: x"),
    ]
    assert world.wave_status("e1", "db") == "FAILED"


def test_a_launch_whose_instance_drs_terminated_since_is_recorded_as_drs_says(world: World) -> None:
    # GIVEN a wave whose job launched S1, whose recovery instance DRS has terminated since (TERMINATED in the job)
    [job] = launching(world, plan(wave("db", S1)))
    world.drs.finish_job(job)
    [server] = world.drs.jobs[job]["participatingServers"]
    server["launchStatus"] = "TERMINATED"
    # WHEN the watcher's report of the launch (made before the termination) arrives
    reported = ServerLaunch(
        source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id=server["recoveryInstanceID"]
    )
    on_job_completed(world.rt, _ended(job, reported), "jc-1")
    # THEN it is the same launch: recorded as DRS says it is now
    [result] = world.ledger.wave_servers("e1", "db").values()
    assert (result.launch_status, result.recovery_instance_id) == (
        ServerLaunchStatus.TERMINATED,
        server["recoveryInstanceID"],
    )


def test_the_end_of_a_chunk_no_drs_job_started_is_its_claims_not_the_events(world: World) -> None:
    # GIVEN a wave whose StartRecovery DRS refused for good: chunk_failed recorded its servers FAILED
    done = pre_launched(world, plan(wave("db", S1)), "db")
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    world.drs.fail("start_recovery", DrsPermanentError("ValidationException: bad", "ValidationException"))
    with pytest.raises(DrsPermanentError):
        start_job(world.rt, chunk)
    chunk_failed(world.rt, chunk, {"Error": "DrsPermanentError", "Cause": "bad"})
    [genuine] = world.bus.of(DRSJobCompleted)
    world.bus.published.clear()
    # WHEN an event for that placeholder job says the server launched
    forged = genuine.model_copy(
        update={
            "servers": [
                ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id="i-0000000000000f0ed")
            ]
        }
    )
    # THEN it is refused; the genuine one records the claim's FAILED and its reason
    assert _refused(world, forged) == (
        f"detail.servers: {S1} LAUNCHED (i-0000000000000f0ed) where job '{genuine.job_id}' has it FAILED (None)"
    )
    on_job_completed(world.rt, genuine, "jc-1")
    [result] = world.ledger.wave_servers("e1", "db").values()
    assert (result.launch_status, result.reason) == (ServerLaunchStatus.FAILED, "DrsPermanentError: bad")
    assert world.wave_status("e1", "db") == "FAILED"


def test_a_late_report_of_a_job_of_an_earlier_attempt_records_nothing_and_is_not_counted_invalid(
    world: World,
) -> None:
    # GIVEN a wave whose attempt 1 failed (S2 did not launch) and that an operator retried
    [job] = launching(world, plan(wave("db", S1, S2)))
    world.drs.finish_job(job, {S2: "FAILED"})
    rid = world.drs.jobs[job]["participatingServers"][0]["recoveryInstanceID"]
    genuine = _ended(
        job,
        ServerLaunch(source_server_id=S1, launch_status="LAUNCHED", recovery_instance_id=rid),
        ServerLaunch(source_server_id=S2, launch_status="FAILED", reason="LAUNCH_FAILED: x"),
    )
    on_job_completed(world.rt, genuine, "jc-1")
    decide(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1", retry_wave)
    world.bus.published.clear()
    before = _items(world)
    # WHEN the report of attempt 1's job comes again (a late redelivery)
    on_job_completed(world.rt, genuine, "jc-2")
    # THEN nothing is recorded (no error: it is genuine, only late), and the same job for attempt 2 is refused
    assert _items(world) == before
    assert world.bus.published == []
    assert _refused(world, genuine.model_copy(update={"attempt": 2})) == (
        f"detail.jobId: no job '{job}' in attempt 2 of the wave"
    )
