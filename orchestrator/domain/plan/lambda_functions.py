"""Which Lambda functions a plan's LAMBDA steps may invoke: the deploy's allowed function ARNs.

A LAMBDA step invokes a function with the run context (the execution, its mode, the wave's recovery instances):
whoever may start a plan could otherwise invoke any function the orchestrator's role reaches. The deploy setting
`ALLOWED_LAMBDA_FUNCTIONS` (the stack's context `allowedLambdaFunctions`) lists the unqualified function ARNs
plans may invoke; the stack grants lambda:InvokeFunction on those alone and points their asynchronous-invocation
destinations at the orchestrator's bus. StartPlan refuses a plan naming any other function
(`disallowed_functions`, each problem at its step's `functionName`), and the step refuses it again when it runs
(the list may have been narrowed since).

A step names its function by name or by ARN. A name is allowed when exactly one allowed ARN has that function
name (a name shared by two accounts' or regions' functions is ambiguous: name the ARN); an ARN only when it is in
the list. The step invokes the allowed ARN, never the name: what runs is what the deploy allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.domain.plan.documents import step_path, wave_steps
from orchestrator.domain.plan.model import Plan, Script
from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.suggest import quote

#: The environment variable of the deploy setting (blank or unset: no function may be invoked).
ALLOWED_FUNCTIONS_VARIABLE = "ALLOWED_LAMBDA_FUNCTIONS"
#: One entry: an unqualified function ARN (botocore's lambda model: FunctionArn without a qualifier).
FUNCTION_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:function:[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class FunctionAllowList:
    """The unqualified Lambda function ARNs plans may invoke."""

    arns: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> FunctionAllowList:
        """`arn:aws:lambda:...:function:a, arn:...:function:b` -> its ARNs. Blank text allows nothing. Raises
        ValueError naming a malformed entry."""
        arns = tuple(dict.fromkeys(entry.strip() for entry in text.split(",") if entry.strip()))
        for arn in arns:
            if not FUNCTION_ARN.fullmatch(arn):
                msg = (
                    f"{ALLOWED_FUNCTIONS_VARIABLE}: malformed entry '{quote(arn, 200)}' (an unqualified function ARN, "
                    "arn:aws:lambda:REGION:ACCOUNT:function:NAME; entries are separated by commas)"
                )
                raise ValueError(msg)
        return cls(arns)

    def resolve(self, function: str) -> str | None:
        """The allowed ARN `function` (a name or an ARN) stands for, or None when it is not allowed (or a name
        that two allowed ARNs share)."""
        if function.startswith("arn:"):
            return function if function in self.arns else None
        matches = [arn for arn in self.arns if arn.rsplit(":", 1)[-1] == function]
        return matches[0] if len(matches) == 1 else None

    def __str__(self) -> str:
        return ", ".join(self.arns) if self.arns else "none"


@dataclass(frozen=True)
class LambdaStep:
    """A LAMBDA step and where it sits: wave, kind (preLaunch, postLaunch, healthCheck), position, and whether it is
    one of the wave's failback steps."""

    wave_id: str
    wave_index: int
    kind: str
    position: int | None  # None for the health check
    script: Script
    failback: bool = False

    @property
    def path(self) -> str:
        return join_path(step_path(self.wave_index, self.kind, self.position, failback=self.failback), "functionName")


def lambda_steps(plan: Plan) -> Iterator[LambdaStep]:
    """Every LAMBDA step of the plan in plan order: per wave, its pre-launch, post-launch, health check, then its
    failback steps (a failback step may invoke only an allowed function too)."""
    for index, wave_id, kind, position, script, failback in wave_steps(plan):
        if script.is_lambda:
            yield LambdaStep(wave_id, index, kind, position, script, failback)


def not_allowed_reason(function: str, allowed: FunctionAllowList) -> str:
    """Why `function` may not be invoked under `allowed` (the message of a refusal, at StartPlan and at run time)."""
    return (
        f"Lambda function '{quote(function, 170)}' is not in the deploy's allowed Lambda functions "
        f"({quote(allowed, 300)}): plans may invoke only the function ARNs the deploy setting "
        f"{ALLOWED_FUNCTIONS_VARIABLE} (context allowedLambdaFunctions) lists"
    )


def disallowed_functions(plan: Plan, allowed: FunctionAllowList) -> list[Problem]:
    """One problem per LAMBDA step whose function the list does not allow, in plan order, at its functionName."""
    return [
        Problem(not_allowed_reason(step.script.function, allowed), "function-not-allowed", step.wave_id, step.path)
        for step in lambda_steps(plan)
        if allowed.resolve(step.script.function) is None
    ]
