"""End to end: `inspect` replays the bus archive into an inspector rule and rebuilds an execution from its
events alone; for a finished plan that is exactly the ledger's final state, and the replay acts on nothing."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws
from typer.testing import CliRunner

from drs_orch.app import app
from events.envelope import put_events_entry
from events.models import DRSJobCompleted, PlanCompleted, PlanStarted, ServerLaunch, WaveCompleted, WaveReady
from localcloud.control_socket import Session
from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerOutcome
from tests.e2e.helpers import ledger_items, sid, start_recovery_calls, wave, wave_status

FAILING = sid("b", 2)


def test_inspect_rebuilds_exactly_the_ledger_state_of_a_finished_plan_and_launches_nothing(local_cloud):
    # GIVEN a finished execution that went through an approval, a failure and a retry
    # (and another execution's events in the same archive)
    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED"})
    other = start(cloud, parse_plan({"planId": "other", "waves": [wave("x", [sid("x", 1)])]}))
    assert wait(cloud, other, timeout=60).status == "COMPLETED"
    plan = parse_plan(
        {
            "planId": "inspected",
            "waves": [
                wave("A", [sid("a", 1)], approval={"required": True, "approvers": ["alice"]}),
                wave("B", [sid("b", 1), FAILING], ["A"]),
                wave("C", [sid("c", 1)], ["B"]),
            ],
        }
    )
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: wave_status(cloud, execution_id, "A") == "AWAITING_APPROVAL", timeout=60)
    cloud.publish("ApprovalGranted", {"executionId": execution_id, "waveId": "A", "requestedBy": "mallory"})
    cloud.publish("ApprovalGranted", {"executionId": execution_id, "waveId": "A", "requestedBy": "alice"})
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    cloud.drs.set_launch_outcome(FAILING, "LAUNCHED")
    cloud.publish("RetryWave", {"executionId": execution_id, "waveId": "B", "requestedBy": "ops"})
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    calls, invocations, ledger = start_recovery_calls(cloud), dict(cloud.lambdas.invocations), ledger_items(cloud)

    # WHEN it is inspected by archive replay
    result = Session(cloud, execution_id).inspect()
    cloud.drain()

    # THEN the state rebuilt from events alone is the ledger's, exactly
    assert result["differences"] == []
    rebuilt = result["rebuilt"]
    assert rebuilt["status"] == "COMPLETED"
    assert {w: (v["status"], v["attempt"]) for w, v in rebuilt["waves"].items()} == {
        "A": ("COMPLETED", 1),
        "B": ("COMPLETED", 2),
        "C": ("COMPLETED", 1),
    }
    assert rebuilt["waves"]["B"]["serversLaunched"] == sorted([sid("b", 1), FAILING])
    assert rebuilt["waves"]["A"]["approvedBy"] == "alice"
    assert {e["detailType"] for e in rebuilt["timeline"]} >= {
        "StartPlan",
        "ApprovalRequested",
        "RetryWave",
        "PlanFailed",
        "PlanCompleted",
    }
    assert result["ledger"]["waves"] == {
        w: {k: v[k] for k in ("status", "attempt", "serversLaunched", "approvedBy")}
        for w, v in rebuilt["waves"].items()
    }
    # AND the replay launched nothing, ran no handler and wrote nothing
    assert start_recovery_calls(cloud) == calls
    assert cloud.lambdas.invocations == invocations
    assert ledger_items(cloud) == ledger


def test_inspect_reports_where_the_ledger_and_the_events_differ(local_cloud):
    # GIVEN a finished plan whose ledger was changed behind the events' back
    cloud = local_cloud()
    execution_id = start(
        cloud, parse_plan({"planId": "tampered", "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"])]})
    )
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    cloud.runtime.ledger.record_server_results(
        execution_id, "B", {sid("b", 1): ServerOutcome(launch_status=ServerLaunchStatus.FAILED)}, attempt=1
    )

    # WHEN it is inspected
    result = Session(cloud, execution_id).inspect()

    # THEN the difference is named
    assert result["differences"] == [f"wave B serversLaunched: events say ['{sid('b', 1)}'], ledger says []"]


def test_inspect_on_aws_replays_the_bus_archive_into_an_inspector_rule():
    with mock_aws():
        # GIVEN a deployed bus with its archive, holding a finished execution and another one's events
        events = boto3.client("events", region_name="us-east-1")
        bus_arn = events.create_event_bus(Name="orch")["EventBusArn"]
        events.create_archive(
            ArchiveName="orch-archive",
            EventSourceArn=bus_arn,
            EventPattern=json.dumps({"source": ["drs.orchestrator"]}),
        )
        details = [
            PlanStarted(
                execution_id="e-1", plan_id="p", mode="DRILL", plan_name="p", wave_ids=["A"], root_wave_ids=["A"]
            ),
            WaveReady(execution_id="e-1", plan_id="p", wave_id="A"),
            DRSJobCompleted(
                execution_id="e-1",
                plan_id="p",
                wave_id="A",
                job_id="drsjob-00000000000000001",
                servers=[ServerLaunch(source_server_id=sid("a", 1), launch_status="LAUNCHED")],
            ),
            WaveCompleted(execution_id="e-1", plan_id="p", wave_id="A", servers_launched=1, servers_failed=0),
            PlanCompleted(
                execution_id="e-1", plan_id="p", mode="DRILL", waves_completed=1, waves_skipped=0, duration_seconds=60
            ),
            WaveReady(execution_id="e-2", plan_id="p", wave_id="A"),
        ]
        events.put_events(Entries=[put_events_entry(d, "orch") for d in details])
        # a live rule on the bus (as deployed: it ignores replays)
        sqs = boto3.client("sqs", region_name="us-east-1")
        live = sqs.create_queue(QueueName="live")["QueueUrl"]
        live_arn = sqs.get_queue_attributes(QueueUrl=live, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="live",
            EventBusName="orch",
            EventPattern=json.dumps({"source": ["drs.orchestrator"], "replay-name": [{"exists": False}]}),
        )
        events.put_targets(Rule="live", EventBusName="orch", Targets=[{"Id": "q", "Arn": live_arn}])

        # WHEN the CLI inspects e-1 on AWS
        result = CliRunner().invoke(
            app,
            [
                "inspect",
                "e-1",
                "--aws",
                "--bus",
                "orch",
                "--archive",
                "orch-archive",
                "--region",
                "us-east-1",
                "--json",
                "--settle",
                "0",
            ],
        )

        # THEN it rebuilt e-1 from its replayed events only; the live rule got nothing; nothing is left behind
        assert result.exit_code == 0, result.output
        found = json.loads(result.output)
        assert found["events"] == 5
        assert found["rebuilt"]["status"] == "COMPLETED"
        assert found["rebuilt"]["waves"]["A"]["serversLaunched"] == [sid("a", 1)]
        assert not sqs.receive_message(QueueUrl=live).get("Messages")
        assert [
            r["Name"]
            for r in events.list_rules(EventBusName="orch")["Rules"]
            if r["Name"].startswith("drs-orch-inspector")
        ] == []
        assert len(events.list_replays()["Replays"]) == 1
