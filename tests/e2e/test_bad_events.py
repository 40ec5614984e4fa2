"""End to end: malformed and forged events published during a run, and after it, are each refused with a
specific reason or dropped; none has a side effect (no DRS job, no SSM command, no schedule, no ledger change
beyond the records of refusals, no exception, no retry, no dead letter) and the run ends as it would have.

The corpus (`_during_run`, `_after_run`) is generated from one well-formed detail of every event a function
consumes: wrong types and missing or extra fields (the handler's parser refuses them: InvalidEvents), an
unknown execution, a plan that is not the execution's, a wave the plan lacks, servers not in the wave
(InvalidEvents too: such an event can never become valid), operator commands that do not fit
(ControlRejected), internal events for a wave that is not in the state they belong to (dropped by their
step, which names the reason in its log), and StartPlans that reuse the running execution's id
(ControlRejected, never a PlanFailed that would page for the running execution). One local cloud serves a
whole group; the events of a group are published together and delivered in one drain.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from events.models import DRS_LAUNCH_RESULT, DRS_SOURCE, OPERATOR_SOURCE, SOURCE
from infra.definitions import FUNCTIONS, OPERATOR_EVENTS, ROUTES, STATE_MACHINE
from localcloud.cloud import LocalCloud
from localcloud.runner import start, wait
from orchestrator import observability
from orchestrator.domain.plan import parse_plan
from orchestrator.steps.operator_proof import PROOF_FIELD
from tests.e2e.helpers import (
    assert_choreography_invariants,
    envelope,
    events_of,
    execution,
    ledger_items,
    sid,
    signed,
    start_recovery_calls,
    wave,
    wave_status,
)

PLAN = {"planId": "bad", "waves": [wave("w1", [sid("a", 1)]), wave("w2", [sid("b", 1)], ["w1"])]}
SERVERS = {"w1": sid("a", 1), "w2": sid("b", 1)}
JOB = "drsjob-00000000000000001"


# ---- the corpus ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A forged event and what must come of it.

    `invalid`: the substring of the InvalidEvent each function it reaches answers with; `rejected`: the
    substring of the ControlRejected reason it is answered with (matched by `requestedBy`); neither: it
    is dropped by its step (the handler answers ok, nothing changes)."""

    name: str
    detail_type: str
    detail: dict[str, Any]
    invalid: str | None = None
    rejected: str | None = None
    also_invalid: bool = False  # a malformed StartPlan: InvalidEvents, and announced with ControlRejected
    # who put it on the bus: an operator command comes from the operator endpoint (as if its role itself sent
    # something malformed: the control function still checks everything), everything else from SOURCE
    source: str | None = None

    @property
    def key(self) -> str:
        return self.detail_type + json.dumps(self.detail, sort_keys=True)

    @property
    def publisher(self) -> str:
        if self.source is not None:
            return self.source
        return OPERATOR_SOURCE if self.detail_type in OPERATOR_EVENTS else SOURCE


def _internal(execution_id: str, wave_id: str = "w1") -> dict[str, tuple[dict[str, Any], list[str]]]:
    """A well-formed detail of each internal event for `wave_id`, and which of its fields are required."""
    ids = {"executionId": execution_id, "planId": "bad", "waveId": wave_id}
    server = SERVERS.get(wave_id, sid("z", 9))
    tick = {**ids, "index": 0, "tryNumber": 1, "purpose": "poll"}
    return {
        "WaveReady": (ids, ["executionId", "planId", "waveId"]),
        "PreLaunchDone": (ids, ["executionId", "planId", "waveId"]),
        "DRSJobStarted": (
            {**ids, "jobId": JOB, "launchKey": "lk-0", "sourceServerIds": [server]},
            ["executionId", "waveId", "jobId", "launchKey", "sourceServerIds"],
        ),
        "JobWatchTick": ({**ids, "tick": 1}, ["executionId", "waveId", "tick"]),
        "PreLaunchTick": ({**tick, "phase": "PRE_LAUNCH"}, ["executionId", "waveId", "phase", "index", "purpose"]),
        "PostLaunchTick": (
            {**tick, "phase": "POST_LAUNCH", "purpose": "timeout"},
            ["executionId", "waveId", "phase", "tryNumber", "purpose"],
        ),
        "DRSJobCompleted": (
            {**ids, "jobId": JOB, "servers": [{"sourceServerId": server, "launchStatus": "FAILED"}]},
            ["executionId", "waveId", "jobId", "servers"],
        ),
        "PostLaunchDone": (ids, ["executionId", "planId", "waveId"]),
        "WaveFailed": ({**ids, "reason": "forged", "onFailure": "STOP"}, ["executionId", "waveId", "reason"]),
        "TerminationTick": ({**ids, "reason": "ROLLBACK"}, ["executionId", "planId", "reason"]),
        "PlanCancelled": (
            {"executionId": execution_id, "planId": "bad", "requestedBy": "forger"},
            ["executionId", "requestedBy"],
        ),
        # the scheduler's approval deadline (routed to the control function with the operators' commands)
        "ApprovalTimeout": (
            {"executionId": execution_id, "waveId": wave_id, "requestId": "r-1"},
            ["executionId", "waveId", "requestId"],
        ),
    }


def _wrong(value: Any) -> Any:
    """A value of another JSON type than `value`'s."""
    if isinstance(value, bool | int):
        return "one"
    if isinstance(value, str):
        return 42
    if isinstance(value, list):
        return {"not": "a list"}
    return ["not", "an object"]


def _malformed(execution_id: str) -> Iterator[Case]:
    for detail_type, (detail, required) in _internal(execution_id).items():
        for name in required:
            yield Case(
                f"{detail_type}.{name} of a wrong type",
                detail_type,
                {**detail, name: _wrong(detail[name])},
                invalid=f"detail.{name}",
            )
        yield Case(
            f"{detail_type} without executionId",
            detail_type,
            {k: v for k, v in detail.items() if k != "executionId"},
            invalid="executionId",
        )
        yield Case(f"{detail_type} with an extra field", detail_type, {**detail, "bogus": 1}, invalid="bogus")
    control = {"executionId": execution_id}
    for detail_type in ("CancelPlan", "PausePlan", "ResumePlan"):
        yield Case(
            f"{detail_type}.executionId of a wrong type",
            detail_type,
            {**control, "executionId": 7},
            invalid="detail.executionId",
        )
        yield Case(f"{detail_type} with an extra field", detail_type, {**control, "bogus": 1}, invalid="bogus")
    for detail_type in ("ApprovalGranted", "ApprovalDenied", "RetryWave", "SkipWave"):
        yield Case(f"{detail_type} without waveId", detail_type, control, invalid="detail.waveId")
        yield Case(
            f"{detail_type}.waveId of a wrong type", detail_type, {**control, "waveId": ["w1"]}, invalid="detail.waveId"
        )
    for name, reason in (("without a reason", None), ("with a blank reason", "  ")):
        denied = {**control, "waveId": "w1", **({} if reason is None else {"reason": reason})}
        yield Case(f"ApprovalDenied {name}", "ApprovalDenied", denied, invalid="detail.reason")
    yield Case(
        "RetryWave.allServers of a wrong type",
        "RetryWave",
        {**control, "waveId": "w1", "allServers": "all"},
        invalid="detail.allServers",
    )


def _unknown_references(execution_id: str) -> Iterator[Case]:
    for detail_type, (detail, _) in _internal(execution_id).items():
        yield Case(
            f"{detail_type} of an unknown execution",
            detail_type,
            {**detail, "executionId": "exec-nope"},
            invalid="no execution 'exec-nope'",
        )
        if "planId" in detail:
            yield Case(
                f"{detail_type} of another plan",
                detail_type,
                {**detail, "planId": "other"},
                invalid="runs plan 'bad', not 'other'",
            )
        if "waveId" in detail:
            forged = _internal(execution_id, "w9")[detail_type][0]
            yield Case(
                f"{detail_type} of a wave the plan lacks",
                detail_type,
                forged,
                invalid=f"the plan of execution '{execution_id}' has no wave 'w9'",
            )
    ids = {"executionId": execution_id, "planId": "bad", "waveId": "w1"}
    stranger = sid("z", 1)
    yield Case(
        "DRSJobStarted of a server not in the wave",
        "DRSJobStarted",
        {**ids, "jobId": JOB, "launchKey": "lk-0", "sourceServerIds": [SERVERS["w1"], stranger]},
        invalid=f"not in wave 'w1': {stranger}",
    )
    yield Case(
        "DRSJobCompleted of a server of another wave",
        "DRSJobCompleted",
        {**ids, "jobId": JOB, "servers": [{"sourceServerId": SERVERS["w2"], "launchStatus": "LAUNCHED"}]},
        invalid=f"not in wave 'w1': {SERVERS['w2']}",
    )
    yield Case(
        "WaveFailed naming a server not in the wave",
        "WaveFailed",
        {
            **ids,
            "reason": "forged",
            "onFailure": "STOP",
            "failedServers": [{"sourceServerId": stranger, "launchStatus": "FAILED"}],
        },
        invalid=f"not in wave 'w1': {stranger}",
    )


def _commands(execution_id: str, *, running: bool) -> Iterator[Case]:
    """Operator commands that do not fit, each answered with ControlRejected (`requestedBy` names the case)."""

    def case(name: str, detail_type: str, reason: str, **detail: Any) -> Case:
        by = f"corpus-{uuid.uuid4().hex[:8]}"
        denial = {"reason": "not now"} if detail_type == "ApprovalDenied" else {}  # a deny gives its reason
        return Case(
            name, detail_type, {"executionId": execution_id, "requestedBy": by, **denial, **detail}, rejected=reason
        )

    for detail_type in ("CancelPlan", "PausePlan", "ResumePlan"):
        yield case(f"{detail_type} of an unknown execution", detail_type, "no such execution", executionId="exec-nope")
    for detail_type in ("ApprovalGranted", "ApprovalDenied", "RetryWave", "SkipWave"):
        yield case(f"{detail_type} of a wave the plan lacks", detail_type, "has no wave w9", waveId="w9")
        yield case(
            f"{detail_type} of an unknown execution",
            detail_type,
            "no such execution",
            executionId="exec-nope",
            waveId="w1",
        )
    yield case("ApprovalGranted of a wave not awaiting approval", "ApprovalGranted", "", waveId="w1")
    yield case("ApprovalDenied of a pending wave", "ApprovalDenied", "", waveId="w2")
    yield case("ResumePlan of a plan not paused", "ResumePlan", "not paused")
    if running:
        yield case("RetryWave of a wave still running", "RetryWave", "", waveId="w1")
        yield case("RetryWave of a pending wave", "RetryWave", "", waveId="w2")
    else:
        for detail_type in ("CancelPlan", "PausePlan"):
            yield case(f"{detail_type} of a finished execution", detail_type, "not running")
        for wave_id in ("w1", "w2"):
            yield case(f"RetryWave of completed wave {wave_id}", "RetryWave", "", waveId=wave_id)
            yield case(f"SkipWave of completed wave {wave_id}", "SkipWave", "", waveId=wave_id)


def _out_of_state(execution_id: str, wave_ids: tuple[str, ...]) -> Iterator[Case]:
    """Internal events whose references are right but whose wave is not in the state they belong to:
    each step drops them. (TerminationTick and PlanCancelled act on an execution whatever its waves do:
    what a forged one may do is the clean-up's to check, not a state of the wave.) A DRSJobCompleted names a job
    (JOB) that is none of the wave's: it is invalid (launch_checks.check_job_end), whatever the wave's state."""
    not_ours = f"detail.jobId: no job '{JOB}' in attempt 1 of the wave"
    for wave_id in wave_ids:
        for detail_type, (detail, _) in _internal(execution_id, wave_id).items():
            name = f"{detail_type} for wave {wave_id} out of its state"
            if detail_type == "DRSJobCompleted":
                yield Case(name, detail_type, detail, invalid=not_ours)
            elif detail_type not in {"TerminationTick", "PlanCancelled"}:
                yield Case(name, detail_type, detail)


def _start_plans(execution_id: str) -> Iterator[Case]:
    """StartPlans reusing the running execution's id: refused with ControlRejected, never a PlanFailed."""

    def case(name: str, reason: str, **detail: Any) -> Case:
        by = f"corpus-{uuid.uuid4().hex[:8]}"
        return Case(name, "StartPlan", {"executionId": execution_id, "requestedBy": by, **detail}, rejected=reason)

    other = {"planId": "bad", "waves": [wave("w1", [sid("c", 1)])]}
    yield case("StartPlan reusing the id with another plan", "started with another plan or mode", plan=other)
    recovery = case(
        "StartPlan reusing the id with the plan in RECOVERY",
        "started with another plan or mode",
        plan=PLAN,
        mode="RECOVERY",
        confirmRecovery="bad",
    )
    yield Case(recovery.name, "StartPlan", recovery.detail, rejected=recovery.rejected, source=OPERATOR_SOURCE)
    yield case(
        "a RECOVERY StartPlan put on the bus, reusing the id",
        "refused: RECOVERY mode is a real failover: it starts only through the operator endpoint",
        plan=PLAN,
        mode="RECOVERY",
        confirmRecovery="bad",
    )
    yield case(
        "StartPlan reusing the id with an invalid plan",
        "refused: invalid plan: 1 problem(s)",
        plan={"planId": "bad", "waves": [wave("w1", [sid("a", 1)], ["nope"])]},
    )
    unconfirmed = case(
        "StartPlan reusing the id with an unconfirmed RECOVERY",
        "must carry confirmRecovery",
        plan=PLAN,
        mode="RECOVERY",
    )
    yield Case(unconfirmed.name, "StartPlan", unconfirmed.detail, rejected=unconfirmed.rejected, source=OPERATOR_SOURCE)
    yield case(
        "StartPlan reusing the id with a plan nested too deep",
        "refused: invalid plan: 1 problem(s)",
        plan={"planId": "bad", "waves": _nested(40)},
    )
    malformed = case("malformed StartPlan reusing the id", "refused: malformed StartPlan event", plan=PLAN, bogus=1)
    yield Case(
        malformed.name, "StartPlan", malformed.detail, invalid="bogus", rejected=malformed.rejected, also_invalid=True
    )
    yield Case(
        "StartPlan repeating the start",
        "StartPlan",
        {"executionId": execution_id, "plan": json.loads(json.dumps(_document())), "mode": "DRILL"},
    )


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _document() -> dict[str, Any]:
    from orchestrator.domain.plan import plan_to_document

    return plan_to_document(parse_plan(PLAN))


def _during_run(execution_id: str) -> list[Case]:
    return [
        *_malformed(execution_id),
        *_unknown_references(execution_id),
        *_commands(execution_id, running=True),
        *_out_of_state(execution_id, ("w2",)),
        *_start_plans(execution_id),
    ]


def _after_run(execution_id: str) -> list[Case]:
    return [
        *_unknown_references(execution_id),
        *_commands(execution_id, running=False),
        *_out_of_state(execution_id, ("w1", "w2")),
        *_start_plans(execution_id),
    ]


def test_the_corpus_has_at_least_100_distinct_forged_events() -> None:
    # GIVEN the two groups of the corpus
    cases = _during_run("exec-x") + _after_run("exec-x")

    # THEN they are many and distinct (each is told apart by its detail)
    assert len(cases) >= 100
    assert len({case.key for case in _during_run("exec-x")}) == len(_during_run("exec-x"))
    assert len({case.key for case in _after_run("exec-x")}) == len(_after_run("exec-x"))


# ---- running it ------------------------------------------------------------------------------------


@dataclass
class _Spy:
    results: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)
    metrics: Counter[str] = field(default_factory=Counter)


def _spy(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> _Spy:
    """Every handler invocation from now on with what it returned, and every metric counted."""
    spy = _Spy()
    invoke = cloud.lambdas.invoke
    add_metric = observability.metrics.add_metric

    def recording(name: str, event: dict[str, Any]) -> Any:
        result = invoke(name, event)
        spy.results.append((name, event, result))
        return result

    def counting(*, name: str, **kwargs: Any) -> None:
        spy.metrics[name] += int(kwargs.get("value", 1))
        add_metric(name=name, **kwargs)

    monkeypatch.setattr(cloud.lambdas, "invoke", recording)
    monkeypatch.setattr(observability.metrics, "add_metric", counting)
    return spy


def _functions(case: Case) -> list[str]:
    targets = sorted({r.target for r in ROUTES if case.detail_type in r.detail_types and r.source == case.publisher})
    return ["launch_wave" if target == STATE_MACHINE else target for target in targets]


def _unsigned(detail: Any) -> Any:
    """A detail as its case wrote it: without the proof an operator command was signed with."""
    return {k: v for k, v in detail.items() if k != PROOF_FIELD} if isinstance(detail, dict) else detail


def _delivered(spy: _Spy, case: Case) -> list[tuple[str, Any]]:
    """(function, result) of each delivery of the case's event (the state machine's prepare for PreLaunchDone)."""
    found = []
    for name, event, result in spy.results:
        envelope = event.get("event") if name == "launch_wave" else event
        detail = _unsigned(envelope.get("detail")) if isinstance(envelope, dict) else None
        if (
            isinstance(envelope, dict)
            and envelope.get("detail-type") == case.detail_type
            and case.key == case.detail_type + json.dumps(detail, sort_keys=True)
        ):
            found.append((name, result))
    return found


def _answered(cloud: LocalCloud, case: Case, seen: int) -> list[dict[str, Any]]:
    by = case.detail.get("requestedBy")
    return [
        e.detail
        for e in cloud.events[seen:]
        if e.detail_type == "ControlRejected" and by and e.detail.get("requestedBy") == by
    ]


def _status(name: str, result: Any) -> tuple[str, str]:
    """What a function answered: ("rejected", why) for an invalid event, ("ok", "") otherwise. The state
    machine's prepare answers `proceed: false` with the reason (an invalid event is one of them)."""
    if name == "launch_wave":
        reason = str(result.get("reason", ""))
        status = "rejected" if reason.startswith("invalid ") else "ok" if not result.get("proceed") else "launched"
        return status, reason
    return str(result.get("status")), str(result.get("error", ""))


def _publish_all(cloud: LocalCloud, spy: _Spy, cases: list[Case]) -> dict[str, tuple[Any, Any]]:
    """Publish every case and deliver them; return (what came of it, what must) for each case that differs.
    What comes of a case: each function it reached with its answer, and the ControlRejected answering it."""
    seen = len(cloud.events)
    for n, case in enumerate(cases):
        # an operator command as the operator function itself would send it (signed): the control function still
        # checks everything
        detail = (
            signed(cloud, case.detail_type, case.detail, f"op-case-{n}")
            if case.publisher == OPERATOR_SOURCE
            else case.detail
        )
        cloud.publish(case.detail_type, detail, source=case.publisher)
    cloud.drain()
    differ: dict[str, tuple[Any, Any]] = {}
    for case in cases:
        answers = [case.rejected in answer["reason"] for answer in _answered(cloud, case, seen)]
        # by function, as `_functions` names them (two rules may deliver one event in either order: PlanCancelled
        # reaches the control and archive functions)
        deliveries = sorted((name, *_status(name, result)) for name, result in _delivered(spy, case))
        if case.invalid is not None:
            got = ([(name, status, case.invalid in why) for name, status, why in deliveries], answers)
            expected = (
                [(name, "rejected", True) for name in _functions(case)],
                [True] if case.also_invalid else [],
            )
        else:
            got = ([(name, status) for name, status, _ in deliveries], answers)
            expected = (
                [(name, "ok") for name in _functions(case)],
                [True] if case.rejected is not None else [],
            )
        if got != expected:
            differ[case.name] = (got, expected)
    return differ


def test_forged_events_during_a_run_are_refused_without_side_effects(local_cloud, monkeypatch):
    # GIVEN a live execution: wave 1 launching, wave 2 pending
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan(PLAN))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "LAUNCHING", timeout=60)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)
    commands, published = cloud.ssm.stats.commands_sent, len(cloud.events)
    schedules = dict(cloud._schedules)
    spy = _spy(cloud, monkeypatch)
    cases = _during_run(execution_id)

    # WHEN every forged event of the corpus is published on the bus and delivered
    differ = _publish_all(cloud, spy, cases)

    # THEN each is refused with its specific reason, or dropped by its step
    assert differ == {}
    invalid = sum(len(_functions(c)) for c in cases if c.invalid is not None)
    assert spy.metrics["InvalidEvents"] == invalid
    assert spy.metrics["ControlRejected"] == sum(1 for c in cases if c.rejected is not None)
    # AND nothing happened: no write but the refusals' records, no DRS job, no SSM command, no PlanFailed
    assert ledger_items(cloud) == before
    assert start_recovery_calls(cloud) == calls
    assert cloud.ssm.stats.commands_sent == commands
    assert cloud._schedules == schedules
    forged = {case.key for case in cases}
    answers = [
        e.detail_type
        for e in cloud.events[published:]
        if e.detail_type + json.dumps(_unsigned(e.detail), sort_keys=True) not in forged
    ]
    assert answers == ["ControlRejected"] * spy.metrics["ControlRejected"]
    assert not events_of(cloud, "PlanFailed")
    assert cloud.stats.handler_errors == 0
    assert not cloud.lambdas.errors

    # AND the execution ends as it would have: COMPLETED, every server launched once
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    assert_choreography_invariants(cloud, execution_id)
    assert cloud.drs.stats.launches == {SERVERS["w1"]: 1, SERVERS["w2"]: 1}


def test_events_for_a_finished_execution_change_nothing(local_cloud, monkeypatch):
    # GIVEN an execution that has completed
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan(PLAN))
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"
    before, calls, commands = ledger_items(cloud), start_recovery_calls(cloud), cloud.ssm.stats.commands_sent
    ended, schedules = execution(cloud, execution_id), dict(cloud._schedules)
    spy = _spy(cloud, monkeypatch)
    cases = _after_run(execution_id)

    # WHEN forged events name it (and its waves) afterwards
    differ = _publish_all(cloud, spy, cases)

    # THEN each is refused or dropped, and the finished execution is exactly as it was
    assert differ == {}
    assert spy.metrics["ControlRejected"] == sum(1 for c in cases if c.rejected is not None)
    assert ledger_items(cloud) == before
    assert execution(cloud, execution_id) == ended
    assert cloud._schedules == schedules
    assert (start_recovery_calls(cloud), cloud.ssm.stats.commands_sent) == (calls, commands)
    assert events_of(cloud, "PlanCompleted", execution_id)
    assert not events_of(cloud, "PlanFailed")
    assert cloud.stats.handler_errors == 0
    assert not cloud.lambdas.errors
    assert_choreography_invariants(cloud, execution_id)


# ---- single malformed shapes ---------------------------------------------------------------------


def _live_execution(local_cloud) -> tuple[LocalCloud, str]:
    cloud = local_cloud()
    execution_id = start(cloud, parse_plan(PLAN))
    cloud.run_until(lambda: wave_status(cloud, execution_id, "w1") == "LAUNCHING", timeout=60)
    return cloud, execution_id


def _envelope(detail_type: str, detail: dict[str, Any], source: str = SOURCE) -> dict[str, Any]:
    return envelope(detail_type, detail, source)


def test_a_malformed_start_plan_is_refused_without_creating_anything(local_cloud, monkeypatch):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)
    spy = _spy(cloud, monkeypatch)

    # WHEN StartPlans with an extra field, and with a plan that is not an object, arrive
    cloud.publish("StartPlan", {"plan": PLAN, "executionId": "extra-field", "bogus": 1})
    cloud.publish("StartPlan", {"plan": "not a plan", "executionId": "plan-not-object"})
    cloud.drain()

    # THEN both are rejected (InvalidEvents) and announced with a PlanFailed; nothing is created or launched (the
    # archive function takes each PlanFailed and stores nothing: no execution)
    answers = sorted((name, result["status"], str(result.get("result"))) for name, _, result in spy.results)
    assert answers == [("archive", "ok", "{}")] * 2 + [("start_plan", "rejected", "None")] * 2
    for refused in ("extra-field", "plan-not-object"):
        assert len(events_of(cloud, "PlanFailed", refused)) == 1
        assert execution(cloud, refused) is None
    assert ledger_items(cloud) == before
    assert start_recovery_calls(cloud) == calls
    assert_choreography_invariants(cloud, execution_id)


def test_a_malformed_start_plan_never_takes_a_cut_down_id_of_a_running_execution(local_cloud, monkeypatch):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    spy = _spy(cloud, monkeypatch)

    # WHEN a malformed StartPlan carries an over-long executionId that starts with the running one's
    cloud.publish("StartPlan", {"plan": PLAN, "executionId": execution_id + "x" * 200})
    cloud.drain()

    # THEN it is refused under an id of its own (from its event id), not the running execution's
    [(_, event, result)] = [answer for answer in spy.results if answer[0] == "start_plan"]
    assert result["status"] == "rejected"
    assert [e.detail["executionId"] for e in events_of(cloud, "PlanFailed")] == [f"exec-{event['id']}"]
    assert not events_of(cloud, "ControlRejected")
    assert wait(cloud, execution_id, timeout=60).status == "COMPLETED"


def test_unknown_detail_types_are_rejected_by_every_handler_and_routed_nowhere(local_cloud):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, published, delivered = ledger_items(cloud), len(cloud.events), dict(cloud.stats.delivered)

    # WHEN an event of an unknown detail-type is published on the bus
    cloud.publish("NoSuchEvent", {"executionId": execution_id, "planId": "bad", "waveId": "w1"})
    cloud.drain()

    # THEN no rule routes it anywhere
    assert cloud.stats.delivered == delivered

    # WHEN every event handler is invoked with it directly
    rejected = {}
    # launch_wave is a state machine task and operator the operator endpoint (a Function URL): no event targets
    # (the operator function refuses an EventBridge event: tests/e2e/test_operator_endpoint.py)
    for name in sorted(set(FUNCTIONS) - {"launch_wave", "operator"}):
        result = cloud.lambdas.invoke(name, _envelope("NoSuchEvent", {"executionId": execution_id}))
        rejected[name] = (result["status"], "does not handle" in result["error"])

    # THEN each rejects it, and nothing changed
    assert rejected == dict.fromkeys(rejected, ("rejected", True))
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + 1
    assert_choreography_invariants(cloud, execution_id)


def _publish_launch_result(cloud: LocalCloud, detail: dict[str, Any]) -> None:
    cloud.events_client.put_events(
        Entries=[
            {
                "Source": DRS_SOURCE,
                "DetailType": DRS_LAUNCH_RESULT,
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
        ]
    )


@pytest.mark.parametrize(
    "details",
    [
        pytest.param(
            [
                {"state": "RECOVERY_LAUNCH_SUCCEEDED"},
                {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": 42},
                {"state": "RECOVERY_LAUNCH_FAILED", "job-id": "drsjob-00000000000000009"},
            ],
            id="no-job-id,job-id-not-a-string,unknown-job",
        ),
        pytest.param(
            [{"state": "RECOVERY_LAUNCH_FAILED", "job-id": "drsjob-x"}],
            id="malformed-job-id",
        ),
    ],
)
def test_a_drs_launch_result_naming_no_job_of_ours_is_dropped(local_cloud, monkeypatch, details):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, published = ledger_items(cloud), len(cloud.events)
    spy = _spy(cloud, monkeypatch)

    # WHEN aws.drs Launch Result events that name no job of ours reach the default bus
    for detail in details:
        _publish_launch_result(cloud, detail)
    cloud.drain()

    # THEN the job watcher drops each without an error (no retry, no dead letter), and nothing changed
    assert [name for name, _, _ in spy.results] == ["job_watcher"] * len(details)
    assert cloud.stats.handler_errors == 0
    assert ledger_items(cloud) == before
    assert len(cloud.events) == published + len(details)
    assert_choreography_invariants(cloud, execution_id)


def test_a_malformed_pre_launch_done_ends_the_launch_execution_without_launching(local_cloud):
    # GIVEN a live execution
    cloud, execution_id = _live_execution(local_cloud)
    before, calls = ledger_items(cloud), start_recovery_calls(cloud)

    # WHEN a PreLaunchDone without executionId (the wave-launch state machine's trigger) arrives
    cloud.publish("PreLaunchDone", {"planId": "bad", "waveId": "w2"})
    cloud.drain()  # raises when a wave-launch execution fails

    # THEN it is dropped: the execution succeeds without launching or writing anything
    assert start_recovery_calls(cloud) == calls
    assert ledger_items(cloud) == before
    assert_choreography_invariants(cloud, execution_id)
