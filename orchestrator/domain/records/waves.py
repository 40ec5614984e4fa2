"""What the ledger holds, as typed records: an execution, a wave, and one attempt of a wave with its times.

The records use Python names; only the ledger adapter knows the DynamoDB attribute names they are stored
under (`orchestrator.adapters.ledger.records` maps an item to a record and back; `ExecutionRecord` and
`WaveRecord` are what `Ledger.execution`, `Ledger.wave` and `Ledger.waves` return). Like Powertools'
idempotency `DataRecord`, they are plain frozen dataclasses: the items were written by the ledger itself, so
reading them needs a mapping, not a validation (the plan, which an operator writes, is the pydantic model).

Times are ISO 8601 text (`orchestrator.domain.clock.iso`), as the ledger writes them. A field is None when
its attribute is absent from the item. `extra` keeps the attributes a record does not name (written by a
newer version, or not typed yet), so that writing a record back loses nothing.

`ATTEMPT_TIMES` is the one list of the moments of a wave's attempt, in the order they happen: what a retry
archives and clears (`RETRY_CLEARS`), what a reopen clears (`REOPEN_CLEARS`), the report's times per wave and
the timeline's phases all come from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.domain.records.approvals import ApprovalRecord
from orchestrator.domain.status import ExecutionStatus, WaveStatus

ATTEMPT_TIMES: tuple[str, ...] = (
    "ready_at",  # released: its dependencies are met (or a retry made it ready again)
    "pre_launch_at",  # pre-launch scripts start (after an approval, if any)
    "launch_started_at",  # the first DRS StartRecovery
    "launched_at",  # the launch judged (its servers launched, or enough of them)
    "post_launch_at",  # post-launch scripts and health check start
    "completed_at",  # COMPLETED
    "ended_at",  # terminal: COMPLETED, FAILED or SKIPPED
)
"""The moments of one attempt of a wave, in the order they happen (fields of `WaveAttempt`)."""

RETRY_CLEARS: tuple[str, ...] = (
    *(t for t in ATTEMPT_TIMES if t != "ready_at"),
    "reason",
    "launch_summary",
    "launch_token",
)
"""The fields of a wave's current attempt that a retry removes once it has archived the attempt in
`previous_attempts` (`ready_at` is written anew: the retried wave is ready at once; the new attempt's launch
gets a launch token of its own)."""

REOPEN_CLEARS: tuple[str, ...] = ("reason", "skipped_for", *ATTEMPT_TIMES)
"""The fields a reopen of a wave SKIPPED for a failure removes: the wave waits for its dependencies again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveJob:
    """One DRS recovery job of an attempt (`job_id`: DRS's `jobID`). The current attempt's jobs carry the
    launch claim (`launch_key`) and the bookkeeping of their end; an archived attempt keeps status and times."""

    job_id: str
    launch_key: str | None = None
    server_count: int | None = None
    status: str | None = None  # STARTED, COMPLETED
    started_at: str | None = None
    completed_at: str | None = None
    done_key: str | None = None  # the event that recorded its end
    reported_at: str | None = None
    # a packed job (issue #19) holds other waves' servers too: its key, this wave's servers in it (the wave is judged
    # from these alone), and the other waves in it (`<execution id>/<wave id>`)
    packed_key: str | None = None
    server_ids: tuple[str, ...] | None = None
    shared_with: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveAttempt:
    """One attempt of a wave: THE definition of what an attempt is and when each of its moments happened.
    The current attempt is `WaveRecord.current`; a retry archives it (`archived`) in
    `WaveRecord.previous_attempts`."""

    attempt: int
    status: WaveStatus
    ready_at: str | None = None
    pre_launch_at: str | None = None
    launch_started_at: str | None = None
    launched_at: str | None = None
    post_launch_at: str | None = None
    completed_at: str | None = None
    ended_at: str | None = None
    reason: str | None = None
    launch_summary: str | None = None
    jobs: tuple[WaveJob, ...] = ()
    servers_launched: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def times(self) -> dict[str, str]:
        """The moments that happened, `{field: ISO time}` in `ATTEMPT_TIMES` order."""
        moments = {name: getattr(self, name) for name in ATTEMPT_TIMES}
        return {name: moment for name, moment in moments.items() if moment}

    def archived(self, *, servers_launched: int) -> WaveAttempt:
        """This attempt as a retry keeps it: its times, reason and launch summary (those set), its jobs (id,
        status, start and end, by start time) and how many of its servers launched. How each server ended
        stays in the server's own item (its history): a wave of thousands would not fit in the wave's."""
        jobs = sorted(self.jobs, key=lambda job: (job.started_at or "", job.job_id))
        times: dict[str, Any] = {name: getattr(self, name) or None for name in ATTEMPT_TIMES}
        return WaveAttempt(
            attempt=self.attempt,
            status=self.status,
            **times,
            reason=self.reason or None,
            launch_summary=self.launch_summary or None,
            jobs=tuple(
                WaveJob(
                    job_id=job.job_id,
                    status=job.status or None,
                    started_at=job.started_at or None,
                    completed_at=job.completed_at or None,
                )
                for job in jobs
            ),
            servers_launched=servers_launched,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PreflightExclusion:
    """The OPTIONAL servers the preflight left out of one attempt's launch (recorded FAILED with the reason)."""

    attempt: int
    servers: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveRecord:
    """A wave of an execution: where it stands in the plan (dependencies, what remains), its current
    attempt, its earlier attempts, and the operator decisions taken on it."""

    execution_id: str
    wave_id: str
    current: WaveAttempt  # status, attempt number, times, reason, jobs of the attempt under way (or last)
    remaining: int  # dependencies not met yet
    depends_on: tuple[str, ...]
    dependents: tuple[str, ...]
    on_failure: str  # STOP, CONTINUE (the plan's onFailure)
    server_count: int
    servers_failed: int
    jobs_expected: int
    jobs_done: int
    scripts: tuple[Mapping[str, Any], ...] = ()  # script summaries, as the script steps write them
    warnings: tuple[Any, ...] = ()
    last_key: str | None = None  # the event of its last transition
    released_by: tuple[str, ...] | None = None  # the dependencies counted (sorted)
    approval: ApprovalRecord | None = None  # the approval gate's request and its decision
    launch_servers: tuple[str, ...] | None = None  # a retried attempt's servers (None: all of them)
    retry_key: str | None = None
    retried_by: str | None = None
    retried_at: str | None = None
    skip_key: str | None = None
    skipped_by: str | None = None  # an operator's skip
    skipped_at: str | None = None
    skipped_for: str | None = None  # the failed wave it was skipped for
    skipped_from: str | None = None  # the status an operator skipped it from
    failed_reason: str | None = None  # a FAILED wave's reason, kept when an operator skipped it
    preflight_excluded: PreflightExclusion | None = None
    # the secret of the current attempt's launch (`launch_wave.prepare`): a launch chunk that does not carry it
    # is not one the wave launch state machine was given (`launch_checks.check_chunk`)
    launch_token: str | None = None
    previous_attempts: tuple[WaveAttempt, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> WaveStatus:
        return self.current.status

    @property
    def attempt(self) -> int:
        return self.current.attempt

    def with_status(self, status: WaveStatus) -> WaveRecord:
        """This wave as it is after a transition to `status` that wrote nothing else."""
        return replace(self, current=replace(self.current, status=status))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord:
    """One run of a plan: its status, counts, the frozen plan (`plan_document`, JSON text, see
    `orchestrator.domain.execution.frozen_plan`), and how it was stopped, paused or cancelled."""

    execution_id: str
    plan_id: str
    mode: str  # DRILL, RECOVERY
    status: ExecutionStatus
    wave_count: int
    terminal_count: int
    plan_document: str
    resolution: str | None = None  # JSON text: how the plan's tag selectors were resolved (see start_plan)
    # the stored plan version it runs ({planId, version, sha256}: orchestrator/domain/stored_plans.py); None: inline
    plan_ref: Mapping[str, Any] | None = None
    plan_name: str | None = None
    requested_by: str | None = None
    started_at: str | None = None
    # when the disaster was declared (StartPlan's declaredAt, else its handling time): objectives count from it
    declared_at: str | None = None
    # a drill's time to live in seconds: the shorter of the plan's drillInstanceTtlSeconds and its StartPlan's
    drill_ttl_seconds: int | None = None
    failed_waves: tuple[str, ...] = ()
    paused: bool | None = None
    ended_at: str | None = None
    last_key: str | None = None
    start_key: str | None = None
    stop_reason: str | None = None
    stopped_by: str | None = None  # the failed wave that stopped it
    paused_by: str | None = None
    cancel_requested: bool | None = None
    cancel_key: str | None = None
    cancelled_by: str | None = None
    running_wave_ids: tuple[str, ...] | None = None  # when it was cancelled
    terminate_on_cancel: bool | None = None
    # a failback execution (issue #15): what it fails back and how, per wave and server
    # (`orchestrator.domain.failback.FailbackDesign.record`); None for a recovery or drill of a plan
    failback: Mapping[str, Any] | None = None
    # what its reprotect did (`orchestrator.steps.failback.reprotect`): each server's protection again
    reprotect: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionListing:
    """One execution as the executions index carries it: enough to list it (status, plan, mode, times, who)."""

    execution_id: str
    plan_id: str
    status: str
    mode: str | None = None
    plan_name: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    requested_by: str | None = None
