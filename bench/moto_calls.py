"""What one AWS call costs on the embedded local cloud, with moto as released and with our speedups
(`localcloud/moto_speedups.py`): the ledger's kinds of DynamoDB call on a wave-sized item, and one
PutEvents through a rule to a queue. Medians of `--calls` calls each, after a warm-up.

    .venv/bin/python bench/moto_calls.py [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import boto3
from moto import mock_aws

from localcloud import moto_speedups

KEY = {"pk": {"S": "EXEC#bench"}, "sk": {"S": "WAVE#w0001"}}


def _wave_item() -> dict[str, Any]:
    servers = {
        f"s-{n:017d}": {
            "M": {
                "criticality": {"S": "CRITICAL"},
                "launchStatus": {"S": "LAUNCHED"},
                "jobId": {"S": "drsjob-0123456789abcdef0"},
            }
        }
        for n in range(5)
    }
    return {
        **KEY,
        "status": {"S": "PRE_LAUNCH"},
        "lastKey": {"S": "k0"},
        "waveId": {"S": "w0001"},
        "dependsOn": {"L": [{"S": "w0000"}]},
        "releasedBy": {"SS": ["w0000"]},
        "remaining": {"N": "0"},
        "servers": {"M": servers},
        "attempt": {"N": "1"},
        "readyAt": {"S": "2026-01-01T09:00:00.000Z"},
    }


def _calls(dynamodb: Any, events: Any) -> dict[str, Callable[[int], Any]]:
    def transition(n: int) -> Any:  # the ledger's conditional transition (Ledger._transition)
        return dynamodb.update_item(
            TableName="ledger",
            Key=KEY,
            UpdateExpression="SET #n0 = :v1, #n1 = :v2, #n2 = :v3",
            ConditionExpression="attribute_exists(pk) AND ((#n0 IN (:v4)) OR (#n0 = :v5 AND #n1 = :v6))",
            ExpressionAttributeNames={"#n0": "status", "#n1": "lastKey", "#n2": "launchStartedAt"},
            ExpressionAttributeValues={
                ":v1": {"S": "PRE_LAUNCH"},
                ":v2": {"S": f"k{n}"},
                ":v3": {"S": "t"},
                ":v4": {"S": "PRE_LAUNCH"},
                ":v5": {"S": "PRE_LAUNCH"},
                ":v6": {"S": f"k{n}"},
            },
            ReturnValues="UPDATED_OLD",
        )

    def transact(n: int) -> Any:  # a wave closing (Ledger.move_wave with count)
        return dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": KEY,
                        "UpdateExpression": "SET lastKey = :k",
                        "ExpressionAttributeValues": {":k": {"S": f"t{n}"}},
                    }
                },
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"pk": {"S": "EXEC#bench"}, "sk": {"S": "#EXECUTION"}},
                        "UpdateExpression": "ADD terminalCount :n",
                        "ExpressionAttributeValues": {":n": {"N": "0"}},
                    }
                },
            ]
        )

    return {
        "GetItem (wave item)": lambda n: dynamodb.get_item(TableName="ledger", Key=KEY, ConsistentRead=True),
        "UpdateItem (conditional transition)": transition,
        "TransactWriteItems (2 updates, 300-item table)": transact,
        "PutEvents (rule -> SQS, queue filling to 320)": lambda n: events.put_events(
            Entries=[
                {
                    "Source": "drs.orchestrator",
                    "DetailType": "WaveReady",
                    "EventBusName": "bus",
                    "Detail": json.dumps({"executionId": "e", "waveId": f"w{n}"}),
                }
            ]
        ),
    }


def _setup(dynamodb: Any, events: Any, sqs: Any) -> None:
    dynamodb.create_table(
        TableName="ledger",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    dynamodb.put_item(TableName="ledger", Item=_wave_item())
    dynamodb.put_item(
        TableName="ledger", Item={"pk": {"S": "EXEC#bench"}, "sk": {"S": "#EXECUTION"}, "terminalCount": {"N": "0"}}
    )
    for n in range(300):  # a ledger of a few hundred items, like a 100-wave execution
        dynamodb.put_item(TableName="ledger", Item={**_wave_item(), "sk": {"S": f"WAVE#x{n:04d}"}})
    events.create_event_bus(Name="bus")
    queue = sqs.create_queue(QueueName="q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="r", EventBusName="bus", EventPattern=json.dumps({"source": ["drs.orchestrator"]}))
    events.put_targets(Rule="r", EventBusName="bus", Targets=[{"Id": "q", "Arn": arn}])


def measure(calls: int, *, speedups: bool) -> dict[str, float]:
    if speedups:
        moto_speedups.install()
    else:
        moto_speedups.uninstall()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        dynamodb, events, sqs = session.client("dynamodb"), session.client("events"), session.client("sqs")
        _setup(dynamodb, events, sqs)
        medians: dict[str, float] = {}
        for name, call in _calls(dynamodb, events).items():
            for n in range(20):
                call(n)
            times = []
            for n in range(calls):
                began = time.perf_counter()
                call(n)
                times.append((time.perf_counter() - began) * 1000)
            medians[name] = round(statistics.median(times), 2)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    released = measure(args.calls, speedups=False)
    faster = measure(args.calls, speedups=True)
    print(json.dumps({"moto_released_ms": released, "with_speedups_ms": faster}))
    print(f"median ms per call over {args.calls} calls   moto as released   with localcloud/moto_speedups.py")
    for name in released:
        print(f"  {name:48s} {released[name]:8.2f} {faster[name]:12.2f}")


if __name__ == "__main__":
    main()
