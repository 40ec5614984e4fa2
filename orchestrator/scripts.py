"""Pre-launch and post-launch scripts on SSM Run Command, run one after another without waiting anywhere.

A phase runs its scripts in plan order (post-launch: the `postLaunch` scripts, then the `healthCheck`).
Each script is one item in the ledger (`SCRIPT#<wave>#<attempt>#<phase>#<index>`):

- **start**: the item is claimed (status SENDING) before anything is sent, so a duplicated event never
  sends a command twice; the targets are resolved now (instance ids; tags, resolved by SSM; the recovery
  instances of a wave, from the ledger and DescribeRecoveryInstances), the run context is added to every
  parameter the document declares (ExecutionId, PlanId, WaveId, Mode, RecoveryInstances,
  executionTimeout), and SendCommand goes out in calls of at most 50 instances. The item goes RUNNING
  with the command ids, and an index item per command (`CMD#<id>`) maps SSM events back to it.
- **completion**: the aws.ssm "EC2 Command Invocation Status-change Notification" events count the
  finished invocations (once per instance); scheduler poll ticks (5 s, 10 s, 15 s, then 30 s, then 60 s
  apart) read ListCommandInvocations in case events are lost. A timeout tick at send + timeoutSeconds
  cancels what still runs (CancelCommand): the try counts as TimedOut.
- **verdict**: a failed or timed-out try is sent again after a backoff tick while `retries` allow; then
  the script ends (its summary is appended to the wave's `scripts` once, in the same transaction).
  onFailure WARN records a warning and the phase goes on; FAIL (and any failed health check, whatever
  its onFailure: it is a gate) fails the wave. After the last script the phase publishes PreLaunchDone
  or PostLaunchDone with the summaries and warnings.

Targets that resolve to nothing (a tag that matches no instance, a wave without launched instances)
make the script `Skipped`, with a warning. A pre-launch script whose targets default to its own wave
runs on the wave's *previous* recovery instances (a re-run, a second drill), and is Skipped with a
warning when there are none: the wave's new instances do not exist before the launch.
"""

from __future__ import annotations

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
    WaveFailed,
)
from orchestrator.execution import frozen_plan
from orchestrator.ledger import EXECUTION_FINAL, Outcome, script_sk
from orchestrator.observability import logger, metrics
from orchestrator.plan import Script, Wave
from orchestrator.runtime import Runtime
from orchestrator.scheduler import schedule_name
from orchestrator.ssm import TERMINAL_STATUSES, Ssm, SsmRejected

Phase = Literal["PRE_LAUNCH", "POST_LAUNCH"]
Purpose = Literal["poll", "timeout", "retry"]

OUTPUT_EXCERPT = 1_000  # characters of output kept per invocation
WAVE_OUTPUT_BUDGET = 20_000  # characters of output per script summary on the wave item (many instances)
SCRIPT_OUTPUT_BUDGET = 200_000  # characters of output on the script item
RECOVERY_INSTANCE_BATCH = 200  # DescribeRecoveryInstances filter size
FINAL_SCRIPT = frozenset({"Success", "Failed", "TimedOut", "Cancelled", "Skipped"})


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


def _ssm(rt: Runtime) -> Ssm:
    if rt.ssm is None:
        raise RuntimeError("this runtime has no SSM client")
    return rt.ssm


def _phase_status(phase: str) -> str:
    return "PRE_LAUNCH" if phase == "PRE_LAUNCH" else "POST_LAUNCH"


# ---- starting --------------------------------------------------------------------------------------


def run_phase(rt: Runtime, execution: dict[str, Any], *, wave_id: str, attempt: int, phase: Phase,
              key: str) -> None:
    """Start the wave's scripts of `phase` (the first one; each ending starts the next); with none, the
    phase's Done event is published at once."""
    plan_wave = frozen_plan(execution).wave(wave_id)
    if not phase_steps(plan_wave, phase):  # nothing ran, nothing to summarise: no need to read the ledger
        _publish_done(rt, execution, wave_id, attempt, phase, results=([], []))
        return
    start_script(rt, execution, wave_id=wave_id, wave_attempt=attempt, phase=phase, index=0, key=key)


def start_script(rt: Runtime, execution: dict[str, Any], *, wave_id: str, wave_attempt: int, phase: Phase,
                 index: int, key: str) -> None:
    execution_id = execution["executionId"]
    if not _wave_in_phase(rt, execution_id, wave_id, wave_attempt, phase):
        return
    step = phase_steps(frozen_plan(execution).wave(wave_id), phase)[index]
    sk = script_sk(wave_id, wave_attempt, phase, index)
    record = {
        "executionId": execution_id, "planId": execution["planId"], "waveId": wave_id, "waveAttempt": wave_attempt,
        "phase": phase, "index": index, "documentName": step.script.document_name,
        "onFailure": step.script.on_failure.value, "healthCheck": step.health_check, "retries": step.script.retries,
        "timeoutSeconds": step.script.timeout_seconds, "startedAt": rt.ledger.now(),
    }
    outcome, item = rt.ledger.claim_script(execution_id, sk, key=key, record=record)
    if item is None or outcome is Outcome.REJECTED or item.get("status") != "SENDING":
        logger.info("script already started", wave_id=wave_id, phase=phase, index=index)
        return
    _send(rt, execution, item, try_number=1, key=key, replay=outcome is Outcome.REPLAY)


def _wave_in_phase(rt: Runtime, execution_id: str, wave_id: str, wave_attempt: int, phase: str) -> bool:
    execution = rt.ledger.get_execution(execution_id) or {}
    wave = rt.ledger.get_wave(execution_id, wave_id) or {}
    if execution.get("status") in EXECUTION_FINAL or wave.get("status") != _phase_status(phase) \
            or int(wave.get("attempt", 1)) != wave_attempt:
        logger.info("script not started: the wave left its phase", wave_id=wave_id, phase=phase,
                    wave_status=wave.get("status"), execution_status=execution.get("status"))
        return False
    return True


@dataclass
class _Targets:
    instance_ids: list[str] | None = None
    tags: dict[str, str] | None = None
    skip_reason: str | None = None


def _recovery_instances(rt: Runtime, *, recovery_instance_ids: list[str] | None = None,
                        source_server_ids: list[str] | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if recovery_instance_ids is not None:
        for start in range(0, len(recovery_instance_ids), RECOVERY_INSTANCE_BATCH):
            batch = recovery_instance_ids[start : start + RECOVERY_INSTANCE_BATCH]
            found.extend(rt.drs.describe_recovery_instances(recovery_instance_ids=batch))
    elif source_server_ids:
        for start in range(0, len(source_server_ids), RECOVERY_INSTANCE_BATCH):
            batch = source_server_ids[start : start + RECOVERY_INSTANCE_BATCH]
            found.extend(rt.drs.describe_recovery_instances(source_server_ids=batch))
    return [i for i in found if i.get("ec2InstanceID") and i.get("ec2InstanceState") not in ("TERMINATED",)]


def _launched_instances(rt: Runtime, execution_id: str, wave_id: str) -> list[dict[str, Any]]:
    """The recovery instances a wave launched in this execution (ledger, then DescribeRecoveryInstances)."""
    ids = sorted(s["recoveryInstanceId"] for s in rt.ledger.wave_servers(execution_id, wave_id).values()
                 if s.get("launchStatus") == "LAUNCHED" and s.get("recoveryInstanceId"))
    return _recovery_instances(rt, recovery_instance_ids=ids) if ids else []


def _own_instances(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, phase: str) -> list[dict[str, Any]]:
    """Post-launch: what the wave launched. Pre-launch: the wave's previous recovery instances, if any."""
    if phase == "POST_LAUNCH":
        return _launched_instances(rt, execution["executionId"], plan_wave.wave_id)
    return _recovery_instances(rt, source_server_ids=plan_wave.server_ids)


def _resolve_targets(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, script: Script,
                     phase: str) -> _Targets:
    targets = script.targets
    if targets.instance_ids:
        return _Targets(instance_ids=list(dict.fromkeys(targets.instance_ids)))
    if targets.tags:
        return _Targets(tags=dict(targets.tags))
    target_wave = targets.wave or plan_wave.wave_id
    if target_wave == plan_wave.wave_id:
        instances = _own_instances(rt, execution, plan_wave, phase)
        if not instances:
            why = ("its targets default to this wave, whose recovery instances do not exist before the launch"
                   if phase == "PRE_LAUNCH" else "no server of this wave launched")
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


def _parameters(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, script: Script,
                phase: str) -> dict[str, list[str]]:
    """The script's parameters, plus the run context wherever the document declares it."""
    declared = _ssm(rt).document_parameters(script.document_name)
    parameters = {name: list(value) if isinstance(value, list) else [value]
                  for name, value in script.parameters.items()}
    context = {"ExecutionId": execution["executionId"], "PlanId": execution["planId"],
               "WaveId": plan_wave.wave_id, "Mode": execution["mode"],
               "executionTimeout": str(script.timeout_seconds)}
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


def _send(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, try_number: int, key: str,
          replay: bool) -> None:
    """Resolve, send (or, after a crash, adopt the command already sent), record, arm the ticks."""
    plan_wave = frozen_plan(execution).wave(item["waveId"])
    step = phase_steps(plan_wave, item["phase"])[int(item["index"])]
    targets = _resolve_targets(rt, execution, plan_wave, step.script, item["phase"])
    if targets.skip_reason:
        _skip(rt, execution, item, try_number, targets.skip_reason, key=key)
        return
    comment = _comment(item, try_number)
    ssm = _ssm(rt)
    commands: list[dict[str, Any]] = []
    if replay:  # the same event claimed it before: a crash may have happened after SendCommand
        since = datetime.fromisoformat(str(item["claimedAt"]).replace("Z", "+00:00")) - timedelta(seconds=1)
        commands = ssm.find_command(step.script.document_name, comment, since)
    if not commands:
        try:
            parameters = _parameters(rt, execution, plan_wave, step.script, item["phase"])
            commands = ssm.send_command(step.script.document_name, parameters, instance_ids=targets.instance_ids,
                                        tags=targets.tags, timeout_seconds=step.script.timeout_seconds,
                                        comment=comment)
        except SsmRejected as exc:
            logger.warning("SendCommand rejected", document=step.script.document_name, error=str(exc))
            _conclude(rt, execution, item, try_number=try_number, verdict="Failed", instances=[],
                      reason=f"SendCommand rejected: {exc}"[:500], from_=("SENDING",), key=key)
            return
    command_ids = [str(c["CommandId"]) for c in commands]
    expected = sum(int(c.get("TargetCount", 0)) for c in commands)
    now = rt.clock.now()
    deadline = now + timedelta(seconds=step.script.timeout_seconds)
    recorded = rt.ledger.record_sent(
        item["executionId"], item["sk"], try_number=try_number, key=key, command_ids=command_ids, expected=expected,
        sets={"deadline": deadline.isoformat(), "targetCount": expected,
              **({"tags": targets.tags} if targets.tags else {})},
        index={"waveId": item["waveId"], "phase": item["phase"], "index": int(item["index"]),
               "waveAttempt": int(item["waveAttempt"])})
    if not recorded:
        return
    metrics.add_metric(name="ScriptCommandsSent", unit="Count", value=len(command_ids))
    logger.info("script sent", wave_id=item["waveId"], phase=item["phase"], index=item["index"],
                document=step.script.document_name, commands=len(command_ids), instances=expected,
                try_number=try_number)
    if expected == 0:
        sent = {**item, "commandIds": command_ids, "status": "RUNNING", "tryNumber": try_number}
        _skip(rt, execution, sent, try_number, f"no instance matches the tags {targets.tags}", key=key,
              from_=("RUNNING",))
        return
    _schedule(rt, item, try_number, "timeout", deadline, command_id=command_ids[0])
    _schedule(rt, item, try_number, "poll", now + timedelta(seconds=poll_interval(1)), tick=1)


def _skip(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], try_number: int, why: str, *, key: str,
          from_: tuple[str, ...] = ("SENDING",)) -> None:
    phase_name = "pre-launch" if item["phase"] == "PRE_LAUNCH" else "post-launch"
    what = "health check" if item.get("healthCheck") else f"{phase_name} script"
    warning = f"{item['waveId']}: {what} {item['documentName']} skipped: {why}"
    _finish(rt, execution, item, try_number=try_number, status="Skipped", instances=[], reason=why,
            warnings=[warning], from_=from_, key=key)


# ---- ticks -----------------------------------------------------------------------------------------


def _tick_name(item: dict[str, Any], try_number: int, purpose: str, tick: int = 1) -> str:
    return schedule_name("script", purpose, item["executionId"], item["waveId"], str(item["waveAttempt"]),
                         str(item["phase"])[:4], str(item["index"]), str(try_number), str(tick))


def _schedule(rt: Runtime, item: dict[str, Any], try_number: int, purpose: Purpose, when: datetime, *,
              tick: int = 1, command_id: str | None = None) -> None:
    model = PreLaunchTick if item["phase"] == "PRE_LAUNCH" else PostLaunchTick
    if when.microsecond:  # schedules have whole seconds: never fire early (a timeout is at least timeoutSeconds)
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    rt.scheduler.at(_tick_name(item, try_number, purpose, tick), when, model(
        execution_id=item["executionId"], plan_id=item["planId"], wave_id=item["waveId"],
        attempt=int(item["waveAttempt"]), phase=item["phase"], index=int(item["index"]), try_number=try_number,
        purpose=purpose, command_id=command_id, tick=tick))


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
    if detail.purpose == "retry":
        waiting = item.get("status") == "RETRY_WAIT" and current == detail.try_number - 1
        replay = item.get("status") == "SENDING" and current == detail.try_number and item.get("sendKey") == event_id
        if not (waiting or replay):
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
        _time_out(rt, execution, item, key=event_id)
        return
    if not _check(rt, execution, item, key=event_id):
        when = rt.clock.now() + timedelta(seconds=poll_interval(detail.tick + 1))
        _schedule(rt, item, detail.try_number, "poll", when, tick=detail.tick + 1)


# ---- completion ------------------------------------------------------------------------------------


def on_command_status(rt: Runtime, detail: dict[str, Any], event_id: str) -> None:
    """An aws.ssm invocation status-change event: count the finished invocation; after the last one
    of the try, read the results and conclude."""
    command_id, instance_id, status = detail.get("command-id"), detail.get("instance-id"), detail.get("status")
    if not isinstance(command_id, str) or not isinstance(instance_id, str) or len(command_id) > 64 \
            or len(instance_id) > 64:
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


def _instance_result(invocation: dict[str, Any] | None, instance_id: str,
                     status: str | None = None) -> dict[str, Any]:
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
    results = [_instance_result(inv, iid) for iid, inv in sorted(invocations.items())]
    _conclude(rt, execution, item, try_number=int(item["tryNumber"]), verdict=_verdict([r["status"] for r in results]),
              instances=results, reason=None, from_=("RUNNING",), key=key)
    return True


def _time_out(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, key: str) -> None:
    """The plan's timeoutSeconds has passed: cancel what still runs; the try counts as TimedOut."""
    for command_id in item.get("commandIds", []):
        _ssm(rt).cancel(command_id)
    invocations = _invocations(rt, item)
    results = []
    for iid, inv in sorted(invocations.items()):
        ended = inv.get("Status") in TERMINAL_STATUSES and inv.get("Status") != "Cancelled"
        results.append(_instance_result(inv, iid, None if ended else "TimedOut"))
    metrics.add_metric(name="ScriptsTimedOut", unit="Count", value=1)
    _conclude(rt, execution, item, try_number=int(item["tryNumber"]), verdict="TimedOut", instances=results,
              reason=f"did not finish within {item.get('timeoutSeconds')} s: cancelled", from_=("RUNNING",), key=key)


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


def _conclude(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, try_number: int, verdict: str,
              instances: list[dict[str, Any]], reason: str | None, from_: tuple[str, ...], key: str) -> None:
    """A try has ended: retry it, or end the script."""
    if verdict != "Success" and try_number <= int(item.get("retries", 0)):
        failed = sum(1 for i in instances if i["status"] != "Success")
        result = {"tryNumber": try_number, "status": verdict, "commandIds": list(item.get("commandIds", [])),
                  "instancesFailed": failed, "endedAt": rt.ledger.now(), **({"reason": reason} if reason else {})}
        outcome = rt.ledger.script_retry_wait(item["executionId"], item["sk"], try_number=try_number, result=result,
                                              from_=from_)
        if not outcome.proceed:
            return
        rt.scheduler.cancel(_tick_name(item, try_number, "timeout"))
        when = rt.clock.now() + timedelta(seconds=retry_backoff(try_number))
        _schedule(rt, item, try_number + 1, "retry", when)
        logger.info("script try failed: retrying", wave_id=item["waveId"], document=item["documentName"],
                    try_number=try_number, status=verdict)
        return
    warnings: list[str] = []
    if verdict != "Success" and item.get("onFailure") == "WARN" and not item.get("healthCheck"):
        phase_name = "pre-launch" if item["phase"] == "PRE_LAUNCH" else "post-launch"
        warnings.append(f"{item['waveId']}: {phase_name} script {item['documentName']} {verdict}"
                        + (f" ({reason})" if reason else "") + " (onFailure WARN)")
    _finish(rt, execution, item, try_number=try_number, status=verdict, instances=instances, reason=reason,
            warnings=warnings, from_=from_, key=key)


def _finish(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], *, try_number: int, status: str,
            instances: list[dict[str, Any]], reason: str | None, warnings: list[str], from_: tuple[str, ...],
            key: str) -> None:
    now = rt.ledger.now()
    summary: dict[str, Any] = {
        "phase": item["phase"], "index": int(item["index"]), "documentName": item["documentName"],
        "status": status, "onFailure": item.get("onFailure", "FAIL"), "attempts": try_number,
        "startedAt": item.get("startedAt"), "endedAt": now, "waveAttempt": int(item.get("waveAttempt", 1)),
        "commandIds": list(item.get("commandIds", [])),
        "instances": _excerpts(instances, WAVE_OUTPUT_BUDGET),
        **({"healthCheck": True} if item.get("healthCheck") else {}),
        **({"reason": reason} if reason else {}),
    }
    outcome = rt.ledger.finish_script(
        item["executionId"], item["waveId"], item["sk"], try_number=try_number, from_=from_, status=status,
        sets={"instances": _excerpts(instances, SCRIPT_OUTPUT_BUDGET), "warnings": warnings,
              **({"reason": reason} if reason else {})},
        summary=summary, warnings=warnings, key=key)
    if not outcome.proceed:
        return
    if status in ("Success", "Skipped", "Failed", "TimedOut", "Cancelled") and item.get("commandIds"):
        rt.scheduler.cancel(_tick_name(item, try_number, "timeout"))
    metrics.add_metric(name=f"Scripts{status}", unit="Count", value=1)
    logger.info("script ended", wave_id=item["waveId"], phase=item["phase"], index=item["index"],
                document=item["documentName"], status=status, attempts=try_number)
    _after(rt, execution, item, status, reason)


def _after(rt: Runtime, execution: dict[str, Any], item: dict[str, Any], status: str, reason: str | None) -> None:
    """What follows a script: fail the wave, start the next script, or end the phase."""
    wave_id, phase, index = item["waveId"], item["phase"], int(item["index"])
    wave_attempt = int(item.get("waveAttempt", 1))
    plan_wave = frozen_plan(execution).wave(wave_id)
    failed = status not in ("Success", "Skipped")
    if failed and (item.get("onFailure") == "FAIL" or item.get("healthCheck")):
        what = "health check" if item.get("healthCheck") else \
            ("pre-launch" if phase == "PRE_LAUNCH" else "post-launch") + " script"
        why = f"{what} {item['documentName']} {status}" + (f": {reason}" if reason else "")
        _fail_wave(rt, execution, plan_wave, wave_attempt, phase, why[:1000], key=f"{item['sk']}:fail")
        return
    if index + 1 < len(phase_steps(plan_wave, phase)):
        start_script(rt, execution, wave_id=wave_id, wave_attempt=wave_attempt, phase=phase, index=index + 1,
                     key=f"{item['sk']}:next")
        return
    if _wave_in_phase(rt, execution["executionId"], wave_id, wave_attempt, phase):
        _publish_done(rt, execution, wave_id, wave_attempt, phase)


def _fail_wave(rt: Runtime, execution: dict[str, Any], plan_wave: Wave, wave_attempt: int, phase: str, reason: str,
               *, key: str) -> None:
    execution_id = execution["executionId"]
    outcome = rt.ledger.finish_wave(execution_id, plan_wave.wave_id, from_=[_phase_status(phase)], to="FAILED",
                                    key=key, sets={"reason": reason})
    if not outcome.proceed:
        return
    rt.ledger.record_execution_failure(execution_id, plan_wave.wave_id)
    logger.warning("wave failed by a script", wave_id=plan_wave.wave_id, reason=reason)
    rt.bus.publish(WaveFailed(execution_id=execution_id, plan_id=execution["planId"], wave_id=plan_wave.wave_id,
                              attempt=wave_attempt, reason=reason, on_failure=plan_wave.on_failure.value))


def phase_results(rt: Runtime, execution_id: str, wave_id: str, wave_attempt: int,
                  phase: str) -> tuple[list[ScriptResult], list[str]]:
    """The ended scripts of a wave attempt's phase, in plan order, and their warnings."""
    results: list[ScriptResult] = []
    warnings: list[str] = []
    items = [i for i in rt.ledger.list_scripts(execution_id, wave_id, wave_attempt) if i.get("phase") == phase]
    for item in sorted(items, key=lambda i: int(i.get("index", 0))):
        if item.get("status") not in FINAL_SCRIPT:
            continue
        warnings.extend(item.get("warnings", []))
        results.append(ScriptResult(
            phase=item["phase"], document_name=item["documentName"], status=item["status"],
            on_failure=item.get("onFailure", "FAIL"), attempts=max(1, int(item.get("tryNumber", 1))),
            started_at=item.get("startedAt"), ended_at=item.get("endedAt"), index=int(item.get("index", 0)),
            health_check=True if item.get("healthCheck") else None, reason=item.get("reason"),
            instances=[InstanceResult(instance_id=i["instanceId"], status=i["status"],
                                      duration_seconds=i.get("durationSeconds"))
                       for i in item.get("instances", [])]))
    return results, warnings


def _publish_done(rt: Runtime, execution: dict[str, Any], wave_id: str, wave_attempt: int, phase: str, *,
                  results: tuple[list[ScriptResult], list[str]] | None = None) -> None:
    scripts, warnings = results or phase_results(rt, execution["executionId"], wave_id, wave_attempt, phase)
    event = PreLaunchDone if phase == "PRE_LAUNCH" else PostLaunchDone
    rt.bus.publish(event(execution_id=execution["executionId"], plan_id=execution["planId"], wave_id=wave_id,
                         attempt=wave_attempt, scripts=scripts, warnings=warnings))
