"""PostLaunchDone and WaveFailed (orchestrator/steps/progress.py) against fakes: close waves, release
dependents, apply the failure policy (STOP or CONTINUE), close the plan; and the pure part of the policy."""

from __future__ import annotations

from events.models import (
    ControlRejected,
    PlanCompleted,
    PlanFailed,
    PostLaunchDone,
    SkipWave,
    WaveCompleted,
    WaveFailed,
    WaveReady,
    WaveSkipped,
)
from orchestrator.domain.plan import downstream, parse_plan
from orchestrator.domain.records import ExecutionRecord
from orchestrator.steps.control import decide
from orchestrator.steps.control import skip_wave as control_skip_wave
from orchestrator.steps.progress import on_post_launch_done, on_wave_failed, reopen_skipped_for
from orchestrator.steps.wave_failure import fail_wave
from tests.unit.steps.world import S1, S2, S3, World, plan, wave

# a -> b -> d, a -> c; e stands alone
GRAPH = plan(
    wave("a", S1),
    wave("b", S2, dependsOn=["a"]),
    wave("c", S3, dependsOn=["a"]),
    wave("d", "s-00000000000000004", dependsOn=["b"]),
    wave("e", "s-00000000000000005"),
)


def _at_post_launch(world: World, document: dict, wave_id: str) -> None:
    """Walk `wave_id` to POST_LAUNCH through the steps (no scripts, DRS launches every server)."""
    from events.models import DRSJobCompleted, JobWatchTick, PreLaunchDone
    from orchestrator.steps.job_watcher import on_tick
    from orchestrator.steps.launch_wave import prepare, start_job
    from orchestrator.steps.post_launch import on_job_completed
    from orchestrator.steps.pre_launch import on_wave_ready

    on_wave_ready(world.rt, WaveReady(execution_id="e1", plan_id="p", wave_id=wave_id), f"wr-{wave_id}")
    [done] = [d for d in world.bus.of(PreLaunchDone) if d.wave_id == wave_id]
    for chunk in prepare(world.rt, done, f"pld-{wave_id}")["chunks"]:
        world.drs.finish_job(start_job(world.rt, chunk)["jobId"])
    on_tick(world.rt, JobWatchTick(execution_id="e1", plan_id="p", wave_id=wave_id, tick=1))
    for completed in [c for c in world.bus.of(DRSJobCompleted) if c.wave_id == wave_id]:
        on_job_completed(world.rt, completed, f"jc-{completed.job_id}")
    world.bus.published.clear()


def test_a_completed_wave_releases_its_dependents_once(world: World) -> None:
    # GIVEN wave a in POST_LAUNCH
    world.start(GRAPH)
    _at_post_launch(world, GRAPH, "a")
    done = PostLaunchDone(execution_id="e1", plan_id="p", wave_id="a")
    # WHEN its PostLaunchDone arrives, then again (a redelivery)
    on_post_launch_done(world.rt, done, "pd-a")
    first = list(world.bus.published)
    on_post_launch_done(world.rt, done, "pd-a")
    # THEN a is COMPLETED, b and c are READY (d still waits for b)
    assert [world.wave_status("e1", w) for w in "abcde"] == ["COMPLETED", "READY", "READY", "PENDING", "READY"]
    assert first == [
        WaveReady(execution_id="e1", plan_id="p", wave_id="b"),
        WaveReady(execution_id="e1", plan_id="p", wave_id="c"),
        WaveCompleted(
            execution_id="e1",
            plan_id="p",
            wave_id="a",
            servers_launched=1,
            servers_failed=0,
            released_wave_ids=["b", "c"],
        ),
    ]
    # AND a counts once among the execution's ended waves; the redelivery only re-announces the same
    # events (at least once: WaveReady is taken once by the pre-launch step)
    assert world.ledger.get_execution("e1")["terminalCount"] == 1
    assert world.bus.published == first + first


def test_stop_skips_every_wave_not_started_and_fails_the_plan_once(world: World) -> None:
    # GIVEN wave a failed (onFailure STOP), e running its pre-launch phase
    world.start(GRAPH)
    execution = world.ledger.execution("e1")
    assert execution is not None
    fail_wave(world.rt, execution, "a", from_=["READY"], reason="boom", key="k", attempt=1)
    [failed] = world.published(WaveFailed)
    world.bus.published.clear()
    # WHEN its WaveFailed arrives twice
    on_wave_failed(world.rt, failed, "wf-a")
    on_wave_failed(world.rt, failed, "wf-a")
    # THEN every wave not started is SKIPPED, each announced once, and the plan is FAILED once
    assert [world.wave_status("e1", w) for w in "abcde"] == ["FAILED", "SKIPPED", "SKIPPED", "SKIPPED", "SKIPPED"]
    assert sorted(s.wave_id for s in world.published(WaveSkipped)) == ["b", "c", "d", "e"]
    assert world.published(PlanFailed) == [
        PlanFailed(execution_id="e1", plan_id="p", reason="wave a failed: boom", failed_wave_ids=["a"])
    ]
    assert world.ledger.get_execution("e1")["status"] == "FAILED"


def test_continue_skips_only_what_is_downstream_of_the_failed_wave(world: World) -> None:
    # GIVEN the same graph with CONTINUE, and wave b failed
    document = plan(*GRAPH["waves"], onFailure="CONTINUE")
    world.start(document)
    _at_post_launch(world, document, "a")
    on_post_launch_done(world.rt, PostLaunchDone(execution_id="e1", plan_id="p", wave_id="a"), "pd-a")
    fail_wave(world.rt, _execution(world), "b", from_=["READY"], reason="boom", key="k", attempt=1)
    [failed] = world.published(WaveFailed)
    world.bus.published.clear()
    # WHEN its WaveFailed arrives
    on_wave_failed(world.rt, failed, "wf-b")
    # THEN only d (downstream of b) is skipped; c and e stay READY; the plan goes on
    assert [world.wave_status("e1", w) for w in "abcde"] == ["COMPLETED", "FAILED", "READY", "SKIPPED", "READY"]
    assert [(s.wave_id, s.because_of) for s in world.published(WaveSkipped)] == [("d", "b")]
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"


def test_the_last_wave_completing_completes_the_plan(world: World) -> None:
    # GIVEN a one-wave plan in POST_LAUNCH
    document = plan(wave("a", S1))
    world.start(document)
    _at_post_launch(world, document, "a")
    # WHEN its PostLaunchDone arrives
    on_post_launch_done(world.rt, PostLaunchDone(execution_id="e1", plan_id="p", wave_id="a"), "pd-a")
    # THEN the plan is COMPLETED and PlanCompleted says so
    [completed] = world.published(PlanCompleted)
    assert (completed.waves_completed, completed.waves_skipped) == (1, 0)
    assert world.ledger.get_execution("e1")["status"] == "COMPLETED"


def test_downstream_is_every_wave_that_depends_on_the_failed_one_directly_or_not() -> None:
    # GIVEN the graph a -> b -> d, a -> c, e alone
    parsed = parse_plan(GRAPH)
    # WHEN / THEN what CONTINUE skips for each failed wave
    assert downstream(parsed, "a") == {"b", "c", "d"}
    assert downstream(parsed, "b") == {"d"}
    assert downstream(parsed, "d") == set()
    assert downstream(parsed, "e") == set()


# p and q are roots, r waits for both; a failure goes on without what is downstream of it
JOIN = plan(wave("p", S1), wave("q", S2), wave("r", S3, dependsOn=["p", "q"]), onFailure="CONTINUE")


def _q_failed_and_p_completed(world: World) -> None:
    """JOIN with q failed (r SKIPPED for it), then p completed while r was skipped."""
    world.start(JOIN)
    fail_wave(world.rt, _execution(world), "q", from_=["READY"], reason="boom", key="k", attempt=1)
    [failed] = world.published(WaveFailed)
    on_wave_failed(world.rt, failed, "wf-q")
    _at_post_launch(world, JOIN, "p")
    on_post_launch_done(world.rt, PostLaunchDone(execution_id="e1", plan_id="p", wave_id="p"), "pd-p")
    world.bus.published.clear()


def test_reopening_the_waves_skipped_for_a_failure_counts_what_completed_meanwhile_once(world: World) -> None:
    # GIVEN r skipped for the failed q, and p (r's other dependency) completed meanwhile
    _q_failed_and_p_completed(world)
    assert world.wave_status("e1", "r") == "SKIPPED"
    # WHEN the waves skipped for q are reopened, twice (a redelivery of the decision)
    first = reopen_skipped_for(world.rt, "e1", "q", key="retry-q")
    again = reopen_skipped_for(world.rt, "e1", "q", key="retry-q")
    # THEN r waits again, for q only: p is counted once; nothing is due yet, nothing announced
    r = world.ledger.wave("e1", "r")
    assert r is not None
    assert (r.status, r.remaining, r.released_by, r.current.ready_at) == ("PENDING", 1, ("p",), None)
    assert (first, again) == ([], [])
    assert world.bus.published == []
    assert world.ledger.get_execution("e1")["terminalCount"] == 2  # p and q; r no longer counts


def test_an_operators_skip_of_the_failure_releases_the_wave_skipped_for_it_once(world: World) -> None:
    # GIVEN r skipped for the failed q, and p completed meanwhile
    _q_failed_and_p_completed(world)
    # WHEN an operator skips q (its dependents may go on), and the command is delivered twice
    command = SkipWave(execution_id="e1", wave_id="q", requested_by="ops")
    decide(world.rt, command, "skip-q", control_skip_wave)
    decide(world.rt, command, "skip-q", control_skip_wave)
    # THEN r is READY, announced once (the reopening found both dependencies met; the redelivery finds r
    # no longer skipped, and q's release of it already counted)
    assert world.wave_status("e1", "r") == "READY"
    assert world.published(WaveReady) == [WaveReady(execution_id="e1", plan_id="p", wave_id="r")]
    assert world.published(ControlRejected) == []


def test_a_wave_failed_event_of_another_attempt_changes_nothing(world: World) -> None:
    # GIVEN wave a failed (STOP) in its attempt 1, and a WaveFailed of it claiming attempt 2
    world.start(GRAPH)
    fail_wave(world.rt, _execution(world), "a", from_=["READY"], reason="boom", key="k", attempt=1)
    [failed] = world.published(WaveFailed)
    world.bus.published.clear()
    # WHEN that event arrives
    on_wave_failed(world.rt, failed.model_copy(update={"attempt": 2}), "wf-a-2")
    # THEN nothing is stopped or skipped
    assert [world.wave_status("e1", w) for w in "abcde"] == ["FAILED", "PENDING", "PENDING", "PENDING", "READY"]
    assert world.bus.published == []
    assert world.ledger.get_execution("e1")["status"] == "RUNNING"


def _execution(world: World) -> ExecutionRecord:
    execution = world.ledger.execution("e1")
    assert execution is not None
    return execution


def test_a_cancel_accepted_after_the_plan_was_judged_complete_ends_it_cancelled(world: World, monkeypatch) -> None:
    # GIVEN a one-wave plan whose wave completed, read as RUNNING by the closing step, and a cancel accepted
    # (RUNNING -> STOPPING) before that step writes, whose own closing step comes later still
    from events.models import CancelPlan, PlanCancelled
    from orchestrator.steps import control, progress
    from orchestrator.steps.control import cancel_plan

    document = plan(wave("a", S1))
    world.start(document)
    _at_post_launch(world, document, "a")
    close = progress.close_plan_if_done
    held: list[ExecutionRecord | None] = []
    monkeypatch.setattr(progress, "close_plan_if_done", lambda rt, eid, **_: held.append(rt.ledger.execution(eid)))
    monkeypatch.setattr(control, "close_plan_if_done", lambda *_, **__: None)
    on_post_launch_done(world.rt, PostLaunchDone(execution_id="e1", plan_id="p", wave_id="a"), "pd-a")
    decide(world.rt, CancelPlan(execution_id="e1", requested_by="ops"), "cancel-1", cancel_plan)
    # WHEN the held closing step writes with what it read (RUNNING, nothing failed)
    [stale] = held
    close(world.rt, "e1", key="pd-a", execution=stale)
    # THEN the plan ends CANCELLED, announced once as such, not COMPLETED
    assert stale is not None
    assert stale.status == "RUNNING"
    assert world.ledger.get_execution("e1")["status"] == "CANCELLED"
    ends = [e for e in world.bus.published if isinstance(e, (PlanCompleted, PlanCancelled))]
    assert [type(e).__name__ for e in ends] == ["PlanCancelled"]
