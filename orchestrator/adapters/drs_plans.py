"""Native DRS recovery plans: the boto3 `drs` calls of `drs-orch import-native` and `export-native`.

Reads: ListRecoveryPlans, GetRecoveryPlan, ListRecoveryPlanSteps (every page). Writes: CreateRecoveryPlan (with
the plan's tags), UpdateRecoveryPlan (its description), CreateRecoveryPlanStep and DeleteRecoveryPlanStep.
`replace_steps` makes a plan's steps exactly the wanted ones: nothing is written when they already are (a
second export of the same plan calls nothing), otherwise every step is deleted and the wanted ones created in
order (a server may be in one step of a plan only, so steps cannot be rewritten in place one by one); a run
cut short is repaired by the next. A ClientError becomes a DrsError (orchestrator/adapters/drs.py) `from` it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.drs import DrsError
from orchestrator.adapters.pagination import paginate
from orchestrator.domain.plan.native import NativePlan, NativeStep, native_plan


class NativePlanNotFound(DrsError):
    """No native recovery plan has that ARN or name."""


class NativePlans:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = f"{code}: {error.get('Message', exc)}"
            cls = NativePlanNotFound if code == "ResourceNotFoundException" else DrsError
            raise cls(message, code=code) from exc
        return result

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return paginate(self._call, operation, key, marker_member="nextToken", **kwargs)

    def summaries(self) -> list[dict[str, Any]]:
        """Every native plan of the account and Region (ListRecoveryPlans: ARN, name, status)."""
        return list(self._pages("list_recovery_plans", "recoveryPlans"))

    def find(self, name: str) -> str | None:
        """The ARN of the native plan named `name` (names are unique in an account and Region), or None."""
        return next((s["recoveryPlanArn"] for s in self.summaries() if s["name"] == name), None)

    def read(self, arn: str) -> NativePlan:
        """The plan and its steps in order. Raises NativePlanNotFound."""
        plan = self._call("get_recovery_plan", recoveryPlanArn=arn)["recoveryPlan"]
        return native_plan(
            plan, list(self._pages("list_recovery_plan_steps", "recoveryPlanSteps", recoveryPlanArn=arn))
        )

    def step_arns(self, arn: str) -> list[str]:
        return [
            s["recoveryPlanStepArn"]
            for s in self._pages("list_recovery_plan_steps", "recoveryPlanSteps", recoveryPlanArn=arn)
        ]

    def create(self, name: str, description: str | None, tags: Mapping[str, str]) -> str:
        """CreateRecoveryPlan; returns its ARN."""
        extra = {"description": description} if description else {}
        plan = self._call("create_recovery_plan", name=name, tags=dict(tags), **extra)["recoveryPlan"]
        return str(plan["recoveryPlanArn"])

    def describe(self, arn: str, description: str) -> None:
        """UpdateRecoveryPlan of the plan's description."""
        self._call("update_recovery_plan", recoveryPlanArn=arn, description=description)

    def replace_steps(self, arn: str, current: Sequence[NativeStep], wanted: Sequence[NativeStep]) -> bool:
        """Make the steps of plan `arn` (now `current`) exactly `wanted`; False when they already were."""
        if _same(current, wanted):
            return False
        for step_arn in self.step_arns(arn):
            self._call("delete_recovery_plan_step", recoveryPlanStepArn=step_arn)
        for order, step in enumerate(wanted, 1):
            self._call(
                "create_recovery_plan_step",
                recoveryPlanArn=arn,
                stepName=step.name,
                stepOrder=order,
                configuration=step.configuration(),
            )
        return True


def _same(current: Sequence[NativeStep], wanted: Sequence[NativeStep]) -> bool:
    return [(s.name, s.configuration()) for s in current] == [(s.name, s.configuration()) for s in wanted]
