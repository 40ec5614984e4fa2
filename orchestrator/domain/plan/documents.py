"""Which SSM documents a plan's scripts may run, and whether they pass each document what it declares.

A plan's script is an SSM Run Command document sent to instances: whoever may start a plan could run
`AWS-RunShellScript` (a root shell) on any instance the functions reach. The deploy setting
`ALLOWED_SSM_DOCUMENTS` lists the documents plans may run: names, or `prefix*` patterns (default: the
project's own documents, `DRSOrch-*`, from infra/ssm_documents/). StartPlan refuses a plan that names
any other document (`disallowed_documents`), and one whose parameters are not those the document declares
(`parameter_problems`: DescribeDocument's `Parameters`; one without a `DefaultValue` is required), and one
that sets a run-context parameter itself (`CONTEXT_PARAMETERS`: the execution, plan and wave ids, the mode,
the recovery instances and the execution timeout are the orchestrator's to write, never the plan's: a DRILL
must not tell its scripts that they run in a RECOVERY). Both are pure: the caller reads the documents'
parameters (once per document) and passes them in.

A document is matched by the exact text the plan names: an ARN (`arn:aws:ssm:...:document/NAME`) is
allowed only by an entry that matches the whole ARN, never by the entry of its name (a shared document
of another account has the same name as ours under another ARN).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from orchestrator.domain.plan.model import Plan, Script
from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.suggest import Suggestions, quote

#: The environment variable of the deploy setting, and its value when it is unset.
ALLOWED_DOCUMENTS_VARIABLE = "ALLOWED_SSM_DOCUMENTS"
DEFAULT_ALLOWED_DOCUMENTS = "DRSOrch-*"
#: One entry: a document name or ARN (SSM: letters, digits, `_ - . : /`), or such a prefix ending in `*`
#: (a lone `*` allows every document).
_ENTRY = re.compile(r"[A-Za-z0-9_.:/-]{1,256}\*?|\*")
#: Parameters the orchestrator passes itself wherever a document declares them (the run context,
#: orchestrator/steps/scripts.py `_parameters`): a document that requires one is given it, and a plan may not
#: set one (its value would be the orchestrator's word to the instance; the send overwrites it anyway).
CONTEXT_PARAMETERS = frozenset({"ExecutionId", "PlanId", "WaveId", "Mode", "RecoveryInstances", "executionTimeout"})
#: An SSM_AUTOMATION step's run context adds its runbook's AutomationAssumeRole: the role the stack made for runbooks
#: (infra/constructs/automation_role.py), never one a plan names (it would run the runbook with that role's powers).
AUTOMATION_ROLE_PARAMETER = "AutomationAssumeRole"
AUTOMATION_CONTEXT_PARAMETERS = CONTEXT_PARAMETERS | {AUTOMATION_ROLE_PARAMETER}
#: Distinct documents one plan may name: StartPlan reads each one's parameters (DescribeDocument) before
#: it starts anything, and a plan naming thousands would turn one StartPlan into thousands of calls.
MAX_DOCUMENTS = 50


@dataclass(frozen=True)
class AllowList:
    """The SSM documents plans may run: exact names (or ARNs) and `prefix*` patterns."""

    entries: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """`DRSOrch-*, AWS-RunShellScript` -> its entries. Blank text allows nothing. Raises ValueError
        naming a malformed entry."""
        entries = tuple(entry.strip() for entry in text.split(",") if entry.strip())
        for entry in entries:
            if not _ENTRY.fullmatch(entry):
                msg = (
                    f"{ALLOWED_DOCUMENTS_VARIABLE}: malformed entry '{quote(entry)}' (a document name or ARN, or a "
                    "prefix of one ending in '*'; entries are separated by commas)"
                )
                raise ValueError(msg)
        return cls(entries)

    def allows(self, document: str) -> bool:
        return any(
            document.startswith(entry[:-1]) if entry.endswith("*") else document == entry for entry in self.entries
        )

    def __str__(self) -> str:
        return ", ".join(self.entries) if self.entries else "none"


@dataclass(frozen=True)
class DocumentParameters:
    """The parameters a document declares (DescribeDocument `Parameters`) and which of them are required
    (declared without a `DefaultValue`). `name in parameters` asks whether it declares `name`."""

    names: frozenset[str]
    required: frozenset[str] = frozenset()

    def __contains__(self, name: object) -> bool:
        return name in self.names

    @classmethod
    def from_described(cls, parameters: list[dict[str, object]]) -> DocumentParameters:
        """From DescribeDocument's `Document.Parameters` (a parameter with `DefaultValue`, even "", is
        optional)."""
        names = frozenset(str(p["Name"]) for p in parameters)
        return cls(names, frozenset(str(p["Name"]) for p in parameters if "DefaultValue" not in p))


@dataclass(frozen=True)
class ScriptStep:
    """An SSM_DOCUMENT or SSM_AUTOMATION step and where it sits: wave, kind (preLaunch, postLaunch,
    healthCheck), position, and whether it is one of the wave's failback scripts (`failback.postLaunch[0]`)."""

    wave_id: str
    wave_index: int
    kind: str
    position: int | None  # None for the health check (there is one)
    script: Script
    failback: bool = False

    @property
    def document(self) -> str:
        return self.script.document

    @property
    def path(self) -> str:
        return step_path(self.wave_index, self.kind, self.position, failback=self.failback)

    @property
    def label(self) -> str:
        """`pre-launch step #1 of wave 'db'`, `health check of wave 'app'`, `failback post-launch step #2 of ...`."""
        return step_label(self.wave_id, self.kind, self.position, failback=self.failback)


def step_path(wave_index: int, kind: str, position: int | None, *, failback: bool = False) -> str:
    """`waves[1].postLaunch[0]`, `waves[1].healthCheck`, `waves[1].failback.preLaunch[2]`."""
    parts: list[str | int] = ["waves", wave_index, *(["failback"] if failback else []), kind]
    return join_path(*parts) if position is None else join_path(*parts, position)


def step_label(wave_id: str, kind: str, position: int | None, *, failback: bool = False) -> str:
    names = {"preLaunch": "pre-launch step", "postLaunch": "post-launch step", "healthCheck": "health check"}
    number = f" #{position + 1}" if position is not None else ""
    return f"{'failback ' if failback else ''}{names[kind]}{number} of wave '{wave_id}'"


def wave_steps(plan: Plan) -> Iterator[tuple[int, str, str, int | None, Script, bool]]:
    """(wave index, wave id, kind, position, step, failback?) of every step of the plan, in plan order: per wave,
    its pre-launch, post-launch steps and health check (position None), then its failback ones (`Wave.script_lists`):
    what each check of a plan's steps walks, so a failback step gets every check a recovery step gets."""
    for index, wave in enumerate(plan.waves):
        for where, kind, scripts in wave.script_lists():
            single = kind == "healthCheck"
            for position, script in enumerate(scripts):
                yield index, wave.wave_id, kind, None if single else position, script, where.startswith("failback.")


def script_steps(plan: Plan) -> Iterator[ScriptStep]:
    """Every SSM_DOCUMENT and SSM_AUTOMATION step of the plan in plan order (a runbook is an SSM document too:
    the same allow-list and parameter checks apply): per wave, its pre-launch, post-launch, then health
    check, then its failback steps. WAIT and LAMBDA steps run no document: the allow-list and the parameter checks
    have nothing to say of them (a LAMBDA step's function has its own list:
    orchestrator/domain/plan/lambda_functions.py)."""
    for index, wave_id, kind, position, script, failback in wave_steps(plan):
        if script.has_document:  # a health check is never a WAIT step (refused)
            yield ScriptStep(wave_id, index, kind, position, script, failback)


def disallowed_documents(plan: Plan, allowed: AllowList) -> list[Problem]:
    """One problem per script whose document the allow-list does not allow, in plan order."""
    return [
        Problem(
            f"{step.label} runs SSM document '{quote(step.document, 128)}', which is not in the SSM "
            f"document allow-list ({quote(allowed, 300)}): plans may run only the documents the deploy setting "
            f"{ALLOWED_DOCUMENTS_VARIABLE} lists",
            "document-not-allowed",
            step.wave_id,
            join_path(step.path, "documentName"),
        )
        for step in script_steps(plan)
        if not allowed.allows(step.document)
    ]


def documents_to_describe(plan: Plan, allowed: AllowList) -> list[str]:
    """The distinct allowed documents the plan names, in plan order (those whose parameters to read)."""
    names = (step.document for step in script_steps(plan))
    return list(dict.fromkeys(name for name in names if allowed.allows(name)))


def too_many_documents(count: int) -> Problem:
    return Problem(
        f"the plan's scripts name {count} distinct SSM documents (at most {MAX_DOCUMENTS}: each one's "
        "parameters are read before the plan starts)",
        "too-many-documents",
        path="waves",
    )


def parameter_problems(plan: Plan, documents: Mapping[str, DocumentParameters | str]) -> list[Problem]:
    """Every script whose parameters are not those its document declares: a parameter the document does not
    declare, or a required one (no default) that neither the script nor the run context gives. `documents`
    maps a document name to its parameters, or to why they could not be read (the document does not exist,
    or may not be read): every script naming it is then a problem. Scripts of documents not in `documents`
    are not checked."""
    found: list[Problem] = []
    suggestions = Suggestions()
    for step in script_steps(plan):
        declared = documents.get(step.document)
        if declared is None:
            continue
        found.extend(_step_problems(step, declared, suggestions))
    return found


def _step_problems(step: ScriptStep, declared: DocumentParameters | str, suggestions: Suggestions) -> list[Problem]:
    document = quote(step.document, 128)
    if isinstance(declared, str):
        return [
            Problem(
                f"{step.label}: SSM document '{document}' cannot be read: {quote(declared, 300)}",
                "unknown-document",
                step.wave_id,
                join_path(step.path, "documentName"),
            )
        ]
    found: list[Problem] = []
    known = sorted(declared.names)
    context = AUTOMATION_CONTEXT_PARAMETERS if step.script.is_automation else CONTEXT_PARAMETERS
    for name in step.script.parameters:
        if name in context:
            found.append(_context_problem(step, name))
        elif name not in declared:
            hint = suggestions.hint(name, [k for k in known if k not in CONTEXT_PARAMETERS])
            listed = f"declares: {quote(', '.join(known), 300)}" if known else "declares no parameter"
            found.append(
                Problem(
                    f"{step.label}: parameter '{quote(name)}' is not declared by SSM document '{document}'{hint} "
                    f"({listed})",
                    "unknown-parameter",
                    step.wave_id,
                    join_path(step.path, "parameters", name),
                )
            )
    found.extend(_supplied_problems(step, declared))
    given = set(step.script.parameters) | step.script.supplied_parameters
    missing = sorted(declared.required - given - context)
    found.extend(
        Problem(
            f"{step.label}: SSM document '{document}' requires parameter '{quote(name)}' (it has no default)",
            "missing-parameter",
            step.wave_id,
            join_path(step.path, "parameters") if step.script.parameters else step.path,
        )
        for name in missing
    )
    return found


def _supplied_problems(step: ScriptStep, declared: DocumentParameters) -> list[Problem]:
    """An SSM_AUTOMATION step whose recoveryInstancesParameter its runbook does not declare (the ids would be
    refused by StartAutomationExecution), or that the plan also sets in `parameters` (which one would win?)."""
    name = step.script.recovery_instances_parameter
    path = join_path(step.path, "recoveryInstancesParameter")
    if name is None:
        return []
    if name not in declared:
        known = ", ".join(sorted(declared.names)) or "no parameter"
        message = (
            f"{step.label}: recoveryInstancesParameter '{quote(name)}' is not declared by runbook "
            f"'{quote(step.document, 128)}' (it declares: {quote(known, 300)})"
        )
        return [Problem(message, "unknown-parameter", step.wave_id, path)]
    if name in step.script.parameters or name in CONTEXT_PARAMETERS:
        message = (
            f"{step.label}: parameter '{quote(name)}' is filled with the wave's recovery instances "
            "(recoveryInstancesParameter): the plan may not set it too"
        )
        return [Problem(message, "context-parameter", step.wave_id, path)]
    return []


def _context_problem(step: ScriptStep, name: str) -> Problem:
    """A script that sets a run-context parameter itself (what the orchestrator writes: see CONTEXT_PARAMETERS)."""
    instead = {
        "executionTimeout": " (set the script's timeoutSeconds instead)",
        AUTOMATION_ROLE_PARAMETER: " (runbooks run as the Automation role the stack made)",
    }.get(name, "")
    return Problem(
        f"{step.label}: parameter '{name}' is part of the run context, which the orchestrator passes itself "
        f"(the execution, plan and wave ids, the mode, the recovery instances, the execution timeout); a plan may "
        f"not set it{instead}",
        "context-parameter",
        step.wave_id,
        join_path(step.path, "parameters", name),
    )
