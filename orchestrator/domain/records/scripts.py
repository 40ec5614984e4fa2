"""What the ledger holds of a script run (SSM Run Command), as typed records: the run of one script of a wave
attempt's phase, each of its failed tries, its per-instance results, and the index entry of an SSM command.

A script run lives through tries (1, then +1 per retry). Its `status`: SENDING (claimed; its commands are
being sent) -> RUNNING (sent: `command_ids`, `expected` invocations, a `deadline`) -> RETRY_WAIT (a failed
try, kept in `history`, waits for its retry tick) -> SENDING (the next try) ... -> a final status, the
verdict of its last try (Success, Failed, TimedOut, Cancelled, Skipped: SSM's own words, as the events and
the report show them). A try that met a transient error stays SENDING, handed to a resend tick (`resends`,
`resend_at`, `deferred_by`, `send_error`).

The records use Python names; only the ledger adapter (`orchestrator.adapters.ledger.scripts`) knows the
items' attribute names and keys. Times are ISO 8601 text, as the ledger writes them (`deadline` is written
by `datetime.isoformat`, the others by `orchestrator.domain.clock.iso`). A field is None when its attribute
is absent from the item; `extra` keeps the attributes a record does not name, so writing it back loses
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from orchestrator.domain.plan import ScriptOnFailure

ScriptPhase = Literal["PRE_LAUNCH", "POST_LAUNCH"]


class ScriptStatus(StrEnum):
    """A script run's `status` in the ledger: where its current try stands, then its verdict."""

    SENDING = "SENDING"  # claimed: its commands are being sent (or wait for a resend tick)
    RUNNING = "RUNNING"  # sent: its invocations run
    RETRY_WAIT = "RETRY_WAIT"  # a try failed: the next waits for its retry tick
    SUCCESS = "Success"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"
    SKIPPED = "Skipped"  # a WARN step that had nothing to run on


FINAL_SCRIPT = frozenset(
    {ScriptStatus.SUCCESS, ScriptStatus.FAILED, ScriptStatus.TIMED_OUT, ScriptStatus.CANCELLED, ScriptStatus.SKIPPED}
)
"""The statuses a script run ends in (what a PreLaunchDone or PostLaunchDone reports)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptId:
    """Which script run: the `index`-th script (0-based, in plan order; a health check is the last of its
    post-launch phase) of `phase` in attempt `wave_attempt` (1, 2, ...) of a wave of an execution."""

    execution_id: str
    wave_id: str
    wave_attempt: int
    phase: ScriptPhase
    index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptSpec:
    """What the plan asks of a script run, as its claim writes it (`Ledger.claim_script`): the SSM document,
    whether a failure fails the wave (`on_failure`; a health check always does), how many retries after the
    first try, and the time one try may run (seconds)."""

    id: ScriptId
    plan_id: str
    document_name: str
    on_failure: ScriptOnFailure
    health_check: bool
    retries: int
    timeout_seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationResult:
    """How a script run ended on one instance: SSM's invocation status (Success, Failed, TimedOut, Cancelled,
    ...; "Pending" when it was never listed), an excerpt of its output, and how long it ran (seconds, from
    its plugins' start and end)."""

    instance_id: str
    status: str
    output: str | None = None
    duration_seconds: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptTry:
    """A try that failed and was retried (a run's `history`, and its `last_result`): its verdict, its
    commands, how many of its invocations did not succeed, when it ended and why."""

    try_number: int
    status: ScriptStatus
    command_ids: tuple[str, ...] = ()
    instances_failed: int = 0
    ended_at: str | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDeferral:
    """A try handed to a resend tick after a transient error (`Ledger.rekey_send`): which resend of the try
    (1, 2, ...), when it is due (ISO), the event that deferred it, and the error (at most 500 characters)."""

    resend: int
    resend_at: str
    deferred_by: str
    send_error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptRun:
    """One script of a wave attempt's phase (see the module's docstring for its statuses). `instances` are
    its per-instance results once it has ended (`Ledger.list_scripts` reads them from their own items: a
    script may run on thousands of instances; `instance_count` says how many)."""

    execution_id: str
    wave_id: str
    wave_attempt: int
    phase: ScriptPhase
    index: int
    document_name: str
    status: ScriptStatus
    try_number: int
    plan_id: str | None = None
    on_failure: ScriptOnFailure | None = None
    health_check: bool | None = None
    retries: int | None = None  # tries after the first
    timeout_seconds: int | None = None  # of one try
    started_at: str | None = None
    # the current try
    send_key: str | None = None  # the event that claimed it (`defer:<try>:<resend>` while it waits to be resent)
    claimed_at: str | None = None
    command_ids: tuple[str, ...] = ()
    expected: int | None = None  # invocations its commands target
    target_count: int | None = None
    tags: Mapping[str, str] | None = None  # the tags it targets (SSM resolves them)
    # the parameters that held ${{ ... }} references, as the current try resolved and sent them (the evidence)
    parameter_values: Mapping[str, str | list[str]] | None = None
    sent_at: str | None = None
    deadline: str | None = None  # sent_at + timeout_seconds
    done_count: int | None = None  # invocations seen to end (completion events)
    done_instances: tuple[str, ...] | None = None
    # a try deferred to a resend tick (SendDeferral)
    resends: int | None = None
    resend_try: int | None = None
    resend_at: str | None = None
    deferred_by: str | None = None
    send_error: str | None = None
    # failed tries
    history: tuple[ScriptTry, ...] = ()
    last_result: ScriptTry | None = None
    # its end
    ended_at: str | None = None
    done_key: str | None = None  # the event that ended it
    reason: str | None = None
    warnings: tuple[str, ...] | None = None
    instance_count: int | None = None
    instances: tuple[InvocationResult, ...] | None = None
    expires_at: int | None = None  # epoch seconds (time to live, once its execution has ended)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> ScriptId:
        return ScriptId(
            execution_id=self.execution_id,
            wave_id=self.wave_id,
            wave_attempt=self.wave_attempt,
            phase=self.phase,
            index=self.index,
        )

    @property
    def required(self) -> bool:
        """A failure of it fails its wave: onFailure FAIL, or a health check (a gate, whatever its onFailure)."""
        return self.on_failure == ScriptOnFailure.FAIL or bool(self.health_check)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandIndexEntry:
    """An SSM command of a script run's try (`Ledger.command_index`): how an aws.ssm status-change event,
    which names only the command and the instance, finds its script; `expected` is the try's invocations."""

    command_id: str
    script: ScriptId
    try_number: int
    expected: int
    expires_at: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def script_name(wave_id: str, wave_attempt: int, phase: str, index: int) -> str:
    """A script step's stable name, `SCRIPT#<wave>#<attempt:03>#<phase>#<index:03>`: the ledger's sort key of its
    item, and what names its events' keys and its SSM commands' comment (so a redelivery, or a resend after an
    upgrade, finds what an earlier delivery did)."""
    return f"SCRIPT#{wave_id}#{wave_attempt:03d}#{phase}#{index:03d}"
