"""The wave items (`WAVE#<wave>`): a wave's status, attempt, jobs (one entry per DRS job), counts of its
servers, script summaries and warnings. Each server's result lives in an item of its own (servers.py), so a
wave item stays small whatever the wave's size (DynamoDB items are limited to 400 KB).

A wave changes status in one of three ways, all of them `Transitions._transition`:
- `transition_wave`: a step's move between two open statuses (one UpdateItem);
- `finish_wave`: to a terminal status (COMPLETED, FAILED, SKIPPED), counted on the execution in the same
  transaction;
- `move_wave`: what an operator's decision does (retry, skip, reopen a skipped wave), terminal or not, with
  attributes to remove, conditions on other attributes and any count on the execution.
Besides: `release` and `release_last` count a met dependency (PENDING -> READY on the last one), and
`record_job_done`, `add_job`, `mark_job_reported` and `note_wave_if` write attributes
without changing the status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.adapters.ledger._base import LedgerError, _Update
from orchestrator.adapters.ledger._keys import (
    INVOCATION_PREFIX,
    LAUNCH_PREFIX,
    WAVE_PREFIX,
    exec_pk,
    execution_key,
    invocation_prefix,
    script_sk,
    wave_key,
    wave_of,
    wave_sk,
)
from orchestrator.adapters.ledger.changes import wave_removes, wave_sets
from orchestrator.adapters.ledger.launches import Launches
from orchestrator.adapters.ledger.records import wave_record
from orchestrator.adapters.ledger.scripts import Scripts
from orchestrator.adapters.ledger.servers import Servers
from orchestrator.adapters.ledger.transitions import Transitions
from orchestrator.domain.outcome import Outcome
from orchestrator.domain.records import WaveRecord
from orchestrator.domain.records.changes import WaveChanges
from orchestrator.domain.records.detail import WaveDetail
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerOutcome, ServerResult
from orchestrator.domain.status import TERMINAL_WAVE, WaveStatus, check_wave_transition


def new_wave_item(execution_id: str, wave: Mapping[str, Any], *, key: str, now: str) -> dict[str, Any]:
    """A wave's item as `create_execution` writes it: PENDING while it waits for dependencies, else READY."""
    remaining = len(wave["dependsOn"])
    return {
        "pk": exec_pk(execution_id),
        "sk": wave_sk(wave["waveId"]),
        "kind": "WAVE",
        "executionId": execution_id,
        "waveId": wave["waveId"],
        "status": "PENDING" if remaining else "READY",
        "attempt": 1,
        "remaining": remaining,
        "dependsOn": wave["dependsOn"],
        "dependents": wave["dependents"],
        "onFailure": wave["onFailure"],
        "jobs": {},
        "serverCount": len(wave["servers"]),
        "serversLaunched": 0,
        "serversFailed": 0,
        "jobsExpected": 0,
        "jobsDone": 0,
        "scripts": [],
        "warnings": [],
        "lastKey": key,
        **({} if remaining else {"readyAt": now}),
    }


class Waves(Transitions, Servers, Scripts, Launches):
    # ---- reads ---------------------------------------------------------------------------------

    def get_wave(self, execution_id: str, wave_id: str) -> dict[str, Any] | None:
        return self._get(wave_key(execution_id, wave_id))

    def list_waves(self, execution_id: str) -> list[dict[str, Any]]:
        return self._query(execution_id, WAVE_PREFIX)

    def wave(self, execution_id: str, wave_id: str) -> WaveRecord | None:
        """The wave as its record, or None."""
        item = self.get_wave(execution_id, wave_id)
        return wave_record(item) if item is not None else None

    def waves(self, execution_id: str) -> list[WaveRecord]:
        """Every wave of the execution as its record, by wave id (every page of the Query)."""
        return [wave_record(item) for item in self.list_waves(execution_id)]

    def wave_detail(self, execution_id: str, wave: WaveRecord) -> WaveDetail:
        """`wave` with what lives in items of their own (`WaveDetail`): its servers (as `wave_servers`), the
        servers of each job's launch claim, how each server had ended each earlier attempt, and each script's
        per-instance results. Two Queries, three when the wave ran scripts on instances."""
        wave_id = wave.wave_id
        servers = self.wave_servers(execution_id, wave_id)
        return self._detail(execution_id, wave, servers, self.list_launches(execution_id, wave_id))

    def wave_details(self, execution_id: str, waves: Iterable[WaveRecord]) -> dict[str, WaveDetail]:
        """`wave_detail` of each of `waves`, by wave id, in two Queries for the whole execution (its servers, its
        launch claims; each paginated) plus one per wave that ran scripts on instances, instead of two per wave
        (a report of a 200-wave execution made 400 Queries: the dashboard of `ui --aws` read them on every poll)."""
        servers = self.servers_by_wave(execution_id)
        launches: dict[str, list[dict[str, Any]]] = {}
        for item in self.list_launches(execution_id):
            launches.setdefault(wave_of(str(item["sk"]), LAUNCH_PREFIX), []).append(item)
        return {
            wave.wave_id: self._detail(
                execution_id, wave, servers.get(wave.wave_id, {}), launches.get(wave.wave_id, [])
            )
            for wave in waves
        }

    def _detail(
        self, execution_id: str, wave: WaveRecord, servers: dict[str, ServerResult], launches: list[dict[str, Any]]
    ) -> WaveDetail:
        """`wave`'s detail from its servers and its launch claims' items."""
        claims = {c.get("launchKey"): tuple(c.get("servers", [])) for c in launches}
        return WaveDetail(
            wave=wave,
            servers=servers,
            job_servers={job.job_id: claims.get(job.launch_key, ()) for job in wave.current.jobs},
            attempt_servers={
                attempt.attempt: {sid: server.ended(attempt.attempt) for sid, server in sorted(servers.items())}
                for attempt in wave.previous_attempts
            },
            scripts=self._script_details(execution_id, wave),
        )

    def _script_details(self, execution_id: str, wave: WaveRecord) -> tuple[Mapping[str, Any], ...]:
        """The wave's script summaries, each that ran on instances with its per-instance results (`instances`)."""
        if not any("instanceCount" in summary for summary in wave.scripts):
            return wave.scripts
        results = self._invocations(execution_id, f"{INVOCATION_PREFIX}{wave.wave_id}#")
        return tuple(
            {
                **summary,
                "instances": results.get(
                    invocation_prefix(
                        script_sk(
                            wave.wave_id,
                            int(summary.get("waveAttempt", 1)),
                            str(summary["phase"]),
                            int(summary["index"]),
                        )
                    ),
                    [],
                ),
            }
            if "instanceCount" in summary
            else summary
            for summary in wave.scripts
        )

    # ---- status ----------------------------------------------------------------------------------

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
        """Move a wave to `to` if it is in one of `from_` (and at `attempt`, when given): a step's move between
        two open statuses (terminal ones go through `finish_wave`, which counts them on the execution:
        LedgerError here). One UpdateItem (a transaction with the decision when `decided_by`: the operator
        command event whose acceptance this is, see `Decisions._decided`)."""
        from_, to = check_wave_transition(from_, to)
        if to in TERMINAL_WAVE:
            raise LedgerError("terminal wave states are written by finish_wave")
        return self._transition(
            wave_key(execution_id, wave_id),
            from_=from_,
            to=to,
            event_key=key,
            sets=wave_sets(changes),
            where={"attempt": attempt} if attempt is not None else None,
            decided_by=decided_by,
        )

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
        """Move a wave to a terminal state (LedgerError for another) with `endedAt`, and count it on the
        execution's terminalCount, in one transaction."""
        from_, to = check_wave_transition(from_, to)
        if to not in TERMINAL_WAVE:
            raise LedgerError(f"{to} is not terminal")
        return self.move_wave(
            execution_id,
            wave_id,
            from_=from_,
            to=to,
            key=key,
            count=1,
            changes=changes,
            ended=True,
            decided_by=decided_by,
        )

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
        """Any wave transition an operator decision makes, terminal or not, in one transaction with
        `count` added to the execution's terminalCount (-1 when a terminal wave is reopened, +1 when a
        wave is closed, 0 between two terminal or two open states: then one UpdateItem, unless
        `decided_by`). `changes`: the fields written; `removes`: the wave fields removed (`RETRY_CLEARS`,
        `REOPEN_CLEARS`); `where`: fields that must also hold (e.g. `skipped_for`); `new_attempt`: the
        attempt number goes up by one; `ended`: `ended_at` is now (a terminal status). A redelivery of `key`
        after the write is a REPLAY.
        `decided_by`: the operator command event whose acceptance this is (see `Decisions._decided`)."""
        from_, to = check_wave_transition(from_, to)
        counted = (
            [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": execution_key(execution_id),
                        "UpdateExpression": "ADD terminalCount :n",
                        "ExpressionAttributeValues": {":n": count},
                    }
                }
            ]
            if count
            else []
        )
        return self._transition(
            wave_key(execution_id, wave_id),
            from_=from_,
            to=to,
            event_key=key,
            sets={**wave_sets(changes), **({"endedAt": self.now()} if ended else {})},
            adds={"attempt": 1} if new_attempt else {},
            removes=wave_removes(removes),
            where=wave_sets(where),
            also=counted,
            decided_by=decided_by,
        )

    def release(self, execution_id: str, wave_id: str, *, released_by: str) -> int | None:
        """Count one met dependency of `wave_id`. Returns the remaining count, or None when this
        dependency was already counted (a duplicate) or the wave is no longer PENDING."""
        released = self._write(
            self._table.update_item,
            Key=wave_key(execution_id, wave_id),
            UpdateExpression="ADD remaining :minus, releasedBy :by",
            ConditionExpression="#s = :pending AND NOT contains(releasedBy, :dep)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":minus": -1, ":by": {released_by}, ":dep": released_by, ":pending": "PENDING"},
            ReturnValues="UPDATED_NEW",
        )
        return int(released.item["remaining"]) if released.ok else None

    def release_last(self, execution_id: str, wave_id: str, *, released_by: str, key: str, ready_at: str) -> bool:
        """Count `released_by` as the *last* met dependency of `wave_id` and make it READY, in one write:
        PENDING with one dependency left, not yet counted -> READY. False when that does not hold (more
        dependencies left, a duplicate, or no longer PENDING): count it with `release` then."""
        check_wave_transition([WaveStatus.PENDING], WaveStatus.READY)
        update = _Update(
            sets={"status": "READY", "lastKey": key, "remaining": 0, **wave_sets(WaveChanges(ready_at=ready_at))},
            adds={"releasedBy": {released_by}},
        )
        status, remaining, released = update.name("status"), update.name("remaining"), update.name("releasedBy")
        condition = (
            f"{status} = {update.value('PENDING')} AND {remaining} = {update.value(1)} "
            f"AND NOT contains({released}, {update.value(released_by)})"
        )
        return self._update(wave_key(execution_id, wave_id), update, condition).ok

    # ---- jobs ------------------------------------------------------------------------------------

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
        (`packed_key`, issue #19) also keeps this wave's servers in it and the other waves that share it
        (`shared_with`: `<execution id>/<wave id>`)."""
        job: dict[str, Any] = {
            "launchKey": launch_key,
            "serverCount": len(server_ids),
            "status": "STARTED",
            "startedAt": self.now(),
        }
        if packed_key:
            job["packedKey"] = packed_key
        if shared_with:  # the job holds other waves' servers: this wave's are kept to judge it from them alone
            job |= {"servers": list(server_ids), "sharedWith": list(shared_with)}
        update = _Update(sets={f"jobs.{job_id}": job})
        self._update(wave_key(execution_id, wave_id), update, f"attribute_not_exists({update.name(f'jobs.{job_id}')})")

    def record_job_done(
        self,
        execution_id: str,
        wave_id: str,
        *,
        job_id: str,
        servers: Mapping[str, ServerOutcome],
        key: str,
    ) -> tuple[Outcome, WaveRecord | None]:
        """Record a finished DRS job of a wave once; returns the wave after the write.

        `servers`: `{sourceServerId: how it ended}`. While the job is not
        COMPLETED on the wave, its servers' results are written to their items (`record_server_results`);
        then one conditional write marks the job COMPLETED and counts it and its launched and failed servers
        on the wave. A crash in between is redone by the redelivery; a redelivery after the job is COMPLETED
        writes nothing (REPLAY when it is the event that completed it, else REJECTED)."""
        wave = self.get_wave(execution_id, wave_id)
        job = (wave or {}).get("jobs", {}).get(job_id)
        if wave is not None and job is not None and job.get("status") != "COMPLETED":
            self.record_server_results(
                execution_id, wave_id, servers, attempt=int(wave.get("attempt", 1)), job_id=job_id
            )
        statuses = [result.launch_status for result in servers.values()]
        update = _Update(
            sets={
                f"jobs.{job_id}.status": "COMPLETED",
                f"jobs.{job_id}.doneKey": key,
                f"jobs.{job_id}.completedAt": self.now(),
            },
            adds={
                "jobsDone": 1,
                "serversLaunched": statuses.count(ServerLaunchStatus.LAUNCHED),
                "serversFailed": statuses.count(ServerLaunchStatus.FAILED),
            },
        )
        job_status = update.name(f"jobs.{job_id}.status")
        condition = f"attribute_exists({job_status}) AND {job_status} <> {update.value('COMPLETED')}"
        written = self._update(wave_key(execution_id, wave_id), update, condition, returns="ALL_NEW")
        if written.ok:
            return Outcome.WON, wave_record(written.item)
        return self._job_done_before(execution_id, wave_id, job_id=job_id, key=key)

    def _job_done_before(
        self, execution_id: str, wave_id: str, *, job_id: str, key: str
    ) -> tuple[Outcome, WaveRecord | None]:
        """A job's end that was recorded before (or a job the wave lacks): REPLAY with the wave when the
        event `key` recorded it, else REJECTED."""
        wave = self.wave(execution_id, wave_id)
        done = [job for job in (wave.current.jobs if wave else ()) if job.job_id == job_id]
        if done and done[0].status == "COMPLETED" and done[0].done_key == key:
            return Outcome.REPLAY, wave
        return Outcome.REJECTED, wave

    def mark_job_reported(self, execution_id: str, wave_id: str, job_id: str) -> bool:
        """Note (once) that a job's end was reported: True for the first caller only."""
        update = _Update(sets={f"jobs.{job_id}.reportedAt": self.now()})
        job = update.name(f"jobs.{job_id}")
        reported = update.name(f"jobs.{job_id}.reportedAt")
        return self._update(
            wave_key(execution_id, wave_id), update, f"attribute_exists({job}) AND attribute_not_exists({reported})"
        ).ok

    # ---- attributes --------------------------------------------------------------------------------

    def note_wave_if(
        self,
        execution_id: str,
        wave_id: str,
        *,
        status: str,
        changes: WaveChanges,
    ) -> bool:
        """Write `changes` on the wave only while it is in `status` (False when it is not); the status stays."""
        update = _Update(sets=wave_sets(changes))
        return self._update(
            wave_key(execution_id, wave_id), update, f"{update.name('status')} = {update.value(status)}"
        ).ok
