"""SSM Automation in the local cloud: runbooks (schemaVersion 0.3) executed step by step over simulated time.

The SSM simulator (:mod:`localcloud.ssm_sim`) owns one :class:`AutomationEngine` and routes
StartAutomationExecution, GetAutomationExecution, StopAutomationExecution and DescribeAutomationExecutions to
it; it advances the engine with its own transitions (``next_due``/``process_due``), so the cloud's loop jumps
the clock to the moment an automation step is due as it does for a Run Command invocation. Nothing sleeps.

What a runbook may do here (the subset the ready runbooks and plans use):

- ``mainSteps`` run in order; a step's ``nextStep`` jumps, ``isEnd: true`` ends the execution after it,
  ``onFailure`` is ``Abort`` (the default: the execution fails), ``Continue`` or ``step:NAME``, ``maxAttempts``
  (default 1) runs a failed step again at once, ``timeoutSeconds`` bounds a waiting step.
- Inputs are interpolated: ``{{ Param }}`` (a runbook parameter, with its default), ``{{ step.Output }}`` (an
  output of an earlier step) and ``{{ automation:EXECUTION_ID }}``; an input that is exactly one reference takes
  the value's own type (a StringList stays a list), one inside a longer string is joined with commas.
- Actions: ``aws:sleep`` (``Duration`` PTnHnMnS or ``Timestamp``), ``aws:executeAwsApi`` (a boto3 call on the
  local cloud's moto; ``Outputs`` by ``Selector`` ``$.Path[0].Key``), ``aws:waitForAwsResourceProperty`` (the
  same call every POLL_SECONDS until ``PropertySelector`` is one of ``DesiredValues``, else TimedOut at the step's
  timeout), ``aws:assertAwsResourceProperty`` (one call, Failed unless it is) and ``aws:runCommand`` (the
  simulator's own SendCommand, followed until its invocations end) and ``aws:loop`` in its "for each" form
  (``Iterators``, a StringList of at most ``MaxIterations``, default and AWS maximum 100: its ``Steps`` run in
  order once per item, ``{{ loopStep.CurrentIteratorValue }}`` and ``{{ loopStep.CurrentIteration }}`` naming the
  item and its 1-based number; a failing inner step fails the loop and so the execution unless the inner step says
  ``onFailure: Continue``; ``nextStep``/``isEnd``/``step:`` jumps inside a loop and the "do while" form
  (``LoopCondition``) are not simulated and fail the step), and ``aws:branch`` (the first of its ``Choices`` whose
  ``Variable`` ``StringEquals``, ``BooleanEquals`` or ``NumericEquals`` its value, else ``Default``, names the next
  step; none matching and no Default fails the step; ``And``/``Or``/``Not`` are not simulated). Any other action
  fails the execution with ``unsupported action``: a runbook the simulator cannot run never passes by accident.
- An execution's status goes InProgress -> Success | Failed | TimedOut | Cancelled, each change emitted on the
  local bus as aws.ssm "EC2 Automation Execution Status-change Notification" (detail ExecutionId, Definition,
  DefinitionVersion, Status, StartTime, EndTime, Time: the AWS Systems Manager user guide's "Amazon EventBridge
  event examples for Systems Manager"). ``StopAutomationExecution`` cancels a running one at once.
- StartAutomationExecution checks the values against the runbook's declared ``parameters`` as SSM does: an
  undeclared parameter, a missing one without a default, a value outside ``allowedValues`` or not matching
  ``allowedPattern`` (each item of a StringList), more than one value for a String/Integer/Boolean, or an Integer
  or Boolean that is not one, answers InvalidAutomationExecutionParametersException and starts nothing.
- ``ClientToken`` (a UUID, botocore's IdempotencyToken) makes a start idempotent: the same token answers the same
  execution, with other arguments IdempotentParameterMismatch.

Fidelity notes (our choices): rate control (``Targets``/``TargetParameterName``) and approvals are not simulated
(ValidationException); every execution runs as the local cloud's one account; a profile may make a runbook's step
fail (``failSteps``, a fault) before it runs.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from localcloud.ssm_sim_wire import SsmError
from orchestrator.domain.clock import Clock, iso, parse_iso

AUTOMATION_DETAIL_TYPE = "EC2 Automation Execution Status-change Notification"
POLL_SECONDS = 5  # a waitForAwsResourceProperty or runCommand step looks again this often (simulated seconds)
DEFAULT_WAIT_TIMEOUT = 3600  # timeoutSeconds of a waiting step that sets none
MAX_LOOP_ITERATIONS = 100  # aws:loop's MaxIterations default and maximum (the aws:loop action reference)
MAX_OUTPUT_CHARS = 2_000  # characters of one output value (AutomationParameterValue is at most 512 per item)
TERMINAL = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}")
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
_SELECTOR_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
_WAIT_ACTIONS = frozenset({"aws:sleep", "aws:waitForAwsResourceProperty", "aws:runCommand"})
_API_KEYS = frozenset({"Service", "Api", "PropertySelector", "DesiredValues"})

ClientFactory = Callable[[str], Any]


class RunCommand(Protocol):
    """What aws:runCommand needs of the Run Command simulator (called under its lock)."""

    def start_command(self, document: str, parameters: dict[str, list[str]], instance_ids: list[str]) -> str: ...

    def command_state(self, command_id: str) -> tuple[str, str]:
        """(status, output) of the command: a terminal status once every invocation has ended."""
        ...

    def cancel_command(self, command_id: str) -> None: ...


class StepFailure(Exception):
    """A step failed (or timed out: `status`), with the message GetAutomationExecution shows."""

    def __init__(self, message: str, status: str = "Failed") -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _StepRun:
    """One step's execution as GetAutomationExecution lists it."""

    name: str
    action: str
    started: datetime
    attempts: int = 1
    status: str = "InProgress"
    ended: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure: str | None = None
    deadline: datetime | None = None  # a waiting step's timeout
    until: datetime | None = None  # aws:sleep's end
    command_id: str | None = None  # aws:runCommand's command
    parent: dict[str, Any] | None = None  # an aws:loop inner step's ParentStepDetails
    next_step: str | None = None  # the step an aws:branch chose


@dataclass
class _Loop:
    """A running aws:loop: its own step run, its spec, the items and where it is (item, inner step)."""

    step: _StepRun
    spec: dict[str, Any]
    items: list[str]
    item: int = 0
    inner: int = 0

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list((self.spec.get("inputs") or {}).get("Steps") or [])


@dataclass
class _Execution:
    execution_id: str
    document: str
    definition: dict[str, Any]
    parameters: dict[str, Any]  # typed values (String -> str, StringList -> list), defaults applied
    sent: dict[str, list[str]]  # as StartAutomationExecution sent them
    started: datetime
    token: str | None
    status: str = "InProgress"
    ended: datetime | None = None
    failure: str | None = None
    index: int = 0
    next_at: datetime | None = None
    steps: list[_StepRun] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # "step.Output" -> value
    loop: _Loop | None = None  # the aws:loop being iterated, if any

    @property
    def main_steps(self) -> list[dict[str, Any]]:
        return list(self.definition.get("mainSteps") or [])


def _default_clients(region: str) -> ClientFactory:
    import boto3

    cache: dict[str, Any] = {}

    def make(service: str) -> Any:
        if service not in cache:
            cache[service] = boto3.session.Session(region_name=region).client(service)
        return cache[service]

    return make


class AutomationEngine:
    """SSM Automation executions over a clock. Not thread-safe by itself: the SSM simulator calls it under its
    lock. `emit` receives each status-change event (a PutEvents entry) as it happens."""

    def __init__(
        self,
        clock: Clock,
        *,
        account_id: str,
        region: str,
        emit: Callable[[dict[str, Any]], None],
        clients: ClientFactory | None = None,
        run_command: RunCommand | None = None,
        fail_steps: dict[str, list[str]] | None = None,
    ) -> None:
        self.clock = clock
        self.account_id = account_id
        self.region = region
        self.emit = emit
        self.clients = clients or _default_clients(region)
        self.run_command = run_command
        self.fail_steps = {name: set(steps) for name, steps in (fail_steps or {}).items()}
        self.runbooks: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, _Execution] = {}
        self._tokens: dict[str, str] = {}
        self._seq = 0

    # ------------------------------------------------------------------ runbooks

    def register_runbook(self, name: str, content: dict[str, Any]) -> None:
        """Add (or replace) an Automation runbook (a schemaVersion 0.3 document as a dict)."""
        if not isinstance(content.get("mainSteps"), list) or not content["mainSteps"]:
            raise ValueError(f"runbook {name}: no mainSteps")
        self.runbooks[name] = content

    # ------------------------------------------------------------------ API

    def start(self, args: dict[str, Any]) -> dict[str, Any]:
        """StartAutomationExecution. Raises SsmError as SSM answers (unknown runbook, bad parameters, a reused
        ClientToken with other arguments, rate control)."""
        name = _runbook_name(str(args["DocumentName"]))
        if args.get("Targets") or args.get("TargetParameterName") or args.get("TargetMaps"):
            raise SsmError("ValidationException", "the SSM simulator does not simulate Automation rate control")
        sent = {str(k): [str(v) for v in values] for k, values in (args.get("Parameters") or {}).items()}
        token = args.get("ClientToken")
        if token:
            known = self._tokens.get(str(token).lower())
            if known is not None:
                earlier = self.executions[known]
                if earlier.document != name or earlier.sent != sent:
                    raise SsmError("IdempotentParameterMismatch", f"ClientToken {token} was used with other arguments")
                return {"AutomationExecutionId": known}
        definition = self.runbooks.get(name)
        if definition is None:
            raise SsmError(
                "AutomationDefinitionNotFoundException", f"Document {name} does not exist or is not Automation"
            )
        parameters = _typed_parameters(name, definition, sent)
        now = self.clock.now()
        self._seq += 1
        execution_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_id}/{name}/{self._seq}/{iso(now)}"))
        execution = _Execution(execution_id, name, definition, parameters, sent, now, token, next_at=now)
        self.executions[execution_id] = execution
        if token:
            self._tokens[str(token).lower()] = execution_id
        self._event(execution, now)
        self._run(execution, now)
        return {"AutomationExecutionId": execution_id}

    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """GetAutomationExecution."""
        return {"AutomationExecution": self._view(self._execution(str(args["AutomationExecutionId"])))}

    def stop(self, args: dict[str, Any]) -> dict[str, Any]:
        """StopAutomationExecution: a running execution is Cancelled at once (its running command cancelled);
        an ended one answers InvalidAutomationStatusUpdateException."""
        execution = self._execution(str(args["AutomationExecutionId"]))
        if execution.status in TERMINAL:
            raise SsmError(
                "InvalidAutomationStatusUpdateException",
                f"Execution {execution.execution_id} is {execution.status}: it cannot be stopped",
            )
        now = self.clock.now()
        step = execution.steps[-1] if execution.steps else None
        if step is not None and step.status == "InProgress":
            if step.command_id and self.run_command is not None:
                self.run_command.cancel_command(step.command_id)
            step.status, step.ended = "Cancelled", now
        if execution.loop is not None:
            execution.loop.step.status, execution.loop.step.ended = "Cancelled", now
            execution.loop = None
        self._end(execution, now, "Cancelled", None)
        return {}

    def describe(self, args: dict[str, Any]) -> dict[str, Any]:
        """DescribeAutomationExecutions, filtered by ExecutionId, DocumentNamePrefix or ExecutionStatus."""
        filters = {str(f["Key"]): [str(v) for v in f["Values"]] for f in args.get("Filters") or []}

        def keep(execution: _Execution) -> bool:
            return (
                execution.execution_id in filters.get("ExecutionId", [execution.execution_id])
                and any(execution.document.startswith(p) for p in filters.get("DocumentNamePrefix", [""]))
                and execution.status in filters.get("ExecutionStatus", [execution.status])
            )

        found = [e for e in self.executions.values() if keep(e)]
        return {"AutomationExecutionMetadataList": [self._metadata(e) for e in found]}

    # ------------------------------------------------------------------ time

    def next_due(self) -> datetime | None:
        """The next moment a running execution moves on."""
        due = [e.next_at for e in self.executions.values() if e.status == "InProgress" and e.next_at is not None]
        return min(due) if due else None

    def process_due(self) -> None:
        """Move every running execution on to `clock.now()` (each from its own due moment, in time order)."""
        now = self.clock.now()
        for execution in sorted(self.executions.values(), key=lambda e: e.next_at or now):
            if execution.status == "InProgress" and execution.next_at is not None and execution.next_at <= now:
                self._run(execution, now)

    # ------------------------------------------------------------------ stepping

    def _run(self, execution: _Execution, now: datetime) -> None:
        """Run steps from `execution.next_at` while they end at once (or were due by `now`)."""
        while execution.status == "InProgress" and execution.next_at is not None and execution.next_at <= now:
            at = execution.next_at
            if execution.loop is None and execution.index >= len(execution.main_steps):
                self._end(execution, at, "Success", None)
                return
            loop = execution.loop
            spec = loop.steps[loop.inner] if loop is not None else execution.main_steps[execution.index]
            step = self._current(execution, spec, at)
            try:
                done_at = self._act(execution, spec, step, at)
            except StepFailure as failure:
                self._step_failed(execution, spec, step, at, failure)
                continue
            if done_at is None:
                continue  # the step waits: next_at was moved on (a later poll may be due by `now` as well)
            self._step_done(execution, spec, step, done_at)

    def _current(self, execution: _Execution, spec: dict[str, Any], at: datetime) -> _StepRun:
        """The current step's run: the one in progress, or a new one started at `at`."""
        last = execution.steps[-1] if execution.steps else None
        if (
            last is not None
            and last.status == "InProgress"
            and (execution.loop is None or last is not execution.loop.step)
        ):
            return last
        step = _StepRun(
            name=str(spec.get("name") or f"step{execution.index + 1}"), action=str(spec.get("action")), started=at
        )
        if execution.loop is not None:
            loop = execution.loop
            step.parent = {
                "StepName": loop.step.name,
                "Action": "aws:loop",
                "Iteration": loop.item + 1,
                "IteratorValue": loop.items[loop.item],
            }
        timeout = spec.get("timeoutSeconds")
        if spec.get("action") in _WAIT_ACTIONS:
            step.deadline = at + timedelta(seconds=int(timeout if timeout is not None else DEFAULT_WAIT_TIMEOUT))
        execution.steps.append(step)
        return step

    def _act(self, execution: _Execution, spec: dict[str, Any], step: _StepRun, at: datetime) -> datetime | None:
        """Run (or look again at) the step at `at`: the moment it ended, or None when it waits (next_at moved).
        Raises StepFailure."""
        if step.name in self.fail_steps.get(execution.document, set()):
            raise StepFailure(f"Step {step.name} failed (simulated fault)")
        raw = dict(spec.get("inputs") or {})
        if step.action == "aws:loop":
            raw.pop("Steps", None)  # the inner steps are interpolated when each runs, with the loop's current item
        inputs = _interpolate(raw, execution)
        step.inputs = inputs if isinstance(inputs, dict) else {}
        action = step.action
        if action == "aws:sleep":
            return self._sleep(execution, step, at)
        if action == "aws:executeAwsApi":
            response = self._call(step.inputs)
            step.outputs = _outputs(spec, response, execution, step.name)
            return at
        if action in ("aws:waitForAwsResourceProperty", "aws:assertAwsResourceProperty"):
            return self._property(execution, step, at, wait=action == "aws:waitForAwsResourceProperty")
        if action == "aws:runCommand":
            return self._command(execution, step, at)
        if action == "aws:loop":
            return self._loop(execution, spec, step, at)
        if action == "aws:branch":
            step.next_step = _branch(step)
            step.outputs = {"NextStep": [step.next_step]}
            return at
        raise StepFailure(f"unsupported action '{action}' in step {step.name} (the SSM simulator does not run it)")

    def _loop(self, execution: _Execution, spec: dict[str, Any], step: _StepRun, at: datetime) -> datetime | None:
        """Start a "for each" aws:loop: its inner steps run next (ended at once when there is nothing to iterate)."""
        if execution.loop is not None:
            raise StepFailure(f"Step {step.name}: an aws:loop inside an aws:loop is not simulated")
        if "LoopCondition" in step.inputs or "Iterators" not in step.inputs:
            raise StepFailure(f"Step {step.name}: only the for-each aws:loop (Iterators) is simulated")
        items = [str(item) for item in _as_list(step.inputs["Iterators"])]
        try:
            limit = int(step.inputs.get("MaxIterations") or MAX_LOOP_ITERATIONS)
        except (TypeError, ValueError) as exc:
            raise StepFailure(f"Step {step.name}: MaxIterations is not an Integer: {exc}") from exc
        if len(items) > min(limit, MAX_LOOP_ITERATIONS):
            raise StepFailure(
                f"Step {step.name}: {len(items)} iterators, more than MaxIterations {limit} (at most 100)"
            )
        inner = (spec.get("inputs") or {}).get("Steps")
        if not isinstance(inner, list) or not inner:
            raise StepFailure(f"Step {step.name}: aws:loop needs Steps")
        for child in inner:
            if any(key in child for key in ("nextStep", "isEnd")) or str(child.get("onFailure", "")).startswith(
                "step:"
            ):
                raise StepFailure(f"Step {step.name}: jumps inside an aws:loop are not simulated")
        if not items:
            return at
        execution.loop = _Loop(step, spec, items)
        self._iteration(execution)
        execution.next_at = at
        return None

    def _iteration(self, execution: _Execution) -> None:
        loop = execution.loop
        assert loop is not None
        execution.values[f"{loop.step.name}.CurrentIteratorValue"] = loop.items[loop.item]
        execution.values[f"{loop.step.name}.CurrentIteration"] = loop.item + 1

    def _next_in_loop(self, execution: _Execution, at: datetime) -> None:
        """An inner step ended (or failed with Continue): the next inner step, the next item, or the loop's end."""
        loop = execution.loop
        assert loop is not None
        execution.next_at = at
        loop.inner += 1
        if loop.inner < len(loop.steps):
            return
        loop.inner, loop.item = 0, loop.item + 1
        if loop.item < len(loop.items):
            self._iteration(execution)
            return
        execution.loop = None
        self._step_done(execution, loop.spec, loop.step, at)

    def _sleep(self, execution: _Execution, step: _StepRun, at: datetime) -> datetime | None:
        if step.until is None:
            step.until = _sleep_until(step.inputs, at)
            step.deadline = None  # a sleep is its own duration
        if at >= step.until:
            return step.until
        execution.next_at = step.until
        return None

    def _property(self, execution: _Execution, step: _StepRun, at: datetime, *, wait: bool) -> datetime | None:
        desired = [str(v) for v in _as_list(step.inputs.get("DesiredValues"))]
        selector = str(step.inputs.get("PropertySelector") or "")
        value = _select(self._call(step.inputs), selector)
        found = [str(v) for v in _as_list(value)] if value is not None else []
        if any(v in desired for v in found):
            return at
        if not wait:
            raise StepFailure(f"Step {step.name}: {selector} is {found or 'absent'}, not one of {desired}")
        return self._wait_again(execution, step, at, f"{selector} did not become one of {desired} (last: {found})")

    def _command(self, execution: _Execution, step: _StepRun, at: datetime) -> datetime | None:
        if self.run_command is None:
            raise StepFailure("aws:runCommand needs the Run Command simulator")
        if step.command_id is None:
            document = str(step.inputs.get("DocumentName") or "")
            instances = [str(i) for i in _as_list(step.inputs.get("InstanceIds"))]
            parameters = {
                str(k): [str(x) for x in _as_list(v)] for k, v in (step.inputs.get("Parameters") or {}).items()
            }
            try:
                step.command_id = self.run_command.start_command(document, parameters, instances)
            except SsmError as exc:
                raise StepFailure(f"Step {step.name}: SendCommand failed: {exc.message}") from exc
            step.outputs = {"CommandId": [step.command_id]}
        status, output = self.run_command.command_state(step.command_id)
        if status in TERMINAL:
            step.outputs = {"CommandId": [step.command_id], "Status": [status], "Output": [output[:MAX_OUTPUT_CHARS]]}
            if status != "Success":
                raise StepFailure(f"Step {step.name}: command {step.command_id} ended {status}")
            return at
        return self._wait_again(execution, step, at, f"command {step.command_id} is still {status}")

    def _wait_again(self, execution: _Execution, step: _StepRun, at: datetime, why: str) -> datetime | None:
        """Look again POLL_SECONDS later, unless the step's timeout is reached first (TimedOut)."""
        deadline = step.deadline or at
        if at >= deadline:
            if step.command_id and self.run_command is not None:
                self.run_command.cancel_command(step.command_id)
            raise StepFailure(
                f"Step {step.name} timed out after {int((deadline - step.started).total_seconds())} s: {why}",
                "TimedOut",
            )
        execution.next_at = min(at + timedelta(seconds=POLL_SECONDS), deadline)
        return None

    def _call(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The boto3 call of an API step: Service, Api and the other inputs as its arguments. Raises StepFailure."""
        service, api = str(inputs.get("Service") or ""), str(inputs.get("Api") or "")
        arguments = {k: v for k, v in inputs.items() if k not in _API_KEYS}
        try:
            client = self.clients(service)
            response = getattr(client, xform_name(api))(**arguments)
        except (ClientError, BotoCoreError, AttributeError, TypeError, ValueError) as exc:
            raise StepFailure(f"{service} {api} failed: {exc}") from exc
        plain: dict[str, Any] = json.loads(json.dumps(response, default=_json_default))
        return plain

    def _step_done(self, execution: _Execution, spec: dict[str, Any], step: _StepRun, at: datetime) -> None:
        step.status, step.ended = "Success", at
        for name, value in step.outputs.items():
            execution.values[f"{step.name}.{name}"] = value if len(value) != 1 else value[0]
        execution.next_at = at
        if execution.loop is not None and step is not execution.loop.step:
            self._next_in_loop(execution, at)
            return
        if spec.get("isEnd"):
            self._end(execution, at, "Success", None)
        elif step.next_step or spec.get("nextStep"):
            execution.index = self._index_of(execution, str(step.next_step or spec["nextStep"]), at)
        else:
            execution.index += 1

    def _step_failed(
        self, execution: _Execution, spec: dict[str, Any], step: _StepRun, at: datetime, failure: StepFailure
    ) -> None:
        step.status, step.ended, step.failure = failure.status, at, str(failure)[:MAX_OUTPUT_CHARS]
        execution.next_at = at
        if step.attempts < int(spec.get("maxAttempts") or 1):
            execution.steps.append(_StepRun(step.name, step.action, at, attempts=step.attempts + 1, parent=step.parent))
            execution.steps[-1].deadline = (at + (step.deadline - step.started)) if step.deadline else None
            return
        on_failure = str(spec.get("onFailure") or "Abort")
        loop = execution.loop
        if loop is not None and step is not loop.step:
            if on_failure == "Continue":
                self._next_in_loop(execution, at)
                return
            execution.loop = None  # the loop inherits its inner step's failure (the aws:loop action reference)
            self._step_failed(execution, loop.spec, loop.step, at, failure)
            return
        if on_failure == "Continue":
            execution.index += 1
        elif on_failure.startswith("step:"):
            execution.index = self._index_of(execution, on_failure.removeprefix("step:"), at)
        else:
            verdict = "TimedOut" if failure.status == "TimedOut" else "Failed"
            self._end(execution, at, verdict, f"Step {step.name} {verdict}: {failure}")

    def _index_of(self, execution: _Execution, name: str, at: datetime) -> int:
        for index, spec in enumerate(execution.main_steps):
            if spec.get("name") == name:
                return index
        self._end(execution, at, "Failed", f"no step named {name}")
        return execution.index

    def _end(self, execution: _Execution, at: datetime, status: str, failure: str | None) -> None:
        if execution.status in TERMINAL:
            return
        execution.status, execution.ended, execution.next_at = status, at, None
        execution.failure = failure[:MAX_OUTPUT_CHARS] if failure else None
        self._event(execution, at)

    def _event(self, execution: _Execution, at: datetime) -> None:
        arn = f"arn:aws:ssm:{self.region}:{self.account_id}"
        detail: dict[str, Any] = {
            "ExecutionId": execution.execution_id,
            "Definition": execution.document,
            "DefinitionVersion": 1.0,
            "Status": execution.status,
            "StartTime": iso(execution.started),
            "Time": round((at - execution.started).total_seconds() * 1000, 1),
        }
        if execution.ended is not None:
            detail["EndTime"] = iso(execution.ended)
        self.emit(
            {
                "Source": "aws.ssm",
                "DetailType": AUTOMATION_DETAIL_TYPE,
                "Resources": [
                    f"{arn}:automation-execution/{execution.execution_id}",
                    f"{arn}:automation-definition/{execution.document}:1",
                ],
                "Time": at,
                "Detail": json.dumps(detail),
            }
        )

    # ------------------------------------------------------------------ views

    def _execution(self, execution_id: str) -> _Execution:
        execution = self.executions.get(execution_id)
        if execution is None:
            raise SsmError("AutomationExecutionNotFoundException", f"Execution {execution_id} does not exist")
        return execution

    def _view(self, execution: _Execution) -> dict[str, Any]:
        view: dict[str, Any] = {
            **self._metadata(execution),
            "Parameters": execution.sent,
            "Outputs": _execution_outputs(execution),
            "StepExecutions": [_step_view(s) for s in execution.steps],
            "StepExecutionsTruncated": False,
        }
        if execution.failure:
            view["FailureMessage"] = execution.failure
        return view

    def _metadata(self, execution: _Execution) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "AutomationExecutionId": execution.execution_id,
            "DocumentName": execution.document,
            "DocumentVersion": "1",
            "AutomationExecutionStatus": execution.status,
            "ExecutionStartTime": execution.started.timestamp(),
            "Mode": "Auto",
            "ExecutedBy": f"arn:aws:iam::{self.account_id}:root",
        }
        if execution.ended is not None:
            meta["ExecutionEndTime"] = execution.ended.timestamp()
        if execution.status == "InProgress" and execution.steps:
            meta["CurrentStepName"] = execution.steps[-1].name
            meta["CurrentAction"] = execution.steps[-1].action
        return meta


# ---------------------------------------------------------------------- helpers


def _runbook_name(document: str) -> str:
    """`NAME`, `arn:...:automation-definition/NAME[:version]` or `arn:...:document/NAME` -> NAME."""
    if document.startswith("arn:"):
        document = document.rsplit("/", 1)[-1]
        return document.split(":", 1)[0]
    return document


def _typed_parameters(name: str, definition: dict[str, Any], sent: dict[str, list[str]]) -> dict[str, Any]:
    """The runbook's parameter values by its declared types, defaults applied. Raises SsmError
    (InvalidAutomationExecutionParametersException, what StartAutomationExecution answers in botocore's ssm model)
    for an undeclared or missing parameter, or a value its declaration refuses (`_refusal`)."""
    declared: dict[str, Any] = definition.get("parameters") or {}
    unknown = sorted(set(sent) - set(declared))
    if unknown:
        raise SsmError("InvalidAutomationExecutionParametersException", f"{name} has no parameter {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for pname, spec in declared.items():
        spec = spec or {}
        kind = str(spec.get("type", "String"))
        if pname in sent:
            raw: Any = sent[pname]
            refusal = _refusal(kind, spec, raw)
            if refusal:
                raise SsmError("InvalidAutomationExecutionParametersException", f"{name} parameter {pname}: {refusal}")
        elif "default" in spec:
            default = spec["default"]
            raw = default if isinstance(default, list) else [default]
        else:
            raise SsmError("InvalidAutomationExecutionParametersException", f"{name} needs parameter {pname}")
        values[pname] = [str(v) for v in raw] if kind in ("StringList", "MapList") else _scalar(kind, raw)
    return values


def _refusal(kind: str, spec: dict[str, Any], raw: list[str]) -> str | None:
    """Why a sent value does not fit its declaration (type, `allowedValues`, `allowedPattern`), or None."""
    if kind not in ("StringList", "MapList") and len(raw) != 1:
        return f"a {kind} takes one value, not {len(raw)}"
    if kind == "Integer" and not (raw[0].lstrip("-").isdigit()):
        return f"{raw[0]!r} is not an Integer"
    if kind == "Boolean" and raw[0].lower() not in ("true", "false"):
        return f"{raw[0]!r} is not a Boolean"
    allowed = [str(v) for v in spec.get("allowedValues") or []]
    pattern = spec.get("allowedPattern")
    for item in raw:
        if allowed and item not in allowed:
            return f"{item!r} is not one of {allowed}"
        if pattern and re.fullmatch(str(pattern), item) is None:
            return f"{item!r} does not match {pattern}"
    return None


def _scalar(kind: str, raw: list[Any]) -> Any:
    text = str(raw[0]) if raw else ""
    if kind == "Integer":
        return int(text) if text.lstrip("-").isdigit() else text
    if kind == "Boolean":
        return text.lower() == "true"
    return text


def _interpolate(value: Any, execution: _Execution) -> Any:
    """`value` with every `{{ reference }}` replaced (see the module docstring)."""
    if isinstance(value, dict):
        return {k: _interpolate(v, execution) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, execution) for v in value]
    if not isinstance(value, str):
        return value
    whole = _REFERENCE.fullmatch(value.strip())
    if whole:
        return _lookup(whole.group(1), execution)
    return _REFERENCE.sub(lambda m: _text(_lookup(m.group(1), execution)), value)


def _lookup(reference: str, execution: _Execution) -> Any:
    if reference == "automation:EXECUTION_ID":
        return execution.execution_id
    if reference in execution.parameters:
        return execution.parameters[reference]
    if reference in execution.values:
        return execution.values[reference]
    raise StepFailure(
        f"the runbook refers to {{{{ {reference} }}}}, which is neither a parameter nor an earlier output"
    )


def _text(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_BRANCH_OPERATORS = ("StringEquals", "BooleanEquals", "NumericEquals")


def _branch(step: _StepRun) -> str:
    """The step an aws:branch goes to (see the module docstring). Raises StepFailure."""
    for choice in _as_list(step.inputs.get("Choices")):
        if not isinstance(choice, dict):
            raise StepFailure(f"Step {step.name}: a choice is a mapping, not {choice!r}")
        operators = [name for name in _BRANCH_OPERATORS if name in choice]
        if len(operators) != 1 or "NextStep" not in choice or "Variable" not in choice:
            raise StepFailure(f"Step {step.name}: a choice needs NextStep, Variable and one of {_BRANCH_OPERATORS}")
        variable, wanted = choice["Variable"], choice[operators[0]]
        try:
            matches = _choice_matches(operators[0], variable, wanted)
        except ValueError as exc:
            raise StepFailure(f"Step {step.name}: {operators[0]} of {variable!r}: {exc}") from exc
        if matches:
            return str(choice["NextStep"])
    if step.inputs.get("Default"):
        return str(step.inputs["Default"])
    raise StepFailure(f"Step {step.name}: no choice matched and there is no Default")


def _choice_matches(operator: str, variable: Any, wanted: Any) -> bool:
    if operator == "NumericEquals":
        return float(str(variable)) == float(str(wanted))
    if operator == "BooleanEquals":
        return str(variable).lower() == str(wanted).lower()
    return str(variable) == str(wanted)


def _sleep_until(inputs: dict[str, Any], at: datetime) -> datetime:
    if "Timestamp" in inputs:
        return max(at, parse_iso(str(inputs["Timestamp"])))
    match = _DURATION.fullmatch(str(inputs.get("Duration") or ""))
    if match is None or not any(match.groups()):
        raise StepFailure(f"aws:sleep needs Duration (PTnHnMnS) or Timestamp, not {inputs}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return at + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _select(document: Any, selector: str) -> Any:
    """The value at `selector` (`$.A.B[0].C`) in `document`, None where the path does not exist."""
    if not selector.startswith("$"):
        raise StepFailure(f"selector {selector!r} does not start with $")
    position, value = 1, document
    for match in _SELECTOR_PART.finditer(selector, 1):
        if match.start() != position:
            raise StepFailure(f"selector {selector!r} is not $.Key / [index] parts")
        position = match.end()
        key, index = match.group(1), match.group(2)
        if key is not None:
            value = value.get(key) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if value is None:
            return None
    if position != len(selector):
        raise StepFailure(f"selector {selector!r} is not $.Key / [index] parts")
    return value


def _outputs(spec: dict[str, Any], response: dict[str, Any], execution: _Execution, step: str) -> dict[str, list[str]]:
    """An API step's declared Outputs: each Name from its Selector in the response."""
    found: dict[str, list[str]] = {}
    for output in spec.get("outputs") or []:
        value = _select(response, str(output.get("Selector") or "$"))
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        found[str(output["Name"])] = [
            (json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else str(v))[:MAX_OUTPUT_CHARS] for v in items
        ]
    return found


def _execution_outputs(execution: _Execution) -> dict[str, list[str]]:
    """The runbook's `outputs` (`step.Output` names) that its steps produced."""
    outputs: dict[str, list[str]] = {}
    for name in execution.definition.get("outputs") or []:
        if str(name) in execution.values:
            outputs[str(name)] = [str(v) for v in _as_list(execution.values[str(name)])]
    return outputs


def _step_view(step: _StepRun) -> dict[str, Any]:
    view: dict[str, Any] = {
        "StepName": step.name,
        "Action": step.action,
        "StepStatus": step.status,
        "ExecutionStartTime": step.started.timestamp(),
        "Inputs": {k: json.dumps(v, default=_json_default) for k, v in step.inputs.items()},
        "Outputs": step.outputs,
    }
    if step.ended is not None:
        view["ExecutionEndTime"] = step.ended.timestamp()
    if step.failure:
        view["FailureMessage"] = step.failure
    if step.parent:
        view["ParentStepDetails"] = step.parent
    return view


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)
