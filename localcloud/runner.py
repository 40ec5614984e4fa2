"""Run one plan on the local cloud: what `drs-orch run`, the tests and the benchmarks share."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from events.envelope import EventTooLarge, put_events_entry
from events.models import SOURCES, Mode, StartPlan
from localcloud.call_record import unattributed
from localcloud.cloud import BUS_NAME, LocalCloud, Stalled
from localcloud.operators import local_caller
from orchestrator.domain.plan import Plan, parse_plan, plan_to_document
from orchestrator.domain.stored_plans import PlanRef, PushResult
from orchestrator.reporting.report import build_report

FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class StartRefused(RuntimeError):
    """The operator endpoint refused a StartPlan (a RECOVERY by a caller who is no recovery principal, ...)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"StartPlan refused by the operator endpoint ({status}): {reason}")
        self.status = status
        self.reason = reason


@dataclass
class RunResult:
    execution_id: str
    status: str
    report: dict[str, Any] | None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # why the run stopped before its execution ended, or why the drill's time-to-live clean-up did not finish
    problem: str | None = None
    # the unexpected exception behind `problem` (None for a stall or a timeout): its traceback goes to a log
    error: BaseException | None = None

    @property
    def exit_code(self) -> int:
        """0: the plan completed (and, for a drill with a time to live, its clean-up finished); 2: its
        StartPlan was rejected (nothing ran); 1: anything else (failed, cancelled, stalled, timed out,
        interrupted, the clean-up did not finish)."""
        if self.status == "COMPLETED" and self.problem is None:
            return 0
        return 2 if self.status == "REJECTED" else 1


def new_execution_id(plan_id: str) -> str:
    return f"{plan_id[:40]}-{uuid.uuid4().hex[:12]}"


def push(cloud: LocalCloud, plan: Plan) -> PushResult:
    """Store `plan` in the cloud's plan store as `drs-orch plan push` does (a new version, or the latest one when
    the document is unchanged)."""
    with unattributed():  # the operator's own call, not a function's
        return cloud.plan_store().push(plan.plan_id, plan_to_document(plan))


def _check_size(detail: dict[str, Any], requested_by: str) -> None:
    """EventTooLarge when the StartPlan's PutEvents entry is over EventBridge's limit. A detail that is no StartPlan
    at all (the bad-input tests send such) is left for the StartPlan function to refuse, as on AWS."""
    try:
        event = StartPlan.model_validate({**detail, "requestedBy": requested_by})
    except ValidationError:
        return
    try:
        put_events_entry(event, BUS_NAME)
    except EventTooLarge:
        raise
    except ValueError:  # not JSON (NaN): PutEvents refuses it, which the bad-input tests expect to see happen
        return


def start(
    cloud: LocalCloud,
    plan: Plan | dict[str, Any],
    *,
    mode: Mode = Mode.DRILL,
    execution_id: str | None = None,
    requested_by: str = "drs-orch",
    confirm: bool = False,
    plan_ref: PlanRef | None = None,
    declared_at: str | None = None,
) -> str:
    """Register the plan's servers in the simulator (replicating, healthy unless the profile says
    otherwise) and start the plan as a user does: a DRILL's StartPlan published on the bus (PutEvents), a
    RECOVERY's sent through the operator endpoint as the local caller `requested_by` (`local_caller`: a bare
    name is a session of the local role). Raises StartRefused when the operator endpoint refuses it.

    `plan_ref`: start the stored version it names (pushed before, `push`) instead of carrying the plan: `plan` then
    only registers the servers (and gives the id a RECOVERY confirms). Inline, a StartPlan over EventBridge's
    256 KB entry limit raises EventTooLarge before anything is published, as PutEvents would refuse it on AWS
    (moto's EventBridge does not). `declared_at`: the StartPlan's declaredAt (ISO; default: none, the disaster is
    declared when StartPlan is handled)."""
    document = plan_to_document(plan) if isinstance(plan, Plan) else plan
    if isinstance(plan, Plan):
        _register_servers(cloud, plan)
    execution_id = execution_id or new_execution_id(str(document.get("planId", "plan")))
    what: dict[str, Any] = (
        {"plan": document}
        if plan_ref is None
        else {"planRef": {"planId": plan_ref.plan_id, "version": plan_ref.version}}
    )
    detail: dict[str, Any] = {**what, "executionId": execution_id, "mode": mode.value}
    if mode is Mode.RECOVERY and confirm:
        detail["confirmRecovery"] = document.get("planId")
    _check_size(detail, requested_by)
    if declared_at is not None:
        detail["declaredAt"] = declared_at
    if mode is Mode.RECOVERY:
        reply = cloud.operate("StartPlan", detail, caller=local_caller(requested_by))
        if not reply.accepted:
            raise StartRefused(reply.status, reply.error)
    else:
        cloud.publish("StartPlan", {**detail, "requestedBy": requested_by})
    return execution_id


def start_failback(
    cloud: LocalCloud,
    recovery_execution_id: str,
    *,
    drill: bool = False,
    confirm_plan_id: str | None = None,
    requested_by: str = "drs-orch",
    reprotect: bool | None = None,
    failback_execution_id: str | None = None,
) -> str:
    """Fail back a completed RECOVERY as a user does: a real failback through the operator endpoint as the local
    caller `requested_by` (confirmed with `confirm_plan_id`), a failback drill published on the bus. The failback
    execution's id (the command's, else `failback-<recovery id>`, `failback-drill-<...>` for a drill). Raises
    StartRefused when the operator endpoint refuses it; a refusal of the orchestrator's own is a ControlRejected
    (`failback_refusals`)."""
    detail: dict[str, Any] = {"executionId": recovery_execution_id, "drill": drill}
    if confirm_plan_id is not None:
        detail["confirmFailback"] = confirm_plan_id
    if reprotect is not None:
        detail["reprotect"] = reprotect
    if failback_execution_id is not None:
        detail["failbackExecutionId"] = failback_execution_id
    if drill:
        cloud.publish("Failback", {**detail, "requestedBy": requested_by})
    else:
        reply = cloud.operate("Failback", detail, caller=local_caller(requested_by))
        if not reply.accepted:
            raise StartRefused(reply.status, reply.error)
    from events.models import Failback
    from orchestrator.steps.failback import failback_execution_id as default_id

    return default_id(Failback.model_validate({**detail, "requestedBy": requested_by}))


def failback_refusals(cloud: LocalCloud, recovery_execution_id: str) -> list[str]:
    """The reasons of the ControlRejected answers to Failback commands of this recovery, in order."""
    return [
        str(e.detail.get("reason"))
        for e in cloud.events
        if e.detail_type == "ControlRejected"
        and e.detail.get("command") == "Failback"
        and e.detail.get("executionId") == recovery_execution_id
    ]


def run_failback(
    cloud: LocalCloud,
    recovery_execution_id: str,
    *,
    timeout: float = 300.0,
    on_progress: Callable[[], None] | None = None,
    **options: Any,
) -> RunResult:
    """`start_failback`, then run until the failback execution ends (or the Failback is refused: status
    REJECTED, the reasons as `problem`), and report it."""
    refused = len(failback_refusals(cloud, recovery_execution_id))
    failback_id = start_failback(cloud, recovery_execution_id, **options)

    def done() -> bool:
        return cloud.execution_finished(failback_id) or len(failback_refusals(cloud, recovery_execution_id)) > refused

    cloud.run_until(done, timeout=timeout, on_progress=on_progress)
    cloud.drain()
    reasons = failback_refusals(cloud, recovery_execution_id)[refused:]
    if reasons and not cloud.execution_finished(failback_id):
        return RunResult(failback_id, "REJECTED", None, [], "; ".join(reasons))
    return result_of(cloud, failback_id)


def _register_servers(cloud: LocalCloud, plan: Plan) -> None:
    """Each wave's servers in the DRS simulator of its target (issue #15: the account and Region it recovers in; the
    own account's without one). A target the profile does not set up gets none: DRS there answers as uninitialized."""
    for wave in plan.waves:
        target = getattr(wave, "target", None)
        if target is None:
            cloud.drs.ensure_servers(wave.server_ids)
            continue
        try:
            simulator = cloud.drs_for(target.account_id, target.region)
        except KeyError:
            continue
        simulator.ensure_servers(wave.server_ids)


def rejected_start(cloud: LocalCloud, execution_id: str) -> list[dict[str, Any]]:
    return [
        e.detail
        for e in cloud.events
        if e.detail_type == "PlanFailed"
        and e.detail.get("executionId") == execution_id
        and cloud.ledger is not None
        and cloud.ledger.get_execution(execution_id) is None
    ]


def result_of(
    cloud: LocalCloud, execution_id: str, *, problem: str | None = None, error: BaseException | None = None
) -> RunResult:
    """The execution as the ledger holds it now (ended or not), with the events published for it."""
    rejected = rejected_start(cloud, execution_id)
    if rejected:
        return RunResult(execution_id, "REJECTED", None, rejected, problem, error)
    assert cloud.ledger is not None
    events = [
        {"detailType": e.detail_type, "time": e.time, "waveId": e.wave_id}
        for e in cloud.events
        if e.detail.get("executionId") in (execution_id, None) and e.source in SOURCES
    ]
    report = build_report(cloud.ledger, execution_id, events)
    status = report["status"] if report else "UNKNOWN"
    return RunResult(execution_id, status, report, problem=problem, error=error)


def wait(
    cloud: LocalCloud, execution_id: str, *, timeout: float = 300.0, on_progress: Callable[[], None] | None = None
) -> RunResult:
    """Run the cloud until the execution ends (or its start is rejected), then report. Raises what the
    cloud's loop raises (Stalled, TimeoutError, ...); `stopped` turns that into a RunResult."""

    def done() -> bool:
        return cloud.execution_finished(execution_id) or bool(rejected_start(cloud, execution_id))

    cloud.run_until(done, timeout=timeout, on_progress=on_progress)
    cloud.drain()
    return result_of(cloud, execution_id)


def what_is_stuck(cloud: LocalCloud, execution_id: str) -> str:
    """One line: the execution's status, its waves grouped by status (in plan order), and the events
    that went to a dead-letter queue (a handler failed on them every time)."""
    assert cloud.ledger is not None
    ledger = cloud.ledger
    execution = ledger.get_execution(execution_id)
    if execution is None:
        return f"execution {execution_id} was never recorded (its StartPlan was not handled)"
    by_status: dict[str, list[str]] = {}
    for wave in ledger.list_waves(execution_id):
        by_status.setdefault(str(wave.get("status")), []).append(str(wave["waveId"]))
    waves = "; ".join(
        f"{'wave' if len(ids) == 1 else 'waves'} {', '.join(ids)} {status}" for status, ids in by_status.items()
    )
    line = f"execution {execution_id} is {execution['status']}" + (f": {waves}" if waves else "")
    dead = {route: count for route, count in cloud.dead_letters().items() if count}
    if dead:
        line += "; dead-lettered events: " + ", ".join(f"{count} on {route}" for route, count in dead.items())
    return line


def stopped(cloud: LocalCloud, execution_id: str, exc: BaseException, *, timeout: float) -> RunResult:
    """The RunResult of a run whose loop raised `exc` before the execution ended: what the ledger holds,
    and a `problem` saying what is stuck."""
    try:
        stuck = what_is_stuck(cloud, execution_id)
    except Exception as inner:  # the cloud itself is broken: say so, keep the first error
        stuck = f"its state could not be read ({type(inner).__name__}: {inner})"
    error: BaseException | None = None
    if isinstance(exc, Stalled):
        problem = f"the run stalled: nothing is running or scheduled, and {stuck}"
    elif isinstance(exc, TimeoutError):
        problem = f"the run did not end within {timeout:.0f} s of real time (--timeout): {stuck}"
    elif isinstance(exc, KeyboardInterrupt):
        problem = f"interrupted: {stuck}"
    else:
        problem = f"the local cloud failed ({type(exc).__name__}: {exc}): {stuck}"
        error = exc
    try:
        return result_of(cloud, execution_id, problem=problem, error=error)
    except Exception:
        return RunResult(execution_id, "UNKNOWN", None, problem=problem, error=error or exc)


def drill_ttl(cloud: LocalCloud, execution_id: str) -> int | None:
    """The time to live of a DRILL execution (None: a recovery, or no time to live; see
    orchestrator.domain.execution.drill_ttl_seconds)."""
    from orchestrator.domain.execution import drill_ttl_seconds

    assert cloud.ledger is not None
    execution = cloud.ledger.get_execution(execution_id)
    return None if execution is None else drill_ttl_seconds(execution)


def _ttl_terminations(cloud: LocalCloud, execution_id: str) -> int:
    assert cloud.ledger is not None
    return sum(1 for t in cloud.ledger.list_terminations(execution_id) if t.get("reason") == "TIME_TO_LIVE")


def _ttl_tick_pending(cloud: LocalCloud, execution_id: str) -> bool:
    return any(
        detail_type == "TerminationTick"
        and detail.get("executionId") == execution_id
        and detail.get("reason") == "TIME_TO_LIVE"
        for _, detail_type, detail in cloud.pending_schedules()
    )


def finish_drill_cleanup(
    cloud: LocalCloud, result: RunResult, *, timeout: float = 300.0, on_progress: Callable[[], None] | None = None
) -> RunResult:
    """A drill with `defaults.drillInstanceTtlSeconds` that has ended: run the simulated clock on until its
    time-to-live termination has been done (the tick fired after the plan ended, the termination is
    recorded and no re-check is left), then report again. Idle gaps are jumped, never paced: nobody
    watches a drill's instances wait out their time to live. The plan's own times and duration do not
    change. When nothing is left to do before that (the tick found nothing running), the cloud is idle
    and that is the end too."""
    execution_id = result.execution_id
    if result.status not in FINAL or result.problem or not drill_ttl(cloud, execution_id):
        return result
    before = _ttl_terminations(cloud, execution_id)

    def done() -> bool:
        return _ttl_terminations(cloud, execution_id) > before and not _ttl_tick_pending(cloud, execution_id)

    paced, cloud.pace = cloud.pace, False
    problem, error = None, None
    try:
        cloud.run_until(done, timeout=timeout, on_progress=on_progress)
    except Stalled:
        pass  # nothing left to run or schedule: the time to live found nothing more to terminate
    except TimeoutError:
        problem = (
            f"the drill's time-to-live clean-up did not finish within {timeout:.0f} s of real time "
            "(--timeout); its instances may still run: drs-orch cleanup EXECUTION"
        )
    except Exception as exc:
        problem, error = f"the drill's time-to-live clean-up failed ({type(exc).__name__}: {exc})", exc
    finally:
        cloud.pace = paced
    if error is None:
        cloud.drain()
    return result_of(cloud, execution_id, problem=problem, error=error)


def run_plan(
    cloud: LocalCloud,
    plan: Plan | dict[str, Any],
    *,
    mode: Mode = Mode.DRILL,
    confirm: bool = False,
    timeout: float = 300.0,
    on_progress: Callable[[], None] | None = None,
    stored: bool = False,
) -> RunResult:
    """Start `plan` and wait for its end. `stored`: push it to the plan store first and start it by reference."""
    plan_ref = None
    if stored:
        plan = plan if isinstance(plan, Plan) else parse_plan(plan)
        pushed = push(cloud, plan)
        plan_ref = PlanRef(pushed.plan_id, pushed.version)
    execution_id = start(cloud, plan, mode=mode, confirm=confirm, plan_ref=plan_ref)
    return wait(cloud, execution_id, timeout=timeout, on_progress=on_progress)
