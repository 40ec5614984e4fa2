"""Which account and Region a step acts in (issue #15 item 1): a wave's target, from the execution's frozen plan.

Every step that acts for a wave calls DRS, EC2 and SSM through `wave_runtime(rt, execution, wave_id)`: the runtime
itself for a wave without a target (the orchestrator's own account and Region, no AssumeRole), else `rt.at(target)`,
the target's adapters on its role's cached credentials. A step that acts for several waves groups them by target
(`waves_by_target`), so one AWS call never mixes accounts.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan, Target
from orchestrator.domain.records import ExecutionRecord
from orchestrator.runtime import Runtime


def wave_target(execution: ExecutionRecord | Mapping[str, Any], wave_id: str) -> Target | None:
    """The target of the execution's wave `wave_id` (None: the orchestrator's own account and Region, or a wave the
    frozen plan does not have)."""
    plan = frozen_plan(execution)
    return next((wave.target for wave in plan.waves if wave.wave_id == wave_id), None)


def wave_runtime(rt: Runtime, execution: ExecutionRecord | Mapping[str, Any], wave_id: str) -> Runtime:
    """`rt` acting in the wave's target. Raises `orchestrator.domain.targets.TargetUnavailable` when STS refuses
    the target's role."""
    return rt.at(wave_target(execution, wave_id))


def waves_by_target(plan: Plan, wave_ids: Collection[str] | None = None) -> list[tuple[Target | None, list[str]]]:
    """The waves of `plan` (of `wave_ids`; None: every one) grouped by target, in plan order of each group's first
    wave (a plan without targets: one group, the own account, with every wave)."""
    groups: dict[tuple[str, ...] | None, tuple[Target | None, list[str]]] = {}
    for wave in plan.waves:
        if wave_ids is not None and wave.wave_id not in wave_ids:
            continue
        key = wave.target.key if wave.target else None
        groups.setdefault(key, (wave.target, []))[1].append(wave.wave_id)
    return list(groups.values())
