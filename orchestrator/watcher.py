"""The job watcher: polls a wave's DRS jobs on scheduler ticks (15 s, then 30 s, then 60 s apart) and
at once when a DRS Launch Result event arrives. It never waits: each tick schedules the next."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from events.models import DRSJobCompleted, DRSJobStarted, JobWatchTick, ServerLaunch
from orchestrator.drs import TAG_EXECUTION, TAG_WAVE
from orchestrator.observability import logger
from orchestrator.runtime import Runtime
from orchestrator.scheduler import schedule_name

TERMINAL_LAUNCH = {"LAUNCHED", "FAILED", "TERMINATED"}
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
    rt.scheduler.at(name, when, JobWatchTick(execution_id=execution_id, plan_id=plan_id, wave_id=wave_id,
                                             attempt=attempt, tick=tick))


def on_job_started(rt: Runtime, detail: DRSJobStarted) -> None:
    """Arm the first tick of the wave (once per wave attempt: the schedule name is the guard)."""
    _schedule_tick(rt, detail.execution_id, detail.plan_id, detail.wave_id, detail.attempt, 1)


def _server_results(job: dict[str, Any]) -> list[ServerLaunch]:
    return [
        ServerLaunch(
            source_server_id=server["sourceServerID"],
            launch_status=server.get("launchStatus", "PENDING"),
            recovery_instance_id=server.get("recoveryInstanceID"),
        )
        for server in job.get("participatingServers", [])
    ]


def poll_wave(rt: Runtime, execution_id: str, plan_id: str, wave_id: str) -> tuple[int, int]:
    """Publish DRSJobCompleted for every job of the wave that has ended. Returns (ended, still running)."""
    wave = rt.ledger.get_wave(execution_id, wave_id)
    if wave is None or wave.get("status") != "LAUNCHING":
        return 0, 0
    open_jobs = [jid for jid, job in wave.get("jobs", {}).items() if job.get("status") != "COMPLETED"
                 and not jid.startswith("not-started-")]
    if not open_jobs:
        return 0, 0
    ended = 0
    for job in rt.drs.describe_jobs(open_jobs):
        if job.get("status") != "COMPLETED":
            continue
        ended += 1
        rt.bus.publish(DRSJobCompleted(execution_id=execution_id, plan_id=plan_id, wave_id=wave_id,
                                       attempt=int(wave.get("attempt", 1)), job_id=job["jobID"],
                                       servers=_server_results(job)))
    return ended, len(open_jobs) - ended


def on_tick(rt: Runtime, detail: JobWatchTick) -> None:
    ended, running = poll_wave(rt, detail.execution_id, detail.plan_id, detail.wave_id)
    wave = rt.ledger.get_wave(detail.execution_id, detail.wave_id) or {}
    expected, done = int(wave.get("jobsExpected", 0)), int(wave.get("jobsDone", 0))
    still_launching = wave.get("status") == "LAUNCHING" and int(wave.get("attempt", 1)) == detail.attempt
    logger.info("job watcher tick", wave_id=detail.wave_id, tick=detail.tick, ended=ended, running=running)
    if still_launching and (running or done + ended < expected):
        _schedule_tick(rt, detail.execution_id, detail.plan_id, detail.wave_id, detail.attempt, detail.tick + 1)


def on_launch_result(rt: Runtime, detail: dict[str, Any]) -> None:
    """An aws.drs Launch Result event: poll the wave that owns the job now instead of at the next tick."""
    job_id = detail.get("job-id") or detail.get("jobId")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        logger.warning("launch result without a well-formed job id ignored", job_id=str(job_id)[:64])
        return
    jobs = rt.drs.describe_jobs([job_id])
    if not jobs:
        return
    tags = jobs[0].get("tags", {})
    execution_id, wave_id = tags.get(TAG_EXECUTION), tags.get(TAG_WAVE)
    if not execution_id or not wave_id:
        logger.debug("launch result for a job that is not ours", job_id=job_id)
        return
    execution = rt.ledger.get_execution(execution_id)
    if execution is None:
        return
    poll_wave(rt, execution_id, execution["planId"], wave_id)
