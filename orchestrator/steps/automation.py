"""SSM_AUTOMATION steps: an SSM Automation runbook run in the account, as one try of a script step.

The step lives in the ledger as every script step does (`orchestrator.steps.scripts`): claimed (SENDING) before
anything is sent, so a duplicated event never starts it twice; sent; ended by its verdict, retried while `retries`
allow; WARN or FAIL. What differs is what one try is:

- **start**: the runbook's parameters are the plan's, the run context wherever the runbook declares it (ExecutionId,
  PlanId, WaveId, Mode, RecoveryInstances, executionTimeout, as for a document) and, when the step names a
  `recoveryInstancesParameter`, the EC2 instance ids of the wave's recovery instances in that parameter (none: the
  try cannot run, as a script without targets). StartAutomationExecution carries a ClientToken derived from the
  try (execution, wave, attempt, phase, index, try number: a UUID, botocore's IdempotencyToken): a crash between
  the call and its record, and the resend or redelivery that follows, get the same execution back from SSM instead
  of a second one. The try goes RUNNING with the automation execution id as its one "command" (`command_ids`, and
  the ledger's index item `CMD#<id>`, by which the status event finds it) and one expected end.
- **completion**: the aws.ssm "EC2 Automation Execution Status-change Notification" event (detail `ExecutionId`,
  `Status`: the AWS Systems Manager user guide, "Amazon EventBridge event examples for Systems Manager") counts the
  end once and reads GetAutomationExecution; the script's poll ticks read it too, in case the event is lost. The
  try's result is one entry, named by the automation execution id, with SSM's status, the runbook's outputs and
  failure message as its output (cut to OUTPUT_EXCERPT characters, made inert: a runbook's outputs may echo what an
  instance or a resource's owner wrote) and its duration.
- **timeout**: at start + timeoutSeconds the execution is read first (one that ended keeps its status); one still
  running is stopped (StopAutomationExecution, Cancel) and the try is TimedOut.

An execution that ended Success (or CompletedWithSuccess) is a successful try; TimedOut, Cancelled and every other
end fail it, with SSM's status and failure message as the reason.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from events.models import AutomationStatusChange
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.ssm import SsmError
from orchestrator.adapters.ssm_automation import AUTOMATION_ENDED, AUTOMATION_SUCCEEDED
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Script, Wave
from orchestrator.domain.plan.documents import AUTOMATION_ROLE_PARAMETER
from orchestrator.domain.records.scripts import InvocationResult, ScriptRun, ScriptStatus, script_name
from orchestrator.domain.untrusted import inert
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import scripts as _scripts
from orchestrator.steps.targets import wave_runtime

#: An Automation parameter holds at most 50 values (botocore's ssm model, AutomationParameterValueList).
MAX_PARAMETER_VALUES = 50
_TOKEN_NAMESPACE = uuid.UUID("6b1d3c52-9f0e-4c1b-8a57-0d2e6f4a9b13")  # ClientTokens of this orchestrator's tries
_S = ScriptStatus
_VERDICTS = {"TimedOut": _S.TIMED_OUT, "Cancelled": _S.CANCELLED}


def client_token(run: ScriptRun, try_number: int) -> str:
    """The try's StartAutomationExecution ClientToken: a UUID made of the execution and the script's try (the same
    try always has the same token; another try, wave attempt or execution never does)."""
    name = script_name(run.wave_id, run.wave_attempt, run.phase, run.index)
    return str(uuid.uuid5(_TOKEN_NAMESPACE, f"{run.execution_id}|{name}|{try_number}"))


def is_automation(reads: _scripts.Reads, run: ScriptRun) -> bool:
    """Is the run's step an SSM_AUTOMATION step (of its execution's frozen plan)?"""
    return _scripts.plan_step(reads.execution, run.id).script.is_automation


# ---- start -----------------------------------------------------------------------------------------


def start(
    reads: _scripts.Reads,
    run: ScriptRun,
    *,
    try_number: int,
    key: str,
    parameters: Mapping[str, str | list[str]] | None = None,
) -> None:
    """Start the runbook of a claimed try (or, after a crash, get its execution back by its ClientToken), record it
    and arm its timeout and first poll. `parameters`: the step's parameters with their values from the run resolved
    (`orchestrator.steps.parameter_values`; None: the plan's as written), recorded with the start as
    `run.parameter_values` says. A try without the recovery instances it needs cannot run; a transient error defers
    it to a resend tick; a refusal (unknown runbook, bad parameters) fails it."""
    # read again after the claim: a cancel accepted since this event's first read ends the step now, unstarted (the
    # cancel's own sweep, `scripts.end_waits`, leaves a claimed step to its starter)
    execution = reads.rt.ledger.execution(run.execution_id) or reads.execution
    if execution.cancel_requested:
        _scripts.cut_by_cancel(replace(reads, execution=execution), run, key=key)
        return
    plan_wave = frozen_plan(execution).wave(run.wave_id)
    script = _scripts.phase_steps(plan_wave, run.phase)[run.index].script
    if parameters is not None:
        script = script.model_copy(update={"parameters": dict(parameters)})
    try:
        sent = _parameters(reads, plan_wave, script, run)
        if isinstance(sent, str):
            _scripts.cannot_run(reads, run, try_number, sent, key=key)
            return
        automation_id = _scripts.ssm_of(reads.rt).start_automation(
            script.document, sent, client_token=client_token(run, try_number)
        )
    except (DrsError, SsmError) as exc:
        _scripts.not_sent(reads, run, script, exc, try_number=try_number, key=key)
        return
    _started(reads, run, script, automation_id, try_number=try_number, key=key)


def _parameters(reads: _scripts.Reads, plan_wave: Wave, script: Script, run: ScriptRun) -> dict[str, list[str]] | str:
    """The runbook's parameters (see the module docstring), or why the try cannot run."""
    parameters = _scripts.document_parameters(reads.rt, reads.execution, plan_wave, script, run.phase)
    parameters.pop(AUTOMATION_ROLE_PARAMETER, None)  # a plan frozen before StartPlan refused it: never sent
    role = reads.rt.settings.automation_assume_role_arn
    if role and AUTOMATION_ROLE_PARAMETER in _scripts.ssm_of(reads.rt).document_parameters(script.document):
        parameters[AUTOMATION_ROLE_PARAMETER] = [role]
    name = script.recovery_instances_parameter
    if name is None:
        return parameters
    instances = _scripts.own_instances(reads.rt, run.execution_id, plan_wave, run.phase)
    ids = sorted({str(i["ec2InstanceID"]) for i in instances})
    if not ids:
        if run.phase == "PRE_LAUNCH":
            return (
                "its recoveryInstancesParameter needs this wave's recovery instances, which do not exist before the "
                "launch"
            )
        return "no server of this wave launched (its recoveryInstancesParameter would be empty)"
    if len(ids) > MAX_PARAMETER_VALUES:
        return (
            f"the wave has {len(ids)} recovery instances: an Automation parameter holds at most {MAX_PARAMETER_VALUES} "
            "values (StartAutomationExecution)"
        )
    parameters[name] = ids
    return parameters


def _started(
    reads: _scripts.Reads, run: ScriptRun, script: Script, automation_id: str, *, try_number: int, key: str
) -> None:
    rt = reads.rt
    now = rt.clock.now()
    deadline = _scripts.deadline_of(now, script.timeout_seconds)
    if not rt.ledger.record_sent(
        run.id,
        try_number=try_number,
        key=key,
        command_ids=[automation_id],
        expected=1,
        deadline=deadline,
        parameter_values=run.parameter_values,
    ):
        return
    metrics.add_metric(name="AutomationsStarted", unit="Count", value=1)
    logger.info(
        "automation started",
        wave_id=run.wave_id,
        phase=run.phase,
        index=run.index,
        runbook=script.document,
        automation_execution_id=automation_id,
        try_number=try_number,
    )
    _scripts.arm_ticks(reads, run, try_number, deadline, automation_id)


# ---- completion ------------------------------------------------------------------------------------


def on_automation_status(rt: Runtime, detail: AutomationStatusChange, event_id: str) -> None:
    """An aws.ssm Automation execution status-change event: once the execution has ended, count its end once (the
    ledger's index item, `CMD#<execution id>`, finds the try; an execution that is not ours is ignored) and
    conclude the try from GetAutomationExecution."""
    if detail.status not in AUTOMATION_ENDED:
        return  # InProgress, Waiting, ...: the end comes later
    automation_id = detail.execution_id
    entry = rt.ledger.command_index(automation_id)
    if entry is None:
        logger.debug("SSM Automation execution that is not ours", automation_execution_id=automation_id)
        return
    done = rt.ledger.record_invocation_done(entry.script, try_number=entry.try_number, instance_id=automation_id)
    if done is None or done < entry.expected:
        return  # counted already (a duplicated event), or the try is no longer running
    run = rt.ledger.get_script(entry.script)
    execution = rt.ledger.execution(entry.script.execution_id)
    if run is None or execution is None:
        return
    _scripts.check(_scripts.Reads(wave_runtime(rt, execution, run.wave_id), execution), run, key=event_id)


def check(reads: _scripts.Reads, run: ScriptRun, *, key: str) -> bool:
    """Conclude the running try if its automation execution has ended (GetAutomationExecution). Returns whether
    it had."""
    found = _scripts.ssm_of(reads.rt).automation_execution(run.command_ids[0])
    status = str(found.get("AutomationExecutionStatus"))
    if status not in AUTOMATION_ENDED:
        return False
    _conclude(reads, run, found, key=key, late=_ended_late(found, run))
    return True


def time_out(reads: _scripts.Reads, run: ScriptRun, *, key: str) -> None:
    """The try's timeoutSeconds has passed: an execution that ended in time keeps its verdict (its event may have
    been lost); one still running is stopped (StopAutomationExecution) and the try is TimedOut."""
    ssm = _scripts.ssm_of(reads.rt)
    automation_id = run.command_ids[0]
    found = ssm.automation_execution(automation_id)
    if str(found.get("AutomationExecutionStatus")) in AUTOMATION_ENDED:
        _conclude(reads, run, found, key=key, late=_ended_late(found, run))
        return
    ssm.stop_automation(automation_id)
    metrics.add_metric(name="ScriptsTimedOut", unit="Count", value=1)
    logger.info("automation stopped at its timeout", wave_id=run.wave_id, automation_execution_id=automation_id)
    _conclude(
        reads,
        run,
        {**ssm.automation_execution(automation_id), "AutomationExecutionStatus": "TimedOut"},
        key=key,
        late=True,
    )


def _ended_late(found: dict[str, Any], run: ScriptRun) -> bool:
    """The execution ended after the try's deadline: by the plan's timeoutSeconds it timed out, whatever SSM says."""
    ended = found.get("ExecutionEndTime")
    return bool(run.deadline) and isinstance(ended, datetime) and ended > parse_iso(str(run.deadline))


def _conclude(reads: _scripts.Reads, run: ScriptRun, found: dict[str, Any], *, key: str, late: bool) -> None:
    # an execution that ended after the plan's timeout (even a success) timed out: the plan said it may not take longer
    status = "TimedOut" if late else str(found.get("AutomationExecutionStatus"))
    verdict = _S.SUCCESS if status in AUTOMATION_SUCCEEDED else _VERDICTS.get(status, _S.FAILED)
    automation_id = run.command_ids[0]
    reason = None
    if verdict is not _S.SUCCESS:
        why = found.get("FailureMessage") or (f"it did not end within {run.timeout_seconds} s" if late else "")
        reason = f"automation {automation_id} {status}" + (f": {why}" if why else "")
    _scripts.conclude_running(reads, run, verdict, [_result(found, automation_id, status)], reason=reason, key=key)


def _result(found: dict[str, Any], automation_id: str, status: str) -> InvocationResult:
    """The try's one result: the automation execution, its status, outputs and failure message (inert, cut to
    OUTPUT_EXCERPT characters) and how long it ran."""
    parts = []
    outputs = found.get("Outputs")
    if isinstance(outputs, dict) and outputs:
        parts.append("outputs: " + json.dumps(outputs, sort_keys=True, separators=(",", ":"), default=str))
    if found.get("FailureMessage"):
        parts.append(f"failure: {found['FailureMessage']}")
    started, ended = found.get("ExecutionStartTime"), found.get("ExecutionEndTime")
    duration = (
        max(0.0, (ended - started).total_seconds())
        if isinstance(started, datetime) and isinstance(ended, datetime)
        else None
    )
    output = inert("; ".join(parts)[: _scripts.OUTPUT_EXCERPT])
    return InvocationResult(instance_id=automation_id, status=status, output=output or None, duration_seconds=duration)
