"""The ledger's server items: one item per server of a wave, so the wave item stays small whatever the
wave's size (issue 11, fault 2b), against moto's DynamoDB (the adapter tier)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from localcloud import moto_speedups
from orchestrator.adapters.ledger import BATCH_TRIES, Ledger, LedgerError, Outcome, exec_pk
from orchestrator.adapters.ledger.scripts import invocation_map
from orchestrator.domain.plan import Criticality, ScriptOnFailure
from orchestrator.domain.records.scripts import InvocationResult, ScriptId, ScriptRun, ScriptSpec, ScriptStatus
from orchestrator.domain.records.servers import ServerAttempt, ServerLaunchStatus, ServerOutcome, ServerResult
from tests.unit.moto_ledger import ledger_table, write_wave_attributes

EXECUTION = "exec-1"
NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class _Frozen:
    def now(self) -> datetime:
        return NOW


def sid(n: int) -> str:
    return f"s-{n:017d}"


@pytest.fixture
def table() -> Iterator[Any]:
    # moto with the local cloud's speedups (tests/unit/localcloud/test_moto_speedups.py checks they answer
    # as moto does): moto as released takes minutes to serialize the answers of a 5,000-server wave
    was_installed = moto_speedups.installed()
    moto_speedups.install()
    with mock_aws():
        yield ledger_table()
    if not was_installed:
        moto_speedups.uninstall()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def ledger(table: Any, sleeps: list[float]) -> Ledger:
    return Ledger(table, _Frozen(), finished_ttl_days=1, sleep=sleeps.append)


def _create(ledger: Ledger, servers: dict[str, str]) -> None:
    """One wave `w` with `servers` ({id: criticality})."""
    outcome = ledger.create_execution(
        execution_id=EXECUTION,
        plan_id="p",
        plan_name="p",
        plan_document={"planId": "p"},
        mode="DRILL",
        requested_by="test",
        key="start",
        waves=[
            {
                "waveId": "w",
                "dependsOn": [],
                "dependents": [],
                "onFailure": "STOP",
                "servers": {s: {"criticality": c, "launchStatus": "NOT_STARTED"} for s, c in servers.items()},
            }
        ],
    )
    assert outcome is Outcome.WON


def _start_job(ledger: Ledger, job_id: str, servers: list[str], *, attempt: int = 1, chunk: int = 0) -> None:
    key = f"lk-{job_id}"
    assert ledger.claim_launch(EXECUTION, "w", attempt, chunk, launch_key=key, server_ids=servers) is None
    ledger.add_job(EXECUTION, "w", job_id=job_id, launch_key=key, server_ids=servers)


def _launched(servers: list[str], *, status: str = "LAUNCHED") -> dict[str, ServerOutcome]:
    return {
        s: ServerOutcome(
            launch_status=ServerLaunchStatus(status),
            recovery_instance_id=f"i-{s[-8:]}" if status == "LAUNCHED" else None,
            reason="insufficient capacity" if status == "FAILED" else None,
        )
        for s in servers
    }


def _server(server: str, criticality: str, status: str, *, attempt: int = 1, **known: Any) -> ServerResult:
    """A server of wave `w` as `wave_servers` gives it (`known`: job_id, recovery_instance_id, reason)."""
    return ServerResult(
        execution_id=EXECUTION,
        wave_id="w",
        source_server_id=server,
        criticality=Criticality(criticality),
        launch_status=ServerLaunchStatus(status),
        attempt=attempt,
        **known,
    )


def _ended(attempt: ServerAttempt) -> dict[str, Any]:
    """How a server ended an earlier attempt, as the report shows it (the fields known)."""
    known = {"recoveryInstanceId": attempt.recovery_instance_id, "jobId": attempt.job_id, "reason": attempt.reason}
    return {"launchStatus": attempt.launch_status.value, **{k: v for k, v in known.items() if v}}


def test_a_wave_of_2000_servers_keeps_a_small_wave_item(ledger: Ledger) -> None:
    # GIVEN a wave of 2,000 servers (the issue's: its item outgrew DynamoDB's 400 KB) launched in 20 jobs of 100
    servers = [sid(n) for n in range(2000)]
    _create(ledger, dict.fromkeys(servers, "CRITICAL"))
    chunks = [servers[start : start + 100] for start in range(0, 2000, 100)]
    for index, chunk in enumerate(chunks):
        _start_job(ledger, f"drsjob-{index:017d}", chunk, chunk=index)

    # WHEN every job ends (the last one with two failed servers)
    for index, chunk in enumerate(chunks):
        results = _launched(chunk)
        if index == len(chunks) - 1:
            results.update(_launched(chunk[:2], status="FAILED"))
        outcome, _ = ledger.record_job_done(
            EXECUTION, "w", job_id=f"drsjob-{index:017d}", servers=results, key=f"done-{index}"
        )
        assert outcome is Outcome.WON

    # THEN the wave item holds counts and 20 job entries only (about 5 KB, far under DynamoDB's 400 KB),
    # and every server's result is in its own item
    wave = ledger.get_wave(EXECUTION, "w") or {}
    assert "servers" not in wave
    assert (wave["serverCount"], wave["serversLaunched"], wave["serversFailed"], wave["jobsDone"]) == (
        2000,
        1998,
        2,
        20,
    )
    assert len(json.dumps(wave)) < 6_000
    found = ledger.wave_servers(EXECUTION, "w")
    assert list(found) == servers
    assert found[sid(1900)] == _server(
        sid(1900), "CRITICAL", "FAILED", job_id=f"drsjob-{19:017d}", reason="insufficient capacity"
    )
    assert found[sid(7)] == _server(
        sid(7), "CRITICAL", "LAUNCHED", job_id=f"drsjob-{0:017d}", recovery_instance_id="i-00000007"
    )


def test_a_redelivered_job_end_counts_once_and_a_different_one_changes_nothing(ledger: Ledger) -> None:
    # GIVEN a job of two servers whose end is recorded
    _create(ledger, {sid(1): "CRITICAL", sid(2): "OPTIONAL"})
    _start_job(ledger, "drsjob-00000000000000001", [sid(1), sid(2)])
    first = ledger.record_job_done(
        EXECUTION, "w", job_id="drsjob-00000000000000001", servers=_launched([sid(1), sid(2)]), key="done"
    )
    assert first[0] is Outcome.WON

    # WHEN the same event is delivered again, and then another event claims the job failed
    again = ledger.record_job_done(
        EXECUTION, "w", job_id="drsjob-00000000000000001", servers=_launched([sid(1), sid(2)]), key="done"
    )
    other = ledger.record_job_done(
        EXECUTION,
        "w",
        job_id="drsjob-00000000000000001",
        servers=_launched([sid(1), sid(2)], status="FAILED"),
        key="forged",
    )

    # THEN the redelivery is a REPLAY and the other REJECTED; the servers and counts are the first event's
    assert (again[0], other[0]) == (Outcome.REPLAY, Outcome.REJECTED)
    wave = ledger.get_wave(EXECUTION, "w") or {}
    assert (wave["jobsDone"], wave["serversLaunched"], wave["serversFailed"]) == (1, 2, 0)
    assert {s: v.launch_status for s, v in ledger.wave_servers(EXECUTION, "w").items()} == {
        sid(1): "LAUNCHED",
        sid(2): "LAUNCHED",
    }


def test_a_job_naming_a_server_of_another_wave_writes_nothing(ledger: Ledger) -> None:
    # GIVEN a job of the wave
    _create(ledger, {sid(1): "CRITICAL"})
    _start_job(ledger, "drsjob-00000000000000001", [sid(1)])

    # WHEN its end names a server the wave does not have
    with pytest.raises(LedgerError, match=f"1 server\\(s\\) not in wave w: {sid(9)}"):
        ledger.record_job_done(
            EXECUTION, "w", job_id="drsjob-00000000000000001", servers=_launched([sid(1), sid(9)]), key="done"
        )

    # THEN no server item is written or created, and the job is still open
    assert ledger.wave_servers(EXECUTION, "w") == {sid(1): _server(sid(1), "CRITICAL", "NOT_STARTED")}
    assert (ledger.get_wave(EXECUTION, "w") or {})["jobs"]["drsjob-00000000000000001"]["status"] == "STARTED"


def test_a_retry_resets_the_relaunched_servers_and_a_late_end_of_the_old_job_changes_nothing(ledger: Ledger) -> None:
    # GIVEN attempt 1: s1 failed, s2 launched
    _create(ledger, {sid(1): "CRITICAL", sid(2): "CRITICAL"})
    _start_job(ledger, "drsjob-00000000000000001", [sid(1), sid(2)])
    results = {**_launched([sid(2)]), **_launched([sid(1)], status="FAILED")}
    ledger.record_job_done(EXECUTION, "w", job_id="drsjob-00000000000000001", servers=results, key="done-1")

    # WHEN attempt 2 relaunches s1 (twice: a redelivered RetryWave), and the old job's end comes again late
    write_wave_attributes(ledger, EXECUTION, "w", {"attempt": 2})
    ledger.reset_servers(EXECUTION, "w", [sid(1)], attempt=2)
    ledger.reset_servers(EXECUTION, "w", [sid(1)], attempt=2)
    late = ledger.record_job_done(
        EXECUTION,
        "w",
        job_id="drsjob-00000000000000001",
        servers=_launched([sid(1), sid(2)], status="FAILED"),
        key="late",
    )

    # THEN s1 is NOT_STARTED without the old attempt's job and reason, s2 is untouched, and the late event
    # is REJECTED
    assert late[0] is Outcome.REJECTED
    servers = ledger.wave_servers(EXECUTION, "w")
    assert servers == {
        sid(1): _server(sid(1), "CRITICAL", "NOT_STARTED", attempt=2, history=servers[sid(1)].history),
        sid(2): _server(
            sid(2), "CRITICAL", "LAUNCHED", job_id="drsjob-00000000000000001", recovery_instance_id="i-00000002"
        ),
    }
    assert servers[sid(1)].history == (
        ServerAttempt(
            attempt=1,
            launch_status=ServerLaunchStatus.FAILED,
            job_id="drsjob-00000000000000001",
            reason="insufficient capacity",
        ),
    )


def test_the_detail_of_a_retried_wave_tells_how_each_server_ended_each_attempt(ledger: Ledger) -> None:
    # GIVEN attempt 1 (s1 failed, s2 launched), attempt 2 relaunching s1 (launched), attempt 3 relaunching both
    _create(ledger, {sid(1): "CRITICAL", sid(2): "OPTIONAL"})
    _start_job(ledger, "drsjob-00000000000000001", [sid(1), sid(2)])
    ledger.record_job_done(
        EXECUTION,
        "w",
        job_id="drsjob-00000000000000001",
        servers={**_launched([sid(2)]), **_launched([sid(1)], status="FAILED")},
        key="d1",
    )
    write_wave_attributes(
        ledger, EXECUTION, "w", {"attempt": 2, "previousAttempts": [{"attempt": 1, "status": "FAILED"}]}
    )
    ledger.reset_servers(EXECUTION, "w", [sid(1)], attempt=2)
    _start_job(ledger, "drsjob-00000000000000002", [sid(1)], attempt=2)
    ledger.record_job_done(EXECUTION, "w", job_id="drsjob-00000000000000002", servers=_launched([sid(1)]), key="d2")
    write_wave_attributes(
        ledger,
        EXECUTION,
        "w",
        {"attempt": 3, "previousAttempts": [{"attempt": 1, "status": "FAILED"}, {"attempt": 2, "status": "FAILED"}]},
    )

    # WHEN attempt 3 resets both servers and the wave's detail is read
    ledger.reset_servers(EXECUTION, "w", [sid(1), sid(2)], attempt=3)
    detail = ledger.wave_detail(EXECUTION, ledger.wave(EXECUTION, "w") or pytest.fail("no wave"))

    # THEN each earlier attempt lists how each server had ended it; the jobs list their launch claims' servers
    job1, job2 = "drsjob-00000000000000001", "drsjob-00000000000000002"
    assert [
        [{"sourceServerId": s, **_ended(ended)} for s, ended in detail.attempt_servers[a.attempt].items()]
        for a in detail.wave.previous_attempts
    ] == [
        [
            {"sourceServerId": sid(1), "launchStatus": "FAILED", "jobId": job1, "reason": "insufficient capacity"},
            {"sourceServerId": sid(2), "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-00000002", "jobId": job1},
        ],
        [
            {"sourceServerId": sid(1), "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-00000001", "jobId": job2},
            {"sourceServerId": sid(2), "launchStatus": "LAUNCHED", "recoveryInstanceId": "i-00000002", "jobId": job1},
        ],
    ]
    assert {s: v.launch_status for s, v in detail.servers.items()} == {
        sid(1): "NOT_STARTED",
        sid(2): "NOT_STARTED",
    }
    assert {j: list(servers) for j, servers in detail.job_servers.items()} == {job1: [sid(1), sid(2)], job2: [sid(1)]}


def test_server_items_expire_with_the_execution_and_stop_expiring_when_it_is_reopened(
    ledger: Ledger, table: Any
) -> None:
    # GIVEN an execution of 60 servers (more than one batch) and a script that ran on two instances, that ends
    _create(ledger, {sid(n): "CRITICAL" for n in range(60)})
    _finish(
        ledger,
        _running_script(ledger),
        [InvocationResult(instance_id=f"i-{n:017x}", status="Success") for n in (1, 2)],
        key="end",
    )
    ledger.set_execution_status(EXECUTION, from_=["RUNNING"], to="FAILED", key="close")

    # WHEN it is read, reopened by an operator, and read again
    def expiring() -> dict[str, Any]:
        items = table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": exec_pk(EXECUTION)})[
            "Items"
        ]
        return {str(i["sk"]): i.get("expiresAt") for i in items if i["sk"] != "#EXECUTION"}

    ended = expiring()
    ledger.reopen_execution(EXECUTION, from_=["FAILED"], key="retry")
    reopened = expiring()

    # THEN every item of it expired a day after the end, servers and script results included; reopened,
    # none expires
    expires = int(NOW.timestamp()) + 86_400
    assert len(ended) == 65  # plan, wave, 60 servers, the script and its two instance results
    assert set(ended.values()) == {expires}
    assert set(reopened.values()) == {None}
    assert ledger.wave_servers(EXECUTION, "w")[sid(59)] == _server(sid(59), "CRITICAL", "NOT_STARTED")


class _Unprocessing:
    """A DynamoDB client whose first `gets` BatchGetItem and `writes` BatchWriteItem calls process nothing and
    answer every key or item unprocessed (as DynamoDB does when throttled)."""

    def __init__(self, client: Any, *, gets: int, writes: int) -> None:
        self._client, self.gets, self.writes = client, gets, writes
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.calls.append("BatchWriteItem")
        if self.writes > 0:
            self.writes -= 1
            return {"UnprocessedItems": RequestItems}
        return dict(self._client.batch_write_item(RequestItems=RequestItems))

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        self.calls.append("BatchGetItem")
        if self.gets > 0:
            self.gets -= 1
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return dict(self._client.batch_get_item(RequestItems=RequestItems))


def test_unprocessed_batch_items_are_sent_again_after_a_growing_backoff(ledger: Ledger, sleeps: list[float]) -> None:
    # GIVEN DynamoDB leaving a batch read unprocessed twice and a batch write three times in a row
    _create(ledger, {sid(n): "CRITICAL" for n in range(4)})
    _start_job(ledger, "drsjob-00000000000000001", [sid(n) for n in range(4)])
    client = _Unprocessing(ledger._client, gets=2, writes=3)
    ledger._client = client

    # WHEN a job of four servers ends
    outcome, _ = ledger.record_job_done(
        EXECUTION, "w", job_id="drsjob-00000000000000001", servers=_launched([sid(n) for n in range(4)]), key="done"
    )

    # THEN every server is read and written all the same, each batch after waits of 0.05 s, doubling
    assert outcome is Outcome.WON
    assert {v.launch_status for v in ledger.wave_servers(EXECUTION, "w").values()} == {"LAUNCHED"}
    assert client.calls == ["BatchGetItem"] * 3 + ["BatchWriteItem"] * 4
    assert sleeps == [0.05, 0.1, 0.05, 0.1, 0.2]


def test_a_batch_still_unprocessed_after_its_tries_raises(ledger: Ledger, sleeps: list[float]) -> None:
    # GIVEN DynamoDB leaving every batch write unprocessed
    _create(ledger, {sid(1): "CRITICAL", sid(2): "CRITICAL"})
    _start_job(ledger, "drsjob-00000000000000001", [sid(1), sid(2)])
    ledger._client = _Unprocessing(ledger._client, gets=0, writes=1_000)

    # WHEN a job ends, THEN the ledger says what is left rather than going on without it, and the job stays
    # open (its redelivered event writes it again)
    with pytest.raises(LedgerError, match=f"BatchWriteItem left 2 item\\(s\\) unprocessed after {BATCH_TRIES} calls"):
        ledger.record_job_done(
            EXECUTION, "w", job_id="drsjob-00000000000000001", servers=_launched([sid(1), sid(2)]), key="done"
        )
    assert sleeps == [0.05 * 2**n for n in range(BATCH_TRIES - 1)]
    assert (ledger.get_wave(EXECUTION, "w") or {})["jobs"]["drsjob-00000000000000001"]["status"] == "STARTED"


def _running_script(ledger: Ledger) -> ScriptRun:
    """A post-launch script of wave `w`, sent and running (try 1)."""
    script = ScriptId(execution_id=EXECUTION, wave_id="w", wave_attempt=1, phase="POST_LAUNCH", index=0)
    spec = ScriptSpec(
        id=script,
        plan_id="p",
        document_name="AWS-RunShellScript",
        on_failure=ScriptOnFailure.FAIL,
        health_check=False,
        retries=0,
        timeout_seconds=600,
    )
    outcome, _ = ledger.claim_script(spec, key="send")
    assert outcome is Outcome.WON
    assert ledger.record_sent(
        script, try_number=1, key="send", command_ids=["c-1"], expected=3, deadline=datetime(2026, 1, 1, tzinfo=UTC)
    )
    run = ledger.get_script(script)
    assert run is not None
    return run


def _finish(ledger: Ledger, run: ScriptRun, instances: list[InvocationResult], *, key: str) -> Outcome:
    return ledger.finish_script(
        run,
        try_number=1,
        from_=[ScriptStatus.RUNNING],
        status=ScriptStatus.SUCCESS,
        instances=instances,
        reason=None,
        warnings=[],
        key=key,
    )


def test_a_script_keeps_each_instance_result_in_its_own_item(ledger: Ledger) -> None:
    # GIVEN a running script on three instances
    _create(ledger, {sid(1): "CRITICAL"})
    run = _running_script(ledger)
    instances = [
        InvocationResult(instance_id=f"i-{n:017x}", status="Success", output=f"up {n}", duration_seconds=1.5)
        for n in (3, 1, 2)
    ]

    # WHEN it ends, and another event then claims it ended otherwise
    first = _finish(ledger, run, instances, key="end")
    other = _finish(ledger, run, [replace(i, status="Failed") for i in instances], key="other")

    # THEN neither the script item nor the wave's summary holds the instances, only their count; the
    # script and the wave's detail give every result back, in instance order, as the first event said
    assert (first, other) == (Outcome.WON, Outcome.REJECTED)
    script = ledger.get_script(run.id)
    wave = ledger.get_wave(EXECUTION, "w") or {}
    assert script is not None
    assert (script.instances, script.instance_count) == (None, 3)
    assert [("instances" in s, s["instanceCount"]) for s in wave["scripts"]] == [(False, 3)]
    expected = sorted(instances, key=lambda i: i.instance_id)
    [listed] = ledger.list_scripts(EXECUTION, "w", 1)
    assert listed.instances == tuple(expected)
    detail = ledger.wave_detail(EXECUTION, ledger.wave(EXECUTION, "w") or pytest.fail("no wave"))
    assert detail.scripts[0]["instances"] == [invocation_map(i) for i in expected]
