"""Native DRS recovery plans in the DRS simulator: plans and their ordered steps (no executions).

DRS's recovery plans (botocore 1.44.8) are an ordered list of at most 20 steps, each a SERVER step (1 to 100
source servers, each CRITICAL or OPTIONAL) or a WAIT step (1 to 120 minutes). This module stores them and
answers CreateRecoveryPlan, GetRecoveryPlan, ListRecoveryPlans, UpdateRecoveryPlan, DeleteRecoveryPlan,
CreateRecoveryPlanStep, GetRecoveryPlanStep, ListRecoveryPlanSteps, UpdateRecoveryPlanStep,
DeleteRecoveryPlanStep and ReorderRecoveryPlanSteps. Executions (StartRecoveryPlanExecution and the other
``*RecoveryPlanExecution*`` operations) are not simulated: they answer the simulator's unknownOperation
ValidationException.

Fidelity notes (the choices where DRS does not document its behaviour):

- ARNs: ``arn:aws:drs:<region>:<account>:recovery-plan/rp-<17>`` and, for a step,
  ``<plan ARN>/step/rps-<17>`` (both match the model's StrictDRSARN). An ARN of no plan or step, or a step
  ARN of another plan in ReorderRecoveryPlanSteps, is a ResourceNotFoundException / ValidationException.
- Every plan is ``ACTIVE`` (no simulated source server is ever deleted, so no plan becomes ``INVALID``).
- Plan names are unique in the account (another plan of that name: ConflictException); step names are free.
  CreateRecoveryPlan with a ``clientToken`` already used answers the plan it created.
- A step's configuration holds exactly one of ``serverStepConfiguration`` / ``waitStepConfiguration``;
  UpdateRecoveryPlanStep cannot change a step's type (the model: "Step type is immutable"). A server step
  names known source servers of this account and region, each once in the whole plan; ``impactLevel``
  defaults to ``CRITICAL``. Any of these is a ValidationException (reason ``fieldValidationFailed``).
- A 21st step is a ServiceQuotaExceededException (resourceType ``RECOVERY_PLAN_STEP``). ``stepOrder`` places a
  new step (1 to the step count plus one; the steps from there move down one); without it the step goes last.
- Names must match the model's pattern (``[a-zA-Z0-9][a-zA-Z0-9 _-]*``), which botocore does not check.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from localcloud.drs_sim_wire import DrsError
from orchestrator.domain.clock import iso

MAX_STEPS = 20
MAX_SERVERS_PER_STEP = 100
MAX_WAIT_MINUTES = 120
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9 _-]*")
_SERVER_ARN = re.compile(r"arn:aws:drs:([a-z0-9-]+):([0-9]{12}):source-server/(s-[0-9a-zA-Z]{17})")
_IMPACT_LEVELS = ("CRITICAL", "OPTIONAL")
_ALNUM = string.ascii_lowercase + string.digits
T = TypeVar("T")

Operation = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]]
Pager = Callable[[str, list[Any], dict[str, Any], Callable[[Any], int]], tuple[list[Any], str | None]]


@dataclass
class _Step:
    arn: str
    name: str
    configuration: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    ordinal: int

    @property
    def kind(self) -> str:
        return "SERVER" if "serverStepConfiguration" in self.configuration else "WAIT"


@dataclass
class _Plan:
    arn: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    ordinal: int
    steps: list[_Step] = field(default_factory=list)


class RecoveryPlans:
    """The account's native recovery plans (called under the simulator's lock)."""

    def __init__(
        self,
        *,
        arn_prefix: str,
        account_id: str,
        region: str,
        now: Callable[[], datetime],
        new_id: Callable[[str, int, str], str],
        next_ordinal: Callable[[], int],
        page: Pager,
        server_exists: Callable[[str], bool],
    ) -> None:
        self._arn_prefix = arn_prefix  # arn:aws:drs:<region>:<account>:
        self._account_id = account_id
        self._region = region
        self._now = now
        self._new_id = new_id
        self._next_ordinal = next_ordinal
        self._page = page
        self._server_exists = server_exists
        self._plans: dict[str, _Plan] = {}
        self._tokens: dict[str, str] = {}  # clientToken -> plan ARN

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateRecoveryPlan": self._op_create_plan,
            "GetRecoveryPlan": self._op_get_plan,
            "ListRecoveryPlans": self._op_list_plans,
            "UpdateRecoveryPlan": self._op_update_plan,
            "DeleteRecoveryPlan": self._op_delete_plan,
            "CreateRecoveryPlanStep": self._op_create_step,
            "GetRecoveryPlanStep": self._op_get_step,
            "ListRecoveryPlanSteps": self._op_list_steps,
            "UpdateRecoveryPlanStep": self._op_update_step,
            "DeleteRecoveryPlanStep": self._op_delete_step,
            "ReorderRecoveryPlanSteps": self._op_reorder_steps,
        }

    def tags_of(self, arn: str) -> dict[str, str] | None:
        """The tags of the plan ``arn`` (the tagging operations), None if no plan has that ARN."""
        plan = self._plans.get(arn)
        return plan.tags if plan is not None else None

    # ------------------------------------------------------------------ plans

    def _op_create_plan(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = args.get("clientToken")
        if token and token in self._tokens and self._tokens[token] in self._plans:
            return 201, {"recoveryPlan": self._plan_view(self._plans[self._tokens[token]])}
        name = _checked_name("name", args["name"])
        self._check_unique_name(name, None)
        now = self._now()
        arn = f"{self._arn_prefix}recovery-plan/{self._new_id('rp-', 17, _ALNUM)}"
        plan = _Plan(
            arn=arn,
            name=name,
            description=args.get("description"),
            created_at=now,
            updated_at=now,
            tags=dict(args.get("tags") or {}),
            ordinal=self._next_ordinal(),
        )
        self._plans[arn] = plan
        if token:
            self._tokens[token] = arn
        return 201, {"recoveryPlan": self._plan_view(plan)}

    def _op_get_plan(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"recoveryPlan": self._plan_view(self._plan(args["recoveryPlanArn"]))}

    def _op_list_plans(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        page, token = self._page("ListRecoveryPlans", list(self._plans.values()), args, _plan_ordinal)
        body: dict[str, Any] = {"recoveryPlans": [_summary(plan) for plan in page]}
        if token is not None:
            body["nextToken"] = token
        return 200, body

    def _op_update_plan(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan = self._plan(args["recoveryPlanArn"])
        name = _checked_name("name", args["name"]) if args.get("name") is not None else None
        if name is not None:
            self._check_unique_name(name, plan.arn)
            plan.name = name
        if args.get("description") is not None:
            plan.description = args["description"]
        plan.updated_at = self._now()
        return 200, {"recoveryPlan": self._plan_view(plan)}

    def _op_delete_plan(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan = self._plan(args["recoveryPlanArn"])
        del self._plans[plan.arn]
        return 200, {"recoveryPlanArn": plan.arn}

    def _plan(self, arn: str) -> _Plan:
        plan = self._plans.get(arn)
        if plan is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"Recovery plan {arn} not found",
                resourceId=arn,
                resourceType="RECOVERY_PLAN",
            )
        return plan

    def _check_unique_name(self, name: str, own_arn: str | None) -> None:
        for other in self._plans.values():
            if other.name == name and other.arn != own_arn:
                raise DrsError(
                    "ConflictException",
                    f"A recovery plan named '{name}' already exists: {other.arn}",
                    resourceId=other.arn,
                    resourceType="RECOVERY_PLAN",
                )

    def _plan_view(self, plan: _Plan) -> dict[str, Any]:
        view = _summary(plan)
        if plan.description is not None:
            view["description"] = plan.description
        view["tags"] = dict(plan.tags)
        return view

    # ------------------------------------------------------------------ steps

    def _op_create_step(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan = self._plan(args["recoveryPlanArn"])
        name = _checked_name("stepName", args["stepName"])
        configuration = self._checked_configuration(plan, args["configuration"], None)
        if len(plan.steps) >= MAX_STEPS:
            raise DrsError(
                "ServiceQuotaExceededException",
                f"A recovery plan has at most {MAX_STEPS} steps",
                resourceId=plan.arn,
                resourceType="RECOVERY_PLAN_STEP",
                serviceCode="drs",
            )
        order = args.get("stepOrder")
        if order is not None and not 1 <= order <= len(plan.steps) + 1:
            raise _invalid("stepOrder", f"stepOrder must be between 1 and {len(plan.steps) + 1}, got {order}")
        now = self._now()
        step = _Step(
            arn=f"{plan.arn}/step/{self._new_id('rps-', 17, _ALNUM)}",
            name=name,
            configuration=configuration,
            created_at=now,
            updated_at=now,
            ordinal=self._next_ordinal(),
        )
        plan.steps.insert(len(plan.steps) if order is None else order - 1, step)
        plan.updated_at = now
        return 201, {"recoveryPlanStep": _step_view(plan, step)}

    def _op_get_step(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan, step = self._step(args["recoveryPlanStepArn"])
        return 200, {"recoveryPlanStep": _step_view(plan, step)}

    def _op_list_steps(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan = self._plan(args["recoveryPlanArn"])
        positions = {step.arn: index for index, step in enumerate(plan.steps)}
        page, token = self._page("ListRecoveryPlanSteps", list(plan.steps), args, lambda step: positions[step.arn])
        body: dict[str, Any] = {"recoveryPlanSteps": [_step_view(plan, step) for step in page]}
        if token is not None:
            body["nextToken"] = token
        return 200, body

    def _op_update_step(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan, step = self._step(args["recoveryPlanStepArn"])
        name = _checked_name("stepName", args["stepName"]) if args.get("stepName") is not None else None
        configuration = None
        if args.get("configuration") is not None:
            configuration = self._checked_configuration(plan, args["configuration"], step)
        if name is not None:
            step.name = name
        if configuration is not None:
            step.configuration = configuration
        step.updated_at = plan.updated_at = self._now()
        return 200, {"recoveryPlanStep": _step_view(plan, step)}

    def _op_delete_step(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan, step = self._step(args["recoveryPlanStepArn"])
        plan.steps.remove(step)
        plan.updated_at = self._now()
        return 200, {"recoveryPlanStepArn": step.arn}

    def _op_reorder_steps(self, args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        plan = self._plan(args["recoveryPlanArn"])
        wanted: list[str] = list(args["orderedStepArns"])
        by_arn = {step.arn: step for step in plan.steps}
        if len(wanted) != len(set(wanted)):
            raise _invalid("orderedStepArns", "orderedStepArns lists a step more than once")
        unknown = [arn for arn in wanted if arn not in by_arn]
        if unknown:
            raise _invalid("orderedStepArns", f"Not steps of recovery plan {plan.arn}: {', '.join(unknown)}")
        missing = [step.arn for step in plan.steps if step.arn not in set(wanted)]
        if missing:
            raise _invalid(
                "orderedStepArns", f"orderedStepArns must list every step of the plan; missing: {', '.join(missing)}"
            )
        plan.steps = [by_arn[arn] for arn in wanted]
        plan.updated_at = self._now()
        return 200, {"recoveryPlanSteps": [_step_view(plan, step) for step in plan.steps]}

    def _step(self, arn: str) -> tuple[_Plan, _Step]:
        plan_arn, _, _ = arn.partition("/step/")
        plan = self._plans.get(plan_arn)
        step = next((s for s in plan.steps if s.arn == arn), None) if plan is not None else None
        if plan is None or step is None:
            raise DrsError(
                "ResourceNotFoundException",
                f"Recovery plan step {arn} not found",
                resourceId=arn,
                resourceType="RECOVERY_PLAN_STEP",
            )
        return plan, step

    def _checked_configuration(self, plan: _Plan, configuration: dict[str, Any], step: _Step | None) -> dict[str, Any]:
        """The step configuration, checked: exactly one kind, the kind of ``step`` when it is an update."""
        kinds = [key for key in ("serverStepConfiguration", "waitStepConfiguration") if configuration.get(key)]
        if len(kinds) != 1:
            raise _invalid(
                "configuration", "Exactly one of serverStepConfiguration and waitStepConfiguration must be set"
            )
        if step is not None and kinds[0] != next(iter(step.configuration)):
            raise _invalid("configuration", f"Step type is immutable: {step.arn} is a {step.kind} step")
        if kinds[0] == "waitStepConfiguration":
            minutes = configuration["waitStepConfiguration"]["waitDurationMinutes"]
            if not 1 <= minutes <= MAX_WAIT_MINUTES:
                raise _invalid(
                    "waitDurationMinutes",
                    f"waitDurationMinutes must be between 1 and {MAX_WAIT_MINUTES}, got {minutes}",
                )
            return {"waitStepConfiguration": {"waitDurationMinutes": minutes}}
        servers = self._checked_servers(plan, configuration["serverStepConfiguration"]["servers"], step)
        return {"serverStepConfiguration": {"servers": servers}}

    def _checked_servers(self, plan: _Plan, servers: list[dict[str, Any]], step: _Step | None) -> list[dict[str, Any]]:
        if not 1 <= len(servers) <= MAX_SERVERS_PER_STEP:
            raise _invalid("servers", f"A step has 1 to {MAX_SERVERS_PER_STEP} servers, got {len(servers)}")
        checked: list[dict[str, Any]] = []
        for entry in servers:
            arn = entry["serverArn"]
            match = _SERVER_ARN.fullmatch(arn)
            if match is None or match.group(1) != self._region or match.group(2) != self._account_id:
                raise _invalid("serverArn", f"{arn} is not a source server ARN of this account and region")
            if not self._server_exists(match.group(3)):
                raise _invalid("serverArn", f"Source server {match.group(3)} not found")
            level = entry.get("impactLevel") or "CRITICAL"
            if level not in _IMPACT_LEVELS:
                raise _invalid("impactLevel", f"Invalid value '{level}' for impactLevel: must be CRITICAL or OPTIONAL")
            checked.append({"serverArn": arn, "impactLevel": level})
        arns = [entry["serverArn"] for entry in checked]
        repeated = sorted({arn for arn in arns if arns.count(arn) > 1})
        if repeated:
            raise _invalid("servers", f"A server is listed twice in the step: {', '.join(repeated)}")
        for other in plan.steps:
            if other is step or other.kind != "SERVER":
                continue
            taken = {entry["serverArn"] for entry in other.configuration["serverStepConfiguration"]["servers"]}
            clash = sorted(taken & set(arns))
            if clash:
                raise _invalid("servers", f"Already in step '{other.name}' ({other.arn}): {', '.join(clash)}")
        return checked


def _plan_ordinal(plan: _Plan) -> int:
    return plan.ordinal


def _summary(plan: _Plan) -> dict[str, Any]:
    return {
        "recoveryPlanArn": plan.arn,
        "name": plan.name,
        "status": "ACTIVE",
        "createdAt": iso(plan.created_at),
        "updatedAt": iso(plan.updated_at),
    }


def _step_view(plan: _Plan, step: _Step) -> dict[str, Any]:
    configuration = step.configuration
    copied: dict[str, Any]
    if "serverStepConfiguration" in configuration:
        copied = {
            "serverStepConfiguration": {
                "servers": [dict(entry) for entry in configuration["serverStepConfiguration"]["servers"]]
            }
        }
    else:
        copied = {"waitStepConfiguration": dict(configuration["waitStepConfiguration"])}
    return {
        "recoveryPlanStepArn": step.arn,
        "stepOrder": plan.steps.index(step) + 1,
        "stepName": step.name,
        "configuration": copied,
        "createdAt": iso(step.created_at),
        "updatedAt": iso(step.updated_at),
    }


def _checked_name(key: str, value: str) -> str:
    if _NAME.fullmatch(value) is None or len(value) > 256:
        raise _invalid(key, f"{key} must match [a-zA-Z0-9][a-zA-Z0-9 _-]* (1 to 256 characters), got '{value}'")
    return value


def _invalid(field_name: str, message: str) -> DrsError:
    return DrsError(
        "ValidationException",
        message,
        reason="fieldValidationFailed",
        fieldList=[{"name": field_name, "message": message}],
    )
