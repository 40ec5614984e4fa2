"""The statuses of an execution and of its waves, their groups, and the one table of which may follow which.

The values are the strings the ledger stores and the events, reports and console show (`StrEnum`: a member
is equal to its string, and `str(member)`, `format(member)` and JSON give that string), so the DynamoDB
items stay as they were. The ledger refuses a status change the table does not declare
(`check_execution_transition`, `check_wave_transition`) before it writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar


class ExecutionStatus(StrEnum):
    """An execution's `status` in the ledger."""

    CREATING = "CREATING"  # its items are being written (StartPlan)
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"  # no wave is released; running waves go on
    STOPPING = "STOPPING"  # a STOP failure or a cancel: nothing new starts, running waves finish
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class WaveStatus(StrEnum):
    """A wave's `status` in the ledger."""

    PENDING = "PENDING"  # waits for its dependencies
    READY = "READY"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    PRE_LAUNCH = "PRE_LAUNCH"  # pre-launch scripts
    LAUNCHING = "LAUNCHING"  # DRS jobs
    LAUNCHED = "LAUNCHED"  # judged launched, before post-launch
    POST_LAUNCH = "POST_LAUNCH"  # post-launch scripts and health check
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


_E, _W = ExecutionStatus, WaveStatus

# ---- groups -----------------------------------------------------------------------------------------

EXECUTION_INITIAL = _E.CREATING
EXECUTION_FINAL = frozenset({_E.COMPLETED, _E.FAILED, _E.CANCELLED})
RUNNABLE_EXECUTION = frozenset({_E.RUNNING, _E.PAUSED})  # waves may go on (PAUSED: none is released)
STOPPED_EXECUTION = frozenset({_E.STOPPING, _E.FAILED})  # a RetryWave or SkipWave of a failed wave may reopen it

WAVE_INITIAL = frozenset({_W.PENDING, _W.READY})  # READY: no dependency
NOT_STARTED_WAVE = frozenset({_W.PENDING, _W.READY, _W.AWAITING_APPROVAL})
ACTIVE_WAVE = frozenset({_W.PRE_LAUNCH, _W.LAUNCHING, _W.LAUNCHED, _W.POST_LAUNCH})
TERMINAL_WAVE = frozenset({_W.COMPLETED, _W.FAILED, _W.SKIPPED})
FAILABLE_WAVE = frozenset({_W.READY, _W.AWAITING_APPROVAL}) | ACTIVE_WAVE  # a handler that gives up fails it

# ---- the transition tables ----------------------------------------------------------------------------

EXECUTION_TRANSITIONS: Mapping[ExecutionStatus, frozenset[ExecutionStatus]] = MappingProxyType(
    {
        _E.CREATING: frozenset({_E.RUNNING}),
        # a cancel goes through STOPPING (close_plan_if_done's write is conditional on the status it judged): no
        # RUNNING -> CANCELLED, no PAUSED -> CANCELLED, and a stopped plan never ends COMPLETED
        _E.RUNNING: frozenset({_E.PAUSED, _E.STOPPING, _E.COMPLETED, _E.FAILED}),
        _E.PAUSED: frozenset({_E.RUNNING, _E.STOPPING, _E.COMPLETED, _E.FAILED}),
        _E.STOPPING: frozenset({_E.RUNNING, _E.FAILED, _E.CANCELLED}),
        _E.COMPLETED: frozenset(),
        _E.FAILED: frozenset({_E.RUNNING}),
        _E.CANCELLED: frozenset(),
    }
)
"""Which execution status may follow which, and the step that takes each edge:

- CREATING -> RUNNING: StartPlan, once the execution's items are written (`Ledger.create_execution`).
- RUNNING -> PAUSED, PAUSED -> RUNNING: PausePlan, ResumePlan (`steps.control`).
- RUNNING | PAUSED -> STOPPING: a wave failed with onFailure STOP, or CancelPlan (`steps.progress.stop_plan`).
- RUNNING | PAUSED -> COMPLETED | FAILED, STOPPING -> FAILED | CANCELLED: the last wave ended
  (`steps.progress.close_plan_if_done`).
- STOPPING | FAILED -> RUNNING: a RetryWave or SkipWave of the failed wave that stopped the plan, when no other
  failure stops it (`steps.control`, `Ledger.reopen_execution`).
"""

WAVE_TRANSITIONS: Mapping[WaveStatus, frozenset[WaveStatus]] = MappingProxyType(
    {
        _W.PENDING: frozenset({_W.READY, _W.SKIPPED}),
        _W.READY: frozenset({_W.AWAITING_APPROVAL, _W.PRE_LAUNCH, _W.FAILED, _W.SKIPPED}),
        _W.AWAITING_APPROVAL: frozenset({_W.READY, _W.FAILED, _W.SKIPPED}),
        _W.PRE_LAUNCH: frozenset({_W.LAUNCHING, _W.FAILED, _W.SKIPPED}),
        _W.LAUNCHING: frozenset({_W.LAUNCHED, _W.FAILED, _W.SKIPPED}),
        _W.LAUNCHED: frozenset({_W.POST_LAUNCH, _W.FAILED}),
        _W.POST_LAUNCH: frozenset({_W.COMPLETED, _W.FAILED}),
        _W.COMPLETED: frozenset(),
        _W.FAILED: frozenset({_W.READY, _W.SKIPPED}),
        _W.SKIPPED: frozenset({_W.PENDING}),
    }
)
"""Which wave status may follow which, and the step that takes each edge:

- PENDING -> READY: its last dependency is met (`steps.progress.release_dependents`, `make_ready`,
  `Ledger.release_last`), or the plan resumes (`steps.control.resume_plan`).
- READY -> AWAITING_APPROVAL: the approval gate asks (`steps.approval.held_for_approval`).
- AWAITING_APPROVAL -> READY: ApprovalGranted (`steps.control.grant_approval`).
- READY -> PRE_LAUNCH: WaveReady past the gates (`steps.pre_launch.on_wave_ready`).
- PRE_LAUNCH -> LAUNCHING: PreLaunchDone (`steps.launch_wave.prepare`).
- LAUNCHING -> LAUNCHED: its last DRS job ended, judged launched (`steps.post_launch.close_launch`).
- LAUNCHED -> POST_LAUNCH: at once after (`steps.post_launch.start_post_launch`).
- POST_LAUNCH -> COMPLETED: PostLaunchDone (`steps.progress.on_post_launch_done`).
- READY -> FAILED: preflight (`steps.preflight.gate`); AWAITING_APPROVAL -> FAILED: ApprovalDenied or its
  timeout (`steps.control`); PRE_LAUNCH | POST_LAUNCH -> FAILED: a failed script or health check
  (`steps.scripts`); LAUNCHING -> FAILED: the launch judged failed (`steps.post_launch.close_launch`); READY |
  AWAITING_APPROVAL | PRE_LAUNCH | LAUNCHING | LAUNCHED | POST_LAUNCH -> FAILED: a handler gave up on the
  wave's event (`steps.handler_failures`, the only step that fails a LAUNCHED wave).
- PENDING | READY | AWAITING_APPROVAL -> SKIPPED: the plan stopped, an upstream wave failed with CONTINUE
  (`steps.progress.skip_wave`), or SkipWave (`steps.control.skip_wave`); PRE_LAUNCH -> SKIPPED: the plan
  stopped before its launch (`steps.launch_wave.prepare`); LAUNCHING -> SKIPPED: the plan stopped while its
  launches waited for DRS capacity (`steps.launch_wave.skip_if_stopped_before_launch`).
- FAILED -> READY: RetryWave (`steps.control.retry_wave`); FAILED -> SKIPPED: SkipWave of a failed wave
  (`steps.control.skip_wave`); SKIPPED -> PENDING: a wave skipped for a failure that was just retried or
  skipped is reopened (`steps.progress.reopen_skipped_for`).
"""

EXECUTION_REOPENS = frozenset({(_E.STOPPING, _E.RUNNING), (_E.FAILED, _E.RUNNING)})
"""The execution edges only an operator's RetryWave or SkipWave takes: out of a stop or an end."""

WAVE_REOPENS = frozenset({(_W.FAILED, _W.READY), (_W.FAILED, _W.SKIPPED), (_W.SKIPPED, _W.PENDING)})
"""The wave edges out of an end: RetryWave, SkipWave of a failed wave, and the reopening of the waves skipped
for it. No other edge leaves a terminal status."""


class IllegalTransition(ValueError):
    """A status change the transition table does not declare (or a status that does not exist). Raised
    before anything is written."""


S = TypeVar("S", ExecutionStatus, WaveStatus)


def _status(kind: type[S], name: str, value: str) -> S:
    try:
        return kind(value)
    except ValueError:
        raise IllegalTransition(f"{value!r} is not one of the {name} statuses") from None


def _check(
    kind: type[S], name: str, table: Mapping[S, frozenset[S]], from_: Iterable[str], to: str
) -> tuple[tuple[str, ...], str]:
    target = _status(kind, name, to)
    sources = tuple(_status(kind, name, value) for value in from_)
    if not sources:
        raise IllegalTransition(f"{name} transition to {target} names no status to leave")
    illegal = [source for source in sources if target not in table[source]]
    if illegal:
        raise IllegalTransition(
            f"{name} status may not go from {', '.join(illegal)} to {target} (not in {name.upper()}_TRANSITIONS)"
        )
    return tuple(source.value for source in sources), target.value


def check_execution_transition(from_: Iterable[str], to: str) -> tuple[tuple[str, ...], str]:
    """Every edge `from_` -> `to` is in EXECUTION_TRANSITIONS, else IllegalTransition (also for an unknown
    status or an empty `from_`). Returns `from_` (read once) and `to` as plain strings, as the ledger writes
    them."""
    return _check(ExecutionStatus, "execution", EXECUTION_TRANSITIONS, from_, to)


def check_wave_transition(from_: Iterable[str], to: str) -> tuple[tuple[str, ...], str]:
    """Every edge `from_` -> `to` is in WAVE_TRANSITIONS, else IllegalTransition (also for an unknown status
    or an empty `from_`). Returns `from_` (read once) and `to` as plain strings, as the ledger writes them."""
    return _check(WaveStatus, "wave", WAVE_TRANSITIONS, from_, to)
