"""Functions trust the ledger, not their input (issue #13 item 3): a launch chunk handed to the launch function
directly (orchestrator/steps/launch_checks.py), and internal events whose claims the ledger contradicts
(orchestrator/steps/references.py), change nothing; a script whose document the allow-list no longer allows is
not sent (orchestrator/steps/scripts.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from events.envelope import InvalidEvent
from events.models import Mode, PostLaunchDone, PreLaunchDone, WaveFailed, WaveReady
from orchestrator import observability
from orchestrator.domain.plan import cut_jobs
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.records.launches import LaunchChunk
from orchestrator.domain.status import WaveStatus
from orchestrator.steps.launch_checks import RefusedChunk, job_group
from orchestrator.steps.launch_wave import chunk_failed, chunk_from_input, drain, launch_key, prepare, start_job
from orchestrator.steps.pre_launch import on_wave_ready
from orchestrator.steps.references import check_references
from orchestrator.steps.scripts import on_command_status
from tests.unit.moto_ledger import write_wave_attributes
from tests.unit.steps.world import S1, S2, S3, World, plan, pre_launched, wave

FENCE = {"type": "SSM_DOCUMENT", "documentName": "Fence", "targets": {"instanceIds": ["i-00000000000000001"]}}


def _items(world: World) -> list[dict[str, Any]]:
    """Every item of the ledger, in key order."""
    items = world.ledger._table.scan(ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: (item["pk"], item["sk"]))


def _launching(world: World, document: dict[str, Any], **start: Any) -> LaunchChunk:
    """A started plan whose wave db is LAUNCHING (prepared, no job started): its one chunk (bus emptied)."""
    done = pre_launched(world, document, "db", **start)
    [chunk] = prepare(world.rt, done, "pld-1")["chunks"]
    world.bus.published.clear()
    return chunk


def _forged(chunk: LaunchChunk, **fields: Any) -> dict[str, Any]:
    return {**chunk.payload(), **fields}


def _refused_start(world: World, payload: dict[str, Any]) -> str:
    """What start_job (the state machine's task, called directly) answers a forged chunk; nothing may change."""
    before, scheduled = _items(world), list(world.scheduler.created)
    with pytest.raises(RefusedChunk) as refused:
        start_job(world.rt, chunk_from_input(payload))
    assert world.drs.started == []
    assert world.bus.published == []
    assert world.scheduler.created == scheduled
    assert _items(world) == before
    return str(refused.value)


# ---- the launch chunk ----------------------------------------------------------------------------


def test_the_issues_attack_a_made_up_execution_and_a_non_drill_job_starts_nothing(world: World) -> None:
    # GIVEN a drill whose wave db is launching
    chunk = _launching(world, plan(wave("db", S1)))
    # WHEN the launch function is asked to start a chunk of an execution that does not exist, as a recovery
    forged = _forged(chunk, executionId="exec-forged", isDrill=False)
    # THEN it is refused with the reason, and no StartRecovery, ledger write, event or schedule follows
    assert _refused_start(world, forged) == "refused start_job chunk: chunk.executionId: no execution 'exec-forged'"


def test_a_drill_execution_never_launches_a_recovery_job_and_a_recovery_never_a_drill(world: World) -> None:
    # GIVEN a drill whose wave db is launching
    chunk = _launching(world, plan(wave("db", S1)))
    # WHEN its own chunk comes back saying isDrill: false
    refused = _refused_start(world, _forged(chunk, isDrill=False))
    # THEN it is refused: drill-ness is the execution's mode, not the payload's
    assert refused == "refused start_job chunk: chunk.isDrill: execution 'e1' is a DRILL: isDrill must be true"


def test_a_recovery_chunk_saying_it_is_a_drill_is_refused(world: World) -> None:
    # GIVEN a RECOVERY whose wave db is launching
    chunk = _launching(world, plan(wave("db", S1)), mode=Mode.RECOVERY, confirm_recovery="p")
    assert chunk.is_drill is False
    # WHEN its chunk comes back saying isDrill: true
    refused = _refused_start(world, _forged(chunk, isDrill=True))
    # THEN it is refused
    assert refused == "refused start_job chunk: chunk.isDrill: execution 'e1' is a RECOVERY: isDrill must be false"


def test_a_chunk_naming_what_its_execution_does_not_have_is_refused_with_each_reason(world: World) -> None:
    # GIVEN a drill of plan p whose wave db (S1) is launching and whose wave app (S2) waits for it
    chunk = _launching(world, plan(wave("db", S1), wave("app", S2, dependsOn=["db"])))
    app = launch_key("e1", "app", 1, 0)
    cases = {
        "another plan": _forged(chunk, planId="q"),
        "a wave the plan lacks": _forged(chunk, waveId="web", launchKey=launch_key("e1", "web", 1, 0)),
        "a launch key of its own": _forged(chunk, launchKey="lk-forged"),
        "a server of another wave": _forged(chunk, servers=[{"sourceServerID": S2}]),
        "a server more": _forged(chunk, servers=[{"sourceServerID": S1}, {"sourceServerID": S3}]),
        "a job the wave does not have": _forged(chunk, index=1, launchKey=launch_key("e1", "db", 1, 1)),
        "a snapshot the plan does not give": _forged(
            chunk, servers=[{"sourceServerID": S1, "recoverySnapshotID": "pit-00000000000000009"}]
        ),
        "an attempt not reached": _forged(chunk, attempt=2, launchKey=launch_key("e1", "db", 2, 0)),
        "a wave not launched yet": _forged(chunk, waveId="app", launchKey=app, servers=[{"sourceServerID": S2}]),
    }
    # WHEN each is handed to start_job
    refused = {
        name: _refused_start(world, payload).removeprefix("refused start_job chunk: ")
        for name, payload in cases.items()
    }
    # THEN each is refused, naming what the ledger says
    assert refused == {
        "another plan": "chunk.planId: execution 'e1' runs plan 'p', not 'q'",
        "a wave the plan lacks": "chunk.waveId: the plan of execution 'e1' has no wave 'web'",
        "a launch key of its own": "chunk.launchKey: not the launch key of job 0 of attempt 1",
        "a server of another wave": f"chunk.servers: not the servers of job 0 of wave 'db' ({S1}, {S2})",
        "a server more": f"chunk.servers: not the servers of job 0 of wave 'db' ({S3})",
        "a job the wave does not have": "chunk.index: attempt 1 of wave 'db' has 1 job(s)",
        "a snapshot the plan does not give": f"chunk.servers: a recoverySnapshotID the plan does not give ({S1})",
        "an attempt not reached": "chunk.attempt: wave 'db' has not launched in attempt 2 (it is at attempt 1)",
        "a wave not launched yet": "chunk.attempt: wave 'app' has not launched in attempt 1 (it is PENDING)",
    }
    # AND the genuine chunk still starts its one job afterwards, as a drill
    assert start_job(world.rt, chunk)["outcome"] == "STARTED"
    assert [(s["is_drill"], s["servers"]) for s in world.drs.started] == [(True, [{"sourceServerID": S1}])]


def test_a_payload_that_is_not_a_chunk_is_refused_field_by_field(world: World) -> None:
    # GIVEN a drill whose wave db is launching, and its genuine chunk's JSON
    chunk = _launching(world, plan(wave("db", S1)))
    payload = chunk.payload()
    # WHEN payloads of the wrong shape arrive
    cases = {
        "not an object": ["not", "a", "chunk"],
        "a drill flag in text": {**payload, "isDrill": "false"},
        "no servers": {**payload, "servers": []},
        "no execution": {k: v for k, v in payload.items() if k != "executionId"},
        "an attempt in text": {**payload, "attempt": "1"},
        "a field more": {**payload, "sourceServers": []},
    }
    refused = {}
    for name, forged in cases.items():
        with pytest.raises(RefusedChunk) as error:
            chunk_from_input(forged)
        refused[name] = error.value.errors
    # THEN each is refused naming its field, before the ledger is read
    assert refused == {
        "not an object": ["chunk: must be a JSON object, got list"],
        "a drill flag in text": ["chunk.isDrill: must be true or false"],
        "no servers": ["chunk.servers: must be a list of 1 to 200 servers"],
        "no execution": ["chunk.executionId: must be non-empty text of at most 256 characters"],
        "an attempt in text": ["chunk.attempt: must be an integer of at least 1"],
        "a field more": ["chunk: unknown field(s) sourceServers"],
    }
    assert world.drs.started == []


def test_a_chunk_whose_wave_has_moved_on_is_dropped_without_a_launch(world: World) -> None:
    # GIVEN a drill whose wave db was launching and has failed since (a handler gave up on it)
    chunk = _launching(world, plan(wave("db", S1)))
    world.ledger.finish_wave(
        "e1", "db", from_=[WaveStatus.LAUNCHING], to=WaveStatus.FAILED, key="gave-up", changes=WaveChanges()
    )
    # WHEN its genuine chunk is started late (a Wait of the state machine ended)
    answer = start_job(world.rt, chunk)
    # THEN nothing is launched: the chunk is stale, not forged
    assert answer == {
        "outcome": "DROPPED",
        "launchKey": chunk.launch_key,
        "reason": "wave 'db' is FAILED, no longer LAUNCHING",
    }
    assert world.drs.started == []


def test_a_launch_claimed_for_other_servers_is_not_started(world: World) -> None:
    # GIVEN a drill whose wave db is launching, and a claim of its job 0 for another server
    chunk = _launching(world, plan(wave("db", S1)))
    world.ledger.claim_launch("e1", "db", 1, 0, launch_key=chunk.launch_key, server_ids=[S2])
    # WHEN its genuine chunk is started
    with pytest.raises(RefusedChunk) as refused:
        start_job(world.rt, chunk)
    # THEN it is refused: the claim and the chunk must be for exactly the same servers
    assert refused.value.errors == ["chunk: job 0 of wave 'db' was claimed for other servers"]
    assert world.drs.started == []


def test_a_forged_chunk_failed_fails_nothing(world: World) -> None:
    # GIVEN a drill whose wave db is launching
    chunk = _launching(world, plan(wave("db", S1)))
    before = _items(world)
    # WHEN the launch function is told that a chunk of a made-up execution failed
    forged = chunk_from_input(_forged(chunk, executionId="exec-forged"), action="chunk_failed")
    with pytest.raises(RefusedChunk) as refused:
        chunk_failed(world.rt, forged, {"Error": "DrsPermanentError", "Cause": "forged"})
    # THEN it is refused: no server fails, no DRSJobCompleted goes out, nothing is written
    assert str(refused.value) == "refused chunk_failed chunk: chunk.executionId: no execution 'exec-forged'"
    assert world.bus.published == []
    assert _items(world) == before


def test_a_parked_chunk_the_ledger_does_not_back_is_taken_off_the_queue_and_counted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a drill whose wave db is launching, and a forged non-drill chunk in the capacity queue
    chunk = _launching(world, plan(wave("db", S1)))
    world.ledger.park(replace(chunk, is_drill=False))
    counted: Counter[str] = Counter()
    monkeypatch.setattr(observability.metrics, "add_metric", lambda *, name, **_: counted.update([name]))
    # WHEN a CapacityTick drains the queue
    drained = drain(world.rt)
    # THEN the chunk is dropped off the queue, counted InvalidEvents, and nothing launched
    assert drained == {"started": 0, "dropped": 1, "parked": 0}
    assert world.ledger.parked() == []
    assert counted["InvalidEvents"] == 1
    assert world.drs.started == []


@pytest.mark.parametrize("servers", [1, 2, 3, 7, 99, 100, 101, 250, 500])
@pytest.mark.parametrize("per_job", [1, 2, 3, 50, 100])
def test_each_job_group_is_the_one_cut_jobs_cut(servers: int, per_job: int) -> None:
    # GIVEN a wave's servers cut into jobs as prepare cuts them
    ids = [f"s-{n:017d}" for n in range(servers)]
    groups = cut_jobs(ids, per_job)
    # WHEN / THEN each job is found again from the number of jobs alone, and there is no job past the last
    assert [job_group(ids, len(groups), index) for index in range(len(groups))] == groups
    assert job_group(ids, len(groups), len(groups)) is None


# ---- internal events the ledger contradicts -----------------------------------------------------


def _refusal(world: World, detail: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as refused:
        check_references(world.rt, detail)
    return refused.value.errors


def test_a_wave_event_of_an_attempt_not_reached_is_refused(world: World) -> None:
    # GIVEN a started plan whose wave db is READY at attempt 1
    world.start(plan(wave("db", S1)))
    # WHEN / THEN a WaveReady of attempt 3 (its scripts would never be found: the wave would wait for ever) is refused
    assert _refusal(world, WaveReady(execution_id="e1", plan_id="p", wave_id="db", attempt=3)) == [
        "detail.attempt: wave 'db' is at attempt 1, not 3"
    ]
    # AND the wave is still READY: its genuine WaveReady starts it
    check_references(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    assert world.published(PreLaunchDone) == [PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db")]


def test_a_wave_failed_with_another_policy_than_its_plans_is_refused(world: World) -> None:
    # GIVEN a started plan whose wave db fails with CONTINUE
    world.start(plan(wave("db", S1, onFailure="CONTINUE")))
    # WHEN / THEN a WaveFailed saying STOP (it would stop the plan) is refused
    forged = WaveFailed(execution_id="e1", plan_id="p", wave_id="db", reason="forged", on_failure="STOP")
    assert _refusal(world, forged) == ["detail.onFailure: wave 'db' fails with onFailure CONTINUE in its plan"]


def test_a_pre_launch_done_before_the_pre_launch_script_has_ended_launches_nothing(world: World) -> None:
    # GIVEN a wave whose pre-launch script is still running
    world.ssm.add_document("Fence")
    world.ssm.outcomes["Fence"] = ("InProgress", "")
    world.start(plan(wave("db", S1, preLaunch=[FENCE])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # WHEN a PreLaunchDone for it arrives (it would launch before the script has fenced anything)
    forged = PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db")
    # THEN it is refused, and the wave waits for its script
    assert _refusal(world, forged) == [
        "detail: wave 'db' is PRE_LAUNCH in attempt 1 and its pre-launch script #1 has not ended: its PreLaunchDone "
        "comes after its last script"
    ]
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"


def test_a_pre_launch_done_after_its_script_ended_launches(world: World) -> None:
    # GIVEN a wave whose pre-launch script has succeeded (its PreLaunchDone went out)
    world.ssm.add_document("Fence")
    world.start(plan(wave("db", S1, preLaunch=[FENCE])))
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    [command] = world.ssm.commands
    ended = {"command-id": command, "instance-id": "i-00000000000000001", "status": "Success"}
    on_command_status(world.rt, ended, "ssm-1")
    [done] = world.published(PreLaunchDone)
    # WHEN / THEN the genuine PreLaunchDone passes, and its wave is prepared for launch
    check_references(world.rt, done)
    assert prepare(world.rt, done, "pld-1")["proceed"] is True


def test_a_late_pre_launch_done_of_an_earlier_attempt_never_launches_before_the_current_attempts_scripts(
    world: World,
) -> None:
    # GIVEN a wave retried (attempt 2) whose pre-launch script has not run in attempt 2, and attempt 1's
    # PreLaunchDone delivered late
    world.ssm.add_document("Fence")
    world.start(plan(wave("db", S1, preLaunch=[FENCE])))
    write_wave_attributes(world.ledger, "e1", "db", {"attempt": 2, "status": "PRE_LAUNCH"})
    late = PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db", attempt=1)
    # WHEN it reaches the launcher
    answer = prepare(world.rt, late, "pld-1")
    # THEN the wave is not launched ahead of attempt 2's own pre-launch script
    assert answer == {
        "proceed": False,
        "reason": "PreLaunchDone of attempt 1: in attempt 2, pre-launch script #1 has not ended",
        "chunks": [],
    }
    assert world.wave_status("e1", "db") == "PRE_LAUNCH"


def test_a_late_pre_launch_done_of_a_wave_without_pre_launch_scripts_launches_its_current_attempt(
    world: World,
) -> None:
    # GIVEN a wave without pre-launch scripts in PRE_LAUNCH at attempt 2, and a PreLaunchDone of attempt 1
    world.start(plan(wave("db", S1)))
    write_wave_attributes(world.ledger, "e1", "db", {"attempt": 2, "status": "PRE_LAUNCH"})
    late = PreLaunchDone(execution_id="e1", plan_id="p", wave_id="db", attempt=1)
    # WHEN it reaches the launcher
    [chunk] = prepare(world.rt, late, "pld-1")["chunks"]
    # THEN the wave launches, in its own attempt (nothing of attempt 2 was left to wait for)
    assert (chunk.attempt, chunk.launch_key) == (2, launch_key("e1", "db", 2, 0))
    assert world.wave_status("e1", "db") == "LAUNCHING"


def test_a_post_launch_done_before_the_health_check_has_ended_completes_nothing(world: World) -> None:
    # GIVEN a wave in POST_LAUNCH whose health check has not run yet (written as the ledger would have it)
    world.ssm.add_document("Health")
    world.start(plan(wave("db", S1, healthCheck={**FENCE, "documentName": "Health"})))
    write_wave_attributes(world.ledger, "e1", "db", {"status": "POST_LAUNCH"})
    # WHEN a PostLaunchDone for it arrives (it would complete the wave and release its dependents)
    forged = PostLaunchDone(execution_id="e1", plan_id="p", wave_id="db")
    # THEN it is refused
    assert _refusal(world, forged) == [
        "detail: wave 'db' is POST_LAUNCH in attempt 1 and its post-launch script #1 has not ended: its "
        "PostLaunchDone comes after its last script"
    ]


# ---- the allow-list at send time -----------------------------------------------------------------


def test_a_script_whose_document_is_no_longer_allowed_is_not_sent_and_fails_its_wave(world: World) -> None:
    # GIVEN a plan started while its pre-launch document was allowed, and the allow-list narrowed since
    world.ssm.add_document("Fence")
    world.configure(allowed_ssm_documents="Fence")
    world.start(plan(wave("db", S1, preLaunch=[FENCE])))
    world.configure(allowed_ssm_documents="DRSOrch-*")
    # WHEN the wave's pre-launch phase starts
    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id="db"), "wr-1")
    # THEN nothing is sent, the script ends FAILED with the reason, and the wave fails (its onFailure is FAIL)
    assert world.ssm.sent == []
    [script] = world.ledger.list_scripts("e1", "db", 1)
    reason = "SSM document 'Fence' is no longer in the SSM document allow-list (DRSOrch-*): not sent"
    assert (script.status, script.reason) == ("Failed", reason)
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.published(WaveFailed)
    assert failed.reason == f"pre-launch script #1 Fence Failed: {reason}"
