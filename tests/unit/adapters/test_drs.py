"""`Drs.describe_recovery_instances` sends any number of ids, 200 per call (the API's maximum), and returns
every instance of every page: callers pass all their ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from localcloud.drs_sim import DrsSimConfig, DrsSimulator
from orchestrator.adapters.drs import RECOVERY_INSTANCES_BATCH, Drs, DrsConflict


def _instance_id(n: int) -> str:
    return f"i-{n:017x}"


def _stubbed() -> tuple[Drs, Stubber]:
    client = botocore.session.get_session().create_client(
        "drs", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return Drs(client, sleep=lambda _: None), Stubber(client)


def test_the_ids_go_200_per_call_and_every_page_of_every_call_comes_back() -> None:
    # GIVEN 450 recovery instance ids, and DRS answering the second batch in two pages
    ids = [_instance_id(n) for n in range(450)]
    items = [{"recoveryInstanceID": rid, "sourceServerID": f"s-{n:017x}"} for n, rid in enumerate(ids)]
    drs, stubber = _stubbed()
    stubber.add_response(
        "describe_recovery_instances", {"items": items[:200]}, {"filters": {"recoveryInstanceIDs": ids[:200]}}
    )
    stubber.add_response(
        "describe_recovery_instances",
        {"items": items[200:300], "nextToken": "page-2"},
        {"filters": {"recoveryInstanceIDs": ids[200:400]}},
    )
    stubber.add_response(
        "describe_recovery_instances",
        {"items": items[300:400]},
        {"filters": {"recoveryInstanceIDs": ids[200:400]}, "nextToken": "page-2"},
    )
    stubber.add_response(
        "describe_recovery_instances", {"items": items[400:]}, {"filters": {"recoveryInstanceIDs": ids[400:]}}
    )
    # WHEN the adapter is asked for all of them at once
    with stubber:
        found = drs.describe_recovery_instances(recovery_instance_ids=ids)
        # THEN it made those four calls (three batches of at most 200, one of them two pages) and returned all
        stubber.assert_no_pending_responses()
    assert RECOVERY_INSTANCES_BATCH == 200
    assert found == items


def test_source_server_ids_go_200_per_call_too() -> None:
    # GIVEN 201 source server ids
    servers = [f"s-{n:017x}" for n in range(201)]
    drs, stubber = _stubbed()
    stubber.add_response(
        "describe_recovery_instances",
        {"items": [{"recoveryInstanceID": _instance_id(0)}]},
        {"filters": {"sourceServerIDs": servers[:200]}},
    )
    stubber.add_response(
        "describe_recovery_instances",
        {"items": [{"recoveryInstanceID": _instance_id(1)}]},
        {"filters": {"sourceServerIDs": servers[200:]}},
    )
    # WHEN the adapter is asked for their recovery instances
    with stubber:
        found = drs.describe_recovery_instances(source_server_ids=servers)
        stubber.assert_no_pending_responses()
    # THEN two calls answered, in order
    assert [i["recoveryInstanceID"] for i in found] == [_instance_id(0), _instance_id(1)]


def test_no_filter_is_one_unfiltered_listing() -> None:
    # GIVEN DRS with one recovery instance
    drs, stubber = _stubbed()
    stubber.add_response(
        "describe_recovery_instances", {"items": [{"recoveryInstanceID": _instance_id(7)}]}, {"filters": {}}
    )
    # WHEN the adapter is asked with no ids
    with stubber:
        found = drs.describe_recovery_instances()
        stubber.assert_no_pending_responses()
    # THEN one call with no filter listed everything
    assert found == [{"recoveryInstanceID": _instance_id(7)}]


class _Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def launched() -> tuple[DrsSimulator, Any, list[str]]:
    """The DRS simulator (pages of 50) with 450 recovery instances, launched 100 servers per job."""
    clock = _Clock()
    sim = DrsSimulator(clock, DrsSimConfig(launch_seconds_min=0, launch_seconds_max=0, page_size=50))
    servers = [f"s-{n:017x}" for n in range(450)]
    sim.ensure_servers(servers)
    client = sim.attach(
        boto3.client(
            "drs",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"total_max_attempts": 1}),
        )
    )
    for start in range(0, len(servers), 100):
        client.start_recovery(sourceServers=[{"sourceServerID": s} for s in servers[start : start + 100]], isDrill=True)
        clock.moment += timedelta(seconds=1)
        while (due := sim.next_due()) is not None:
            clock.moment = max(clock.moment, due)
            sim.advance()
    return sim, client, servers


def test_all_450_instances_come_back_from_the_simulator(launched: tuple[DrsSimulator, Any, list[str]]) -> None:
    # GIVEN 450 recovery instances, which DRS lists 50 per page
    _, client, servers = launched
    ids = sorted(
        i["recoveryInstanceID"]
        for page in client.get_paginator("describe_recovery_instances").paginate()
        for i in page["items"]
    )
    assert len(ids) == 450
    drs = Drs(client, sleep=lambda _: None)
    # WHEN the adapter is asked for every one, by id and by source server
    by_id = drs.describe_recovery_instances(recovery_instance_ids=ids)
    by_server = drs.describe_recovery_instances(source_server_ids=servers)
    # THEN each comes back once
    assert sorted(i["recoveryInstanceID"] for i in by_id) == ids
    assert sorted(i["recoveryInstanceID"] for i in by_server) == ids
    assert sorted(i["sourceServerID"] for i in by_server) == servers


def test_the_simulator_refuses_more_than_200_ids_in_one_call(launched: tuple[DrsSimulator, Any, list[str]]) -> None:
    # GIVEN 201 recovery instance ids
    _, client, _ = launched
    ids = [i["recoveryInstanceID"] for i in client.describe_recovery_instances(maxResults=50)["items"]]
    ids += [_instance_id(n) for n in range(151)]
    # WHEN they go in one DescribeRecoveryInstances
    with pytest.raises(ClientError) as refused:
        client.describe_recovery_instances(filters={"recoveryInstanceIDs": ids})
    # THEN the simulator refuses them as DRS does (botocore does not check a list's maximum)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"] == "At most 200 recovery instance ids per call"


def test_a_server_reason_from_the_job_log_is_cut_to_1000_characters() -> None:
    # GIVEN a job log whose launch failure carries a 5,000-character rawError (EC2 errors can be long; a
    # DRSJobCompleted of 100 such servers would be over EventBridge's 256 KB entry limit)
    from orchestrator.adapters.drs import RAW_ERROR_CHARS

    drs, stubber = _stubbed()
    long_error = "x" * 5000
    stubber.add_response(
        "describe_job_log_items",
        {
            "items": [
                {
                    "event": "LAUNCH_FAILED",
                    "eventData": {"sourceServerID": "s-0000000000000000a", "rawError": long_error},
                }
            ]
        },
        {"jobID": "drsjob-0000000000000000a"},
    )

    # WHEN the adapter reads the reasons
    with stubber:
        reasons = drs.job_failure_reasons("drsjob-0000000000000000a")

    # THEN the reason keeps the event and the first 999 characters of the error, marked as cut
    assert RAW_ERROR_CHARS == 1000
    assert reasons == {"s-0000000000000000a": "LAUNCH_FAILED: " + "x" * 999 + "…"}


def test_a_conflict_names_the_resource_in_the_way() -> None:
    # GIVEN DRS refuses a StartRecovery: one of its servers is in another job (ConflictException's modeled fields)
    drs, stub = _stubbed()
    stub.add_client_error(
        "start_recovery",
        service_error_code="ConflictException",
        service_message="Source server s-1 is already participating in active job drsjob-1",
        http_status_code=409,
        modeled_fields={"resourceId": "s-1", "resourceType": "SOURCE_SERVER"},
    )
    # WHEN the adapter calls it
    with stub, pytest.raises(DrsConflict) as refused:
        drs.start_recovery([{"sourceServerID": "s-1234567890abcdef0"}], is_drill=True, tags={})
    # THEN the error says which resource is in the way, and of what type
    assert (refused.value.resource_id, refused.value.resource_type) == ("s-1", "SOURCE_SERVER")
    assert refused.value.code == "ConflictException"
