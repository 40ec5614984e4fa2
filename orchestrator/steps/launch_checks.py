"""Does the ledger back a launch chunk, or DRS a job's end? Asked before anything launches or records one.

The wave launch state machine hands `launch_wave` each chunk `prepare` cut (infra/wave_launch.asl.json), but
anyone allowed `lambda:InvokeFunction` can call the function with a chunk of their own: a made-up execution,
another execution's wave, servers of another wave, `isDrill: false` for a drill. Nothing in a chunk is
trusted. `parse_chunk` refuses a payload that is not a chunk's JSON; `check_chunk` refuses a chunk the
ledger does not back, and tells a genuine chunk that came too late (its wave has moved on) from one to launch:

- its execution exists (started), runs the chunk's plan, and the chunk's drill-ness is the execution's mode
  (DRILL launches drills, RECOVERY recoveries: a chunk saying otherwise is refused, never launched as it says);
- its wave is in that plan and its launch key is the one `prepare` derives from its execution, wave,
  attempt and index;
- its wave reached LAUNCHING in the chunk's attempt, and its servers are exactly job `index` of the servers
  that attempt launches (the frozen plan's, less the preflight's exclusions, or a retry's), as `prepare`
  cut them into the wave's `jobs_expected` jobs, each with its server's point-in-time snapshot from the plan;
- its launch token is the one `prepare` wrote on the wave with LAUNCHING in that attempt. Everything else in a
  chunk can be derived from ids an operator sees (the launch key is a hash of them), so without the token
  whoever may invoke the function could fail a launching wave with a `chunk_failed` of its own chunk. The
  token is read in the ledger, or in the wave launch state machine's input (and its execution log).

The job's end a DRSJobCompleted reports is checked the same way before it is recorded (`check_job_end`): the job
is one of the wave's in that attempt in the ledger, DRS says it has ended (one DescribeJobs), and the event's
servers, statuses and recovery instances are DRS's; what is recorded is DRS's answer, not the event's.

A refused chunk raises `RefusedChunk` (an `InvalidEvent`: it can never become valid, so it is never retried;
the caller logs and counts it, `InvalidEvents`). A chunk whose wave has moved on (FAILED, SKIPPED, retried, or
its plan ended) is stale: `check_chunk` returns why (`Stale`), and nothing launches it. A chunk of an earlier
attempt than the wave's cannot be checked against a token (a retry clears it): it is stale, and nothing of it
is written either (`Stale.attempt_over`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from events.envelope import InvalidEvent
from events.models import DRSJobCompleted, ServerLaunch
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.records import ExecutionRecord, WaveJob, WaveRecord
from orchestrator.domain.records.launches import LaunchChunk, LaunchClaim, LaunchStatus
from orchestrator.domain.records.servers import ServerLaunchStatus, ServerOutcome
from orchestrator.domain.status import EXECUTION_FINAL, NOT_STARTED_WAVE, ExecutionStatus, WaveStatus
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps.job_watcher import ended_for_wave, own_job, server_launches
from orchestrator.steps.recovery_points import NO_FACTS, recovery_instance_facts
from orchestrator.steps.targets import wave_runtime

MAX_CHUNK_SERVERS = 200  # StartRecovery's sourceServers: 1 to 200
_TEXT_FIELDS = ("executionId", "planId", "waveId", "launchKey")
_FIELDS = frozenset({*_TEXT_FIELDS, "launchToken", "attempt", "index", "isDrill", "servers", "tries"})


class RefusedChunk(InvalidEvent):
    """A launch chunk (`action`: the launch function's task it was given to) that is not a chunk's JSON, or
    that the ledger does not back. `errors`: one line per reason."""

    def __init__(self, action: str, errors: list[str]) -> None:
        super().__init__(f"{action} chunk", errors)
        self.action = action
        ValueError.__init__(self, f"refused {action} chunk: " + "; ".join(self.errors))


def launch_key(execution_id: str, wave_id: str, attempt: int, index: int) -> str:
    """The launch key of chunk `index` of a wave attempt: its claim's key and its DRS job's tag."""
    digest = hashlib.sha256(f"{execution_id}|{wave_id}|{attempt}|{index}".encode()).hexdigest()[:32]
    return f"lk-{digest}"


def is_drill(execution: ExecutionRecord) -> bool:
    """A drill unless the execution is a RECOVERY: the one source of a launch's drill-ness."""
    return execution.mode != "RECOVERY"


def servers_to_launch(wave: WaveRecord, plan_servers: list[str]) -> list[str]:
    """The servers the wave's current attempt launches: a retry's (else the plan's), less the OPTIONAL ones
    the preflight left out of this attempt."""
    wanted = list(wave.launch_servers or plan_servers)
    excluded = wave.preflight_excluded
    if excluded is not None and excluded.attempt == wave.attempt:
        wanted = [sid for sid in wanted if sid not in excluded.servers]
    return wanted


def job_group(server_ids: list[str], jobs: int, index: int) -> list[str] | None:
    """Job `index` of `server_ids` cut into `jobs` balanced jobs, in order, exactly as
    `orchestrator.domain.plan.cut_jobs` cuts them (its cut depends only on how many jobs it makes), or None
    when there is no such job."""
    if not 0 <= index < jobs or jobs > len(server_ids):
        return None
    base, extra = divmod(len(server_ids), jobs)
    start = index * base + min(index, extra)
    return server_ids[start : start + base + (1 if index < extra else 0)]


# ---- the payload -------------------------------------------------------------------------------------


def _is_int(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _server_errors(servers: Any) -> list[str]:
    if not isinstance(servers, list) or not 1 <= len(servers) <= MAX_CHUNK_SERVERS:
        return [f"chunk.servers: must be a list of 1 to {MAX_CHUNK_SERVERS} servers"]
    for server in servers:
        snapshot = server.get("recoverySnapshotID") if isinstance(server, Mapping) else None
        if (
            not isinstance(server, Mapping)
            or set(server) - {"sourceServerID", "recoverySnapshotID"}
            or not isinstance(server.get("sourceServerID"), str)
            or not (snapshot is None or isinstance(snapshot, str))
        ):
            return ["chunk.servers: each must be {sourceServerID: text, recoverySnapshotID?: text}"]
    return []


def _shape_errors(payload: Mapping[str, Any]) -> list[str]:
    errors = [
        f"chunk.{name}: must be non-empty text of at most 256 characters"
        for name in _TEXT_FIELDS
        if not isinstance(payload.get(name), str) or not 0 < len(payload[name]) <= 256
    ]
    if not _is_int(payload.get("attempt"), 1):
        errors.append("chunk.attempt: must be an integer of at least 1")
    if not _is_int(payload.get("index"), 0):
        errors.append("chunk.index: must be an integer of at least 0")
    token = payload.get("launchToken")
    if token is not None and (not isinstance(token, str) or len(token) > 256):  # absent: refused by check_chunk
        errors.append("chunk.launchToken: must be text of at most 256 characters")
    if "tries" in payload and not _is_int(payload["tries"], 0):
        errors.append("chunk.tries: must be an integer of at least 0")
    if not isinstance(payload.get("isDrill"), bool):
        errors.append("chunk.isDrill: must be true or false")
    unknown = sorted(set(payload) - _FIELDS)
    if unknown:
        errors.append(f"chunk: unknown field(s) {', '.join(quote(name, 40) for name in unknown[:5])}")
    return errors + _server_errors(payload.get("servers"))


def parse_chunk(payload: Any, *, action: str) -> LaunchChunk:
    """The chunk of the state machine's JSON (`LaunchChunk.payload()`), checked field by field first (a
    payload's `"isDrill": "false"` is not a drill flag). Raises RefusedChunk naming each problem."""
    if not isinstance(payload, Mapping):
        raise RefusedChunk(action, [f"chunk: must be a JSON object, got {type(payload).__name__}"])
    errors = _shape_errors(payload)
    if errors:
        raise RefusedChunk(action, errors)
    return LaunchChunk.from_payload(payload)


# ---- the ledger --------------------------------------------------------------------------------------


def _identity_errors(chunk: LaunchChunk, execution: ExecutionRecord, plan: Plan) -> list[str]:
    """What the chunk says of itself that its execution contradicts: plan, wave, mode, launch key."""
    named = f"execution '{quote(chunk.execution_id, 64)}'"
    errors: list[str] = []
    if chunk.plan_id != execution.plan_id:
        errors.append(f"chunk.planId: {named} runs plan '{execution.plan_id}', not '{quote(chunk.plan_id, 64)}'")
    if chunk.wave_id not in plan.wave_ids:
        errors.append(f"chunk.waveId: the plan of {named} has no wave '{quote(chunk.wave_id, 64)}'")
    if chunk.is_drill != is_drill(execution):
        errors.append(
            f"chunk.isDrill: {named} is a {execution.mode}: isDrill must be {str(is_drill(execution)).lower()}"
        )
    if chunk.launch_key != launch_key(chunk.execution_id, chunk.wave_id, chunk.attempt, chunk.index):
        errors.append(f"chunk.launchKey: not the launch key of job {chunk.index} of attempt {chunk.attempt}")
    return errors


def _launch_state(chunk: LaunchChunk, execution: ExecutionRecord, wave: WaveRecord) -> tuple[str | None, str | None]:
    """(refusal, stale): (None, None) while the wave launches in the chunk's attempt; why the chunk is stale
    when that attempt did launch and has moved on; why it is refused when the wave never launched in it."""
    never = f"chunk.attempt: wave '{chunk.wave_id}' has not launched in attempt {chunk.attempt}"
    if chunk.attempt > wave.attempt:
        return f"{never} (it is at attempt {wave.attempt})", None
    if chunk.attempt < wave.attempt:
        if not any(a.attempt == chunk.attempt and a.launch_started_at for a in wave.previous_attempts):
            return never, None
        return None, f"attempt {chunk.attempt} of wave '{chunk.wave_id}' is over (it is at attempt {wave.attempt})"
    if wave.status in NOT_STARTED_WAVE or wave.status == WaveStatus.PRE_LAUNCH:
        return f"{never} (it is {wave.status})", None
    if wave.status != WaveStatus.LAUNCHING:
        return None, f"wave '{chunk.wave_id}' is {wave.status}, no longer LAUNCHING"
    if execution.status in EXECUTION_FINAL:
        return None, f"execution '{chunk.execution_id}' is {execution.status}"
    return None, None


def _group_errors(chunk: LaunchChunk, wave: WaveRecord, plan: Plan) -> list[str]:
    """The chunk's servers against job `index` of what its wave's attempt launches, with the plan's snapshots."""
    plan_wave = plan.wave(chunk.wave_id)
    expected = job_group(servers_to_launch(wave, plan_wave.server_ids), wave.jobs_expected, chunk.index)
    if expected is None:
        return [f"chunk.index: attempt {chunk.attempt} of wave '{chunk.wave_id}' has {wave.jobs_expected} job(s)"]
    if chunk.server_ids != expected:
        named = sorted(set(chunk.server_ids) ^ set(expected)) or chunk.server_ids
        listed = ", ".join(quote(sid, 40) for sid in named[:5]) + (
            f" and {len(named) - 5} more" if len(named) > 5 else ""
        )
        return [f"chunk.servers: not the servers of job {chunk.index} of wave '{chunk.wave_id}' ({listed})"]
    snapshots = {s.source_server_id: s.recovery_snapshot_id for s in plan_wave.servers}
    pinned = [s.source_server_id for s in chunk.servers if s.recovery_snapshot_id != snapshots.get(s.source_server_id)]
    if pinned:
        return [f"chunk.servers: a recoverySnapshotID the plan does not give ({quote(pinned[0], 40)})"]
    return []


@dataclass(frozen=True, slots=True)
class Stale:
    """Why a chunk the ledger backs is no longer to be launched. `attempt_over`: a later attempt of its wave has
    begun (its token is gone with it): nothing of the chunk may be written on the wave."""

    reason: str
    attempt_over: bool = False


def _token_errors(chunk: LaunchChunk, wave: WaveRecord) -> list[str]:
    """The chunk's launch token against the one written on its wave with LAUNCHING (compared in constant time)."""
    given, written = (chunk.launch_token or "").encode(), (wave.launch_token or "").encode()
    if written and hmac.compare_digest(given, written):
        return []
    return [f"chunk.launchToken: not the launch token of attempt {chunk.attempt} of wave '{chunk.wave_id}'"]


def check_chunk(rt: Runtime, chunk: LaunchChunk, *, action: str) -> Stale | None:
    """None when the ledger backs `chunk` and its wave launches now; why not (`Stale`), when the chunk is
    genuine but stale (its wave attempt launched and has moved on: nothing is to be launched for it).
    Raises RefusedChunk (nothing written, nothing called) when the ledger does not back it. Reads the
    execution and the wave (two consistent reads)."""
    return checked_chunk(rt, chunk, action=action)[0]


def checked_chunk(rt: Runtime, chunk: LaunchChunk, *, action: str) -> tuple[Stale | None, ExecutionRecord]:
    """`check_chunk`, and the execution it read (the launch settings of its frozen plan are applied or restored
    with the chunk: `orchestrator.steps.launch_settings`)."""
    execution = rt.ledger.execution(chunk.execution_id)
    if execution is None or execution.status == ExecutionStatus.CREATING:
        raise RefusedChunk(action, [f"chunk.executionId: no execution '{quote(chunk.execution_id, 64)}'"])
    plan = frozen_plan(execution)
    errors = _identity_errors(chunk, execution, plan)
    wave = None if errors else rt.ledger.wave(chunk.execution_id, chunk.wave_id)
    if errors or wave is None:
        raise RefusedChunk(action, errors or [f"chunk.waveId: no wave '{chunk.wave_id}' in the ledger"])
    refusal, stale = _launch_state(chunk, execution, wave)
    if refusal is not None:
        raise RefusedChunk(action, [refusal])
    if chunk.attempt < wave.attempt:
        return Stale(
            stale or f"attempt {chunk.attempt} of wave '{chunk.wave_id}' is over", attempt_over=True
        ), execution
    errors = _token_errors(chunk, wave)
    if errors:
        raise RefusedChunk(action, errors)
    if stale is not None:
        return Stale(stale), execution
    errors = _group_errors(chunk, wave, plan)
    if errors:
        raise RefusedChunk(action, errors)
    return None, execution


def check_claim(chunk: LaunchChunk, claim: LaunchClaim, *, action: str) -> None:
    """The launch claim already in the ledger for the chunk's job is for exactly its servers and launch key."""
    if claim.launch_key != chunk.launch_key or tuple(claim.server_ids) != tuple(chunk.server_ids):
        raise RefusedChunk(
            action, [f"chunk: job {chunk.index} of wave '{chunk.wave_id}' was claimed for other servers"]
        )


# ---- a job's end -------------------------------------------------------------------------------------

NOT_STARTED_JOB = "not-started-"  # the job id `launch_wave.chunk_failed` records for a chunk no DRS job started


def check_job_end(rt: Runtime, detail: DRSJobCompleted) -> dict[str, ServerOutcome] | None:
    """How each server of the job a DRSJobCompleted reports ended, `{source server id: outcome}`, as DRS says
    (DescribeJobs of that one job), or, for the job `chunk_failed` records for a chunk no DRS job started, as
    its launch claim says; a launched server with the snapshot its recovery instance was launched from and the
    instance's private IP (`recovery_instance_facts`: one DescribeRecoveryInstances, best effort). The event's own
    statuses and recovery instances are never recorded: they must be DRS's (the watcher publishes DRS's answer),
    and only a failed server's reason is taken from it.

    {} when the ledger has the job's end already (a redelivery: the ledger's write decides REPLAY or REJECTED);
    None for a late report of a job of an earlier attempt of the wave (nothing to record). Raises InvalidEvent
    (nothing written) when the job is not one of the wave's jobs in the event's attempt, DRS does not have it or
    says it has not ended (a stale or forged report: the watcher reports it again when it ends), or the
    event's servers, statuses or recovery instances are not DRS's (or the claim's)."""
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    ours = _job_of_attempt(wave, detail)
    if ours is None:
        if wave is not None and _earlier_job(wave, detail):
            logger.info("end of a job of an earlier attempt: nothing to record", job_id=detail.job_id)
            return None
        raise _refused_end(
            detail, f"detail.jobId: no job '{quote(detail.job_id, 64)}' in attempt {detail.attempt} of the wave"
        )
    if ours.status == "COMPLETED":
        return {}
    placeholder = detail.job_id.startswith(NOT_STARTED_JOB)
    if not placeholder:  # the job and its recovery instances are in the wave's account and Region
        rt = _wave_at(rt, detail.execution_id, detail.wave_id)
    ended = _not_started(rt, detail, ours) if placeholder else _ended_in_drs(rt, detail, ours)
    _check_reported(detail, ended)
    facts = recovery_instance_facts(
        rt,
        (
            result.recovery_instance_id
            for result in ended.values()
            if result.recovery_instance_id and result.launch_status in ("LAUNCHED", "TERMINATED")
        ),
    )
    return {
        sid: ServerOutcome(
            launch_status=ServerLaunchStatus(result.launch_status),
            recovery_instance_id=result.recovery_instance_id,
            reason=result.reason,
            recovery_point_at=facts.get(result.recovery_instance_id or "", NO_FACTS).recovery_point_at,
            private_ip=facts.get(result.recovery_instance_id or "", NO_FACTS).private_ip,
        )
        for sid, result in ended.items()
    }


def _wave_at(rt: Runtime, execution_id: str, wave_id: str) -> Runtime:
    """`rt` in the wave's target (itself for a wave without one, or an execution the ledger does not have)."""
    execution = rt.ledger.execution(execution_id)
    return wave_runtime(rt, execution, wave_id) if execution is not None else rt


def _refused_end(detail: DRSJobCompleted, error: str) -> InvalidEvent:
    return InvalidEvent(DRSJobCompleted.DETAIL_TYPE, [error])


def _job_of_attempt(wave: WaveRecord | None, detail: DRSJobCompleted) -> WaveJob | None:
    if wave is None or wave.attempt != detail.attempt:
        return None
    return next((job for job in wave.current.jobs if job.job_id == detail.job_id), None)


def _earlier_job(wave: WaveRecord, detail: DRSJobCompleted) -> bool:
    return any(
        attempt.attempt == detail.attempt and any(job.job_id == detail.job_id for job in attempt.jobs)
        for attempt in wave.previous_attempts
    )


def _ended_in_drs(rt: Runtime, detail: DRSJobCompleted, ours: WaveJob) -> dict[str, ServerLaunch]:
    """Each server of the job as DRS's DescribeJobs gives it (one call, the adapter's retries on throttling); of a
    packed job (`ours.server_ids`, issue #19), the wave's own servers only, ended once each has a final status."""
    named = f"job '{quote(detail.job_id, 64)}'"
    jobs = rt.drs.describe_jobs([detail.job_id])
    if not jobs:
        raise _refused_end(detail, f"detail.jobId: DRS has no {named}")
    if not ended_for_wave(jobs[0], ours):
        status = jobs[0].get("status")
        shared = ", and the wave's servers in it still launch" if ours.server_ids else ""
        raise _refused_end(detail, f"detail.jobId: DRS says {named} is {status}, not COMPLETED{shared}")
    job = own_job(jobs[0], ours.server_ids) if ours.server_ids else jobs[0]
    reasons = {server.source_server_id: server.reason for server in detail.servers if server.reason}
    return {result.source_server_id: result for result in server_launches(job, reasons)}


def _not_started(rt: Runtime, detail: DRSJobCompleted, job: WaveJob) -> dict[str, ServerLaunch]:
    """Each server of a chunk no DRS job started, as its launch claim ended (FAILED or NOT_STARTED, its reason)."""
    claim = next(
        (
            c
            for c in rt.ledger.launches(detail.execution_id, detail.wave_id)
            if c.attempt == detail.attempt and c.launch_key == job.launch_key
        ),
        None,
    )
    if claim is None or claim.status not in (LaunchStatus.FAILED, LaunchStatus.NOT_STARTED):
        ended = "no launch claim" if claim is None else f"its launch claim is {claim.status}"
        raise _refused_end(detail, f"detail.jobId: '{quote(detail.job_id, 64)}' did not end unlaunched ({ended})")
    given = {server.source_server_id: server.reason for server in detail.servers}
    return {
        sid: ServerLaunch(source_server_id=sid, launch_status=str(claim.status), reason=claim.reason or given.get(sid))
        for sid in claim.server_ids
    }


def _check_reported(detail: DRSJobCompleted, ended: Mapping[str, ServerLaunch]) -> None:
    """The event's servers are exactly the job's, each with the status and recovery instance DRS gives (a
    LAUNCHED one whose instance DRS terminated since, TERMINATED now, is the same launch)."""
    given = {server.source_server_id: server for server in detail.servers}
    if set(given) != set(ended):
        odd = sorted(set(given) ^ set(ended))
        listed = ", ".join(quote(sid, 40) for sid in odd[:5]) + (f" and {len(odd) - 5} more" if len(odd) > 5 else "")
        raise _refused_end(detail, f"detail.servers: not the servers of job '{quote(detail.job_id, 64)}' ({listed})")
    for sid, result in ended.items():
        said = given[sid]
        terminated = said.launch_status == "LAUNCHED" and result.launch_status == "TERMINATED"
        if said.recovery_instance_id != result.recovery_instance_id or (
            said.launch_status != result.launch_status and not terminated
        ):
            raise _refused_end(
                detail,
                f"detail.servers: {quote(sid, 40)} {said.launch_status} ({said.recovery_instance_id}) where job "
                f"'{quote(detail.job_id, 64)}' has it {result.launch_status} ({result.recovery_instance_id})",
            )
