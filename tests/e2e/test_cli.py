"""`drs-orch run`, `demo` and `run --aws` as a user calls them."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import boto3
import yaml
from moto import mock_aws
from typer.testing import CliRunner

from drs_orch.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "drs_orch" / "examples"
runner = CliRunner()


def _fast_profile(tmp_path: Path, **drs: object) -> Path:
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({"seed": 1, "drs": {"launchSeconds": {"min": 0, "max": 30}, **drs}}))
    return profile


def test_run_completes_and_writes_the_report(tmp_path: Path) -> None:
    # GIVEN the diamond example and a fast profile
    report = tmp_path / "report.json"
    # WHEN it runs on the local cloud
    result = runner.invoke(
        app, ["run", str(EXAMPLES / "diamond.yaml"), "--sim", str(_fast_profile(tmp_path)), "--report", str(report)]
    )
    # THEN it exits 0 and the report says what ran
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["status"] == "COMPLETED"
    assert data["mode"] == "DRILL"
    assert [w["waveId"] for w in data["waves"]] == ["A", "B", "C", "D"]
    assert all(w["jobs"] and w["servers"] for w in data["waves"])
    assert data["events"][0]["detailType"] == "StartPlan"
    assert data["events"][-1]["detailType"] == "PlanCompleted"


def test_run_draws_the_timeline_of_what_ran(tmp_path: Path) -> None:
    # GIVEN the diamond example, run with --timeline (and no --report)
    picture = tmp_path / "diamond.svg"
    result = runner.invoke(
        app, ["run", str(EXAMPLES / "diamond.yaml"), "--sim", str(_fast_profile(tmp_path)), "--timeline", str(picture)]
    )
    # THEN the SVG holds a row per wave, each ending in a COMPLETED marker
    assert result.exit_code == 0, result.output
    assert "timeline written to" in result.output
    svg = ElementTree.fromstring(picture.read_text())
    texts = "".join(svg.itertext())
    assert all(wave_id in texts for wave_id in ("A", "B", "C", "D"))
    assert texts.count("COMPLETED") >= 4


def test_run_exits_1_when_the_plan_fails(tmp_path: Path) -> None:
    # GIVEN a database server that fails to launch
    profile = _fast_profile(tmp_path, servers={"s-a0000000000000001": {"launch": "FAILED"}})
    # WHEN the diamond runs
    result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--sim", str(profile)])
    # THEN it exits 1 and says why
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output
    assert "s-a0000000000000001" in result.output


def test_recovery_without_confirm_is_refused(tmp_path: Path) -> None:
    # GIVEN / WHEN a recovery run without --confirm
    result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--recovery"])
    # THEN nothing starts and it exits 2
    assert result.exit_code == 2
    assert "--confirm" in result.output


def test_confirm_without_recovery_is_refused_rather_than_run_as_a_drill(tmp_path: Path) -> None:
    # GIVEN / WHEN a run with --confirm but no --recovery (an operator who meant the failover)
    result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--confirm"])
    # THEN nothing starts, it exits 2 and says which flag is missing
    assert result.exit_code == 2
    assert "without --recovery this would be a drill" in " ".join(result.output.split())


def test_invalid_plan_and_unknown_profile_key_exit_2(tmp_path: Path) -> None:
    # GIVEN a plan with a typo, and a profile with an unknown key
    bad_plan = tmp_path / "bad.yaml"
    bad_plan.write_text("planId: p\nwaves:\n  - waveId: a\n    servers: [s-00000000000000001]\n    dependOn: []\n")
    bad_profile = tmp_path / "bad-profile.yaml"
    bad_profile.write_text("drs:\n  launchSecond: {min: 1}\n")
    # WHEN each is run
    plan_result = runner.invoke(app, ["run", str(bad_plan)])
    profile_result = runner.invoke(app, ["run", str(EXAMPLES / "diamond.yaml"), "--sim", str(bad_profile)])
    # THEN both exit 2 with the specific problem and no traceback
    assert plan_result.exit_code == 2
    assert "dependOn" in plan_result.output
    assert profile_result.exit_code == 2
    assert "launchSecond" in profile_result.output
    assert "Traceback" not in plan_result.output + profile_result.output


def test_run_aws_publishes_start_plan_to_the_bus() -> None:
    with mock_aws():
        # GIVEN a deployed bus with a rule that catches StartPlan into a queue
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name="my-bus")
        url = sqs.create_queue(QueueName="probe")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="probe",
            EventBusName="my-bus",
            EventPattern=json.dumps({"source": ["drs.orchestrator"], "detail-type": ["StartPlan"]}),
        )
        events.put_targets(Rule="probe", EventBusName="my-bus", Targets=[{"Id": "q", "Arn": arn}])
        # WHEN the CLI starts a plan with --aws
        result = runner.invoke(
            app, ["run", str(EXAMPLES / "diamond.yaml"), "--aws", "--bus", "my-bus", "--region", "us-east-1"]
        )
        # THEN one StartPlan with the plan and a DRILL mode reached the bus
        assert result.exit_code == 0, result.output
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert len(messages) == 1
        detail = json.loads(messages[0]["Body"])["detail"]
        assert detail["plan"]["planId"] == "diamond"
        assert detail["mode"] == "DRILL"
        assert "confirmRecovery" not in detail


def test_run_aws_refuses_the_options_of_a_local_run(tmp_path: Path) -> None:
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        events.create_event_bus(Name="my-bus")
        for option, value in (("--report", "r.json"), ("--timeline", "t.svg"), ("--sim", str(_fast_profile(tmp_path)))):
            result = runner.invoke(
                app,
                [
                    "run",
                    str(EXAMPLES / "diamond.yaml"),
                    "--aws",
                    "--bus",
                    "my-bus",
                    "--region",
                    "us-east-1",
                    option,
                    str(tmp_path / value),
                ],
            )
            assert result.exit_code == 2, (option, result.output)
            assert "apply to a local run" in result.output
            assert "drs-orch report" in result.output
            assert not (tmp_path / value).exists() or option == "--sim"


def test_report_reads_a_deployed_run_back_from_the_ledger(local_cloud, tmp_path: Path) -> None:
    # GIVEN a run recorded in the ledger table (the local cloud's, as a deployed stack's would be)
    from localcloud.cloud import TABLE_NAME
    from localcloud.runner import run_plan
    from orchestrator.domain.plan import parse_plan
    from orchestrator.reporting.report import build_report

    cloud = local_cloud()
    plan = parse_plan(yaml.safe_load((EXAMPLES / "diamond.yaml").read_text()))
    result = run_plan(cloud, plan, timeout=60)
    assert result.status == "COMPLETED"

    # WHEN `drs-orch report` reads it, with its timeline
    out, picture = tmp_path / "report.json", tmp_path / "report.svg"
    cli = runner.invoke(
        app,
        [
            "report",
            result.execution_id,
            "--table",
            TABLE_NAME,
            "--region",
            "us-east-1",
            "-o",
            str(out),
            "--timeline",
            str(picture),
        ],
    )

    # THEN it is the execution's report (without the local run's events), and its picture
    assert cli.exit_code == 0, cli.output
    expected = build_report(cloud.runtime.ledger, result.execution_id)
    assert expected is not None
    expected.pop("events")
    assert json.loads(out.read_text()) == expected
    assert "D" in "".join(ElementTree.fromstring(picture.read_text()).itertext())
    # and to stdout without -o
    printed = runner.invoke(app, ["report", result.execution_id, "--table", TABLE_NAME, "--region", "us-east-1"])
    assert json.loads(printed.stdout) == expected


def test_report_of_an_unknown_execution_or_table_exits_2(local_cloud) -> None:
    from localcloud.cloud import TABLE_NAME

    local_cloud()
    unknown = runner.invoke(app, ["report", "exec-nope", "--table", TABLE_NAME, "--region", "us-east-1"])
    assert unknown.exit_code == 2
    assert "no execution exec-nope" in unknown.output
    no_table = runner.invoke(app, ["report", "exec-nope", "--table", "no-such-table", "--region", "us-east-1"])
    assert no_table.exit_code == 2
    assert "ResourceNotFoundException" in no_table.output


def test_report_to_a_path_that_cannot_be_written_exits_2_in_one_line(local_cloud, tmp_path: Path) -> None:
    # GIVEN a run recorded in the ledger
    from localcloud.cloud import TABLE_NAME
    from localcloud.runner import run_plan
    from orchestrator.domain.plan import parse_plan

    cloud = local_cloud()
    result = run_plan(cloud, parse_plan(yaml.safe_load((EXAMPLES / "diamond.yaml").read_text())), timeout=60)
    # WHEN its report is written into a directory that does not exist
    out = tmp_path / "missing" / "report.json"
    cli = runner.invoke(
        app, ["report", result.execution_id, "--table", TABLE_NAME, "--region", "us-east-1", "-o", str(out)]
    )
    # THEN one line says so, exit 2
    assert cli.exit_code == 2, cli.output
    assert cli.output.strip() == f"{out}: cannot write the report: No such file or directory"
