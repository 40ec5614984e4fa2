"""End to end: values from the run in step parameters (`${{ waves.db.privateIps }}`), resolved when the step is
sent and read back from what the local SSM simulator received."""

from __future__ import annotations

from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult, run_plan
from orchestrator.adapters.drs import READ_ATTEMPTS
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import allowing, assert_choreography_invariants, sid, wave


def _run(cloud: LocalCloud, plan: dict[str, Any]) -> RunResult:
    result = run_plan(cloud, parse_plan(plan))
    assert result.report is not None
    return result


def _waves(result: RunResult) -> dict[str, dict[str, Any]]:
    assert result.report is not None
    return {w["waveId"]: w for w in result.report["waves"]}


def _commands(cloud: LocalCloud, document: str) -> list[Any]:
    """The simulator's commands of one document, in send order."""
    return sorted((c for c in cloud.ssm._commands.values() if c.document.name == document), key=lambda c: c.requested)


def _recovery_instances(cloud: LocalCloud, servers: list[str]) -> dict[str, dict[str, Any]]:
    drs = cloud.session.client("drs")
    items = drs.describe_recovery_instances(filters={"sourceServerIDs": servers})["items"]
    return {i["sourceServerID"]: i for i in items}


def _ip(instance: dict[str, Any]) -> str:
    [nic] = instance["recoveryInstanceProperties"]["networkInterfaces"]
    return str(nic["ips"][0])


def _plan(db_servers: list[str], app_servers: list[str]) -> dict[str, Any]:
    """db -> app; app's post-launch step sends db's recovered private IPs (a list item alone: one item per IP, and
    inside a text: joined with commas) and the run's execution id and mode."""
    return {
        "planId": "refs",
        "waves": [
            wave("db", db_servers),
            wave(
                "app",
                app_servers,
                ["db"],
                postLaunch=[
                    {
                        "documentName": "AWS-RunShellScript",
                        "parameters": {
                            "commands": [
                                "${{ waves.db.privateIps }}",
                                "allow ${{ waves.db.privateIps }} for ${{ run.executionId }} (${{ run.mode }})",
                            ]
                        },
                    }
                ],
            ),
        ],
    }


def test_post_launch_step_receives_the_upstream_waves_recovered_private_ips(local_cloud):
    # GIVEN db (two servers) -> app, whose post-launch step references db's recovered private IPs
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    db_servers, app_servers = [sid("r", 1), sid("r", 2)], [sid("r", 3)]

    # WHEN it runs as a drill
    result = _run(cloud, _plan(db_servers, app_servers))

    # THEN the SSM simulator received db's real recovered private IPs, in source server id order
    assert result.status == "COMPLETED"
    recovered = _recovery_instances(cloud, db_servers)
    ips = [_ip(recovered[server]) for server in sorted(db_servers)]
    assert len(set(ips)) == 2
    [sent] = _commands(cloud, "AWS-RunShellScript")
    expected = [*ips, f"allow {','.join(ips)} for {result.execution_id} (DRILL)"]
    assert sent.parameters["commands"] == expected
    # AND the values are the evidence of the step's record in the report
    [script] = _waves(result)["app"]["scripts"]
    assert script["status"] == "Success"
    assert script["parameterValues"] == {"commands": expected}
    assert_choreography_invariants(cloud, result.execution_id)


def test_an_empty_upstream_value_fails_the_step_with_the_reason_and_sends_nothing(local_cloud):
    # GIVEN db -> app as above, where DRS cannot be read when db's job ends (DescribeRecoveryInstances throttled
    # through the adapter's whole read budget), so db's servers are on record without their private IPs
    cloud = local_cloud(**allowing("AWS-RunShellScript"))
    cloud.drs.inject_error("ThrottlingException", operation="DescribeRecoveryInstances", count=READ_ATTEMPTS)
    db_servers, app_servers = [sid("q", 1)], [sid("q", 2)]

    # WHEN it runs
    result = _run(cloud, _plan(db_servers, app_servers))

    # THEN the step failed with the reason (its onFailure FAIL fails app and the plan) and nothing was sent
    assert result.status == "FAILED"
    [db_instance] = _recovery_instances(cloud, db_servers).values()
    reason = (
        f"not sent: parameter 'commands': ${{{{ waves.db.privateIps }}}} is empty: server {db_servers[0]} of wave "
        f"'db' launched, but its recovery instance {db_instance['recoveryInstanceID']} has no private IP on record "
        "(DRS's DescribeRecoveryInstances did not give one when its job ended)"
    )
    waves = _waves(result)
    assert waves["db"]["status"] == "COMPLETED"
    assert (waves["app"]["status"], waves["app"]["reason"]) == (
        "FAILED",
        f"post-launch script #1 AWS-RunShellScript Failed: {reason}",
    )
    [script] = waves["app"]["scripts"]
    assert (script["status"], script["reason"], script["attempts"]) == ("Failed", reason, 1)
    assert "parameterValues" not in script
    assert _commands(cloud, "AWS-RunShellScript") == []
    assert_choreography_invariants(cloud, result.execution_id)
