"""Pre-launch and post-launch scripts on SSM Run Command, run one after another without waiting anywhere.

A phase runs its scripts in plan order (post-launch: the `postLaunch` scripts, then the `healthCheck`).
Each script is one item in the ledger (`SCRIPT#<wave>#<attempt>#<phase>#<index>`):

- **start**: the item is claimed (status SENDING) before anything is sent, so a duplicated event never
  sends a command twice; the targets are resolved now (instance ids; tags, resolved by SSM; the recovery
  instances of a wave, from the ledger and DescribeRecoveryInstances), the parameters' `${{ ... }}` references
  are resolved from the ledger (`parameter_values.resolve_parameters`: an empty value fails the step unsent,
  with the reason, no retry; the resolved values go on the item with the send), the run context is added to
  every parameter the document declares (ExecutionId, PlanId, WaveId, Mode, RecoveryInstances,
  executionTimeout), and SendCommand goes out in calls of at most 50 instances. The item goes RUNNING
  with the command ids, and an index item per command (`CMD#<id>`) maps SSM events back to it.
  A transient error on the way (DRS or SSM throttling while resolving the targets or sending) does not
  fail the handler: the try stays SENDING, handed to a `resend` tick (15 s, doubling to 5 minutes, at
  most MAX_RESENDS times) that claims it once, adopts the commands an interrupted send left (found by
  their comment) and sends the rest; after the last resend the try fails with the error as its reason.
- **completion**: the aws.ssm "EC2 Command Invocation Status-change Notification" events count the
  finished invocations (once per instance); scheduler poll ticks (5 s, 10 s, 15 s, then 30 s, then 60 s
  apart) read ListCommandInvocations in case events are lost. A timeout tick at send + timeoutSeconds
  reads the invocations first: those that ended keep their status (lost events never turn a success into
  a timeout); only those still running are cancelled (CancelCommand) and count as TimedOut.
- **verdict**: a failed or timed-out try is sent again after a backoff tick while `retries` allow; then
  the script ends (its summary is appended to the wave's `scripts` once, in the same transaction).
  onFailure WARN records a warning and the phase goes on; FAIL (and any failed health check, whatever
  its onFailure: it is a gate) fails the wave. After the last script the phase publishes PreLaunchDone
  or PostLaunchDone with the summaries and warnings.

A **WAIT** step (`type: WAIT, seconds: N`) is a script item like the others, sent to no one: its claim (SENDING,
once under duplicated events) goes RUNNING at once with no command, its `deadline` at claim + seconds, and ONE
scheduler tick (purpose `timeout`, whole seconds, never early) at that deadline concludes it Success and starts
what follows (a redelivery of the claiming event arms the same tick again, by its name). No poll tick, no SSM
call; a tick earlier than the deadline (by more than TIMEOUT_EARLY_SECONDS), or one after the execution has
ended or the wave has left the phase, concludes nothing. A wait cannot fail: it has no retries, timeout or
onFailure. A pause lets it run out. A cancel ends it at once (`end_waits`): Cancelled, its tick deleted, the steps
after it not started, its phase's Done published (a wait claimed after the cancel ends so as soon as it is claimed),
so the cancelled plan closes now rather than when the wait would have ended.

A **LAMBDA** step (`type: LAMBDA, functionName: F`) is a script item too, claimed and concluded here: its send is
one asynchronous Invoke of an allowed function and its completion is Lambda's destination record on the bus
(`orchestrator.steps.lambda_steps`); its only tick is its timeout. Retries, onFailure and health checks are as above.
An **SSM_AUTOMATION** step (`orchestrator/steps/automation.py`) is a script item too, whose try is one Automation
runbook execution instead of commands: its start, its completion (the Automation status-change event, the same poll
ticks) and its timeout branch off `_send`, `_check` and `_time_out`; a cancel stops it as it cuts a wait short.

A step that cannot run (targets that resolve to nothing: a tag that matches no managed instance, a wave
without launched instances; a document SSM does not have; every send refused) is a failed try: a
required one (onFailure FAIL, or a health check) fails its wave, before launch in the pre-launch phase,
with `could not run: why` or SSM's refusal as the reason; a WARN one warns (and is `Skipped` when it had
no target). A pre-launch script whose targets default to its own wave runs on the wave's *previous*
recovery instances (a re-run, a second drill): on a first run it has none, the wave's new instances do
not exist before the launch (`drs-orch validate` warns about it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from events.models import (
    InstanceResult,
    PostLaunchDone,
    PostLaunchTick,
    PreLaunchDone,
    PreLaunchTick,
    ScriptResult,
)
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.lambda_invoke import LambdaError
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.adapters.ssm import TERMINAL_STATUSES, SsmAgentNotReady, SsmError, SsmRejected
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan import Script, ScriptOnFailure, Wave
from orchestrator.domain.plan.documents import CONTEXT_PARAMETERS, AllowList
from orchestrator.domain.plan.model import ScriptType
from orchestrator.domain.ports import SsmPort
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.scripts import (
    FINAL_SCRIPT,
    InvocationResult,
    ScriptId,
    ScriptPhase,
    ScriptRun,
    ScriptSpec,
    ScriptStatus,
    ScriptTry,
    SendDeferral,
    script_name,
)
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.parameter_values import RunContext, Unresolved, resolve_parameters
from orchestrator.steps.targets import wave_runtime
from orchestrator.steps.wave_failure import fail_wave

Phase = ScriptPhase
Purpose = Literal["poll", "timeout", "retry", "resend"]
TIMEOUT_EARLY_SECONDS = 5  # a timeout tick this early is the scheduler's (clock skew); earlier, it is refused
_ResultStatus = Literal["Success", "Failed", "TimedOut", "Cancelled", "Skipped"]  # ScriptResult.status

OUTPUT_EXCERPT = 1_000  # characters of output kept per invocation
SCRIPT_OUTPUT_BUDGET = 200_000  # characters of output of one script's per-instance results
EVENT_INSTANCES = 50  # per-instance results in a PreLaunchDone/PostLaunchDone (ScriptResult.instances)
AGENT_WAIT_SECONDS = 30  # between sends while the targets' SSM agents are not online yet
MAX_RESENDS = 6  # resend ticks of one try after transient failures (each read already retried 6 times)
DEFERRED = "defer:"  # sendKey prefix of a try that waits for its resend tick
REASON_LIMIT = 500  # characters of a try's reason

_S = ScriptStatus
_SENDING: tuple[ScriptStatus, ...] = (_S.SENDING,)
_RUNNING: tuple[ScriptStatus, ...] = (_S.RUNNING,)


def poll_interval(tick: int) -> int:
    """Seconds before poll tick `tick`: 5, 10, 15, then 30 s to the eighth tick, then 60 s."""
    if tick <= 3:
        return 5 * tick
    if tick <= 8:
        return 30
    return 60


def retry_backoff(try_number: int) -> int:
    """Seconds before try `try_number + 1`: 10 s, 20 s, 40 s ... at most 5 minutes."""
    return int(min(10 * 2 ** (try_number - 1), 300))


def resend_backoff(resend: int) -> int:
    """Seconds before resend tick `resend` of a try: 15 s, 30 s, 60 s, 120 s, 240 s, then 5 minutes (the six
    resends span about 13 minutes)."""
    return int(min(15 * 2 ** (resend - 1), 300))


def _deferred_key(try_number: int, resend: int) -> str:
    return f"{DEFERRED}{try_number}:{resend}"


@dataclass(frozen=True)
class _Step:
    script: Script
    health_check: bool


def phase_steps(plan_wave: Wave, phase: Phase) -> list[_Step]:
    if phase == "PRE_LAUNCH":
        return [_Step(s, False) for s in plan_wave.pre_launch]
    steps = [_Step(s, False) for s in plan_wave.post_launch]
    if plan_wave.health_check is not None:
        steps.append(_Step(plan_wave.health_check, True))
    return steps


def _ssm(rt: Runtime) -> SsmPort:
    if rt.ssm is None:
        raise RuntimeError("this runtime has no SSM client")
    return rt.ssm


@dataclass(slots=True)
class _Reads:
    """What one invocation (an event, a tick) has read, passed down its steps: the execution, read once at its
    entry, and the script's wave, read at most once, when a step first needs it (a poll tick that finds its try
    still running never does; a chain of scripts that end at once reads it once)."""

    rt: Runtime
    execution: ExecutionRecord
    _waves: dict[str, WaveRecord | None] = field(default_factory=dict)

    def known(self, wave: WaveRecord) -> None:
        """`wave` was just read by the caller: no step reads it again."""
        self._waves[wave.wave_id] = wave

    def wave(self, wave_id: str) -> WaveRecord | None:
        if wave_id not in self._waves:
            self._waves[wave_id] = self.rt.ledger.wave(self.execution.execution_id, wave_id)
        return self._waves[wave_id]


def _plan_step(execution: ExecutionRecord, script: ScriptId) -> _Step:
    return phase_steps(frozen_plan(execution).wave(script.wave_id), script.phase)[script.index]


def _name(script: ScriptId) -> str:
    """The script's name in the keys of the events it causes (`<name>:next`, `<name>:fail`) and in its
    commands' comment: its ledger sort key, as these have always been made (a redelivery after an upgrade
    makes the same keys, a resend finds the commands an earlier version sent)."""
    return script_name(script.wave_id, script.wave_attempt, script.phase, script.index)


# ---- starting --------------------------------------------------------------------------------------


def run_phase(rt: Runtime, execution: ExecutionRecord, *, wave_id: str, attempt: int, phase: Phase, key: str) -> None:
    """Start the wave's scripts of `phase` (the first one; each ending starts the next); with none, the
    phase's Done event is published at once."""
    plan_wave = frozen_plan(execution).wave(wave_id)
    if not phase_steps(plan_wave, phase):  # nothing ran, nothing to summarise: no need to read the ledger
        _publish_done(rt, execution, wave_id, attempt, phase, results=([], []))
        return
    script = ScriptId(execution_id=execution.execution_id, wave_id=wave_id, wave_attempt=attempt, phase=phase, index=0)
    _start_script(_Reads(wave_runtime(rt, execution, wave_id), execution), script, key=key)


def _start_script(reads: _Reads, script: ScriptId, *, key: str) -> None:
    if not _wave_in_phase(reads, script):
        return
    step = _plan_step(reads.execution, script)
    spec = ScriptSpec(
        id=script,
        plan_id=reads.execution.plan_id,
        document_name=step.script.name,
        on_failure=step.script.on_failure,
        health_check=step.health_check,
        retries=step.script.retries,
        timeout_seconds=step.script.seconds or step.script.timeout_seconds,
    )
    outcome, run = reads.rt.ledger.claim_script(spec, key=key)
    if run is not None and outcome is Outcome.REJECTED:
        _rearm_resend(reads, run, key)
    if run is not None and outcome is Outcome.REPLAY and step.script.is_wait and run.status is _S.RUNNING:
        _arm_wait(reads, run)  # the claim's own redelivery after a crash between its record and its tick
    elif run is not None and outcome is Outcome.REPLAY and _cut_by_cancel(step.script) and run.status is _S.CANCELLED:
        _end_cut_phase(reads, run)  # a crash after the cancel cut it, before its phase's Done went out
    if run is None or outcome is Outcome.REJECTED or run.status is not _S.SENDING:
        logger.info("script already started", wave_id=script.wave_id, phase=script.phase, index=script.index)
        return
    _send(reads, run, try_number=1, key=key, replay=outcome is Outcome.REPLAY)


def _wave_in_phase(reads: _Reads, script: ScriptId) -> bool:
    """The execution has not ended and the script's wave is in its phase, in its attempt."""
    execution, wave = reads.execution, reads.wave(script.wave_id)
    if (
        execution.status in EXECUTION_FINAL
        or wave is None
        or wave.status != script.phase
        or wave.attempt != script.wave_attempt
    ):
        logger.info(
            "script not started: the wave left its phase",
            wave_id=script.wave_id,
            phase=script.phase,
            wave_status=wave.status if wave is not None else None,
            execution_status=execution.status,
        )
        return False
    return True


@dataclass
class _Targets:
    instance_ids: list[str] | None = None
    tags: dict[str, str] | None = None
    skip_reason: str | None = None


def _recovery_instances(
    rt: Runtime, *, recovery_instance_ids: list[str] | None = None, source_server_ids: list[str] | None = None
) -> list[dict[str, Any]]:
    """The live recovery instances with these ids, else those of these source servers (no ids: none)."""
    found: list[dict[str, Any]] = []
    if recovery_instance_ids:
        found = rt.drs.describe_recovery_instances(recovery_instance_ids=recovery_instance_ids)
    elif recovery_instance_ids is None and source_server_ids:
        found = rt.drs.describe_recovery_instances(source_server_ids=source_server_ids)
    return [i for i in found if i.get("ec2InstanceID") and i.get("ec2InstanceState") not in ("TERMINATED",)]


def _launched_instances(rt: Runtime, execution_id: str, wave_id: str) -> list[dict[str, Any]]:
    """The recovery instances a wave launched in this execution (ledger, then DescribeRecoveryInstances)."""
    ids = sorted(
        s.recovery_instance_id
        for s in rt.ledger.wave_servers(execution_id, wave_id).values()
        if s.launched and s.recovery_instance_id
    )
    return _recovery_instances(rt, recovery_instance_ids=ids) if ids else []


def _own_instances(rt: Runtime, execution_id: str, plan_wave: Wave, phase: Phase) -> list[dict[str, Any]]:
    """Post-launch: what the wave launched. Pre-launch: the wave's previous recovery instances, if any."""
    if phase == "POST_LAUNCH":
        return _launched_instances(rt, execution_id, plan_wave.wave_id)
    return _recovery_instances(rt, source_server_ids=plan_wave.server_ids)


def _resolve_targets(rt: Runtime, execution_id: str, plan_wave: Wave, script: Script, phase: Phase) -> _Targets:
    targets = script.run_targets
    if targets.instance_ids:
        return _Targets(instance_ids=list(dict.fromkeys(targets.instance_ids)))
    if targets.tags:
        return _Targets(tags=dict(targets.tags))
    target_wave = targets.wave or plan_wave.wave_id
    if target_wave == plan_wave.wave_id:
        instances = _own_instances(rt, execution_id, plan_wave, phase)
        if not instances:
            why = (
                "its targets default to this wave, whose recovery instances do not exist before the launch"
                if phase == "PRE_LAUNCH"
                else "no server of this wave launched"
            )
            return _Targets(skip_reason=why)
    else:
        instances = _launched_instances(rt, execution_id, target_wave)
        if not instances:
            return _Targets(skip_reason=f"wave '{target_wave}' has no launched recovery instance")
    return _Targets(instance_ids=sorted({str(i["ec2InstanceID"]) for i in instances}))


def _instance_map(instances: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Source server id -> {instanceId, privateIp}: the `RecoveryInstances` parameter."""
    result: dict[str, dict[str, str]] = {}
    for inst in instances:
        ip = ""
        for nic in (inst.get("recoveryInstanceProperties") or {}).get("networkInterfaces", []):
            if nic.get("ips") and (nic.get("isPrimary") or not ip):
                ip = str(nic["ips"][0])
        result[str(inst.get("sourceServerID"))] = {"instanceId": str(inst["ec2InstanceID"]), "privateIp": ip}
    return dict(sorted(result.items()))


def _parameters(
    rt: Runtime, execution: ExecutionRecord, plan_wave: Wave, script: Script, phase: Phase
) -> dict[str, list[str]]:
    """The script's parameters, plus the run context wherever the document declares it. The run context is the
    orchestrator's alone: a value the plan gave one of its names (StartPlan refuses that, but a plan frozen before
    it did is sent as well) is dropped, never sent, so a DRILL cannot tell an instance that it runs in a RECOVERY."""
    declared = _ssm(rt).document_parameters(script.document)
    parameters = {
        name: list(value) if isinstance(value, list) else [value]
        for name, value in script.parameters.items()
        if name not in CONTEXT_PARAMETERS
    }
    if len(parameters) != len(script.parameters):
        logger.warning(
            "plan-written run context dropped",
            execution_id=execution.execution_id,
            wave_id=plan_wave.wave_id,
            names=sorted(set(script.parameters) & CONTEXT_PARAMETERS),
        )
    context = {
        "ExecutionId": execution.execution_id,
        "PlanId": execution.plan_id,
        "WaveId": plan_wave.wave_id,
        "Mode": execution.mode,
        "executionTimeout": str(script.timeout_seconds),
    }
    for name, value in context.items():
        if name in declared:
            parameters[name] = [value]
    if "RecoveryInstances" in declared:
        mapping = _instance_map(_own_instances(rt, execution.execution_id, plan_wave, phase))
        parameters["RecoveryInstances"] = [json.dumps(mapping, separators=(",", ":"), sort_keys=True)]
    return parameters


def _comment(run: ScriptRun, try_number: int) -> str:
    digest = hashlib.sha256(f"{run.execution_id}|{_name(run.id)}|{try_number}".encode()).hexdigest()[:24]
    return f"drs-orch {run.wave_id[:40]} {digest}"


def _send(reads: _Reads, run: ScriptRun, *, try_number: int, key: str, replay: bool) -> None:
    """Resolve, send (or, after a crash or a partial send, adopt the commands already sent), record, arm the
    ticks. A try that cannot run (no target) ends at once; one that meets a transient error (DRS or SSM
    throttling while resolving its targets or sending) waits for a resend tick, up to MAX_RESENDS times."""
    rt, execution = reads.rt, reads.execution
    plan_wave = frozen_plan(execution).wave(run.wave_id)
    step = phase_steps(plan_wave, run.phase)[run.index]
    if step.script.is_wait:
        _start_wait(reads, run, step.script, key=key)
        return
    if step.script.is_lambda:
        lambda_steps.send(reads, run, step.script, try_number=try_number, key=key)
        return
    if _not_allowed(reads, run, step.script, try_number=try_number, key=key):
        return
    resolved = resolve_parameters(step.script.parameters, RunContext.of(rt.ledger, execution, run.wave_id, run.phase))
    if isinstance(resolved, Unresolved):
        _unresolved(reads, run, resolved.reason, try_number=try_number, key=key)
        return
    script = step.script.model_copy(update={"parameters": resolved.parameters})  # the values from the run, resolved
    if script.is_automation:
        sent = replace(run, parameter_values=resolved.values or None)
        automation.start(reads, sent, try_number=try_number, key=key, parameters=resolved.parameters)
        return
    try:
        targets = _resolve_targets(rt, execution.execution_id, plan_wave, script, run.phase)
        if targets.skip_reason:
            _cannot_run(reads, run, try_number, targets.skip_reason, key=key, from_=_SENDING)
            return
        commands = _send_commands(reads, plan_wave, script, run, targets, try_number=try_number, replay=replay)
    except (DrsError, SsmError) as exc:
        _not_sent(reads, run, script, exc, try_number=try_number, key=key)
        return
    sent = replace(run, parameter_values=resolved.values or None)
    _sent(reads, sent, script, targets, commands, try_number=try_number, key=key)


def _start_wait(reads: _Reads, run: ScriptRun, script: Script, *, key: str) -> None:
    """A claimed WAIT step: RUNNING (no command) until its deadline, `seconds` from now, when its one tick comes."""
    # read again after the claim: a cancel accepted since this event's first read cuts the wait now (the cancel's
    # own sweep, `end_waits`, reads the scripts after its write, so one of the two sees the other)
    now = reads.rt.ledger.execution(run.execution_id) or reads.execution
    if now.cancel_requested:
        _cut_wait(replace(reads, execution=now), run, key=key)
        return
    deadline = reads.rt.clock.now() + timedelta(seconds=int(script.seconds or 0))
    if not reads.rt.ledger.record_sent(run.id, try_number=1, key=key, command_ids=[], expected=0, deadline=deadline):
        return
    logger.info("wait step started", wave_id=run.wave_id, phase=run.phase, index=run.index, seconds=script.seconds)
    _arm_wait(reads, replace(run, deadline=deadline.isoformat()))


def _arm_wait(reads: _Reads, run: ScriptRun) -> None:
    """The wait's one tick, at its deadline (its name makes it once)."""
    _schedule(reads, run.id, 1, "timeout", parse_iso(str(run.deadline)))


def _wait_over(reads: _Reads, run: ScriptRun, event_id: str) -> None:
    """A WAIT step's tick (its `timeout` tick; a tick of any other purpose is judged the same: none polls a wait):
    at (or after) its deadline, in an execution still running the wave's phase, it ends the wait Success (once:
    the ledger's RUNNING -> Success write) and starts what follows. Earlier, it concludes nothing."""
    if _early(reads, run) or not _wave_in_phase(reads, run.id):
        return
    logger.info("wait step over", wave_id=run.wave_id, phase=run.phase, index=run.index, deadline=run.deadline)
    _conclude(reads, run, _Ended(run.try_number, _S.SUCCESS, [], None, _RUNNING), key=event_id)


def _early(reads: _Reads, run: ScriptRun) -> bool:
    """A timeout tick before the try's deadline in the ledger (more than TIMEOUT_EARLY_SECONDS: clocks differ) is
    not the scheduler's (a forged or misdirected one): refused (logged, counted), the try's own tick still comes."""
    if run.deadline and reads.rt.clock.now() < parse_iso(run.deadline) - timedelta(seconds=TIMEOUT_EARLY_SECONDS):
        logger.error("timeout tick before the script's deadline refused", wave_id=run.wave_id, deadline=run.deadline)
        metrics.add_metric(name="InvalidEvents", unit="Count", value=1)
        return True
    return False


# ---- a cancel cuts waits short ---------------------------------------------------------------------


def end_waits(rt: Runtime, execution_id: str, *, key: str) -> int:
    """A cancel's sweep (`key`: the CancelPlan's event id): every WAIT step of the execution that is claimed or
    running in its wave's current phase ends at once, Cancelled (a wait sends nothing and holds nothing: it has no
    reason to run out in a plan that will launch nothing more), its tick is cancelled, and its phase ends as after
    its last step (PreLaunchDone or PostLaunchDone: the steps after the wait do not start), so the wave and the
    plan close now. Each wait ends once (the ledger's write from SENDING or RUNNING); a redelivered cancel redoes
    the follow-ups of those it ended (its key), and nothing else. A pause never calls this. Returns how many waits
    this call ended."""
    execution = rt.ledger.execution(execution_id)
    if execution is None or not execution.cancel_requested or execution.status in EXECUTION_FINAL:
        return 0
    plan, ended = frozen_plan(execution), 0
    for wave in rt.ledger.waves(execution_id):
        if wave.status not in ("PRE_LAUNCH", "POST_LAUNCH"):
            continue
        phase = cast("Phase", wave.status.value)
        if not any(_cut_by_cancel(step.script) for step in phase_steps(plan.wave(wave.wave_id), phase)):
            continue  # no wait or runbook in this phase: its scripts are not even read
        reads = _Reads(wave_runtime(rt, execution, wave.wave_id), execution)  # each wave's runbooks in its target
        reads.known(wave)
        for run in rt.ledger.list_scripts(execution_id, wave.wave_id, wave.attempt):
            cut = run.phase == phase and run.status in (_S.SENDING, _S.RUNNING, _S.CANCELLED)
            script = _plan_step(execution, run.id).script
            if cut and script.is_wait:
                ended += _cut_wait(reads, run, key=f"{key}:{_name(run.id)}")
            elif cut and script.is_automation and run.status is not _S.SENDING:
                ended += _cut_wait(reads, run, key=f"{key}:{_name(run.id)}", stop=True)
    return ended


def end_waits_of_failed_wave(rt: Runtime, execution: ExecutionRecord, wave_id: str, *, reason: str, key: str) -> int:
    """After wave `wave_id` failed outside its steps (a handler gave up on one of its events: `handler_failures`),
    each WAIT step of its current attempt still claimed or running ends Cancelled (`cut short: wave W failed:
    reason`), its tick deleted: its tick would conclude nothing in a wave that left its phase, so it would stay
    RUNNING for good. Nothing follows it (the wave has failed: no next step, no phase Done). Once per wait (the
    ledger's write from SENDING or RUNNING; the same `key` again is a no-op). Returns how many this call ended."""
    wave = rt.ledger.wave(execution.execution_id, wave_id)
    if wave is None:
        return 0
    ended, why = 0, f"cut short: wave {wave_id} failed: {reason}"[:REASON_LIMIT]
    for run in rt.ledger.list_scripts(execution.execution_id, wave_id, wave.attempt):
        if run.status not in (_S.SENDING, _S.RUNNING) or not _plan_step(execution, run.id).script.is_wait:
            continue
        outcome = _end_cancelled(rt, run, reason=why, key=f"{key}:{_name(run.id)}")
        if outcome.proceed:
            logger.info("wait step ended: its wave failed", wave_id=wave_id, phase=run.phase, index=run.index)
            ended += outcome is not Outcome.REPLAY
    return ended


def _end_cancelled(rt: Runtime, run: ScriptRun, *, reason: str, key: str) -> Outcome:
    """End a claimed or running step Cancelled with `reason` (once: the ledger's write from SENDING or RUNNING) and,
    when this write (or its replay) proceeds, delete its timeout tick. Returns the ledger's outcome."""
    outcome = rt.ledger.finish_script(
        run,
        try_number=run.try_number,
        from_=(_S.SENDING, _S.RUNNING),
        status=_S.CANCELLED,
        instances=[],
        reason=reason,
        warnings=[],
        key=key,
    )
    if outcome.proceed:
        rt.scheduler.cancel(_tick_name(run.id, run.try_number, "timeout"))
    return outcome


def _cut_by_cancel(script: Script) -> bool:
    """A step a cancel ends at once: a WAIT step, and an SSM_AUTOMATION step (its runbook is stopped). A runbook
    still SENDING (its start in flight) is left to its starter, which sees the cancel after its claim."""
    return script.is_wait or script.is_automation


def _cut_wait(reads: _Reads, run: ScriptRun, *, key: str, stop: bool = False) -> bool:
    """End a claimed or running wait Cancelled (once: from SENDING or RUNNING; the same `key` again redoes what
    follows), cancel its tick and end its phase. Returns whether this key ended it. `stop`: the step is a running
    SSM_AUTOMATION step, whose automation execution is stopped first (StopAutomationExecution; one that has ended
    already is left as it is)."""
    rt, execution = reads.rt, reads.execution
    by = execution.cancelled_by or "an operator"
    reason = f"stopped: the plan was cancelled by {by}" if stop else f"cut short: the plan was cancelled by {by}"
    if stop and run.command_ids:
        _ssm(rt).stop_automation(run.command_ids[0])
    outcome = _end_cancelled(rt, run, reason=reason, key=key)
    if not outcome.proceed:
        return False
    if outcome is not Outcome.REPLAY:
        metrics.add_metric(name="AutomationsStopped" if stop else "WaitsCutShort", unit="Count", value=1)
        logger.info(
            "automation step stopped by the cancel" if stop else "wait step cut short by the cancel",
            wave_id=run.wave_id,
            phase=run.phase,
            index=run.index,
            deadline=run.deadline,
            cancelled_by=execution.cancelled_by,
        )
    _end_cut_phase(reads, run)
    return True


def _end_cut_phase(reads: _Reads, run: ScriptRun) -> None:
    """After a wait was cut short: its phase's Done (again, after a crash: its consumers take it once), while the
    wave is still in that phase."""
    if _wave_in_phase(reads, run.id):
        _publish_done(reads.rt, reads.execution, run.wave_id, run.wave_attempt, run.phase)


def _not_allowed(reads: _Reads, run: ScriptRun, script: Script, *, try_number: int, key: str) -> bool:
    """StartPlan allowed the script's document; the allow-list may have been narrowed since (a redeploy while
    the execution ran). A document it no longer allows is not sent: the script ends FAILED with the reason at
    once (no retry: the list does not change between tries), and its onFailure applies."""
    allowed = AllowList.parse(reads.rt.settings.allowed_ssm_documents)
    if allowed.allows(script.document):
        return False
    document = script.document
    reason = f"SSM document '{document}' is no longer in the SSM document allow-list ({allowed}): not sent"
    reason = reason[:REASON_LIMIT]
    logger.warning("script not sent: its document is no longer allowed", document=script.document)
    ended = _Ended(try_number, _S.FAILED, [], reason, _SENDING)
    _finish(reads, run, ended, _warnings(run, _S.FAILED, reason), key=key)
    return True


def _unresolved(reads: _Reads, run: ScriptRun, why: str, *, try_number: int, key: str) -> None:
    """A parameter's value from the run is empty (or its reference no longer parses): nothing is sent, the script
    ends FAILED with the reason at once (no retry: what the ledger holds of the upstream waves does not change
    between tries), and its onFailure applies."""
    reason = f"not sent: {why}"[:REASON_LIMIT]
    logger.warning("script not sent: a parameter has no value from the run", wave_id=run.wave_id, reason=reason)
    ended = _Ended(try_number, _S.FAILED, [], reason, _SENDING)
    _finish(reads, run, ended, _warnings(run, _S.FAILED, reason), key=key)


def _not_sent(
    reads: _Reads, run: ScriptRun, script: Script, exc: DrsError | SsmError, *, try_number: int, key: str
) -> None:
    """Resolving the targets or sending failed: a transient error defers the try to a resend tick; any other
    fails it (after cancelling what an earlier batch sent: none may run untracked)."""
    if exc.retryable:
        _defer(reads, run, try_number, exc, key=key)
        return
    for command in exc.sent if isinstance(exc, SsmError) else []:
        _ssm(reads.rt).cancel(str(command["CommandId"]))
    logger.warning("script could not be sent", document=script.document, error=str(exc))
    why = "SSM refused it" if isinstance(exc, SsmRejected) else "could not resolve its targets or send"
    _end_try(reads, run, try_number, _S.FAILED, f"{why}: {exc}", key=key, from_=_SENDING)


def _sent(
    reads: _Reads,
    run: ScriptRun,
    script: Script,
    targets: _Targets,
    commands: list[dict[str, Any]],
    *,
    try_number: int,
    key: str,
) -> None:
    """Record the try's commands (SENDING -> RUNNING) and arm its timeout and first poll tick; a tag that
    targeted no instance ends the try at once."""
    rt = reads.rt
    command_ids = [str(c["CommandId"]) for c in commands]
    expected = sum(int(c.get("TargetCount", 0)) for c in commands)
    now = rt.clock.now()
    deadline = now + timedelta(seconds=script.timeout_seconds)
    recorded = rt.ledger.record_sent(
        run.id,
        try_number=try_number,
        key=key,
        command_ids=command_ids,
        expected=expected,
        deadline=deadline,
        tags=targets.tags,
        parameter_values=run.parameter_values,
    )
    if not recorded:
        return
    metrics.add_metric(name="ScriptCommandsSent", unit="Count", value=len(command_ids))
    logger.info(
        "script sent",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        document=script.document,
        commands=len(command_ids),
        instances=expected,
        try_number=try_number,
    )
    if expected == 0:
        sent = replace(run, command_ids=tuple(command_ids), status=_S.RUNNING, try_number=try_number)
        why = f"no managed instance matches the tags {targets.tags}"
        _cannot_run(reads, sent, try_number, why, key=key, from_=_RUNNING)
        return
    _schedule(reads, run.id, try_number, "timeout", deadline, command_id=command_ids[0])
    _schedule(reads, run.id, try_number, "poll", now + timedelta(seconds=poll_interval(1)), tick=1)


def _send_commands(
    reads: _Reads,
    plan_wave: Wave,
    script: Script,
    run: ScriptRun,
    targets: _Targets,
    *,
    try_number: int,
    replay: bool,
) -> list[dict[str, Any]]:
    """The SSM commands of this try: those a crashed or interrupted send left (found by their comment) and
    new ones for the instances they do not cover (every instance in one command per 50)."""
    comment = _comment(run, try_number)
    ssm = _ssm(reads.rt)
    found: list[dict[str, Any]] = []
    if replay:  # this try was claimed before: a crash or a throttled batch may have left commands behind
        since = parse_iso(str(run.claimed_at)) - timedelta(seconds=1)
        found = ssm.find_command(script.document, comment, since)
    if targets.tags is None:
        return _send_to_instances(reads, plan_wave, script, run, targets.instance_ids or [], found, comment)
    return found or ssm.send_command(
        script.document,
        _parameters(reads.rt, reads.execution, plan_wave, script, run.phase),
        tags=targets.tags,
        timeout_seconds=script.timeout_seconds,
        comment=comment,
    )


def _send_to_instances(
    reads: _Reads,
    plan_wave: Wave,
    script: Script,
    run: ScriptRun,
    instance_ids: list[str],
    found: list[dict[str, Any]],
    comment: str,
) -> list[dict[str, Any]]:
    """The commands `found` and new ones for the instances they do not cover. An SsmError carries every
    command sent (`sent`), so that its caller may cancel them."""
    covered = {str(i) for command in found for i in command.get("InstanceIds", [])}
    remaining = [i for i in instance_ids if i not in covered]
    if not remaining:
        return found
    parameters = _parameters(reads.rt, reads.execution, plan_wave, script, run.phase)
    try:
        sent = _ssm(reads.rt).send_command(
            script.document,
            parameters,
            instance_ids=remaining,
            timeout_seconds=script.timeout_seconds,
            comment=comment,
        )
    except SsmError as exc:
        exc.sent = [*found, *exc.sent]
        raise
    return [*found, *sent]


def _end_try(
    reads: _Reads,
    run: ScriptRun,
    try_number: int,
    verdict: ScriptStatus,
    reason: str,
    *,
    key: str,
    from_: tuple[ScriptStatus, ...],
) -> None:
    """A try that ran on no instance (it could not be sent, had no target, or its invocations could not be
    read at its timeout) ends with `verdict` and `reason`: retried, or the script's end."""
    _conclude(reads, run, _Ended(try_number, verdict, [], reason[:REASON_LIMIT], from_), key=key)


def _cannot_run(
    reads: _Reads, run: ScriptRun, try_number: int, why: str, *, key: str, from_: tuple[ScriptStatus, ...]
) -> None:
    """No instance to run on. A required step (onFailure FAIL, or a health check) has failed: its wave fails
    (after its retries, which resolve the targets again). Any other is Skipped with a warning."""
    if run.required:
        _end_try(reads, run, try_number, _S.FAILED, f"could not run: {why}", key=key, from_=from_)
    else:
        _end_try(reads, run, try_number, _S.SKIPPED, why, key=key, from_=from_)


def _defer(
    reads: _Reads, run: ScriptRun, try_number: int, error: DrsError | SsmError | LambdaError, *, key: str
) -> None:
    """A transient error before the try was sent in full: the try stays SENDING and a resend tick tries
    again with backoff; after MAX_RESENDS the try fails with the error as its reason."""
    rt = reads.rt
    resends = (run.resends or 0) if run.resend_try == try_number else 0
    resend = resends + 1
    if isinstance(error, SsmAgentNotReady):  # wait for the agents until the step's own timeout, not a count
        when = rt.clock.now() + timedelta(seconds=min(resend_backoff(resend), AGENT_WAIT_SECONDS))
        timeout = _plan_step(reads.execution, run.id).script.timeout_seconds
        if when > parse_iso(str(run.claimed_at)) + timedelta(seconds=timeout):
            reason = f"its targets were not online managed nodes within its timeout ({timeout} s): {error}"
            _end_try(reads, run, try_number, _S.FAILED, reason, key=key, from_=_SENDING)
            return
    elif resends >= MAX_RESENDS:
        reason = f"could not resolve its targets or send after {resends + 1} attempts: {error}"
        _end_try(reads, run, try_number, _S.FAILED, reason, key=key, from_=_SENDING)
        return
    else:
        when = rt.clock.now() + timedelta(seconds=resend_backoff(resend))
    outcome, deferred = rt.ledger.rekey_send(
        run.id,
        try_number=try_number,
        from_key=key,
        to_key=_deferred_key(try_number, resend),
        deferral=SendDeferral(resend=resend, resend_at=iso(when), deferred_by=key, send_error=str(error)[:500]),
    )
    if outcome is Outcome.REJECTED or deferred is None:
        return
    metrics.add_metric(name="ScriptSendsDeferred", unit="Count", value=1)
    logger.warning(
        "script send deferred after a transient error",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        try_number=try_number,
        resend=resend,
        error=str(error)[:300],
    )
    _rearm_resend(reads, deferred, key)


def _rearm_resend(reads: _Reads, run: ScriptRun, key: str) -> None:
    """Arm the resend tick of a try that `key` deferred (again, after a crash between the two writes: the
    schedule's name makes it once)."""
    send_key = run.send_key or ""
    if run.status is not _S.SENDING or not send_key.startswith(DEFERRED) or run.deferred_by != key:
        return
    _schedule(reads, run.id, run.try_number, "resend", parse_iso(str(run.resend_at)), tick=run.resends or 1)


# ---- ticks -----------------------------------------------------------------------------------------


def _tick_name(script: ScriptId, try_number: int, purpose: str, tick: int = 1) -> str:
    return schedule_name(
        "script",
        purpose,
        script.execution_id,
        script.wave_id,
        str(script.wave_attempt),
        script.phase[:4],
        str(script.index),
        str(try_number),
        str(tick),
    )


def _schedule(
    reads: _Reads,
    script: ScriptId,
    try_number: int,
    purpose: Purpose,
    when: datetime,
    *,
    tick: int = 1,
    command_id: str | None = None,
) -> None:
    model = PreLaunchTick if script.phase == "PRE_LAUNCH" else PostLaunchTick
    if when.microsecond:  # schedules have whole seconds: never fire early (a timeout is at least timeoutSeconds)
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    reads.rt.scheduler.at(
        _tick_name(script, try_number, purpose, tick),
        when,
        model(
            execution_id=script.execution_id,
            plan_id=reads.execution.plan_id,
            wave_id=script.wave_id,
            attempt=script.wave_attempt,
            phase=script.phase,
            index=script.index,
            try_number=try_number,
            purpose=purpose,
            command_id=command_id,
            tick=tick,
        ),
    )


def on_tick(rt: Runtime, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """A poll, timeout, retry or resend tick of one script. A poll or timeout tick of a try that is no longer
    running (concluded, or retried) does nothing."""
    execution = rt.ledger.execution(detail.execution_id)
    if execution is None:
        return
    script = ScriptId(
        execution_id=detail.execution_id,
        wave_id=detail.wave_id,
        wave_attempt=detail.attempt,
        phase=detail.phase,
        index=detail.index,
    )
    run = rt.ledger.get_script(script)
    if run is None:
        return
    reads = _Reads(wave_runtime(rt, execution, run.wave_id), execution)
    running = run.status is _S.RUNNING and run.try_number == detail.try_number
    kind = _plan_step(execution, script).script.type if running else None
    if running and kind is ScriptType.WAIT:
        _wait_over(reads, run, event_id)
    elif running and kind is ScriptType.LAMBDA:
        lambda_steps.on_running_tick(reads, run, detail.purpose, event_id)
    elif detail.purpose == "resend":
        _resend(reads, run, detail, event_id)
    elif detail.purpose == "retry":
        _retry(reads, run, detail, event_id)
    elif run.status is not _S.RUNNING or run.try_number != detail.try_number:
        return
    elif detail.purpose == "timeout":
        _timeout_tick(reads, run, detail, event_id)
    else:
        _poll_tick(reads, run, detail, event_id)


def _retry(reads: _Reads, run: ScriptRun, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """A retry tick: claim the next try (once, whatever the deliveries) and send it."""
    waiting = run.status is _S.RETRY_WAIT and run.try_number == detail.try_number - 1
    replay = run.status is _S.SENDING and run.try_number == detail.try_number and run.send_key == event_id
    if not (waiting or replay):
        _rearm_resend(reads, run, event_id)
        return
    if not _wave_in_phase(reads, run.id):
        return
    outcome, claimed = reads.rt.ledger.claim_retry(run.id, try_number=detail.try_number, key=event_id)
    if claimed is None or outcome is Outcome.REJECTED or claimed.status is not _S.SENDING:
        return
    _send(reads, claimed, try_number=detail.try_number, key=event_id, replay=outcome is Outcome.REPLAY)


def _poll_tick(reads: _Reads, run: ScriptRun, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """A poll tick: conclude the try if its invocations have all ended, else poll again later."""
    try:
        done = _check(reads, run, key=event_id)
    except SsmError as exc:
        if not exc.retryable:
            raise
        logger.warning("script poll throttled: polling again later", wave_id=run.wave_id, error=str(exc)[:300])
        done = False
    if not done:
        when = reads.rt.clock.now() + timedelta(seconds=poll_interval(detail.tick + 1))
        _schedule(reads, run.id, detail.try_number, "poll", when, tick=detail.tick + 1)


def _timeout_tick(reads: _Reads, run: ScriptRun, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """The timeout, unless SSM throttles the reads it needs: then again 30 s later, up to MAX_RESENDS
    times; after that the try counts as TimedOut without its statuses (the script always ends). A timeout tick
    before the try's deadline in the ledger (more than TIMEOUT_EARLY_SECONDS: clocks differ) is not the
    scheduler's (a forged or misdirected one): it cancels and concludes nothing, the try's own tick still comes."""
    if _early(reads, run):
        return
    try:
        _time_out(reads, run, key=event_id)
    except SsmError as exc:
        if not exc.retryable:
            raise
        if detail.tick <= MAX_RESENDS:
            logger.warning("script timeout throttled: trying again", wave_id=run.wave_id, error=str(exc)[:300])
            _schedule(
                reads,
                run.id,
                detail.try_number,
                "timeout",
                reads.rt.clock.now() + timedelta(seconds=30),
                tick=detail.tick + 1,
                command_id=detail.command_id,
            )
            return
        automation = _plan_step(reads.execution, run.id).script.is_automation
        for command_id in run.command_ids:
            with contextlib.suppress(SsmError):
                if automation:
                    _ssm(reads.rt).stop_automation(command_id)
                else:
                    _ssm(reads.rt).cancel(command_id)
        reason = f"did not finish within {run.timeout_seconds} s, and its invocations could not be read: {exc}"
        _end_try(reads, run, run.try_number, _S.TIMED_OUT, reason, key=event_id, from_=_RUNNING)


def _resend(reads: _Reads, run: ScriptRun, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """A resend tick: claim the deferred try (once, whatever the deliveries) and send it again."""
    if run.status is not _S.SENDING or run.try_number != detail.try_number:
        return
    if run.send_key not in (_deferred_key(detail.try_number, detail.tick), event_id):
        _rearm_resend(reads, run, event_id)  # this tick deferred the try again before a crash: arm the next one
        return
    if not _wave_in_phase(reads, run.id):
        return
    outcome, claimed = reads.rt.ledger.rekey_send(
        run.id,
        try_number=detail.try_number,
        from_key=_deferred_key(detail.try_number, detail.tick),
        to_key=event_id,
    )
    if claimed is None or outcome is Outcome.REJECTED:
        return
    _send(reads, claimed, try_number=detail.try_number, key=event_id, replay=True)


# ---- completion ------------------------------------------------------------------------------------


def _finished_invocation(detail: dict[str, Any]) -> tuple[str, str] | None:
    """(command id, instance id) of an aws.ssm invocation status-change event whose invocation has ended;
    None for one that has not, or that names no command or instance (logged)."""
    command_id, instance_id = detail.get("command-id"), detail.get("instance-id")
    if (
        not isinstance(command_id, str)
        or not isinstance(instance_id, str)
        or max(len(command_id), len(instance_id)) > 64
    ):
        logger.warning("SSM status event without command or instance id ignored")
        return None
    if not _has_ended(detail.get("status")):
        return None
    return command_id, instance_id


def on_command_status(rt: Runtime, detail: dict[str, Any], event_id: str) -> None:
    """An aws.ssm invocation status-change event: count the finished invocation; after the last one
    of the try, read the results and conclude."""
    finished = _finished_invocation(detail)
    if finished is None:
        return
    command_id, instance_id = finished
    entry = rt.ledger.command_index(command_id)
    if entry is None:
        logger.debug("SSM command that is not ours", command_id=command_id)
        return
    done = rt.ledger.record_invocation_done(entry.script, try_number=entry.try_number, instance_id=instance_id)
    if done is None or done < entry.expected:
        return  # counted already, or more invocations of this try are still running
    run = rt.ledger.get_script(entry.script)
    execution = rt.ledger.execution(entry.script.execution_id)
    if run is None or execution is None or not _plan_step(execution, run.id).script.runs_document:
        return  # a LAMBDA step's ids are in the index too: its result is its destination event, never SSM's
    _check(_Reads(wave_runtime(rt, execution, run.wave_id), execution), run, key=event_id)


def _has_ended(status: object) -> bool:
    """Is `status` (an invocation's, as SSM or its status event gives it) one in which the invocation has ended?
    Any other value, one SSM may add or one that is not a string at all, means "not yet": the try then ends at
    its timeout, as TimedOut, instead of failing the handler."""
    return isinstance(status, str) and status in TERMINAL_STATUSES


def _invocations(rt: Runtime, run: ScriptRun) -> dict[str, dict[str, Any]]:
    """The try's invocations by instance id, as ListCommandInvocations gives them."""
    found: dict[str, dict[str, Any]] = {}
    for command_id in run.command_ids:
        for invocation in _ssm(rt).invocations(command_id):
            found[str(invocation["InstanceId"])] = invocation
    return found


def _plugin_times(invocation: dict[str, Any], moment: str) -> list[datetime]:
    """When the invocation's plugins started (`ResponseStartDateTime`) or finished (`ResponseFinishDateTime`)."""
    plugins = invocation.get("CommandPlugins") or []
    return [p[moment] for p in plugins if isinstance(p.get(moment), datetime)]


def _instance_result(
    invocation: dict[str, Any] | None, instance_id: str, status: str | None = None
) -> InvocationResult:
    """How the script ended on `instance_id`: `status`, else SSM's ("Pending" when it was never listed).

    Its output is what the instance's SSM agent reported, so whoever controls the instance wrote it: it is kept
    cut to OUTPUT_EXCERPT characters and made inert (`orchestrator.domain.untrusted`: no terminal control
    sequence, lone surrogate or bidirectional override reaches the ledger, the report or a terminal)."""
    if invocation is None:
        return InvocationResult(instance_id=instance_id, status=status or "Pending")
    reported = "".join(str(p.get("Output") or "") for p in invocation.get("CommandPlugins") or [])
    output = inert(reported[:OUTPUT_EXCERPT])
    started = _plugin_times(invocation, "ResponseStartDateTime")
    ended = _plugin_times(invocation, "ResponseFinishDateTime")
    return InvocationResult(
        instance_id=instance_id,
        status=status or str(invocation.get("Status")),
        output=output or None,
        duration_seconds=max(0.0, (max(ended) - min(started)).total_seconds()) if started and ended else None,
    )


def _verdict(statuses: list[str]) -> ScriptStatus:
    for verdict in (_S.FAILED, _S.TIMED_OUT, _S.CANCELLED):
        if verdict in statuses:
            return verdict
    return _S.SUCCESS if statuses else _S.FAILED


def _check(reads: _Reads, run: ScriptRun, *, key: str) -> bool:
    """Conclude the running try if every invocation (or its automation execution) has ended. Returns whether it
    had."""
    if _plan_step(reads.execution, run.id).script.is_automation:
        return automation.check(reads, run, key=key)
    invocations = _invocations(reads.rt, run)
    if len(invocations) < (run.expected or 0) or any(not _has_ended(i.get("Status")) for i in invocations.values()):
        return False
    results = [
        _instance_result(inv, iid, "TimedOut" if _ended_late(inv, run) else None)
        for iid, inv in sorted(invocations.items())
    ]
    _conclude_running(reads, run, results, key=key)
    return True


def _conclude_running(
    reads: _Reads, run: ScriptRun, results: list[InvocationResult], *, key: str, unlisted: int = 0, note: str = ""
) -> None:
    """Conclude the running try with its per-instance results (and `unlisted` invocations SSM never listed,
    TimedOut): its verdict is their worst status; those that timed out make its reason (with `note`)."""
    statuses = [r.status for r in results] + ["TimedOut"] * unlisted
    late = statuses.count("TimedOut")
    total = max(run.expected or 0, len(results))
    reason = f"{late} of {total} invocation(s) did not finish within {run.timeout_seconds} s{note}" if late else None
    _conclude(reads, run, _Ended(run.try_number, _verdict(statuses), results, reason, _RUNNING), key=key)


def _ended_late(invocation: dict[str, Any], run: ScriptRun) -> bool:
    """The invocation finished after the try's deadline (its timeout tick came late, or was overtaken): by
    the plan's timeoutSeconds it timed out, whatever SSM says."""
    if not run.deadline:
        return False
    ended = _plugin_times(invocation, "ResponseFinishDateTime")
    return bool(ended) and max(ended) > parse_iso(run.deadline)


def _cancel_running(rt: Runtime, run: ScriptRun, before: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """At the timeout, cancel the invocations still running (the whole command when one is not listed: the
    ended ones keep their status). Returns the invocations read again (one may have ended just before its
    cancel took effect), and whether anything was cancelled."""
    running: dict[str, list[str]] = {}
    for iid, inv in sorted(before.items()):
        if not _has_ended(inv.get("Status")):
            running.setdefault(str(inv.get("CommandId")), []).append(iid)
    unseen = (run.expected or 0) > len(before)
    if not (running or unseen):
        return before, False
    for command_id in run.command_ids:
        if unseen:
            _ssm(rt).cancel(command_id)
        elif command_id in running:
            _ssm(rt).cancel(command_id, running[command_id])
    return _invocations(rt, run), True


def _result_at_timeout(
    iid: str, invocation: dict[str, Any], before: dict[str, dict[str, Any]], run: ScriptRun
) -> InvocationResult:
    """An invocation that ended in time keeps its status; one still running at the timeout is TimedOut."""
    status = str(invocation.get("Status"))
    was_running = iid not in before or not _has_ended(before[iid].get("Status"))
    ended_in_time = (
        status in ("Success", "Failed") or (not was_running and status in TERMINAL_STATUSES)
    ) and not _ended_late(invocation, run)
    return _instance_result(invocation, iid, None if ended_in_time else "TimedOut")


def _time_out(reads: _Reads, run: ScriptRun, *, key: str) -> None:
    """The plan's timeoutSeconds has passed: read what every invocation really did first (its completion
    event may be lost, and the next poll may be later). An invocation that ended keeps its status; only those
    still running are cancelled, and they (and any invocation SSM never listed) count as TimedOut. An automation
    execution still running is stopped (`orchestrator.steps.automation.time_out`)."""
    if _plan_step(reads.execution, run.id).script.is_automation:
        automation.time_out(reads, run, key=key)
        return
    before = _invocations(reads.rt, run)
    after, cancelled = _cancel_running(reads.rt, run, before)
    results = [_result_at_timeout(iid, inv, before, run) for iid, inv in sorted(after.items())]
    never_listed = max(0, (run.expected or 0) - len(after))
    if never_listed or any(r.status == "TimedOut" for r in results):
        metrics.add_metric(name="ScriptsTimedOut", unit="Count", value=1)
    else:
        logger.info(
            "every invocation had ended by the timeout: its completion was not seen in time",
            wave_id=run.wave_id,
            phase=run.phase,
            index=run.index,
        )
    _conclude_running(reads, run, results, key=key, unlisted=never_listed, note=": cancelled" if cancelled else "")


# ---- verdicts --------------------------------------------------------------------------------------


def _excerpts(instances: Sequence[InvocationResult], budget: int) -> list[InvocationResult]:
    """The results with their outputs cut to at most OUTPUT_EXCERPT characters each and `budget` in all."""
    per_instance = min(OUTPUT_EXCERPT, budget // max(len(instances), 1))
    return [replace(i, output=i.output[:per_instance] or None) if i.output else i for i in instances]


@dataclass(frozen=True)
class _Ended:
    """How a try ended: its number, its verdict, its per-instance results and why, and the statuses its script
    is in while this is written (`from_`: SENDING when it was never sent, else RUNNING)."""

    try_number: int
    verdict: ScriptStatus
    instances: list[InvocationResult]
    reason: str | None
    from_: tuple[ScriptStatus, ...]


def _conclude(reads: _Reads, run: ScriptRun, ended: _Ended, *, key: str) -> None:
    """A try has ended: retry it, or end the script."""
    if ended.verdict is not _S.SUCCESS and ended.try_number <= (run.retries or 0):
        _retry_later(reads, run, ended)
        return
    _finish(reads, run, ended, _warnings(run, ended.verdict, ended.reason), key=key)


def _retry_later(reads: _Reads, run: ScriptRun, ended: _Ended) -> None:
    """The failed try waits (RETRY_WAIT, its result kept) for the retry tick of the next one."""
    rt = reads.rt
    result = ScriptTry(
        try_number=ended.try_number,
        status=ended.verdict,
        command_ids=run.command_ids,
        instances_failed=sum(1 for i in ended.instances if i.status != "Success"),
        ended_at=rt.ledger.now(),
        reason=ended.reason or None,
    )
    outcome = rt.ledger.script_retry_wait(run.id, result=result, from_=ended.from_)
    if not outcome.proceed:
        return
    rt.scheduler.cancel(_tick_name(run.id, ended.try_number, "timeout"))
    when = rt.clock.now() + timedelta(seconds=retry_backoff(ended.try_number))
    _schedule(reads, run.id, ended.try_number + 1, "retry", when)
    logger.info(
        "script try failed: retrying",
        wave_id=run.wave_id,
        document=run.document_name,
        try_number=ended.try_number,
        status=ended.verdict,
    )


def _warnings(run: ScriptRun, verdict: ScriptStatus, reason: str | None) -> list[str]:
    """A skipped step warns; so does a failed one whose onFailure is WARN (a health check fails its wave)."""
    if verdict is _S.SKIPPED:
        return [f"{run.wave_id}: {_step_name(run)} skipped: {reason}"]
    if verdict is not _S.SUCCESS and run.on_failure == ScriptOnFailure.WARN and not run.health_check:
        return [
            f"{run.wave_id}: {_step_name(run)} {verdict}" + (f" ({reason})" if reason else "") + " (onFailure WARN)"
        ]
    return []


def _finish(reads: _Reads, run: ScriptRun, ended: _Ended, warnings: list[str], *, key: str) -> None:
    """End the script (once) with its summary on the wave, then what follows it."""
    rt, status, try_number = reads.rt, ended.verdict, ended.try_number
    outcome = rt.ledger.finish_script(
        run,
        try_number=try_number,
        from_=ended.from_,
        status=status,
        instances=_excerpts(ended.instances, SCRIPT_OUTPUT_BUDGET),
        reason=ended.reason,
        warnings=warnings,
        key=key,
    )
    if not outcome.proceed:
        return
    if run.command_ids:
        rt.scheduler.cancel(_tick_name(run.id, try_number, "timeout"))
    metrics.add_metric(name=f"Scripts{status}", unit="Count", value=1)
    logger.info(
        "script ended",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        document=run.document_name,
        status=status,
        attempts=try_number,
    )
    _after(reads, run, status, ended.reason)


def _after(reads: _Reads, run: ScriptRun, status: ScriptStatus, reason: str | None) -> None:
    """What follows a script: fail the wave, start the next script, or end the phase."""
    rt, execution = reads.rt, reads.execution
    name = _name(run.id)
    if status not in (_S.SUCCESS, _S.SKIPPED) and run.required:
        why = f"{_step_name(run)} {status}" + (f": {reason}" if reason else "")
        fail_wave(
            rt,
            execution,
            run.wave_id,
            from_=[run.phase],
            reason=why[:1000],
            key=f"{name}:fail",
            attempt=run.wave_attempt,
        )
        return
    if run.index + 1 < len(phase_steps(frozen_plan(execution).wave(run.wave_id), run.phase)):
        _start_script(reads, replace(run.id, index=run.index + 1), key=f"{name}:next")
        return
    if _wave_in_phase(reads, run.id):
        _publish_done(rt, execution, run.wave_id, run.wave_attempt, run.phase)


def _step_name(run: ScriptRun) -> str:
    """`pre-launch script #2 fence-db`, `post-launch script #1 smoke-test` or `health check db-health`."""
    if run.health_check:
        return f"health check {run.document_name}"
    phase_name = "pre-launch" if run.phase == "PRE_LAUNCH" else "post-launch"
    return f"{phase_name} script #{run.index + 1} {run.document_name}"


def _script_result(run: ScriptRun) -> ScriptResult:
    """An ended script as its phase's Done event reports it."""
    instances = run.instances or ()
    return ScriptResult(
        phase=run.phase,
        document_name=run.document_name,
        status=cast("_ResultStatus", run.status.value),
        on_failure=(run.on_failure or ScriptOnFailure.FAIL).value,
        attempts=max(1, run.try_number),
        started_at=run.started_at,
        ended_at=run.ended_at,
        index=run.index,
        health_check=True if run.health_check else None,
        reason=run.reason,
        instances=[
            InstanceResult(instance_id=i.instance_id, status=i.status, duration_seconds=i.duration_seconds)
            for i in _event_instances(instances)
        ],
        instance_count=len(instances),
    )


def phase_results(
    rt: Runtime, execution_id: str, wave_id: str, wave_attempt: int, phase: Phase
) -> tuple[list[ScriptResult], list[str]]:
    """The ended scripts of a wave attempt's phase, in plan order, and their warnings."""
    runs = [r for r in rt.ledger.list_scripts(execution_id, wave_id, wave_attempt) if r.phase == phase]
    ended = [r for r in sorted(runs, key=lambda r: r.index) if r.status in FINAL_SCRIPT]
    return [_script_result(r) for r in ended], [w for r in ended for w in r.warnings or ()]


def _event_instances(instances: Sequence[InvocationResult]) -> list[InvocationResult]:
    """The per-instance results an event carries: at most EVENT_INSTANCES, those that did not succeed first
    (an event is limited to 256 KB; the report keeps them all), in their order."""
    first = sorted(range(len(instances)), key=lambda n: instances[n].status == "Success")[:EVENT_INSTANCES]
    chosen = set(first)
    return [i for n, i in enumerate(instances) if n in chosen]


def _publish_done(
    rt: Runtime,
    execution: ExecutionRecord,
    wave_id: str,
    wave_attempt: int,
    phase: Phase,
    *,
    results: tuple[list[ScriptResult], list[str]] | None = None,
) -> None:
    scripts, warnings = results or phase_results(rt, execution.execution_id, wave_id, wave_attempt, phase)
    event = PreLaunchDone if phase == "PRE_LAUNCH" else PostLaunchDone
    rt.bus.publish(
        event(
            execution_id=execution.execution_id,
            plan_id=execution.plan_id,
            wave_id=wave_id,
            attempt=wave_attempt,
            scripts=scripts,
            warnings=warnings,
        )
    )


# ---- for the other step types (orchestrator/steps/automation.py) ---------------------------------------------------

Reads = _Reads
plan_step = _plan_step
ssm_of = _ssm
not_sent = _not_sent
document_parameters = _parameters
own_instances = _own_instances
check = _check
cut_by_cancel = _cut_wait


def cannot_run(reads: _Reads, run: ScriptRun, try_number: int, why: str, *, key: str) -> None:
    """A claimed try that has nothing to run on: failed (a required step) or Skipped with a warning."""
    _cannot_run(reads, run, try_number, why, key=key, from_=_SENDING)


def deadline_of(now: datetime, timeout_seconds: int) -> datetime:
    """When a try sent `now` times out."""
    return now + timedelta(seconds=timeout_seconds)


def arm_ticks(reads: _Reads, run: ScriptRun, try_number: int, deadline: datetime, command_id: str) -> None:
    """A sent try's timeout tick at its deadline and its first poll tick."""
    _schedule(reads, run.id, try_number, "timeout", deadline, command_id=command_id)
    _schedule(reads, run.id, try_number, "poll", reads.rt.clock.now() + timedelta(seconds=poll_interval(1)), tick=1)


def conclude_running(
    reads: _Reads,
    run: ScriptRun,
    verdict: ScriptStatus,
    results: list[InvocationResult],
    *,
    reason: str | None,
    key: str,
) -> None:
    """Conclude the running try with `verdict`, its results and why (cut to REASON_LIMIT): retried, or the end."""
    _conclude(
        reads,
        run,
        _Ended(run.try_number, verdict, results, reason[:REASON_LIMIT] if reason else None, _RUNNING),
        key=key,
    )


# the other step types use this module's helpers: imported once they exist
from orchestrator.steps import automation, lambda_steps  # noqa: E402
