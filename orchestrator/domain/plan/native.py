"""Native DRS recovery plans in and out: pure conversions between DRS's plans and ours.

A native plan (DRS CreateRecoveryPlan, botocore 1.44.8) is an ordered list of at most 20 steps, each a SERVER
step (1 to 100 source servers, each CRITICAL or OPTIONAL, launched together) or a WAIT step (1 to 120 minutes);
a step starts when the one before it has ended. It has no dependency graph, scripts, approvals, launch settings
or clean-up.

- **native -> ours** (`import_native`): each SERVER step becomes a wave that depends on the wave of the SERVER
  step before it (a chain), each server keeping its impact level as its criticality; nothing else is set, so
  the waves stop the plan on failure, as a failed native step ends its execution. Our plan model has no timed
  pause (a wave waits only for its dependencies and approvals), and a WAIT step cannot be a script (no
  DRSOrch wait document exists, and a script needs instances to run on): a plan with WAIT steps is refused,
  naming each one, unless the caller asks to drop them (`drop_waits`, listed in `Imported.dropped`).
- **ours -> native** (`export_plan`): the dependency layers (`analysis.layers`) become SERVER steps in order,
  one per layer (a layer's waves launch together), a layer of more than 100 servers cut into several steps of
  at most 100 that then run one after the other. `unexpressible` lists, before anything is written, exactly
  what the native plan cannot hold: parallel branches flattened into layers (and each wave that then also
  waits for waves it does not depend on), scripts, approvals, launch settings, rollback, success thresholds,
  failure policies, pinned snapshots and tag selectors (frozen to the servers they select now). More than 20
  steps is refused.
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
    """The plan made from a native plan (as a document and loaded), and the WAIT steps dropped from it."""

    document: dict[str, Any]
    plan: Plan
    dropped: list[str]


def _as_id(text: str, limit: int, fallback: str) -> str:
    """`text` as a plan or wave id: other characters become '-', it starts alphanumeric, at most `limit`."""
    cleaned = _NOT_ID.sub("-", text).lstrip("._-")[:limit]
    return cleaned or fallback


def _where(position: int, step: NativeStep) -> str:
    return f"step {position} '{step.name}' ({step.describe()})"


def import_native(native: NativePlan, *, plan_id: str | None = None, drop_waits: bool = False) -> Imported:
    """Our plan for `native`: its SERVER steps as a chain of waves (see the module docstring). Raises
    NativePlanError for WAIT steps (unless `drop_waits`), a plan without SERVER steps, or a plan that our model
    refuses (the message has every problem)."""
    waits = [_where(position, step) for position, step in enumerate(native.steps, 1) if step.kind == "WAIT"]
    if waits and not drop_waits:
        msg = (
            f"native plan '{native.name}' has WAIT steps, which a plan of ours cannot express (a wave waits for "
            f"its dependencies and approvals, never for a set time): {'; '.join(waits)}. Remove them, or import "
            "with --drop-waits to launch each SERVER step as soon as the one before it has completed"
        )
        raise NativePlanError(msg)
    waves: list[dict[str, Any]] = []
    used: set[str] = set()
    for position, step in enumerate(native.steps, 1):
        if step.kind == "WAIT":
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
        waves.append(wave)
    if not waves:
        msg = f"native plan '{native.name}' has no SERVER step: there is nothing to launch"
        raise NativePlanError(msg)
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
    return Imported(document, plan, waits)


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
    for number, layer in enumerate(layers(plan), 1):
        waves = [plan.wave(wave_id) for wave_id in layer]
        servers = [
            NativeServer(server_arns[server.source_server_id], server.criticality.value)
            for wave in waves
            for server in wave.servers
        ]
        name = _step_name(waves)
        by_arn = {server.server_arn: server for server in servers}  # a server is in one wave of a plan
        chunks = cut_jobs(list(by_arn), MAX_SERVERS_PER_STEP)
        if len(chunks) == 1:
            steps.append(NativeStep(name, tuple(servers)))
            continue
        cut.append(
            f"layer {number} ({', '.join(layer)}) has {len(servers)} servers: cut into {len(chunks)} steps of at "
            f"most {MAX_SERVERS_PER_STEP} that launch one after the other, not together"
        )
        for part, chunk in enumerate(chunks, 1):
            tail = f" part {part} of {len(chunks)}"
            steps.append(NativeStep(name[: MAX_NAME_CHARS - len(tail)] + tail, tuple(by_arn[arn] for arn in chunk)))
    if len(steps) > MAX_STEPS:
        msg = (
            f"plan '{plan.plan_id}' needs {len(steps)} native steps ({len(layers(plan))} dependency layers, of at "
            f"most {MAX_SERVERS_PER_STEP} servers per step); a native recovery plan has at most {MAX_STEPS}"
        )
        raise NativePlanError(msg)
    return Export(steps, [*flattening(plan), *cut, *unexpressible(plan, selectors or {})])


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


def unexpressible(plan: Plan, selectors: Mapping[str, str]) -> list[str]:
    """What the plan sets that a native plan has no place for, wave by wave, then the plan's defaults."""
    lines: list[str] = []
    for wave in plan.waves:
        lines.extend(f"wave {wave.wave_id}: {what}" for what in _wave_losses(wave, selectors.get(wave.wave_id)))
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
    return lines


def _wave_losses(wave: Wave, selector: str | None) -> list[str]:
    scripts = [("preLaunch", s) for s in wave.pre_launch] + [("postLaunch", s) for s in wave.post_launch]
    lines = [f"{kind} script {script.document_name} (native steps run no scripts)" for kind, script in scripts]
    if wave.health_check is not None:
        lines.append(f"healthCheck {wave.health_check.document_name} (native steps run no scripts)")
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
    if selector is not None:
        lines.append(
            f"sourceServerTags {selector} (exported as the {len(wave.servers)} server(s) it selects now; servers "
            "tagged later are not added)"
        )
    return lines
