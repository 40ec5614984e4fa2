"""End to end: pre-launch and post-launch scripts on SSM Run Command (the local cloud's SSM simulator).

tests/chaos/test_script_duplicates.py runs these scenarios again with half of all events delivered
twice: each asserts how many commands were sent, so a duplicate that sends twice fails it.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult, run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import allowing, assert_choreography_invariants, at, events_of, sid, wave

EXISTING = "i-0aaaaaaaaaaaaaaa1"  # a managed node that exists before the plan (the old site)


def _run(cloud: LocalCloud, plan: dict[str, Any]) -> RunResult:
    result = run_plan(cloud, parse_plan(plan))
    assert result.report is not None
    return result


def _waves(result: RunResult) -> dict[str, dict[str, Any]]:
    assert result.report is not None
    return {w["waveId"]: w for w in result.report["waves"]}


def _scripts(result: RunResult, wave_id: str) -> list[dict[str, Any]]:
    return list(_waves(result)[wave_id]["scripts"])


def _commands(cloud: LocalCloud, document: str) -> list[Any]:
    """The simulator's commands of one document, in send order."""
    return sorted((c for c in cloud.ssm._commands.values() if c.document.name == document), key=lambda c: c.requested)


def _drs(cloud: LocalCloud) -> Any:
    return cloud.session.client("drs")


def _recovery_instances(cloud: LocalCloud, servers: list[str]) -> dict[str, dict[str, Any]]:
    items = _drs(cloud).describe_recovery_instances(filters={"sourceServerIDs": servers})["items"]
    return {i["sourceServerID"]: i for i in items}


def test_pre_launch_scripts_run_before_start_recovery_and_post_launch_after_the_launch(local_cloud):
    # GIVEN a wave with a pre-launch script on an existing instance and two post-launch scripts on its own
    # instances (the second declares the run context parameters)
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.ssm.register_instance(EXISTING, tags={"Role": "database-primary"})
    servers = [sid("a", 1), sid("a", 2)]
    plan = {
        "planId": "order",
        "waves": [
            wave(
                "db",
                servers,
                preLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["echo fence"]},
                        "targets": {"instanceIds": [EXISTING]},
                    },
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["echo by tag"]},
                        "targets": {"tags": {"Role": "database-primary"}},
                    },
                ],
                postLaunch=[
                    {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo up"]}},
                    {"documentName": "DRSOrch-WaitForSsmAgent", "timeoutSeconds": 900},
                ],
            )
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN it completes; the pre-launch scripts ended before the DRS job was created, in plan order
    assert result.status == "COMPLETED"
    scripts = _scripts(result, "db")
    assert [(s["phase"], s["documentName"], s["status"]) for s in scripts] == [
        ("PRE_LAUNCH", "AWS-RunShellScript", "Success"),
        ("PRE_LAUNCH", "AWS-RunShellScript", "Success"),
        ("POST_LAUNCH", "AWS-RunShellScript", "Success"),
        ("POST_LAUNCH", "DRSOrch-WaitForSsmAgent", "Success"),
    ]
    jobs = _drs(cloud).describe_jobs(filters={})["items"]
    job_created = min(at(j["creationDateTime"]) for j in jobs)
    pre, post = scripts[:2], scripts[2:]
    assert at(pre[0]["endedAt"]) <= at(pre[1]["startedAt"])
    assert at(pre[1]["endedAt"]) <= job_created
    assert [i["instanceId"] for i in pre[0]["instances"]] == [EXISTING]
    assert [i["instanceId"] for i in pre[1]["instances"]] == [EXISTING]
    # AND the post-launch scripts started after every server launched, on the recovery instances
    instances = _recovery_instances(cloud, servers)
    launched = max(at(i["recoveryInstanceProperties"]["lastUpdatedDateTime"]) for i in instances.values())
    assert at(post[0]["startedAt"]) >= launched
    assert at(post[0]["endedAt"]) <= at(post[1]["startedAt"])
    ec2_ids = sorted(i["ec2InstanceID"] for i in instances.values())
    assert sorted(i["instanceId"] for i in post[1]["instances"]) == ec2_ids
    assert all(i["status"] == "Success" and i["durationSeconds"] >= 0 and i["output"] for i in post[1]["instances"])
    # AND the run context reached the document that declares it (and only that one)
    agent = _commands(cloud, "DRSOrch-WaitForSsmAgent")[0]
    context = {k: v[0] for k, v in agent.parameters.items()}
    assert (context["ExecutionId"], context["PlanId"], context["WaveId"], context["Mode"]) == (
        result.execution_id,
        "order",
        "db",
        "DRILL",
    )
    assert context["executionTimeout"] == "900"
    mapping = json.loads(context["RecoveryInstances"])
    assert mapping == {
        s: {
            "instanceId": instances[s]["ec2InstanceID"],
            "privateIp": instances[s]["recoveryInstanceProperties"]["networkInterfaces"][0]["ips"][0],
        }
        for s in servers
    }
    assert "ExecutionId" not in _commands(cloud, "AWS-RunShellScript")[0].parameters
    # AND the Done events carry the summaries; each script was sent once
    pre_done = events_of(cloud, "PreLaunchDone", result.execution_id)[0].detail
    post_done = events_of(cloud, "PostLaunchDone", result.execution_id)[0].detail
    assert [s["status"] for s in pre_done["scripts"]] == ["Success", "Success"]
    assert [s["documentName"] for s in post_done["scripts"]] == ["AWS-RunShellScript", "DRSOrch-WaitForSsmAgent"]
    assert cloud.ssm.stats.commands_sent == 4
    assert_choreography_invariants(cloud, result.execution_id)


def _failing_plan(on_failure: str) -> dict[str, Any]:
    return {
        "planId": f"script-{on_failure.lower()}",
        "waves": [
            wave(
                "app",
                [sid("b", 1)],
                postLaunch=[
                    {"documentName": "app-smoke-test", "onFailure": on_failure},
                    {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo after"]}},
                ],
            ),
            wave("web", [sid("b", 2)], ["app"]),
        ],
    }


def test_failing_script_with_warn_records_a_warning_and_the_plan_goes_on(local_cloud):
    # GIVEN a post-launch script that fails on every instance, onFailure WARN
    failing = {"ssm.documents.app-smoke-test.status": "Failed"}
    cloud = local_cloud(**allowing("AWS-RunShellScript", "app-smoke-test"), **failing)

    # WHEN the plan runs
    result = _run(cloud, _failing_plan("WARN"))

    # THEN the script is Failed with a warning, the next script still runs, and the plan completes
    assert result.status == "COMPLETED"
    scripts = _scripts(result, "app")
    assert [(s["documentName"], s["status"]) for s in scripts] == [
        ("app-smoke-test", "Failed"),
        ("AWS-RunShellScript", "Success"),
    ]
    assert scripts[0]["instances"][0]["status"] == "Failed"
    assert "failed" in scripts[0]["instances"][0]["output"]
    warnings = _waves(result)["app"]["warnings"]
    assert len(warnings) == 1
    assert "app-smoke-test" in warnings[0]
    assert "WARN" in warnings[0]
    done = events_of(cloud, "PostLaunchDone", result.execution_id, "app")[0].detail
    assert done["warnings"] == warnings
    assert _waves(result)["web"]["status"] == "COMPLETED"
    assert cloud.ssm.stats.commands_sent == 2
    assert_choreography_invariants(cloud, result.execution_id)


def test_failing_script_with_fail_fails_the_wave_and_stops_the_plan(local_cloud):
    # GIVEN the same failing script, onFailure FAIL (the wave says STOP)
    failing = {"ssm.documents.app-smoke-test.status": "Failed"}
    cloud = local_cloud(**allowing("AWS-RunShellScript", "app-smoke-test"), **failing)

    # WHEN the plan runs
    result = _run(cloud, _failing_plan("FAIL"))

    # THEN the wave fails on it, the next script never runs, and the dependent wave is skipped
    assert result.status == "FAILED"
    waves = _waves(result)
    assert (waves["app"]["status"], waves["web"]["status"]) == ("FAILED", "SKIPPED")
    assert "app-smoke-test Failed" in waves["app"]["reason"]
    assert [s["status"] for s in waves["app"]["scripts"]] == ["Failed"]
    failed = events_of(cloud, "WaveFailed", result.execution_id, "app")
    assert failed
    assert failed[0].detail["onFailure"] == "STOP"
    assert not events_of(cloud, "PostLaunchDone", result.execution_id, "app")
    assert cloud.ssm.stats.commands_sent == 1
    assert_choreography_invariants(cloud, result.execution_id)


def test_script_exceeding_its_timeout_is_cancelled_and_counts_as_timed_out(local_cloud):
    # GIVEN a post-launch script that runs 10 minutes with a 60 s timeout (onFailure WARN)
    cloud = local_cloud(**{"ssm.documents.slow-migration.durationSeconds": 600})
    plan = {
        "planId": "timeout",
        "waves": [
            wave(
                "app",
                [sid("c", 1)],
                postLaunch=[{"documentName": "slow-migration", "timeoutSeconds": 60, "onFailure": "WARN"}],
            )
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the command was cancelled at the timeout and the script counts as TimedOut
    assert result.status == "COMPLETED"
    script = _scripts(result, "app")[0]
    assert script["status"] == "TimedOut"
    assert [i["status"] for i in script["instances"]] == ["TimedOut"]
    assert 60 <= (at(script["endedAt"]) - at(script["startedAt"])).total_seconds() < 120
    command = _commands(cloud, "slow-migration")[0]
    assert command.cancel_requested
    assert [inv.status for inv in command.invocations.values()] == ["Cancelled"]
    assert cloud.ssm.stats.calls["CancelCommand"] >= 1
    assert any("TimedOut" in w for w in _waves(result)["app"]["warnings"])
    assert cloud.ssm.stats.commands_sent == 1
    assert_choreography_invariants(cloud, result.execution_id)


def test_failed_script_is_retried_with_backoff_and_succeeds(local_cloud):
    # GIVEN a post-launch script (retries: 2) whose document fails the first time, then works
    cloud = local_cloud(**{"ssm.documents.flaky-dns-update.status": "Failed"})
    terminate = cloud.ssm._terminate

    def terminate_then_heal(command: Any, invocation: Any, *args: Any) -> None:
        terminate(command, invocation, *args)
        if command.document.name == "flaky-dns-update" and invocation.status == "Failed":
            cloud.ssm.set_document_behavior("flaky-dns-update", status="Success")

    cloud.ssm._terminate = terminate_then_heal  # type: ignore[method-assign]
    plan = {
        "planId": "retry",
        "waves": [wave("app", [sid("d", 1)], postLaunch=[{"documentName": "flaky-dns-update", "retries": 2}])],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the script was sent twice, the second time after a backoff, and it succeeded
    assert result.status == "COMPLETED"
    script = _scripts(result, "app")[0]
    assert (script["status"], script["attempts"]) == ("Success", 2)
    first, second = _commands(cloud, "flaky-dns-update")
    assert (second.requested - max(i.ended for i in first.invocations.values())).total_seconds() >= 10
    assert script["commandIds"] == [second.command_id]
    assert cloud.ssm.stats.commands_sent == 2
    assert_choreography_invariants(cloud, result.execution_id)


def test_scripts_target_the_recovery_instances_of_an_upstream_wave(local_cloud):
    # GIVEN db -> app, where app's pre-launch and post-launch scripts target db's recovery instances
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    db_servers, app_servers = [sid("e", 1), sid("e", 2)], [sid("e", 3)]
    plan = {
        "planId": "upstream",
        "waves": [
            wave("db", db_servers),
            wave(
                "app",
                app_servers,
                ["db"],
                preLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent", "targets": {"wave": "db"}}],
                postLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {"commands": ["allow app"]},
                        "targets": {"wave": "db"},
                    },
                    {"documentName": "DRSOrch-WaitForSsmAgent", "targets": {"wave": "db"}},
                ],
            ),
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN every app script ran on db's recovery instances (their EC2 instance ids)
    assert result.status == "COMPLETED"
    db_instances = sorted(i["ec2InstanceID"] for i in _recovery_instances(cloud, db_servers).values())
    scripts = _scripts(result, "app")
    assert [s["status"] for s in scripts] == ["Success", "Success", "Success"]
    for script in scripts:
        assert sorted(i["instanceId"] for i in script["instances"]) == db_instances
    # AND the post-launch context maps app's own servers to their new instances
    app_instance = _recovery_instances(cloud, app_servers)[app_servers[0]]
    post = _commands(cloud, "DRSOrch-WaitForSsmAgent")[-1]
    mapping = json.loads(post.parameters["RecoveryInstances"][0])
    assert mapping[app_servers[0]]["instanceId"] == app_instance["ec2InstanceID"]
    assert cloud.ssm.stats.commands_sent == 3
    assert_choreography_invariants(cloud, result.execution_id)


def test_120_target_instances_are_sent_in_three_commands(local_cloud):
    # GIVEN a wave of 120 servers with one post-launch script on its own instances
    fast = {"drs.launchSeconds": {"min": 20, "max": 40}, "drs.launchEvents": "drop"}
    cloud = local_cloud(**allowing("AWS-RunShellScript"), **fast)
    servers = [sid("f", n) for n in range(120)]
    plan = {
        "planId": "wide",
        "waves": [
            wave(
                "fleet",
                servers,
                postLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo ok"]}}],
            )
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN SendCommand was called three times (50 + 50 + 20) and every instance reported Success
    assert result.status == "COMPLETED"
    assert cloud.ssm.stats.calls["SendCommand"] == 3
    assert cloud.ssm.stats.max_instance_ids_per_call == 50
    assert sorted(len(c.instance_ids) for c in _commands(cloud, "AWS-RunShellScript")) == [20, 50, 50]
    script = _scripts(result, "fleet")[0]
    assert script["status"] == "Success"
    assert len(script["commandIds"]) == 3
    assert len(script["instances"]) == 120
    assert {i["status"] for i in script["instances"]} == {"Success"}
    assert_choreography_invariants(cloud, result.execution_id)


def test_completion_is_detected_by_polling_when_ssm_events_are_dropped(local_cloud):
    # GIVEN SSM status events that never arrive
    cloud = local_cloud(**{"ssm.events": "drop"})
    plan = {
        "planId": "no-events",
        "waves": [
            wave("db", [sid("g", 1)], postLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent"}]),
            wave("app", [sid("g", 2)], ["db"], postLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent"}]),
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN the poll ticks saw every command end and the plan completed
    assert result.status == "COMPLETED"
    assert cloud.ssm.stats.events_emitted == 0
    assert cloud.ssm.stats.events_dropped == 2
    assert [s["status"] for w in ("db", "app") for s in _scripts(result, w)] == ["Success", "Success"]
    assert cloud.ssm.stats.calls["ListCommandInvocations"] >= 2
    assert cloud.ssm.stats.commands_sent == 2
    assert_choreography_invariants(cloud, result.execution_id)


def test_failing_health_check_fails_the_wave_and_holds_its_dependents_back(local_cloud):
    # GIVEN db -> app, where db's health check fails (its onFailure says WARN: a gate ignores that)
    cloud = local_cloud(**{"ssm.documents.db-health.status": "Failed"})
    plan = {
        "planId": "gate",
        "defaults": {"onFailure": "CONTINUE"},
        "waves": [
            wave(
                "db",
                [sid("h", 1)],
                postLaunch=[{"documentName": "DRSOrch-WaitForSsmAgent"}],
                healthCheck={"documentName": "db-health", "onFailure": "WARN"},
            ),
            wave("app", [sid("h", 2)], ["db"]),
        ],
    }

    # WHEN the plan runs
    result = _run(cloud, plan)

    # THEN db failed on its health check (run after the post-launch scripts), app was never released
    assert result.status == "FAILED"
    waves = _waves(result)
    assert (waves["db"]["status"], waves["app"]["status"]) == ("FAILED", "SKIPPED")
    assert [(s["documentName"], s["status"], s.get("healthCheck", False)) for s in waves["db"]["scripts"]] == [
        ("DRSOrch-WaitForSsmAgent", "Success", False),
        ("db-health", "Failed", True),
    ]
    assert "health check db-health Failed" in waves["db"]["reason"]
    assert not events_of(cloud, "WaveReady", result.execution_id, "app")
    assert sid("h", 2) not in cloud.drs.stats.launches
    assert_choreography_invariants(cloud, result.execution_id)


def test_pre_launch_script_on_its_own_wave_fails_the_wave_before_launch_when_required(local_cloud):
    # GIVEN a pre-launch script without targets (so: this wave, whose instances do not exist yet), onFailure
    # FAIL by default
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    plan = {
        "planId": "own",
        "waves": [
            wave(
                "db",
                [sid("k", 1)],
                preLaunch=[{"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo"]}}],
            )
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN the step that cannot run fails the wave before anything launches, saying which step and why
    assert result.status == "FAILED"
    script = _scripts(result, "db")[0]
    assert (script["phase"], script["status"]) == ("PRE_LAUNCH", "Failed")
    reason = _waves(result)["db"]["reason"]
    assert reason == (
        "pre-launch script #1 AWS-RunShellScript Failed: could not run: its targets default to "
        "this wave, whose recovery instances do not exist before the launch"
    )
    assert cloud.ssm.stats.commands_sent == 0
    assert cloud.drs.stats.calls.get("StartRecovery", 0) == 0
    assert_choreography_invariants(cloud, result.execution_id)


def test_pre_launch_script_on_its_own_wave_with_warn_is_skipped_with_a_warning(local_cloud):
    # GIVEN the same script, onFailure WARN
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    plan = {
        "planId": "own",
        "waves": [
            wave(
                "db",
                [sid("k", 1)],
                preLaunch=[
                    {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["echo"]}, "onFailure": "WARN"}
                ],
            )
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN the script is Skipped with a warning saying why, nothing is sent, and the wave goes on
    assert result.status == "COMPLETED"
    script = _scripts(result, "db")[0]
    assert (script["phase"], script["status"]) == ("PRE_LAUNCH", "Skipped")
    assert "do not exist before the launch" in script["reason"]
    assert _waves(result)["db"]["warnings"] == [
        "db: pre-launch script #1 AWS-RunShellScript skipped: its targets default to this wave, whose recovery "
        "instances do not exist before the launch"
    ]
    assert cloud.ssm.stats.commands_sent == 0
    assert_choreography_invariants(cloud, result.execution_id)
