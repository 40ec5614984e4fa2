"""End to end: SSM_AUTOMATION steps (issue #18) on the local cloud's SSM Automation simulation, whose API steps run
against moto: the ready DNS cutover runbook (infra/ssm_documents/DRSOrch-DnsCutover.yaml) after the web wave really
changes the record in the local Route 53."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from markupsafe import escape

from localcloud.cloud import AUTOMATION_ROLE_ARN, LocalCloud
from localcloud.runner import RunResult, run_plan, start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.scripts import ScriptId, ScriptStatus
from orchestrator.reporting.html import render_html
from tests.e2e.helpers import assert_choreography_invariants, at, command, session, sid, wave

RUNBOOK = "DRSOrch-DnsCutover"  # the ready runbook (infra/ssm_documents/), deployed and allow-listed
RECORD = "web.example.internal."
IP = "10.0.1.25"


def _zone(cloud: LocalCloud) -> str:
    route53 = cloud.session.client("route53")
    return str(route53.create_hosted_zone(Name="example.internal", CallerReference="e2e")["HostedZone"]["Id"])


def _record(cloud: LocalCloud, zone: str) -> str | None:
    sets = cloud.session.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    found = [s for s in sets if s["Name"] == RECORD and s["Type"] == "A"]
    return str(found[0]["ResourceRecords"][0]["Value"]) if found else None


def _plan(zone: str, **step: Any) -> dict[str, Any]:
    cutover = {
        "type": "SSM_AUTOMATION",
        "documentName": RUNBOOK,
        "parameters": {"HostedZoneId": zone, "RecordName": RECORD, "Value": IP},
        **step,
    }
    return {"planId": "dns", "waves": [wave("web", [sid("w", 1), sid("w", 2)], postLaunch=[cutover])]}


def _run(cloud: LocalCloud, plan: dict[str, Any]) -> RunResult:
    result = run_plan(cloud, parse_plan(plan))
    assert result.report is not None
    return result


def _scripts(result: RunResult) -> list[dict[str, Any]]:
    assert result.report is not None
    return list(result.report["waves"][0]["scripts"])


def _executions(cloud: LocalCloud) -> list[Any]:
    return [e for e in cloud.ssm.automation.executions.values() if e.document == RUNBOOK]


def test_a_post_launch_runbook_upserts_the_dns_record_once_under_duplicated_delivery(local_cloud):
    # GIVEN a hosted zone, the runbook, every event delivered twice, and a plan whose web wave cuts DNS over
    cloud = local_cloud(**{"faults.duplicateDelivery": 1.0})
    zone = _zone(cloud)

    # WHEN it runs
    result = _run(cloud, _plan(zone))

    # THEN the plan completed, the record points at the web address, and the runbook ran exactly once
    assert result.status == "COMPLETED"
    assert _record(cloud, zone) == IP
    [execution] = _executions(cloud)
    assert execution.status == "Success"
    assert [step.name for step in execution.steps] == ["upsertRecord", "waitForInSync", "verifyRecord"]
    assert execution.sent["AutomationAssumeRole"] == [AUTOMATION_ROLE_ARN]  # runbooks run as the stack's role
    assert cloud.ssm.stats.calls["StartAutomationExecution"] == 1
    # AND the report shows the step with its automation execution, status and outputs
    [step] = _scripts(result)
    assert (step["documentName"], step["status"], step["attempts"]) == (RUNBOOK, "Success", 1)
    [entry] = step["instances"]
    assert entry["instanceId"] == execution.execution_id
    assert entry["status"] == "Success"
    assert entry["output"].startswith('outputs: {"upsertRecord.ChangeId":')
    # AND the HTML report shows the execution and its outputs, escaped
    page = render_html(result.report)
    assert execution.execution_id in page
    assert str(escape(entry["output"])) in page
    assert '{"upsertRecord' not in page  # never unescaped
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_failing_runbook_with_on_failure_warn_warns_and_the_plan_completes(local_cloud):
    # GIVEN a runbook whose UPSERT fails (the profile's fault), in a WARN step
    cloud = local_cloud(**{"ssm.automationFailSteps": {RUNBOOK: ["upsertRecord"]}})
    zone = _zone(cloud)

    # WHEN the plan runs
    result = _run(cloud, _plan(zone, onFailure="WARN"))

    # THEN the plan completes with the step Failed and a warning naming the automation's failure; DNS is unchanged
    assert result.status == "COMPLETED"
    [step] = _scripts(result)
    assert step["status"] == "Failed"
    [execution] = _executions(cloud)
    assert step["reason"] == f"automation {execution.execution_id} Failed: {execution.failure}"
    assert "simulated fault" in step["reason"]
    assert result.report is not None
    [warning] = result.report["waves"][0]["warnings"]
    assert warning.startswith("web: post-launch script #1 DRSOrch-DnsCutover Failed (automation ")
    assert warning.endswith("(onFailure WARN)")
    assert _record(cloud, zone) is None


def test_a_failing_runbook_with_on_failure_fail_fails_the_wave_after_its_retries(local_cloud):
    # GIVEN the failing runbook in a FAIL step with one retry
    cloud = local_cloud(**{"ssm.automationFailSteps": {RUNBOOK: ["upsertRecord"]}})
    zone = _zone(cloud)

    # WHEN the plan runs
    result = _run(cloud, _plan(zone, retries=1))

    # THEN the wave and the plan failed, after two automation executions (one per try)
    assert result.status == "FAILED"
    [step] = _scripts(result)
    assert (step["status"], step["attempts"]) == ("Failed", 2)
    assert len(_executions(cloud)) == 2
    assert result.report is not None
    assert "DRSOrch-DnsCutover Failed" in result.report["waves"][0]["reason"]


def test_a_runbook_still_running_at_its_timeout_is_stopped_and_times_out(local_cloud):
    # GIVEN a runbook that sleeps an hour, in a step with a 60 s timeout
    cloud = local_cloud()
    sleepy = {
        "schemaVersion": "0.3",
        "mainSteps": [{"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}}],
    }
    cloud.ssm.register_runbook("DRSOrch-TestNap", sleepy)
    plan = {
        "planId": "nap",
        "waves": [
            wave(
                "web",
                [sid("w", 1)],
                postLaunch=[{"type": "SSM_AUTOMATION", "documentName": "DRSOrch-TestNap", "timeoutSeconds": 60}],
            )
        ],
    }

    # WHEN it runs
    result = _run(cloud, plan)

    # THEN the execution was stopped (Cancelled in SSM) and the step TimedOut, failing the wave
    assert result.status == "FAILED"
    [execution] = [e for e in cloud.ssm.automation.executions.values() if e.document == "DRSOrch-TestNap"]
    assert execution.status == "Cancelled"
    [step] = _scripts(result)
    assert step["status"] == "TimedOut"
    assert step["reason"] == f"automation {execution.execution_id} TimedOut: it did not end within 60 s"


def test_a_cancel_stops_a_running_runbook_and_closes_the_plan_at_once(local_cloud):
    # GIVEN a plan whose one wave runs an hour-long runbook before its launch (timeout 2 hours), running a minute
    cloud = local_cloud()
    nap = {
        "schemaVersion": "0.3",
        "mainSteps": [{"name": "nap", "action": "aws:sleep", "inputs": {"Duration": "PT1H"}}],
    }
    cloud.ssm.register_runbook("DRSOrch-TestNap", nap)
    step = {"type": "SSM_AUTOMATION", "documentName": "DRSOrch-TestNap", "timeoutSeconds": 7200}
    execution_id = start(cloud, parse_plan({"planId": "nap", "waves": [wave("db", [sid("n", 1)], preLaunch=[step])]}))
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    napping = ScriptId(execution_id=execution_id, wave_id="db", wave_attempt=1, phase="PRE_LAUNCH", index=0)

    def runbook_running() -> bool:
        run = ledger.get_script(napping)
        return run is not None and run.status is ScriptStatus.RUNNING

    cloud.run_until(runbook_running, timeout=60)
    cloud.clock.jump_to(cloud.clock.now() + timedelta(seconds=60))

    # WHEN an operator cancels the plan
    cancelled_at = cloud.clock.now()
    command(cloud, "CancelPlan", {"executionId": execution_id}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN the runbook was stopped (Cancelled in SSM), the step Cancelled by the operator, the plan CANCELLED at once
    assert result.status == "CANCELLED", result.problem
    [execution] = list(cloud.ssm.automation.executions.values())
    assert execution.status == "Cancelled"
    assert result.report is not None
    [db] = result.report["waves"]
    [stopped] = db["scripts"]
    assert (stopped["documentName"], stopped["status"], stopped["reason"]) == (
        "DRSOrch-TestNap",
        "Cancelled",
        f"stopped: the plan was cancelled by {session('ops')}",
    )
    assert at(result.report["endedAt"]) - cancelled_at <= timedelta(seconds=5)
    assert dict(cloud.drs.stats.launches) == {}
    assert_choreography_invariants(cloud, execution_id)
