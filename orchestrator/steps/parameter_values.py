"""Values from the run in step parameters, resolved when the step is sent (the syntax and its load-time checks:
`orchestrator.domain.plan.run_references`).

Every step type that has parameters calls `resolve_parameters(parameters, context)` just before it sends them:
an SSM_DOCUMENT step before SendCommand (`orchestrator.steps.scripts`), and the same for the other types. It reads
the ledger, never DRS: a wave's recovered instances are what its servers' records say (`Ledger.wave_servers`: the
recovery instance of each LAUNCHED server and its private IP, recorded at the job's end from
DescribeRecoveryInstances, `orchestrator.steps.recovery_points`).

A value that would be empty is never sent: the step fails (its onFailure applies) with the reason, e.g. an upstream
wave none of whose servers launched, or a launched server whose private IP DRS did not give (a list with a hole would
pair the n-th IP with the wrong instance: the list is all of them or the step fails).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan
from orchestrator.domain.plan.run_references import (
    Piece,
    ReferenceProblem,
    RunReference,
    has_references,
    split_text,
)
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.servers import ServerResult

ParameterValue = str | list[str]
StepPhase = Literal["PRE_LAUNCH", "POST_LAUNCH"]


class WaveServers(Protocol):
    """What resolution reads of the ledger (`LedgerPort.wave_servers`)."""

    def wave_servers(self, execution_id: str, wave_id: str) -> dict[str, ServerResult]: ...


@dataclass(slots=True)
class RunContext:
    """What a step's references may read: the execution (id, mode), its frozen plan, the step's wave and phase, and
    the servers of a wave by source server id (the ledger's, read at most once per wave per context)."""

    plan: Plan
    execution_id: str
    mode: str
    wave_id: str
    phase: StepPhase
    servers_of: Callable[[str], Mapping[str, ServerResult]]
    _read: dict[str, Mapping[str, ServerResult]] = field(default_factory=dict)

    @classmethod
    def of(cls, ledger: WaveServers, execution: ExecutionRecord, wave_id: str, phase: StepPhase) -> RunContext:
        """The context of a step of `wave_id`'s `phase` in `execution` (its frozen plan, its servers in `ledger`)."""
        execution_id = execution.execution_id
        plan = frozen_plan(execution)
        return cls(plan, execution_id, execution.mode, wave_id, phase, lambda w: ledger.wave_servers(execution_id, w))

    def servers(self, wave_id: str) -> Mapping[str, ServerResult]:
        if wave_id not in self._read:
            self._read[wave_id] = self.servers_of(wave_id)
        return self._read[wave_id]


@dataclass(frozen=True, slots=True)
class ResolvedParameters:
    """`parameters`: every parameter, each reference replaced by its value (a list reference that is a whole item of
    a list value becomes several items; anywhere else it is joined with commas). `values`: the parameters that held
    references, as resolved: what the step's ledger record and the report keep as evidence."""

    parameters: dict[str, ParameterValue]
    values: dict[str, ParameterValue]


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A parameter could not be resolved: why (`parameter 'Hosts': ${{ waves.db.privateIps }} is empty: ...`). The
    step fails with this reason and sends nothing."""

    reason: str


class _Empty(Exception):
    """A reference has no value (or no longer parses): why, for the step's reason."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def resolve_parameters(
    parameters: Mapping[str, ParameterValue], context: RunContext
) -> ResolvedParameters | Unresolved:
    """`parameters` (`{name: string or list of strings}`, as a plan step holds them) with every `${{ ... }}`
    reference replaced by its value in `context`, or Unresolved with the reason when a reference does not parse
    against the plan or its value is empty. Parameters without references are returned as they are and read
    nothing. Never raises for a bad reference or an empty value (the ledger's own errors propagate)."""
    resolved: dict[str, ParameterValue] = {}
    values: dict[str, ParameterValue] = {}
    for name, value in parameters.items():
        texts = value if isinstance(value, list) else [value]
        if not any(has_references(text) for text in texts):
            resolved[name] = list(value) if isinstance(value, list) else value
            continue
        try:
            resolved[name] = _list(value, context) if isinstance(value, list) else _text(value, context)
        except _Empty as exc:
            return Unresolved(f"parameter '{name}': {exc.why}")
        values[name] = resolved[name]
    return ResolvedParameters(resolved, values)


def _pieces(text: str, context: RunContext) -> list[Piece]:
    found = split_text(text, context.plan.wave_ids)
    if isinstance(found, ReferenceProblem):
        raise _Empty(found.message)
    return found


def _text(text: str, context: RunContext) -> str:
    """`text` with each reference replaced (a list joined with commas)."""
    out: list[str] = []
    for piece in _pieces(text, context):
        if isinstance(piece, RunReference):
            value = reference_value(piece, context)
            out.append(",".join(value) if isinstance(value, list) else value)
        else:
            out.append(piece)
    return "".join(out)


def _list(items: list[str], context: RunContext) -> list[str]:
    """A list value: an item that is one list reference alone becomes its items; any other item is `_text`."""
    out: list[str] = []
    for item in items:
        if not has_references(item):
            out.append(item)
            continue
        pieces = _pieces(item, context)
        if len(pieces) == 1 and isinstance(pieces[0], RunReference) and pieces[0].is_list:
            out.extend(reference_value(pieces[0], context))
        else:
            out.append(_text(item, context))
    return out


def reference_value(reference: RunReference, context: RunContext) -> ParameterValue:
    """The value of one reference: a string, or for a wave's instanceIds / privateIps a non-empty list (one entry
    per launched server, in source server id order). Raises _Empty with the reason when it would be empty."""
    if reference.wave_id is None:
        return _run_value(reference, context)
    if reference.wave_id == context.wave_id and context.phase == "PRE_LAUNCH":
        raise _Empty(f"{reference.text} names this step's own wave in its pre-launch phase: nothing is recovered yet")
    servers = context.servers(reference.wave_id)
    if reference.server_id is not None:
        return _server_value(reference, servers.get(reference.server_id))
    launched = [result for _, result in sorted(servers.items()) if result.launched]
    if not launched:
        raise _Empty(f"{reference.text} is empty: no server of wave '{reference.wave_id}' launched")
    return [_server_value(reference, result) for result in launched]


def _run_value(reference: RunReference, context: RunContext) -> str:
    value = {
        "executionId": context.execution_id,
        "mode": context.mode,
        "planId": context.plan.plan_id,
        "planName": context.plan.name,
    }.get(reference.attribute)
    if not value:
        raise _Empty(f"{reference.text} is empty: the plan has no {reference.attribute}")
    return value


def _server_value(reference: RunReference, result: ServerResult | None) -> str:
    """One server's recovery instance id or private IP (a list reference reads each launched server's)."""
    server = reference.server_id or (result.source_server_id if result else "")
    if result is None or not result.launched:
        status = result.launch_status.value if result else "not in the wave"
        raise _Empty(
            f"{reference.text} is empty: server {server} of wave '{reference.wave_id}' did not launch ({status})"
        )
    if reference.attribute in ("instanceId", "instanceIds"):
        value = result.recovery_instance_id
        missing = "its recovery instance is not on record"
    else:
        value = result.private_ip
        missing = (
            f"its recovery instance {result.recovery_instance_id} has no private IP on record (DRS's "
            "DescribeRecoveryInstances did not give one when its job ended)"
        )
    if not value:
        raise _Empty(
            f"{reference.text} is empty: server {server} of wave '{reference.wave_id}' launched, but {missing}"
        )
    return value
