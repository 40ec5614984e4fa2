"""The moto speedups change how fast moto answers, never what it answers.

The same DynamoDB traffic (every item operation the ledger uses, their failures, and a transaction
that must roll back) runs on moto as released and on moto with the speedups; every answer and the
final table must be identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import moto_speedups

TABLE = "ledger"


def _table(client: Any) -> None:
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": "EXEC#e1"}, "sk": {"S": sk}}


def _wave(sk: str, status: str, remaining: int) -> dict[str, Any]:
    item = {
        **_key(sk),
        "status": {"S": status},
        "remaining": {"N": str(remaining)},
        "servers": {"M": {"s-1": {"M": {"launchStatus": {"S": "PENDING"}, "criticality": {"S": "CRITICAL"}}}}},
        "dependsOn": {"L": [{"S": "w0"}]},
        "releasedBy": {"SS": ["w9"]},
        "ok": {"BOOL": True},
        "none": {"NULL": True},
        "sizes": {"NS": ["1", "2.5"]},
    }
    if sk.endswith("11"):  # binary is not JSON: the answers that hold it take moto's own way
        item["blob"] = {"B": b"\x00\x01"}
    return item


def _traffic(client: Any) -> list[Any]:
    """Every call's answer (without request metadata) or its error, in order; then the whole table."""
    answers: list[Any] = []

    def call(operation: str, **kwargs: Any) -> None:
        try:
            response = getattr(client, operation)(**kwargs)
            response.pop("ResponseMetadata", None)
            answers.append((operation, response))
        except ClientError as exc:
            error = dict(exc.response)
            error.pop("ResponseMetadata", None)
            answers.append((operation, "error", error))

    for index in range(12):
        call("put_item", TableName=TABLE, Item=_wave(f"WAVE#w{index:02d}", "PENDING", 2))
    call("put_item", TableName=TABLE, Item=_wave("WAVE#w00", "READY", 0), ReturnValues="ALL_OLD")
    call("get_item", TableName=TABLE, Key=_key("WAVE#w01"), ConsistentRead=True)
    call("get_item", TableName=TABLE, Key=_key("WAVE#none"))
    call(
        "get_item",
        TableName=TABLE,
        Key=_key("WAVE#w01"),
        ProjectionExpression="#s, servers",
        ExpressionAttributeNames={"#s": "status"},
    )
    for returns in ("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"):
        call(
            "update_item",
            TableName=TABLE,
            Key=_key("WAVE#w02"),
            UpdateExpression="ADD remaining :minus, releasedBy :by SET servers.#s.launchStatus = :st",
            ConditionExpression="#status = :pending AND NOT contains(releasedBy, :dep)",
            ExpressionAttributeNames={"#status": "status", "#s": "s-1"},
            ExpressionAttributeValues={
                ":minus": {"N": "-1"},
                ":by": {"SS": [f"w{returns}"]},
                ":dep": {"S": f"w{returns}"},
                ":pending": {"S": "PENDING"},
                ":st": {"S": "LAUNCHED"},
            },
            ReturnValues=returns,
        )
    call(
        "update_item",
        TableName=TABLE,
        Key=_key("WAVE#w03"),
        UpdateExpression="SET #s = :s",
        ConditionExpression="#s = :other",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "READY"}, ":other": {"S": "LAUNCHING"}},
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
    )
    call(
        "update_item",
        TableName=TABLE,
        Key=_key("WAVE#w03"),
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"N": "not a number"}},
    )
    # a transaction whose last condition fails: the first two writes (one of them a new item) roll back
    call(
        "transact_write_items",
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("WAVE#w04"),
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "GONE"}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": {**_key("NEW#1"), "v": {"S": "x"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key("WAVE#w05")}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("WAVE#w06"),
                    "ConditionExpression": "#s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "COMPLETED"}},
                }
            },
        ],
    )
    call(
        "transact_write_items",
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("WAVE#w07"),
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "DONE"}},
                }
            },
            {"Put": {"TableName": TABLE, "Item": {**_key("NEW#2"), "v": {"S": "y"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key("WAVE#w08")}},
        ],
    )
    call(
        "transact_write_items",
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("WAVE#w09"),
                    "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": {"S": "1"}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("WAVE#w09"),
                    "UpdateExpression": "SET b = :b",
                    "ExpressionAttributeValues": {":b": {"S": "2"}},
                }
            },
        ],
    )
    call("delete_item", TableName=TABLE, Key=_key("WAVE#w10"), ReturnValues="ALL_OLD")
    call(
        "batch_write_item",
        RequestItems={TABLE: [{"PutRequest": {"Item": {**_key(f"B#{i}"), "n": {"N": str(i)}}}} for i in range(5)]},
    )
    # items just under and just over moto's size limit (405,000 bytes: names and values)
    call("put_item", TableName=TABLE, Item={**_key("BIG#1"), "a": {"S": "x" * 300_000}, "b": {"S": "y" * 104_970}})
    call("put_item", TableName=TABLE, Item={**_key("BIG#2"), "a": {"S": "x" * 300_000}, "b": {"S": "y" * 104_990}})
    too_big = {**_key("BIG#3"), "a": {"S": "x" * 405_001}}
    call("batch_write_item", RequestItems={TABLE: [{"PutRequest": {"Item": too_big}}]})
    call("batch_get_item", RequestItems={TABLE: {"Keys": [_key("B#1"), _key("WAVE#w11")], "ConsistentRead": True}})
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e1"}, ":p": {"S": "WAVE#"}},
        Limit=4,
        ConsistentRead=True,
    )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e1"}},
        Select="COUNT",
    )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        FilterExpression="attribute_exists(n)",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e1"}},
        ReturnConsumedCapacity="TOTAL",
    )
    # other partitions, before and after EXEC#e1 in key order: a Query answers its own partition only
    for pk in ("EXEC#a0", "EXEC#e2"):
        for index in (3, 1, 2):
            call("put_item", TableName=TABLE, Item={"pk": {"S": pk}, "sk": {"S": f"S#{index}"}, "n": {"N": "1"}})
    for sk in ("R#1", "T#1", "T#2"):  # around the S# items: a begins_with Query's neighbours in key order
        call("put_item", TableName=TABLE, Item={"pk": {"S": "EXEC#e2"}, "sk": {"S": sk}, "n": {"N": "2"}})
    for forward in (True, False):
        for limit in (2, 3, 4):
            call(
                "query",
                TableName=TABLE,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues={":pk": {"S": "EXEC#e2"}, ":p": {"S": "S#"}},
                ScanIndexForward=forward,
                Limit=limit,
            )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e2"}, ":p": {"S": "S#"}},
        ExclusiveStartKey={"pk": {"S": "EXEC#e2"}, "sk": {"S": "S#1"}},
    )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e2"}, ":p": {"S": "Z#"}},
    )
    for pk in ("EXEC#a0", "EXEC#e2", "EXEC#none"):
        call(
            "query",
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND sk > :after",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e2"}, ":after": {"S": "S#1"}},
        ScanIndexForward=False,
    )
    first = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e1"}},
        Limit=3,
    )
    call(
        "query",
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "EXEC#e1"}},
        ExclusiveStartKey=first["LastEvaluatedKey"],
        Limit=3,
    )
    call("describe_table", TableName=TABLE)
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    answers.append(("table", sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))))
    return answers


def _run(speedups: bool) -> list[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _table(client)
        if speedups:
            moto_speedups.install()
            return _traffic(client)
        with moto_speedups.without_speedups():
            return _traffic(client)


@pytest.fixture
def restore_speedups() -> Iterator[None]:
    was = moto_speedups.installed()
    yield
    if was:
        moto_speedups.install()
    else:
        moto_speedups.uninstall()


def _comparable(answers: list[Any]) -> list[Any]:
    # describe_table carries creation times: compare what does not depend on when it ran
    out = []
    for answer in answers:
        if answer[0] == "describe_table" and len(answer) == 2:
            table = dict(answer[1]["Table"])
            table.pop("CreationDateTime", None)
            answer = ("describe_table", table)
        out.append(answer)
    return out


@pytest.mark.usefixtures("restore_speedups")
def test_dynamodb_answers_are_identical_with_and_without_speedups() -> None:
    # GIVEN / WHEN the same traffic on moto as released and on moto with the speedups
    released = _comparable(_run(speedups=False))
    faster = _comparable(_run(speedups=True))

    # THEN every answer, every error and the final table are the same
    assert len(released) == len(faster)
    for plain, fast in zip(released, faster, strict=True):
        assert plain == fast


@pytest.mark.usefixtures("restore_speedups")
def test_a_failed_transaction_leaves_every_item_as_it_was() -> None:
    answers = _run(speedups=True)
    failed = next(a for a in answers if a[0] == "transact_write_items")
    assert failed[1] == "error"
    assert failed[2]["Error"]["Code"] == "TransactionCanceledException"
    table = {item["sk"]["S"]: item for item in answers[-1][1]}
    assert table["WAVE#w04"]["status"] == {"S": "PENDING"}  # the update was undone
    assert "NEW#1" not in table  # the put of a new item was undone
    assert "WAVE#w05" in table  # the delete was undone
    assert "NEW#2" in table  # the transaction that held went through
    assert "WAVE#w08" not in table


def test_install_is_idempotent_and_uninstall_restores_moto(restore_speedups: None) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    moto_speedups.uninstall()
    released = DynamoDBBackend.transact_write_items
    moto_speedups.install()
    patched = DynamoDBBackend.transact_write_items
    moto_speedups.install()
    assert DynamoDBBackend.transact_write_items is patched is not released
    moto_speedups.uninstall()
    assert DynamoDBBackend.transact_write_items is released


@pytest.mark.usefixtures("restore_speedups")
def test_sqs_retention_is_judged_the_same_with_and_without_speedups() -> None:
    # GIVEN a queue with a 60 s retention period and messages sent 0, 59, 61 and 3,600 s ago
    def judged(speedups: bool) -> list[bool]:
        from moto.sqs.models import sqs_backends

        with mock_aws():
            client = boto3.client("sqs", region_name="us-east-1")
            client.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})
            url = client.get_queue_url(QueueName="q")["QueueUrl"]
            for _ in range(4):
                client.send_message(QueueUrl=url, MessageBody="m")
            backend = sqs_backends["123456789012"]["us-east-1"]
            messages = backend.queues["q"]._messages
            for message, age in zip(messages, (0, 59, 61, 3600), strict=True):
                message.sent_timestamp -= age * 1000
            if speedups:
                moto_speedups.install()
                return [backend.is_message_valid_based_on_retention_period("q", m) for m in messages]
            with moto_speedups.without_speedups():
                return [backend.is_message_valid_based_on_retention_period("q", m) for m in messages]

    # WHEN each message is judged on moto as released and with the speedups
    released, faster = judged(speedups=False), judged(speedups=True)

    # THEN the answers are the same: the two within 60 s are kept, the older two are not
    assert released == faster == [True, True, False, False]
