"""End to end: the script faults of issue #11, each input as a test with its expected value.

- Fault 3: a required step that cannot run (no target, document missing, every send refused) fails its
  wave before launch, naming the step and why; a WARN step warns and the wave goes on.
- Fault 7 (1): a post-launch script whose target resolution is throttled waits for a resend tick instead
  of failing its handler; after its budget the step fails with the error; a redelivered DRSJobCompleted
  resumes the post-launch phase; a cancelled plan ends.
- Fault 7 (4): at the timeout a script's real invocation statuses are read: invocations that ended in time
  keep their status (lost completion events do not make them TimedOut); only running ones are cancelled.
- Fault 9: more than 50 explicit instance ids are sent in batches of 50.
"""

from __future__ import annotations

from typing import Any

import pytest

from events.models import Mode
from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult, run_plan, start, wait
from orchestrator.adapters.drs import READ_ATTEMPTS
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.scripts import ScriptRun
from tests.e2e.helpers import allowing, assert_choreography_invariants, at, command, sid, wave, wave_status

OLD_PRIMARY = "i-0aaaaaaaaaaaaaaa1"  # the old site's database primary, still a managed node


def _run(cloud: LocalCloud, plan: dict[str, Any], mode: Mode = Mode.DRILL) -> RunResult:
    result = run_plan(cloud, parse_plan(plan), mode=mode, confirm=True)
    assert result.report is not None
    return result


def _run_refused(cloud: LocalCloud, plan: dict[str, Any]) -> RunResult:
    result = run_plan(cloud, parse_plan(plan))
    assert (result.status, result.report) == ("REJECTED", None)
    return result


def _waves(result: RunResult) -> dict[str, dict[str, Any]]:
    assert result.report is not None
    return {w["waveId"]: w for w in result.report["waves"]}


def _script_items(cloud: LocalCloud, execution_id: str, wave_id: str) -> list[ScriptRun]:
    assert cloud.runtime is not None
    return cloud.runtime.ledger.list_scripts(execution_id, wave_id)


# ---- fault 3: a required step that cannot run ------------------------------------------------------


def _fence_plan(on_failure: str) -> dict[str, Any]:
    return {
        "planId": "fence",
        "waves": [
            wave(
                "db",
                [sid("f", 1)],
                preLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["fence"]},
                        "targets": {"tags": {"Role": "database-primary"}},
                        "onFailure": on_failure,
                    }
                ],
            ),
            wave("app", [sid("f", 2)], ["db"]),
        ],
    }


@pytest.mark.parametrize("mode", [Mode.RECOVERY, Mode.DRILL])
def test_a_required_fence_whose_tag_matches_no_instance_fails_the_wave_before_launch(local_cloud, mode):
    # GIVEN the old primary's tag was renamed, so the FAIL fence's selector matches no managed instance
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.ssm.register_instance(OLD_PRIMARY, tags={"Role": "database-primary-old"})

    # WHEN the plan runs (a real failover, and a drill)
    result = _run(cloud, _fence_plan("FAIL"), mode)

    # THEN the wave fails before anything launches, naming the step and why; its dependent is skipped
    assert result.status == "FAILED"
    waves = _waves(result)
    assert (waves["db"]["status"], waves["app"]["status"]) == ("FAILED", "SKIPPED")
    assert waves["db"]["reason"] == (
        "pre-launch script #1 AWS-RunShellScript Failed: could not run: no managed "
        "instance matches the tags {'Role': 'database-primary'}"
    )
    assert [(s["status"], s["instances"]) for s in waves["db"]["scripts"]] == [("Failed", [])]
    assert cloud.drs.stats.calls.get("StartRecovery", 0) == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_warn_fence_whose_tag_matches_no_instance_warns_and_the_wave_launches(local_cloud):
    # GIVEN the same renamed tag, the fence with onFailure WARN
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.ssm.register_instance(OLD_PRIMARY, tags={"Role": "database-primary-old"})

    # WHEN the plan runs
    result = _run(cloud, _fence_plan("WARN"), Mode.RECOVERY)

    # THEN the fence is Skipped with a warning saying why, and both waves launch
    assert result.status == "COMPLETED"
    db = _waves(result)["db"]
    assert [s["status"] for s in db["scripts"]] == ["Skipped"]
    assert db["warnings"] == [
        "db: pre-launch script #1 AWS-RunShellScript skipped: no managed instance matches "
        "the tags {'Role': 'database-primary'}"
    ]
    assert dict(cloud.drs.stats.launches) == {sid("f", 1): 1, sid("f", 2): 1}
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_step_whose_document_does_not_exist_is_refused_at_start_plan(local_cloud):
    # GIVEN a deploy that allows a document SSM does not have, and a plan whose pre-launch step names it
    cloud = local_cloud(**allowing("no-such-document"))
    cloud.ssm.register_instance(OLD_PRIMARY)
    script = {"documentName": "no-such-document", "targets": {"instanceIds": [OLD_PRIMARY]}}
    plan = {"planId": "refused", "waves": [wave("db", [sid("r", 1)], preLaunch=[script])]}

    # WHEN the plan is started
    result = _run_refused(cloud, plan)

    # THEN StartPlan refuses it with SSM's own words (DescribeDocument), and nothing was sent or launched
    assert [(e["code"], e["message"]) for e in result.rejected[0]["errors"]] == [
        (
            "unknown-document",
            "pre-launch step #1 of wave 'db': SSM document 'no-such-document' cannot be read: DescribeDocument: "
            "InvalidDocument: Document no-such-document does not exist in your account",
        )
    ]
    assert cloud.ssm.stats.commands_sent == 0
    assert cloud.drs.stats.calls.get("StartRecovery", 0) == 0


def test_a_required_step_ssm_refuses_fails_the_wave_before_launch(local_cloud):
    # GIVEN a FAIL pre-launch step whose only instance is not managed (SSM's InvalidInstanceId is waited out
    # until the step's timeout: a recovery instance's agent registers late)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.ssm.register_instance(OLD_PRIMARY)
    script = {
        "documentName": "AWS-RunShellScript",
        "parameters": {"commands": ["fence"]},
        "targets": {"instanceIds": ["i-0bbbbbbbbbbbbbbb2"]},
    }
    reason = (
        "pre-launch script #1 AWS-RunShellScript Failed: its targets were not online managed nodes within its "
        "timeout (600 s): InvalidInstanceId: Instances [i-0bbbbbbbbbbbbbbb2] not in a valid state for account "
        "123456789012"
    )
    plan = {"planId": "refused", "waves": [wave("db", [sid("r", 1)], preLaunch=[script])]}

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the wave fails before launch with SSM's own words, and nothing was sent or launched
    assert result.status == "FAILED"
    assert _waves(result)["db"]["reason"] == reason
    assert cloud.ssm.stats.commands_sent == 0
    assert cloud.drs.stats.calls.get("StartRecovery", 0) == 0
    assert_choreography_invariants(cloud, result.execution_id)


# ---- fault 7 (1): target resolution throttled ----------------------------------------------------


#: The reads of DescribeRecoveryInstances a throttled job end makes before it records its servers without their
#: recovery points (orchestrator/steps/recovery_points.py: the DRS adapter's read budget, then best effort).
RECOVERY_POINTS = READ_ATTEMPTS


def _post_launch_plan() -> dict[str, Any]:
    return {
        "planId": "throttled",
        "waves": [
            wave(
                "db",
                [sid("t", 1), sid("t", 2)],
                postLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo up"]}}],
            ),
            wave("app", [sid("t", 3)], ["db"]),
        ],
    }


def test_target_resolution_throttled_six_times_is_resent_by_a_tick_and_succeeds(local_cloud):
    # GIVEN DescribeRecoveryInstances throttled six times in a row (the DRS adapter's whole read budget)
    # when the post-launch script resolves its targets (after the six of the job end's read of the recovery
    # points, which gives up: best effort)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.drs.inject_error("ThrottlingException", operation="DescribeRecoveryInstances", count=RECOVERY_POINTS + 6)

    # WHEN the plan runs
    result = _run(cloud, _post_launch_plan())

    # THEN no handler failed: the script waited for one resend tick, was sent once and succeeded
    assert result.status == "COMPLETED"
    assert cloud.drs.stats.errors["ThrottlingException"] == RECOVERY_POINTS + 6
    [item] = _script_items(cloud, result.execution_id, "db")
    assert (item.status, item.try_number, item.resends) == ("Success", 1, 1)
    assert "ThrottlingException" in (item.send_error or "")
    script = _waves(result)["db"]["scripts"][0]
    assert (script["status"], script["attempts"], len(script["instances"])) == ("Success", 1, 2)
    assert cloud.ssm.stats.commands_sent == 1
    assert _waves(result)["app"]["status"] == "COMPLETED"
    assert_choreography_invariants(cloud, result.execution_id)


def test_target_resolution_throttled_past_its_budget_fails_the_wave_with_the_error(local_cloud):
    # GIVEN DescribeRecoveryInstances throttled for good (the job end's read of the recovery points, then 7 sends
    # of 6 reads each)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.drs.inject_error("ThrottlingException", operation="DescribeRecoveryInstances", count=RECOVERY_POINTS + 42)

    # WHEN the plan runs
    result = _run(cloud, _post_launch_plan())

    # THEN the plan ends: the step failed after its budget with the error as reason, its dependents skipped
    assert result.status == "FAILED"
    waves = _waves(result)
    assert (waves["db"]["status"], waves["app"]["status"]) == ("FAILED", "SKIPPED")
    assert waves["db"]["reason"] == (
        "post-launch script #1 AWS-RunShellScript Failed: could not resolve its targets or send after 7 "
        "attempts: ThrottlingException: Rate exceeded"
    )
    [item] = _script_items(cloud, result.execution_id, "db")
    assert (item.status, item.resends) == ("Failed", 6)
    # six resend ticks 15, 30, 60, 120, 240 and 300 s apart
    assert (at(str(item.ended_at)) - at(str(item.started_at))).total_seconds() >= 765
    assert cloud.ssm.stats.commands_sent == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_plan_cancelled_while_a_script_waits_for_its_resend_ends_cancelled(local_cloud):
    # GIVEN a run whose post-launch script is waiting for a resend tick (resolution throttled for good)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.drs.inject_error("ThrottlingException", operation="DescribeRecoveryInstances", count=RECOVERY_POINTS + 42)
    execution_id = start(cloud, parse_plan(_post_launch_plan()))
    cloud.run_until(lambda: any(i.resends for i in _script_items(cloud, execution_id, "db")), timeout=60)
    assert wave_status(cloud, execution_id, "db") == "POST_LAUNCH"

    # WHEN an operator cancels the plan
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="test")
    result = wait(cloud, execution_id, timeout=120)

    # THEN the plan ends CANCELLED: the script's budget ran out, the wave failed with the error as reason
    assert result.status == "CANCELLED"
    waves = _waves(result)
    assert (waves["db"]["status"], waves["app"]["status"]) == ("FAILED", "SKIPPED")
    assert "ThrottlingException" in waves["db"]["reason"]
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_redelivered_job_completion_resumes_the_post_launch_phase(local_cloud):
    # GIVEN the post-launch handler dies once while resolving the script's targets (after the wave moved to
    # POST_LAUNCH and the script was claimed)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    assert cloud.runtime is not None
    describe = cloud.runtime.drs.describe_recovery_instances
    crashes: list[int] = []

    def crash_once(**kwargs: Any) -> Any:
        if not crashes:
            crashes.append(1)
            raise ConnectionError("injected: the function died while resolving targets")
        return describe(**kwargs)

    cloud.runtime.drs.describe_recovery_instances = crash_once  # type: ignore[method-assign]

    # WHEN the plan runs (SQS redelivers the DRSJobCompleted)
    result = _run(cloud, _post_launch_plan())

    # THEN the redelivery resumed the phase: the script was sent once and the plan completed
    assert crashes == [1]
    assert cloud.stats.handler_errors == 1
    assert result.status == "COMPLETED"
    assert [s["status"] for s in _waves(result)["db"]["scripts"]] == ["Success"]
    assert cloud.ssm.stats.commands_sent == 1
    assert sum(cloud.dead_letters().values()) == 0
    assert dict(cloud.drs.stats.launches) == {sid("t", 1): 1, sid("t", 2): 1, sid("t", 3): 1}


# ---- fault 7 (4): the timeout reads the real statuses ----------------------------------------------


def test_a_script_that_succeeded_in_time_is_not_timed_out_when_its_completion_events_are_lost(local_cloud):
    # GIVEN lost SSM completion events and a script of 40 s with a 45 s timeout and one retry: the polls
    # (5, 15, 30, then 60 s after sending) do not see it end before the timeout tick
    cloud = local_cloud(**{"ssm.events": "drop", "ssm.documents.db-migrate.durationSeconds": 40})
    plan = {
        "planId": "in-time",
        "waves": [
            wave("db", [sid("m", 1)], postLaunch=[{"documentName": "db-migrate", "timeoutSeconds": 45, "retries": 1}])
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the timeout read the real status: Success on the first try, nothing cancelled or sent again
    assert result.status == "COMPLETED"
    script = _waves(result)["db"]["scripts"][0]
    assert (script["status"], script["attempts"]) == ("Success", 1)
    assert [i["status"] for i in script["instances"]] == ["Success"]
    assert "reason" not in script
    assert cloud.ssm.stats.commands_sent == 1
    assert cloud.ssm.stats.calls.get("CancelCommand", 0) == 0
    assert cloud.ssm.stats.events_emitted == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_at_the_timeout_only_the_invocations_still_running_are_cancelled(local_cloud):
    # GIVEN a 50 s script with a 60 s timeout on two existing instances, lost completion events, and one
    # instance that lost its SSM connection: it comes back 15 s after the send, so its invocation is still
    # running at the timeout while the other one has ended
    cloud = local_cloud(**{"ssm.events": "drop", "ssm.documents.drain-connections.durationSeconds": 50})
    online, late = "i-0ccccccccccccccc1", "i-0ccccccccccccccc2"
    cloud.ssm.register_instance(online)
    cloud.ssm.register_instance(late, ping_status="ConnectionLost")
    assert cloud.runtime is not None
    cancel = cloud.runtime.ssm.cancel
    cancels: list[tuple[str, list[str] | None]] = []

    def spy(command_id: str, instance_ids: list[str] | None = None) -> None:
        cancels.append((command_id, instance_ids))
        cancel(command_id, instance_ids)

    cloud.runtime.ssm.cancel = spy  # type: ignore[method-assign]
    plan = {
        "planId": "partial",
        "waves": [
            wave(
                "db",
                [sid("p", 1)],
                preLaunch=[
                    {
                        "documentName": "drain-connections",
                        "targets": {"instanceIds": [online, late]},
                        "timeoutSeconds": 60,
                        "onFailure": "WARN",
                    }
                ],
            )
        ],
    }
    execution_id = start(cloud, parse_plan(plan))
    cloud.run_until(lambda: bool(cloud.ssm._commands), timeout=60)
    [command] = cloud.ssm._commands.values()
    cloud.run_until(lambda: (cloud.clock.now() - command.requested).total_seconds() >= 15, timeout=60)
    cloud.ssm.set_ping_status(late, "Online")

    # WHEN the plan runs on
    result = wait(cloud, execution_id, timeout=120)

    # THEN only the late instance's invocation was cancelled and counts TimedOut; the other kept Success
    script = _waves(result)["db"]["scripts"][0]
    assert {i["instanceId"]: i["status"] for i in script["instances"]} == {online: "Success", late: "TimedOut"}
    assert script["status"] == "TimedOut"
    assert script["reason"] == "1 of 2 invocation(s) did not finish within 60 s: cancelled"
    assert cancels == [(command.command_id, [late])]
    assert {iid: inv.status for iid, inv in command.invocations.items()} == {online: "Success", late: "Cancelled"}
    assert result.status == "COMPLETED"  # onFailure WARN
    assert_choreography_invariants(cloud, result.execution_id)


# ---- fault 9: more than 50 explicit instance ids -------------------------------------------------


def test_more_than_fifty_explicit_instance_ids_are_sent_in_batches_of_fifty(local_cloud):
    # GIVEN a pre-launch script on 120 existing managed instances named one by one
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    ids = [f"i-{n:017x}" for n in range(1, 121)]
    for instance_id in ids:
        cloud.ssm.register_instance(instance_id)
    plan = {
        "planId": "many-ids",
        "waves": [
            wave(
                "db",
                [sid("n", 1)],
                preLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["drain"]},
                        "targets": {"instanceIds": ids},
                    }
                ],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN three SendCommand calls (50 + 50 + 20) reached every instance, all tracked to Success
    assert result.status == "COMPLETED"
    assert cloud.ssm.stats.calls["SendCommand"] == 3
    assert cloud.ssm.stats.max_instance_ids_per_call == 50
    script = _waves(result)["db"]["scripts"][0]
    assert (script["status"], len(script["commandIds"])) == ("Success", 3)
    assert sorted(i["instanceId"] for i in script["instances"]) == ids
    assert {i["status"] for i in script["instances"]} == {"Success"}
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_send_throttled_after_its_first_batch_sends_only_the_rest_on_its_resend(local_cloud):
    # GIVEN 120 explicit instances and SendCommand throttled on its second call (the first batch went out)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    ids = [f"i-{n:017x}" for n in range(1, 121)]
    for instance_id in ids:
        cloud.ssm.register_instance(instance_id)
    assert cloud.runtime is not None
    ssm_client = cloud.runtime.ssm._client
    send = ssm_client.send_command
    calls: list[int] = []

    def throttle_second(**kwargs: Any) -> Any:
        calls.append(len(kwargs.get("InstanceIds", [])))
        if len(calls) == 2:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendCommand")
        return send(**kwargs)

    ssm_client.send_command = throttle_second
    plan = {
        "planId": "partial-send",
        "waves": [
            wave(
                "db",
                [sid("q", 1)],
                preLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["drain"]},
                        "targets": {"instanceIds": ids},
                    }
                ],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the resend adopted the first command and sent the other 70 instances: each instance once
    assert result.status == "COMPLETED"
    assert calls == [50, 50, 50, 20]
    assert cloud.ssm.stats.commands_sent == 3
    script = _waves(result)["db"]["scripts"][0]
    assert (script["status"], len(script["commandIds"])) == ("Success", 3)
    assert sorted(i["instanceId"] for i in script["instances"]) == ids
    assert_choreography_invariants(cloud, result.execution_id)


def _throttle_invocation_reads(cloud: LocalCloud, times: int | None) -> list[int]:
    """ListCommandInvocations answers ThrottlingException `times` times (None: always)."""
    from botocore.exceptions import ClientError

    assert cloud.runtime is not None
    client = cloud.runtime.ssm._client
    real = client.list_command_invocations
    throttled: list[int] = []

    def list_command_invocations(**kwargs: Any) -> Any:
        if times is None or len(throttled) < times:
            throttled.append(1)
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ListCommandInvocations"
            )
        return real(**kwargs)

    client.list_command_invocations = list_command_invocations
    return throttled


def test_throttled_status_reads_only_delay_a_script(local_cloud):
    # GIVEN lost completion events, and the first three status reads throttled
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **{"ssm.events": "drop"})
    throttled = _throttle_invocation_reads(cloud, 3)
    plan = {
        "planId": "slow-reads",
        "waves": [
            wave(
                "db",
                [sid("s", 1)],
                postLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo up"]}}],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN later polls read the statuses: Success, no handler failed, sent once
    assert len(throttled) == 3
    assert result.status == "COMPLETED"
    assert [s["status"] for s in _waves(result)["db"]["scripts"]] == ["Success"]
    assert cloud.ssm.stats.commands_sent == 1
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_script_whose_statuses_can_never_be_read_ends_timed_out_at_its_timeout(local_cloud):
    # GIVEN lost completion events and every status read throttled, a FAIL script with a 60 s timeout
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **{"ssm.events": "drop"})
    _throttle_invocation_reads(cloud, None)
    plan = {
        "planId": "no-reads",
        "waves": [
            wave(
                "db",
                [sid("s", 2)],
                postLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["echo up"]},
                        "timeoutSeconds": 60,
                    }
                ],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the timeout tried again six times 30 s apart, then the try ended TimedOut with the error: the
    # wave failed and the plan ended
    assert result.status == "FAILED"
    db = _waves(result)["db"]
    assert db["reason"] == (
        "post-launch script #1 AWS-RunShellScript TimedOut: did not finish within 60 s, "
        "and its invocations could not be read: ThrottlingException: Rate exceeded"
    )
    [script] = db["scripts"]
    assert 60 + 6 * 30 <= (at(script["endedAt"]) - at(script["startedAt"])).total_seconds() < 60 + 7 * 30
    assert_choreography_invariants(cloud, result.execution_id)
