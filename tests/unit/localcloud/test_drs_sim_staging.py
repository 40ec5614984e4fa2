"""Staging accounts in the DRS simulator (localcloud/drs_sim_staging.py), through real boto3 ``drs`` clients: the
profile's staging servers, ListStagingAccounts, ListExtensibleSourceServers, CreateExtendedSourceServer and its
refusals, and DescribeSourceServers' stagingArea and stagingAccountIDs filter."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.clock import SimClock
from localcloud.drs_sim import DrsSimConfig, DrsSimulator, install_globally, uninstall_globally

ACCOUNT, UNTRUSTING = "111122223333", "444455556666"
STAGED_A, STAGED_B, STAGED_C = "s-5000000000000000a", "s-5000000000000000b", "s-5000000000000000c"
PROFILE = {
    "stagingAccounts": {
        ACCOUNT: {
            "servers": {
                STAGED_A: {"hostname": "db-1", "tags": {"tier": "db"}},
                STAGED_B: {"extended": True, "replicationState": "STALLED"},
                STAGED_C: {"extensionError": "no access to the staging account's EBS key"},
            }
        },
        UNTRUSTING: {"trustsRecoveryAccount": False, "servers": {"s-6000000000000000a": None}},
    }
}


def _arn(account: str, sid: str) -> str:
    return f"arn:aws:drs:us-east-1:{account}:source-server/{sid}"


@pytest.fixture
def drs() -> Any:
    simulator = DrsSimulator(SimClock(), DrsSimConfig.from_profile({**PROFILE, "quotas": {"sourceServers": 3}}))
    install_globally(simulator)
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    try:
        yield boto3.client(
            "drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=config
        )
    finally:
        uninstall_globally()


def _error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_a_profile_staging_server_is_extensible_until_extended(drs: Any) -> None:
    # GIVEN the profile's staging account, one of whose servers is extended from the start
    items = drs.list_extensible_source_servers(stagingAccountID=ACCOUNT)["items"]
    # THEN the others are offered, with their hostname and tags, by their staging ARN
    assert [(i["arn"], i["hostname"], i["tags"]) for i in items] == [
        (_arn(ACCOUNT, STAGED_A), "db-1", {"tier": "db"}),
        (_arn(ACCOUNT, STAGED_C), "host-00000c", {}),
    ]
    assert drs.list_staging_accounts()["accounts"] == [{"accountID": ACCOUNT}]

    # WHEN one is extended (201, botocore parses the created source server)
    created = drs.create_extended_source_server(sourceServerArn=_arn(ACCOUNT, STAGED_A), tags={"k": "v"})
    server = created["sourceServer"]

    # THEN it is a source server of this account, EXTENDED from the staging one, tagged as asked
    assert server["arn"].endswith(f":123456789012:source-server/{server['sourceServerID']}")
    assert server["stagingArea"] == {
        "status": "EXTENDED",
        "stagingAccountID": ACCOUNT,
        "stagingSourceServerArn": _arn(ACCOUNT, STAGED_A),
    }
    assert server["tags"] == {"k": "v"}
    # AND it is no longer offered, and a second creation is refused as a conflict naming the extended server
    assert [i["arn"] for i in drs.list_extensible_source_servers(stagingAccountID=ACCOUNT)["items"]] == [
        _arn(ACCOUNT, STAGED_C)
    ]
    code, message = _error(drs.create_extended_source_server, sourceServerArn=_arn(ACCOUNT, STAGED_A))
    assert code == "ConflictException"
    assert server["sourceServerID"] in message


def test_describe_source_servers_filters_on_staging_accounts(drs: Any) -> None:
    # GIVEN an extended server from the profile, one in EXTENSION_ERROR, and a server of this account
    drs.create_extended_source_server(sourceServerArn=_arn(ACCOUNT, STAGED_C))
    # WHEN the servers of the staging account are described
    items = drs.describe_source_servers(filters={"stagingAccountIDs": [ACCOUNT]})["items"]
    # THEN exactly the extended ones come, each with its staging area and its staging server's replication
    by_staging = {i["stagingArea"]["stagingSourceServerArn"]: i for i in items}
    assert sorted(by_staging) == [_arn(ACCOUNT, STAGED_B), _arn(ACCOUNT, STAGED_C)]
    assert by_staging[_arn(ACCOUNT, STAGED_B)]["dataReplicationInfo"]["dataReplicationState"] == "STALLED"
    assert by_staging[_arn(ACCOUNT, STAGED_C)]["stagingArea"] == {
        "status": "EXTENSION_ERROR",
        "stagingAccountID": ACCOUNT,
        "stagingSourceServerArn": _arn(ACCOUNT, STAGED_C),
        "errorMessage": "no access to the staging account's EBS key",
    }
    assert drs.describe_source_servers(filters={"stagingAccountIDs": [UNTRUSTING]})["items"] == []


def test_create_extended_source_server_refusals(drs: Any) -> None:
    # a malformed ARN (botocore checks only the length: the simulator checks the model's pattern)
    assert _error(drs.create_extended_source_server, sourceServerArn="arn:aws:drs:us-east-1:1:job/x-long")[0] == (
        "ValidationException"
    )
    # a server the staging account does not have
    assert _error(drs.create_extended_source_server, sourceServerArn=_arn(ACCOUNT, "s-5000000000000000z"))[0] == (
        "ResourceNotFoundException"
    )
    # a staging account that does not trust this one: listing and creating are denied
    assert _error(drs.list_extensible_source_servers, stagingAccountID=UNTRUSTING)[0] == "AccessDeniedException"
    code, message = _error(drs.create_extended_source_server, sourceServerArn=_arn(UNTRUSTING, "s-6000000000000000a"))
    assert (code, "DRSStagingAccountRole" in message) == ("AccessDeniedException", True)
    # two more extended servers fit the quota of 3 (one was extended from the start)
    drs.create_extended_source_server(sourceServerArn=_arn(ACCOUNT, STAGED_A))
    drs.create_extended_source_server(sourceServerArn=_arn(ACCOUNT, STAGED_C))
    assert len(drs.describe_source_servers(filters={})["items"]) == 3


def test_the_source_server_quota_refuses_a_creation_beyond_it() -> None:
    # GIVEN an account at its source server quota (one server, the quota 1)
    simulator = DrsSimulator(SimClock(), DrsSimConfig.from_profile({**PROFILE, "quotas": {"sourceServers": 1}}))
    client = simulator.attach(
        boto3.client("drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    )
    # WHEN another server is extended THEN DRS's quota error answers
    code, _ = _error(client.create_extended_source_server, sourceServerArn=_arn(ACCOUNT, STAGED_A))
    assert code == "ServiceQuotaExceededException"


def test_list_staging_accounts_pages_through_the_query_string(drs: Any) -> None:
    # GIVEN a page size of 1 asked for (maxResults travels in the query string of a GET)
    page = drs.list_staging_accounts(maxResults=1)
    assert page["accounts"] == [{"accountID": ACCOUNT}]
    assert "nextToken" not in page
    assert _error(drs.list_staging_accounts, maxResults=51)[0] == "ValidationException"


def test_an_unquoted_or_short_staging_account_id_is_a_profile_error() -> None:
    with pytest.raises(ValueError, match=r"drs\.stagingAccounts"):
        DrsSimConfig.from_profile({"stagingAccounts": {"1111": {"servers": {}}}})
    with pytest.raises(ValueError, match=r"drs\.stagingAccounts\..*unknown key"):
        DrsSimConfig.from_profile({"stagingAccounts": {ACCOUNT: {"server": {}}}})
