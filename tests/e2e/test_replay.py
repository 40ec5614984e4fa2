"""End to end: replaying the bus archive of a finished execution rebuilds nothing live.

Live rules ignore replayed events (`"replay-name": [{"exists": false}]`), so a replay never reaches a
handler, never launches and never writes the ledger. moto replays synchronously to every rule of the bus
(and ignores the time window, which is in real wall-clock time, not the simulated clock's).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from events.models import SOURCE
from localcloud.cloud import ARCHIVE_NAME, BUS_NAME, LocalCloud
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, ledger_items, sid, start_recovery_calls, wave


def _witness_queue(cloud: LocalCloud) -> str:
    """A queue fed by a rule that matches replayed events only: proof the replay really happened."""
    url = cloud.sqs.create_queue(QueueName="replay-witness")["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    cloud.events_client.put_rule(
        Name="replay-witness",
        EventBusName=BUS_NAME,
        State="ENABLED",
        EventPattern=json.dumps({"source": [SOURCE], "replay-name": [{"exists": True}]}),
    )
    cloud.events_client.put_targets(Rule="replay-witness", EventBusName=BUS_NAME, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _drain_queue(cloud: LocalCloud, url: str) -> list[dict]:
    bodies: list[dict] = []
    while messages := cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            cloud.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_replaying_the_archive_of_a_finished_execution_changes_nothing(local_cloud):
    # GIVEN a finished diamond execution, archived on the bus
    wall_before = datetime.now(UTC) - timedelta(minutes=5)
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "replayed",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1)], ["A"]),
                wave("C", [sid("c", 1)], ["A"]),
                wave("D", [sid("d", 1)], ["B", "C"]),
            ],
        }
    )
    result = run_plan(cloud, plan)
    assert result.status == "COMPLETED"
    witness = _witness_queue(cloud)
    archive = cloud.events_client.describe_archive(ArchiveName=ARCHIVE_NAME)
    archived = archive["EventCount"]
    assert archived == len([e for e in cloud.events if e.source == SOURCE])
    invocations = dict(cloud.lambdas.invocations)
    delivered = dict(cloud.stats.delivered)
    executions = cloud.stats.executions_started
    calls = start_recovery_calls(cloud)
    ledger = ledger_items(cloud)

    # WHEN the archive is replayed onto the bus and everything queued is delivered
    cloud.events_client.start_replay(
        ReplayName="rebuild-replayed",
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=wall_before,
        EventEndTime=datetime.now(UTC),
        Destination={"Arn": cloud.bus_arn},
    )
    cloud.drain()

    # THEN every archived event was replayed, yet no handler ran, nothing launched and the ledger is unchanged
    assert cloud.events_client.describe_replay(ReplayName="rebuild-replayed")["State"] == "COMPLETED"
    replayed = _drain_queue(cloud, witness)
    assert len(replayed) == archived
    assert all(event.get("replay-name") == "rebuild-replayed" for event in replayed)
    assert {event["detail-type"] for event in replayed} >= {
        "StartPlan",
        "WaveReady",
        "PreLaunchDone",
        "DRSJobStarted",
        "DRSJobCompleted",
        "PostLaunchDone",
        "PlanCompleted",
    }
    assert cloud.lambdas.invocations == invocations
    assert cloud.stats.delivered == delivered
    assert cloud.stats.executions_started == executions
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == ledger
    assert_choreography_invariants(cloud, result.execution_id)
