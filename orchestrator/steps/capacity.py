"""DRS capacity shared by every running execution: admission against the quotas, a queue, and release.

DRS refuses a StartRecovery that would exceed its quotas (20 concurrent jobs, 500 servers in all active
jobs, 100 servers per job; not adjustable). Every execution launches through one ledger item,
`Ledger.capacity()`: counters of the jobs and servers in flight raised by a conditional write that fails
when the job would not fit, and one hold per admitted job (`CapacityHold`: its servers, when, its job id),
so admitting and releasing the same launch twice counts it once.

A launch that does not fit is parked (`Ledger.park`, counted in the capacity's `queued`) and a scheduled
CapacityTick starts it later: nothing sleeps and no Express execution
waits for capacity. While launches are parked, a fresh launch queues behind them (first come, first
served). The job watcher releases a launch job's capacity when it sees the job end. Terminate jobs have no
watcher: every refused admission (a launch, a parked launch on a CapacityTick, a termination) first
reconciles the record with DescribeJobs, at most once per RECONCILE_SECONDS, releasing every job that has
ended (a terminate job, a release lost to a crash) and every admission whose job never started.

The quotas come from the settings (defaults 100/20/500). On AWS they could be read from Service Quotas
(service code `drs`: L-B827C881 servers per job, L-D88FAC3A concurrent jobs, L-05AFA8C6 servers in all
jobs) at deploy time; DRS jobs started outside the orchestrator in the same account and Region are not
counted here: when DRS still answers ServiceQuotaExceededException the launch is parked, not failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from events.models import CapacityTick
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.clock import iso, parse_iso
from orchestrator.domain.plan.target import Target
from orchestrator.domain.records.launches import Admission, CapacityHold, HoldKind, LaunchChunk
from orchestrator.domain.targets import TargetUnavailable, pool_of
from orchestrator.observability import logger, metrics
from orchestrator.runtime import Runtime

TICK_SECONDS = 15
PACKED_KEY_PREFIX = "pk-"  # a packed job's key (orchestrator.domain.packing.packed_key); a chunk's is "lk-"
RECONCILE_SECONDS = 10  # a refused admission reconciles with DRS at most this often (DescribeJobs is throttled)
TERMINATE_BATCH = 200  # TerminateRecoveryInstances recoveryInstanceIDs max
STALE_UNSTARTED = timedelta(minutes=15)  # an admission whose job never got an id (the launcher died)


@dataclass(frozen=True)
class Quotas:
    servers_per_job: int
    concurrent_jobs: int
    servers_in_active_jobs: int

    @property
    def job_size(self) -> int:
        """The most servers (or instances) one job may hold and still fit: a bigger job would never be admitted."""
        return max(1, min(self.servers_per_job, self.servers_in_active_jobs, TERMINATE_BATCH))


def pool(rt: Runtime) -> str | None:
    """The capacity pool `rt` acts in: None for the orchestrator's own account and Region (today's ledger keys), else
    `<account>#<region>` of its target (issue #15: DRS's quotas are per account and Region). Every function here
    counts in the pool of the runtime it is given, so a step that switched to its wave's target counts there."""
    return pool_of(rt.target, rt.settings.home)


def pooled(rt: Runtime) -> dict[str, str]:
    """`pool=` for a ledger call in a target's pool; nothing for the own pool (the call as it always was)."""
    found = pool(rt)
    return {} if found is None else {"pool": found}


def quotas(rt: Runtime) -> Quotas:
    settings = rt.settings
    return Quotas(settings.drs_servers_per_job, settings.drs_concurrent_jobs, settings.drs_servers_in_active_jobs)


def admit(
    rt: Runtime, key: str, servers: int, *, ref: str, kind: HoldKind = "LAUNCH", behind_queue: bool = True
) -> Admission:
    """Count a job of `servers` servers against the quotas if it fits now. A refusal first reconciles the
    record with DRS (at most once per RECONCILE_SECONDS across every caller): a job whose end nobody
    recorded, such as a finished terminate job, no longer blocks anyone (launches and terminations alike)."""
    limits = quotas(rt)

    def attempt() -> Admission:
        return rt.ledger.capacity_admit(
            CapacityHold(key=key, servers=servers, at=rt.ledger.now(), kind=kind, ref=ref),
            max_jobs=limits.concurrent_jobs,
            max_servers=limits.servers_in_active_jobs,
            behind_queue=behind_queue,
            pool=pool(rt),
        )

    result = attempt()
    if result is Admission.ADMITTED:
        note_pool(rt)  # a target's pool is known from its first job on (its reconcile, its Launch Result events)
    if (
        result is Admission.FULL
        and rt.ledger.capacity_reconcile_due(seconds=RECONCILE_SECONDS, pool=pool(rt))
        and reconcile(rt)
    ):
        result = attempt()
    return result


def note_job(rt: Runtime, key: str, job_id: str) -> None:
    rt.ledger.capacity_note_job(key, job_id, pool=pool(rt))


def release(rt: Runtime, key: str, *, unstarted_only: bool = False) -> bool:
    """Give the job's capacity back (idempotent); start what is parked soon. `unstarted_only`: only if no
    job was noted on the admission (another call may have started the job with it)."""
    after = rt.ledger.capacity_release(key, unstarted_only=unstarted_only, pool=pool(rt))
    if after is None:
        return False
    logger.debug("DRS capacity released", launch_key=key, active_jobs=after.active_jobs)
    if (after.queued or 0) > 0:
        schedule_tick(rt, seconds=1)
    return True


def release_packed(rt: Runtime, key: str) -> bool:
    """A packed job (issue #19, orchestrator/steps/packer.py) has ended: its capacity back and its record gone."""
    released = release(rt, key)
    rt.ledger.forget_packed(key, pool=pool(rt))
    return released


def park(rt: Runtime, chunk: LaunchChunk) -> bool:
    """Queue a chunk that does not fit now and make sure a tick will come."""
    parked = rt.ledger.park(chunk, pool=pool(rt))
    note_pool(rt)
    if parked:
        metrics.add_metric(name="DrsLaunchesParked", unit="Count", value=1)
        logger.info(
            "DRS launch parked until capacity frees",
            launch_key=chunk.launch_key,
            wave_id=chunk.wave_id,
            servers=len(chunk.servers),
        )
    schedule_tick(rt, seconds=TICK_SECONDS)
    return parked


def note_pool(rt: Runtime) -> None:
    """A target's pool is remembered (with its target) when something is parked or admitted in it: the CapacityTick
    drains every pool it knows (`pools`), and a forwarded Launch Result event of its account and Region is read
    there."""
    if rt.target is not None:
        rt.ledger.note_pool(rt.target)


def pools(rt: Runtime) -> tuple[list[Runtime], list[tuple[Target, TargetUnavailable]]]:
    """The runtime of every capacity pool the CapacityTick drains: the orchestrator's own first, then each wave
    target's the ledger knows; and the wave targets whose role STS refuses now, with the refusal (logged: the tick
    fails their parked chunks, `launch_wave.fail_unreachable`, rather than leave their waves launching for ever)."""
    found = [rt.at(None)]
    unreachable: list[tuple[Target, TargetUnavailable]] = []
    for target in rt.ledger.pools():
        try:
            found.append(rt.at(target))
        except TargetUnavailable as exc:
            logger.warning(
                "capacity pool not reachable",
                pool=pool_of(target, rt.settings.home),
                role_arn=exc.role_arn,
                code=exc.code,
            )
            unreachable.append((target, exc))
    return found, unreachable


def schedule_tick(rt: Runtime, *, seconds: int = TICK_SECONDS) -> None:
    """One CapacityTick per TICK_SECONDS slot, however many launches ask for one (the name dedups)."""
    due = rt.clock.now() + timedelta(seconds=seconds)
    slot = int(due.timestamp()) // TICK_SECONDS * TICK_SECONDS + TICK_SECONDS
    due = due.fromtimestamp(slot, tz=due.tzinfo)
    stamp = due.strftime("%Y%m%dT%H%M%S")
    rt.scheduler.at(schedule_name("capacity", stamp), due, CapacityTick(due_at=iso(due)))


def schedule_tick_at(rt: Runtime, when: datetime) -> None:
    """One CapacityTick at `when` (to the second, at least 1 s from now): the launch packer's gathering window ends
    then (`orchestrator.steps.packer`). The name dedups ticks asked for the same second."""
    due = max(when, rt.clock.now() + timedelta(seconds=1))
    if due.microsecond:  # never before `when`: a tick before the window's end would find nothing due
        due = due.replace(microsecond=0) + timedelta(seconds=1)
    stamp = due.strftime("%Y%m%dT%H%M%S")
    rt.scheduler.at(schedule_name("capacity", stamp), due, CapacityTick(due_at=iso(due)))


def reconcile(rt: Runtime) -> int:
    """Release admissions whose DRS job has ended (a lost release, a terminate job) or whose launch never
    produced a job. Returns how many were released."""
    holds = rt.ledger.capacity(pool=pool(rt)).holds
    released = _release_ended(rt, holds) + _release_stale(rt, holds)
    if released:
        metrics.add_metric(name="DrsCapacityReconciled", unit="Count", value=released)
    return released


def _release_ended(rt: Runtime, holds: Mapping[str, CapacityHold]) -> int:
    """Release the holds whose DRS job has ended (DescribeJobs); how many were."""
    with_jobs = {hold.job_id: key for key, hold in holds.items() if hold.job_id}
    if not with_jobs:
        return 0
    ended = [job["jobID"] for job in rt.drs.describe_jobs(sorted(with_jobs)) if job.get("status") == "COMPLETED"]
    released = 0
    for job_id in ended:
        key = with_jobs[job_id]
        released += rt.ledger.capacity_release(key, pool=pool(rt)) is not None
        if key.startswith(PACKED_KEY_PREFIX):
            rt.ledger.forget_packed(key, pool=pool(rt))
    return released


def _release_stale(rt: Runtime, holds: Mapping[str, CapacityHold]) -> int:
    """Release the holds admitted STALE_UNSTARTED ago or more that never got a job id; how many were."""
    now = rt.clock.now()
    released = 0
    for key, hold in holds.items():
        if hold.job_id or now - parse_iso(hold.at or iso(now)) < STALE_UNSTARTED:
            continue
        logger.warning("stale DRS admission released", holder=key, ref=hold.ref)
        if rt.ledger.capacity_release(key, pool=pool(rt)) is not None:
            released += 1
    return released
