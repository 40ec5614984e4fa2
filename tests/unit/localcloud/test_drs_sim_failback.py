"""Failback in the DRS simulator (``drs.failback``), driven with raw boto3 ``drs`` clients on a started LocalCloud:
recovery instances' failback states over simulated time and their events, StartFailbackLaunch and how it is refused,
StopFailback, the never-ready fault, and EC2-to-EC2 ReverseReplication into the origin Region's simulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.profile import ProfileError, load_profile
from orchestrator.domain.clock import parse_iso

HOME = "123456789012"
EAST = "us-east-1"
WEST = "us-west-2"
SERVER = "s-1111111111111111a"
STUCK = "s-1111111111111111b"
EC2_SERVER = "s-2222222222222222a"
STRAY = "s-2222222222222222b"
FAILBACK_EVENT = "DRS Recovery Instance Failback State Change"
FAILBACK = {"startAfterSeconds": 60, "readyAfterSeconds": 600, "launchSeconds": 120}

Cloud = Callable[..., LocalCloud]


def _failback_events(cloud: LocalCloud, rid: str) -> list[str]:
    return [
        e.detail["state"]
        for e in cloud.events
        if e.detail_type == FAILBACK_EVENT and e.source == "aws.drs" and e.detail.get("recovery-instance-id") == rid
    ]


def _recover(cloud: LocalCloud, drs: Any, sid: str) -> dict[str, Any]:
    """StartRecovery of `sid`; the cloud runs until its recovery instance exists; that instance."""
    drs.start_recovery(sourceServers=[{"sourceServerID": sid}])

    def instances() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = drs.describe_recovery_instances(filters={"sourceServerIDs": [sid]})["items"]
        return items

    cloud.run_until(lambda: bool(instances()), timeout=60)
    return instances()[0]


def _state(drs: Any, rid: str) -> str:
    item = drs.describe_recovery_instances(filters={"recoveryInstanceIDs": [rid]})["items"][0]
    return str(item["failback"]["state"])


def _refusal(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call()
    error: dict[str, Any] = refused.value.response["Error"]
    return error


def _on_premises(local_cloud: Cloud, **overrides: Any) -> tuple[LocalCloud, Any]:
    cloud = local_cloud(**{"drs.failback": {**FAILBACK, "servers": {STUCK: {"neverReady": True}}}, **overrides})
    cloud.drs.register_source_server(SERVER)
    cloud.drs.register_source_server(STUCK)
    return cloud, cloud.session.client("drs")


def test_an_on_premises_recovery_instance_becomes_ready_for_failback_over_time_with_an_event_per_state(
    local_cloud: Cloud,
) -> None:
    # GIVEN a recovered on-premises server, its failback client starting 60 s and ready 600 s after its launch
    cloud, drs = _on_premises(local_cloud)
    instance = _recover(cloud, drs, SERVER)
    rid = instance["recoveryInstanceID"]
    # THEN at launch its failback has not started, and it originated on premises
    assert instance["failback"]["state"] == "FAILBACK_NOT_STARTED"
    assert instance["originEnvironment"] == "ON_PREMISES"
    launched = parse_iso(instance["recoveryInstanceProperties"]["lastUpdatedDateTime"])  # the launch moment
    # WHEN the cloud runs until it is ready for failback launch
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_READY_FOR_LAUNCH", timeout=60)
    # THEN it got there readyAfterSeconds after its launch, through FAILBACK_IN_PROGRESS, each change an aws.drs event
    assert cloud.clock.now() - launched >= timedelta(seconds=600)
    assert _failback_events(cloud, rid) == ["FAILBACK_IN_PROGRESS", "FAILBACK_READY_FOR_LAUNCH"]
    event = next(e for e in cloud.events if e.detail_type == FAILBACK_EVENT)
    assert event.detail["source-server-id"] == SERVER


def test_start_failback_launch_runs_a_failback_job_that_completes_the_failback(local_cloud: Cloud) -> None:
    # GIVEN a recovery instance ready for failback launch
    cloud, drs = _on_premises(local_cloud)
    rid = _recover(cloud, drs, SERVER)["recoveryInstanceID"]
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_READY_FOR_LAUNCH", timeout=60)
    # WHEN it is failed back
    job = drs.start_failback_launch(recoveryInstanceIDs=[rid], tags={"drs-orch:execution": "ex-1"})["job"]
    # THEN a LAUNCH job initiated by FAILBACK holds it, and failing it back again conflicts
    assert (job["type"], job["initiatedBy"], job["tags"]) == ("LAUNCH", "FAILBACK", {"drs-orch:execution": "ex-1"})
    assert [(p["sourceServerID"], p["recoveryInstanceID"]) for p in job["participatingServers"]] == [(SERVER, rid)]
    again = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[rid]))
    assert again["Code"] == "ConflictException"
    assert rid in again["Message"]
    assert _refusal(lambda: drs.stop_failback(recoveryInstanceID=rid))["Code"] == "ConflictException"
    # WHEN the cloud runs until the job completes
    cloud.run_until(
        lambda: drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]["status"] == "COMPLETED",
        timeout=60,
    )
    # THEN the instance's failback is completed by that job, with an event
    failback = drs.describe_recovery_instances(filters={"recoveryInstanceIDs": [rid]})["items"][0]["failback"]
    assert failback["state"] == "FAILBACK_COMPLETED"
    assert (failback["failbackJobID"], failback["failbackLaunchType"]) == (job["jobID"], "RECOVERY")
    assert _failback_events(cloud, rid)[-1] == "FAILBACK_COMPLETED"
    done = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert [p["launchStatus"] for p in done["participatingServers"]] == ["LAUNCHED"]


def test_start_failback_launch_is_refused_for_unknown_or_not_ready_instances_and_changes_nothing(
    local_cloud: Cloud,
) -> None:
    # GIVEN a recovery instance whose failback client is not ready yet
    cloud, drs = _on_premises(local_cloud)
    rid = _recover(cloud, drs, SERVER)["recoveryInstanceID"]
    jobs_before = drs.describe_jobs(filters={})["items"]
    # WHEN it, an unknown instance, or more than 200 instances are failed back
    not_ready = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[rid]))
    unknown = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[rid, "i-0fffffffffffffff0"]))
    too_many = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[f"i-{n:017x}" for n in range(201)]))
    # THEN each is a ValidationException naming what is wrong, and no job was started
    assert not_ready["Code"] == "ValidationException"
    assert f"{rid} (FAILBACK_NOT_STARTED)" in not_ready["Message"]
    assert unknown["Code"] == "ValidationException"
    assert "i-0fffffffffffffff0" in unknown["Message"]
    assert too_many["Code"] == "ValidationException"
    assert "200" in too_many["Message"]
    assert drs.describe_jobs(filters={})["items"] == jobs_before
    assert _state(drs, rid) == "FAILBACK_NOT_STARTED"


def test_a_never_ready_instance_stays_in_progress_and_cannot_be_failed_back(local_cloud: Cloud) -> None:
    # GIVEN the never-ready fault on a server, recovered
    cloud, drs = _on_premises(local_cloud)
    rid = _recover(cloud, drs, STUCK)["recoveryInstanceID"]
    # WHEN a day passes
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_IN_PROGRESS", timeout=60)
    cloud.sleep(86_400)
    # THEN it is still in progress, and StartFailbackLaunch refuses it naming that state
    assert _state(drs, rid) == "FAILBACK_IN_PROGRESS"
    assert _failback_events(cloud, rid) == ["FAILBACK_IN_PROGRESS"]
    refused = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[rid]))
    assert refused["Code"] == "ValidationException"
    assert f"{rid} (FAILBACK_IN_PROGRESS)" in refused["Message"]


def test_stop_failback_puts_the_instance_back_to_not_started_for_good(local_cloud: Cloud) -> None:
    # GIVEN a recovery instance whose failback is in progress
    cloud, drs = _on_premises(local_cloud)
    rid = _recover(cloud, drs, SERVER)["recoveryInstanceID"]
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_IN_PROGRESS", timeout=60)
    # WHEN its failback is stopped and an hour passes
    drs.stop_failback(recoveryInstanceID=rid)
    cloud.sleep(3600)
    # THEN it is FAILBACK_NOT_STARTED (the API reference) and the earlier progress never lands
    assert _state(drs, rid) == "FAILBACK_NOT_STARTED"
    unknown = _refusal(lambda: drs.stop_failback(recoveryInstanceID="i-0fffffffffffffff0"))
    assert unknown["Code"] == "ResourceNotFoundException"
    config = drs.get_failback_replication_configuration(recoveryInstanceID=rid)
    assert (config["recoveryInstanceID"], config["usePrivateIP"], config["internetProtocol"]) == (rid, False, "IPV4")
    missing = _refusal(lambda: drs.get_failback_replication_configuration(recoveryInstanceID="i-0fffffffffffffff0"))
    assert missing["Code"] == "ResourceNotFoundException"


def test_without_the_failback_section_instances_have_no_failback_block_and_cannot_fail_back(
    local_cloud: Cloud,
) -> None:
    # GIVEN the default profile
    cloud = local_cloud()
    cloud.drs.register_source_server(SERVER)
    drs = cloud.session.client("drs")
    # WHEN a server is recovered and time passes
    instance = _recover(cloud, drs, SERVER)
    cloud.sleep(3600)
    # THEN its recovery instance is as before: no failback block, no failback event; failing it back is refused
    item = drs.describe_recovery_instances(filters={})["items"][0]
    assert "failback" not in instance
    assert "failback" not in item
    assert not [e for e in cloud.events if e.detail_type == FAILBACK_EVENT]
    refused = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[instance["recoveryInstanceID"]]))
    assert refused["Code"] == "ValidationException"
    assert "no failback client" in refused["Message"]
    rid = instance["recoveryInstanceID"]
    for call in (
        lambda: drs.stop_failback(recoveryInstanceID=rid),
        lambda: drs.reverse_replication(recoveryInstanceID=rid),
    ):
        untracked = _refusal(call)
        assert untracked["Code"] == "ValidationException"
        assert "no drs.failback section" in untracked["Message"]


# ---------------------------------------------------------------------- EC2 to EC2, cross-Region

CROSS_REGION = [
    {
        "accountId": HOME,
        "roleName": None,  # our own account in another Region: no role to assume
        "regions": {
            WEST: {
                "drs": {
                    "failback": {
                        "reverseReplicationSeconds": 300,
                        "servers": {EC2_SERVER: {"originRegion": EAST}, STRAY: {"originRegion": "eu-west-1"}},
                    }
                }
            }
        },
    }
]


def test_reverse_replication_creates_a_reversed_source_server_in_the_origin_region_that_recovers_there(
    local_cloud: Cloud,
) -> None:
    # GIVEN an EC2 instance of us-east-1 recovered in us-west-2 (same account)
    cloud = local_cloud(accounts=CROSS_REGION)
    cloud.drs_for(HOME, WEST).register_source_server(EC2_SERVER, hostname="web-1")
    west, east = cloud.session.client("drs", region_name=WEST), cloud.session.client("drs", region_name=EAST)
    instance = _recover(cloud, west, EC2_SERVER)
    rid = instance["recoveryInstanceID"]
    assert (instance["originEnvironment"], instance["failback"]["state"]) == ("AWS", "FAILBACK_NOT_STARTED")
    cloud.sleep(3600)  # an EC2 origin has no failback client: nothing moves by itself
    assert _state(west, rid) == "FAILBACK_NOT_STARTED"
    # WHEN its replication is reversed
    arn = west.reverse_replication(recoveryInstanceID=rid)["reversedDirectionSourceServerArn"]
    # THEN a source server of the same account in us-east-1 replicates back, the two servers naming each other
    assert arn.startswith(f"arn:aws:drs:{EAST}:{HOME}:source-server/s-")
    reversed_sid = arn.rsplit("/", 1)[1]
    [back] = east.describe_source_servers(filters={"sourceServerIDs": [reversed_sid]})["items"]
    [origin] = west.describe_source_servers(filters={"sourceServerIDs": [EC2_SERVER]})["items"]
    assert back["replicationDirection"] == "FAILBACK"
    assert back["reversedDirectionSourceServerArn"] == origin["arn"]
    assert origin["reversedDirectionSourceServerArn"] == arn
    assert back["dataReplicationInfo"]["dataReplicationState"] == "INITIAL_SYNC"
    assert back["sourceProperties"]["identificationHints"]["hostname"] == "web-1"
    again = _refusal(lambda: west.reverse_replication(recoveryInstanceID=rid))
    assert again["Code"] == "ConflictException"
    # WHEN the cloud runs until the reversed server replicates continuously
    cloud.run_until(
        lambda: (
            east.describe_source_servers(filters={"sourceServerIDs": [reversed_sid]})["items"][0][
                "dataReplicationInfo"
            ]["dataReplicationState"]
            == "CONTINUOUS"
        ),
        timeout=60,
    )
    # THEN the recovery instance is ready, and the reversed server recovers in us-east-1 like any server
    assert _state(west, rid) == "FAILBACK_READY_FOR_LAUNCH"
    assert _failback_events(cloud, rid) == ["FAILBACK_IN_PROGRESS", "FAILBACK_READY_FOR_LAUNCH"]
    assert [e.region for e in cloud.events if e.detail_type == FAILBACK_EVENT] == [WEST, WEST]
    home_instance = _recover(cloud, east, reversed_sid)
    assert home_instance["sourceServerID"] == reversed_sid
    assert cloud.drs.stats.launches[reversed_sid] == 1


def test_reverse_replication_is_refused_for_on_premises_unknown_and_unmodelled_origins(local_cloud: Cloud) -> None:
    # GIVEN in us-west-2: an on-premises server's instance, and one whose origin Region the profile does not list
    cloud = local_cloud(accounts=CROSS_REGION)
    sim = cloud.drs_for(HOME, WEST)
    sim.register_source_server(SERVER)
    sim.register_source_server(STRAY)
    west = cloud.session.client("drs", region_name=WEST)
    on_premises = _recover(cloud, west, SERVER)["recoveryInstanceID"]
    stray = _recover(cloud, west, STRAY)["recoveryInstanceID"]
    east = cloud.session.client("drs", region_name=EAST)
    servers_before = [len(c.describe_source_servers(filters={})["items"]) for c in (east, west)]
    # WHEN their replication is reversed, and an unknown instance's
    not_ec2 = _refusal(lambda: west.reverse_replication(recoveryInstanceID=on_premises))
    no_region = _refusal(lambda: west.reverse_replication(recoveryInstanceID=stray))
    unknown = _refusal(lambda: west.reverse_replication(recoveryInstanceID="i-0fffffffffffffff0"))
    # THEN each is refused with its reason, and no source server was created anywhere
    assert not_ec2["Code"] == "ValidationException"
    assert "StartFailbackLaunch" in not_ec2["Message"]
    assert no_region["Code"] == "UninitializedAccountException"
    assert "eu-west-1" in no_region["Message"]
    assert unknown["Code"] == "ResourceNotFoundException"
    assert [len(c.describe_source_servers(filters={})["items"]) for c in (east, west)] == servers_before
    assert (
        "reversedDirectionSourceServerArn"
        not in west.describe_source_servers(filters={"sourceServerIDs": [STRAY]})["items"][0]
    )


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"startAfterSeconds": 900, "readyAfterSeconds": 600}, "drs.failback: startAfterSeconds (900) must not exceed"),
        ({"servers": {SERVER: {"neverready": True}}}, f"drs.failback.servers.{SERVER}.neverready: unknown key"),
        ({"servers": {SERVER: {"originRegion": "east"}}}, f"drs.failback.servers.{SERVER}.originRegion"),
        ({"servers": {"web-1": {"neverReady": True}}}, "drs.failback.servers.web-1"),
        ({"readyAfterSeconds": -1}, "drs.failback.readyAfterSeconds"),
    ],
)
def test_a_mistaken_failback_section_is_refused_naming_its_key(section: dict[str, Any], named: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(named)):
        load_profile(None, **{"drs.failback": section})
