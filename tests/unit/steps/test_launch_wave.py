"""The wave launch state machine's tasks (orchestrator/steps/launch_wave.py) against a fake DRS."""

from __future__ import annotations

import json

import pytest

from events.models import DRSJobCompleted, DRSJobStarted
from orchestrator.adapters.drs import TAG_LAUNCH_KEY, DrsConflict, DrsPermanentError, DrsThrottled
from orchestrator.steps.launch_wave import (
    chunk_failed,
    chunk_from_input,
    launch_key,
    prepare,
    start_job,
    task_output,
)
from tests.unit.steps.world import S1, S2, S3, World, plan, pre_launched, wave


def test_prepare_cuts_the_wave_into_jobs_and_start_job_starts_each_once(world: World) -> None:
    # GIVEN a pre-launched wave of three servers, and DRS jobs of at most two servers
    world.configure(drs_servers_per_job=2)
    done = pre_launched(world, plan(wave("db", S1, S2, S3)), "db")
    # WHEN the wave is prepared and each chunk started twice (a state machine retry)
    prepared = prepare(world.rt, done, "pld-1")
    results = [start_job(world.rt, chunk) for chunk in prepared["chunks"] for _ in range(2)]
    # THEN two chunks, two StartRecovery calls (drills, tagged with their launch key), each started once
    assert [len(c.servers) for c in prepared["chunks"]] == [2, 1]
    assert world.wave_status("e1", "db") == "LAUNCHING"
    keys = [launch_key("e1", "db", 1, 0), launch_key("e1", "db", 1, 1)]
    assert [(s["is_drill"], s["tags"][TAG_LAUNCH_KEY]) for s in world.drs.started] == [(True, keys[0]), (True, keys[1])]
    assert [r["outcome"] for r in results] == ["STARTED"] * 4
    assert [r["jobId"] for r in results] == ["drsjob-00000000000000001"] * 2 + ["drsjob-00000000000000002"] * 2
    # AND each job is announced (a retry announces the same job again, never a second one)
    assert {(e.job_id, tuple(e.source_server_ids)) for e in world.published(DRSJobStarted)} == {
        ("drsjob-00000000000000001", (S1, S2)),
        ("drsjob-00000000000000002", (S3,)),
    }


def test_a_duplicate_pre_launch_done_prepares_nothing(world: World) -> None:
    # GIVEN a wave already prepared by one PreLaunchDone
    done = pre_launched(world, plan(wave("db", S1)), "db")
    prepare(world.rt, done, "pld-1")
    # WHEN another copy of the event (another id) arrives
    again = prepare(world.rt, done, "pld-2")
    # THEN it launches nothing
    assert again == {"proceed": False, "reason": "duplicate or stale PreLaunchDone", "chunks": []}


def test_drs_throttling_start_recovery_asks_for_a_wait_then_starts_once(world: World) -> None:
    # GIVEN a prepared wave and DRS throttling the first StartRecovery
    done = pre_launched(world, plan(wave("db", S1)), "db")
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    world.drs.fail("start_recovery", DrsThrottled("ThrottlingException: rate", "ThrottlingException", retry_after=7))
    # WHEN the chunk is started, then started again with the chunk the state machine got back
    first = start_job(world.rt, chunk)
    second = start_job(world.rt, first["chunk"])
    # THEN the first answer is a Wait of at least DRS's retryAfterSeconds, and the retry starts one job
    assert first["outcome"] == "RETRY"
    assert 7 <= first["waitSeconds"] <= 60
    assert first["chunk"].tries == 1
    assert second["outcome"] == "STARTED"
    assert len(world.drs.started) == 1


def test_a_conflict_for_a_job_already_started_by_a_crashed_call_adopts_that_job(world: World) -> None:
    # GIVEN a prepared wave whose job DRS already started (a call died before recording it)
    done = pre_launched(world, plan(wave("db", S1)), "db")
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    job = world.drs.start_recovery(chunk.source_servers(), is_drill=True, tags={TAG_LAUNCH_KEY: chunk.launch_key})
    world.drs.fail("start_recovery", DrsConflict("ConflictException: busy", "ConflictException"))
    # WHEN the chunk is started and DRS answers ConflictException
    result = start_job(world.rt, chunk)
    # THEN the existing job is followed, not a second one started
    assert result["outcome"] == "STARTED"
    assert result["jobId"] == job["jobID"]
    assert len(world.drs.jobs) == 1


def test_a_permanent_drs_error_fails_the_chunk_with_the_reason(world: World) -> None:
    # GIVEN a prepared wave and DRS refusing its StartRecovery for good
    done = pre_launched(world, plan(wave("db", S1)), "db")
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    world.drs.fail("start_recovery", DrsPermanentError("ValidationException: bad", "ValidationException"))
    # WHEN the chunk is started (the error goes to the state machine), which then reports it failed
    with pytest.raises(DrsPermanentError):
        start_job(world.rt, chunk)
    error = {"Error": "DrsPermanentError", "Cause": '{"errorMessage": "ValidationException: bad"}'}
    result = chunk_failed(world.rt, chunk, error)
    # THEN the chunk's servers end FAILED with DRS's message, in one DRSJobCompleted
    assert result["outcome"] == "FAILED"
    [completed] = world.published(DRSJobCompleted)
    assert [(s.source_server_id, s.launch_status, s.reason) for s in completed.servers] == [
        (S1, "FAILED", "DrsPermanentError: ValidationException: bad")
    ]
    assert world.drs.started == []


def test_the_state_machine_carries_each_chunk_as_the_json_it_always_had(world: World) -> None:
    # GIVEN a pre-launched wave of two servers, and DRS throttling the first StartRecovery
    done = pre_launched(world, plan(wave("db", S1, S2)), "db")
    world.drs.fail("start_recovery", DrsThrottled("ThrottlingException: rate", "ThrottlingException", retry_after=3))
    # WHEN the tasks' answers go to the state machine (the handler's JSON), and its chunk comes back
    prepared = task_output(prepare(world.rt, done, "pld-1"))
    retry = task_output(start_job(world.rt, chunk_from_input(prepared["chunks"][0])))
    # THEN each chunk is the JSON infra/wave_launch.asl.json passes on, with the launch token written on the
    # wave; the retry's has its tries
    token = world.ledger.get_wave("e1", "db")["launchToken"]
    assert len(token) == 22  # secrets.token_urlsafe(16): 128 random bits
    assert prepared["chunks"] == [
        {
            "executionId": "e1",
            "planId": "p",
            "waveId": "db",
            "attempt": 1,
            "index": 0,
            "isDrill": True,
            "launchKey": launch_key("e1", "db", 1, 0),
            "launchToken": token,
            "servers": [{"sourceServerID": S1}, {"sourceServerID": S2}],
        }
    ]
    assert retry["outcome"] == "RETRY"
    assert retry["chunk"] == {**prepared["chunks"][0], "tries": 1}
    assert json.loads(json.dumps(retry)) == retry


def test_an_optional_server_the_preflight_left_out_is_not_launched(world: World) -> None:
    # GIVEN a wave whose OPTIONAL server is pinned to a snapshot DRS does not have (the preflight leaves it out)
    pinned = {"sourceServerID": S2, "criticality": "OPTIONAL", "recoverySnapshotID": "pit-00000000000000009"}
    done = pre_launched(world, plan(wave("db", S1, pinned)), "db")
    # WHEN the wave is prepared and its chunk started
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    start_job(world.rt, chunk)
    # THEN only the other server is launched
    assert chunk.server_ids == [S1]
    assert [s["servers"] for s in world.drs.started] == [[{"sourceServerID": S1}]]
