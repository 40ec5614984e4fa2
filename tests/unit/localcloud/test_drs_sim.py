"""The DRS simulator, exercised only through real boto3 ``drs`` clients."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.drs_sim import (
    DrsQuotas,
    DrsServerSettings,
    DrsSimConfig,
    DrsSimulator,
    install_globally,
    uninstall_globally,
)

S1 = "s-1111111111111111a"
S2 = "s-2222222222222222b"
S3 = "s-3333333333333333c"
ALL = [S1, S2, S3]
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def tick(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def make_client() -> Any:
    # total_max_attempts=1: botocore's own retries must not hide the errors under test
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("drs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x", config=config)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


def build(clock: FakeClock, events: list[dict[str, Any]], **overrides: Any) -> tuple[DrsSimulator, Any]:
    config = DrsSimConfig(**{"launch_seconds_min": 60, "launch_seconds_max": 120, **overrides})
    sim = DrsSimulator(clock, config, on_event=events.append)
    sim.ensure_servers(ALL)
    return sim, sim.attach(make_client())


def start(client: Any, *ids: str, drill: bool = True, **kwargs: Any) -> dict[str, Any]:
    servers = [{"sourceServerID": sid} for sid in ids]
    return client.start_recovery(sourceServers=servers, isDrill=drill, **kwargs)["job"]


def describe_job(client: Any, job_id: str) -> dict[str, Any]:
    return client.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, dict[str, Any]]:
    response: dict[str, Any] = excinfo.value.response
    return response["Error"]["Code"], response


def run_to_completion(sim: DrsSimulator, clock: FakeClock) -> None:
    while (due := sim.next_due()) is not None:
        clock.moment = max(clock.moment, due)
        sim.advance()


# ---------------------------------------------------------------------- lifecycle


def test_job_goes_pending_started_completed_on_the_clock(clock, events):
    # GIVEN a simulator whose launches take 60 to 120 s
    _, client = build(clock, events)

    # WHEN a drill of two servers starts
    job = start(client, S1, S2, tags={"launch-key": "exec-1/wave-1"})

    # THEN the job is PENDING, tagged and well formed
    assert job["jobID"].startswith("drsjob-")
    assert len(job["jobID"]) == 24
    assert job["type"] == "LAUNCH"
    assert job["initiatedBy"] == "START_DRILL"
    assert job["status"] == "PENDING"
    assert job["arn"] == f"arn:aws:drs:us-east-1:123456789012:job/{job['jobID']}"
    assert job["tags"] == {"launch-key": "exec-1/wave-1"}
    assert {p["launchStatus"] for p in job["participatingServers"]} == {"PENDING"}
    assert "endDateTime" not in job

    # WHEN 2 s pass THEN it has STARTED and the servers are IN_PROGRESS
    clock.tick(2)
    started = describe_job(client, job["jobID"])
    assert started["status"] == "STARTED"
    assert {p["launchStatus"] for p in started["participatingServers"]} == {"IN_PROGRESS"}

    # WHEN the longest launch is over THEN it is COMPLETED with every server LAUNCHED
    clock.tick(120)
    done = describe_job(client, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["endDateTime"] > done["creationDateTime"]
    assert [p["launchStatus"] for p in done["participatingServers"]] == ["LAUNCHED", "LAUNCHED"]
    assert all(p["recoveryInstanceID"].startswith("i-") for p in done["participatingServers"])


def test_recovery_not_drill_is_initiated_by_start_recovery(clock, events):
    # GIVEN a simulator
    _, client = build(clock, events)

    # WHEN a recovery (not a drill) starts
    job = start(client, S1, drill=False)

    # THEN DRS reports it as START_RECOVERY
    assert job["initiatedBy"] == "START_RECOVERY"


def test_zero_launch_time_completes_on_next_call_at_same_instant(clock, events):
    # GIVEN launches configured as immediate
    sim, client = build(clock, events, launch_seconds_min=0, launch_seconds_max=0)

    # WHEN a job starts
    job = start(client, S1)

    # THEN it answers PENDING, and the next call at the same instant sees it COMPLETED
    assert job["status"] == "PENDING"
    assert describe_job(client, job["jobID"])["status"] == "COMPLETED"
    assert sim.next_due() is None


def test_failed_server_gets_no_instance_and_a_retry_can_succeed(clock, events):
    # GIVEN S2 configured to fail its launch
    sim, client = build(clock, events)
    sim.set_launch_outcome(S2, "FAILED")

    # WHEN both launch
    job = start(client, S1, S2)
    run_to_completion(sim, clock)

    # THEN the job completes with S1 LAUNCHED and S2 FAILED without a recovery instance
    done = describe_job(client, job["jobID"])
    assert done["status"] == "COMPLETED"
    by_server = {p["sourceServerID"]: p for p in done["participatingServers"]}
    assert by_server[S1]["launchStatus"] == "LAUNCHED"
    assert by_server[S2]["launchStatus"] == "FAILED"
    assert "recoveryInstanceID" not in by_server[S2]
    servers = {s["sourceServerID"]: s for s in client.describe_source_servers()["items"]}
    assert servers[S2]["lastLaunchResult"] == "FAILED"
    assert servers[S1]["lastLaunchResult"] == "SUCCEEDED"
    assert servers[S1]["recoveryInstanceId"] == by_server[S1]["recoveryInstanceID"]

    # WHEN S2 is healed and launched again
    sim.set_launch_outcome(S2, "LAUNCHED")
    retry = start(client, S2)
    run_to_completion(sim, clock)

    # THEN the retry launches it, and the stats count two launches of S2, one of S1
    assert describe_job(client, retry["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"
    assert sim.stats.launches == {S1: 1, S2: 2}


def test_server_not_replicating_fails_to_launch(clock, events):
    # GIVEN a server still in initial sync
    sim, client = build(clock, events)
    sim.set_replication(S3, state="INITIAL_SYNC", lag_seconds=600)

    # WHEN it launches
    job = start(client, S3)
    run_to_completion(sim, clock)

    # THEN it fails, and DescribeSourceServers shows its replication state and lag
    assert describe_job(client, job["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"
    server = client.describe_source_servers(filters={"sourceServerIDs": [S3]})["items"][0]
    assert server["dataReplicationInfo"]["dataReplicationState"] == "INITIAL_SYNC"
    assert server["dataReplicationInfo"]["lagDuration"] == "PT600S"


# ---------------------------------------------------------------------- recovery instances


def test_recovery_instances_and_their_filters(clock, events):
    # GIVEN two launched servers
    sim, client = build(clock, events)
    job = start(client, S1, S2)
    run_to_completion(sim, clock)

    # WHEN listing recovery instances, unfiltered and filtered
    everything = client.describe_recovery_instances()["items"]
    of_s1 = client.describe_recovery_instances(filters={"sourceServerIDs": [S1]})["items"]
    by_id = client.describe_recovery_instances(filters={"recoveryInstanceIDs": [of_s1[0]["recoveryInstanceID"]]})[
        "items"
    ]

    # THEN each instance is a running drill instance with a private IP, and filters narrow the list
    assert len(everything) == 2
    assert [i["sourceServerID"] for i in of_s1] == [S1]
    assert by_id == of_s1
    instance = of_s1[0]
    assert instance["ec2InstanceState"] == "RUNNING"
    assert instance["isDrill"] is True
    assert instance["jobID"] == job["jobID"]
    assert instance["ec2InstanceID"].startswith("i-")
    nic = instance["recoveryInstanceProperties"]["networkInterfaces"][0]
    assert nic["isPrimary"] is True
    assert nic["ips"][0].startswith("10.")


def test_terminate_recovery_instances_runs_a_terminate_job(clock, events):
    # GIVEN a launched drill instance
    sim, client = build(clock, events, terminate_seconds=30)
    launch = start(client, S1)
    run_to_completion(sim, clock)
    instance_id = client.describe_recovery_instances()["items"][0]["recoveryInstanceID"]

    # WHEN it is terminated
    job = client.terminate_recovery_instances(recoveryInstanceIDs=[instance_id])["job"]

    # THEN a TERMINATE job runs; meanwhile the instance shuts down
    assert job["type"] == "TERMINATE"
    assert job["initiatedBy"] == "TERMINATE_RECOVERY_INSTANCES"
    assert client.describe_recovery_instances()["items"][0]["ec2InstanceState"] == "SHUTTING-DOWN"

    # WHEN the job completes THEN the instance is gone and both jobs show the server TERMINATED
    clock.tick(30)
    done = describe_job(client, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert done["participatingServers"][0]["launchStatus"] == "TERMINATED"
    assert client.describe_recovery_instances()["items"] == []
    assert describe_job(client, launch["jobID"])["participatingServers"][0]["launchStatus"] == "TERMINATED"
    server = client.describe_source_servers(filters={"sourceServerIDs": [S1]})["items"][0]
    assert "recoveryInstanceId" not in server


def test_terminate_unknown_instance_is_a_validation_error(clock, events):
    # GIVEN a simulator without instances
    _, client = build(clock, events)

    # WHEN terminating an unknown instance THEN ValidationException
    with pytest.raises(ClientError) as excinfo:
        client.terminate_recovery_instances(recoveryInstanceIDs=["i-0123456789abcdef0"])
    assert error_of(excinfo)[0] == "ValidationException"


# ---------------------------------------------------------------------- errors


def test_unknown_server_and_unknown_snapshot_are_validation_errors(clock, events):
    # GIVEN a simulator knowing S1..S3
    _, client = build(clock, events)

    # WHEN starting an unknown server THEN ValidationException naming it
    with pytest.raises(ClientError) as excinfo:
        start(client, "s-99999999999999999")
    code, response = error_of(excinfo)
    assert code == "ValidationException"
    assert "s-99999999999999999" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400

    # WHEN starting from an unknown snapshot THEN ValidationException naming it
    with pytest.raises(ClientError) as excinfo:
        client.start_recovery(sourceServers=[{"sourceServerID": S1, "recoverySnapshotID": "pit-00000000000000000"}])
    code, response = error_of(excinfo)
    assert code == "ValidationException"
    assert "pit-00000000000000000" in response["Error"]["Message"]


def test_launch_from_a_chosen_snapshot(clock, events):
    # GIVEN S1's snapshots
    sim, client = build(clock, events)
    snaps = client.describe_recovery_snapshots(sourceServerID=S1, order="ASC")["items"]

    # WHEN launching from the oldest one
    client.start_recovery(sourceServers=[{"sourceServerID": S1, "recoverySnapshotID": snaps[0]["snapshotID"]}])
    run_to_completion(sim, clock)

    # THEN the instance's point in time is that snapshot's
    instance = client.describe_recovery_instances()["items"][0]
    assert instance["pointInTimeSnapshotDateTime"] == snaps[0]["timestamp"]


def test_server_already_in_an_active_job_is_a_conflict(clock, events):
    # GIVEN S1 in a running job
    _, client = build(clock, events)
    first = start(client, S1)

    # WHEN S1 is launched again THEN ConflictException (409) naming the server
    with pytest.raises(ClientError) as excinfo:
        start(client, S1, S2)
    code, response = error_of(excinfo)
    assert code == "ConflictException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["resourceId"] == S1
    assert first["jobID"] in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("quotas", "first_batch", "second_batch", "quota_code"),
    [
        (DrsQuotas(servers_per_job=2), [], [S1, S2, S3], "L-B827C881"),
        (DrsQuotas(concurrent_jobs=1), [S1], [S2], "L-D88FAC3A"),
        (DrsQuotas(servers_in_all_jobs=2), [S1, S2], [S3], "L-05AFA8C6"),
    ],
    ids=["servers-per-job", "concurrent-jobs", "servers-in-all-jobs"],
)
def test_quotas_answer_service_quota_exceeded(clock, events, quotas, first_batch, second_batch, quota_code):
    # GIVEN tight quotas and possibly a job already running
    sim, client = build(clock, events, quotas=quotas)
    if first_batch:
        start(client, *first_batch)

    # WHEN the next StartRecovery would exceed a quota
    with pytest.raises(ClientError) as excinfo:
        start(client, *second_batch)

    # THEN botocore parses ServiceQuotaExceededException (402) with the quota code
    code, response = error_of(excinfo)
    assert code == "ServiceQuotaExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["quotaCode"] == quota_code
    assert response["serviceCode"] == "drs"
    assert response["resourceType"]
    assert sim.stats.errors["ServiceQuotaExceededException"] == 1


def test_quota_frees_up_once_the_job_completes(clock, events):
    # GIVEN one concurrent job allowed and one running
    sim, client = build(clock, events, quotas=DrsQuotas(concurrent_jobs=1))
    start(client, S1)

    # WHEN the job completes THEN another can start, and the stats saw at most one at a time
    run_to_completion(sim, clock)
    start(client, S2)
    assert sim.stats.max_concurrent_jobs == 1
    assert sim.stats.max_servers_in_active_jobs == 1


def test_throttling_is_parsed_with_retry_after(clock, events):
    # GIVEN every call throttled
    sim, client = build(clock, events, throttle_rate=1.0, retry_after_seconds=3)

    # WHEN any call is made
    with pytest.raises(ClientError) as excinfo:
        client.describe_jobs()

    # THEN ThrottlingException (429) with retryAfterSeconds parsed by botocore
    code, response = error_of(excinfo)
    assert code == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["retryAfterSeconds"] == "3"
    assert sim.stats.errors["ThrottlingException"] == 1
    assert sim.stats.calls["DescribeJobs"] == 1


def test_throttle_rate_throttles_about_that_share_of_calls(clock, events):
    # GIVEN a 30 % throttle rate
    sim, client = build(clock, events, throttle_rate=0.3, seed=42)

    # WHEN 200 calls are made
    codes = []
    for _ in range(200):
        try:
            client.describe_source_servers()
        except ClientError as exc:
            codes.append(exc.response["Error"]["Code"])
    throttled = len(codes)

    # THEN roughly 30 % were throttled
    assert 40 <= throttled <= 80
    assert set(codes) == {"ThrottlingException"}
    assert sim.stats.errors["ThrottlingException"] == throttled


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalServerException", 500),
        ("UninitializedAccountException", 400),
        ("ValidationException", 400),
        ("ResourceNotFoundException", 404),
        ("ConflictException", 409),
    ],
)
def test_injected_errors_parse_with_their_status(clock, events, code, status):
    # GIVEN one injected error for StartRecovery
    sim, client = build(clock, events)
    sim.inject_error(code, operation="StartRecovery")

    # WHEN StartRecovery is called twice
    with pytest.raises(ClientError) as excinfo:
        start(client, S1)
    job = start(client, S1)

    # THEN the first call fails with that code and status, the second succeeds
    assert error_of(excinfo)[0] == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert job["status"] == "PENDING"


def test_uninitialized_account(clock, events):
    # GIVEN a region where DRS was never initialized
    _, client = build(clock, events, initialized=False)

    # WHEN any call is made THEN UninitializedAccountException
    with pytest.raises(ClientError) as excinfo:
        client.describe_source_servers()
    assert error_of(excinfo)[0] == "UninitializedAccountException"


def test_unimplemented_operation_is_a_clear_error(clock, events):
    # GIVEN a simulator
    _, client = build(clock, events)

    # WHEN an operation it does not simulate is called THEN a ValidationException says so
    # (native recovery plan executions: localcloud/drs_sim_plans.py keeps plans and steps only)
    with pytest.raises(ClientError) as excinfo:
        client.start_recovery_plan_execution(
            recoveryPlanArn="arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-00000000000000000", mode="DRILL"
        )
    code, response = error_of(excinfo)
    assert code == "ValidationException"
    assert response["Error"]["Message"] == "The DRS simulator does not implement StartRecoveryPlanExecution"


# ---------------------------------------------------------------------- pagination, tags, logs


def test_pagination_of_jobs_servers_and_snapshots(clock, events):
    # GIVEN three servers, three jobs, and snapshots
    _, client = build(clock, events)
    job_ids = [start(client, sid)["jobID"] for sid in ALL]

    # WHEN paginating with a page size of one
    pages = client.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 1})
    seen_jobs = [item["jobID"] for page in pages for item in page["items"]]
    first = client.describe_source_servers(maxResults=2)
    second = client.describe_source_servers(maxResults=2, nextToken=first["nextToken"])
    snaps = client.describe_recovery_snapshots(sourceServerID=S1, order="DESC", maxResults=2)

    # THEN every item is seen once, in order
    assert seen_jobs == job_ids
    assert [s["sourceServerID"] for s in first["items"] + second["items"]] == ALL
    assert "nextToken" not in second
    assert len(snaps["items"]) == 2
    assert snaps["items"][0]["timestamp"] > snaps["items"][1]["timestamp"]
    assert snaps["items"][0]["snapshotID"].startswith("pit-")
    assert len(snaps["items"][0]["snapshotID"]) == 21


def test_snapshot_and_job_date_filters(clock, events):
    # GIVEN snapshots 10 min apart ending now, and a job created now
    _, client = build(clock, events)
    job = start(client, S1)

    # WHEN filtering snapshots to the last 5 minutes and jobs by date
    recent = client.describe_recovery_snapshots(sourceServerID=S1, filters={"fromDateTime": "2025-03-01T11:55:00Z"})[
        "items"
    ]
    later = client.describe_jobs(filters={"fromDate": "2025-03-01T12:00:01Z"})["items"]
    now = client.describe_jobs(filters={"fromDate": "2025-03-01T11:00:00Z", "toDate": "2025-03-01T13:00:00Z"})

    # THEN only the latest snapshot and the matching jobs are returned
    assert len(recent) == 1
    assert later == []
    assert [j["jobID"] for j in now["items"]] == [job["jobID"]]


def test_tags_on_jobs_and_source_servers(clock, events):
    # GIVEN a job and a source server
    _, client = build(clock, events)
    job = start(client, S1, tags={"a": "1"})
    server_arn = client.describe_source_servers(filters={"sourceServerIDs": [S1]})["items"][0]["arn"]

    # WHEN tagging both and untagging one key
    client.tag_resource(resourceArn=job["arn"], tags={"b": "2"})
    client.tag_resource(resourceArn=server_arn, tags={"app": "web"})
    client.untag_resource(resourceArn=job["arn"], tagKeys=["a"])

    # THEN ListTagsForResource shows the result; an unknown ARN is ResourceNotFoundException
    assert client.list_tags_for_resource(resourceArn=job["arn"])["tags"] == {"b": "2"}
    assert client.list_tags_for_resource(resourceArn=server_arn)["tags"] == {"app": "web"}
    assert server_arn == f"arn:aws:drs:us-east-1:123456789012:source-server/{S1}"
    with pytest.raises(ClientError) as excinfo:
        client.list_tags_for_resource(resourceArn="arn:aws:drs:us-east-1:123456789012:job/drsjob-00000000000000000")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_job_log_items_follow_the_clock(clock, events):
    # GIVEN a job with a failing server
    sim, client = build(clock, events)
    sim.set_launch_outcome(S2, "FAILED")
    job = start(client, S1, S2)

    # WHEN reading the log at once THEN only JOB_START is there
    assert [i["event"] for i in client.describe_job_log_items(jobID=job["jobID"])["items"]] == ["JOB_START"]

    # WHEN the job is over
    run_to_completion(sim, clock)
    pages = client.get_paginator("describe_job_log_items").paginate(
        jobID=job["jobID"], PaginationConfig={"PageSize": 3}
    )
    items = [item for page in pages for item in page["items"]]

    # THEN the log tells the whole story, in time order, with the failure's raw error
    names = [i["event"] for i in items]
    assert names[0] == "JOB_START"
    assert names[-1] == "JOB_END"
    for event in ("SNAPSHOT_START", "SNAPSHOT_END", "CONVERSION_START", "CONVERSION_END", "LAUNCH_START"):
        assert names.count(event) == 2
    failed = [i for i in items if i["event"] == "LAUNCH_FAILED"]
    assert len(failed) == 1
    assert failed[0]["eventData"]["sourceServerID"] == S2
    assert failed[0]["eventData"]["rawError"]
    assert [i["logDateTime"] for i in items] == sorted(i["logDateTime"] for i in items)


# ---------------------------------------------------------------------- events and time


def test_launch_result_events_are_emitted(clock, events):
    # GIVEN S2 failing
    sim, client = build(clock, events)
    sim.set_launch_outcome(S2, "FAILED")

    # WHEN a recovery runs to completion
    job = start(client, S1, S2, drill=False)
    run_to_completion(sim, clock)

    # THEN one documented-shape Launch Result event per server
    assert len(events) == 2
    by_resource = {e["Resources"][0]: e for e in events}
    ok = by_resource[f"arn:aws:drs:us-east-1:123456789012:source-server/{S1}"]
    ko = by_resource[f"arn:aws:drs:us-east-1:123456789012:source-server/{S2}"]
    assert ok["Source"] == "aws.drs"
    assert ok["DetailType"] == "DRS Source Server Launch Result"
    assert json.loads(ok["Detail"]) == {
        "state": "RECOVERY_LAUNCH_SUCCEEDED",
        "job-id": job["jobID"],
        "is-drill": "FALSE",
    }
    assert json.loads(ko["Detail"])["state"] == "RECOVERY_LAUNCH_FAILED"
    assert sim.stats.events_emitted == 2


def test_launch_result_events_can_be_dropped(clock, events):
    # GIVEN events configured to be dropped
    sim, client = build(clock, events, launch_events="drop")

    # WHEN a job completes
    start(client, S1)
    run_to_completion(sim, clock)

    # THEN the callback was never called
    assert events == []
    assert sim.stats.events_dropped == 1


def test_next_due_and_advance_step_through_transitions(clock, events):
    # GIVEN a job with one server launching in exactly 60 s
    sim, client = build(clock, events, launch_seconds_min=60, launch_seconds_max=60)
    assert sim.next_due() is None
    start(client, S1)

    # WHEN stepping the clock from one due moment to the next
    moments = []
    while (due := sim.next_due()) is not None:
        moments.append(due)
        clock.moment = due
        sim.advance()

    # THEN there are two steps: job start (+2 s), then server done and job end together (+62 s)
    assert moments == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=62)]
    assert sim.stats.calls["DescribeJobs"] == 0
    assert len(events) == 1
    assert events[0]["Time"] == T0 + timedelta(seconds=62)


def test_advance_does_nothing_before_due(clock, events):
    # GIVEN a running job
    sim, client = build(clock, events)
    job = start(client, S1)

    # WHEN advancing without moving the clock
    sim.advance()

    # THEN nothing changed
    assert describe_job(client, job["jobID"])["status"] == "PENDING"
    assert sim.next_due() == T0 + timedelta(seconds=2)


def test_same_seed_same_story(clock, events):
    # GIVEN two simulators with the same seed
    runs = []
    for _ in range(2):
        local_clock = FakeClock()
        sim, client = build(local_clock, [], seed=7)
        job = start(client, S1, S2)
        run_to_completion(sim, local_clock)
        runs.append(describe_job(client, job["jobID"]))

    # THEN they produce the same ids and timings
    assert runs[0] == runs[1]


# ---------------------------------------------------------------------- wiring and config


def test_global_install_serves_new_clients_and_can_swap(clock):
    # GIVEN a simulator installed globally
    first = DrsSimulator(clock)
    first.ensure_servers([S1])
    install_globally(first)
    try:
        client = make_client()
        # WHEN another simulator replaces it
        assert len(client.describe_source_servers()["items"]) == 1
        second = DrsSimulator(clock)
        install_globally(second)
        # THEN existing clients talk to the current one
        assert client.describe_source_servers()["items"] == []
    finally:
        uninstall_globally()


def test_config_from_profile_maps_camel_case():
    # GIVEN a local cloud profile section
    section = {
        "seed": 3,
        "throttleRate": 0.1,
        "launchEvents": "drop",
        "launchSeconds": {"min": 5, "max": 10},
        "quotas": {"serversPerJob": 10, "concurrentJobs": 2, "serversInAllJobs": 30},
        "servers": {S1: {"launch": "FAILED", "replicationState": "STALLED", "lagSeconds": 90}},
    }

    # WHEN building the config
    config = DrsSimConfig.from_profile(section)

    # THEN every key lands on its field
    assert config.seed == 3
    assert config.throttle_rate == 0.1
    assert config.launch_events == "drop"
    assert (config.launch_seconds_min, config.launch_seconds_max) == (5, 10)
    assert config.quotas == DrsQuotas(servers_per_job=10, concurrent_jobs=2, servers_in_all_jobs=30)
    assert config.servers[S1] == DrsServerSettings(launch="FAILED", replication_state="STALLED", lag_seconds=90)


def test_profile_servers_shape_ensure_servers(clock, events):
    # GIVEN a profile making S1 fail and stall
    config = DrsSimConfig.from_profile(
        {
            "launchSeconds": {"min": 1, "max": 1},
            "servers": {S1: {"launch": "FAILED", "replicationState": "STALLED"}},
        }
    )
    sim = DrsSimulator(clock, config)
    sim.ensure_servers([S1])
    client = sim.attach(make_client())

    # WHEN S1 launches
    job = start(client, S1)
    run_to_completion(sim, clock)

    # THEN it is STALLED and its launch failed as configured
    server = client.describe_source_servers()["items"][0]
    assert server["dataReplicationInfo"]["dataReplicationState"] == "STALLED"
    assert describe_job(client, job["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"throttleRat": 0.1}, "drs.throttleRat"),
        ({"quotas": {"serverPerJob": 1}}, "drs.quotas.serverPerJob"),
        ({"servers": {S1: {"lag": 1}}}, f"drs.servers.{S1}.lag"),
        ({"launchSeconds": {"minimum": 1}}, "drs.launchSeconds.minimum"),
    ],
)
def test_unknown_profile_key_is_named(section, named):
    # WHEN a profile has a typo THEN the ValueError names the key
    with pytest.raises(ValueError, match=named.replace(".", r"\.")):
        DrsSimConfig.from_profile(section)


def test_bad_profile_values_are_rejected():
    # WHEN values are out of range THEN ValueError
    with pytest.raises(ValueError):
        DrsSimConfig.from_profile({"throttleRate": 2})
    with pytest.raises(ValueError):
        DrsSimConfig.from_profile({"launchSeconds": {"min": 10, "max": 1}})
    with pytest.raises(ValueError):
        DrsSimConfig.from_profile({"servers": {S1: {"launch": "MAYBE"}}})


def test_register_rejects_malformed_ids(clock):
    # WHEN registering an id DRS would never issue THEN ValueError
    with pytest.raises(ValueError, match="not a DRS id"):
        DrsSimulator(clock).register_source_server("s-web01")


def test_more_than_200_servers_per_call_is_a_validation_error(clock, events):
    # GIVEN a per-job quota raised above the API's 200-per-call limit
    sim, client = build(clock, events, quotas=DrsQuotas(servers_per_job=1000, servers_in_all_jobs=1000))
    ids = [f"s-{n:017d}" for n in range(201)]
    sim.ensure_servers(ids)

    # WHEN 201 servers are started in one call THEN ValidationException
    with pytest.raises(ClientError) as excinfo:
        start(client, *ids)
    assert error_of(excinfo)[0] == "ValidationException"


def test_concurrent_callers_from_threads(clock, events):
    # GIVEN one simulator shared by threads (as moto's Step Functions runs tasks)
    sim, _ = build(clock, events)
    ids = [f"s-{n:017d}" for n in range(20)]
    sim.ensure_servers(ids)

    def launch(sid: str) -> str:
        client = sim.attach(make_client())
        job_id: str = start(client, sid)["jobID"]
        client.describe_jobs(filters={"jobIDs": [job_id]})
        return job_id

    # WHEN 20 threads each launch a server
    with ThreadPoolExecutor(max_workers=8) as pool:
        job_ids = list(pool.map(launch, ids))

    # THEN every launch got its own job and was counted once
    assert len(set(job_ids)) == 20
    assert sim.stats.launches == dict.fromkeys(ids, 1)
    assert sim.stats.max_concurrent_jobs == 20


def test_global_install_coexists_with_moto(clock):
    # GIVEN moto's mock (which stubs every before-send) and the simulator installed globally
    from moto import mock_aws

    sim = DrsSimulator(clock)
    sim.ensure_servers([S1])
    install_globally(sim)
    try:
        with mock_aws():
            # WHEN a drs client is created inside the mock
            client = make_client()
            # THEN the simulator answers it, not moto
            assert [s["sourceServerID"] for s in client.describe_source_servers()["items"]] == [S1]
    finally:
        uninstall_globally()
