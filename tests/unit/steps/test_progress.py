"""PostLaunchDone and WaveFailed (orchestrator/steps/progress.py) against fakes: close waves, release
dependents, apply the failure policy (STOP or CONTINUE), close the plan; and the pure part of the policy."""

from __future__ import annotations

from events.models import (
    PlanCompleted,
    PlanFailed,
    PostLaunchDone,
    WaveCompleted,
    WaveFailed,
    WaveReady,
    WaveSkipped,
)
from orchestrator.domain.plan import downstream, parse_plan
from orchestrator.steps.progress import on_post_launch_done, on_wave_failed
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
    execution = world.ledger.get_execution("e1")
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
    fail_wave(world.rt, world.ledger.get_execution("e1"), "b", from_=["READY"], reason="boom", key="k", attempt=1)
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
