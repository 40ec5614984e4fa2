"""Re-protection in the DRS simulator, driven with raw boto3 ``drs`` clients on a started LocalCloud: an on-premises
server stopped by its failback launch and restarted by StartReplication, the FAILBACK_ERROR fault, and an EC2
failback re-protected by ReverseReplication of the failed-back instance (with both servers' sourceCloudProperties)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.profile import ProfileError, load_profile
from orchestrator.domain.clock import parse_iso
from tests.unit.localcloud.test_drs_sim_failback import (
    CROSS_REGION,
    EAST,
    EC2_SERVER,
    FAILBACK,
    HOME,
    SERVER,
    WEST,
    Cloud,
    _failback_events,
    _recover,
    _refusal,
    _state,
)

BROKEN = "s-1111111111111111c"


def _server(drs: Any, sid: str) -> dict[str, Any]:
    item: dict[str, Any] = drs.describe_source_servers(filters={"sourceServerIDs": [sid]})["items"][0]
    return item


def _replication(drs: Any, sid: str) -> str:
    return str(_server(drs, sid)["dataReplicationInfo"]["dataReplicationState"])


def _snapshots(drs: Any, sid: str) -> list[str]:
    return [item["timestamp"] for item in drs.describe_recovery_snapshots(sourceServerID=sid)["items"]]


def _failed_back(local_cloud: Cloud) -> tuple[LocalCloud, Any, str]:
    """An on-premises server recovered and failed back (its failback job completed); the cloud, client, instance."""
    section = {**FAILBACK, "reprotectSeconds": 500, "servers": {BROKEN: {"failbackError": True}}}
    cloud = local_cloud(**{"drs.failback": section})
    cloud.drs.register_source_server(SERVER)
    cloud.drs.register_source_server(BROKEN)
    drs = cloud.session.client("drs")
    rid = _recover(cloud, drs, SERVER)["recoveryInstanceID"]
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_READY_FOR_LAUNCH", timeout=60)
    assert _replication(drs, SERVER) == "CONTINUOUS"
    drs.start_failback_launch(recoveryInstanceIDs=[rid])
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_COMPLETED", timeout=60)
    return cloud, drs, rid


def test_a_failed_back_on_premises_server_is_stopped_until_start_replication_protects_it_again(
    local_cloud: Cloud,
) -> None:
    # GIVEN an on-premises server whose failback launch has completed
    cloud, drs, _ = _failed_back(local_cloud)
    # THEN its replication is STOPPED (the failback overwrote the machine), its snapshots still listed
    assert _replication(drs, SERVER) == "STOPPED"
    before = _snapshots(drs, SERVER)
    assert before
    # WHEN its replication is started again
    began = cloud.clock.now()
    started = drs.start_replication(sourceServerID=SERVER)["sourceServer"]
    # THEN the answer is the server, INITIATING; starting it again conflicts, naming its state
    assert (started["sourceServerID"], started["dataReplicationInfo"]["dataReplicationState"]) == (
        SERVER,
        "INITIATING",
    )
    again = _refusal(lambda: drs.start_replication(sourceServerID=SERVER))
    assert again["Code"] == "ConflictException"
    assert "INITIATING" in again["Message"]
    # WHEN the cloud runs: INITIAL_SYNC after a fifth of reprotectSeconds (500), CONTINUOUS after all of it
    cloud.run_until(lambda: _replication(drs, SERVER) != "INITIATING", timeout=60)
    assert _replication(drs, SERVER) == "INITIAL_SYNC"
    assert timedelta(seconds=100) <= cloud.clock.now() - began < timedelta(seconds=500)
    cloud.run_until(lambda: _replication(drs, SERVER) == "CONTINUOUS", timeout=60)
    assert cloud.clock.now() - began >= timedelta(seconds=500)
    # THEN a recovery snapshot was taken when it became continuous, and it recovers again
    after = _snapshots(drs, SERVER)
    assert after[:-1] == before
    assert timedelta(seconds=499.99) <= parse_iso(after[-1]) - began < timedelta(seconds=501)  # ISO: milliseconds
    assert _recover(cloud, drs, SERVER)["sourceServerID"] == SERVER


def test_start_replication_is_refused_for_unknown_and_replicating_servers_and_serves_default_profiles(
    local_cloud: Cloud,
) -> None:
    # GIVEN the default profile: a replicating server and one the profile stopped
    stopped = "s-1111111111111111d"
    cloud = local_cloud(**{"drs.servers": {stopped: {"replicationState": "STOPPED"}}})
    cloud.drs.register_source_server(SERVER)
    cloud.drs.ensure_servers([stopped])
    drs = cloud.session.client("drs")
    # WHEN an unknown server's and a replicating server's replication is started
    unknown = _refusal(lambda: drs.start_replication(sourceServerID="s-0fffffffffffffff0"))
    busy = _refusal(lambda: drs.start_replication(sourceServerID=SERVER))
    # THEN each is refused with its own error and nothing changed
    assert unknown["Code"] == "ResourceNotFoundException"
    assert "s-0fffffffffffffff0" in unknown["Message"]
    assert busy["Code"] == "ConflictException"
    assert "CONTINUOUS" in busy["Message"]
    assert _replication(drs, SERVER) == "CONTINUOUS"
    assert "sourceCloudProperties" not in _server(drs, SERVER)  # on premises: no EC2 origin
    assert "vmWareUuid" in _server(drs, SERVER)["sourceProperties"]["identificationHints"]
    # WHEN the stopped one is started: without drs.failback it takes the default 300 s
    began = cloud.clock.now()
    drs.start_replication(sourceServerID=stopped)
    cloud.run_until(lambda: _replication(drs, stopped) == "CONTINUOUS", timeout=60)
    assert cloud.clock.now() - began >= timedelta(seconds=300)


def test_a_state_set_while_replication_restarts_is_not_overwritten_by_the_pending_steps(local_cloud: Cloud) -> None:
    # GIVEN a stopped server whose replication was just started
    stopped = "s-1111111111111111d"
    cloud = local_cloud(**{"drs.servers": {stopped: {"replicationState": "STOPPED"}}})
    cloud.drs.ensure_servers([stopped])
    drs = cloud.session.client("drs")
    drs.start_replication(sourceServerID=stopped)
    # WHEN its replication stalls meanwhile, and an hour passes
    cloud.drs.set_replication(stopped, state="STALLED")
    cloud.sleep(3600)
    # THEN it is still STALLED: the restart's pending steps did not apply, and no snapshot was taken
    assert _replication(drs, stopped) == "STALLED"
    assert len(_snapshots(drs, stopped)) == 3  # the profile's default snapshots only


def test_a_failback_error_server_reports_the_error_with_an_event_and_cannot_be_failed_back(
    local_cloud: Cloud,
) -> None:
    # GIVEN the failbackError fault on a server, recovered
    cloud = local_cloud(**{"drs.failback": {**FAILBACK, "servers": {BROKEN: {"failbackError": True}}}})
    cloud.drs.register_source_server(BROKEN)
    drs = cloud.session.client("drs")
    rid = _recover(cloud, drs, BROKEN)["recoveryInstanceID"]
    # WHEN the cloud runs until its failback client reports
    cloud.run_until(lambda: _state(drs, rid) == "FAILBACK_ERROR", timeout=60)
    # THEN it went through FAILBACK_IN_PROGRESS to FAILBACK_ERROR, an event each, and failing it back is refused
    assert _failback_events(cloud, rid) == ["FAILBACK_IN_PROGRESS", "FAILBACK_ERROR"]
    refused = _refusal(lambda: drs.start_failback_launch(recoveryInstanceIDs=[rid]))
    assert refused["Code"] == "ValidationException"
    assert f"{rid} (FAILBACK_ERROR)" in refused["Message"]
    # WHEN its failback is stopped: it is FAILBACK_NOT_STARTED again
    drs.stop_failback(recoveryInstanceID=rid)
    assert _state(drs, rid) == "FAILBACK_NOT_STARTED"


@pytest.mark.parametrize(
    ("server", "named"),
    [
        ({"failbackError": True, "neverReady": True}, "failbackError and neverReady exclude each other"),
        ({"failbackError": True, "originRegion": "us-west-2"}, "an EC2 origin (originRegion)"),
        ({"failbackError": "sometimes"}, "failbackError"),
    ],
)
def test_a_mistaken_failback_error_fault_is_refused_naming_its_key(server: dict[str, Any], named: str) -> None:
    with pytest.raises(ProfileError, match=re.escape(f"drs.failback.servers.{SERVER}")) as refused:
        load_profile(None, **{"drs.failback": {"servers": {SERVER: server}}})
    assert named in str(refused.value)


def test_a_mistaken_reprotect_time_is_refused_naming_its_key() -> None:
    with pytest.raises(ProfileError, match=re.escape("drs.failback.reprotectSeconds")):
        load_profile(None, **{"drs.failback": {"reprotectSeconds": -1}})


def test_reverse_replication_of_a_failed_back_ec2_instance_reprotects_the_recovery_side_server(
    local_cloud: Cloud,
) -> None:
    # GIVEN an EC2 instance of us-east-1 recovered in us-west-2, reversed, and recovered back in us-east-1 (whose
    # profile has no drs.failback section)
    cloud = local_cloud(accounts=CROSS_REGION)
    cloud.drs_for(HOME, WEST).register_source_server(EC2_SERVER, hostname="web-1")
    west, east = cloud.session.client("drs", region_name=WEST), cloud.session.client("drs", region_name=EAST)
    recovery = _recover(cloud, west, EC2_SERVER)["recoveryInstanceID"]
    reversed_arn = west.reverse_replication(recoveryInstanceID=recovery)["reversedDirectionSourceServerArn"]
    reversed_sid = reversed_arn.rsplit("/", 1)[1]
    cloud.run_until(lambda: _replication(east, reversed_sid) == "CONTINUOUS", timeout=60)
    home = _recover(cloud, east, reversed_sid)
    # THEN both servers show their EC2 origin and direction, each naming the other
    original, reversed_server = _server(west, EC2_SERVER), _server(east, reversed_sid)
    assert original["replicationDirection"] == "FAILOVER"
    assert original["reversedDirectionSourceServerArn"] == reversed_arn
    assert original["sourceCloudProperties"] == {
        "originAccountID": HOME,
        "originRegion": EAST,
        "originAvailabilityZone": f"{EAST}a",
    }
    assert (reversed_server["replicationDirection"], reversed_server["reversedDirectionSourceServerArn"]) == (
        "FAILBACK",
        original["arn"],
    )
    assert reversed_server["sourceCloudProperties"]["originRegion"] == WEST
    hints = reversed_server["sourceProperties"]["identificationHints"]
    assert (hints["awsInstanceID"], "vmWareUuid" in hints) == (recovery, False)
    assert "vmWareUuid" not in original["sourceProperties"]["identificationHints"]  # an EC2 instance, not a VM
    # AND the failed-back instance originated in EC2 and has a failback state of its own
    assert (home["originEnvironment"], home["failback"]["state"]) == ("AWS", "FAILBACK_NOT_STARTED")
    assert home["originAvailabilityZone"] == f"{WEST}a"
    snapshots_before = _snapshots(west, EC2_SERVER)
    # WHEN its replication is reversed
    began = cloud.clock.now()
    answer = east.reverse_replication(recoveryInstanceID=home["recoveryInstanceID"])
    # THEN the original recovery-side server is re-protected: the answer names it, it syncs again
    assert answer["reversedDirectionSourceServerArn"] == original["arn"]
    assert _replication(west, EC2_SERVER) == "INITIAL_SYNC"
    assert len(east.describe_source_servers(filters={})["items"]) == 1  # no new server anywhere
    assert [s["sourceServerID"] for s in west.describe_source_servers(filters={})["items"]] == [EC2_SERVER]
    again = _refusal(lambda: east.reverse_replication(recoveryInstanceID=home["recoveryInstanceID"]))
    assert again["Code"] == "ConflictException"
    # WHEN the cloud runs until it replicates continuously (us-west-2's reverseReplicationSeconds: 300)
    cloud.run_until(lambda: _replication(west, EC2_SERVER) == "CONTINUOUS", timeout=60)
    # THEN it took that long, with a new recovery snapshot, and the failed-back instance is ready to fail over again
    assert cloud.clock.now() - began >= timedelta(seconds=300)
    assert len(_snapshots(west, EC2_SERVER)) == len(snapshots_before) + 1
    assert _state(east, home["recoveryInstanceID"]) == "FAILBACK_READY_FOR_LAUNCH"
    assert _failback_events(cloud, home["recoveryInstanceID"]) == ["FAILBACK_IN_PROGRESS", "FAILBACK_READY_FOR_LAUNCH"]
