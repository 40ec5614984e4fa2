"""Native DRS recovery plans in and out: pure conversions between DRS's plans and ours.

A native plan (DRS CreateRecoveryPlan, botocore 1.44.8) is an ordered list of at most 20 steps, each a SERVER
step (1 to 100 source servers, each CRITICAL or OPTIONAL, launched together) or a WAIT step (1 to 120 minutes);
a step starts when the one before it has ended. It has no dependency graph, scripts, approvals, launch settings
or clean-up.

- **native -> ours** (`import_native`): each SERVER step becomes a wave that depends on the wave of the SERVER
  step before it (a chain), each server keeping its impact level as its criticality; each WAIT step becomes a
  WAIT pre-launch step of the wave of the next SERVER step (consecutive waits, consecutive WAIT steps, in
  order), and the WAIT steps after the last SERVER step become WAIT post-launch steps of the last wave (the
  native plan ends only after them). Nothing else is set, so the waves stop the plan on failure, as a failed
  native step ends its execution.
- **ours -> native** (`export_plan`): the dependency layers (`analysis.layers`) become SERVER steps in order,
  one per layer (a layer's waves launch together), a layer of more than 100 servers cut into several steps of
  at most 100 that then run one after the other. The WAIT steps a layer's waves begin their pre-launch with
  (the same ones in every wave of the layer) become WAIT steps before its SERVER step, and those the last
  wave begins its post-launch with WAIT steps after it, when each is whole minutes (1 to 120). `unexpressible`
  lists, before anything is written, exactly what the native plan cannot hold: parallel branches flattened
  into layers (and each wave that then also waits for waves it does not depend on), scripts, any other wait,
  approvals, launch settings, rollback, success thresholds, failure policies, pinned snapshots and tag
  selectors (frozen to the servers they select now). More than 20 steps (SERVER and WAIT) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.domain.plan.analysis import cut_jobs, layers, upstream
from orchestrator.domain.plan.model import (
    Criticality,
    OnFailure,
    Plan,
    Rollback,
    Script,
    ScriptType,
    Wave,
)
from orchestrator.domain.plan.problems import PlanError
from orchestrator.domain.plan.validation import parse_plan

MAX_STEPS = 20
MAX_SERVERS_PER_STEP = 100
MAX_WAIT_MINUTES = 120
MAX_NAME_CHARS = 256
MAX_DESCRIPTION_CHARS = 1024
#: RecoveryPlanName and RecoveryPlanStepName in botocore's drs model (botocore does not check patterns).
NATIVE_NAME_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9 _-]*"
#: The tag export-native puts on the native plans it creates: the id of the plan they were made from.
PLAN_ID_TAG = "drs-orch:plan-id"
_SERVER_ARN = re.compile(r"arn:(?:[0-9a-zA-Z_-]+:){3}([0-9]{12,}):source-server/(s-[0-9a-zA-Z]{17})")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9 _-]")
_NOT_ID = re.compile(r"[^A-Za-z0-9._-]")


class NativePlanError(ValueError):
    """A native plan that cannot become ours, or a plan of ours that cannot become native (the message says
    exactly why, naming the step or the waves)."""


@dataclass(frozen=True)
class NativeServer:
    server_arn: str
    impact_level: str = "CRITICAL"

    @property
    def source_server_id(self) -> str:
        match = _SERVER_ARN.fullmatch(self.server_arn)
        if match is None:
            msg = f"'{self.server_arn}' is not a DRS source server ARN"
            raise NativePlanError(msg)
        return match.group(2)


@dataclass(frozen=True)
class NativeStep:
    """A SERVER step (`servers`) or a WAIT step (`wait_minutes`)."""

    name: str
    servers: tuple[NativeServer, ...] = ()
    wait_minutes: int | None = None

    @property
    def kind(self) -> str:
        return "WAIT" if self.wait_minutes is not None else "SERVER"

    def configuration(self) -> dict[str, Any]:
        """The step's `configuration` as CreateRecoveryPlanStep takes it."""
        if self.wait_minutes is not None:
            return {"waitStepConfiguration": {"waitDurationMinutes": self.wait_minutes}}
        servers = [{"serverArn": s.server_arn, "impactLevel": s.impact_level} for s in self.servers]
        return {"serverStepConfiguration": {"servers": servers}}

    def describe(self) -> str:
        if self.wait_minutes is not None:
            return f"WAIT {self.wait_minutes} minute(s)"
        ids = ", ".join(
            s.source_server_id + (" (OPTIONAL)" if s.impact_level == "OPTIONAL" else "") for s in self.servers
        )
        return f"SERVER {len(self.servers)} server(s): {ids}"


@dataclass(frozen=True)
class NativePlan:
    name: str
    steps: tuple[NativeStep, ...]
    description: str | None = None
    arn: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def native_plan(plan: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> NativePlan:
    """A native plan from GetRecoveryPlan's `recoveryPlan` and ListRecoveryPlanSteps' steps (any order)."""
    ordered = sorted(steps, key=lambda step: int(step["stepOrder"]))
    return NativePlan(
        name=str(plan["name"]),
        description=plan.get("description"),
        arn=plan.get("recoveryPlanArn"),
        tags=dict(plan.get("tags") or {}),
        steps=tuple(_step(step) for step in ordered),
    )


def _step(step: Mapping[str, Any]) -> NativeStep:
    configuration = step["configuration"]
    if "waitStepConfiguration" in configuration:
        return NativeStep(
            str(step["stepName"]), wait_minutes=int(configuration["waitStepConfiguration"]["waitDurationMinutes"])
        )
    servers = configuration["serverStepConfiguration"]["servers"]
    return NativeStep(
        str(step["stepName"]),
        servers=tuple(NativeServer(s["serverArn"], s.get("impactLevel") or "CRITICAL") for s in servers),
    )


# ---------------------------------------------------------------------- native -> ours


@dataclass(frozen=True)
class Imported:
    """The plan made from a native plan, as a document and loaded."""

    document: dict[str, Any]
    plan: Plan

    @property
    def waits(self) -> int:
        """How many WAIT steps the plan holds (each one of the native plan's)."""
        return sum(1 for wave in self.plan.waves for step in [*wave.pre_launch, *wave.post_launch] if step.is_wait)


def _as_id(text: str, limit: int, fallback: str) -> str:
    """`text` as a plan or wave id: other characters become '-', it starts alphanumeric, at most `limit`."""
    cleaned = _NOT_ID.sub("-", text).lstrip("._-")[:limit]
    return cleaned or fallback


def _wait(step: NativeStep) -> dict[str, Any]:
    return {"type": ScriptType.WAIT.value, "seconds": int(step.wait_minutes or 0) * 60}


def import_native(native: NativePlan, *, plan_id: str | None = None) -> Imported:
    """Our plan for `native`: its SERVER steps as a chain of waves, its WAIT steps as WAIT steps of those waves
    (see the module docstring). Raises NativePlanError for a plan without SERVER steps, or one that our model
    refuses (the message has every problem)."""
    waves: list[dict[str, Any]] = []
    used: set[str] = set()
    waits: list[dict[str, Any]] = []  # the WAIT steps since the last SERVER step
    for position, step in enumerate(native.steps, 1):
        if step.kind == "WAIT":
            waits.append(_wait(step))
            continue
        wave_id = base = _as_id(step.name, 64, f"step-{position}")
        suffix = 2
        while wave_id in used:
            tail = f"-{suffix}"
            wave_id, suffix = base[: 64 - len(tail)] + tail, suffix + 1
        used.add(wave_id)
        wave: dict[str, Any] = {"waveId": wave_id, "name": step.name}
        if waves:
            wave["dependsOn"] = [waves[-1]["waveId"]]
        wave["servers"] = [
            {"sourceServerID": server.source_server_id, "criticality": server.impact_level} for server in step.servers
        ]
        if waits:
            wave["preLaunch"], waits = waits, []
        waves.append(wave)
    if not waves:
        msg = f"native plan '{native.name}' has no SERVER step: there is nothing to launch"
        raise NativePlanError(msg)
    if waits:
        waves[-1]["postLaunch"] = waits
    document: dict[str, Any] = {"planId": plan_id or _as_id(native.name, 128, "imported"), "name": native.name}
    if native.description:
        document["description"] = native.description
    document["waves"] = waves
    try:
        plan = parse_plan(document)
    except PlanError as exc:
        problems = "; ".join(str(problem) for problem in exc.problems)
        msg = f"native plan '{native.name}' does not make a valid plan: {problems}"
        raise NativePlanError(msg) from None
    return Imported(document, plan)


# ---------------------------------------------------------------------- ours -> native


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a native plan or step (None: it can)."""
    if not 1 <= len(name) <= MAX_NAME_CHARS or re.fullmatch(NATIVE_NAME_PATTERN, name) is None:
        return (
            f"'{name}' is not a valid native recovery plan name (1 to {MAX_NAME_CHARS} letters, digits, spaces, "
            "'_' and '-', starting with a letter or digit)"
        )
    return None


def _step_name(waves: Sequence[Wave]) -> str:
    text = " and ".join(wave.name or wave.wave_id for wave in waves)
    cleaned = _NOT_NAME.sub("_", text).lstrip(" _-")[:MAX_NAME_CHARS]
    return cleaned or "Step"


@dataclass(frozen=True)
class Export:
    """The native steps of a plan, and what they cannot express (each line says what and where)."""

    steps: list[NativeStep]
    unexpressible: list[str]


def export_plan(plan: Plan, server_arns: Mapping[str, str], *, selectors: Mapping[str, str] | None = None) -> Export:
    """The native steps of `plan` (its tag selectors already resolved; `selectors`: wave id -> the selector it
    had, rendered) and everything they cannot express. `server_arns`: source server id -> its ARN. Raises
    NativePlanError when a server has no ARN or the plan needs more than 20 steps."""
    missing = sorted({sid for wave in plan.waves for sid in wave.server_ids} - set(server_arns))
    if missing:
        msg = f"source servers not found in the account and Region: {', '.join(missing)}"
        raise NativePlanError(msg)
    steps: list[NativeStep] = []
    cut: list[str] = []
    waits = exported_waits(plan)
    for number, layer in enumerate(layers(plan), 1):
        waves = [plan.wave(wave_id) for wave_id in layer]
        servers = [
            NativeServer(server_arns[server.source_server_id], server.criticality.value)
            for wave in waves
            for server in wave.servers
        ]
        name = _step_name(waves)
        steps.extend(_wait_steps("before", name, waits.before.get(number, [])))
        by_arn = {server.server_arn: server for server in servers}  # a server is in one wave of a plan
        chunks = cut_jobs(list(by_arn), MAX_SERVERS_PER_STEP)
        if len(chunks) == 1:
            steps.append(NativeStep(name, tuple(servers)))
            steps.extend(_wait_steps("after", name, waits.after if number == len(layers(plan)) else []))
            continue
        cut.append(
            f"layer {number} ({', '.join(layer)}) has {len(servers)} servers: cut into {len(chunks)} steps of at "
            f"most {MAX_SERVERS_PER_STEP} that launch one after the other, not together"
        )
        for part, chunk in enumerate(chunks, 1):
            tail = f" part {part} of {len(chunks)}"
            steps.append(NativeStep(name[: MAX_NAME_CHARS - len(tail)] + tail, tuple(by_arn[arn] for arn in chunk)))
        steps.extend(_wait_steps("after", name, waits.after if number == len(layers(plan)) else []))
    if len(steps) > MAX_STEPS:
        wait_steps = sum(1 for step in steps if step.kind == "WAIT")
        with_waits = f" and {wait_steps} WAIT steps" if wait_steps else ""
        msg = (
            f"plan '{plan.plan_id}' needs {len(steps)} native steps ({len(layers(plan))} dependency layers, of at "
            f"most {MAX_SERVERS_PER_STEP} servers per step{with_waits}); a native recovery plan has at most {MAX_STEPS}"
        )
        raise NativePlanError(msg)
    return Export(steps, [*flattening(plan), *cut, *unexpressible(plan, selectors or {}, waits)])


@dataclass(frozen=True)
class ExportedWaits:
    """The WAIT steps of a plan that native WAIT steps hold: in minutes, before the SERVER step of each layer
    (by its number, from 1), and after the last one; `held`: which of the plan's steps they are, as
    (wave id, preLaunch or postLaunch, position)."""

    before: Mapping[int, list[int]]
    after: list[int]
    held: frozenset[tuple[str, str, int]]


def _minutes(step: Script) -> int | None:
    """A WAIT step's length in whole minutes when a native WAIT step can hold it (1 to 120), else None."""
    seconds = int(step.seconds or 0)
    if seconds % 60 or not 1 <= seconds // 60 <= MAX_WAIT_MINUTES:
        return None
    return seconds // 60


def _leading_waits(steps: Sequence[Script]) -> list[tuple[int, int]]:
    """(position, minutes) of the WAIT steps `steps` begins with (before any script) that native steps hold."""
    found: list[tuple[int, int]] = []
    for position, step in enumerate(steps):
        if not step.is_wait:
            break
        minutes = _minutes(step)
        if minutes is not None:
            found.append((position, minutes))
    return found


def exported_waits(plan: Plan) -> ExportedWaits:
    """Which WAIT steps of `plan` become native WAIT steps (see the module docstring): those every wave of a layer
    begins its preLaunch with alike, and those the only wave of the last layer begins its postLaunch with."""
    before: dict[int, list[int]] = {}
    held: set[tuple[str, str, int]] = set()
    found = layers(plan)
    for number, layer in enumerate(found, 1):
        leading = {wave_id: _leading_waits(plan.wave(wave_id).pre_launch) for wave_id in layer}
        minutes = {tuple(m for _, m in waits) for waits in leading.values()}
        if len(minutes) == 1 and (alike := list(next(iter(minutes)))):
            before[number] = alike
            held |= {(wave_id, "preLaunch", position) for wave_id, waits in leading.items() for position, _ in waits}
    after: list[int] = []
    if found and len(found[-1]) == 1:
        last = found[-1][0]
        trailing = _leading_waits(plan.wave(last).post_launch)
        after = [m for _, m in trailing]
        held |= {(last, "postLaunch", position) for position, _ in trailing}
    return ExportedWaits(before, after, frozenset(held))


def _wait_steps(where: str, name: str, minutes: Sequence[int]) -> list[NativeStep]:
    """Native WAIT steps `before` or `after` the SERVER step `name`: `Wait before web`, `Wait 2 after web`."""
    steps = []
    for number, length in enumerate(minutes, 1):
        label = f"Wait {number} {where} " if len(minutes) > 1 else f"Wait {where} "
        steps.append(NativeStep((label + name)[:MAX_NAME_CHARS], wait_minutes=length))
    return steps


def flattening(plan: Plan) -> list[str]:
    """What layering changes in the order: each layer of parallel waves, and each wave that now also waits for
    waves it does not depend on (a native step starts only when every step before it has ended)."""
    lines: list[str] = []
    found = layers(plan)
    for number, layer in enumerate(found, 1):
        if len(layer) > 1:
            lines.append(
                f"layer {number}: waves {', '.join(layer)} are parallel branches; they become one step "
                f"'{_step_name([plan.wave(w) for w in layer])}' that launches their servers together and ends "
                "when all of them have"
            )
    earlier: list[str] = []
    for layer in found:
        for wave_id in layer:
            extra = [other for other in earlier if other not in upstream(plan, wave_id)]
            if extra:
                lines.append(
                    f"wave {wave_id} also waits for {', '.join(extra)}, which it does not depend on (a native step "
                    "starts after every step before it)"
                )
        earlier.extend(layer)
    return lines


def unexpressible(plan: Plan, selectors: Mapping[str, str], waits: ExportedWaits | None = None) -> list[str]:
    """What the plan sets that a native plan has no place for, wave by wave, then the plan's defaults. `waits`:
    the WAIT steps the native plan holds (default: `exported_waits(plan)`)."""
    held = (waits or exported_waits(plan)).held
    last = layers(plan)[-1] if plan.waves else []
    lines: list[str] = []
    for wave in plan.waves:
        losses = [
            *_step_losses(wave, held, last=last == [wave.wave_id]),
            *_wave_losses(wave, selectors.get(wave.wave_id)),
        ]
        lines.extend(f"wave {wave.wave_id}: {what}" for what in losses)
    defaults = plan.defaults
    if defaults.launch_settings is not None:
        lines.append("defaults.launchSettings: native steps launch each server as its DRS launch settings stand")
    if defaults.require_approval_in_recovery:
        lines.append("defaults.requireApprovalInRecovery: native steps have no approvals")
    if defaults.drill_instance_ttl_seconds is not None:
        lines.append("defaults.drillInstanceTtlSeconds: a native drill leaves its instances running")
    if "max_replication_lag_seconds" in defaults.model_fields_set:
        lines.append("defaults.maxReplicationLagSeconds: native steps do not check replication lag before a launch")
    if plan.description is not None and len(plan.description) > MAX_DESCRIPTION_CHARS:
        lines.append(f"description: cut to its first {MAX_DESCRIPTION_CHARS} characters")
    if plan.reprotects:
        lines.append("failback.reprotect: native recovery plans have no failback (DRILL and RECOVERY only)")
    return lines


def _step_losses(wave: Wave, held: frozenset[tuple[str, str, int]], *, last: bool) -> list[str]:
    """The wave's scripts, and its WAIT steps that no native WAIT step holds, each with why."""
    lines: list[str] = []
    for kind, steps in (("preLaunch", wave.pre_launch), ("postLaunch", wave.post_launch)):
        for position, step in enumerate(steps):
            if not step.is_wait:
                lines.append(f"{kind} script {step.name} (native steps run no scripts)")
            elif (wave.wave_id, kind, position) not in held:
                lines.append(f"{kind} {step.name} ({_why_not_held(wave, kind, position, last=last)})")
    if wave.health_check is not None:
        lines.append(f"healthCheck {wave.health_check.name} (native steps run no scripts)")
    return lines


def _why_not_held(wave: Wave, kind: str, position: int, *, last: bool) -> str:
    steps = wave.pre_launch if kind == "preLaunch" else wave.post_launch
    if _minutes(steps[position]) is None:
        return f"a native WAIT step is whole minutes, 1 to {MAX_WAIT_MINUTES}"
    if any(not step.is_wait for step in steps[:position]):
        return "it follows a script, and native steps run no scripts: a native wait comes only between steps"
    if kind == "postLaunch" and not last:
        return "only the last wave's post-launch waits are exported: wait in the pre-launch of the waves after it"
    return "the waves of its layer do not begin with the same waits, and their one SERVER step waits once"


def _wave_losses(wave: Wave, selector: str | None) -> list[str]:
    lines: list[str] = []
    if wave.approval is not None and wave.approval.required:
        lines.append("approval (native steps have no approvals)")
    if wave.launch_settings is not None:
        lines.append("launchSettings (native steps launch each server as its DRS launch settings stand)")
    with_settings = [s.source_server_id for s in wave.servers if s.launch_settings is not None]
    if with_settings:
        lines.append(f"launchSettings of servers {', '.join(with_settings)}")
    pinned = [s.source_server_id for s in wave.servers if s.recovery_snapshot_id is not None]
    if pinned:
        lines.append(f"recoverySnapshotID of servers {', '.join(pinned)} (native steps launch the latest snapshot)")
    if wave.rollback is Rollback.TERMINATE:
        lines.append("rollback TERMINATE (a native step leaves the instances of a failed step running)")
    if wave.success_threshold is not None:
        optional = sum(1 for s in wave.servers if s.criticality is Criticality.OPTIONAL)
        lines.append(
            f"successThreshold {wave.success_threshold:g} (exported as impact levels only: {optional} OPTIONAL "
            "server(s), whose failures never fail the step)"
        )
    if wave.on_failure is OnFailure.CONTINUE:
        lines.append("onFailure CONTINUE (a failed native step ends the execution)")
    if wave.failback is not None and wave.failback.given():
        lines.append("failback scripts (native recovery plans have no failback: DRILL and RECOVERY only)")
    if selector is not None:
        lines.append(
            f"sourceServerTags {selector} (exported as the {len(wave.servers)} server(s) it selects now; servers "
            "tagged later are not added)"
        )
    return lines
