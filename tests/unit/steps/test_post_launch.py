"""DRSJobCompleted (orchestrator/steps/post_launch.py) against fakes: judge the launch, then post-launch."""

from __future__ import annotations

from events.models import DRSJobCompleted, PostLaunchDone, ServerLaunch, WaveFailed
from orchestrator.steps.post_launch import on_job_completed
from tests.unit.steps.world import S1, S2, World, launching, plan, wave

HEALTH = {"type": "SSM_DOCUMENT", "documentName": "Health"}


def _completed(job: str, *results: tuple[str, str], world: World | None = None) -> DRSJobCompleted:
    """The DRSJobCompleted the watcher publishes once DRS has ended `job` with these results (ended so in
    `world`'s DRS: the post-launch step records DRS's answer, and refuses an event that is not DRS's)."""
    if world is not None:
        world.drs.finish_job(job, dict(results), reasons={sid: "LAUNCH_FAILED: x" for sid, _ in results})
    return DRSJobCompleted(
        execution_id="e1",
        plan_id="p",
        wave_id="db",
        job_id=job,
        servers=[
            ServerLaunch(
                source_server_id=sid,
                launch_status=status,
                recovery_instance_id="i-00000000000000001" if status == "LAUNCHED" else None,
                reason=None if status == "LAUNCHED" else "LAUNCH_FAILED: x",
            )
            for sid, status in results
        ],
    )


def test_a_launched_wave_without_scripts_completes_its_post_launch_phase(world: World) -> None:
    # GIVEN a wave whose only job launched its server
    [job] = launching(world, plan(wave("db", S1)))
    # WHEN DRSJobCompleted arrives
    on_job_completed(world.rt, _completed(job, (S1, "LAUNCHED"), world=world), "jc-1")
    # THEN the wave is in POST_LAUNCH and PostLaunchDone goes out
    assert world.wave_status("e1", "db") == "POST_LAUNCH"
    assert world.bus.published == [PostLaunchDone(execution_id="e1", plan_id="p", wave_id="db")]


def test_a_redelivered_job_completion_sends_the_health_check_once(world: World) -> None:
    # GIVEN a wave with a health check still running, whose job launched its server
    world.ssm.add_document("Health")
    world.ssm.outcomes["Health"] = ("InProgress", "")
    [job] = launching(world, plan(wave("db", S1, healthCheck=HEALTH)))
    world.drs.finish_job(job)
    event = _completed(job, (S1, "LAUNCHED"))
    # WHEN DRSJobCompleted arrives twice
    on_job_completed(world.rt, event, "jc-1")
    on_job_completed(world.rt, event, "jc-1")
    # THEN the health check went once to the recovery instance
    assert [(s["document"], s["instance_ids"]) for s in world.ssm.sent] == [("Health", ["i-00000000000000001"])]
    assert world.wave_status("e1", "db") == "POST_LAUNCH"


def test_a_critical_server_that_did_not_launch_fails_the_wave(world: World) -> None:
    # GIVEN a wave of two CRITICAL servers
    [job] = launching(world, plan(wave("db", S1, S2)))
    # WHEN its job reports one of them FAILED
    on_job_completed(world.rt, _completed(job, (S1, "LAUNCHED"), (S2, "FAILED"), world=world), "jc-1")
    # THEN the wave failed, naming the server and DRS's reason
    assert world.wave_status("e1", "db") == "FAILED"
    [failed] = world.bus.published
    assert isinstance(failed, WaveFailed)
    assert failed.reason == f"1 CRITICAL server(s) did not launch: {S2} (LAUNCH_FAILED: x)"
    assert world.ssm.sent == []


def test_an_optional_failure_within_the_threshold_warns_and_goes_on(world: World) -> None:
    # GIVEN a wave of a CRITICAL and an OPTIONAL server, half of which must launch
    document = plan(wave("db", S1, {"sourceServerID": S2, "criticality": "OPTIONAL"}, successThreshold=0.5))
    [job] = launching(world, document)
    # WHEN the OPTIONAL server did not launch
    on_job_completed(world.rt, _completed(job, (S1, "LAUNCHED"), (S2, "FAILED"), world=world), "jc-1")
    # THEN the wave goes on to post-launch with a warning naming it
    assert world.wave_status("e1", "db") == "POST_LAUNCH"
    assert world.ledger.get_wave("e1", "db")["warnings"] == [f"OPTIONAL server {S2} (LAUNCH_FAILED: x) did not launch"]
    assert world.bus.types() == ["PostLaunchDone"]
