"""End to end: the launch and termination faults of issue #11 (6 and 7): a retry that met its own
rollback's terminate job, finished terminate jobs kept in the DRS capacity count, TerminateRecoveryInstances
throttled, a launch cancelled by STOP while it waited for capacity, a forged WaveFailed."""

from __future__ import annotations

import itertools
from typing import Any

from events.models import TerminationTick, WaveFailed
from localcloud.cloud import LocalCloud
from localcloud.runner import run_plan, start, wait
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.plan import parse_plan
from orchestrator.steps import cleanup
from tests.e2e.helpers import command, events_of, ledger_waves, sid, wave

ONE_JOB = {"serversPerJob": 10, "concurrentJobs": 1, "serversInAllJobs": 10}


def _running(cloud: LocalCloud, server_ids: set[str]) -> list[str]:
    found = cloud.runtime.drs.describe_recovery_instances(source_server_ids=sorted(server_ids))
    return sorted(i["recoveryInstanceID"] for i in found if i["ec2InstanceState"] == "RUNNING")


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["waveId"]: w for w in report["waves"]}


# ---- fault 6: a retry that met its own rollback's terminate job ----------------------------------


def test_a_retry_while_the_rollback_still_terminates_waits_for_it_and_reports_both_attempts(local_cloud):
    # GIVEN a wave with rollback TERMINATE that failed (b2 did not launch); its rollback's terminate job
    # (two minutes long) still holds b1 when the operator retries every server
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED", "drs.terminateSeconds": 120})
    plan = parse_plan({"planId": "retry-rollback", "waves": [wave("B", [sid("b", 1), failing], rollback="TERMINATE")]})
    first = run_plan(cloud, plan, timeout=60)
    cloud.drain()
    [rollback] = cloud.runtime.ledger.list_terminations(first.execution_id)  # asked; its job runs 2 minutes
    old_instance = rollback["instances"]
    assert first.status == "FAILED"

    # WHEN b2 is fixed and the wave is retried at once with all its servers
    cloud.drs.set_launch_outcome(failing, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": first.execution_id, "waveId": "B", "allServers": True}, by="ops")
    result = wait(cloud, first.execution_id, timeout=60)

    # THEN the launch waited for the terminate job instead of failing on DRS's ConflictException, and the
    # report describes attempt 2 (new instances), keeping attempt 1 with its reason and old instance
    assert result.status == "COMPLETED", _by_id(result.report)["B"]
    b = _by_id(result.report)["B"]
    assert (b["status"], b["attempt"], b["reason"]) == ("COMPLETED", 2, None)
    assert {s["launchStatus"] for s in b["servers"]} == {"LAUNCHED"}
    assert not {s["recoveryInstanceId"] for s in b["servers"]} & set(old_instance)
    [attempt_1] = b["previousAttempts"]
    assert (attempt_1["attempt"], attempt_1["status"]) == (1, "FAILED")
    assert attempt_1["reason"].startswith("1 CRITICAL server(s) did not launch: s-000000000000000b2")
    assert [s["recoveryInstanceId"] for s in attempt_1["servers"] if s.get("recoveryInstanceId")] == old_instance
    assert dict(cloud.drs.stats.launches) == {sid("b", 1): 2, failing: 2}
    started = events_of(cloud, "DRSJobStarted", first.execution_id)
    by_attempt = {a: [e.detail["jobId"] for e in started if e.detail["attempt"] == a] for a in (1, 2)}
    assert [j["jobId"] for j in b["jobs"]] == by_attempt[2]
    assert [(j["jobId"], j["status"]) for j in attempt_1["jobs"]] == [(by_attempt[1][0], "COMPLETED")]
    terminate_ended = parse_iso(rollback["at"]).timestamp() + 120
    assert parse_iso(started[-1].time).timestamp() >= terminate_ended - 1


def test_a_retry_refused_by_drs_fails_the_wave_with_drs_reason_on_each_server(local_cloud):
    # GIVEN a failed wave whose server is busy in a DRS job started outside this execution
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    plan = parse_plan({"planId": "retry-conflict", "waves": [wave("B", [failing])]})
    first = run_plan(cloud, plan, timeout=60)
    cloud.drs.set_launch_outcome(failing, "LAUNCHED")
    cloud.runtime.drs.start_recovery([{"sourceServerID": failing}], is_drill=True, tags={})

    # WHEN the operator retries the wave
    command(cloud, "RetryWave", {"executionId": first.execution_id, "waveId": "B"}, by="ops")
    result = wait(cloud, first.execution_id, timeout=60)

    # THEN attempt 2 failed at once, and DRS's error is the server's reason in the report (not only a log)
    b = _by_id(result.report)["B"]
    assert (result.status, b["status"], b["attempt"]) == ("FAILED", "FAILED", 2)
    [server] = b["servers"]
    assert server["launchStatus"] == "FAILED"
    assert server["reason"].startswith(
        "DrsConflict: ConflictException: Source server s-000000000000000b2 is "
        "already participating in active job drsjob-"
    )
    assert "CRITICAL" in b["reason"]
    assert [a["attempt"] for a in b["previousAttempts"]] == [1]


# ---- fault 7: terminations and the shared DRS capacity -------------------------------------------


def test_a_finished_terminate_job_no_longer_holds_the_drs_capacity_a_termination_needs(local_cloud):
    # GIVEN room for one DRS job, and a terminate job that has finished (nothing watches terminate jobs)
    cloud = local_cloud(**{"drs.quotas": ONE_JOB})
    plan = parse_plan({"planId": "capacity", "waves": [wave("A", [sid("a", 1), sid("a", 2)])]})
    result = run_plan(cloud, plan, timeout=60)
    execution = cloud.runtime.ledger.execution(result.execution_id)
    assert execution is not None
    first, second = _running(cloud, {sid("a", 1), sid("a", 2)})
    job_id, _ = cleanup._terminate_job(cloud.runtime, result.execution_id, [first], "test")
    cloud.run_until(lambda: cloud.runtime.drs.describe_jobs([job_id])[0]["status"] == "COMPLETED", timeout=30)
    assert cloud.runtime.ledger.capacity().active_jobs == 1  # still counted

    # WHEN the drill is cleaned up
    done = cleanup.terminate(cloud.runtime, execution, reason="CLEANUP")

    # THEN the refused admission reconciled the record with DRS: the finished job was released, and the
    # remaining instance is terminated now instead of being deferred forever
    assert (done.deferred, done.instance_ids) == (False, [second])
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers) == (1, 1)


def test_a_rollback_bigger_than_the_free_capacity_terminates_everything_one_job_after_the_other(local_cloud):
    # GIVEN room for one DRS job of one server, and a wave with rollback TERMINATE that launched two servers
    # and failed on a third: its rollback needs two terminate jobs, one after the other
    failing = sid("b", 3)
    cloud = local_cloud(
        **{
            "drs.quotas": {"serversPerJob": 1, "concurrentJobs": 1, "serversInAllJobs": 1},
            f"drs.servers.{failing}.launch": "FAILED",
        }
    )
    plan = parse_plan(
        {"planId": "big-rollback", "waves": [wave("B", [sid("b", 1), sid("b", 2), failing], rollback="TERMINATE")]}
    )

    # WHEN it runs, and the rollback comes back on its ticks until it has terminated everything
    result = run_plan(cloud, plan, timeout=60)
    cloud.run_until(lambda: len(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)) == 2, timeout=30)

    # THEN the second job was admitted once the first had ended (the refused admission reconciled the
    # record with DRS), instead of the rollback re-checking every 15 s forever while its instance runs
    assert result.status == "FAILED"
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 2
    cloud.run_until(lambda: not _running(cloud, {sid("b", 1), sid("b", 2)}), timeout=30)
    records = cloud.runtime.ledger.list_terminations(result.execution_id)
    assert sorted(len(r["instances"]) for r in records) == [1, 1]


def test_a_rollback_in_many_rounds_comes_back_soon_after_each_round_instead_of_backing_off_ever_longer(local_cloud):
    # GIVEN room for one DRS job of one server, terminate jobs of 10 s, and a wave with rollback TERMINATE
    # that launched eight servers and failed on a ninth: its rollback is eight rounds (campaign seed 679:
    # the backoff counted every tick since the first, so later rounds waited up to 300 s each)
    failing = sid("r", 9)
    launched = [sid("r", n) for n in range(1, 9)]
    cloud = local_cloud(
        **{
            "drs.quotas": {"serversPerJob": 1, "concurrentJobs": 1, "serversInAllJobs": 1},
            "drs.terminateSeconds": 10,
            f"drs.servers.{failing}.launch": "FAILED",
        }
    )
    plan = parse_plan({"planId": "rounds", "waves": [wave("R", [*launched, failing], rollback="TERMINATE")]})

    # WHEN it runs and the rollback terminates everything, one job after the other
    result = run_plan(cloud, plan, timeout=120)
    cloud.run_until(lambda: len(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)) == 8, timeout=60)

    # THEN each round began within a tick or two of the previous one's end (a 15 s tick, up to 2 s of
    # jitter, the 10 s job), never after a long backoff, and every deferral after a round started over
    assert result.status == "FAILED"
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 8
    done = [parse_iso(e.time) for e in events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(done)]
    assert max(gaps) <= 45, gaps
    assert {t.detail.get("deferrals", 0) for t in events_of(cloud, "TerminationTick", result.execution_id)} <= {0, 1}
    cloud.run_until(lambda: not _running(cloud, set(launched)), timeout=30)


def test_a_throttled_rollback_is_retried_with_backoff_on_the_scheduler_until_it_terminates(local_cloud):
    # GIVEN a wave with rollback TERMINATE that fails, and DRS throttling its first five terminate calls
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    cloud.drs.inject_error("ThrottlingException", operation="TerminateRecoveryInstances", count=5)
    plan = parse_plan(
        {"planId": "throttled-rollback", "waves": [wave("B", [sid("b", 1), failing], rollback="TERMINATE")]}
    )

    # WHEN it runs and the rollback comes back on its ticks
    result = run_plan(cloud, plan, timeout=60)
    cloud.run_until(lambda: bool(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)), timeout=30)

    # THEN the sixth call terminated the instance: five ticks, each later than the last by more than DRS's
    # retryAfterSeconds, nothing dead-lettered, no handler failed
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 6
    ticks = events_of(cloud, "TerminationTick", result.execution_id)[:5]  # then it watches the job
    assert [t.detail["tick"] for t in ticks] == [2, 3, 4, 5, 6]
    failed_at = parse_iso(events_of(cloud, "WaveFailed", result.execution_id)[0].time)
    gaps = [
        (parse_iso(b.time) - parse_iso(a.time)).total_seconds()
        for a, b in zip([*events_of(cloud, "WaveFailed", result.execution_id), *ticks], ticks, strict=False)
    ]
    assert all(gap >= 1 for gap in gaps), gaps
    assert parse_iso(ticks[0].time) > failed_at
    assert sum(cloud.dead_letters().values()) == 0
    assert cloud.stats.handler_errors == 0
    assert [r["reason"] for r in cloud.runtime.ledger.list_terminations(result.execution_id)] == ["ROLLBACK"]


def test_a_launch_stopped_while_it_waited_for_capacity_is_not_judged_as_launched(local_cloud):
    # GIVEN room for one DRS job; X (one CRITICAL server that fails, onFailure STOP) launches first; the
    # all-OPTIONAL wave Y (behind an approval granted after 20 s) is parked behind X's job; Z needs Y
    x1 = sid("x", 1)
    cloud = local_cloud(
        **{
            "drs.quotas": ONE_JOB,
            "drs.launchSeconds": {"min": 60, "max": 60},
            f"drs.servers.{x1}.launch": "FAILED",
            "approvals.decision": "GRANT",
            "approvals.afterSeconds": 20,
        }
    )
    optional = [{"sourceServerID": sid("y", n), "criticality": "OPTIONAL"} for n in (1, 2)]
    plan = parse_plan(
        {
            "planId": "stop-parked",
            "waves": [
                wave("X", [x1], onFailure="STOP"),
                wave("Y", optional, approval={"required": True}),
                wave("Z", [sid("z", 1)], ["Y"]),
            ],
        }
    )

    # WHEN X fails while Y's launch is parked
    execution_id = start(cloud, plan)
    first = wait(cloud, execution_id, timeout=60)

    # THEN Y did not run: SKIPPED (not COMPLETED) with the reason, its servers NOT_STARTED with the same
    # reason, nothing launched; Z skipped; the plan failed because of X
    waves = _by_id(first.report)
    assert first.status == "FAILED"
    assert (waves["Y"]["status"], waves["Y"]["reason"]) == ("SKIPPED", "not launched: plan stopped")
    assert {(s["launchStatus"], s.get("reason")) for s in waves["Y"]["servers"]} == {
        ("NOT_STARTED", "not launched: plan stopped")
    }
    assert waves["Z"]["status"] == "SKIPPED"
    assert dict(cloud.drs.stats.launches) == {x1: 1}
    assert ledger_waves(cloud, execution_id)["Y"]["skippedFor"] == "X"

    # WHEN X's server is fixed and X retried
    cloud.drs.set_launch_outcome(x1, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": execution_id, "waveId": "X"}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN Y runs for real before Z is released: every wave completes, each server launched once
    assert result.status == "COMPLETED"
    assert {w["waveId"]: w["status"] for w in result.report["waves"]} == dict.fromkeys("XYZ", "COMPLETED")
    assert dict(cloud.drs.stats.launches) == {x1: 2, sid("y", 1): 1, sid("y", 2): 1, sid("z", 1): 1}
    waves = ledger_waves(cloud, execution_id)
    assert parse_iso(waves["Z"]["readyAt"]) >= parse_iso(waves["Y"]["completedAt"])


def test_a_forged_wave_failed_or_rollback_tick_never_terminates_a_completed_waves_instances(local_cloud):
    # GIVEN a completed drill whose wave has rollback TERMINATE
    cloud = local_cloud()
    plan = parse_plan({"planId": "forged", "waves": [wave("A", [sid("a", 1)], rollback="TERMINATE")]})
    result = run_plan(cloud, plan, timeout=60)
    assert result.status == "COMPLETED"

    # WHEN a forged WaveFailed for it and a forged ROLLBACK tick arrive (and one for a wave the plan lacks)
    cleanup.on_wave_failed(
        cloud.runtime,
        WaveFailed(
            execution_id=result.execution_id,
            plan_id="forged",
            wave_id="A",
            attempt=1,
            reason="forged",
            on_failure="STOP",
        ),
    )
    cleanup.on_tick(
        cloud.runtime,
        TerminationTick(execution_id=result.execution_id, plan_id="forged", wave_id="A", attempt=1, reason="ROLLBACK"),
    )
    cleanup.on_tick(
        cloud.runtime,
        TerminationTick(
            execution_id=result.execution_id, plan_id="forged", wave_id="nope", attempt=1, reason="ROLLBACK"
        ),
    )

    # THEN the ledger says wave A completed: nothing is terminated
    assert cloud.drs.stats.calls.get("TerminateRecoveryInstances", 0) == 0
    assert len(_running(cloud, {sid("a", 1)})) == 1
    assert cloud.runtime.ledger.list_terminations(result.execution_id) == []


def test_a_forged_time_to_live_tick_terminates_nothing_without_a_time_to_live_or_before_it_is_over(local_cloud):
    # GIVEN two finished drills: one whose plan sets no time to live, one whose 1-hour time to live is not over
    cloud = local_cloud()
    without = run_plan(cloud, parse_plan({"planId": "no-ttl", "waves": [wave("A", [sid("t", 1)])]}), timeout=60)
    within = run_plan(
        cloud,
        parse_plan(
            {"planId": "ttl", "defaults": {"drillInstanceTtlSeconds": 3600}, "waves": [wave("A", [sid("t", 2)])]}
        ),
        timeout=60,
    )
    assert (without.status, within.status) == ("COMPLETED", "COMPLETED")

    # WHEN a forged TIME_TO_LIVE tick arrives for each
    for result, plan_id in ((without, "no-ttl"), (within, "ttl")):
        cleanup.on_tick(
            cloud.runtime, TerminationTick(execution_id=result.execution_id, plan_id=plan_id, reason="TIME_TO_LIVE")
        )

    # THEN nothing is terminated: the ledger's plan and launch times decide, not the tick
    assert cloud.drs.stats.calls.get("TerminateRecoveryInstances", 0) == 0
    assert len(_running(cloud, {sid("t", 1), sid("t", 2)})) == 2


def test_a_rollback_throttled_for_six_hours_is_given_up_and_recorded_with_the_instance_left(local_cloud):
    # GIVEN a failed wave with rollback TERMINATE, and DRS throttling every TerminateRecoveryInstances
    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    cloud.drs.inject_error("ThrottlingException", operation="TerminateRecoveryInstances", count=10_000)
    plan = parse_plan({"planId": "given-up", "waves": [wave("B", [sid("b", 1), failing], rollback="TERMINATE")]})

    # WHEN it runs and the rollback keeps coming back on its ticks
    result = run_plan(cloud, plan, timeout=60)
    [instance] = _running(cloud, {sid("b", 1)})

    def given_up() -> bool:
        return any(t.get("error") for t in cloud.runtime.ledger.list_terminations(result.execution_id))

    cloud.run_until(given_up, timeout=120)

    # THEN six hours after its first deferral it was given up: recorded with why and the instance left
    # (in the report too), no tick comes any more, nothing was dead-lettered
    [record] = cloud.runtime.ledger.list_terminations(result.execution_id)
    assert record["notTerminated"] == [{"recoveryInstanceId": instance, "reason": record["error"]}]
    assert record["error"].startswith("gave up after 6:00:00 of deferrals (last: ThrottlingException: Rate exceeded)")
    failed_at = parse_iso(events_of(cloud, "WaveFailed", result.execution_id)[0].time)
    assert 6 * 3600 <= (parse_iso(record["at"]) - failed_at).total_seconds() <= 6 * 3600 + 301
    assert not any(name.startswith("terminate-") for name in cloud._schedules)
    from orchestrator.reporting.report import build_report

    [reported] = build_report(cloud.runtime.ledger, result.execution_id)["terminations"]
    assert (reported["notTerminated"], reported["recoveryInstanceIds"]) == (record["notTerminated"], [])
    assert sum(cloud.dead_letters().values()) == 0


class _OneRetry:
    """A control socket holding one RetryWave of B, sent once the execution has ended, while B's server is
    busy in a DRS job started outside the execution (so the retry fails at once, within the command)."""

    def __init__(self, cloud: LocalCloud, execution_id: str, server: str) -> None:
        self.cloud, self.execution_id, self.server, self.sent = cloud, execution_id, server, False
        self.polls_after_the_end = 0

    def serve_pending(self, handle: Any) -> int:
        if self.sent or not self.cloud.execution_finished(self.execution_id):
            return 0
        self.polls_after_the_end += 1
        if self.polls_after_the_end < 5:  # the run has returned its result and lingers by now
            return 0
        self.sent = True
        self.cloud.runtime.drs.start_recovery([{"sourceServerID": self.server}], is_drill=True, tags={})
        answer = handle({"op": "command", "detailType": "RetryWave", "detail": {"waveId": "B"}, "as": "ops"})
        assert answer["ok"], answer
        return 1


def test_a_retry_that_fails_at_once_while_a_run_lingers_is_what_the_run_reports(local_cloud):
    # GIVEN a local run (`drs-orch run --linger`) of a wave that fails, and an operator's retry of it that
    # DRS refuses at once (the server is busy in a job started outside the execution)
    from localcloud.control_socket import run_session

    failing = sid("b", 2)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED"})
    execution_id = start(cloud, parse_plan({"planId": "linger", "waves": [wave("B", [failing])]}))

    # WHEN the run lingers and serves the retry
    result = run_session(
        cloud,
        execution_id,
        _OneRetry(cloud, execution_id, failing),  # type: ignore[arg-type]
        timeout=60,
        linger=1.0,
    )

    # THEN what the run returns (its summary and report) describes attempt 2 with DRS's reason, and keeps
    # attempt 1
    b = _by_id(result.report)["B"]
    assert (result.status, b["status"], b["attempt"]) == ("FAILED", "FAILED", 2)
    assert b["servers"][0]["reason"].startswith(
        "DrsConflict: ConflictException: Source server s-000000000000000b2 is already participating in active job"
    )
    assert [(a["attempt"], a["status"]) for a in b["previousAttempts"]] == [(1, "FAILED")]


def test_an_instance_a_terminate_job_failed_to_terminate_is_terminated_again_and_announced_once(local_cloud):
    # GIVEN a failed wave with rollback TERMINATE whose first terminate job fails on one of its two
    # instances (DRS's job log says CLEANUP_FAIL)
    failing, kept = sid("b", 3), sid("b", 2)
    # (FAILED_ONCE: whatever the simulated clock's drift, the second job terminates it; a test that switched the
    # outcome after seeing the first failure could be overtaken by the second job's start)
    cloud = local_cloud(**{f"drs.servers.{failing}.launch": "FAILED", f"drs.servers.{kept}.terminate": "FAILED_ONCE"})
    plan = parse_plan(
        {"planId": "terminate-again", "waves": [wave("B", [sid("b", 1), kept, failing], rollback="TERMINATE")]}
    )
    result = run_plan(cloud, plan, timeout=60)

    # WHEN the rollback watches its job and goes on
    cloud.run_until(lambda: len(events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)) == 2, timeout=30)

    # THEN the first job's end was recorded with what it did not terminate and why; the instance was
    # terminated by a second job; each instance was announced once, when its job had ended
    records = sorted(cloud.runtime.ledger.list_terminations(result.execution_id), key=lambda r: r["at"])
    assert len(records) == 2, (records, [e.detail for e in cloud.events if "Terminat" in e.detail_type])
    asked, again = records
    first, second = events_of(cloud, "RecoveryInstancesTerminated", result.execution_id)
    [not_terminated] = asked["notTerminated"]
    retried = not_terminated["recoveryInstanceId"]
    assert not_terminated["sourceServerId"] == kept
    assert not_terminated["reason"].startswith("CLEANUP_FAIL: ")
    assert asked["terminated"] == first.detail["recoveryInstanceIds"] == sorted(set(asked["instances"]) - {retried})
    assert again["instances"] == again["terminated"] == second.detail["recoveryInstanceIds"] == [retried]
    assert not again.get("notTerminated")
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 2
    assert not _running(cloud, {sid("b", 1), kept})
    assert cloud.runtime.ledger.capacity().active_jobs == 0


def test_drs_orch_cleanup_throttled_says_why_and_exits_1_and_the_next_run_terminates(local_cloud):
    from typer.testing import CliRunner

    from drs_orch.app import app

    # GIVEN a completed drill, and DRS throttling the next TerminateRecoveryInstances
    cloud = local_cloud()
    result = run_plan(cloud, parse_plan({"planId": "cli-throttled", "waves": [wave("A", [sid("a", 1)])]}), timeout=60)
    cloud.drs.inject_error("ThrottlingException", operation="TerminateRecoveryInstances", count=1)

    # WHEN an operator cleans it up, twice
    runner = CliRunner()
    first = runner.invoke(app, ["cleanup", result.execution_id])
    second = runner.invoke(app, ["cleanup", result.execution_id])

    # THEN the first says DRS throttled it (exit 1, no traceback); the second terminates the instance
    assert first.exit_code == 1, first.output
    assert "ThrottlingException: Rate exceeded: some instances were not terminated yet" in " ".join(
        first.output.split()
    )
    assert "Traceback" not in first.output
    assert second.exit_code == 0, second.output
    assert "terminating 1 recovery instance(s)" in second.output
    assert cloud.drs.stats.calls["TerminateRecoveryInstances"] == 2
