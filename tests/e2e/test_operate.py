"""End to end: operating a running plan (issue 7): approval gates, RetryWave, SkipWave, cancel with
termination of the drill instances, and commands that do not fit the ledger's state."""

from __future__ import annotations

from collections import Counter

import pytest

from events.models import OPERATOR_SOURCE, Mode
from localcloud.runner import start, wait
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import (
    DROPS,
    assert_choreography_invariants,
    command,
    events_of,
    execution,
    launch_started,
    ledger_items,
    ledger_waves,
    session,
    sid,
    signed,
    wave,
    wave_status,
)

FAILING = sid("b", 2)


def _gated_plan(**approval: object) -> object:
    return parse_plan(
        {
            "planId": "gated",
            "waves": [
                wave("w1", [sid("a", 1)]),
                wave("w2", [sid("b", 1)], ["w1"], approval={"required": True, **approval}),
                wave("w3", [sid("c", 1)], ["w2"]),
            ],
        }
    )


def _launched(cloud) -> Counter[str]:
    return Counter(cloud.drs.stats.launches)


def _rejections(cloud, execution_id: str) -> list[tuple[str, str | None, str]]:
    return [
        (e.detail["command"], e.detail.get("waveId"), e.detail["reason"])
        for e in events_of(cloud, "ControlRejected", execution_id)
    ]


# ---- approval gates ----------------------------------------------------------------------------


def test_approval_gate_holds_the_wave_until_an_approver_grants_it(local_cloud):
    # GIVEN w1 -> w2 -> w3 where w2 needs the approval of a session of the DROps role
    cloud = local_cloud()
    execution_id = start(cloud, _gated_plan(approvers=[DROPS], timeoutSeconds=3600))

    # WHEN it runs until w2 reaches its gate
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL", timeout=60)
    cloud.drain()

    # THEN w2 waits, nothing of it launched, and ApprovalRequested says what ran, who may approve and until when
    assert wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL"
    assert set(_launched(cloud)) == {sid("a", 1)}
    [requested] = {e.detail["requestId"]: e for e in events_of(cloud, "ApprovalRequested", execution_id)}.values()
    assert requested.detail["waveId"] == "w2"
    assert requested.detail["completedWaveIds"] == ["w1"]
    assert requested.detail["approvers"] == [DROPS]
    gate = ledger_waves(cloud, execution_id)["w2"]["approval"]
    assert 3600 <= (parse_iso(requested.detail["deadline"]) - parse_iso(gate["requestedAt"])).total_seconds() < 3601

    # WHEN bob (a session of another role: not an approver) approves it
    before = ledger_items(cloud)
    bob = session("bob", role="Developers")
    command(cloud, "ApprovalGranted", {"executionId": execution_id, "waveId": "w2"}, by=bob)
    cloud.drain()

    # THEN it is rejected and nothing changed
    assert {(c, w) for c, w, _ in _rejections(cloud, execution_id)} == {("ApprovalGranted", "w2")}
    assert f"{bob} may not" in _rejections(cloud, execution_id)[0][2]
    assert ledger_items(cloud) == before

    # WHEN alice, in the DROps role, approves it
    command(
        cloud,
        "ApprovalGranted",
        {"executionId": execution_id, "waveId": "w2", "comment": "w1 smoke tests green"},
        by=session("alice"),
    )
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan completes, and the report says who approved and when
    assert result.status == "COMPLETED"
    assert result.report is not None
    w2 = {w["waveId"]: w for w in result.report["waves"]}["w2"]
    assert w2["approval"]["status"] == "GRANTED"
    assert w2["approval"]["approvedBy"] == session("alice")
    assert w2["approval"]["comment"] == "w1 smoke tests green"
    assert parse_iso(w2["approval"]["approvedAt"]) <= parse_iso(w2["launchStartedAt"])
    assert {w["waveId"]: w["approval"] for w in result.report["waves"]}["w1"] is None
    assert set(_launched(cloud)) == {sid("a", 1), sid("b", 1), sid("c", 1)}
    assert_choreography_invariants(cloud, execution_id)


def test_approval_timeout_fails_the_wave_and_its_policy_applies(local_cloud):
    # GIVEN w2 gated with a 10-minute approval timeout, and nobody approves
    cloud = local_cloud()
    execution_id = start(cloud, _gated_plan(timeoutSeconds=600))

    # WHEN it runs
    result = wait(cloud, execution_id, timeout=60)

    # THEN w2 fails at its deadline (STOP): the plan fails, w3 is skipped and w2 launched nothing
    assert result.status == "FAILED"
    assert result.report is not None
    waves = {w["waveId"]: w for w in result.report["waves"]}
    assert [waves[w]["status"] for w in ("w1", "w2", "w3")] == ["COMPLETED", "FAILED", "SKIPPED"]
    assert "approval not granted" in waves["w2"]["reason"]
    assert waves["w2"]["approval"]["status"] == "TIMED_OUT"
    deadline = parse_iso(waves["w2"]["approval"]["deadline"])
    assert parse_iso(waves["w2"]["endedAt"]) >= deadline
    assert [e.wave_id for e in events_of(cloud, "WaveFailed", execution_id)][:1] == ["w2"]
    assert set(_launched(cloud)) == {sid("a", 1)}
    assert_choreography_invariants(cloud, execution_id)


def test_approval_denied_fails_the_wave_with_the_reason(local_cloud):
    # GIVEN w2 waiting for an approval
    cloud = local_cloud()
    execution_id = start(cloud, _gated_plan())
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w2") == "AWAITING_APPROVAL", timeout=60)

    # WHEN it is denied
    command(
        cloud,
        "ApprovalDenied",
        {"executionId": execution_id, "waveId": "w2", "reason": "app tier not healthy"},
        by="carol",
    )
    result = wait(cloud, execution_id, timeout=60)

    # THEN w2 fails with the reason, and the plan fails
    assert result.status == "FAILED"
    w2 = ledger_waves(cloud, execution_id)["w2"]
    assert w2["status"] == "FAILED"
    assert w2["reason"] == f"approval denied by {session('carol')}: app tier not healthy"
    assert w2["approval"]["deniedBy"] == session("carol")
    assert set(_launched(cloud)) == {sid("a", 1)}
    assert_choreography_invariants(cloud, execution_id)


def test_recovery_requires_an_approval_before_every_root_wave_by_plan_default(local_cloud):
    # GIVEN a plan with two roots and requireApprovalInRecovery, started as a confirmed RECOVERY
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "failover",
            "defaults": {"requireApprovalInRecovery": True},
            "waves": [wave("r1", [sid("r", 1)]), wave("r2", [sid("r", 2)]), wave("app", [sid("p", 1)], ["r1", "r2"])],
        }
    )
    execution_id = start(cloud, plan, mode=Mode.RECOVERY, confirm=True)

    # WHEN it starts
    cloud.run_until(
        lambda: all(wave_status(cloud, execution_id, w) == "AWAITING_APPROVAL" for w in ("r1", "r2")), timeout=60
    )

    # THEN both roots wait and nothing launched; approving both runs the whole plan without another gate
    assert not _launched(cloud)
    for root in ("r1", "r2"):
        command(cloud, "ApprovalGranted", {"executionId": execution_id, "waveId": root}, by="cio")
    result = wait(cloud, execution_id, timeout=60)
    assert result.status == "COMPLETED"
    assert {e.wave_id for e in events_of(cloud, "ApprovalRequested", execution_id)} == {"r1", "r2"}
    assert_choreography_invariants(cloud, execution_id)


# ---- retry and skip ----------------------------------------------------------------------------


def _failing_plan() -> object:
    """A -> B -> C and A -> D -> E; B has a CRITICAL server that fails and B says STOP."""
    return parse_plan(
        {
            "planId": "retry",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), FAILING], ["A"], onFailure="STOP"),
                wave("C", [sid("c", 1)], ["B"]),
                wave("D", [sid("d", 1)], ["A"]),
                wave("E", [sid("e", 1)], ["D"]),
            ],
        }
    )


def test_retry_after_a_critical_failure_relaunches_only_the_failed_server_and_completes(local_cloud):
    # GIVEN a plan that failed because a CRITICAL server of B did not launch
    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED"})
    execution_id = start(cloud, _failing_plan())
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    assert wave_status(cloud, execution_id, "C") == "SKIPPED"
    assert _launched(cloud)[FAILING] == 1

    # WHEN the server is fixed and an operator retries B
    cloud.drs.set_launch_outcome(FAILING, "LAUNCHED")
    command(cloud, "RetryWave", {"executionId": execution_id, "waveId": "B"}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN the plan completes: only the failed server launched again, and the skipped waves ran
    assert result.status == "COMPLETED", result.report
    assert result.report is not None
    assert {w["waveId"]: w["status"] for w in result.report["waves"]} == dict.fromkeys("ABCDE", "COMPLETED")
    launched = _launched(cloud)
    assert launched[FAILING] == 2
    assert {s: n for s, n in launched.items() if s != FAILING} == dict.fromkeys(
        [sid("a", 1), sid("b", 1), sid("c", 1), sid("d", 1), sid("e", 1)], 1
    )
    b = {w["waveId"]: w for w in result.report["waves"]}["B"]
    assert b["attempt"] == 2
    assert b["retriedBy"] == session("ops")  # the verified ARN, not a name the command chose
    assert b["relaunchedServers"] == [FAILING]
    assert {s["sourceServerId"]: s["launchStatus"] for s in b["servers"]} == {
        sid("b", 1): "LAUNCHED",
        FAILING: "LAUNCHED",
    }
    # and the record keeps what the failed attempt did (an auditor sees both)
    [first] = b["previousAttempts"]
    assert (first["attempt"], first["status"], first["serversLaunched"]) == (1, "FAILED", 1)
    assert "CRITICAL" in first["reason"]
    assert [(s["sourceServerId"], s["launchStatus"]) for s in first["servers"]] == [
        (sid("b", 1), "LAUNCHED"),
        (FAILING, "FAILED"),
    ]
    assert first["readyAt"] < first["launchStartedAt"] <= first["endedAt"] <= b["retriedAt"] <= b["readyAt"]
    started = events_of(cloud, "DRSJobStarted", execution_id, "B")
    assert {e.detail["attempt"] for e in started} == {1, 2}
    assert {tuple(e.detail["sourceServerIds"]) for e in started if e.detail["attempt"] == 2} == {(FAILING,)}
    assert len(events_of(cloud, "PlanFailed", execution_id)) == 1
    assert execution(cloud, execution_id)["failedWaves"] == []
    assert_choreography_invariants(cloud, execution_id, relaunched={FAILING: 2})


def test_skip_of_a_failed_wave_releases_its_dependents(local_cloud):
    # GIVEN a plan that failed at B
    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED"})
    execution_id = start(cloud, _failing_plan())
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"

    # WHEN an operator skips B
    command(cloud, "SkipWave", {"executionId": execution_id, "waveId": "B", "reason": "B is rebuilt by hand"}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN C (which depends on B) runs and the plan completes; the report says who skipped B and why
    assert result.status == "COMPLETED"
    assert result.report is not None
    waves = {w["waveId"]: w for w in result.report["waves"]}
    assert {w: waves[w]["status"] for w in "ABCDE"} == {
        "A": "COMPLETED",
        "B": "SKIPPED",
        "C": "COMPLETED",
        "D": "COMPLETED",
        "E": "COMPLETED",
    }
    assert waves["B"]["skippedBy"] == session("ops")
    assert waves["B"]["reason"] == f"skipped by {session('ops')}: B is rebuilt by hand"
    assert _launched(cloud)[FAILING] == 1
    assert max(_launched(cloud).values()) == 1
    assert [e.detail.get("skippedBy") for e in events_of(cloud, "WaveSkipped", execution_id, "B")][:1] == [
        session("ops")
    ]
    assert_choreography_invariants(cloud, execution_id)


def test_skip_of_a_pending_wave_releases_its_dependents_at_once(local_cloud):
    # GIVEN A -> B -> C with A launching
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "skip",
            "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"]), wave("C", [sid("c", 1)], ["B"])],
        }
    )
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: launch_started(cloud, execution_id, "A"), timeout=60)

    # WHEN an operator skips B
    command(cloud, "SkipWave", {"executionId": execution_id, "waveId": "B"}, by="ops")
    result = wait(cloud, execution_id, timeout=60)

    # THEN B never launches, C runs, and the plan completes
    assert result.status == "COMPLETED"
    assert set(_launched(cloud)) == {sid("a", 1), sid("c", 1)}
    waves = ledger_waves(cloud, execution_id)
    assert waves["B"]["status"] == "SKIPPED"
    assert waves["B"]["skippedBy"] == session("ops")
    assert_choreography_invariants(cloud, execution_id)


# ---- cancel, and commands that do not fit --------------------------------------------------------


def _running_instances(cloud, server_ids: set[str]) -> list[str]:
    found = cloud.runtime.drs.describe_recovery_instances(source_server_ids=sorted(server_ids))
    return sorted(i["recoveryInstanceID"] for i in found if i["ec2InstanceState"] == "RUNNING")


def test_cancel_with_terminate_drill_instances_terminates_what_launched_so_far(local_cloud):
    # GIVEN A -> B -> C where A has launched its drill instances and B is launching
    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "cancel",
            "waves": [
                wave("A", [sid("a", 1), sid("a", 2)]),
                wave("B", [sid("b", 1)], ["A"]),
                wave("C", [sid("c", 1)], ["B"]),
            ],
        }
    )
    execution_id = start(cloud, plan, requested_by="alice")
    cloud.run_until(lambda: launch_started(cloud, execution_id, "B"), timeout=60)
    assert len(_running_instances(cloud, {sid("a", 1), sid("a", 2)})) == 2

    # WHEN bob cancels it and asks for the drill instances to be terminated
    command(cloud, "CancelPlan", {"executionId": execution_id, "terminateDrillInstances": True}, by="bob")
    result = wait(cloud, execution_id, timeout=60)
    # (each terminate job is announced once it has ended: the watch ticks run on after the plan's end)
    cloud.run_until(lambda: len(events_of(cloud, "RecoveryInstancesTerminated", execution_id)) == 2, timeout=30)

    # THEN the plan is CANCELLED by bob while B ran; A's instances went at the cancel, and the one B's job
    # launched after the cancel went when the plan had ended; each once, through the DRS capacity record
    assert result.status == "CANCELLED"
    [cancelled] = events_of(cloud, "PlanCancelled", execution_id)
    assert cancelled.detail["requestedBy"] == session("bob")
    assert cancelled.detail["runningWaveIds"] == ["B"]
    assert _launched(cloud) == Counter({sid("a", 1): 1, sid("a", 2): 1, sid("b", 1): 1})
    assert _running_instances(cloud, {sid("a", 1), sid("a", 2), sid("b", 1)}) == []
    terminated = events_of(cloud, "RecoveryInstancesTerminated", execution_id)
    assert [e.detail["reason"] for e in terminated] == ["CANCEL", "CANCEL"]
    assert sorted(len(e.detail["recoveryInstanceIds"]) for e in terminated) == [1, 2]  # (one tick may see both end)
    asked = sorted(cloud.runtime.ledger.list_terminations(execution_id), key=lambda r: r["at"])
    assert [len(r["instances"]) for r in asked] == [2, 1]
    assert cloud.drs.stats.calls.get("TerminateRecoveryInstances", 0) == 2
    # the terminate jobs held DRS capacity until they were seen to end (their claims are settled)
    claims = cloud.runtime.ledger.termination_claims(execution_id)
    assert sorted((len(c.instance_ids), bool(c.settled_at)) for c in claims) == [(1, True), (2, True)]
    capacity = cloud.runtime.ledger.capacity()
    assert (capacity.active_jobs, capacity.active_servers) == (0, 0)
    assert not capacity.holds
    assert wave_status(cloud, execution_id, "C") == "SKIPPED"
    assert_choreography_invariants(cloud, execution_id)


def test_cancel_without_terminate_keeps_the_drill_instances(local_cloud):
    cloud = local_cloud()
    plan = parse_plan({"planId": "cancel-keep", "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"])]})
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: launch_started(cloud, execution_id, "B"), timeout=60)

    command(cloud, "CancelPlan", {"executionId": execution_id}, by="bob")
    result = wait(cloud, execution_id, timeout=60)

    assert result.status == "CANCELLED"
    assert len(_running_instances(cloud, {sid("a", 1), sid("b", 1)})) == 2
    assert events_of(cloud, "RecoveryInstancesTerminated", execution_id) == []


def test_control_events_that_do_not_fit_are_rejected_and_change_nothing(local_cloud):
    # GIVEN a running plan whose first wave is launching
    cloud = local_cloud()
    execution_id = start(cloud, _gated_plan())
    cloud.run_until(lambda: launch_started(cloud, execution_id, "w1"), timeout=60)
    cloud.drain()
    before = ledger_items(cloud)

    # WHEN commands that do not fit its state are sent
    commands = [
        ("ApprovalGranted", {"waveId": "w1"}),  # w1 is not waiting for an approval
        ("ApprovalDenied", {"waveId": "w2", "reason": "no"}),  # w2 is PENDING, not at its gate yet
        ("RetryWave", {"waveId": "w1"}),  # w1 is running, not FAILED
        ("SkipWave", {"waveId": "w1"}),  # w1 is running
        ("RetryWave", {"waveId": "nope"}),  # no such wave
        ("ResumePlan", {}),  # the plan is not paused
    ]
    for kind, extra in commands:
        command(cloud, kind, {"executionId": execution_id, **extra}, by="test")
    cloud.drain()

    # THEN each is rejected with a reason, and the ledger is untouched
    rejected = _rejections(cloud, execution_id)
    assert sorted({(c, w) for c, w, _ in rejected}) == sorted((c, extra.get("waveId")) for c, extra in commands)
    assert len(rejected) == len(commands)  # once each, however often delivered
    reasons = {(c, w): r for c, w, r in rejected}
    assert "not awaiting approval" in reasons[("ApprovalGranted", "w1")]
    assert "only a FAILED wave" in reasons[("RetryWave", "w1")]
    assert ledger_items(cloud) == before
    assert set(_launched(cloud)) == {sid("a", 1)}


# ---- the CLI verbs: a local run's control socket, and --aws -------------------------------------


def test_cli_verbs_operate_a_running_local_session_over_its_control_socket(local_cloud, tmp_path, monkeypatch):
    import threading
    import time

    from typer.testing import CliRunner

    from drs_orch.app import app
    from localcloud.control_socket import ControlServer, run_session, send, socket_path

    # GIVEN a local run (the cloud's loop on a thread, serving its control socket) whose w2 needs a DROps session
    monkeypatch.setenv("DRS_ORCH_SOCKET_DIR", str(tmp_path))
    cloud = local_cloud(**{"clock.pace": True, "clock.speed": 200})
    execution_id = "sock-run-1"
    path = socket_path(execution_id)
    results = []
    with ControlServer(path) as server:
        start(cloud, _gated_plan(approvers=[DROPS]), execution_id=execution_id)
        loop = threading.Thread(
            target=lambda: results.append(run_session(cloud, execution_id, server, timeout=60, linger=1.0))
        )
        loop.start()
        try:
            deadline = time.monotonic() + 30
            while send(path, {"op": "status"})["waves"].get("w2") != "AWAITING_APPROVAL":
                assert time.monotonic() < deadline, "w2 never reached its gate"
                time.sleep(0.05)
            runner = CliRunner()

            # WHEN bob, then alice, approve w2 from the CLI
            refused = runner.invoke(app, ["approve", execution_id, "--wave", "w2", "--as", "bob"])
            granted = runner.invoke(app, ["approve", execution_id, "--wave", "w2", "--as", session("alice")])

            # THEN bob's approval (a session of the local role) is rejected (exit 1, with the reason), alice's
            # (a session of the approvers' role) applies (exit 0)
            assert refused.exit_code == 1, refused.output
            assert "arn:aws:sts::123456789012:assumed-role/local/bob may not" in " ".join(refused.output.split())
            assert granted.exit_code == 0, granted.output
            assert "ApprovalGranted applied" in granted.output

            # AND once the plan completed, `inspect` over the socket finds the events and the ledger agree
            while not cloud.execution_finished(execution_id):
                assert time.monotonic() < deadline + 30
                time.sleep(0.05)
            inspected = runner.invoke(app, ["inspect", execution_id])
            assert inspected.exit_code == 0, inspected.output
            assert "agree" in inspected.output
        finally:
            loop.join(timeout=90)
    assert results
    assert results[0].status == "COMPLETED"
    assert ledger_waves(cloud, execution_id)["w2"]["approval"]["approvedBy"] == session("alice")
    assert_choreography_invariants(cloud, execution_id)


def test_cli_verb_without_a_local_run_exits_2(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from drs_orch.app import app

    monkeypatch.setenv("DRS_ORCH_SOCKET_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["resume", "no-such-run"])
    assert result.exit_code == 2
    assert "no local run" in result.output


def test_two_failures_that_stop_the_plan_are_decided_one_after_the_other(local_cloud):
    # GIVEN A -> {B, X} -> C where B and X (parallel, both STOP) each have a server that fails
    failing_x = sid("x", 2)
    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED", f"drs.servers.{failing_x}.launch": "FAILED"})
    plan = parse_plan(
        {
            "planId": "two",
            "waves": [
                wave("A", [sid("a", 1)]),
                wave("B", [sid("b", 1), FAILING], ["A"]),
                wave("X", [sid("x", 1), failing_x], ["A"]),
                wave("C", [sid("c", 1)], ["B", "X"]),
            ],
        }
    )
    execution_id = start(cloud, plan)
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"

    # WHEN B is retried while X still stops the plan, X is skipped, then B is retried
    cloud.drs.set_launch_outcome(FAILING, "LAUNCHED")
    for kind, wave_id in (("RetryWave", "B"), ("SkipWave", "X"), ("RetryWave", "B")):
        command(cloud, kind, {"executionId": execution_id, "waveId": wave_id}, by="ops")
        cloud.drain()

    # THEN the first retry is rejected (X first), the skip and the second retry apply, and the plan completes
    result = wait(cloud, execution_id, timeout=60)
    assert [(c, w) for c, w, _ in _rejections(cloud, execution_id)][:1] == [("RetryWave", "B")]
    assert result.status == "COMPLETED"
    assert {w: wave_status(cloud, execution_id, w) for w in "ABXC"} == {
        "A": "COMPLETED",
        "B": "COMPLETED",
        "X": "SKIPPED",
        "C": "COMPLETED",
    }
    assert_choreography_invariants(cloud, execution_id, relaunched={FAILING: 2})


# ---- a refused event is answered once, and stays refused -------------------------------------------


def _redelivery(cloud, detail_type: str, detail: dict, event_id: str, command_id: str = "op-command-1") -> dict:
    """The same bus event again (EventBridge delivers at least once): same id, same detail (an operator
    command, as the operator endpoint published it, with its proof)."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": OPERATOR_SOURCE,
        "account": "123456789012",
        "time": "2026-01-01T09:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": signed(cloud, detail_type, {"version": "1", **detail}, command_id),
    }


def test_a_rejected_command_redelivered_after_the_state_changed_stays_rejected(local_cloud):
    # GIVEN a RetryWave of B rejected because B is still launching
    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED"})
    execution_id = start(cloud, _failing_plan())
    cloud.run_until(lambda: launch_started(cloud, execution_id, "B"), timeout=60)
    retry_detail = {"executionId": execution_id, "waveId": "B", "requestedBy": "ops"}
    retry = _redelivery(cloud, "RetryWave", retry_detail, "retry-event-1")
    cloud.lambdas.invoke("control", retry)
    [rejected] = events_of(cloud, "ControlRejected", execution_id)
    assert "only a FAILED wave can be retried" in rejected.detail["reason"]

    # WHEN B has failed meanwhile and the same RetryWave event is delivered again
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"
    assert wave_status(cloud, execution_id, "B") == "FAILED"
    cloud.lambdas.invoke("control", retry)
    cloud.drain()

    # THEN the late copy does not retry B (the operator was told no), and the refusal is not repeated
    assert wave_status(cloud, execution_id, "B") == "FAILED"
    assert _launched(cloud)[FAILING] == 1
    assert len(events_of(cloud, "ControlRejected", execution_id)) == 1
    # and a copy of it in another event is the same command (its signed commandId): refused, not announced again
    cloud.lambdas.invoke("control", {**retry, "id": "retry-event-copy"})
    cloud.drain()
    assert (wave_status(cloud, execution_id, "B"), len(events_of(cloud, "ControlRejected", execution_id))) == (
        "FAILED",
        1,
    )
    # while a new RetryWave (another command, in another event) does retry it
    cloud.lambdas.invoke("control", _redelivery(cloud, "RetryWave", retry_detail, "retry-event-2", "op-command-2"))
    cloud.run_until(lambda: _launched(cloud)[FAILING] == 2, timeout=60)  # after the packer's gathering window
    assert (ledger_waves(cloud, execution_id)["B"]["attempt"], _launched(cloud)[FAILING]) == (2, 2)


def test_a_refusal_whose_announcement_was_lost_is_announced_by_the_redelivery(local_cloud, monkeypatch):
    # GIVEN a PausePlan of a finished execution, refused by a delivery that died before announcing it
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan({"planId": "done", "waves": [wave("A", [sid("a", 1)])]}))
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    pause = _redelivery(cloud, "PausePlan", {"executionId": execution_id, "requestedBy": "ops"}, "pause-event-1")
    publish = cloud.runtime.bus.publish

    def dies(*details):
        raise RuntimeError("the function died")

    monkeypatch.setattr(cloud.runtime.bus, "publish", dies)
    with pytest.raises(RuntimeError):
        cloud.lambdas.invoke("control", pause)
    monkeypatch.setattr(cloud.runtime.bus, "publish", publish)
    assert events_of(cloud, "ControlRejected", execution_id) == []

    # WHEN the event is delivered again, twice
    cloud.lambdas.invoke("control", pause)
    cloud.lambdas.invoke("control", pause)

    # THEN the refusal is announced exactly once
    [rejected] = events_of(cloud, "ControlRejected", execution_id)
    assert rejected.detail["command"] == "PausePlan"
    assert "COMPLETED" in rejected.detail["reason"]


def test_a_copy_of_a_refused_command_that_slipped_past_the_check_still_changes_nothing(local_cloud):
    # GIVEN a RetryWave refused while B launched, and B failed since
    from events.models import RetryWave
    from orchestrator.steps import control

    cloud = local_cloud(**{f"drs.servers.{FAILING}.launch": "FAILED"})
    execution_id = start(cloud, _failing_plan())
    cloud.run_until(lambda: launch_started(cloud, execution_id, "B"), timeout=60)
    command = RetryWave(execution_id=execution_id, wave_id="B", requested_by="ops")
    control.retry_wave(cloud.runtime, command, "retry-event-1")
    assert wait(cloud, execution_id, timeout=60).status == "FAILED"

    # WHEN a concurrent copy, which passed the refused-before check before the refusal was written,
    # now decides on the failed wave
    control.retry_wave(cloud.runtime, command, "retry-event-1")
    cloud.drain()

    # THEN its state change does not go through (one decision per event) and nothing more is announced
    assert wave_status(cloud, execution_id, "B") == "FAILED"
    assert _launched(cloud)[FAILING] == 1
    assert len(events_of(cloud, "ControlRejected", execution_id)) == 1


def test_a_late_copy_of_an_accepted_pause_does_not_pause_the_plan_again(local_cloud):
    # GIVEN a plan paused by PausePlan p1, then resumed
    cloud = local_cloud()
    plan = parse_plan({"planId": "late-pause", "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"])]})
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: launch_started(cloud, execution_id, "A"), timeout=60)
    pause = _redelivery(cloud, "PausePlan", {"executionId": execution_id, "requestedBy": "ops"}, "pause-event-1")
    cloud.lambdas.invoke("control", pause)
    assert execution(cloud, execution_id)["status"] == "PAUSED"
    cloud.lambdas.invoke(
        "control",
        _redelivery(
            cloud, "ResumePlan", {"executionId": execution_id, "requestedBy": "ops"}, "resume-event-1", "op-resume-1"
        ),
    )
    assert execution(cloud, execution_id)["status"] == "RUNNING"

    # WHEN a late copy of p1 arrives
    cloud.lambdas.invoke("control", pause)

    # THEN the plan runs on to the end, and the accepted command is not reported as rejected
    assert execution(cloud, execution_id)["status"] == "RUNNING"
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert events_of(cloud, "ControlRejected", execution_id) == []


def test_a_wave_of_150_failed_servers_can_be_retried(local_cloud):
    # GIVEN a wave whose 150 CRITICAL servers all failed to launch (a clause per server in one update
    # expression would be over DynamoDB's 4 KB limit)
    servers = [sid("big", n) for n in range(150)]
    cloud = local_cloud(**{f"drs.servers.{server}.launch": "FAILED" for server in servers})
    execution_id = start(cloud, parse_plan({"planId": "big-retry", "waves": [wave("A", servers)]}))
    assert wait(cloud, execution_id, timeout=120).status == "FAILED"

    # WHEN an operator retries it
    cloud.lambdas.invoke(
        "control",
        _redelivery(
            cloud, "RetryWave", {"executionId": execution_id, "waveId": "A", "requestedBy": "ops"}, "big-retry-1"
        ),
    )

    # THEN it runs again with every server
    assert events_of(cloud, "ControlRejected", execution_id) == []
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    a = ledger.wave_detail(execution_id, ledger.wave(execution_id, "A") or pytest.fail("no wave A"))
    assert (a.wave.status, a.wave.attempt, len(a.wave.launch_servers or ())) == ("READY", 2, 150)
    assert {s.launch_status for s in a.servers.values()} == {"NOT_STARTED"}
    assert len(a.attempt_servers[a.wave.previous_attempts[0].attempt]) == 150


def test_a_cancel_redelivered_after_a_crash_skips_what_the_first_delivery_did_not(local_cloud, monkeypatch):
    # GIVEN A -> B -> C, A launching, and a CancelPlan whose first delivery dies after the plan is
    # STOPPING but before it skipped the waves not started
    from orchestrator.steps import progress

    cloud = local_cloud()
    plan = parse_plan(
        {
            "planId": "cancel-crash",
            "waves": [wave("A", [sid("a", 1)]), wave("B", [sid("b", 1)], ["A"]), wave("C", [sid("c", 1)], ["B"])],
        }
    )
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: launch_started(cloud, execution_id, "A"), timeout=60)
    cancel = _redelivery(cloud, "CancelPlan", {"executionId": execution_id, "requestedBy": "bob"}, "cancel-event-1")
    skip = progress.skip_wave

    def dies(*args, **kwargs):
        raise RuntimeError("the function died")

    monkeypatch.setattr(progress, "skip_wave", dies)
    with pytest.raises(RuntimeError):
        cloud.lambdas.invoke("control", cancel)
    monkeypatch.setattr(progress, "skip_wave", skip)
    assert execution(cloud, execution_id)["status"] == "STOPPING"

    # WHEN the CancelPlan is delivered again
    cloud.lambdas.invoke("control", cancel)

    # THEN B and C are skipped, A finishes, and the plan ends CANCELLED (it no longer waits forever)
    assert wait(cloud, execution_id, timeout=60).status == "CANCELLED"
    waves = ledger_waves(cloud, execution_id)
    assert [waves[w]["status"] for w in "ABC"] == ["COMPLETED", "SKIPPED", "SKIPPED"]
    assert _launched(cloud) == Counter({sid("a", 1): 1})


def test_a_cancel_over_the_control_socket_answers_what_drs_was_asked_to_terminate(local_cloud):
    # GIVEN A -> B where A has launched its 2 drill instances and B is launching, served by a run's control socket
    from localcloud.control_socket import Session

    cloud = local_cloud()
    plan = parse_plan(
        {"planId": "cancel-answer", "waves": [wave("A", [sid("a", 1), sid("a", 2)]), wave("B", [sid("b", 1)], ["A"])]}
    )
    execution_id = start(cloud, plan)
    cloud.run_until(lambda: launch_started(cloud, execution_id, "B"), timeout=60)
    up = sorted(_running_instances(cloud, {sid("a", 1), sid("a", 2)}))

    # WHEN the CLI's cancel --terminate-drill-instances reaches it
    answer = Session(cloud, execution_id).handle(
        {"op": "command", "detailType": "CancelPlan", "detail": {"terminateDrillInstances": True}, "as": "bob"}
    )

    # THEN the answer names the instances up now that DRS was asked to terminate, and the job doing it
    assert (answer["ok"], answer["status"]) == (True, "STOPPING")
    [asked] = answer["terminations"]
    assert (asked["reason"], sorted(asked["recoveryInstanceIds"]), len(asked["jobIds"])) == ("CANCEL", up, 1)
