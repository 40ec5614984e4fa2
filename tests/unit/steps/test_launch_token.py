"""The launch token of a wave attempt (orchestrator/steps/launch_wave.py `prepare`, launch_checks.check_chunk):
written with LAUNCHING, the same for every delivery of the attempt's PreLaunchDone, new for a retried attempt;
a chunk of an earlier attempt (whose token the retry cleared) records nothing (issue #13 item 3)."""

from __future__ import annotations

from typing import Any

from events.models import DRSJobCompleted, RetryWave, ServerLaunch
from orchestrator.steps.control import decide, retry_wave
from orchestrator.steps.launch_wave import chunk_failed, prepare, start_job
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, World, plan, pre_launched, wave


def _items(world: World) -> list[dict[str, Any]]:
    items = world.ledger._table.scan(ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"], item["sk"]))


def test_a_redelivered_pre_launch_done_carries_the_token_the_first_delivery_wrote(world: World) -> None:
    # GIVEN a pre-launched wave
    done = pre_launched(world, plan(wave("db", S1)), "db")
    # WHEN its PreLaunchDone is prepared twice (a redelivery: the state machine runs again)
    [first] = prepare(world.rt, done, "pld-1")["chunks"]
    [again] = prepare(world.rt, done, "pld-1")["chunks"]
    # THEN both chunks carry the token written on the wave with LAUNCHING
    token = world.ledger.wave("e1", "db").launch_token
    assert token is not None
    assert first.launch_token == again.launch_token == token


def test_a_retry_clears_the_token_and_a_chunk_failed_of_the_earlier_attempt_writes_nothing(world: World) -> None:
    # GIVEN a wave whose attempt 1 launched and failed (S1 did not launch), retried by an operator
    done = pre_launched(world, plan(wave("db", S1)), "db")
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    job = str(start_job(world.rt, chunk)["jobId"])
    world.drs.finish_job(job, {S1: "FAILED"})
    failed = ServerLaunch(source_server_id=S1, launch_status="FAILED", reason="LAUNCH_FAILED: x")
    on_job_completed(
        world.rt, DRSJobCompleted(execution_id="e1", plan_id="p", wave_id="db", job_id=job, servers=[failed]), "jc-1"
    )
    decide(world.rt, RetryWave(execution_id="e1", wave_id="db", requested_by="ops"), "retry-1", retry_wave)
    assert world.ledger.wave("e1", "db").launch_token is None
    world.bus.published.clear()
    before = _items(world)
    # WHEN attempt 1's chunk is reported failed (its state machine's late ChunkFailed)
    answer = chunk_failed(world.rt, chunk, {"Error": "DrsPermanentError", "Cause": "late"})
    # THEN it is dropped: nothing written on the wave's attempt 2, nothing published
    assert answer["outcome"] == "DROPPED"
    assert _items(world) == before
    assert world.bus.published == []
