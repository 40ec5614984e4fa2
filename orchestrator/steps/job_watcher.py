"""The job watcher: polls a wave's DRS jobs on scheduler ticks (15 s, then 30 s, then 60 s apart) and
at once when a DRS Launch Result event says a job has ended. It never waits: each tick schedules the next.
A job seen ended gives its DRS capacity back (`orchestrator.steps.capacity`) before DRSJobCompleted goes out."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from events.models import DRSJobCompleted, DRSJobStarted, JobWatchTick, ServerLaunch
from orchestrator.adapters.drs import TAG_EXECUTION, TAG_LAUNCH_KEY, TAG_WAVE, DrsError
from orchestrator.adapters.scheduler import schedule_name
from orchestrator.domain.packing import own_launch_settled, own_servers
from orchestrator.domain.records import ExecutionRecord, WaveJob, WaveRecord
from orchestrator.domain.status import WaveStatus
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.steps import capacity
from orchestrator.steps.targets import wave_runtime

# jobs whose end this Lambda container has reported (a job's servers each send a Launch Result event),
# per DRS adapter (one per runtime: a container on AWS, a local cloud here)
_REPORTED: WeakKeyDictionary[Any, OrderedDict[str, None]] = WeakKeyDictionary()
_REPORTED_MAX = 2000
JOB_ID = re.compile(r"drsjob-[0-9a-zA-Z]{17}")


def tick_interval(tick: int) -> int:
    """Seconds before tick `tick`: every 15 s for the first minute, 30 s to the fifth, then 60 s."""
    if tick <= 4:
        return 15
    if tick <= 12:
        return 30
    return 60


def _schedule_tick(rt: Runtime, execution_id: str, plan_id: str, wave_id: str, attempt: int, tick: int) -> None:
    when = rt.clock.now() + timedelta(seconds=tick_interval(tick))
    name = schedule_name("watch", execution_id, wave_id, str(attempt), str(tick))
    rt.scheduler.at(
        name,
        when,
        JobWatchTick(execution_id=execution_id, plan_id=plan_id, wave_id=wave_id, attempt=attempt, tick=tick),
    )


def on_job_started(rt: Runtime, detail: DRSJobStarted) -> None:
    """Arm the first tick of the wave (once per wave attempt: the schedule name is the guard), only while the
    wave is LAUNCHING in that attempt (when the launcher publishes it, the wave always is): a late copy, or a
    forged one for a wave that is not launching, schedules nothing."""
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    if wave is None or wave.status != WaveStatus.LAUNCHING or wave.attempt != detail.attempt:
        logger.info(
            "DRSJobStarted for a wave that is not launching: nothing to watch",
            wave_id=detail.wave_id,
            status=wave.status if wave else None,
            attempt=detail.attempt,
        )
        return
    _schedule_tick(rt, detail.execution_id, detail.plan_id, detail.wave_id, detail.attempt, 1)


NO_LOG_REASON = "DRS reported the launch {status} and its job log gives no reason"


def _server_results(rt: Runtime, job: dict[str, Any]) -> list[ServerLaunch]:
    """Each server's launch status; a server that did not launch carries DRS's reason from the job log (of a packed
    job: `job` holds the wave's own servers only, and only their reasons are read)."""
    failed = any(s.get("launchStatus") not in (None, "LAUNCHED") for s in job.get("participatingServers", []))
    return server_launches(job, rt.drs.job_failure_reasons(job["jobID"]) if failed else {})


def server_launches(job: dict[str, Any], reasons: dict[str, str]) -> list[ServerLaunch]:
    """How each server of a DescribeJobs `job` ended, in DRS's order: its `launchStatus` and
    `recoveryInstanceID` as DRS gives them; a server that did not launch carries its reason from `reasons`
    (`{source server id: reason}`), or says the log gave none. The one reading of a job's servers: the
    watcher publishes it, and the post-launch step checks a DRSJobCompleted against it."""
    results = []
    for server in job.get("participatingServers", []):
        status = server.get("launchStatus", "PENDING")
        reason = None
        if status != "LAUNCHED":
            reason = reasons.get(server["sourceServerID"]) or NO_LOG_REASON.format(status=status)
        results.append(
            ServerLaunch(
                source_server_id=server["sourceServerID"],
                launch_status=status,
                recovery_instance_id=server.get("recoveryInstanceID"),
                reason=reason,
            )
        )
    return results


def poll_wave(
    rt: Runtime,
    wave: WaveRecord | None,
    plan_id: str,
    *,
    once: bool = False,
    siblings: bool = True,
    execution: ExecutionRecord | None = None,
) -> tuple[int, int]:
    """Publish DRSJobCompleted for every job of `wave` that has ended (nothing unless it is LAUNCHING). Returns
    (ended, still running). `once`: publish only if no one reported the job's end yet (a burst of Launch Result
    events, one per server, reports a job once; the ticks always report, so a report lost after the mark is
    made again by the next tick)."""
    if wave is None or wave.status != WaveStatus.LAUNCHING:
        return 0, 0
    open_jobs = _open_jobs(wave)
    if not open_jobs:
        return 0, 0
    execution = execution or rt.ledger.execution(wave.execution_id)
    if execution is not None:  # a wave's jobs are in its target's account and Region
        rt = wave_runtime(rt, execution, wave.wave_id)
    ended = [job for job in rt.drs.describe_jobs(list(open_jobs)) if ended_for_wave(job, open_jobs.get(job["jobID"]))]
    for job in ended:
        if not once or rt.ledger.mark_job_reported(wave.execution_id, wave.wave_id, job["jobID"]):
            _report_job_end(rt, wave, plan_id, job, open_jobs.get(job["jobID"]), siblings=siblings)
    return len(ended), len(open_jobs) - len(ended)


def ended_for_wave(job: dict[str, Any], ours: WaveJob | None) -> bool:
    """The DescribeJobs `job` has ended for the wave that records it as `ours`: COMPLETED, or, for a packed job
    (issue #19) that other waves share, every one of this wave's servers in it has a final launch status (the wave
    is judged from its own servers, never from the other waves')."""
    if job.get("status") == "COMPLETED":
        return True
    if ours is None or not ours.server_ids:
        return False
    return own_launch_settled(job.get("participatingServers", []), ours.server_ids)


def _open_jobs(wave: WaveRecord) -> dict[str, WaveJob]:
    """The wave's DRS jobs not yet recorded COMPLETED, by job id (not the placeholders the launcher records
    for servers no DRS job started)."""
    return {
        job.job_id: job
        for job in wave.current.jobs
        if job.status != "COMPLETED" and not job.job_id.startswith("not-started-")
    }


def _report_job_end(
    rt: Runtime, wave: WaveRecord, plan_id: str, job: dict[str, Any], ours: WaveJob | None, *, siblings: bool
) -> None:
    """Give the ended DRS `job`'s capacity back (for the next launch, of any execution) and publish
    DRSJobCompleted with each server's result. `ours`: the job as the wave records it. A packed job's capacity goes
    back when DRS says the whole job ended, and then (`siblings`) the other waves sharing it are polled at once."""
    if ours is not None and ours.packed_key:
        if job.get("status") == "COMPLETED":
            capacity.release_packed(rt, ours.packed_key)
            if siblings:
                _poll_siblings(rt, ours.shared_with or ())
    elif ours is not None and ours.launch_key:
        capacity.release(rt, ours.launch_key)
    mine = job if ours is None or not ours.server_ids else own_job(job, ours.server_ids)
    rt.bus.publish(
        DRSJobCompleted(
            execution_id=wave.execution_id,
            plan_id=plan_id,
            wave_id=wave.wave_id,
            attempt=wave.attempt,
            job_id=job["jobID"],
            servers=_server_results(rt, mine),
        )
    )


def on_tick(rt: Runtime, detail: JobWatchTick) -> None:
    wave = rt.ledger.wave(detail.execution_id, detail.wave_id)
    try:
        ended, running = poll_wave(rt, wave, detail.plan_id)
    except DrsError as exc:
        if not exc.retryable:
            raise
        logger.warning("DRS busy: polling again at the next tick", wave_id=detail.wave_id, error=exc.code)
        ended, running = 0, 1
    logger.info("job watcher tick", wave_id=detail.wave_id, tick=detail.tick, ended=ended, running=running)
    if wave is None or wave.status != WaveStatus.LAUNCHING or wave.attempt != detail.attempt:
        return
    if running or wave.jobs_done + ended < wave.jobs_expected:
        _schedule_tick(rt, detail.execution_id, detail.plan_id, detail.wave_id, detail.attempt, detail.tick + 1)


def _waves_of(rt: Runtime, tags: dict[str, str], job_id: str) -> list[tuple[str, str]]:
    """The (execution id, wave id) of each wave in the ended job: its tags for a job of one chunk, the ledger's
    record for a packed job (tagged with its key only; its capacity is given back here, once)."""
    execution_id, wave_id = tags.get(TAG_EXECUTION), tags.get(TAG_WAVE)
    if execution_id and wave_id:
        return [(execution_id, wave_id)]
    key = tags.get(TAG_LAUNCH_KEY, "")
    record = rt.ledger.packed(key, **capacity.pooled(rt)) if key.startswith("pk-") else None
    waves = list(dict.fromkeys((c.execution_id, c.wave_id) for c in record.chunks)) if record else []
    if waves:
        capacity.release_packed(rt, key)
    else:
        logger.debug("launch result for a job that is not ours", job_id=job_id)
    return waves


def _event_pool(rt: Runtime, account: str | None, region: str | None) -> Runtime:
    """The runtime of the capacity pool an event of `account` and `region` belongs to: a known wave target's (the
    ledger's pools: another account's, or another Region of the own account's), else `rt` (the own account and
    Region, or an account and Region the orchestrator launches nothing in)."""
    own = rt.settings.own_account
    if not account or not region or own is None or (account, region) == (own, rt.settings.region):
        return rt
    for target in rt.ledger.pools():
        if (target.account_id, target.region) == (account, region):
            return rt.at(target)
    return rt


def _poll_siblings(rt: Runtime, waves: Iterable[str]) -> None:
    """Poll each wave (`<execution id>/<wave id>`) sharing a packed job that has ended, once (no sibling of theirs)."""
    for ref in waves:
        execution_id, _, wave_id = ref.partition("/")
        _poll_once(rt, execution_id, wave_id)


def _poll_once(rt: Runtime, execution_id: str, wave_id: str) -> None:
    """Poll one wave now on behalf of an event (its job's end reported once, no sibling of its own polled)."""
    execution = rt.ledger.execution(execution_id)
    if execution is not None:
        wave = rt.ledger.wave(execution_id, wave_id)
        poll_wave(rt, wave, execution.plan_id, once=True, siblings=False, execution=execution)


def _poll_settled_waves(rt: Runtime, job: dict[str, Any]) -> None:
    """A packed job still running (issue #19): poll each wave in it whose own servers have all ended, so it completes
    now rather than at the next watcher tick (`poll_wave(once=True)`: each wave reports the job's end once)."""
    key = job.get("tags", {}).get(TAG_LAUNCH_KEY, "")
    record = rt.ledger.packed(key, **capacity.pooled(rt)) if key.startswith("pk-") else None
    if record is None:
        return
    participating = job.get("participatingServers", [])
    for chunk in record.chunks:
        if own_launch_settled(participating, chunk.server_ids):
            _poll_once(rt, chunk.execution_id, chunk.wave_id)


def own_job(job: dict[str, Any], server_ids: Iterable[str]) -> dict[str, Any]:
    """`job` with only the participating servers of `server_ids` (a wave's own share of a packed job)."""
    return {**job, "participatingServers": own_servers(job.get("participatingServers", []), server_ids)}


def on_launch_result(
    rt: Runtime, detail: dict[str, Any], *, account: str | None = None, region: str | None = None
) -> None:
    """An aws.drs Launch Result event: poll the wave that owns the job now instead of at the next tick. `account` and
    `region`: the event's (a target account forwards its DRS events to the orchestrator's bus, issue #15): the job
    is read in the wave target of that account and Region the ledger knows; the own account's otherwise."""
    job_id = detail.get("job-id") or detail.get("jobId")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        logger.warning("launch result without a well-formed job id ignored", job_id=str(job_id)[:64])
        return
    rt = _event_pool(rt, account, region)
    reported = _REPORTED.setdefault(rt.drs, OrderedDict())
    if job_id in reported:  # this container already reported the job's end: the other servers' events
        return
    try:
        jobs = rt.drs.describe_jobs([job_id])
    except DrsError as exc:
        if not exc.retryable:
            raise
        logger.info("DRS busy: the next watcher tick polls instead", job_id=job_id)
        return
    if not jobs:
        return
    if jobs[0].get("status") != "COMPLETED":
        # one server of a running job finished: a wave waits for its job's end, or, in a packed job, for its own
        _poll_settled_waves(rt, jobs[0])
        return
    tags = jobs[0].get("tags", {})
    for execution_id, wave_id in _waves_of(rt, tags, job_id):
        _poll_once(rt, execution_id, wave_id)
    reported[job_id] = None
    while len(reported) > _REPORTED_MAX:
        reported.popitem(last=False)
