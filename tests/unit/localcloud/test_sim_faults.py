"""The faults a simulation profile can inject that the field meets: a server busy in a job started outside
the orchestrator, DRS quota used by such jobs, terminate jobs that fail, small Describe* pages, an SSM
agent that comes online late. Exercised through real boto3 clients whose every answer is also checked
against botocore's output shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from localcloud.drs_sim import DrsQuotas, DrsSimConfig, DrsSimulator
from localcloud.drs_sim_config import OutsideJob
from localcloud.ssm_sim import SsmSimulator
from localcloud.ssm_sim_config import SsmSimConfig

S1 = "s-1111111111111111a"
S2 = "s-2222222222222222b"
S3 = "s-3333333333333333c"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class FakeClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment

    def tick(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def _check_output_shape(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """Every answer must be a valid instance of the operation's output shape (required members, types)."""
    if model.output_shape is None or "Error" in parsed:
        return
    body = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    report = ParamValidator().validate(body, model.output_shape)
    # SSM itself answers "" for unset strings whose model minimum is 1 or 3 (OutputS3BucketName, ...)
    problems = [
        (reason, name, details)
        for reason, name, details in report._errors
        if not (reason == "invalid length" and details.get("param") == 0)
    ]
    assert not problems, problems


def client_for(service: str, sim: Any) -> Any:
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=NO_RETRIES
    )
    client.meta.events.register(f"after-call.{service}", _check_output_shape)
    return sim.attach(client)


def drs(clock: FakeClock, *servers: str, **config: Any) -> tuple[DrsSimulator, Any]:
    sim = DrsSimulator(clock, DrsSimConfig(**{"launch_seconds_min": 60, "launch_seconds_max": 60, **config}))
    sim.ensure_servers(servers or (S1, S2, S3))
    return sim, client_for("drs", sim)


def start(client: Any, *ids: str) -> dict[str, Any]:
    return client.start_recovery(sourceServers=[{"sourceServerID": sid} for sid in ids], isDrill=True)["job"]


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    return response


def run_to_completion(sim: DrsSimulator, clock: FakeClock) -> None:
    while (due := sim.next_due()) is not None:
        clock.moment = max(clock.moment, due)
        sim.advance()


# ---------------------------------------------------------------------- a server busy in an outside job


def test_a_server_in_an_outside_job_is_a_conflict_until_that_job_ends() -> None:
    # GIVEN S1 in a 15-minute drill someone started from the console
    clock = FakeClock()
    sim, client = drs(clock, outside_jobs=(OutsideJob(servers=(S1,), duration_seconds=900),))

    # WHEN the orchestrator launches S1 and S2
    with pytest.raises(ClientError) as refused:
        start(client, S1, S2)

    # THEN DRS answers ConflictException naming S1 and the outside job, which DescribeJobs lists, untagged
    outside = client.describe_jobs()["items"]
    assert [(job["initiatedBy"], job["tags"], job["status"]) for job in outside] == [("START_DRILL", {}, "PENDING")]
    assert [p["sourceServerID"] for p in outside[0]["participatingServers"]] == [S1]
    response = error(refused)
    assert response["Error"]["Code"] == "ConflictException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Message"] == (
        f"Source server {S1} is already participating in active job {outside[0]['jobID']}"
    )
    assert (response["resourceId"], response["resourceType"]) == (S1, "SOURCE_SERVER")
    assert sim.stats.outside_jobs == 1
    assert sim.stats.launches == {}  # nothing of the orchestrator's launched

    # WHEN the outside job has ended THEN S1 launches
    clock.tick(900)
    assert client.describe_jobs(filters={"jobIDs": [outside[0]["jobID"]]})["items"][0]["status"] == "COMPLETED"
    assert start(client, S1, S2)["status"] == "PENDING"


def test_an_outside_job_starts_at_its_moment_and_leaves_out_a_server_already_busy() -> None:
    # GIVEN an outside job of S1 and S2 due 120 s after the simulator's first call, and 5-minute launches
    clock = FakeClock()
    sim, client = drs(
        clock,
        outside_jobs=(OutsideJob(servers=(S1, S2), at_seconds=120, duration_seconds=300),),
        launch_seconds_min=300,
        launch_seconds_max=300,
    )

    # WHEN the orchestrator launches S2 first (the outside job does not exist yet), then 120 s pass
    ours = start(client, S2)
    clock.tick(120)
    jobs = client.describe_jobs()["items"]

    # THEN the outside job holds only S1 (S2 was in our job), and it ends 300 s after it started
    assert [job["jobID"] for job in jobs[:1]] == [ours["jobID"]]
    outside = jobs[1]
    assert [p["sourceServerID"] for p in outside["participatingServers"]] == [S1]
    assert outside["creationDateTime"] == "2025-03-01T12:02:00.000Z"  # T0 + 120 s
    clock.tick(299)
    assert client.describe_jobs(filters={"jobIDs": [outside["jobID"]]})["items"][0]["status"] == "STARTED"
    clock.tick(1)
    done = client.describe_jobs(filters={"jobIDs": [outside["jobID"]]})["items"][0]
    assert (done["status"], done["endDateTime"]) == ("COMPLETED", "2025-03-01T12:07:00.000Z")  # + 300 s
    assert sim.stats.launches == {S2: 1}


# ---------------------------------------------------------------------- quota used outside the orchestrator


@pytest.mark.parametrize(
    ("quotas", "outside", "launch", "quota_code"),
    [
        # two outside jobs of one other server each: no third job fits under 2 concurrent jobs
        (DrsQuotas(concurrent_jobs=2), OutsideJob(jobs=2, other_servers=1), [S1], "L-D88FAC3A"),
        # one outside job of 9 other servers: 2 more do not fit under 10 servers in all jobs
        (DrsQuotas(servers_in_all_jobs=10), OutsideJob(other_servers=9), [S1, S2], "L-05AFA8C6"),
    ],
)
def test_outside_jobs_use_the_quotas(
    quotas: DrsQuotas, outside: OutsideJob, launch: list[str], quota_code: str
) -> None:
    # GIVEN quota used by jobs outside the orchestrator for 600 s
    clock = FakeClock()
    sim, client = drs(clock, quotas=quotas, outside_jobs=(outside,))

    # WHEN the orchestrator launches
    with pytest.raises(ClientError) as refused:
        start(client, *launch)

    # THEN DRS answers ServiceQuotaExceededException with the quota's code; the outside servers are the
    # account's, not the plan's
    response = error(refused)
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert (response["quotaCode"], response["serviceCode"]) == (quota_code, "drs")
    other = {s["sourceServerID"] for s in client.describe_source_servers()["items"]} - {S1, S2, S3}
    assert len(other) == outside.jobs * outside.other_servers
    assert sim.stats.outside_jobs == outside.jobs

    # WHEN the outside jobs have ended THEN the launch fits
    clock.tick(600)
    assert start(client, *launch)["status"] == "PENDING"


# ---------------------------------------------------------------------- terminate jobs that fail


def _launched_instances(sim: DrsSimulator, clock: FakeClock, client: Any, *ids: str) -> list[str]:
    start(client, *ids)
    run_to_completion(sim, clock)
    return [i["recoveryInstanceID"] for i in client.describe_recovery_instances()["items"]]


def test_a_terminate_job_fails_for_a_server_configured_so_and_its_instance_keeps_running() -> None:
    # GIVEN two recovery instances, S1's configured to fail its termination
    clock = FakeClock()
    sim, client = drs(clock, S1, S2)
    sim.set_terminate_outcome(S1, "FAILED")
    first, second = _launched_instances(sim, clock, client, S1, S2)

    # WHEN both are terminated and the terminate job ends
    job = client.terminate_recovery_instances(recoveryInstanceIDs=[first, second])["job"]
    run_to_completion(sim, clock)

    # THEN the job is COMPLETED with S1 FAILED and S2 TERMINATED; S1's instance still runs, S2's is gone
    done = client.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert (done["type"], done["status"]) == ("TERMINATE", "COMPLETED")
    assert {p["sourceServerID"]: p["launchStatus"] for p in done["participatingServers"]} == {
        S1: "FAILED",
        S2: "TERMINATED",
    }
    left = client.describe_recovery_instances()["items"]
    assert [(i["recoveryInstanceID"], i["ec2InstanceState"]) for i in left] == [(first, "RUNNING")]
    logs = client.describe_job_log_items(jobID=job["jobID"])["items"]
    assert [item["event"] for item in logs] == ["JOB_START", "CLEANUP_FAIL", "JOB_END"]
    assert logs[1]["eventData"] == {
        "sourceServerID": S1,
        "rawError": f"Failed to terminate recovery instance {first}: simulated failure configured for source "
        f"server {S1}",
    }
    assert sim.stats.terminations_failed == 1

    # WHEN it is terminated again, no longer configured to fail THEN it goes
    sim.set_terminate_outcome(S1, "TERMINATED")
    client.terminate_recovery_instances(recoveryInstanceIDs=[first])
    run_to_completion(sim, clock)
    assert client.describe_recovery_instances()["items"] == []


def test_a_terminate_job_configured_to_fail_once_fails_and_the_next_one_terminates() -> None:
    # GIVEN a recovery instance whose server is configured to fail its termination once
    clock = FakeClock()
    sim, client = drs(clock, S1)
    sim.set_terminate_outcome(S1, "FAILED_ONCE")
    [instance] = _launched_instances(sim, clock, client, S1)
    # WHEN it is terminated, and again after that job has ended
    first = client.terminate_recovery_instances(recoveryInstanceIDs=[instance])["job"]
    run_to_completion(sim, clock)
    kept = [i["recoveryInstanceID"] for i in client.describe_recovery_instances()["items"]]
    second = client.terminate_recovery_instances(recoveryInstanceIDs=[instance])["job"]
    run_to_completion(sim, clock)
    # THEN the first job left it running, the second terminated it
    outcomes = [
        client.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]["participatingServers"][0]["launchStatus"]
        for job in (first, second)
    ]
    assert (outcomes, kept, sim.stats.terminations_failed) == (["FAILED", "TERMINATED"], [instance], 1)
    assert client.describe_recovery_instances()["items"] == []


def test_terminate_failure_rate_fails_that_share_of_terminations() -> None:
    # GIVEN 20 recovery instances, every termination failing, and then half of them
    clock = FakeClock()
    servers = [f"s-{n:017d}" for n in range(20)]
    sim, client = drs(clock, *servers, terminate_failure_rate=1.0)
    instances = _launched_instances(sim, clock, client, *servers)

    # WHEN all are terminated
    job = client.terminate_recovery_instances(recoveryInstanceIDs=instances)["job"]
    run_to_completion(sim, clock)

    # THEN every one failed and still runs
    done = client.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert {p["launchStatus"] for p in done["participatingServers"]} == {"FAILED"}
    assert len(client.describe_recovery_instances()["items"]) == 20

    # WHEN half fail
    sim.config = sim.config.model_copy(update={"terminate_failure_rate": 0.5})
    client.terminate_recovery_instances(recoveryInstanceIDs=instances)
    run_to_completion(sim, clock)

    # THEN some went and some stayed
    assert 0 < len(client.describe_recovery_instances()["items"]) < 20
    assert sim.stats.terminations_failed == 20 + len(client.describe_recovery_instances()["items"])


# ---------------------------------------------------------------------- small pages


def test_page_size_caps_every_describe_page_and_tokens_lead_through_all_items() -> None:
    # GIVEN pages of at most 2 items, 5 servers with 3 snapshots each, 5 jobs, 5 instances
    clock = FakeClock()
    servers = [f"s-{n:017d}" for n in range(5)]
    sim, client = drs(clock, *servers, page_size=2)
    job_ids = [start(client, sid)["jobID"] for sid in servers]
    run_to_completion(sim, clock)

    # WHEN each Describe* is called without maxResults, with a larger one, and with a smaller one
    first = client.describe_jobs()
    larger = client.describe_jobs(maxResults=50)
    smaller = client.describe_jobs(maxResults=1)

    # THEN a page never holds more than 2 items (nor more than maxResults), and carries the next token
    assert [len(page["items"]) for page in (first, larger, smaller)] == [2, 2, 1]
    assert all("nextToken" in page for page in (first, larger, smaller))

    # AND following the tokens yields every item once, in order, for every paged operation
    def every(operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        pages = list(client.get_paginator(operation).paginate(**kwargs))
        assert all(len(page["items"]) <= 2 for page in pages)
        return [item for page in pages for item in page["items"]]

    assert [job["jobID"] for job in every("describe_jobs")] == job_ids
    assert [s["sourceServerID"] for s in every("describe_source_servers")] == servers
    assert len(every("describe_recovery_instances")) == 5
    assert len(every("describe_recovery_snapshots", sourceServerID=servers[0])) == 3
    assert [i["event"] for i in every("describe_job_log_items", jobID=job_ids[0])] == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]
    assert sim.stats.continued_pages["DescribeJobs"] >= 3


def test_a_page_token_survives_an_item_disappearing_and_is_bound_to_its_operation() -> None:
    # GIVEN 4 recovery instances read 2 at a time
    clock = FakeClock()
    servers = [f"s-{n:017d}" for n in range(4)]
    sim, client = drs(clock, *servers, page_size=2, terminate_seconds=0, start_delay_seconds=0)
    for sid in servers:
        start(client, sid)
    run_to_completion(sim, clock)
    first = client.describe_recovery_instances()

    # WHEN the first page's second instance is terminated before the next page is read
    client.terminate_recovery_instances(recoveryInstanceIDs=[first["items"][1]["recoveryInstanceID"]])
    run_to_completion(sim, clock)
    second = client.describe_recovery_instances(nextToken=first["nextToken"])

    # THEN the next page goes on after it: no instance is skipped
    assert [i["sourceServerID"] for i in first["items"] + second["items"]] == servers
    assert "nextToken" not in second

    # WHEN a token goes to another operation, or was never issued THEN ValidationException
    for call in (
        lambda: client.describe_jobs(nextToken=first["nextToken"]),
        lambda: client.describe_recovery_instances(nextToken="not-a-token"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error(refused)["Error"]["Code"] == "ValidationException"
        assert error(refused)["fieldList"][0]["name"] == "nextToken"


# ---------------------------------------------------------------------- an SSM agent online late


def test_a_recovery_instance_is_a_managed_node_only_once_its_agent_is_online() -> None:
    # GIVEN a recovery instance launched at T0 whose agent comes online 120 s later
    clock = FakeClock()
    instance = "i-0123456789abcdef0"

    def resolver(instance_id: str) -> dict[str, Any] | None:
        if instance_id != instance:
            return None
        return {"ping_status": "Online", "platform": "Linux", "tags": {}, "launched_at": T0}

    sim = SsmSimulator(
        clock,
        SsmSimConfig(agent_online_after_seconds=120, invocation_visible_after_seconds=0, default_duration_seconds=5),
        instance_resolver=resolver,
    )
    client = client_for("ssm", sim)

    def send() -> dict[str, Any]:
        command: dict[str, Any] = client.send_command(
            DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}, InstanceIds=[instance]
        )["Command"]
        return command

    def known() -> list[str]:
        found = client.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])
        return [i["InstanceId"] for i in found["InstanceInformationList"]]

    # WHEN a command is sent 119 s after the launch
    clock.tick(119)
    with pytest.raises(ClientError) as refused:
        send()

    # THEN SSM does not know the instance yet: InvalidInstanceId, and no managed node
    assert error(refused)["Error"]["Code"] == "InvalidInstanceId"
    assert known() == []

    # WHEN it is sent once the agent is online THEN it runs and succeeds
    clock.tick(1)
    command = send()
    assert known() == [instance]
    info = client.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])
    assert info["InstanceInformationList"][0]["RegistrationDate"] == T0 + timedelta(seconds=120)
    clock.tick(5)
    sim.advance()
    invocation = client.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance)
    assert invocation["Status"] == "Success"


def test_agent_delay_does_not_apply_to_instances_without_a_launch_time() -> None:
    # GIVEN a late agent setting and a managed node of the old site (no launch time)
    clock = FakeClock()
    sim = SsmSimulator(
        clock, SsmSimConfig.from_profile({"agentOnlineAfterSeconds": 600, "instances": {"i-0a1b2c3d4e5f60718": {}}})
    )
    client = client_for("ssm", sim)

    # WHEN a command targets it at once THEN SSM accepts it
    command = client.send_command(
        DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]}, InstanceIds=["i-0a1b2c3d4e5f60718"]
    )["Command"]
    assert command["TargetCount"] == 1
