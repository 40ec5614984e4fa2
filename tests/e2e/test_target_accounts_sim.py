"""The orchestrator's DRS adapter against a target account of the local cloud, reached as the orchestrator will reach
it (issue #15 item 1): STS AssumeRole with the external id from the runtime's own session, then a drs client in the
target's Region made from that session with the assumed credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from orchestrator.adapters.drs import Drs, DrsError

TARGET = "222233334444"
REGION = "us-west-2"
ROLE = f"arn:aws:iam::{TARGET}:role/DrsOrchestratorTarget"
WEB = "s-2222222222222222a"
HOME_WEB = "s-1111111111111111a"

ACCOUNTS = [
    {
        "accountId": TARGET,
        "externalId": "drs-orch-ext",
        "regions": {REGION: {"drs": {"servers": {WEB: {"tags": {"app": "web"}}}}}},
    }
]


def _target_drs(cloud: LocalCloud, region: str = REGION) -> Drs:
    assert cloud.runtime is not None
    session: Any = cloud.session
    credentials = session.client("sts").assume_role(
        RoleArn=ROLE, RoleSessionName="drs-orch-wave", ExternalId="drs-orch-ext", DurationSeconds=3600
    )["Credentials"]
    client = session.client(
        "drs",
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    return Drs(client, sleep=cloud.sleep)


def test_the_drs_adapter_with_assumed_credentials_works_in_the_target_account_only(
    local_cloud: Callable[..., LocalCloud],
) -> None:
    # GIVEN a local cloud with a home web server and a target account's web server in us-west-2
    cloud = local_cloud(accounts=ACCOUNTS, **{"drs.servers": {HOME_WEB: {"tags": {"app": "web"}}}})
    assert cloud.runtime is not None
    target = _target_drs(cloud)
    # WHEN the adapter lists the servers and launches a drill there, and the cloud runs the job to its end
    listed = [server["sourceServerID"] for server in target.list_source_servers()]
    job = target.start_recovery([{"sourceServerID": WEB}], is_drill=True, tags={"drs-orch:launch-key": "k1"})
    cloud.run_until(lambda: target.describe_jobs([job["jobID"]])[0]["status"] == "COMPLETED", timeout=60)
    # THEN it saw and launched the target's server only, and its job and recovery instance are the target's
    assert listed == [WEB]
    [done] = target.describe_jobs([job["jobID"]])
    assert done["arn"].startswith(f"arn:aws:drs:{REGION}:{TARGET}:job/")
    assert [p["launchStatus"] for p in done["participatingServers"]] == ["LAUNCHED"]
    assert [r["sourceServerID"] for r in target.describe_recovery_instances(source_server_ids=[WEB])] == [WEB]
    # AND the orchestrator's own account (its runtime's adapter) has no job and still only its own server
    assert [server["sourceServerID"] for server in cloud.runtime.drs.list_source_servers()] == [HOME_WEB]
    assert cloud.drs.stats.launches == {}
    # AND the job's Launch Result was delivered to the job watcher from the orchestrator's bus, with no error
    assert [(e.account, e.region) for e in cloud.events if e.source == "aws.drs"] == [(TARGET, REGION)]
    assert cloud.stats.handler_errors == 0


def test_the_drs_adapter_in_a_region_the_target_has_not_initialized_gets_its_error(
    local_cloud: Callable[..., LocalCloud],
) -> None:
    # GIVEN the target account set up in us-west-2 only
    cloud = local_cloud(accounts=ACCOUNTS)
    # WHEN the adapter calls DRS there in eu-west-1
    with pytest.raises(DrsError) as error:
        _target_drs(cloud, "eu-west-1").list_source_servers()
    # THEN it is DRS's UninitializedAccountException, not retried
    assert error.value.code == "UninitializedAccountException"
    assert not error.value.retryable
