"""The local cloud's accounts and Regions (profile `accounts`): STS AssumeRole of a target role with its external id,
and DRS, SSM and EC2 calls made with the assumed credentials acting in that account and Region, as on AWS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.profile import ProfileError, load_profile

HOME = "123456789012"
TARGET = "222233334444"
OTHER = "555566667777"
ROLE = f"arn:aws:iam::{TARGET}:role/DrsOrchestratorTarget"
OTHER_ROLE = f"arn:aws:iam::{OTHER}:role/Recovery"
EXTERNAL_ID = "drs-orch-7f3a"
WEST = "us-west-2"
TARGET_SERVER = "s-2222222222222222a"
HOME_SERVER = "s-1111111111111111a"
HOME_CALLER = f"arn:aws:sts::{HOME}:user/moto"  # moto's identity of the functions' own credentials

ACCOUNTS = [
    {
        "accountId": TARGET,
        "externalId": EXTERNAL_ID,
        "regions": {
            WEST: {
                "drs": {
                    "servers": {TARGET_SERVER: {"tags": {"app": "web"}}},
                    "quotas": {"concurrentJobs": 3},
                }
            }
        },
    },
    {"accountId": OTHER, "roleName": "Recovery", "externalId": "other-id", "regions": {"eu-west-1": None}},
]

Cloud = Callable[..., LocalCloud]


def _start(local_cloud: Cloud, **overrides: Any) -> LocalCloud:
    return local_cloud(accounts=ACCOUNTS, **{"drs.servers": {HOME_SERVER: {"tags": {"app": "web"}}}}, **overrides)


def _assume(cloud: LocalCloud, role: str = ROLE, **params: Any) -> dict[str, Any]:
    response: dict[str, Any] = cloud.session.client("sts").assume_role(
        RoleArn=role, RoleSessionName="drs-orch-launch", **params
    )
    return response


def _client(cloud: LocalCloud, service: str, credentials: dict[str, Any], region: str = WEST) -> Any:
    """A client made from assumed credentials, as the orchestrator makes them from its own session."""
    return cloud.session.client(
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _denied(role: str, caller: str = HOME_CALLER) -> str:
    return (
        "An error occurred (AccessDenied) when calling the AssumeRole operation: "
        f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"
    )


# ---- STS AssumeRole -------------------------------------------------------------------------------------


def test_assume_role_with_the_external_id_gives_credentials_that_expire_on_the_simulated_clock(
    local_cloud: Cloud,
) -> None:
    # GIVEN a profile with a target role requiring an external id
    cloud = _start(local_cloud)
    # WHEN the orchestrator's account assumes it with that external id, for 15 minutes
    response = _assume(cloud, ExternalId=EXTERNAL_ID, DurationSeconds=900)
    # THEN it gets a session of that role in the target account, expiring 15 simulated minutes from now
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert credentials["SecretAccessKey"]
    assert credentials["SessionToken"]
    remaining = credentials["Expiration"] - cloud.clock.now()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    user = response["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{TARGET}:assumed-role/DrsOrchestratorTarget/drs-orch-launch"
    # AND the session's caller identity is that role's, in that account
    identity = _client(cloud, "sts", credentials).get_caller_identity()
    assert identity["Account"] == TARGET
    assert cloud.sts.assumed == 1


@pytest.mark.parametrize("external_id", [None, "drs-orch-wrong", "other-id"])
def test_assume_role_without_the_right_external_id_is_access_denied(
    local_cloud: Cloud, external_id: str | None
) -> None:
    # GIVEN a target role requiring an external id
    cloud = _start(local_cloud)
    # WHEN it is assumed with none, a wrong one, or another role's
    with pytest.raises(ClientError) as refused:
        _assume(cloud, **({"ExternalId": external_id} if external_id else {}))
    # THEN STS refuses it as AWS words it, naming the caller and the role; no session was made
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert str(refused.value) == _denied(ROLE)
    assert (cloud.sts.assumed, cloud.sts.denied) == (0, 1)


def test_an_undeclared_role_is_access_denied(local_cloud: Cloud) -> None:
    # GIVEN a profile whose target account's role is DrsOrchestratorTarget
    cloud = _start(local_cloud)
    role = f"arn:aws:iam::{TARGET}:role/Admin"
    # WHEN another role of that account is assumed, even with the external id
    with pytest.raises(ClientError) as refused:
        _assume(cloud, role, ExternalId=EXTERNAL_ID)
    # THEN it is refused (the role does not trust the orchestrator, or does not exist)
    assert str(refused.value) == _denied(role)


def test_a_target_session_may_not_assume_another_target_role(local_cloud: Cloud) -> None:
    # GIVEN a session of the first target's role
    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    # WHEN it assumes the second target's role, with the right external id
    with pytest.raises(ClientError) as refused:
        _client(cloud, "sts", credentials).assume_role(RoleArn=OTHER_ROLE, RoleSessionName="hop", ExternalId="other-id")
    # THEN it is refused: the target roles trust only the orchestrator's own account
    caller = f"arn:aws:sts::{TARGET}:assumed-role/DrsOrchestratorTarget/drs-orch-launch"
    assert str(refused.value) == _denied(OTHER_ROLE, caller)


def test_the_refusal_fault_denies_every_assume_role_of_that_account(local_cloud: Cloud) -> None:
    # GIVEN the fault faults.assumeRoleRefused naming the target account
    cloud = _start(local_cloud, **{"faults.assumeRoleRefused": [TARGET]})
    # WHEN its role is assumed with the right external id
    with pytest.raises(ClientError) as refused:
        _assume(cloud, ExternalId=EXTERNAL_ID)
    # THEN it is AccessDenied; the other account's role still works
    assert str(refused.value) == _denied(ROLE)
    assert _assume(cloud, OTHER_ROLE, ExternalId="other-id")["Credentials"]["AccessKeyId"]
    assert cloud.sts.by_role == {(ROLE, "denied"): 1, (OTHER_ROLE, "assumed"): 1}


def test_a_session_longer_than_the_roles_maximum_is_a_validation_error(local_cloud: Cloud) -> None:
    # GIVEN a target role with the target stack's one-hour MaxSessionDuration
    cloud = _start(local_cloud)
    # WHEN a two-hour session is asked for
    with pytest.raises(ClientError) as refused:
        _assume(cloud, ExternalId=EXTERNAL_ID, DurationSeconds=7200)
    # THEN STS refuses it as it does
    assert refused.value.response["Error"] == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    }


# ---- DRS, EC2 and SSM per account and Region ------------------------------------------------------------


def test_assumed_credentials_see_and_launch_only_the_target_accounts_servers(local_cloud: Cloud) -> None:
    # GIVEN a home account with a web server and a target account with another one in us-west-2
    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    drs = _client(cloud, "drs", credentials)
    # WHEN a drs client with the assumed credentials in us-west-2 lists the servers and launches a drill
    servers = drs.describe_source_servers(filters={})["items"]
    job = drs.start_recovery(sourceServers=[{"sourceServerID": TARGET_SERVER}], isDrill=True)["job"]
    # THEN it sees that account's server only, with that account's and Region's ARN, and its job is there
    assert [(s["sourceServerID"], s["arn"]) for s in servers] == [
        (TARGET_SERVER, f"arn:aws:drs:{WEST}:{TARGET}:source-server/{TARGET_SERVER}")
    ]
    assert job["arn"] == f"arn:aws:drs:{WEST}:{TARGET}:job/{job['jobID']}"
    target = cloud.drs_for(TARGET, WEST)
    assert target.stats.launches[TARGET_SERVER] == 1
    assert target.config.quotas.concurrent_jobs == 3
    # AND the home account's simulator saw none of it, and its own client still sees its own server only
    assert cloud.drs_for(HOME, "us-east-1") is cloud.drs
    assert sum(cloud.drs.stats.calls.values()) == 0
    home = cloud.session.client("drs").describe_source_servers(filters={})["items"]
    assert [s["sourceServerID"] for s in home] == [HOME_SERVER]
    assert cloud.session.client("drs").describe_jobs(filters={})["items"] == []


@pytest.mark.parametrize(
    ("account", "region"),
    [(TARGET, "us-east-1"), (TARGET, "eu-west-1"), (HOME, WEST)],
    ids=["target-home-region", "target-other-region", "home-other-region"],
)
def test_drs_where_the_profile_has_none_is_uninitialized(local_cloud: Cloud, account: str, region: str) -> None:
    # GIVEN the target account configured in us-west-2 only, the home account in us-east-1 only
    cloud = _start(local_cloud)
    if account == TARGET:
        drs = _client(cloud, "drs", _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"], region)
    else:
        drs = cloud.session.client("drs", region_name=region)
    # WHEN DRS is called in an account and Region the profile does not list
    with pytest.raises(ClientError) as refused:
        drs.describe_source_servers(filters={})
    # THEN DRS answers as it does where it was never initialized
    assert refused.value.response["Error"]["Code"] == "UninitializedAccountException"
    assert sum(cloud.drs.stats.calls.values()) == 0


def test_a_target_launch_puts_its_recovery_instance_in_that_accounts_ec2_and_its_event_on_our_bus(
    local_cloud: Cloud,
) -> None:
    # GIVEN a drill of the target account's server, started with assumed credentials
    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    delivered: list[tuple[str, dict[str, Any]]] = []
    invoke = cloud.lambdas.invoke

    def record(name: str, event: dict[str, Any]) -> Any:
        delivered.append((name, event))
        return invoke(name, event)

    cloud.lambdas.invoke = record  # type: ignore[method-assign]
    job = _client(cloud, "drs", credentials).start_recovery(
        sourceServers=[{"sourceServerID": TARGET_SERVER}], isDrill=True
    )["job"]
    # WHEN the cloud runs until the launch is done and what it published is delivered
    cloud.run_until(lambda: any(e.source == "aws.drs" for e in cloud.events), timeout=60)
    cloud.drain()
    # THEN the recovery instance is in moto's EC2 of the target account and Region, not in ours
    target_ec2 = _client(cloud, "ec2", credentials).describe_instances()["Reservations"]
    instance_ids = [i["InstanceId"] for r in target_ec2 for i in r["Instances"]]
    recovery = _client(cloud, "drs", credentials).describe_recovery_instances(filters={})["items"]
    assert len(instance_ids) == 1
    assert [r["ec2InstanceID"] for r in recovery] == instance_ids
    assert cloud.session.client("ec2").describe_instances()["Reservations"] == []
    # AND its Launch Result reached the orchestrator's bus carrying the target's account and Region
    forwarded = [e for e in cloud.events if e.source == "aws.drs"]
    assert [(e.detail_type, e.account, e.region, e.detail["job-id"]) for e in forwarded] == [
        ("DRS Source Server Launch Result", TARGET, WEST, job["jobID"])
    ]
    # AND the job watcher was handed the event as EventBridge delivers it: account and Region the target's
    [(name, event)] = [(n, e) for n, e in delivered if e.get("source") == "aws.drs"]
    assert name == "job_watcher"
    assert (event["account"], event["region"]) == (TARGET, WEST)
    assert event["resources"] == [f"arn:aws:drs:{WEST}:{TARGET}:source-server/{TARGET_SERVER}"]
    assert event["detail"]["state"] == "RECOVERY_LAUNCH_SUCCEEDED"
    assert cloud.stats.handler_errors == 0
    # AND the recovery instance is a managed node of the target's SSM only
    by_id = [{"Key": "InstanceIds", "Values": instance_ids}]
    nodes = _client(cloud, "ssm", credentials).describe_instance_information(Filters=by_id)["InstanceInformationList"]
    assert [(n["InstanceId"], n["PingStatus"]) for n in nodes] == [(instance_ids[0], "Online")]
    assert cloud.session.client("ssm").describe_instance_information(Filters=by_id)["InstanceInformationList"] == []


def test_the_forwarded_rules_admit_exactly_the_target_accounts(local_cloud: Cloud) -> None:
    # GIVEN a profile with two target accounts
    cloud = _start(local_cloud)
    # WHEN the orchestrator's bus rules are listed
    rules = cloud.events_client.list_rules(EventBusName="drs-orchestrator", NamePrefix="drs-orch-forwarded-")["Rules"]
    # THEN each default-bus route has a forwarded rule limited to those accounts (as the stack's targetAccounts)
    import json

    assert sorted(rule["Name"] for rule in rules) == [
        "drs-orch-forwarded-drs-launch-result",
        "drs-orch-forwarded-ssm-status",
    ]
    assert all(json.loads(rule["EventPattern"])["account"] == [TARGET, OTHER] for rule in rules)


def test_an_expired_session_is_refused_by_drs_and_ssm(local_cloud: Cloud) -> None:
    # GIVEN a 15-minute session of the target role
    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID, DurationSeconds=900)["Credentials"]
    drs = _client(cloud, "drs", credentials)
    assert drs.describe_source_servers(filters={})["items"]
    # WHEN the simulated clock passes its expiration
    cloud.clock.jump_to(credentials["Expiration"] + timedelta(seconds=1))
    # THEN DRS and SSM refuse its calls as AWS refuses an expired token; a new session works
    for call in (
        lambda: drs.describe_source_servers(filters={}),
        lambda: _client(cloud, "ssm", credentials).list_commands(),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "ExpiredTokenException"
    fresh = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    assert _client(cloud, "drs", fresh).describe_source_servers(filters={})["items"]


def test_without_accounts_the_cloud_is_one_account_in_one_region(local_cloud: Cloud) -> None:
    # GIVEN the default profile
    cloud = local_cloud()
    # THEN there is one DRS simulator, the home account's, no forwarded rule, and no role to assume
    assert list(cloud.all_drs()) == [(HOME, "us-east-1")]
    rules = cloud.events_client.list_rules(EventBusName="drs-orchestrator", NamePrefix="drs-orch-forwarded-")
    assert rules["Rules"] == []
    with pytest.raises(ClientError) as refused:
        _assume(cloud, ExternalId=EXTERNAL_ID)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(KeyError, match=f"no DRS simulator for account {TARGET} in {WEST}"):
        cloud.drs_for(TARGET, WEST)


# ---- the profile section ----------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "accounts:\n  - accountId: '222233334444'\n    regions: {us-west-2: null}\n",
            "accounts.0: account 222233334444: externalId is required (the target role's trust policy requires "
            "sts:ExternalId)",
        ),
        (
            "accounts:\n  - accountId: '222233334444'\n    externalId: abc\n    regions: {}\n",
            "accounts.0.regions: an account lists at least one Region (its DRS and SSM there)",
        ),
        (
            "accounts:\n  - accountId: '123456789012'\n    roleName: null\n    regions: {us-east-1: null}\n",
            "accounts.0: account 123456789012 in us-east-1 is the profile's own drs and ssm sections, not an entry "
            "here",
        ),
        (
            "accounts:\n  - accountId: '222233334444'\n    roleName: null\n    regions: {us-west-2: null}\n",
            "accounts.0: account 222233334444: only the home account (123456789012) may have no role",
        ),
        (
            "accounts:\n  - {accountId: '222233334444', externalId: abc, regions: {us-west-2: null}}\n"
            "  - {accountId: '222233334444', externalId: abd, regions: {eu-west-1: null}}\n",
            "accounts: account(s) listed twice: 222233334444",
        ),
        (
            "accounts:\n  - {accountId: '222233334444', externalId: abc, regions: {uswest2: null}}\n",
            "accounts.0.regions.uswest2.[key]: String should match pattern",
        ),
        (
            "accounts:\n  - {accountId: '222233334444', externalId: abc, regions: {us-west-2: {drs: {quotas: "
            "{concurrentJob: 2}}}}}\n",
            "accounts.0.regions.us-west-2.drs.quotas.concurrentJob: unknown key (allowed here: concurrentJobs, ",
        ),
        ("faults: {assumeRoleRefused: ['2222']}\n", "faults.assumeRoleRefused.0: String should match pattern"),
    ],
)
def test_a_wrong_accounts_section_is_named_at_its_key(tmp_path: Path, text: str, problem: str) -> None:
    # GIVEN a profile with a mistake in its accounts section / WHEN it is loaded
    with pytest.raises(ProfileError) as error:
        load_profile(_write(tmp_path, text))
    # THEN the mistake is named at its camelCase key path
    assert problem in str(error.value)


def test_an_accounts_section_loads_with_its_defaults(tmp_path: Path) -> None:
    # GIVEN a target account with a Region and the home account in another Region, without a role
    text = (
        "accounts:\n"
        "  - {accountId: '222233334444', externalId: ext-1,\n"
        "     regions: {us-west-2: {drs: {quotas: {concurrentJobs: 2}}}}}\n"
        "  - {accountId: '123456789012', roleName: null, regions: {us-west-2: null}}\n"
    )
    # WHEN it is loaded
    target, home = load_profile(_write(tmp_path, text)).accounts
    # THEN the target's role is the target stack's by default, with a one-hour session; home's has none
    assert target.role_arn == "arn:aws:iam::222233334444:role/DrsOrchestratorTarget"
    assert target.max_session_seconds == 3600
    assert target.region_profile("us-west-2").drs.quotas.concurrent_jobs == 2
    assert home.role_arn is None
    assert home.region_profile("us-west-2").drs.quotas.concurrent_jobs == 20


def test_a_target_accounts_runbook_acts_in_that_account_and_region(local_cloud: Cloud) -> None:
    # GIVEN an ECS service "web" at 0 tasks in the target account's us-west-2, and one of the same name in ours
    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    theirs, ours = _client(cloud, "ecs", credentials), cloud.session.client("ecs", region_name=WEST)
    for ecs in (theirs, ours):
        ecs.create_cluster(clusterName="shop")
        ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "w:1", "memory": 64}])
        ecs.create_service(cluster="shop", serviceName="web", taskDefinition="web", desiredCount=0)
    # WHEN the scaling runbook is started in the target account with the assumed credentials
    ssm = _client(cloud, "ssm", credentials)
    execution_id = ssm.start_automation_execution(
        DocumentName="DRSOrch-ScaleEcsService",
        Parameters={"Cluster": ["shop"], "Service": ["web"], "DesiredCount": ["3"]},
    )["AutomationExecutionId"]

    def status() -> str:
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        return str(execution["AutomationExecutionStatus"])

    cloud.run_until(lambda: status() not in ("Pending", "InProgress", "Waiting"), timeout=60)
    # THEN it succeeded and scaled the target's service only
    assert status() == "Success"
    assert theirs.describe_services(cluster="shop", services=["web"])["services"][0]["desiredCount"] == 3
    assert ours.describe_services(cluster="shop", services=["web"])["services"][0]["desiredCount"] == 0
    # AND its status-change event reached our bus with the target's account and Region
    assert {(e.detail_type, e.account, e.region) for e in cloud.events if e.source == "aws.ssm"} == {
        ("EC2 Automation Execution Status-change Notification", TARGET, WEST)
    }


def test_refusing_the_role_of_an_account_the_profile_does_not_declare_is_an_error(tmp_path: Path) -> None:
    # GIVEN a refusal fault naming an account that is not a target (a typo) / WHEN the profile is loaded
    text = "accounts:\n  - {accountId: '222233334444', externalId: abc, regions: {us-west-2: null}}\n"
    with pytest.raises(ProfileError) as error:
        load_profile(_write(tmp_path, text + "faults: {assumeRoleRefused: ['222233334445']}\n"))
    # THEN it is named, and nothing is silently not refused
    assert "faults.assumeRoleRefused: 222233334445 is not an account of `accounts` with a role to refuse" in str(
        error.value
    )


def test_a_sigv4_signed_client_of_another_session_reaches_the_target_account_too(local_cloud: Cloud) -> None:
    # GIVEN assumed credentials, used by a client of a fresh boto3 session (signed with SigV4, not the cloud's signer)
    import boto3

    cloud = _start(local_cloud)
    credentials = _assume(cloud, ExternalId=EXTERNAL_ID)["Credentials"]
    drs = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=WEST,
    ).client("drs")
    # WHEN it lists the source servers THEN it sees the target account's, as the cloud's own clients do
    assert [s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"]] == [TARGET_SERVER]


def test_a_target_regions_own_documents_are_allowed_like_the_home_ones() -> None:
    # GIVEN a document only the target account's Region defines, and one only ours does
    profile = load_profile(
        None,
        accounts=[
            {
                "accountId": TARGET,
                "externalId": EXTERNAL_ID,
                "regions": {WEST: {"ssm": {"documents": {"west-smoke-test": None}}}},
            }
        ],
        **{"ssm.documents": {"erp-smoke-test": None}},
    )
    # WHEN the local cloud is built THEN the functions may run both, besides the deployed default
    assert LocalCloud(profile).allowed_documents() == ["DRSOrch-*", "erp-smoke-test", "west-smoke-test"]


def test_our_own_account_in_another_region_is_reached_without_a_role(local_cloud: Cloud) -> None:
    # GIVEN our own account listed for us-west-2 (a cross-Region recovery in one account), with a server there
    west_server = "s-3333333333333333a"
    cloud = local_cloud(
        accounts=[{"accountId": HOME, "roleName": None, "regions": {WEST: {"drs": {"servers": {west_server: None}}}}}]
    )
    # WHEN the functions' own credentials call DRS in us-west-2 and launch a drill there
    drs = cloud.session.client("drs", region_name=WEST)
    listed = [s["sourceServerID"] for s in drs.describe_source_servers(filters={})["items"]]
    drs.start_recovery(sourceServers=[{"sourceServerID": west_server}], isDrill=True)
    # THEN that Region's simulator served it, not us-east-1's
    assert listed == [west_server]
    assert cloud.drs_for(HOME, WEST).stats.launches[west_server] == 1
    assert sum(cloud.drs.stats.calls.values()) == 0
    # AND once the launch is done, its event reached our bus from us-west-2
    cloud.run_until(lambda: any(e.source == "aws.drs" for e in cloud.events), timeout=60)
    assert [(e.account, e.region) for e in cloud.events if e.source == "aws.drs"] == [(HOME, WEST)]
