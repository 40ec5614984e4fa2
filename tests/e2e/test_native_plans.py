"""End to end on the local cloud: a native DRS recovery plan imported with `drs-orch import-native --aws` runs
as the native plan would (its steps launched one after the other, in the native order, OPTIONAL servers kept, its
WAIT steps waited on the scheduler), and `drs-orch export-native --aws` of a diamond explains the flattening and
leaves a native plan of its layers."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from drs_orch.app import app
from localcloud.runner import run_plan
from orchestrator.domain.plan import load_plan
from tests.e2e.helpers import sid

runner = CliRunner()
REGION = ["--region", "us-east-1"]
PREFIX = "arn:aws:drs:us-east-1:123456789012:source-server/"
DB, APP1, APP2, WEB = sid("db", 1), sid("ap", 1), sid("ap", 2), sid("wb", 1)


def _server_step(*servers: tuple[str, str]) -> dict[str, Any]:
    return {"serverStepConfiguration": {"servers": [{"serverArn": PREFIX + s, "impactLevel": i} for s, i in servers]}}


def _launch_order(drs: Any) -> list[list[str]]:
    """The source servers of each LAUNCH job, in the order DRS created the jobs."""
    jobs = [job for job in drs.describe_jobs(filters={})["items"] if job["type"] == "LAUNCH"]
    jobs.sort(key=lambda job: (job["creationDateTime"], job["jobID"]))
    return [sorted(p["sourceServerID"] for p in job["participatingServers"]) for job in jobs]


def test_an_imported_native_plan_launches_its_steps_in_the_native_order(local_cloud, tmp_path: Path) -> None:
    # GIVEN a native plan whose steps were created out of order: db, then app (one OPTIONAL server), then web
    cloud = local_cloud()
    cloud.drs.ensure_servers([DB, APP1, APP2, WEB])
    drs = cloud.session.client("drs")
    plan_arn = drs.create_recovery_plan(name="shop")["recoveryPlan"]["recoveryPlanArn"]
    drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn, stepName="web", configuration=_server_step((WEB, "CRITICAL"))
    )
    drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn, stepName="db", stepOrder=1, configuration=_server_step((DB, "CRITICAL"))
    )
    drs.create_recovery_plan_step(
        recoveryPlanArn=plan_arn,
        stepName="app",
        stepOrder=2,
        configuration=_server_step((APP1, "CRITICAL"), (APP2, "OPTIONAL")),
    )
    cloud.drs.set_launch_outcome(APP2, "FAILED")  # an OPTIONAL server that fails does not stop the plan

    # WHEN it is imported by ARN and our plan runs
    out = tmp_path / "shop.yaml"
    result = runner.invoke(app, ["import-native", plan_arn, "-o", str(out), "--aws", *REGION])
    assert result.exit_code == 0, result.output
    run = run_plan(cloud, load_plan(out), timeout=120)

    # THEN it completed, each step's servers launched together, in the native step order
    assert run.status == "COMPLETED", run.report
    assert _launch_order(drs) == [[DB], [APP1, APP2], [WEB]]
    assert run.report is not None
    assert [
        (w["waveId"], [(s["sourceServerId"], s["launchStatus"]) for s in w["servers"]]) for w in run.report["waves"]
    ] == [
        ("db", [(DB, "LAUNCHED")]),
        ("app", [(APP1, "LAUNCHED"), (APP2, "FAILED")]),
        ("web", [(WEB, "LAUNCHED")]),
    ]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_imported_native_wait_holds_the_next_step_for_its_minutes(local_cloud, tmp_path: Path) -> None:
    # GIVEN a native plan: SERVER db, WAIT 10 minutes, SERVER web
    cloud = local_cloud()
    cloud.drs.ensure_servers([DB, WEB])
    drs = cloud.session.client("drs")
    plan_arn = drs.create_recovery_plan(name="paced")["recoveryPlan"]["recoveryPlanArn"]
    for name, configuration in (
        ("db", _server_step((DB, "CRITICAL"))),
        ("settle", {"waitStepConfiguration": {"waitDurationMinutes": 10}}),
        ("web", _server_step((WEB, "CRITICAL"))),
    ):
        drs.create_recovery_plan_step(recoveryPlanArn=plan_arn, stepName=name, configuration=configuration)

    # WHEN it is imported by name and our plan runs
    out = tmp_path / "paced.yaml"
    result = runner.invoke(app, ["import-native", "paced", "-o", str(out), "--aws", *REGION])
    assert result.exit_code == 0, result.output
    run = run_plan(cloud, load_plan(out), timeout=120)

    # THEN it completed, the servers launched in the native order
    assert run.status == "COMPLETED", run.report
    assert _launch_order(drs) == [[DB], [WEB]]
    assert run.report is not None
    db, web = run.report["waves"]
    # AND web's launch started no earlier than 10 simulated minutes after db had ended
    assert _at(web["launchStartedAt"]) - _at(db["endedAt"]) >= timedelta(seconds=600)
    # AND the report shows the wait: web's one pre-launch step, 600 s from its start to its end, sent to no instance
    [wait] = web["scripts"]
    assert (wait["phase"], wait["documentName"], wait["status"], wait["instanceCount"]) == (
        "PRE_LAUNCH",
        "WAIT 600 s",
        "Success",
        0,
    )
    assert _at(wait["endedAt"]) - _at(wait["startedAt"]) >= timedelta(seconds=600)
    assert _at(wait["startedAt"]) >= _at(db["endedAt"])
    assert _at(web["launchStartedAt"]) >= _at(wait["endedAt"])


def test_export_native_of_a_diamond_explains_the_flattening_and_holds_the_layers(local_cloud, tmp_path: Path) -> None:
    # GIVEN the diamond example and its servers in the account
    plan_file = Path(__file__).resolve().parents[2] / "drs_orch" / "examples" / "diamond.yaml"
    plan = load_plan(plan_file)
    cloud = local_cloud()
    cloud.drs.ensure_servers([s for wave in plan.waves for s in wave.server_ids])

    # WHEN it is exported to the account
    result = runner.invoke(app, ["export-native", str(plan_file), "--aws", *REGION])

    # THEN what cannot be expressed was printed before the plan was created
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    explained = (
        "- layer 2: waves B, C are parallel branches; they become one step 'B and C' that launches their servers "
        "together and ends when all of them have - wave C: onFailure CONTINUE (a failed native step ends the "
        "execution) - wave D: postLaunch script DRSOrch-HealthCheck (native steps run no scripts) created native "
        "recovery plan 'diamond'"
    )
    assert explained in text
    # AND the account's native plan holds the three layers, tagged with the plan it came from
    drs = cloud.session.client("drs")
    (summary,) = drs.list_recovery_plans()["recoveryPlans"]
    native = drs.get_recovery_plan(recoveryPlanArn=summary["recoveryPlanArn"])["recoveryPlan"]
    assert (native["name"], native["description"], native["tags"]) == (
        "diamond",
        "Diamond dependencies",
        {"drs-orch:plan-id": "diamond"},
    )
    steps = drs.list_recovery_plan_steps(recoveryPlanArn=summary["recoveryPlanArn"])["recoveryPlanSteps"]
    assert [
        (
            s["stepOrder"],
            s["stepName"],
            [x["serverArn"][len(PREFIX) :] for x in s["configuration"]["serverStepConfiguration"]["servers"]],
        )
        for s in steps
    ] == [
        (1, "A", ["s-a0000000000000001"]),
        (2, "B and C", ["s-b0000000000000001", "s-b0000000000000002", "s-c0000000000000001"]),
        (3, "D", ["s-d0000000000000001"]),
    ]

    # WHEN it is exported again THEN nothing is written: the native plan is already up to date
    again = runner.invoke(app, ["export-native", str(plan_file), "--aws", *REGION])
    assert again.exit_code == 0, again.output
    assert f"native recovery plan 'diamond' ({summary['recoveryPlanArn']}) is already up to date" in again.output
    assert drs.list_recovery_plan_steps(recoveryPlanArn=summary["recoveryPlanArn"])["recoveryPlanSteps"] == steps
