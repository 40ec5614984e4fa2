"""The report's recovery objectives: achieved RTO and RPO, margin and verdict, from what the report already holds.

`add_objectives(report, plan)` works on the report `build_report` made from the ledger (never DRS: each server's
recovery point was recorded with its launch, `orchestrator/steps/recovery_points.py`) and the frozen plan, and adds:

- `report["declaredAt"]`'s figures: every server of every wave gets `rpoMinutes` (declaredAt - its
  `recoveryPointAt`, at least 0; None without a snapshot time);
- `wave["objectives"]` for a wave that declares objectives of its own, `report["objectives"]` for a plan that does:
  `{"rto": O, "rpo": O}` (a key only for an objective declared), each O as `orchestrator.domain.objectives.judge`
  gives it: `objectiveMinutes`, `achievedMinutes`, `marginMinutes`, `verdict` (MET | MISSED | NOT_MEASURED) and,
  when NOT_MEASURED, `reason`.

Achieved RTO of a wave: declaredAt -> the moment it COMPLETED (its post-launch scripts and health check done), or
its launch end (`launchedAt`) when it has no post-launch script and no health check; of the plan: its last wave's.
Achieved RPO of a wave: its worst launched server's; of the plan: the worst of all. A wave that did not complete
(FAILED, SKIPPED, or still running) is NOT_MEASURED, and so is the plan then, naming the wave.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.domain.objectives import DECIMALS, Figure, judge, rpo_minutes, rto_minutes, worst
from orchestrator.domain.plan import Objectives, Plan, Wave

LAUNCHED = frozenset({"LAUNCHED", "TERMINATED"})  # TERMINATED: launched, its instance terminated since (a drill's TTL)


def add_objectives(report: dict[str, Any], plan: Plan | None) -> dict[str, Any]:
    """`report` with its servers' RPO figures and, where the plan declares objectives, their verdicts (in place;
    returned for convenience). `plan`: the execution's frozen plan (None: unreadable, only the server figures)."""
    declared = str(report["declaredAt"])
    for wave in report["waves"]:
        for server in wave["servers"]:
            minutes = rpo_minutes(declared, server.get("recoveryPointAt"))
            server["rpoMinutes"] = None if minutes is None else round(minutes, DECIMALS)
    if plan is None:
        return report
    planned = {wave.wave_id: wave for wave in plan.waves}
    rto: dict[str, Figure] = {}
    rpo: dict[str, Figure] = {}
    for wave in report["waves"]:
        wave_id = str(wave["waveId"])
        plan_wave = planned.get(wave_id)
        rto[wave_id] = wave_rto(declared, wave, plan_wave)
        rpo[wave_id] = wave_rpo(declared, wave)
        if plan_wave is not None and plan_wave.objectives is not None:
            wave["objectives"] = judged(plan_wave.objectives, rto[wave_id], rpo[wave_id])
    if plan.objectives is not None:
        missing = [w for w in planned if w not in rto]
        for wave_id in missing:  # a wave of the plan the ledger has no item of (never expected)
            rto[wave_id] = rpo[wave_id] = Figure.unmeasured("not in the ledger")
        report["objectives"] = judged(
            plan.objectives,
            worst((f"wave {w}", figure) for w, figure in rto.items()),
            worst((f"wave {w}", figure) for w, figure in rpo.items()),
        )
    return report


def judged(objectives: Objectives, rto: Figure, rpo: Figure) -> dict[str, Any]:
    """`{"rto": O, "rpo": O}` for the objectives declared (`judge`)."""
    found: dict[str, Any] = {}
    if objectives.rto_minutes is not None:
        found["rto"] = judge(objectives.rto_minutes, rto)
    if objectives.rpo_minutes is not None:
        found["rpo"] = judge(objectives.rpo_minutes, rpo)
    return found


def _not_completed(wave: Mapping[str, Any]) -> Figure | None:
    status = wave.get("status")
    return None if status == "COMPLETED" else Figure.unmeasured(f"the wave is {status}, not COMPLETED")


def wave_rto(declared_at: str, wave: Mapping[str, Any], plan_wave: Wave | None) -> Figure:
    """The wave's achieved RTO: declaredAt -> its end (COMPLETED, or launched when it has no post-launch step)."""
    unfinished = _not_completed(wave)
    if unfinished is not None:
        return unfinished
    post_launch = plan_wave is None or bool(plan_wave.post_launch) or plan_wave.health_check is not None
    ended = wave.get("completedAt") if post_launch else wave.get("launchedAt") or wave.get("completedAt")
    if not ended:
        return Figure.unmeasured("no completion time recorded")
    return Figure(rto_minutes(declared_at, str(ended)))


def wave_rpo(declared_at: str, wave: Mapping[str, Any]) -> Figure:
    """The wave's achieved RPO: its worst launched server's (declaredAt - the snapshot it was launched from)."""
    unfinished = _not_completed(wave)
    if unfinished is not None:
        return unfinished
    launched = [server for server in wave["servers"] if server.get("launchStatus") in LAUNCHED]
    if not launched:
        return Figure.unmeasured("no server launched")
    figures = []
    for server in launched:
        minutes = rpo_minutes(declared_at, server.get("recoveryPointAt"))
        figure = Figure(minutes) if minutes is not None else Figure.unmeasured("no snapshot time recorded")
        figures.append((str(server["sourceServerId"]), figure))
    return worst(figures)


def objective_lines(report: Mapping[str, Any]) -> list[str]:
    """The report's objectives as text, one line per objective (plan first, then each wave's own); [] when the
    plan declares none: `plan RTO 60 min: achieved 52.1, margin +7.9 -> MET`, or `... -> NOT_MEASURED (why)`."""
    scopes: list[tuple[str, Mapping[str, Any]]] = []
    if report.get("objectives"):
        scopes.append(("plan", report["objectives"]))
    scopes += [(f"wave {w['waveId']}", w["objectives"]) for w in report.get("waves", []) if w.get("objectives")]
    if not scopes:
        return []
    lines = [f"declared at {report.get('declaredAt')}"]
    for scope, objectives in scopes:
        for kind in ("rto", "rpo"):
            if kind in objectives:
                lines.append(f"{scope} {kind.upper()} {_line(objectives[kind])}")
    return lines


def _line(objective: Mapping[str, Any]) -> str:
    head = f"{objective['objectiveMinutes']:g} min:"
    if objective["verdict"] == "NOT_MEASURED":
        return f"{head} not measured -> NOT_MEASURED ({objective.get('reason')})"
    return (
        f"{head} achieved {objective['achievedMinutes']:g}, margin {objective['marginMinutes']:+g} "
        f"-> {objective['verdict']}"
    )
