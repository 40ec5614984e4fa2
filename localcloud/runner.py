"""Run one plan on the local cloud: what `drs-orch run`, the tests and the benchmarks share."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events.models import Mode
from localcloud.cloud import LocalCloud
from orchestrator.plan import Plan, plan_to_document
from orchestrator.report import build_report


@dataclass
class RunResult:
    execution_id: str
    status: str
    report: dict[str, Any] | None
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "COMPLETED":
            return 0
        return 2 if self.status == "REJECTED" else 1


def new_execution_id(plan_id: str) -> str:
    return f"{plan_id[:40]}-{uuid.uuid4().hex[:12]}"


def start(cloud: LocalCloud, plan: Plan | dict[str, Any], *, mode: Mode = Mode.DRILL,
          execution_id: str | None = None, requested_by: str = "drs-orch", confirm: bool = False) -> str:
    """Register the plan's servers in the simulator (replicating, healthy unless the profile says
    otherwise) and publish StartPlan, as a user does."""
    document = plan_to_document(plan) if isinstance(plan, Plan) else plan
    if isinstance(plan, Plan):
        cloud.drs.ensure_servers(sid for wave in plan.waves for sid in wave.server_ids)
    execution_id = execution_id or new_execution_id(str(document.get("planId", "plan")))
    detail: dict[str, Any] = {"plan": document, "executionId": execution_id, "mode": mode.value,
                              "requestedBy": requested_by}
    if mode is Mode.RECOVERY and confirm:
        detail["confirmRecovery"] = document.get("planId")
    cloud.publish("StartPlan", detail)
    return execution_id


def rejected_start(cloud: LocalCloud, execution_id: str) -> list[dict[str, Any]]:
    return [e.detail for e in cloud.events
            if e.detail_type == "PlanFailed" and e.detail.get("executionId") == execution_id
            and cloud.runtime is not None and cloud.runtime.ledger.get_execution(execution_id) is None]


def wait(cloud: LocalCloud, execution_id: str, *, timeout: float = 300.0,
         on_progress: Callable[[], None] | None = None) -> RunResult:
    """Run the cloud until the execution ends (or its start is rejected), then report."""
    def done() -> bool:
        return cloud.execution_finished(execution_id) or bool(rejected_start(cloud, execution_id))

    cloud.run_until(done, timeout=timeout, on_progress=on_progress)
    cloud.drain()
    rejected = rejected_start(cloud, execution_id)
    if rejected:
        return RunResult(execution_id, "REJECTED", None, rejected)
    assert cloud.runtime is not None
    events = [{"detailType": e.detail_type, "time": e.time, "waveId": e.wave_id} for e in cloud.events
              if e.detail.get("executionId") in (execution_id, None) and e.source == "drs.orchestrator"]
    report = build_report(cloud.runtime.ledger, execution_id, events)
    status = report["status"] if report else "UNKNOWN"
    return RunResult(execution_id, status, report)


def run_plan(cloud: LocalCloud, plan: Plan | dict[str, Any], *, mode: Mode = Mode.DRILL, confirm: bool = False,
             timeout: float = 300.0, on_progress: Callable[[], None] | None = None) -> RunResult:
    execution_id = start(cloud, plan, mode=mode, confirm=confirm)
    return wait(cloud, execution_id, timeout=timeout, on_progress=on_progress)
