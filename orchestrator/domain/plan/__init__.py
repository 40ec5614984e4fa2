"""Recovery plans: the model, loading with every problem at once, and what a run will do."""

from orchestrator.domain.plan.analysis import (
    Quotas,
    critical_path,
    cut_jobs,
    downstream,
    launch_schedule,
    layers,
    plan_warnings,
    upstream,
)
from orchestrator.domain.plan.model import (
    Approval,
    Criticality,
    OnFailure,
    Plan,
    PlanDefaults,
    Rollback,
    Script,
    ScriptOnFailure,
    ScriptTargets,
    ScriptType,
    Server,
    Wave,
    plan_to_document,
)
from orchestrator.domain.plan.problems import PlanError, Problem
from orchestrator.domain.plan.validation import check_plan, load_plan, parse_plan

__all__ = [
    "Approval",
    "Criticality",
    "OnFailure",
    "Plan",
    "PlanDefaults",
    "PlanError",
    "Problem",
    "Quotas",
    "Rollback",
    "Script",
    "ScriptOnFailure",
    "ScriptTargets",
    "ScriptType",
    "Server",
    "Wave",
    "check_plan",
    "critical_path",
    "cut_jobs",
    "downstream",
    "launch_schedule",
    "layers",
    "load_plan",
    "parse_plan",
    "plan_to_document",
    "plan_warnings",
    "upstream",
]
