"""The launch packer (issue #19): chunks ready to launch, of every wave and every execution, share DRS jobs.

DRS allows 20 concurrent jobs, 100 servers per job and 500 servers in all active jobs of an account and Region
(https://docs.aws.amazon.com/drs/latest/userguide/drs-quotas.html). One job per chunk makes the job count bind long
before the server count: 100 waves of 5 servers launch in five rounds where one round of five jobs of 100 fits. With
packing on (`Settings.drs_packing`, the default):

1. `gather`: the wave launch state machine's StartJob claims the chunk (no lease: it calls no DRS) and parks it in
   the capacity queue, then asks for a CapacityTick at the end of the gathering window
   (`Settings.drs_packing_window_seconds`).
2. `drain_packed` (the CapacityTick): one packer at a time (a lock in the ledger, LOCK_SECONDS, longer than the
   function's timeout) takes every parked chunk still wanted and asks the policy (`orchestrator.domain.packing.pack`:
   the window, the quotas' room, who goes first, starvation) which jobs to start now. For each packed job, in order:
   each chunk's claim is leased with the packer's token and the job's key (`packed_key`), the chunks' launch settings
   are applied, the job is written to the ledger (`PACKING#<key>`) and admitted against the shared capacity as one
   hold, and one StartRecovery launches every chunk's servers, tagged with the key. Then each chunk is recorded on its
   own wave (the job id, its servers in it, the waves it shares it with) and leaves the queue, and the job is
   recorded started (`PACKED#<key>`).
3. A packer that died midway leaves `PACKING#<key>`: the next one (its lock expired) looks for the job by its tag and
   finishes recording it, or, when DRS has no such job, gives its capacity and its chunks' leases back: they are
   packed again. A duplicated or replayed StartJob finds its claim (and its job) and parks nothing twice; only the
   packer, under its lock, calls StartRecovery for a launch; a server is in one chunk, a chunk in one packed job.
4. A permanent DRS error on a job of several chunks (one bad server, a conflict with a job that is not ours) does not
   fail the other plans' chunks: the job is split (the chunk of the server DRS names alone, or two halves) and each
   part started at once, so only the guilty chunk fails. A conflict with a job of ours (a terminate job, or a packed
   launch still running: a retried wave, a drill and a recovery of one server) makes the held chunk wait for it.

Each wave is judged from its own servers in the shared job (`orchestrator.steps.job_watcher`,
`orchestrator.steps.launch_checks.check_job_end`); the job's capacity is given back when DRS reports it COMPLETED.
Packing is per account, Region and mode: each wave target (issue #15) is a pool of its own, with its own capacity
record, queue, lock and packed jobs (`capacity.pool`: the own account and Region keep today's keys), and within a pool
a drill job never carries a recovery launch; a packed job never mixes targets.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from orchestrator.adapters.drs import TAG_LAUNCH_KEY, DrsConflict, DrsError, DrsQuotaExceeded, DrsThrottled
from orchestrator.domain.clock import parse_iso
from orchestrator.domain.execution import frozen_plan
from orchestrator.domain.packing import Pool, ReadyChunk, Room, pack, packed_key
from orchestrator.domain.plan import remaining_paths
from orchestrator.domain.records import ExecutionRecord
from orchestrator.domain.records.launches import Admission, LaunchChunk, LaunchStatus, PackedLaunch, PackedStatus
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime
from orchestrator.steps import capacity
from orchestrator.steps.launch_checks import check_claim
from orchestrator.steps.launch_settings import apply_launch_settings, restore_launch_settings

LOCK_SECONDS = 90  # the packer's lock: longer than the launch function's timeout (60 s), renewed before each job
LEASE_SECONDS = 90  # a packed chunk's lease (as launch_wave.LEASE_SECONDS)
CLAIM_LOOKBACK = timedelta(minutes=10)  # how far before a packed job's record its DRS job is looked for
GATHERING = "gathering: the launch packer starts it with other ready chunks"
PACKED_TAG_WAVES = "drs-orch:packed-waves"  # how many chunks (waves) share the job: for a reader of the DRS console

JobOutcome = Literal["started", "failed", "blocked", "skipped"]


@dataclass
class Drained:
    """What one packer call did: jobs started, chunks launched in them, chunks dropped (their wave moved on or their
    plan stopped), chunks failed, chunks still waiting."""

    jobs: int = 0
    launched: int = 0
    dropped: int = 0
    failed: int = 0
    waiting: int = 0
    locked: bool = False
    notes: list[str] = field(default_factory=list)

    def answer(self) -> dict[str, int]:
        return {
            "started": self.launched,
            "jobs": self.jobs,
            "dropped": self.dropped,
            "failed": self.failed,
            "parked": self.waiting,
        }


def window(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.drs_packing_window_seconds)


def starvation(rt: Runtime) -> timedelta:
    return max(window(rt), timedelta(seconds=rt.settings.drs_packing_starvation_seconds))


# ---- 1. a chunk is ready: it waits for the packer ------------------------------------------------------------


def gather(rt: Runtime, chunk: LaunchChunk) -> dict[str, Any]:
    """StartJob with packing on: claim the chunk (once), park it, and make sure a CapacityTick comes when its window
    ends. The answer: `{outcome: PARKED, launchKey, reason}`, or, for a chunk claimed before, STARTED with its job
    (`jobId`) or FAILED with its reason. RefusedChunk (nothing written) for a claim that is not this chunk's."""
    existing = rt.ledger.claim_launch(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        launch_key=chunk.launch_key,
        server_ids=chunk.server_ids,
        parked=GATHERING,
    )
    if existing is not None:
        check_claim(chunk, existing, action="start_job")
        if existing.job_id:
            return {"outcome": "STARTED", "jobId": existing.job_id, "launchKey": chunk.launch_key}
        if existing.status is LaunchStatus.FAILED:
            return {"outcome": "FAILED", "jobId": None, "reason": existing.reason or "launch failed"}
    if rt.ledger.park(chunk, pool=capacity.pool(rt)):
        capacity.note_pool(rt)
        logger.info("launch gathered for packing", launch_key=chunk.launch_key, wave_id=chunk.wave_id)
    capacity.schedule_tick_at(rt, rt.clock.now() + window(rt))
    return {"outcome": "PARKED", "launchKey": chunk.launch_key, "reason": GATHERING}


# ---- 2. the packer -------------------------------------------------------------------------------------------


def drain_packed(rt: Runtime) -> dict[str, int]:
    """CapacityTick with packing on: in every capacity pool (the own account and Region, then each wave target's:
    `capacity.pools`), recover what a dead packer left, then pack the parked chunks and start the jobs that fit.
    Returns `{started, jobs, dropped, failed, parked}` (chunks, except `jobs`) summed over the pools. Does nothing in
    a pool while another packer holds its lock (it ticks again)."""
    from orchestrator.steps.launch_wave import fail_unreachable

    reachable, unreachable = capacity.pools(rt)
    total: dict[str, int] = {"failed": fail_unreachable(rt, unreachable)}
    for there in reachable:
        for name, value in _drain_pool(there).items():
            total[name] = total.get(name, 0) + value
    return total


def _drain_pool(rt: Runtime) -> dict[str, int]:
    """`drain_packed` in the pool of `rt` (its lock, queue, packed jobs, capacity record and DRS)."""
    token = uuid.uuid4().hex
    done = Drained()
    if not rt.ledger.take_packer_lock(token, LOCK_SECONDS, pool=capacity.pool(rt)):
        logger.info("another packer is packing: nothing to do")
        capacity.schedule_tick(rt)
        return done.answer()
    try:
        if rt.ledger.capacity(
            pool=capacity.pool(rt)
        ).queued:  # a tick comes whatever happens below (a crash mid-way included)
            capacity.schedule_tick(rt)
        _recover(rt, done)
        _pack_and_start(rt, token, done)
    finally:
        rt.ledger.release_packer_lock(token, **capacity.pooled(rt))
    answer = done.answer()
    logger.info(
        "packer",
        launched=answer["started"],
        jobs=answer["jobs"],
        dropped=answer["dropped"],
        failed=answer["failed"],
        waiting=answer["parked"],
    )
    return answer


def _pack_and_start(rt: Runtime, token: str, done: Drained) -> None:
    parked = _apart(_wanted_chunks(rt, done), done)
    if not parked:
        return
    chunks = [chunk for chunk, _ in parked]
    ready = _ready(rt, parked)
    now = rt.clock.now()
    packing = pack(ready, _room(rt), now, window=window(rt), starvation=starvation(rt))
    if not packing.jobs and packing.waiting and _reconciled(rt):
        packing = pack(ready, _room(rt), now, window=window(rt), starvation=starvation(rt))
    by_key = {chunk.launch_key: chunk for chunk in chunks}
    blocked = False
    for job in packing.jobs:
        if blocked or not rt.ledger.take_packer_lock(token, LOCK_SECONDS, pool=capacity.pool(rt)):
            done.waiting += len(job.chunks)
            continue
        outcome = start_packed(rt, [by_key[c.launch_key] for c in job.chunks], token, done)
        blocked = outcome == "blocked"
    done.waiting += len(packing.waiting)
    if packing.next_due is not None:
        capacity.schedule_tick_at(rt, packing.next_due)
    if done.waiting:
        capacity.schedule_tick(rt)


def _apart(parked: list[tuple[LaunchChunk, str]], done: Drained) -> list[tuple[LaunchChunk, str]]:
    """The parked chunks none of whose servers an older parked chunk has (oldest first). A server ready twice (a
    RECOVERY started while a drill of the same plan still launches) is launched by the older chunk; the younger
    waits until that one has started, then meets DRS's ConflictException like an unpacked launch would (and waits
    for our own job: `_after_conflict`), instead of halting every pool (the policy refuses a server in two chunks)."""
    apart: list[tuple[LaunchChunk, str]] = []
    taken: dict[str, str] = {}
    for chunk, parked_at in parked:
        clash = next((sid for sid in chunk.server_ids if sid in taken), None)
        if clash is not None:
            logger.warning(
                "a server is in two ready launches: the younger waits for the older one",
                source_server_id=clash,
                launch_key=chunk.launch_key,
                older=taken[clash],
            )
            done.waiting += 1
            continue
        taken.update(dict.fromkeys(chunk.server_ids, chunk.launch_key))
        apart.append((chunk, parked_at))
    return apart


def _reconciled(rt: Runtime) -> bool:
    """Nothing fits: reconcile the capacity record with DRS first (at most once per RECONCILE_SECONDS: a job whose end
    no watcher recorded, a terminate job). True when something was released."""
    return (
        rt.ledger.capacity_reconcile_due(seconds=capacity.RECONCILE_SECONDS, pool=capacity.pool(rt))
        and capacity.reconcile(rt) > 0
    )


def _room(rt: Runtime) -> Room:
    """What the quotas allow now, from the shared capacity record."""
    limits = capacity.quotas(rt)
    state = rt.ledger.capacity(pool=capacity.pool(rt))
    return Room(
        jobs=max(0, limits.concurrent_jobs - (state.active_jobs or 0)),
        servers=max(0, limits.servers_in_active_jobs - (state.active_servers or 0)),
        servers_per_job=limits.job_size,
    )


def _wanted_chunks(rt: Runtime, done: Drained) -> list[tuple[LaunchChunk, str]]:
    """The parked chunks still to launch, oldest first; the others leave the queue here: a chunk whose wave moved on
    (its settings restored), or whose plan stopped (its servers end NOT_STARTED: `launch_wave.chunk_failed`)."""
    from orchestrator.steps.launch_wave import NOT_LAUNCHED_STOPPED, chunk_failed, still_wanted

    wanted: list[tuple[LaunchChunk, str]] = []
    in_flight = {chunk.launch_key for record in rt.ledger.packings(pool=capacity.pool(rt)) for chunk in record.chunks}
    for entry in rt.ledger.parked(pool=capacity.pool(rt)):
        chunk = entry.chunk
        if chunk.launch_key in in_flight:
            continue
        verdict = still_wanted(rt, chunk)
        if verdict == "launch":
            wanted.append((chunk, entry.enqueued_at))
            continue
        if verdict == "stop":
            ended = chunk_failed(rt, chunk, {}, reason=NOT_LAUNCHED_STOPPED, launch_status="NOT_STARTED")
            if ended["outcome"] == "BUSY":
                continue
        else:
            execution = rt.ledger.execution(chunk.execution_id)
            if execution is not None:
                restore_launch_settings(rt, execution, chunk)
        rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt))
        done.dropped += 1
    return wanted


def _ready(rt: Runtime, parked: Sequence[tuple[LaunchChunk, str]]) -> list[ReadyChunk]:
    """The policy's view of each parked chunk: its pool, when it was parked, its plan's remaining path from its wave
    and its plan's priority (each execution's frozen plan read once)."""
    plans: dict[str, tuple[dict[str, float], int]] = {}
    ready = []
    for sequence, (chunk, parked_at) in enumerate(parked):
        if chunk.execution_id not in plans:
            plans[chunk.execution_id] = _plan_facts(rt.ledger.execution(chunk.execution_id))
        paths, priority = plans[chunk.execution_id]
        ready.append(
            ReadyChunk(
                launch_key=chunk.launch_key,
                execution_id=chunk.execution_id,
                wave_id=chunk.wave_id,
                pool=Pool(
                    account_id=rt.target.account_id if rt.target else "self",
                    region=rt.target.region if rt.target else rt.settings.region,
                    is_drill=chunk.is_drill,
                ),
                server_ids=tuple(chunk.server_ids),
                ready_at=parse_iso(parked_at),
                sequence=sequence,
                remaining_path=paths.get(chunk.wave_id, 1.0),
                priority=priority,
            )
        )
    return ready


def _plan_facts(execution: ExecutionRecord | None) -> tuple[dict[str, float], int]:
    if execution is None:
        return {}, 0
    plan = frozen_plan(execution)
    return remaining_paths(plan), plan.priority


# ---- one packed job ------------------------------------------------------------------------------------------


def start_packed(rt: Runtime, chunks: Sequence[LaunchChunk], token: str, done: Drained) -> JobOutcome:
    """Lease, apply settings, record, admit and StartRecovery one packed job of `chunks` (one pool). `started`;
    `blocked` (no room, DRS throttled or over its quotas: everything stays parked, the next tick tries again);
    `failed` (a single chunk DRS refused for good: failed with DRS's reason); `skipped` (no chunk left to start)."""
    key = packed_key(chunk.launch_key for chunk in chunks)
    leased = _lease(rt, chunks, token, key, done)
    leased = _with_settings(rt, leased, token, done)
    if not leased:
        return "skipped"
    record = PackedLaunch(
        key=key,
        token=token,
        status=PackedStatus.STARTING,
        chunks=tuple(leased),
        at=rt.ledger.now(),
        is_drill=leased[0].is_drill,
    )
    servers = sum(len(chunk.servers) for chunk in leased)
    try:
        admission = capacity.admit(rt, key, servers, ref=f"packed/{len(leased)} chunks", behind_queue=False)
    except DrsError as exc:
        if not exc.retryable:
            raise
        # a DRS read of the admission (its reconcile) throttled past its retries: everything stays parked
        capacity.release(rt, key, unstarted_only=True)
        _give_back(rt, leased, token, reason=f"DRS throttled the admission: {exc}")
        logger.warning("DRS throttled a packed job's admission: the next tick tries again", packed_key=key)
        return "blocked"
    if admission is Admission.FULL:
        _give_back(rt, leased, token, reason="DRS quotas are in use")
        return "blocked"
    if not rt.ledger.begin_packing(record, pool=capacity.pool(rt)):
        capacity.release(rt, key, unstarted_only=True)
        _give_back(rt, leased, token, reason="packed job being started by another call")
        return "blocked"
    return _start_recovery(rt, record, done)


def _lease(rt: Runtime, chunks: Sequence[LaunchChunk], token: str, key: str, done: Drained) -> list[LaunchChunk]:
    """Each chunk's claim leased to this packer for job `key`; a chunk whose claim already has its job (a packer that
    died after StartRecovery, recovered since) leaves the queue; one another call holds stays parked."""
    leased = []
    for chunk in chunks:
        held = rt.ledger.lease_launch(
            chunk.execution_id,
            chunk.wave_id,
            chunk.attempt,
            chunk.index,
            token=token,
            seconds=LEASE_SECONDS,
            packed_key=key,
        )
        if held is None:
            leased.append(chunk)
        elif held.job_id or held.status is LaunchStatus.FAILED:
            rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt))
            done.dropped += 1
        else:
            done.waiting += 1
    return leased


def _with_settings(rt: Runtime, chunks: list[LaunchChunk], token: str, done: Drained) -> list[LaunchChunk]:
    """Apply each chunk's launch settings (`launch_settings.apply_launch_settings`); a chunk whose settings DRS or EC2
    refuse for good fails alone (its lease given back first: `chunk_failed` decides); one throttled stays parked."""
    from orchestrator.steps.launch_wave import chunk_failed

    ready = []
    for chunk in chunks:
        execution = rt.ledger.execution(chunk.execution_id)
        if execution is None:
            continue
        try:
            apply_launch_settings(rt, chunk, execution)
        except DrsError as exc:
            _end_lease(rt, chunk, token, LaunchStatus.PARKED, reason=str(exc))
            if exc.retryable:
                done.waiting += 1
                continue
            chunk_failed(rt, chunk, {}, reason=_reason(exc))
            rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt))
            done.failed += 1
            continue
        ready.append(chunk)
    return ready


def _start_recovery(rt: Runtime, record: PackedLaunch, done: Drained) -> JobOutcome:
    sources = [server for chunk in record.chunks for server in chunk.source_servers()]
    tags = {TAG_LAUNCH_KEY: record.key, PACKED_TAG_WAVES: str(len(record.chunks))}
    try:
        job = rt.drs.start_recovery(sources, is_drill=record.is_drill, tags=tags)
    except DrsConflict as exc:
        if _finished_if_created(rt, record, done):
            return "started"
        return _after_conflict(rt, record, exc, done)
    except DrsQuotaExceeded as exc:  # jobs outside the orchestrator use the quotas too: wait, do not fail
        _abandon(rt, record, reason=str(exc))
        return "blocked"
    except DrsThrottled as exc:  # refused before anything was created
        _abandon(rt, record, reason=str(exc))
        return "blocked"
    except DrsError as exc:
        if exc.retryable:  # a 500 or a timeout: DRS may have created the job all the same
            return _maybe_started(rt, record, exc, done)
        return _refused(rt, record, exc, done)
    metrics.add_metric(name="DrsJobsStarted", unit="Count", value=1)
    metrics.add_metric(name="DrsPackedChunks", unit="Count", value=len(record.chunks))
    logger.info(
        "packed DRS job started",
        job_id=job["jobID"],
        packed_key=record.key,
        chunks=len(record.chunks),
        servers=len(record.server_ids),
    )
    finish(rt, record, str(job["jobID"]), done)
    return "started"


def _maybe_started(rt: Runtime, record: PackedLaunch, exc: DrsError, done: Drained) -> JobOutcome:
    """StartRecovery failed in a way that may have created the job (InternalServerException, a timeout): the job is
    looked for by its key now; not found, the packed record stays, with its chunks' leases and capacity, for the next
    packer's recovery (`_recover`: found by its tag then, or given back), never packed again under another key while
    the job may exist."""
    if _finished_if_created(rt, record, done):
        return "started"
    logger.warning(
        "StartRecovery failed and may have created the job: the next packer looks for it by its tag",
        packed_key=record.key,
        error=str(exc)[:300],
    )
    done.waiting += len(record.chunks)
    return "blocked"


def _after_conflict(rt: Runtime, record: PackedLaunch, exc: DrsConflict, done: Drained) -> JobOutcome:
    """ConflictException, and no job has this key. A chunk whose server one of our own jobs still holds waits for it,
    parked: a terminate job of its execution (a rollback, a cancel's clean-up), or a launch job of ours (a packed job
    still running when its wave failed and was retried, a drill of the same server when its recovery started). The
    others go on without it now. With no such chunk the conflict is with a job that is not ours: `_refused`."""
    from orchestrator.steps.launch_wave import our_termination_holding

    waiting = [
        c
        for c in record.chunks
        if our_termination_holding(rt, c.execution_id, c.server_ids) or _our_launch_holding(rt, c.server_ids)
    ]
    if not waiting:
        return _refused(rt, record, exc, done)
    logger.info("a job of ours holds a server: its chunk waits for it to end", packed_key=record.key)
    _abandon(rt, record, reason=f"{exc} (a job of the orchestrator's: waiting for it to end)")
    done.waiting += len(waiting)
    others = [c for c in record.chunks if c not in waiting]
    return start_packed(rt, others, record.token, done) if others else "blocked"


def _our_launch_holding(rt: Runtime, server_ids: Sequence[str]) -> str | None:
    """The id of a packed launch job of ours DRS still runs with one of `server_ids`, if any."""
    from orchestrator.steps.launch_wave import running_job_holding

    wanted = set(server_ids)
    packed = rt.ledger.packed_jobs(pool=capacity.pool(rt))
    job_ids = sorted({r.job_id for r in packed if r.job_id and wanted.intersection(r.server_ids)})
    return running_job_holding(rt, job_ids, wanted)


def _reason(exc: DrsError) -> str:
    """A failed chunk's reason, as the state machine's ChunkFailed writes it (`launch_wave._reason`)."""
    return f"{type(exc).__name__}: {exc}"[:1000]


def _refused(rt: Runtime, record: PackedLaunch, exc: DrsError, done: Drained) -> JobOutcome:
    """DRS refused the job for good. Several chunks: each is started alone now, so one bad server fails only its own
    chunk. One chunk: it fails with DRS's reason (`launch_wave.chunk_failed`)."""
    from orchestrator.steps.launch_wave import chunk_failed

    _abandon(rt, record, reason=str(exc))
    if len(record.chunks) > 1:
        parts = _split(record.chunks, exc.resource_id)
        logger.warning(
            "DRS refused a packed job: it is split", packed_key=record.key, parts=len(parts), error=str(exc)[:300]
        )
        outcomes = [start_packed(rt, part, record.token, done) for part in parts]
        return "blocked" if "blocked" in outcomes else "started"
    chunk = record.chunks[0]
    chunk_failed(rt, chunk, {}, reason=_reason(exc))
    rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt))
    done.failed += 1
    return "failed"


def _split(chunks: Sequence[LaunchChunk], culprit: str | None) -> list[list[LaunchChunk]]:
    """A refused packed job, split: the chunk holding the server DRS named (ConflictException's resourceId) alone and
    the others together (one more job, not one per chunk: a busy server does not spend the 20-job quota); with no
    culprit named, two halves (each refused half splits again, so one bad chunk costs about log2(n) calls)."""
    guilty = [c for c in chunks if culprit is not None and culprit in c.server_ids]
    if guilty:
        return [guilty, [c for c in chunks if c not in guilty]]
    half = len(chunks) // 2
    return [list(chunks[:half]), list(chunks[half:])]


def _abandon(rt: Runtime, record: PackedLaunch, *, reason: str) -> None:
    """No job was created for `record`: its capacity, its chunks' leases (they stay parked) and its record go back."""
    capacity.release(rt, record.key, unstarted_only=True)
    _give_back(rt, record.chunks, record.token, reason=reason)
    rt.ledger.abandon_packing(record.key, pool=capacity.pool(rt))


def _give_back(rt: Runtime, chunks: Sequence[LaunchChunk], token: str, *, reason: str) -> None:
    for chunk in chunks:
        _end_lease(rt, chunk, token, LaunchStatus.PARKED, reason=reason)


def _end_lease(rt: Runtime, chunk: LaunchChunk, token: str, status: LaunchStatus, *, reason: str) -> None:
    rt.ledger.end_launch_lease(
        chunk.execution_id,
        chunk.wave_id,
        chunk.attempt,
        chunk.index,
        token=token,
        status=status,
        park_reason=reason[:500],
    )


def _finished_if_created(
    rt: Runtime, record: PackedLaunch, done: Drained, *, since: datetime | None = None
) -> str | None:
    """DRS has a job tagged with `record`'s key (created by a call that failed, or by a packer that died, since `since`:
    default CLAIM_LOOKBACK ago): it is recorded (`finish`) and its id returned; None when DRS has none."""
    found = rt.drs.find_job_by_tag(TAG_LAUNCH_KEY, record.key, since or rt.clock.now() - CLAIM_LOOKBACK)
    if not found:
        return None
    job_id = str(found["jobID"])
    finish(rt, record, job_id, done)
    return job_id


def finish(rt: Runtime, record: PackedLaunch, job_id: str, done: Drained) -> None:
    """The packed job runs as `job_id`: its capacity hold notes it, each chunk is recorded on its own wave (claim
    STARTED, the job on the wave with the chunk's servers and the waves it shares it with, DRSJobStarted) and leaves
    the queue, then the job is recorded started. Idempotent: a packer that died midway is finished by the next."""
    capacity.note_job(rt, record.key, job_id)
    waves = record.waves
    for chunk in record.chunks:
        others = [w for w in waves if w != f"{chunk.execution_id}/{chunk.wave_id}"]
        _record_chunk(rt, chunk, job_id, record.key, others if len(record.chunks) > 1 else None)
        if rt.ledger.unpark(chunk.launch_key, pool=capacity.pool(rt)):
            done.launched += 1
    rt.ledger.finish_packing(record, job_id, pool=capacity.pool(rt))
    done.jobs += 1


def _record_chunk(rt: Runtime, chunk: LaunchChunk, job_id: str, key: str, shared_with: list[str] | None) -> None:
    """The chunk's claim STARTED, the job on its wave (a shared job with the chunk's servers in it and `shared_with`,
    the other waves; a job of this chunk alone with its key only: its servers are the job's), DRSJobStarted."""
    from orchestrator.steps.launch_wave import publish_job_started

    rt.ledger.complete_launch(
        chunk.execution_id, chunk.wave_id, chunk.attempt, chunk.index, job_id=job_id, status=LaunchStatus.STARTED
    )
    wave = rt.ledger.wave(chunk.execution_id, chunk.wave_id)
    if wave is None or wave.status != WaveStatus.LAUNCHING or wave.attempt != chunk.attempt:
        logger.warning(
            "a packed job launched a chunk whose wave has moved on: its instances are the wave's clean-up's",
            launch_key=chunk.launch_key,
            job_id=job_id,
        )
        return
    rt.ledger.add_job(
        chunk.execution_id,
        chunk.wave_id,
        job_id=job_id,
        launch_key=chunk.launch_key,
        server_ids=chunk.server_ids,
        packed_key=key,
        shared_with=shared_with,
    )
    publish_job_started(rt, chunk, job_id)


# ---- 3. what a dead packer left ------------------------------------------------------------------------------


def _recover(rt: Runtime, done: Drained) -> None:
    """Each packed job a packer wrote and did not finish (this call holds the lock: its writer is dead): the job DRS
    has for its tag is recorded; without one, its capacity and chunks are given back (packed again)."""
    for record in rt.ledger.packings(pool=capacity.pool(rt)):
        job_id = _finished_if_created(rt, record, done, since=parse_iso(record.at) - CLAIM_LOOKBACK)
        if job_id:
            logger.warning("recovered a packed job a dead packer started", packed_key=record.key, job_id=job_id)
            metrics.add_metric(name="LaunchesRecovered", unit="Count", value=len(record.chunks))
            continue
        logger.warning("a dead packer's job was never created: its chunks are packed again", packed_key=record.key)
        _abandon(rt, record, reason="the packer that packed it stopped before DRS created the job")


__all__ = ["drain_packed", "finish", "gather", "start_packed"]
