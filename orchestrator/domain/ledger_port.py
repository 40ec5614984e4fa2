"""The ledger's port: what a step may ask of the execution ledger, in typed records.

`LedgerPort` lists exactly the methods the steps (`orchestrator.steps`) call, with the signatures of the DynamoDB
adapter (`orchestrator.adapters.ledger.Ledger`, which implements it: mypy strict checks that where
`orchestrator.runtime.build_runtime` puts it in the Runtime, and `tests/unit/steps/test_ports.py` checks the
method names). It speaks records (`orchestrator.domain.records`) and typed changes (`WaveChanges`,
`ExecutionChanges`), never DynamoDB attribute names, keys or expressions.

Every state change is conditional: a transition names the statuses it may leave and the event that causes it
(`key`), and answers an `Outcome` (WON, REPLAY for a redelivery of the same event, REJECTED otherwise). Times
are ISO 8601 text from `now()`. Errors: `orchestrator.adapters.ledger.LedgerError` for an item that is not
what it must be, `orchestrator.domain.status.IllegalTransition` for a transition the tables forbid (raised
before anything is written); AWS errors other than a failed condition propagate, so the event is retried.

The unit tests of the steps run this port's one implementation on moto's in-memory DynamoDB
(`tests/unit/moto_ledger.py`): the conditional writes, transactions and pagination are the behaviour under
test, and a second, hand-written model of them would be a second thing to keep right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from events.models import Contract
from orchestrator.domain.objectives import ObjectiveClaim
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.changes import ExecutionChanges, WaveChanges
from orchestrator.domain.records.decisions import DecisionRecord
from orchestrator.domain.records.launch_settings import AppliedSettings, SettingsHold
from orchestrator.domain.records.launches import (
    Admission,
    CapacityHold,
    CapacityState,
    LaunchChunk,
    LaunchClaim,
    LaunchStatus,
    PackedLaunch,
    ParkedLaunch,
)
from orchestrator.domain.records.scripts import (
    CommandIndexEntry,
    InvocationResult,
    ScriptId,
    ScriptRun,
    ScriptSpec,
    ScriptStatus,
    ScriptTry,
    SendDeferral,
)
from orchestrator.domain.records.servers import ServerOutcome, ServerResult
from orchestrator.domain.records.terminations import (
    NotTerminated,
    TerminationClaim,
    TerminationRecord,
    TerminationStatus,
)
from orchestrator.domain.records.waves import ExecutionListing

__all__ = ["LedgerPort"]


@runtime_checkable
class LedgerPort(Protocol):
    """The execution ledger (one DynamoDB table on AWS): executions, waves, their servers, launches, scripts,
    decisions, shared DRS capacity, terminations and handler failure counts."""

    def abandon_packing(self, key: str, *, pool: str | None = None) -> None:
        """No job was created for the packed job `key`: its being-started record goes (its chunks are packed again)."""
        ...

    def add_job(
        self,
        execution_id: str,
        wave_id: str,
        *,
        job_id: str,
        launch_key: str,
        server_ids: list[str],
        packed_key: str | None = None,
        shared_with: list[str] | None = None,
    ) -> None:
        """Note a started DRS job on its wave (idempotent). Its servers are those of its launch claim
        (`list_launches`); each server's jobId and launch status are written when the job ends. A packed job
        (`packed_key`) also keeps this wave's servers in it and the other waves sharing it (`shared_with`)."""
        ...

    def begin_packing(self, record: PackedLaunch, *, pool: str | None = None) -> bool:
        """Write a packed job about to be started; False when one with its key is there."""
        ...

    def capacity(self, *, pool: str | None = None) -> CapacityState:
        """The shared DRS capacity of `pool` (None: the own account and Region; else `<account>#<region>` of a wave
        target, issue #15) as it is now (consistent read). Every capacity, queue and packing method takes `pool`."""
        ...

    def capacity_admit(
        self,
        hold: CapacityHold,
        *,
        max_jobs: int,
        max_servers: int,
        behind_queue: bool,
        pool: str | None = None,
    ) -> Admission:
        """Count one job (`hold`: its key, servers, when, kind and ref) in the shared DRS capacity if it fits under the
        quotas. ADMITTED, HELD (this key was admitted before) or FULL. `behind_queue`: a fresh launch is not
        admitted while launches are parked (first come, first served)."""
        ...

    def capacity_note_job(self, key: str, job_id: str, *, pool: str | None = None) -> None:
        """Note the job `key`'s admission started (while it still holds capacity)."""
        ...

    def capacity_reconcile_due(self, *, seconds: int, pool: str | None = None) -> bool:
        """True for one caller per `seconds`: that caller reconciles the capacity record with DRS now."""
        ...

    def capacity_release(
        self, key: str, *, unstarted_only: bool = False, pool: str | None = None
    ) -> CapacityState | None:
        """Give back what `key` was admitted with (once). Returns the capacity after the write, or None when the key
        held nothing (already released). `unstarted_only`: only while no job id is noted on it (a job another
        call started with it still runs)."""
        ...

    def claim_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        launch_key: str,
        server_ids: list[str],
        lease: tuple[str, int] | None = None,
        parked: str | None = None,
    ) -> LaunchClaim | None:
        """Claim one DRS launch before calling StartRecovery. Returns None when this call made the claim, or the
        existing claim (which may already hold the job id) when one was there. `lease` (token, seconds): the new
        claim is made already leased to this caller (see `lease_launch`), in the same write."""
        ...

    def claim_retry(self, script: ScriptId, *, try_number: int, key: str) -> tuple[Outcome, ScriptRun | None]:
        """RETRY_WAIT (try n-1) -> SENDING (try n), once."""
        ...

    def claim_script(self, spec: ScriptSpec, *, key: str) -> tuple[Outcome, ScriptRun | None]:
        """Create the script item (status SENDING, try 1, started and claimed now) unless it exists. Returns WON,
        REPLAY (the same key claimed it: the caller redoes what follows) or REJECTED, with the script."""
        ...

    def claim_termination(
        self, execution_id: str, key: str, *, instance_ids: list[str], ref: str | None = None
    ) -> TerminationClaim | None:
        """Claim one TerminateRecoveryInstances call for the batch `instance_ids` (its `key`: a digest of the batch;
        `ref`: the termination's scope) before it is made. None when this call made the claim, else the existing
        claim (with the `job_id` of the terminate job once known). Its `status` and lease follow a launch
        claim's: CLAIMED, STARTING (a call may be under way or may have created a job), STARTED."""
        ...

    def command_index(self, command_id: str) -> CommandIndexEntry | None:
        """command_index"""
        ...

    def index_command(self, script: ScriptId, *, try_number: int, command_id: str, expected: int) -> None:
        """Write the index item of `command_id` (try `try_number` of `script`, `expected` results) before it is
        sent, so a result that comes back before the send is recorded still finds its script."""
        ...

    def complete_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        job_id: str | None,
        status: LaunchStatus,
        reason: str | None = None,
    ) -> None:
        """The launch has ended (`status`: STARTED with its job, or FAILED or NOT_STARTED with a reason); its lease
        goes."""
        ...

    def complete_termination(self, execution_id: str, key: str, *, job_id: str) -> None:
        """The batch's terminate job is known: STARTED with its id."""
        ...

    def count_handler_failure(self, event_id: str, function: str, error: str) -> int:
        """Count one failed handling of event `event_id` by `function` (every delivery of an event carries its id, so
        Lambda's retries and EventBridge's duplicates count together). Returns the failures so far, this one
        included."""
        ...

    def create_execution(
        self,
        *,
        execution_id: str,
        plan_id: str,
        plan_name: str,
        plan_document: dict[str, Any],
        mode: str,
        requested_by: str,
        waves: list[dict[str, Any]],
        key: str,
        resolution: Mapping[str, Any] | None = None,
        plan_ref: Mapping[str, Any] | None = None,
        declared_at: str | None = None,
        drill_ttl_seconds: int | None = None,
        failback: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Create the execution, its waves and their servers. `waves`: waveId, dependsOn, dependents, onFailure,
        servers (`{sourceServerId: {criticality, launchStatus}}`); `resolution`: how its tag selectors were
        resolved, kept with the frozen plan; `plan_ref`: the stored plan version it runs (`{planId, version,
        sha256}`), None for a plan that came inline; `declared_at`: when the disaster was declared (default: now);
        `drill_ttl_seconds`: a drill's time to live (seconds), the shorter of its plan's and its StartPlan's;
        `failback`: a failback execution's design (what it fails back, per wave and server)."""
        ...

    def expire_execution(self, execution_id: str) -> None:
        """The finished execution and its items expire with the ledger's time to live from now (none: nothing): a
        COMPLETED RECOVERY does not expire until its failback completes, which calls this."""
        ...

    def running_executions(self, plan_id: str) -> list[str]:
        """The ids of the plan's RUNNING executions (the executions index: eventually consistent)."""
        ...

    def claim_failback(
        self, execution_id: str, failback_execution_id: str, *, replacing: str | None = None
    ) -> str | None:
        """Mark the RECOVERY execution `execution_id` as failed back by `failback_execution_id` (`failedBackBy` on
        its item), once: None when this failback holds it (now, or already), else the failback execution that holds
        it. One recovery is failed back by one execution, so two failbacks never launch the same server twice.
        `replacing`: take the claim over from that holder (a spent failback: ended without launching anything)."""
        ...

    def release_failback(self, execution_id: str, failback_execution_id: str) -> None:
        """Give back the claim `failback_execution_id` holds on the recovery (its start was refused after it
        claimed): nothing when another holds it."""
        ...

    def record_reprotect(self, execution_id: str, reprotect: Mapping[str, Any]) -> None:
        """Write what a reprotect of the (failback) execution did (`reprotect` on the execution item), replacing
        an earlier one: a reprotect asked again records what it found the second time."""
        ...

    def end_launch_lease(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        token: str,
        status: LaunchStatus,
        park_reason: str | None = None,
    ) -> bool:
        """Give the lease back after a call that started no job (throttled, no capacity): `status` (CLAIMED or PARKED,
        with its `park_reason`), only while `token` still holds it. `mayHaveStarted` stays: whoever comes next
        looks for a job by tag first."""
        ...

    def end_termination_lease(
        self, execution_id: str, key: str, *, token: str, status: TerminationStatus = TerminationStatus.CLAIMED
    ) -> bool:
        """end_termination_lease"""
        ...

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        """The execution as its record (`get_execution`'s item, typed), or None."""
        ...

    def latest_executions(self, limit: int = 20) -> list[ExecutionListing]:
        """The `limit` latest executions, newest start first (the executions index: eventually consistent).
        ValueError for a limit out of range (1 to 100), before anything is read."""
        ...

    def finish_script(
        self,
        run: ScriptRun,
        *,
        try_number: int,
        from_: Iterable[ScriptStatus],
        status: ScriptStatus,
        instances: Sequence[InvocationResult],
        reason: str | None,
        warnings: Sequence[str],
        key: str,
    ) -> Outcome:
        """End a script with its verdict (`status`, `reason`) and append its summary (and warnings) to the wave, in one
        transaction, once. REPLAY when the same event (`key`) ended it already."""
        ...

    def finish_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        changes: WaveChanges | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Move a wave to a terminal state (LedgerError for another) with `endedAt`, and count it on the execution's
        terminalCount, in one transaction."""
        ...

    def forget_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Take a wave off the execution's failedWaves (it is retried or skipped by an operator)."""
        ...

    def get_decision(self, event_id: str) -> DecisionRecord | None:
        """The decision on event `event_id`, or None when none is recorded."""
        ...

    def get_script(self, script: ScriptId) -> ScriptRun | None:
        """get_script"""
        ...

    def launches(self, execution_id: str, wave_id: str | None = None) -> list[LaunchClaim]:
        """The launch claims of the execution (of one wave), in sort key order (wave, attempt, chunk)."""
        ...

    def finish_packing(self, record: PackedLaunch, job_id: str, *, pool: str | None = None) -> PackedLaunch:
        """The packed job started as `job_id`: recorded as started, its being-started record gone (again: a no-op)."""
        ...

    def forget_packed(self, key: str, *, pool: str | None = None) -> None:
        """The packed job `key` has ended (its capacity given back): its record goes (again: a no-op)."""
        ...

    def lease_launch(
        self,
        execution_id: str,
        wave_id: str,
        attempt: int,
        chunk: int,
        *,
        token: str,
        seconds: int,
        packed_key: str | None = None,
    ) -> LaunchClaim | None:
        """Take the right to call StartRecovery for a claimed launch (see `Leases._take_lease`). None when this call
        holds it now; else the claim as it is (with its `job_id` when the launch has its job, or held by another
        caller until its `lease_until`). LedgerError when there is no claim. `packed_key`: taken by the packer for
        the packed job of that key (written with the lease)."""
        ...

    def lease_termination(self, execution_id: str, key: str, *, token: str, seconds: int) -> TerminationClaim | None:
        """Take the right to call TerminateRecoveryInstances for a claimed batch (as `lease_launch`). None when this
        call holds it now, else the claim as it is. LedgerError when there is no claim."""
        ...

    def list_scripts(self, execution_id: str, wave_id: str, wave_attempt: int | None = None) -> list[ScriptRun]:
        """The scripts of a wave (of one wave attempt), in sort key order, each ended one with its `instances` (the
        per-instance results, from their own items: a script may run on thousands of instances)."""
        ...

    def mark_job_reported(self, execution_id: str, wave_id: str, job_id: str) -> bool:
        """Note (once) that a job's end was reported: True for the first caller only."""
        ...

    def mark_refusal_announced(self, event_id: str) -> None:
        """mark_refusal_announced"""
        ...

    def claim_objective_alert(
        self, execution_id: str, wave_id: str | None, alert: str, *, detail_type: str, detail: Mapping[str, Any]
    ) -> ObjectiveClaim | None:
        """Claim RTO alert `alert` (AT_RISK, MISSED) of the plan (`wave_id` None) or of a wave, with the event that
        announces it: None when this call claimed it, else the earlier claim."""
        ...

    def mark_objective_alert_announced(self, execution_id: str, wave_id: str | None, alert: str) -> None:
        """The claimed alert's event was published."""
        ...

    def move_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        changes: WaveChanges | None = None,
        removes: Iterable[str] = (),
        new_attempt: bool = False,
        count: int = 0,
        where: WaveChanges | None = None,
        decided_by: str | None = None,
        ended: bool = False,
    ) -> Outcome:
        """Any wave transition an operator decision makes, terminal or not, in one transaction with `count` added to
        the execution's terminalCount (-1 when a terminal wave is reopened, +1 when a wave is closed, 0 between
        two terminal or two open states: then one UpdateItem, unless `decided_by`). `changes`: the fields
        written; `removes`: the wave fields removed (`RETRY_CLEARS`, `REOPEN_CLEARS`); `where`: fields that must
        also hold (e.g. `skipped_for`); `new_attempt`: the attempt number goes up by one; `ended`: `ended_at` is
        now (a terminal status). A redelivery of `key` after the write is a REPLAY. `decided_by`: the operator
        command event whose acceptance this is (see `Decisions._decided`)."""
        ...

    def note_termination_deferred(self, execution_id: str, scope: str, *, restart: bool = False) -> str:
        """Count one deferral of a termination (`scope`: ROLLBACK#wave#attempt, TIME_TO_LIVE, CANCEL); returns when it
        was first deferred since it last made progress (`restart`: it made progress just now)."""
        ...

    def note_termination_recorded(
        self, execution_id: str, key: str, *, record_id: str = "", announced: bool = False
    ) -> None:
        """The batch's termination is in the record `record_id` (`record_termination`): later calls do not report it
        again, and its outcome is written there when its job ends. `announced`: what was asked was announced
        already (an operator's clean-up), so its end is not announced again."""
        ...

    def note_wave_if(
        self,
        execution_id: str,
        wave_id: str,
        *,
        status: str,
        changes: WaveChanges,
    ) -> bool:
        """Write `changes` on the wave only while it is in `status` (False when it is not); the status stays."""
        ...

    def now(self) -> str:
        """now"""
        ...

    def packed(self, key: str, *, pool: str | None = None) -> PackedLaunch | None:
        """The started packed job of `key`, or None."""
        ...

    def packings(self, *, pool: str | None = None) -> list[PackedLaunch]:
        """The packed jobs being started (written, not finished or abandoned), oldest first."""
        ...

    def packed_jobs(self, *, pool: str | None = None) -> list[PackedLaunch]:
        """Every started packed job of the pool whose capacity is not given back yet (DRS may still run it)."""
        ...

    def park(self, chunk: LaunchChunk, *, pool: str | None = None) -> bool:
        """Queue a launch that does not fit now (once per launch key; its `tries` are not kept). False when it was
        already parked."""
        ...

    def parked(self, *, pool: str | None = None) -> list[ParkedLaunch]:
        """Parked launches, oldest first."""
        ...

    def note_pool(self, target: Target) -> None:
        """Remember a wave target's capacity pool (the CapacityTick drains and reconciles every pool it knows)."""
        ...

    def pools(self) -> list[Target]:
        """The wave targets whose capacity pools the ledger knows."""
        ...

    def release_packer_lock(self, token: str, *, pool: str | None = None) -> None:
        """Give the packer's lock back (only while `token` holds it)."""
        ...

    def reclaim_termination(self, execution_id: str, key: str, *, failed_job_id: str) -> bool:
        """The batch's terminate job ended with instances still running (it failed; settled): the claim goes back to
        CLAIMED, once (conditional on that job id), so the batch may be terminated again. What each job failed
        to terminate (`notTerminated`) stays."""
        ...

    def record_execution_failure(self, execution_id: str, wave_id: str) -> None:
        """Remember a failed wave on the execution (once)."""
        ...

    def record_invocation_done(self, script: ScriptId, *, try_number: int, instance_id: str) -> int | None:
        """Count one finished invocation of the running try once. Returns the count of finished invocations, or None
        when it was already counted or the try is no longer running."""
        ...

    def record_late_result(self, script: ScriptId, result: InvocationResult) -> bool:
        """Keep a result that came after its try ended (a LAMBDA step's record after its timeout) on the script
        item's `lateResults`, once per `result.instance_id` (its request id), at most 10 of them (the adapter's
        MAX_LATE_RESULTS); nothing else changes. Returns whether it was kept now."""
        ...

    def record_job_done(
        self,
        execution_id: str,
        wave_id: str,
        *,
        job_id: str,
        servers: Mapping[str, ServerOutcome],
        key: str,
    ) -> tuple[Outcome, WaveRecord | None]:
        """Record a finished DRS job of a wave once; returns the wave after the write."""
        ...

    def record_refusal(self, event_id: str, answer: Contract) -> DecisionRecord | None:
        """Record that event `event_id` is REFUSED, with `answer`, the event that says so (not yet announced), unless a
        decision on it is recorded already. Returns None when this is the decision (or the earlier one has
        expired meanwhile: nothing stands in the way of announcing this one), else the earlier one (REFUSED, or
        ACCEPTED: a late copy of a command that was carried out)."""
        ...

    def record_sent(
        self,
        script: ScriptId,
        *,
        try_number: int,
        key: str,
        command_ids: Sequence[str],
        expected: int,
        deadline: datetime,
        tags: Mapping[str, str] | None = None,
        parameter_values: Mapping[str, str | list[str]] | None = None,
    ) -> bool:
        """SENDING -> RUNNING with the command ids, the invocations they target (`expected`), the try's `deadline`, the
        `tags` it targeted and the `parameter_values` its references resolved to (`{name: value}`, only the parameters
        that held references), and an index item per command, so an SSM status event finds its script. Returns False
        when the send was already recorded or superseded."""
        ...

    def record_server_results(
        self,
        execution_id: str,
        wave_id: str,
        results: Mapping[str, ServerOutcome],
        *,
        attempt: int,
        job_id: str | None = None,
    ) -> None:
        """Write how servers of a wave ended (`{sourceServerId: ServerOutcome}`) to their items, with `attempt` and
        `job_id`; a recovery instance id or reason the outcome lacks is left as it was. Idempotent (the same
        results write the same items; items already so are not written again). The caller makes sure the write
        is due (a job not yet COMPLETED, a wave still READY). LedgerError names servers that are not in the wave
        (nothing is written then)."""
        ...

    def record_termination(self, record: TerminationRecord) -> None:
        """Write the record of a termination asked for (over one of the same id)."""
        ...

    def rekey_send(
        self,
        script: ScriptId,
        *,
        try_number: int,
        from_key: str,
        to_key: str,
        deferral: SendDeferral | None = None,
    ) -> tuple[Outcome, ScriptRun | None]:
        """Hand a try that is still SENDING from the holder of `from_key` to `to_key` (a resend deferred to a scheduler
        tick, with its `deferral`; then that tick's claim), once. REPLAY when the item is already held by
        `to_key`."""
        ...

    def release(self, execution_id: str, wave_id: str, *, released_by: str) -> int | None:
        """Count one met dependency of `wave_id`. Returns the remaining count, or None when this dependency was already
        counted (a duplicate) or the wave is no longer PENDING."""
        ...

    def release_last(self, execution_id: str, wave_id: str, *, released_by: str, key: str, ready_at: str) -> bool:
        """Count `released_by` as the *last* met dependency of `wave_id` and make it READY, in one write: PENDING with
        one dependency left, not yet counted -> READY. False when that does not hold (more dependencies left, a
        duplicate, or no longer PENDING): count it with `release` then."""
        ...

    def reopen_execution(
        self, execution_id: str, *, from_: Iterable[str], key: str, where: Mapping[str, Any] | None = None
    ) -> Outcome:
        """A stopped or failed execution runs again (RetryWave, SkipWave of the wave that stopped it): back to RUNNING,
        its stop and end forgotten, and nothing of it left to expire (every item of it, from every page of the
        Query)."""
        ...

    def reset_servers(self, execution_id: str, wave_id: str, server_ids: Iterable[str], *, attempt: int) -> None:
        """Servers a RetryWave launches again in wave attempt `attempt`: NOT_STARTED, without the earlier attempt's
        job, recovery instance and reason (the report never shows them as the new attempt's). How each had ended
        is appended to its history (`ServerAttempt`: the state it had at the end of attempt `attempt - 1`), from
        which `wave_detail` tells the previous attempts. Idempotent: a server written for `attempt` already is
        left alone. Runs before the retried wave is released, so no job of the wave writes meanwhile."""
        ...

    def script_retry_wait(
        self, script: ScriptId, *, result: ScriptTry, from_: Iterable[ScriptStatus] = (ScriptStatus.RUNNING,)
    ) -> Outcome:
        """RUNNING (or SENDING, when SendCommand was refused) try `result.try_number` -> RETRY_WAIT, keeping the failed
        try's result in `history` (and as `lastResult`)."""
        ...

    def set_execution_status(
        self,
        execution_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        changes: ExecutionChanges | None = None,
        decided_by: str | None = None,
    ) -> Outcome:
        """Move the execution from one of `from_` to `to` for the event `key` (`Transitions._transition`). To a final
        status it also gets `endedAt`, and it and its items expire (TTL). `decided_by`: the operator command
        event whose acceptance this is (see `Decisions._decided`)."""
        ...

    def settle_termination(
        self,
        execution_id: str,
        key: str,
        *,
        job_id: str,
        terminated: list[str],
        not_terminated: list[NotTerminated],
    ) -> bool:
        """The batch's terminate job `job_id` has ended: note what it terminated and what not (appended to what earlier
        jobs of the batch failed to terminate). True for the first caller only."""
        ...

    def settle_termination_record(
        self,
        execution_id: str,
        record_id: str,
        *,
        job_id: str,
        terminated: list[str],
        not_terminated: list[NotTerminated],
    ) -> TerminationRecord:
        """Add a terminate job's outcome to the termination record that asked for it; returns the record."""
        ...

    def take_packer_lock(self, token: str, seconds: int, *, pool: str | None = None) -> bool:
        """Hold the packer's lock for `seconds` (or extend it, when `token` holds it); False while another holds it."""
        ...

    def termination_claims(self, execution_id: str) -> list[TerminationClaim]:
        """The execution's termination claims, by key."""
        ...

    def transition_wave(
        self,
        execution_id: str,
        wave_id: str,
        *,
        from_: Iterable[str],
        to: str,
        key: str,
        changes: WaveChanges | None = None,
        decided_by: str | None = None,
        attempt: int | None = None,
    ) -> Outcome:
        """Move a wave to `to` if it is in one of `from_` (and at `attempt`, when given): a step's move between two
        open statuses (terminal ones go through `finish_wave`, which counts them on the execution: LedgerError
        here). One UpdateItem (a transaction with the decision when `decided_by`: the operator command event
        whose acceptance this is, see `Decisions._decided`)."""
        ...

    def unpark(self, launch_key: str, *, pool: str | None = None) -> bool:
        """Take a launch off the queue (once). False when it was not parked (any more)."""
        ...

    def wave(self, execution_id: str, wave_id: str) -> WaveRecord | None:
        """The wave as its record, or None."""
        ...

    def wave_servers(self, execution_id: str, wave_id: str) -> dict[str, ServerResult]:
        """The servers of a wave by source server id, in id order (one Query, paginated): criticality, launch status
        (NOT_STARTED until the server's job has ended), the wave attempt that wrote it and, when known, its job,
        recovery instance and reason (`ServerResult`)."""
        ...

    def waves(self, execution_id: str) -> list[WaveRecord]:
        """Every wave of the execution as its record, by wave id (every page of the Query)."""
        ...

    # ---- launch settings (orchestrator.adapters.ledger.launch_settings) ----

    def hold_server(self, hold: SettingsHold) -> SettingsHold | None:
        """Hold a source server's launch settings for `hold.execution_id` (kept if it holds them already). None when
        it holds them now; else the hold of the execution that does."""
        ...

    def take_over_hold(self, hold: SettingsHold, *, from_execution: str) -> bool:
        """Hold the server in place of `from_execution` (a finished execution), only while it still holds it."""
        ...

    def release_hold(self, source_server_id: str, execution_id: str) -> bool:
        """Delete the server's hold if `execution_id` holds it."""
        ...

    def settings_record(self, execution_id: str, source_server_id: str) -> AppliedSettings | None:
        """The launch settings the execution applied to the server, or None."""
        ...

    def settings_records(self, execution_id: str) -> list[AppliedSettings]:
        """Every server's applied launch settings of the execution (one paginated Query)."""
        ...

    def begin_settings(self, record: AppliedSettings) -> AppliedSettings:
        """Record the settings a launch applies and the previous values before anything changes (APPLYING); a
        record of the same launch, or one never restored, keeps its previous values. The record as it is now."""
        ...

    def settings_version(self, execution_id: str, source_server_id: str, *, launch_key: str, version: int) -> bool:
        """Note our template version once it exists."""
        ...

    def settings_applied(self, execution_id: str, source_server_id: str, *, launch_key: str, version: int) -> bool:
        """APPLYING -> APPLIED with our template version."""
        ...

    def settings_restored(self, execution_id: str, source_server_id: str, *, launch_key: str) -> bool:
        """-> RESTORED."""
        ...

    def settings_placed(
        self, execution_id: str, source_server_id: str, *, recovery_instance_id: str, subnet_id: str, private_ip: str
    ) -> None:
        """Where the server's recovery instance actually is."""
        ...
