"""The launch packer (orchestrator/steps/packer.py, issue #19): chunks of several waves and executions share DRS jobs,
each wave judged from its own servers, exactly once through duplicates and crashes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from events.models import CapacityTick, DRSJobCompleted, DRSJobStarted, PreLaunchDone, WaveReady
from orchestrator.adapters.drs import TAG_LAUNCH_KEY, DrsPermanentError, DrsThrottled
from orchestrator.domain.records.launches import LaunchChunk
from orchestrator.steps import packer
from orchestrator.steps.job_watcher import on_launch_result, poll_wave
from orchestrator.steps.launch_wave import drain, prepare, start_job
from orchestrator.steps.post_launch import on_job_completed
from orchestrator.steps.pre_launch import on_wave_ready
from tests.unit.steps.world import World, plan, server_id, wave

WINDOW = 5


@pytest.fixture
def packing(world: World) -> World:
    world.configure(drs_packing=True, drs_packing_window_seconds=WINDOW, drs_packing_starvation_seconds=600)
    return world


def ready(world: World, execution_id: str, document: dict[str, Any], wave_id: str) -> list[LaunchChunk]:
    """Start `document` as `execution_id`, take `wave_id` through its pre-launch phase and prepare it: its chunks."""
    for w in document["waves"]:
        for s in w["servers"]:
            if s not in world.drs.source_servers:
                world.drs.add_source_server(s)
    world.start(document, execution_id=execution_id)
    on_wave_ready(world.rt, WaveReady(execution_id=execution_id, plan_id=document["planId"], wave_id=wave_id), "wr")
    [done] = [e for e in world.bus.of(PreLaunchDone) if e.execution_id == execution_id]
    world.bus.published.clear()
    return list(prepare(world.rt, done, f"pld-{execution_id}")["chunks"])


def servers(first: int, count: int) -> list[str]:
    return [server_id(n) for n in range(first, first + count)]


def two_plans(world: World, *, size: int = 5) -> tuple[list[LaunchChunk], list[LaunchChunk]]:
    a = ready(world, "e1", plan(wave("db", *servers(1, size)), plan_id="pa"), "db")
    b = ready(world, "e2", plan(wave("web", *servers(101, size)), plan_id="pb"), "web")
    return a, b


def settle(world: World, job_id: str, server_ids: list[str], status: str = "LAUNCHED") -> None:
    """DRS finishes these servers of the job (the job stays running while others launch; COMPLETED when all are)."""
    job = world.drs.jobs[job_id]
    for entry in job["participatingServers"]:
        if entry["sourceServerID"] in server_ids:
            entry["launchStatus"] = status
            if status == "LAUNCHED":
                rid = f"i-{len(world.drs.recovery_instances) + 1:017x}"
                entry["recoveryInstanceID"] = rid
                world.drs.recovery_instances[rid] = {
                    "recoveryInstanceID": rid,
                    "ec2InstanceID": rid,
                    "ec2InstanceState": "RUNNING",
                    "sourceServerID": entry["sourceServerID"],
                    "jobID": job_id,
                    "isDrill": job["isDrill"],
                }
    if all(e["launchStatus"] in ("LAUNCHED", "FAILED") for e in job["participatingServers"]):
        job["status"] = "COMPLETED"


def test_start_job_gathers_the_chunk_and_asks_for_a_tick_at_the_end_of_the_window(packing: World) -> None:
    # GIVEN a wave of five servers ready to launch, packing on
    [chunk] = ready(packing, "e1", plan(wave("db", *servers(1, 5))), "db")
    # WHEN the state machine starts its chunk (and retries it)
    first, again = start_job(packing.rt, chunk), start_job(packing.rt, chunk)
    # THEN nothing is launched yet: the chunk is parked once, and a CapacityTick comes when the window ends
    assert [first["outcome"], again["outcome"]] == ["PARKED", "PARKED"]
    assert packing.drs.started == []
    assert [p.launch_key for p in packing.ledger.parked()] == [chunk.launch_key]
    ticks = [when for when, detail in packing.scheduler.schedules.values() if isinstance(detail, CapacityTick)]
    assert ticks == [packing.clock.now() + timedelta(seconds=WINDOW)]


def test_chunks_of_two_executions_ready_together_share_one_drs_job(packing: World) -> None:
    # GIVEN two plans' waves of five servers each, ready within the window
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    # WHEN the window ends and the CapacityTick comes
    packing.advance(WINDOW)
    answer = drain(packing.rt)
    # THEN one StartRecovery launches all ten servers, tagged with the packed key only
    assert answer["jobs"] == 1
    assert answer["started"] == 2
    [started] = packing.drs.started
    assert len(started["servers"]) == 10
    assert started["tags"][TAG_LAUNCH_KEY].startswith("pk-")
    # AND each wave records the job with its own five servers and the wave it shares it with
    [job_a] = packing.ledger.wave("e1", "db").current.jobs
    [job_b] = packing.ledger.wave("e2", "web").current.jobs
    assert job_a.job_id == job_b.job_id
    assert job_a.server_ids == tuple(servers(1, 5))
    assert job_b.server_ids == tuple(servers(101, 5))
    assert job_a.shared_with == ("e2/web",)
    assert job_b.shared_with == ("e1/db",)
    assert {(e.execution_id, len(e.source_server_ids)) for e in packing.bus.of(DRSJobStarted)} == {("e1", 5), ("e2", 5)}
    # AND the shared capacity counts one job of ten servers
    state = packing.ledger.capacity()
    assert (state.active_jobs, state.active_servers) == (1, 10)
    assert packing.ledger.parked() == []


def test_a_wave_whose_servers_are_done_completes_while_the_other_waves_servers_still_launch(packing: World) -> None:
    # GIVEN two waves sharing one job
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    [job_id] = packing.drs.jobs
    # WHEN DRS has launched the first wave's servers only, and the watcher polls both waves
    settle(packing, job_id, servers(1, 5))
    poll_wave(packing.rt, packing.ledger.wave("e1", "db"), "pa")
    poll_wave(packing.rt, packing.ledger.wave("e2", "web"), "pb")
    # THEN the first wave's end is reported with its own five servers; the second's is not yet
    [completed] = packing.bus.of(DRSJobCompleted)
    assert completed.wave_id == "db"
    assert sorted(s.source_server_id for s in completed.servers) == servers(1, 5)
    on_job_completed(packing.rt, completed, "jc-1")
    assert packing.wave_status("e1", "db") not in ("LAUNCHING",)
    assert packing.wave_status("e2", "web") == "LAUNCHING"
    # AND the job's capacity stays counted until DRS says the whole job ended
    assert packing.ledger.capacity().active_jobs == 1
    settle(packing, job_id, servers(101, 5))
    poll_wave(packing.rt, packing.ledger.wave("e2", "web"), "pb")
    assert packing.ledger.capacity().active_jobs == 0
    assert [e.wave_id for e in packing.bus.of(DRSJobCompleted)] == ["db", "web"]


def test_a_forged_end_naming_the_other_waves_servers_is_refused(packing: World) -> None:
    # GIVEN two waves sharing one job, the first wave's servers launched
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    [job_id] = packing.drs.jobs
    settle(packing, job_id, servers(1, 5))
    # WHEN a DRSJobCompleted for the second wave arrives while its servers still launch
    from events.envelope import InvalidEvent
    from events.models import ServerLaunch

    forged = DRSJobCompleted(
        execution_id="e2",
        plan_id="pb",
        wave_id="web",
        attempt=1,
        job_id=job_id,
        servers=[ServerLaunch(source_server_id=s, launch_status="LAUNCHED") for s in servers(101, 5)],
    )
    # THEN it is refused, nothing recorded
    with pytest.raises(InvalidEvent, match="still launch"):
        on_job_completed(packing.rt, forged, "forged")
    assert packing.wave_status("e2", "web") == "LAUNCHING"


def test_a_launch_result_event_of_a_packed_job_polls_each_of_its_waves(packing: World) -> None:
    # GIVEN two waves sharing a job that DRS has finished
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    [job_id] = packing.drs.jobs
    settle(packing, job_id, [*servers(1, 5), *servers(101, 5)])
    # WHEN a Launch Result event names the job (tagged with the packed key only)
    on_launch_result(packing.rt, {"job-id": job_id})
    # THEN both waves' ends are reported and the capacity is given back
    assert sorted(e.wave_id for e in packing.bus.of(DRSJobCompleted)) == ["db", "web"]
    assert packing.ledger.capacity().active_jobs == 0


def test_a_launch_result_of_a_running_packed_job_reports_the_wave_whose_own_servers_are_done(packing: World) -> None:
    # GIVEN two waves sharing a job in which DRS has launched the first wave's servers only
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    [job_id] = packing.drs.jobs
    settle(packing, job_id, servers(1, 5))
    # WHEN a Launch Result event names the job (still running: the second wave's servers launch)
    on_launch_result(packing.rt, {"job-id": job_id})
    # THEN the first wave's end is reported now (not at the next watcher tick), the second's is not, and the job's
    # capacity stays counted
    assert [e.wave_id for e in packing.bus.of(DRSJobCompleted)] == ["db"]
    assert packing.ledger.capacity().active_jobs == 1
    # AND another server's event reports nothing twice
    on_launch_result(packing.rt, {"job-id": job_id})
    assert [e.wave_id for e in packing.bus.of(DRSJobCompleted)] == ["db"]


def test_a_second_tick_and_a_retried_start_job_launch_nothing_twice(packing: World) -> None:
    # GIVEN two waves packed into one job
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    drain(packing.rt)
    # WHEN the tick is delivered again and the state machine retries a chunk's StartJob
    again = drain(packing.rt)
    retried = start_job(packing.rt, a[0])
    # THEN no second job: the retry answers the job the packer started
    assert again["jobs"] == 0
    assert len(packing.drs.started) == 1
    assert retried == {"outcome": "STARTED", "jobId": next(iter(packing.drs.jobs)), "launchKey": a[0].launch_key}
    assert packing.ledger.parked() == []


def test_a_packer_that_died_after_start_recovery_is_finished_by_the_next_one(
    packing: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two gathered chunks, and a packer that dies right after DRS created their job (the Lambda timed out)
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    real_finish = packer.finish

    def die(*_: Any, **__: Any) -> None:
        raise TimeoutError("Task timed out after 60.00 seconds")

    monkeypatch.setattr(packer, "finish", die)
    monkeypatch.setattr(packing.ledger, "release_packer_lock", lambda token: None)  # killed: its finally never ran
    with pytest.raises(TimeoutError):
        drain(packing.rt)
    monkeypatch.setattr(packer, "finish", real_finish)
    monkeypatch.undo()
    # WHEN ticks come while its lock runs, then after it expired
    packing.advance(10)
    locked = drain(packing.rt)
    packing.advance(packer.LOCK_SECONDS)
    recovered = drain(packing.rt)
    # THEN the locked tick does nothing; the next finds the job by its tag and records it: one job, both waves on it
    assert locked["jobs"] == 0
    assert recovered["jobs"] == 1
    assert len(packing.drs.started) == 1
    [job_id] = packing.drs.jobs
    assert [j.job_id for j in packing.ledger.wave("e1", "db").current.jobs] == [job_id]
    assert [j.job_id for j in packing.ledger.wave("e2", "web").current.jobs] == [job_id]
    assert packing.ledger.packings() == []
    assert packing.ledger.parked() == []


def test_a_packer_that_died_before_drs_created_the_job_has_its_chunks_packed_again(
    packing: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a packer that dies inside StartRecovery before DRS created anything
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    monkeypatch.setattr(packing.drs, "start_recovery", lambda *a, **k: (_ for _ in ()).throw(TimeoutError("died")))
    with pytest.raises(TimeoutError):
        drain(packing.rt)
    monkeypatch.undo()
    assert len(packing.ledger.packings()) == 1
    # WHEN the next tick comes
    packing.advance(1)
    answer = drain(packing.rt)
    # THEN the dead packer's job is given back and the chunks are launched in one job, once
    assert answer["jobs"] == 1
    assert len(packing.drs.started) == 1
    assert packing.ledger.capacity().active_jobs == 1
    assert packing.ledger.packings() == []


def test_one_bad_server_fails_only_its_own_chunk(packing: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN two plans gathered into one job, and DRS refusing for good any job holding one server of the second
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    bad = servers(101, 1)[0]
    real = packing.drs.start_recovery

    def refuse_bad(servers_: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
        if any(s["sourceServerID"] == bad for s in servers_):
            raise DrsPermanentError(f"ValidationException: {bad} is not ready", "ValidationException")
        return real(servers_, **kwargs)

    monkeypatch.setattr(packing.drs, "start_recovery", refuse_bad)
    # WHEN the packer starts them
    answer = drain(packing.rt)
    # THEN the first plan's chunk is launched alone; the second's fails with DRS's reason
    assert answer["jobs"] == 1
    assert answer["failed"] == 1
    [started] = packing.drs.started
    assert [s["sourceServerID"] for s in started["servers"]] == servers(1, 5)
    [failed] = packing.bus.of(DRSJobCompleted)
    assert failed.wave_id == "web"
    assert {s.launch_status for s in failed.servers} == {"FAILED"}
    assert "is not ready" in (failed.servers[0].reason or "")
    assert packing.ledger.capacity().active_jobs == 1


def test_drs_throttling_leaves_every_chunk_parked_for_the_next_tick(packing: World) -> None:
    a, b = two_plans(packing)
    for chunk in (*a, *b):
        start_job(packing.rt, chunk)
    packing.advance(WINDOW)
    packing.drs.fail("start_recovery", DrsThrottled("ThrottlingException: rate", "ThrottlingException"))
    first = drain(packing.rt)
    packing.advance(15)
    second = drain(packing.rt)
    assert (first["jobs"], second["jobs"]) == (0, 1)
    assert len(packing.drs.started) == 1
    assert packing.ledger.capacity().active_jobs == 1


def test_when_capacity_is_short_the_higher_priority_plan_goes_first(packing: World) -> None:
    # GIVEN room for one job of five servers, and two plans of equal shape, the second of higher priority
    packing.configure(
        drs_packing=True,
        drs_packing_window_seconds=WINDOW,
        drs_servers_per_job=5,
        drs_concurrent_jobs=1,
    )
    low = ready(packing, "e1", {**plan(wave("db", *servers(1, 5)), plan_id="low")}, "db")
    high = ready(packing, "e2", {**plan(wave("db", *servers(101, 5)), plan_id="high"), "priority": 10}, "db")
    for chunk in (*low, *high):
        start_job(packing.rt, chunk)
    # WHEN the packer runs
    packing.advance(WINDOW)
    drain(packing.rt)
    # THEN the higher priority plan's servers are launched first; the other waits
    [started] = packing.drs.started
    assert [s["sourceServerID"] for s in started["servers"]] == servers(101, 5)
    assert [p.chunk.execution_id for p in packing.ledger.parked()] == ["e1"]


def test_a_chunk_of_a_cancelled_plan_is_not_launched(packing: World) -> None:
    # GIVEN a gathered chunk whose plan is then cancelled
    [chunk] = ready(packing, "e1", plan(wave("db", *servers(1, 3))), "db")
    start_job(packing.rt, chunk)
    packing.ledger.set_execution_status("e1", from_=["RUNNING"], to="STOPPING", key="cancel-1")
    # WHEN the packer runs
    packing.advance(WINDOW)
    answer = drain(packing.rt)
    # THEN nothing is launched: its servers end NOT_STARTED
    assert packing.drs.started == []
    assert answer["dropped"] == 1
    [ended] = packing.bus.of(DRSJobCompleted)
    assert {s.launch_status for s in ended.servers} == {"NOT_STARTED"}
