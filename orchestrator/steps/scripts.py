"""Pre-launch and post-launch scripts on SSM Run Command, run one after another without waiting anywhere.

A phase runs its scripts in plan order (post-launch: the `postLaunch` scripts, then the `healthCheck`).
Each script is one item in the ledger (`SCRIPT#<wave>#<attempt>#<phase>#<index>`):

- **start**: the item is claimed (status SENDING) before anything is sent, so a duplicated event never
  sends a command twice; the targets are resolved now (instance ids; tags, resolved by SSM; the recovery
  instances of a wave, from the ledger and DescribeRecoveryInstances), the run context is added to every
  parameter the document declares (ExecutionId, PlanId, WaveId, Mode, RecoveryInstances,
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from events.models import (
    InstanceResult,
    PostLaunchDone,
    PostLaunchTick,
    PreLaunchDone,
    PreLaunchTick,
    ScriptResult,
)
from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.ledger import Outcome, script_sk
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.adapters.ssm import TERMINAL_STATUSES, SsmAgentNotReady, SsmError, SsmRejected
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Script, Wave
from orchestrator.domain.ports import SsmPort
from orchestrator.domain.status import EXECUTION_FINAL
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps.wave_failure import fail_wave

Phase = Literal["PRE_LAUNCH", "POST_LAUNCH"]
Purpose = Literal["poll", "timeout", "retry", "resend"]

OUTPUT_EXCERPT = 1_000  # characters of output kept per invocation
WAVE_OUTPUT_BUDGET = 20_000  # characters of output per script summary on the wave item (many instances)
SCRIPT_OUTPUT_BUDGET = 200_000  # characters of output on the script item
EVENT_INSTANCES = 50  # per-instance results in a PreLaunchDone/PostLaunchDone (ScriptResult.instances)
FINAL_SCRIPT = frozenset({"Success", "Failed", "TimedOut", "Cancelled", "Skipped"})
AGENT_WAIT_SECONDS = 30  # between sends while the targets' SSM agents are not online yet
MAX_RESENDS = 6  # resend ticks of one try after transient failures (each read already retried 6 times)
DEFERRED = "defer:"  # sendKey prefix of a try that waits for its resend tick


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


# ---- starting --------------------------------------------------------------------------------------


def run_phase(rt: Runtime, execution: dict[str, Any], *, wave_id: str, attempt: int, phase: Phase, key: str) -> None:
    """Start the wave's scripts of `phase` (the first one; each ending starts the next); with none, the
    phase's Done event is published at once."""
    plan_wave = frozen_plan(execution).wave(wave_id)
    if not phase_steps(plan_wave, phase):  # nothing ran, nothing to summarise: no need to read the ledger
        _publish_done(rt, execution, wave_id, attempt, phase, results=([], []))
        return
    start_script(rt, execution, wave_id=wave_id, wave_attempt=attempt, phase=phase, index=0, key=key)


def start_script(
    rt: Runtime, execution: dict[str, Any], *, wave_id: str, wave_attempt: int, phase: Phase, index: int, key: str
) -> None:
    execution_id = execution["executionId"]
    if not _wave_in_phase(rt, execution_id, wave_id, wave_attempt, phase):
        return
    step = phase_steps(frozen_plan(execution).wave(wave_id), phase)[index]
    sk = script_sk(wave_id, wave_attempt, phase, index)
    record = {
        "executionId": execution_id,
        "planId": execution["planId"],
        "waveId": wave_id,
        "waveAttempt": wave_attempt,
        "phase": phase,
        "index": index,
        "documentName": step.script.document_name,
        "onFailure": step.script.on_failure.value,
        "healthCheck": step.health_check,
        "retries": step.script.retries,
        "timeoutSeconds": step.script.timeout_seconds,
        "startedAt": rt.ledger.now(),
    }
    outcome, item = rt.ledger.claim_script(execution_id, sk, key=key, record=record)
    if item is not None and outcome is Outcome.REJECTED:
        _rearm_resend(rt, item, key)
    if item is None or outcome is Outcome.REJECTED or item.get("status") != "SENDING":
        logger.info("script already started", wave_id=wave_id, phase=phase, index=index)
        return
    _send(rt, execution, item, try_number=1, key=key, replay=outcome is Outcome.REPLAY)


def _wave_in_phase(rt: Runtime, execution_id: str, wave_id: str, wave_attempt: int, phase: str) -> bool:
    execution = rt.ledger.get_execution(execution_id) or {}
    wave = rt.ledger.get_wave(execution_id, wave_id) or {}
    if (
        execution.get("status") in EXECUTION_FINAL
        or wave.get("status") != phase
        or int(wave.get("attempt", 1)) != wave_attempt
    ):
        logger.info(
            "script not started: the wave left its phase",
            wave_id=wave_id,
            phase=phase,
            wave_status=wave.get("status"),
            execution_status=execution.get("status"),
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
        s["recoveryInstanceId"]
        for s in rt.ledger.wave_servers(execution_id, wave_id).values()
        if s.get("launchStatus") == "LAUNCHED" and s.get("recoveryInstanceId")
    )
    return _recovery_instances(rt, recovery_instance_ids=ids) if ids else []


def _own_instances(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, phase: str) -> list[dict[str, Any]]:
    """Post-launch: what the wave launched. Pre-launch: the wave's previous recovery instances, if any."""
    if phase == "POST_LAUNCH":
        return _launched_instances(rt, execution["executionId"], plan_wave.wave_id)
    return _recovery_instances(rt, source_server_ids=plan_wave.server_ids)


def _resolve_targets(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, script: Script, phase: str) -> _Targets:
    targets = script.targets
    if targets.instance_ids:
        return _Targets(instance_ids=list(dict.fromkeys(targets.instance_ids)))
    if targets.tags:
        return _Targets(tags=dict(targets.tags))
    target_wave = targets.wave or plan_wave.wave_id
    if target_wave == plan_wave.wave_id:
        instances = _own_instances(rt, execution, plan_wave, phase)
        if not instances:
            why = (
                "its targets default to this wave, whose recovery instances do not exist before the launch"
                if phase == "PRE_LAUNCH"
                else "no server of this wave launched"
            )
            return _Targets(skip_reason=why)
    else:
        instances = _launched_instances(rt, execution["executionId"], target_wave)
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
    rt: Runtime, execution: dict[str, Any], plan_wave: Wave, script: Script, phase: str
) -> dict[str, list[str]]:
    """The script's parameters, plus the run context wherever the document declares it."""
    declared = _ssm(rt).document_parameters(script.document_name)
    parameters = {
        name: list(value) if isinstance(value, list) else [value] for name, value in script.parameters.items()
    }
    context = {
        "ExecutionId": execution["executionId"],
        "PlanId": execution["planId"],
        "WaveId": plan_wave.wave_id,
        "Mode": execution["mode"],
        "executionTimeout": str(script.timeout_seconds),
    }
    for name, value in context.items():
        if name in declared and name not in parameters:
            parameters[name] = [value]
    if "RecoveryInstances" in declared and "RecoveryInstances" not in parameters:
        mapping = _instance_map(_own_instances(rt, execution, plan_wave, phase))
        parameters["RecoveryInstances"] = [json.dumps(mapping, separators=(",", ":"), sort_keys=True)]
    return parameters


def _comment(item: dict[str, Any], try_number: int) -> str:
    digest = hashlib.sha256(f"{item['executionId']}|{item['sk']}|{try_number}".encode()).hexdigest()[:24]
    return f"drs-orch {item['waveId'][:40]} {digest}"


def _send(
    rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, try_number: int, key: str, replay: bool
) -> None:
    """Resolve, send (or, after a crash or a partial send, adopt the commands already sent), record, arm the
    ticks. A try that cannot run (no target) ends at once; one that meets a transient error (DRS or SSM
    throttling while resolving its targets or sending) waits for a resend tick, up to MAX_RESENDS times."""
    plan_wave = frozen_plan(execution).wave(item["waveId"])
    step = phase_steps(plan_wave, item["phase"])[int(item["index"])]
    try:
        targets = _resolve_targets(rt, execution, plan_wave, step.script, item["phase"])
        if targets.skip_reason:
            _cannot_run(rt, execution, item, try_number, targets.skip_reason, key=key, from_=("SENDING",))
            return
        commands = _send_commands(
            rt, execution, plan_wave, step.script, item, targets, try_number=try_number, replay=replay
        )
    except (DrsError, SsmError) as exc:
        if exc.retryable:
            _defer(rt, execution, item, try_number, exc, key=key)
            return
        for command in exc.sent if isinstance(exc, SsmError) else []:
            _ssm(rt).cancel(str(command["CommandId"]))  # a later batch was refused: none may run untracked
        logger.warning("script could not be sent", document=step.script.document_name, error=str(exc))
        why = "SSM refused it" if isinstance(exc, SsmRejected) else "could not resolve its targets or send"
        _conclude(
            rt,
            execution,
            item,
            try_number=try_number,
            verdict="Failed",
            instances=[],
            reason=f"{why}: {exc}"[:500],
            from_=("SENDING",),
            key=key,
        )
        return
    command_ids = [str(c["CommandId"]) for c in commands]
    expected = sum(int(c.get("TargetCount", 0)) for c in commands)
    now = rt.clock.now()
    deadline = now + timedelta(seconds=step.script.timeout_seconds)
    recorded = rt.ledger.record_sent(
        item["executionId"],
        item["sk"],
        try_number=try_number,
        key=key,
        command_ids=command_ids,
        expected=expected,
        sets={
            "deadline": deadline.isoformat(),
            "targetCount": expected,
            **({"tags": targets.tags} if targets.tags else {}),
        },
        index={
            "waveId": item["waveId"],
            "phase": item["phase"],
            "index": int(item["index"]),
            "waveAttempt": int(item["waveAttempt"]),
        },
    )
    if not recorded:
        return
    metrics.add_metric(name="ScriptCommandsSent", unit="Count", value=len(command_ids))
    logger.info(
        "script sent",
        wave_id=item["waveId"],
        phase=item["phase"],
        index=item["index"],
        document=step.script.document_name,
        commands=len(command_ids),
        instances=expected,
        try_number=try_number,
    )
    if expected == 0:
        sent = {**item, "commandIds": command_ids, "status": "RUNNING", "tryNumber": try_number}
        _cannot_run(
            rt,
            execution,
            sent,
            try_number,
            f"no managed instance matches the tags {targets.tags}",
            key=key,
            from_=("RUNNING",),
        )
        return
    _schedule(rt, item, try_number, "timeout", deadline, command_id=command_ids[0])
    _schedule(rt, item, try_number, "poll", now + timedelta(seconds=poll_interval(1)), tick=1)


def _send_commands(
    rt: Runtime,
    execution: dict[str, Any],
    plan_wave: Wave,
    script: Script,
    item: dict[str, Any],
    targets: _Targets,
    *,
    try_number: int,
    replay: bool,
) -> list[dict[str, Any]]:
    """The SSM commands of this try: those a crashed or interrupted send left (found by their comment) and
    new ones for the instances they do not cover (every instance in one command per 50)."""
    comment = _comment(item, try_number)
    ssm = _ssm(rt)
    found: list[dict[str, Any]] = []
    if replay:  # this try was claimed before: a crash or a throttled batch may have left commands behind
        since = parse_iso(str(item["claimedAt"])) - timedelta(seconds=1)
        found = ssm.find_command(script.document_name, comment, since)
    if targets.tags is not None:
        if found:
            return found
        return ssm.send_command(
            script.document_name,
            _parameters(rt, execution, plan_wave, script, item["phase"]),
            tags=targets.tags,
            timeout_seconds=script.timeout_seconds,
            comment=comment,
        )
    covered = {str(i) for command in found for i in command.get("InstanceIds", [])}
    remaining = [i for i in targets.instance_ids or [] if i not in covered]
    if not remaining:
        return found
    parameters = _parameters(rt, execution, plan_wave, script, item["phase"])
    try:
        sent = ssm.send_command(
            script.document_name,
            parameters,
            instance_ids=remaining,
            timeout_seconds=script.timeout_seconds,
            comment=comment,
        )
    except SsmError as exc:
        exc.sent = [*found, *exc.sent]
        raise
    return [*found, *sent]


def _cannot_run(
    rt: Runtime,
    execution: dict[str, Any],
    item: dict[str, Any],
    try_number: int,
    why: str,
    *,
    key: str,
    from_: tuple[str, ...],
) -> None:
    """No instance to run on. A required step (onFailure FAIL, or a health check) has failed: its wave fails
    (after its retries, which resolve the targets again). Any other is Skipped with a warning."""
    required = item.get("onFailure") == "FAIL" or bool(item.get("healthCheck"))
    _conclude(
        rt,
        execution,
        item,
        try_number=try_number,
        verdict="Failed" if required else "Skipped",
        instances=[],
        reason=(f"could not run: {why}" if required else why)[:500],
        from_=from_,
        key=key,
    )


def _defer(
    rt: Runtime, execution: dict[str, Any], item: dict[str, Any], try_number: int, error: Exception, *, key: str
) -> None:
    """A transient error before the try was sent in full: the try stays SENDING and a resend tick tries
    again with backoff; after MAX_RESENDS the try fails with the error as its reason."""
    resends = int(item.get("resends", 0)) if int(item.get("resendTry", 0)) == try_number else 0
    resend = resends + 1
    if isinstance(error, SsmAgentNotReady):  # wait for the agents until the step's own timeout, not a count
        when = rt.clock.now() + timedelta(seconds=min(resend_backoff(resend), AGENT_WAIT_SECONDS))
        timeout = phase_steps(frozen_plan(execution).wave(item["waveId"]), item["phase"])[
            int(item["index"])
        ].script.timeout_seconds
        if when > parse_iso(str(item["claimedAt"])) + timedelta(seconds=timeout):
            reason = f"its targets were not online managed nodes within its timeout ({timeout} s): {error}"
            _conclude(
                rt,
                execution,
                item,
                try_number=try_number,
                verdict="Failed",
                instances=[],
                reason=reason[:500],
                from_=("SENDING",),
                key=key,
            )
            return
    elif resends >= MAX_RESENDS:
        reason = f"could not resolve its targets or send after {resends + 1} attempts: {error}"
        _conclude(
            rt,
            execution,
            item,
            try_number=try_number,
            verdict="Failed",
            instances=[],
            reason=reason[:500],
            from_=("SENDING",),
            key=key,
        )
        return
    else:
        when = rt.clock.now() + timedelta(seconds=resend_backoff(resend))
    outcome, deferred = rt.ledger.rekey_send(
        item["executionId"],
        item["sk"],
        try_number=try_number,
        from_key=key,
        to_key=_deferred_key(try_number, resend),
        sets={
            "resends": resend,
            "resendTry": try_number,
            "resendAt": iso(when),
            "deferredBy": key,
            "sendError": str(error)[:500],
        },
    )
    if outcome is Outcome.REJECTED or deferred is None:
        return
    metrics.add_metric(name="ScriptSendsDeferred", unit="Count", value=1)
    logger.warning(
        "script send deferred after a transient error",
        wave_id=item["waveId"],
        phase=item["phase"],
        index=item["index"],
        try_number=try_number,
        resend=resend,
        error=str(error)[:300],
    )
    _rearm_resend(rt, deferred, key)


def _rearm_resend(rt: Runtime, item: dict[str, Any], key: str) -> None:
    """Arm the resend tick of a try that `key` deferred (again, after a crash between the two writes: the
    schedule's name makes it once)."""
    send_key = str(item.get("sendKey", ""))
    if item.get("status") != "SENDING" or not send_key.startswith(DEFERRED) or item.get("deferredBy") != key:
        return
    _schedule(rt, item, int(item["tryNumber"]), "resend", parse_iso(str(item["resendAt"])), tick=int(item["resends"]))


# ---- ticks -----------------------------------------------------------------------------------------


def _tick_name(item: dict[str, Any], try_number: int, purpose: str, tick: int = 1) -> str:
    return schedule_name(
        "script",
        purpose,
        item["executionId"],
        item["waveId"],
        str(item["waveAttempt"]),
        str(item["phase"])[:4],
        str(item["index"]),
        str(try_number),
        str(tick),
    )


def _schedule(
    rt: Runtime,
    item: dict[str, Any],
    try_number: int,
    purpose: Purpose,
    when: datetime,
    *,
    tick: int = 1,
    command_id: str | None = None,
) -> None:
    model = PreLaunchTick if item["phase"] == "PRE_LAUNCH" else PostLaunchTick
    if when.microsecond:  # schedules have whole seconds: never fire early (a timeout is at least timeoutSeconds)
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    rt.scheduler.at(
        _tick_name(item, try_number, purpose, tick),
        when,
        model(
            execution_id=item["executionId"],
            plan_id=item["planId"],
            wave_id=item["waveId"],
            attempt=int(item["waveAttempt"]),
            phase=item["phase"],
            index=int(item["index"]),
            try_number=try_number,
            purpose=purpose,
            command_id=command_id,
            tick=tick,
        ),
    )


def on_tick(rt: Runtime, detail: PreLaunchTick | PostLaunchTick, event_id: str) -> None:
    """A poll, timeout or retry tick of one script."""
    execution = rt.ledger.get_execution(detail.execution_id)
    if execution is None:
        return
    sk = script_sk(detail.wave_id, detail.attempt, detail.phase, detail.index)
    item = rt.ledger.get_script(detail.execution_id, sk)
    if item is None:
        return
    current = int(item.get("tryNumber", 1))
    if detail.purpose == "resend":
        _resend(rt, execution, item, detail, event_id)
        return
    if detail.purpose == "retry":
        waiting = item.get("status") == "RETRY_WAIT" and current == detail.try_number - 1
        replay = item.get("status") == "SENDING" and current == detail.try_number and item.get("sendKey") == event_id
        if not (waiting or replay):
            _rearm_resend(rt, item, event_id)
            return
        if not _wave_in_phase(rt, detail.execution_id, detail.wave_id, detail.attempt, detail.phase):
            return
        outcome, claimed = rt.ledger.claim_retry(detail.execution_id, sk, try_number=detail.try_number, key=event_id)
        if claimed is None or outcome is Outcome.REJECTED or claimed.get("status") != "SENDING":
            return
        _send(rt, execution, claimed, try_number=detail.try_number, key=event_id, replay=outcome is Outcome.REPLAY)
        return
    if item.get("status") != "RUNNING" or current != detail.try_number:
        return
    if detail.purpose == "timeout":
        _timeout_tick(rt, execution, item, detail, event_id)
        return
    try:
        done = _check(rt, execution, item, key=event_id)
    except SsmError as exc:
        if not exc.retryable:
            raise
        logger.warning("script poll throttled: polling again later", wave_id=item["waveId"], error=str(exc)[:300])
        done = False
    if not done:
        when = rt.clock.now() + timedelta(seconds=poll_interval(detail.tick + 1))
        _schedule(rt, item, detail.try_number, "poll", when, tick=detail.tick + 1)


def _timeout_tick(
    rt: Runtime, execution: dict[str, Any], item: dict[str, Any], detail: PreLaunchTick | PostLaunchTick, event_id: str
) -> None:
    """The timeout, unless SSM throttles the reads it needs: then again 30 s later, up to MAX_RESENDS
    times; after that the try counts as TimedOut without its statuses (the script always ends)."""
    try:
        _time_out(rt, execution, item, key=event_id)
    except SsmError as exc:
        if not exc.retryable:
            raise
        if detail.tick <= MAX_RESENDS:
            logger.warning("script timeout throttled: trying again", wave_id=item["waveId"], error=str(exc)[:300])
            _schedule(
                rt,
                item,
                detail.try_number,
                "timeout",
                rt.clock.now() + timedelta(seconds=30),
                tick=detail.tick + 1,
                command_id=detail.command_id,
            )
            return
        for command_id in item.get("commandIds", []):
            with contextlib.suppress(SsmError):
                _ssm(rt).cancel(command_id)
        _conclude(
            rt,
            execution,
            item,
            try_number=int(item["tryNumber"]),
            verdict="TimedOut",
            instances=[],
            reason=f"did not finish within {item.get('timeoutSeconds')} s, and its invocations could not be "
            f"read: {exc}"[:500],
            from_=("RUNNING",),
            key=event_id,
        )


def _resend(
    rt: Runtime, execution: dict[str, Any], item: dict[str, Any], detail: PreLaunchTick | PostLaunchTick, event_id: str
) -> None:
    """A resend tick: claim the deferred try (once, whatever the deliveries) and send it again."""
    if item.get("status") != "SENDING" or int(item.get("tryNumber", 1)) != detail.try_number:
        return
    if item.get("sendKey") not in (_deferred_key(detail.try_number, detail.tick), event_id):
        _rearm_resend(rt, item, event_id)  # this tick deferred the try again before a crash: arm the next one
        return
    if not _wave_in_phase(rt, detail.execution_id, detail.wave_id, detail.attempt, detail.phase):
        return
    outcome, claimed = rt.ledger.rekey_send(
        detail.execution_id,
        item["sk"],
        try_number=detail.try_number,
        from_key=_deferred_key(detail.try_number, detail.tick),
        to_key=event_id,
    )
    if claimed is None or outcome is Outcome.REJECTED:
        return
    _send(rt, execution, claimed, try_number=detail.try_number, key=event_id, replay=True)


# ---- completion ------------------------------------------------------------------------------------


def on_command_status(rt: Runtime, detail: dict[str, Any], event_id: str) -> None:
    """An aws.ssm invocation status-change event: count the finished invocation; after the last one
    of the try, read the results and conclude."""
    command_id, instance_id, status = detail.get("command-id"), detail.get("instance-id"), detail.get("status")
    if (
        not isinstance(command_id, str)
        or not isinstance(instance_id, str)
        or len(command_id) > 64
        or len(instance_id) > 64
    ):
        logger.warning("SSM status event without command or instance id ignored")
        return
    if status not in TERMINAL_STATUSES:
        return
    index = rt.ledger.command_index(command_id)
    if index is None:
        logger.debug("SSM command that is not ours", command_id=command_id)
        return
    execution_id, sk, try_number = index["executionId"], index["scriptSk"], int(index["tryNumber"])
    done = rt.ledger.record_invocation_done(execution_id, sk, try_number=try_number, instance_id=instance_id)
    if done is None or done < int(index.get("expected", 0)):
        return  # counted already, or more invocations of this try are still running
    item = rt.ledger.get_script(execution_id, sk)
    execution = rt.ledger.get_execution(execution_id)
    if item is None or execution is None:
        return
    _check(rt, execution, item, key=event_id)


def _invocations(rt: Runtime, item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for command_id in item.get("commandIds", []):
        for invocation in _ssm(rt).invocations(command_id):
            found[str(invocation["InstanceId"])] = invocation
    return found


def _instance_result(invocation: dict[str, Any] | None, instance_id: str, status: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"instanceId": instance_id, "status": status or "Pending"}
    if invocation is None:
        return result
    result["status"] = status or str(invocation.get("Status"))
    plugins = invocation.get("CommandPlugins") or []
    output = "".join(str(p.get("Output") or "") for p in plugins)
    if output:
        result["output"] = output
    started = [p["ResponseStartDateTime"] for p in plugins if isinstance(p.get("ResponseStartDateTime"), datetime)]
    ended = [p["ResponseFinishDateTime"] for p in plugins if isinstance(p.get("ResponseFinishDateTime"), datetime)]
    if started and ended:
        result["durationSeconds"] = max(0.0, (max(ended) - min(started)).total_seconds())
    return result


def _verdict(statuses: list[str]) -> str:
    for verdict in ("Failed", "TimedOut", "Cancelled"):
        if verdict in statuses:
            return verdict
    return "Success" if statuses else "Failed"


def _check(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, key: str) -> bool:
    """Conclude the running try if every invocation has ended. Returns whether it had."""
    invocations = _invocations(rt, item)
    expected = int(item.get("expected", 0))
    if len(invocations) < expected or any(i.get("Status") not in TERMINAL_STATUSES for i in invocations.values()):
        return False
    results = [
        _instance_result(inv, iid, "TimedOut" if _ended_late(inv, item) else None)
        for iid, inv in sorted(invocations.items())
    ]
    late = sum(1 for r in results if r["status"] == "TimedOut")
    reason = (
        f"{late} of {len(results)} invocation(s) did not finish within {item.get('timeoutSeconds')} s" if late else None
    )
    _conclude(
        rt,
        execution,
        item,
        try_number=int(item["tryNumber"]),
        verdict=_verdict([r["status"] for r in results]),
        instances=results,
        reason=reason,
        from_=("RUNNING",),
        key=key,
    )
    return True


def _ended_late(invocation: dict[str, Any], item: dict[str, Any]) -> bool:
    """The invocation finished after the try's deadline (its timeout tick came late, or was overtaken): by
    the plan's timeoutSeconds it timed out, whatever SSM says."""
    if not item.get("deadline"):
        return False
    deadline = parse_iso(str(item["deadline"]))
    ended = [
        p["ResponseFinishDateTime"]
        for p in invocation.get("CommandPlugins") or []
        if isinstance(p.get("ResponseFinishDateTime"), datetime)
    ]
    return bool(ended) and max(ended) > deadline


def _time_out(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, key: str) -> None:
    """The plan's timeoutSeconds has passed: read what every invocation really did first (its completion
    event may be lost, and the next poll may be later). An invocation that ended keeps its status; only those
    still running are cancelled, and they (and any invocation SSM never listed) count as TimedOut."""
    before = _invocations(rt, item)
    running: dict[str, list[str]] = {}
    for iid, inv in sorted(before.items()):
        if inv.get("Status") not in TERMINAL_STATUSES:
            running.setdefault(str(inv.get("CommandId")), []).append(iid)
    unseen = int(item.get("expected", 0)) > len(before)
    after = before
    cancelled = bool(running or unseen)
    if cancelled:
        for command_id in item.get("commandIds", []):
            if unseen:  # an invocation is not listed: cancel the command (ended invocations keep their status)
                _ssm(rt).cancel(command_id)
            elif command_id in running:
                _ssm(rt).cancel(command_id, running[command_id])
        after = _invocations(rt, item)  # an invocation may have ended just before its cancel took effect
    results: list[dict[str, Any]] = []
    for iid, inv in sorted(after.items()):
        status = str(inv.get("Status"))
        was_running = iid not in before or before[iid].get("Status") not in TERMINAL_STATUSES
        ended_in_time = (
            status in ("Success", "Failed") or (not was_running and status in TERMINAL_STATUSES)
        ) and not _ended_late(inv, item)
        results.append(_instance_result(inv, iid, None if ended_in_time else "TimedOut"))
    never_listed = max(0, int(item.get("expected", 0)) - len(after))
    timed_out = sum(1 for r in results if r["status"] == "TimedOut") + never_listed
    statuses = [r["status"] for r in results] + ["TimedOut"] * never_listed
    reason = None
    if timed_out:
        metrics.add_metric(name="ScriptsTimedOut", unit="Count", value=1)
        total = max(int(item.get("expected", 0)), len(results))
        reason = f"{timed_out} of {total} invocation(s) did not finish within {item.get('timeoutSeconds')} s" + (
            ": cancelled" if cancelled else ""
        )
    else:
        logger.info(
            "every invocation had ended by the timeout: its completion was not seen in time",
            wave_id=item["waveId"],
            phase=item["phase"],
            index=item["index"],
        )
    _conclude(
        rt,
        execution,
        item,
        try_number=int(item["tryNumber"]),
        verdict=_verdict(statuses),
        instances=results,
        reason=reason,
        from_=("RUNNING",),
        key=key,
    )


# ---- verdicts --------------------------------------------------------------------------------------


def _excerpts(instances: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    per_instance = min(OUTPUT_EXCERPT, budget // max(len(instances), 1))
    out = []
    for inst in instances:
        copy = dict(inst)
        if copy.get("output"):
            copy["output"] = str(copy["output"])[:per_instance]
            if not copy["output"]:
                copy.pop("output")
        out.append(copy)
    return out


def _conclude(
    rt: Runtime,
    execution: dict[str, Any],
    item: dict[str, Any],
    *,
    try_number: int,
    verdict: str,
    instances: list[dict[str, Any]],
    reason: str | None,
    from_: tuple[str, ...],
    key: str,
) -> None:
    """A try has ended: retry it, or end the script."""
    if verdict != "Success" and try_number <= int(item.get("retries", 0)):
        failed = sum(1 for i in instances if i["status"] != "Success")
        result = {
            "tryNumber": try_number,
            "status": verdict,
            "commandIds": list(item.get("commandIds", [])),
            "instancesFailed": failed,
            "endedAt": rt.ledger.now(),
            **({"reason": reason} if reason else {}),
        }
        outcome = rt.ledger.script_retry_wait(
            item["executionId"], item["sk"], try_number=try_number, result=result, from_=from_
        )
        if not outcome.proceed:
            return
        rt.scheduler.cancel(_tick_name(item, try_number, "timeout"))
        when = rt.clock.now() + timedelta(seconds=retry_backoff(try_number))
        _schedule(rt, item, try_number + 1, "retry", when)
        logger.info(
            "script try failed: retrying",
            wave_id=item["waveId"],
            document=item["documentName"],
            try_number=try_number,
            status=verdict,
        )
        return
    warnings: list[str] = []
    if verdict == "Skipped":
        warnings.append(f"{item['waveId']}: {_step_name(item)} skipped: {reason}")
    elif verdict != "Success" and item.get("onFailure") == "WARN" and not item.get("healthCheck"):
        warnings.append(
            f"{item['waveId']}: {_step_name(item)} {verdict}" + (f" ({reason})" if reason else "") + " (onFailure WARN)"
        )
    _finish(
        rt,
        execution,
        item,
        try_number=try_number,
        status=verdict,
        instances=instances,
        reason=reason,
        warnings=warnings,
        from_=from_,
        key=key,
    )


def _finish(
    rt: Runtime,
    execution: dict[str, Any],
    item: dict[str, Any],
    *,
    try_number: int,
    status: str,
    instances: list[dict[str, Any]],
    reason: str | None,
    warnings: list[str],
    from_: tuple[str, ...],
    key: str,
) -> None:
    now = rt.ledger.now()
    summary: dict[str, Any] = {
        "phase": item["phase"],
        "index": int(item["index"]),
        "documentName": item["documentName"],
        "status": status,
        "onFailure": item.get("onFailure", "FAIL"),
        "attempts": try_number,
        "startedAt": item.get("startedAt"),
        "endedAt": now,
        "waveAttempt": int(item.get("waveAttempt", 1)),
        "commandIds": list(item.get("commandIds", [])),
        "instances": _excerpts(instances, WAVE_OUTPUT_BUDGET),
        **({"healthCheck": True} if item.get("healthCheck") else {}),
        **({"reason": reason} if reason else {}),
    }
    outcome = rt.ledger.finish_script(
        item["executionId"],
        item["waveId"],
        item["sk"],
        try_number=try_number,
        from_=from_,
        status=status,
        sets={
            "instances": _excerpts(instances, SCRIPT_OUTPUT_BUDGET),
            "warnings": warnings,
            **({"reason": reason} if reason else {}),
        },
        summary=summary,
        warnings=warnings,
        key=key,
    )
    if not outcome.proceed:
        return
    if status in ("Success", "Skipped", "Failed", "TimedOut", "Cancelled") and item.get("commandIds"):
        rt.scheduler.cancel(_tick_name(item, try_number, "timeout"))
    metrics.add_metric(name=f"Scripts{status}", unit="Count", value=1)
    logger.info(
        "script ended",
        wave_id=item["waveId"],
        phase=item["phase"],
        index=item["index"],
        document=item["documentName"],
        status=status,
        attempts=try_number,
    )
    _after(rt, execution, item, status, reason)


def _after(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], status: str, reason: str | None) -> None:
    """What follows a script: fail the wave, start the next script, or end the phase."""
    wave_id, phase, index = item["waveId"], item["phase"], int(item["index"])
    wave_attempt = int(item.get("waveAttempt", 1))
    plan_wave = frozen_plan(execution).wave(wave_id)
    failed = status not in ("Success", "Skipped")
    if failed and (item.get("onFailure") == "FAIL" or item.get("healthCheck")):
        why = f"{_step_name(item)} {status}" + (f": {reason}" if reason else "")
        fail_wave(
            rt,
            execution,
            plan_wave.wave_id,
            from_=[phase],
            reason=why[:1000],
            key=f"{item['sk']}:fail",
            attempt=wave_attempt,
        )
        return
    if index + 1 < len(phase_steps(plan_wave, phase)):
        start_script(
            rt,
            execution,
            wave_id=wave_id,
            wave_attempt=wave_attempt,
            phase=phase,
            index=index + 1,
            key=f"{item['sk']}:next",
        )
        return
    if _wave_in_phase(rt, execution["executionId"], wave_id, wave_attempt, phase):
        _publish_done(rt, execution, wave_id, wave_attempt, phase)


def _step_name(item: dict[str, Any]) -> str:
    """`pre-launch script #2 fence-db`, `post-launch script #1 smoke-test` or `health check db-health`."""
    if item.get("healthCheck"):
        return f"health check {item['documentName']}"
    phase_name = "pre-launch" if item["phase"] == "PRE_LAUNCH" else "post-launch"
    return f"{phase_name} script #{int(item['index']) + 1} {item['documentName']}"


def phase_results(
    rt: Runtime, execution_id: str, wave_id: str, wave_attempt: int, phase: str
) -> tuple[list[ScriptResult], list[str]]:
    """The ended scripts of a wave attempt's phase, in plan order, and their warnings."""
    results: list[ScriptResult] = []
    warnings: list[str] = []
    items = [i for i in rt.ledger.list_scripts(execution_id, wave_id, wave_attempt) if i.get("phase") == phase]
    for item in sorted(items, key=lambda i: int(i.get("index", 0))):
        if item.get("status") not in FINAL_SCRIPT:
            continue
        warnings.extend(item.get("warnings", []))
        results.append(
            ScriptResult(
                phase=item["phase"],
                document_name=item["documentName"],
                status=item["status"],
                on_failure=item.get("onFailure", "FAIL"),
                attempts=max(1, int(item.get("tryNumber", 1))),
                started_at=item.get("startedAt"),
                ended_at=item.get("endedAt"),
                index=int(item.get("index", 0)),
                health_check=True if item.get("healthCheck") else None,
                reason=item.get("reason"),
                instances=[
                    InstanceResult(
                        instance_id=i["instanceId"], status=i["status"], duration_seconds=i.get("durationSeconds")
                    )
                    for i in _event_instances(item.get("instances", []))
                ],
                instance_count=len(item.get("instances", [])),
            )
        )
    return results, warnings


def _event_instances(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-instance results an event carries: at most EVENT_INSTANCES, those that did not succeed first
    (an event is limited to 256 KB; the report keeps them all), in their order."""
    chosen = {id(i) for i in sorted(instances, key=lambda i: i.get("status") == "Success")[:EVENT_INSTANCES]}
    return [i for i in instances if id(i) in chosen]


def _publish_done(
    rt: Runtime,
    execution: dict[str, Any],
    wave_id: str,
    wave_attempt: int,
    phase: str,
    *,
    results: tuple[list[ScriptResult], list[str]] | None = None,
) -> None:
    scripts, warnings = results or phase_results(rt, execution["executionId"], wave_id, wave_attempt, phase)
    event = PreLaunchDone if phase == "PRE_LAUNCH" else PostLaunchDone
    rt.bus.publish(
        event(
            execution_id=execution["executionId"],
            plan_id=execution["planId"],
            wave_id=wave_id,
            attempt=wave_attempt,
            scripts=scripts,
            warnings=warnings,
        )
    )
