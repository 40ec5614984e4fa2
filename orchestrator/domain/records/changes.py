"""What a step writes on a wave or an execution besides its status: typed changes, in the records' own names.

A step never names a DynamoDB attribute: it passes a `WaveChanges` or an `ExecutionChanges` to the ledger's
writes (`transition_wave`, `finish_wave`, `move_wave`, `note_wave_if`, `set_execution_status`), and the ledger
adapter (`orchestrator.adapters.ledger.changes`) turns the fields that are set into the attributes it has
always written. A field left at None is not written; to remove a field, name it in the write's `removes`
(field names of `WaveRecord` / `WaveAttempt`, e.g. `RETRY_CLEARS`).

Times are ISO 8601 text (`Ledger.now()`), as the records hold them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from orchestrator.domain.records.approvals import ApprovalRecord
from orchestrator.domain.records.waves import PreflightExclusion, WaveAttempt, WaveJob


def _set_fields(changes: object) -> dict[str, object]:
    values = {f.name: getattr(changes, f.name) for f in fields(changes)}  # type: ignore[arg-type]
    return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveChanges:
    """The fields a wave write sets (None: left as it is). Names and meanings are those of `WaveAttempt`
    (the current attempt's times, reason, launch summary, jobs) and `WaveRecord`."""

    # the moments of the current attempt (ATTEMPT_TIMES; `ended_at` is written by `finish_wave` itself)
    ready_at: str | None = None
    pre_launch_at: str | None = None
    launch_started_at: str | None = None
    launched_at: str | None = None
    post_launch_at: str | None = None
    completed_at: str | None = None
    reason: str | None = None
    launch_summary: str | None = None
    warnings: tuple[str, ...] | None = None
    # the launch: jobs expected and done, and its servers' counts
    jobs: tuple[WaveJob, ...] | None = None  # () starts the attempt with no job
    jobs_expected: int | None = None
    jobs_done: int | None = None
    servers_launched: int | None = None
    servers_failed: int | None = None
    preflight_excluded: PreflightExclusion | None = None
    launch_token: str | None = None  # the launch's secret, written with LAUNCHING (`WaveRecord.launch_token`)
    # the dependencies: how many are not met yet, which are counted
    remaining: int | None = None
    released_by: frozenset[str] | None = None
    skipped_for: str | None = None
    # an operator's retry
    retry_key: str | None = None
    retried_by: str | None = None
    retried_at: str | None = None
    launch_servers: tuple[str, ...] | None = None
    previous_attempts: tuple[WaveAttempt, ...] | None = None
    # an operator's skip
    skip_key: str | None = None
    skipped_by: str | None = None
    skipped_at: str | None = None
    skipped_from: str | None = None  # the status it was skipped from
    failed_reason: str | None = None  # a FAILED wave's reason, kept when an operator skips it
    # the approval gate: the request, then its decision (the whole approval, written with the transition that
    # leaves AWAITING_APPROVAL or enters it, so no other write changes it meanwhile)
    approval: ApprovalRecord | None = None

    def set_fields(self) -> dict[str, object]:
        """The fields that are set, `{name: value}` in declaration order."""
        return _set_fields(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionChanges:
    """The fields an execution write sets (None: left as it is); names as `ExecutionRecord`'s. A final status
    also gets `ended_at` from the ledger itself."""

    stop_reason: str | None = None
    stopped_by: str | None = None  # the failed wave that stopped it
    paused_by: str | None = None
    cancel_requested: bool | None = None
    cancel_key: str | None = None
    cancelled_by: str | None = None
    running_wave_ids: tuple[str, ...] | None = None  # when it was cancelled
    terminate_on_cancel: bool | None = None

    def set_fields(self) -> dict[str, object]:
        """The fields that are set, `{name: value}` in declaration order."""
        return _set_fields(self)
