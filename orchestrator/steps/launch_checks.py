"""Does the ledger back a launch chunk? Asked before anything launches one.

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
  cut them into the wave's `jobs_expected` jobs, each with its server's point-in-time snapshot from the plan.

A refused chunk raises `RefusedChunk` (an `InvalidEvent`: it can never become valid, so it is never retried;
the caller logs and counts it, `InvalidEvents`). A chunk whose wave has moved on (FAILED, SKIPPED, retried, or
its plan ended) is stale: `check_chunk` returns why, and nothing launches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from events.envelope import InvalidEvent
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.plan import Plan
from orchestrator.domain.plan.suggest import quote
from orchestrator.domain.records import ExecutionRecord, WaveRecord
from orchestrator.domain.records.launches import LaunchChunk, LaunchClaim
from orchestrator.domain.status import EXECUTION_FINAL, NOT_STARTED_WAVE, ExecutionStatus, WaveStatus
from orchestrator.runtime import Runtime

MAX_CHUNK_SERVERS = 200  # StartRecovery's sourceServers: 1 to 200
_TEXT_FIELDS = ("executionId", "planId", "waveId", "launchKey")
_FIELDS = frozenset({*_TEXT_FIELDS, "attempt", "index", "isDrill", "servers", "tries"})


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


def check_chunk(rt: Runtime, chunk: LaunchChunk, *, action: str) -> str | None:
    """None when the ledger backs `chunk` and its wave launches now; why not, when the chunk is genuine but
    stale (its wave attempt launched and has moved on: nothing is to be launched for it).
    Raises RefusedChunk (nothing written, nothing called) when the ledger does not back it. Reads the
    execution and the wave (two consistent reads)."""
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
    if stale is not None:
        return stale
    errors = _group_errors(chunk, wave, plan)
    if errors:
        raise RefusedChunk(action, errors)
    return None


def check_claim(chunk: LaunchChunk, claim: LaunchClaim, *, action: str) -> None:
    """The launch claim already in the ledger for the chunk's job is for exactly its servers and launch key."""
    if claim.launch_key != chunk.launch_key or tuple(claim.server_ids) != tuple(chunk.server_ids):
        raise RefusedChunk(
            action, [f"chunk: job {chunk.index} of wave '{chunk.wave_id}' was claimed for other servers"]
        )
