"""A plan may not write the run context (orchestrator/domain/plan/documents.py `parameter_problems`)."""

from __future__ import annotations

from typing import Any

from orchestrator.domain.plan import parse_plan
from orchestrator.domain.plan.documents import CONTEXT_PARAMETERS, DocumentParameters, parameter_problems

S1 = "s-00000000000000001"
#: A document declaring the run context (as the project's DRSOrch-* documents do) and one parameter of its own.
DECLARED = DocumentParameters(frozenset(CONTEXT_PARAMETERS | {"Target"}), frozenset({"Target"}))


def _plan(*scripts: dict[str, Any]) -> Any:
    return parse_plan({"planId": "p", "waves": [{"waveId": "db", "servers": [S1], "postLaunch": list(scripts)}]})


def test_every_run_context_parameter_a_plan_sets_is_refused_at_its_own_line() -> None:
    # GIVEN a post-launch step that sets its own parameter and every name of the run context
    forged = {name: "RECOVERY" if name == "Mode" else "1" for name in sorted(CONTEXT_PARAMETERS)}
    plan = _plan({"documentName": "Doc", "parameters": {"Target": "tcp://db:5432", **forged}})
    # WHEN its parameters are checked against a document that declares them all
    found = parameter_problems(plan, {"Doc": DECLARED})
    # THEN each context name is one problem at its parameter's path (its own parameter passes)
    assert [(p.code, p.wave_id, p.path) for p in found] == [
        ("context-parameter", "db", f"waves[0].postLaunch[0].parameters.{name}") for name in sorted(CONTEXT_PARAMETERS)
    ]
    # AND the message names the step, the parameter and why
    by_name = {p.path.rsplit(".", 1)[1]: p.message for p in found}
    assert by_name["Mode"] == (
        "post-launch step #1 of wave 'db': parameter 'Mode' is part of the run context, which the orchestrator "
        "passes itself (the execution, plan and wave ids, the mode, the recovery instances, the execution "
        "timeout); a plan may not set it"
    )
    assert by_name["executionTimeout"].endswith("a plan may not set it (set the script's timeoutSeconds instead)")


def test_a_context_name_the_document_does_not_declare_is_still_a_context_problem() -> None:
    # GIVEN a step of a document that declares only Target, setting Mode
    plan = _plan({"documentName": "Doc", "parameters": {"Target": "x", "Mode": "RECOVERY"}})
    # WHEN checked
    found = parameter_problems(plan, {"Doc": DocumentParameters(frozenset({"Target"}), frozenset({"Target"}))})
    # THEN it is refused as the run context's, not as an undeclared parameter
    assert [(p.code, p.path) for p in found] == [("context-parameter", "waves[0].postLaunch[0].parameters.Mode")]


def test_a_misspelt_parameter_is_never_pointed_at_a_context_name() -> None:
    # GIVEN a step with a parameter one letter away from the context's "Mode" and from nothing else
    plan = _plan({"documentName": "Doc", "parameters": {"Target": "x", "Mod": "DRILL"}})
    # WHEN checked
    [problem] = parameter_problems(plan, {"Doc": DECLARED})
    # THEN it is unknown, with no "did you mean 'Mode'" (a plan may not set Mode)
    assert problem.code == "unknown-parameter"
    assert "did you mean" not in problem.message
    assert problem.message.startswith("post-launch step #1 of wave 'db': parameter 'Mod' is not declared")
