"""Launch packing (issue #19): which ready chunks share which DRS StartRecovery job, in what order. Pure policy, no I/O.

It is the decision the launch packer (`orchestrator.steps.packer`) takes on each CapacityTick, kept pure so that
every rule below is tested without a ledger or a DRS.

A *ready chunk* is a group of one wave's servers whose preflight and pre-launch scripts are done (at most one
job's worth of servers). Chunks that share a *pool* (account, Region, mode: drill or recovery; DRS starts one job
for one account and Region, and a drill job never mixes with a recovery job) may share a job. `pack` answers which
jobs to start now, with which chunks, and which chunks wait:

- the gathering window: a pool's chunks are packed once its oldest chunk has waited `window` (so chunks that become
  ready together share a job), or at once when a whole job's worth of servers is already waiting in the pool;
  a chunk never waits longer than the window when capacity is free;
- the quotas: at most `Room.servers_per_job` servers in a job, `Room.jobs` more jobs and `Room.servers` more
  servers in flight (DRS: 100 servers per job, 20 concurrent jobs, 500 servers in all active jobs of an account;
  https://docs.aws.amazon.com/drs/latest/userguide/drs-quotas.html, not adjustable). A chunk is never split: a
  wave's chunk is one job's worth at most (`cut_jobs`), so a server is in exactly one packed job;
- who goes first when capacity is short (`launch_order`): a chunk that has waited `starvation` or longer, in
  arrival order; then the longest remaining dependency path of its plan from its wave (`plan.remaining_paths`), then
  its plan's priority (higher first), then arrival (ready time, then the ledger's sequence number);
- no starvation: a chunk that does not fit lets the chunks behind it go (backfill) until it has waited
  `starvation`; from then on nothing overtakes it, so capacity freed by ending jobs comes to it.

How the packer uses it (`orchestrator.steps.packer`): (1) the packed job (`PackedJob.key`, its chunks' launch keys)
is written to the ledger, and each chunk's claim points at that key, before StartRecovery: re-packing after a crash
may form another job with another key, so the tag lookup uses the recorded key, never a recomputed one; (2) one
capacity hold per packed job (its key, all its servers), released when DRS reports the job COMPLETED, whichever of
its waves sees that first; (3) a wave is judged from its own servers (`own_servers`, `own_launch_settled`) and
DRSJobCompleted carries only those; (4) a job holds servers of up to 100 waves and DRS allows 50 tags per resource
(TagResource, "Each resource can have a maximum of 50 tags"), so the job is tagged with the packed key only and a
Launch Result event finds its waves through the ledger (`PACKED#<key>`), not through tags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# DescribeJobs participatingServers[].launchStatus values that are final (API_ParticipatingServer:
# PENDING | IN_PROGRESS | LAUNCHED | FAILED | TERMINATED)
FINAL_LAUNCH_STATUSES = frozenset({"LAUNCHED", "FAILED", "TERMINATED"})


class PackingError(ValueError):
    """The ready chunks or the room given to `pack` are inconsistent (a server in two chunks, an empty or
    oversized chunk, a negative room): nothing is packed."""


@dataclass(frozen=True, order=True)
class Pool:
    """What chunks must share to share a DRS job: the account, the Region and the mode (drill or recovery)."""

    account_id: str
    region: str
    is_drill: bool


@dataclass(frozen=True)
class ReadyChunk:
    """One wave's servers ready to launch.

    `launch_key`: the chunk's own launch key (unique); `server_ids`: its source server ids (1 to servers_per_job);
    `ready_at`: when it became ready (UTC); `sequence`: the ledger's arrival number (ties on `ready_at`);
    `remaining_path`: the longest remaining dependency path of its plan from its wave, this wave included
    (`remaining_path`, seconds or waves); `priority`: its plan's priority (higher goes first; 0 when unset).
    """

    launch_key: str
    execution_id: str
    wave_id: str
    pool: Pool
    server_ids: tuple[str, ...]
    ready_at: datetime
    sequence: int
    remaining_path: float = 1.0
    priority: int = 0


@dataclass(frozen=True)
class Room:
    """What the quotas still allow now: `jobs` more jobs, `servers` more servers in flight, and at most
    `servers_per_job` servers in one job."""

    jobs: int
    servers: int
    servers_per_job: int


@dataclass(frozen=True)
class PackedJob:
    """One StartRecovery to make: its pool and its chunks (each chunk's servers are that chunk's wave's)."""

    pool: Pool
    chunks: tuple[ReadyChunk, ...]

    @property
    def server_ids(self) -> list[str]:
        return [sid for chunk in self.chunks for sid in chunk.server_ids]

    @property
    def owners(self) -> dict[str, str]:
        """`{source server id: launch key of the chunk that owns it}`."""
        return {sid: chunk.launch_key for chunk in self.chunks for sid in chunk.server_ids}

    @property
    def key(self) -> str:
        """`pk-` and 32 hex digits: the same chunks give the same key whatever their order, so a retried or
        crashed packer that packs the same batch again claims (and finds by tag) the same job."""
        return packed_key(c.launch_key for c in self.chunks)


def packed_key(launch_keys: Iterable[str]) -> str:
    """The key of a packed job of the chunks of `launch_keys` (`PackedJob.key`): `pk-` and 32 hex digits."""
    digest = hashlib.sha256("\n".join(sorted(launch_keys)).encode()).hexdigest()
    return f"pk-{digest[:32]}"


@dataclass(frozen=True)
class Packing:
    """`pack`'s answer: the jobs to start now (in launch order), the chunks that wait, and when the packer should
    look again at the latest for a pool still in its gathering window (None: no pool is gathering)."""

    jobs: tuple[PackedJob, ...]
    waiting: tuple[ReadyChunk, ...]
    next_due: datetime | None


@dataclass
class _Open:
    pool: Pool
    chunks: list[ReadyChunk] = field(default_factory=list)
    servers: int = 0


def launch_order(chunks: Iterable[ReadyChunk], now: datetime, starvation: timedelta) -> list[ReadyChunk]:
    """`chunks` in the order capacity goes to them: starved ones (waited `starvation` or longer) first, by
    arrival; then the longest remaining path, the highest priority, arrival."""

    def rank(chunk: ReadyChunk) -> tuple[int, float, int, datetime, int, str]:
        if now - chunk.ready_at >= starvation:
            return (0, 0.0, 0, chunk.ready_at, chunk.sequence, chunk.launch_key)
        return (1, -chunk.remaining_path, -chunk.priority, chunk.ready_at, chunk.sequence, chunk.launch_key)

    return sorted(chunks, key=rank)


def _check(chunks: Sequence[ReadyChunk], room: Room, window: timedelta, starvation: timedelta) -> None:
    if room.servers_per_job < 1 or room.jobs < 0 or room.servers < 0:
        raise PackingError(f"no valid room to pack into: {room}")
    if window < timedelta(0) or starvation < window:
        raise PackingError(f"the starvation limit ({starvation}) must be at least the window ({window}) >= 0")
    places = {(c.pool.account_id, c.pool.region) for c in chunks}
    if len(places) > 1:
        raise PackingError(f"one room is one account and Region's quotas, not {sorted(places)}")
    seen: dict[str, str] = {}
    keys: set[str] = set()
    for chunk in chunks:
        if chunk.launch_key in keys:
            raise PackingError(f"launch key {chunk.launch_key} is ready twice")
        keys.add(chunk.launch_key)
        if not chunk.server_ids or len(chunk.server_ids) > room.servers_per_job:
            raise PackingError(
                f"chunk {chunk.launch_key} has {len(chunk.server_ids)} servers: 1 to {room.servers_per_job} fit a job"
            )
        for sid in chunk.server_ids:
            if sid in seen:
                raise PackingError(f"server {sid} is in two ready chunks: {seen[sid]} and {chunk.launch_key}")
            seen[sid] = chunk.launch_key


def due_pools(chunks: Sequence[ReadyChunk], now: datetime, window: timedelta, servers_per_job: int) -> set[Pool]:
    """The pools whose chunks are packed now: the oldest has waited `window`, or a full job's worth waits."""
    oldest: dict[Pool, datetime] = {}
    servers: dict[Pool, int] = {}
    for chunk in chunks:
        oldest[chunk.pool] = min(oldest.get(chunk.pool, chunk.ready_at), chunk.ready_at)
        servers[chunk.pool] = servers.get(chunk.pool, 0) + len(chunk.server_ids)
    return {pool for pool in oldest if now - oldest[pool] >= window or servers[pool] >= servers_per_job}


def _same_wave(job: _Open, chunk: ReadyChunk) -> bool:
    """`job` holds a chunk of `chunk`'s wave already: a wave's jobs are told apart by job id, so two of its chunks
    never share one (balanced cuts never fit two in a job anyway: `cut_jobs`)."""
    return any(c.execution_id == chunk.execution_id and c.wave_id == chunk.wave_id for c in job.chunks)


def _place(chunk: ReadyChunk, jobs: list[_Open], room: Room, used: int) -> bool:
    """Put `chunk` in the first open job of its pool it fits, or a new job: False when the room does not allow."""
    size = len(chunk.server_ids)
    if used + size > room.servers:
        return False
    for job in jobs:
        if job.pool == chunk.pool and job.servers + size <= room.servers_per_job and not _same_wave(job, chunk):
            job.chunks.append(chunk)
            job.servers += size
            return True
    if len(jobs) >= room.jobs:
        return False
    jobs.append(_Open(chunk.pool, [chunk], size))
    return True


def pack(
    chunks: Sequence[ReadyChunk], room: Room, now: datetime, *, window: timedelta, starvation: timedelta
) -> Packing:
    """Pack the ready `chunks` of one account and Region (DRS's quotas are per account and Region; `room` is what
    they still allow) into jobs, first fit in `launch_order` (first fit uses at most 1.7 times the fewest jobs
    possible, whatever the order: Dosa and Sgall, 2013; 100 chunks of 5 servers make 5 jobs). A chunk that does
    not fit stops every chunk behind it only once it has waited `starvation`; before that, the chunks behind it
    may use the room it cannot.

    Raises PackingError (nothing packed) when a launch key or a server appears twice, a chunk is empty or larger
    than a job, the chunks span accounts or Regions, or `starvation` < `window`."""
    _check(chunks, room, window, starvation)
    due = due_pools(chunks, now, window, room.servers_per_job)
    jobs: list[_Open] = []
    waiting: list[ReadyChunk] = []
    used = 0
    blocked = False
    for chunk in launch_order(chunks, now, starvation):
        if blocked or chunk.pool not in due or not _place(chunk, jobs, room, used):
            waiting.append(chunk)
            blocked = blocked or now - chunk.ready_at >= starvation  # starved: its pool is due (starvation >= window)
            continue
        used += len(chunk.server_ids)
    gathering = [c.ready_at + window for c in waiting if c.pool not in due]
    return Packing(
        jobs=tuple(PackedJob(job.pool, tuple(job.chunks)) for job in jobs),
        waiting=tuple(waiting),
        next_due=min(gathering, default=None),
    )


# ---- a wave's own servers in a shared job ------------------------------------------------------------


def own_servers(participating: Sequence[Mapping[str, object]], server_ids: Iterable[str]) -> list[Mapping[str, object]]:
    """The entries of a DescribeJobs job's `participatingServers` that are the wave's (`server_ids`), in DRS's order:
    a wave is judged from its own servers, never from the shared job's status or the other waves' servers."""
    wanted = set(server_ids)
    return [server for server in participating if server.get("sourceServerID") in wanted]


def own_launch_settled(participating: Sequence[Mapping[str, object]], server_ids: Iterable[str]) -> bool:
    """Every one of the wave's servers (`server_ids`) is in the job with a final launch status
    (FINAL_LAUNCH_STATUSES): the wave's launch is over even while other waves' servers in the job still launch.
    False while one of them is missing from the job or still PENDING / IN_PROGRESS."""
    wanted = set(server_ids)
    mine = own_servers(participating, wanted)
    found = {server.get("sourceServerID") for server in mine}
    return bool(wanted) and found == wanted and all(s.get("launchStatus") in FINAL_LAUNCH_STATUSES for s in mine)
