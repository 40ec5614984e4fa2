"""Run one scenario on the embedded local cloud and record everything the oracle judges.

The run goes through the same path as `drs-orch run --sim`: the profile builds the local cloud, the plan is
published in a StartPlan, the cloud runs until the execution ends, and the report is built from the
ledger. The record comes from three independent places: the ledger and report (what the product says),
the DRS simulator's own jobs (what really happened at DRS), and the events published on the buses.

A run that does not end is stopped at a bound (simulated seconds from the model, real seconds from the
caller) and recorded as such; after the end the cloud keeps running (without a plan to watch) until it is
idle or a grace period has passed, so a rollback that happens after the plan closed is seen too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.cloud import LocalCloud, Stalled
from localcloud.profile import SimProfile
from localcloud.runner import RunResult, rejected_start
from localcloud.runner import start as start_plan
from orchestrator.adapters.drs import TAG_ATTEMPT, TAG_EXECUTION, TAG_LAUNCH_KEY, TAG_WAVE
from orchestrator.adapters.ledger.servers import server_item
from orchestrator.domain.clock import parse_iso
from orchestrator.reporting.report import build_report
from tests.chaos.campaign.generator import Scenario

SETTLE_SECONDS = 600.0  # simulated seconds the cloud keeps running after the plan ended (a rollback needs ~60)
ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


@dataclass
class Participant:
    source_server_id: str
    outcome: str  # LAUNCHED | FAILED (launch jobs) or TERMINATED (terminate jobs)
    launch_status: str
    instance_id: str | None


@dataclass
class DrsJob:
    job_id: str
    kind: str  # LAUNCH | TERMINATE
    execution_id: str | None
    wave_id: str | None
    attempt: str | None
    launch_key: str | None
    created_at: datetime
    ended_at: datetime | None
    participants: list[Participant]


@dataclass
class Observation:
    execution_id: str
    status: str  # the execution's status when the run stopped (NOT_FOUND, REJECTED, RUNNING, ...)
    exit_code: int | None
    end_error: str | None  # why the run did not end by itself
    report: dict[str, Any] | None
    execution: dict[str, Any] | None
    waves: dict[str, dict[str, Any]]
    jobs: list[DrsJob]
    quotas: dict[str, int]
    drs_calls: dict[str, int]
    drs_errors: dict[str, int]
    launches: dict[str, int]
    terminations: list[dict[str, Any]]
    dead_letters: dict[str, int]
    handler_errors: int
    crashes: int
    duplicated: int  # deliveries the profile duplicated
    reordered: int  # deliveries the profile held back until later ones went out
    events: list[tuple[str, str, dict[str, Any]]]  # (detail type, time, detail)
    status_changes: list[tuple[str, datetime]]  # the execution's status writes that won
    started_at: datetime
    ended_at: datetime | None
    settled_at: datetime
    sim_seconds: float
    real_seconds: float
    unfinished_schedules: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # real seconds: start, run, settle

    def jobs_of(self, wave_id: str, kind: str = "LAUNCH") -> list[DrsJob]:
        return [j for j in self.jobs if j.kind == kind and j.wave_id == wave_id and j.execution_id == self.execution_id]

    def exercised(self) -> list[str]:
        """What this run actually went through (a plan whose root fails early exercises little)."""
        kinds = {e[0] for e in self.events}
        scripts = [s for item in self.waves.values() for s in item.get("scripts", [])]
        seen = {
            "launched": any(j.kind == "LAUNCH" for j in self.jobs),
            "launch-failed": any(
                p.outcome == "FAILED" for j in self.jobs if j.kind == "LAUNCH" for p in j.participants
            ),
            "several-jobs-per-wave": any(len(self.jobs_of(w)) > 1 for w in self.waves),
            "parked": "CapacityTick" in kinds,
            "approval-granted": "ApprovalGranted" in kinds,
            "approval-denied": "ApprovalDenied" in kinds,
            "approval-timeout": "ApprovalTimeout" in kinds,
            "pre-launch-ran": any(s.get("phase") == "PRE_LAUNCH" and s.get("status") != "Skipped" for s in scripts),
            "post-launch-ran": any(
                s.get("phase") == "POST_LAUNCH" and not s.get("healthCheck") and s.get("status") != "Skipped"
                for s in scripts
            ),
            "health-check-ran": any(s.get("healthCheck") and s.get("status") != "Skipped" for s in scripts),
            "script-failed": any(s.get("status") in {"Failed", "TimedOut"} for s in scripts),
            "script-retried": any(int(s.get("attempts", 1)) > 1 for s in scripts),
            "rolled-back": any(j.kind == "TERMINATE" for j in self.jobs),
            "throttled": self.drs_errors.get("ThrottlingException", 0) > 0,
            "crashed": self.crashes > 0,
            "duplicated": self.duplicated > 0,
            "reordered": self.reordered > 0,
            "stopped": self.stop_at is not None,
            "skipped": any(i.get("status") == "SKIPPED" for i in self.waves.values()),
            "wave-failed": any(i.get("status") == "FAILED" for i in self.waves.values()),
            "plan-completed": self.status == "COMPLETED",
        }
        return sorted(name for name, hit in seen.items() if hit)

    @property
    def stop_at(self) -> datetime | None:
        """When the execution went STOPPING (a STOP policy or a cancel), if it did."""
        return next((at for status, at in self.status_changes if status == "STOPPING"), None)


def _record_status_changes(cloud: LocalCloud, changes: list[tuple[str, datetime]]) -> None:
    """Note the moment of every execution status write that won (the ledger keeps no STOPPING time)."""
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    original = ledger.set_execution_status

    def recording(execution_id: str, **kwargs: Any) -> Any:
        outcome = original(execution_id, **kwargs)
        if outcome.value == "WON":
            changes.append((kwargs["to"], cloud.clock.now()))
        return outcome

    ledger.set_execution_status = recording  # type: ignore[method-assign]


def _drs_jobs(cloud: LocalCloud, scenario: Scenario, execution_id: str) -> list[DrsJob]:
    """The DRS simulator's own record of every job (read under its lock, not through the API: the API
    may be throttled, and it would count as calls). A packed job (issue #19: tagged with its packed key only, `pk-`)
    that holds several waves' servers is seen as one job per wave, each with that wave's servers (a server is in one
    wave of the scenario's plan): each wave owns its own servers in the job."""
    wave_of = {
        (s if isinstance(s, str) else s["sourceServerID"]): w["waveId"]
        for w in scenario.plan["waves"]
        for s in w.get("servers", [])
    }
    sim = cloud.drs
    jobs: list[DrsJob] = []
    with sim._lock:
        for job in sim._jobs.values():
            participants = [
                Participant(p.source_server_id, p.outcome, p.launch_status, p.instance_id) for p in job.participants
            ]
            key = job.tags.get(TAG_LAUNCH_KEY)
            if key and key.startswith("pk-") and not job.tags.get(TAG_WAVE):
                owners = sorted({wave_of.get(p.source_server_id) for p in participants}, key=str)
                shares = [(w, [p for p in participants if wave_of.get(p.source_server_id) == w]) for w in owners]
                owner_execution: str | None = execution_id
            else:
                shares = [(job.tags.get(TAG_WAVE), participants)]
                owner_execution = job.tags.get(TAG_EXECUTION)
            jobs.extend(
                DrsJob(
                    job_id=job.job_id,
                    kind=job.job_type,
                    execution_id=owner_execution,
                    wave_id=wave_id,
                    attempt=job.tags.get(TAG_ATTEMPT),
                    launch_key=key,
                    created_at=job.created_at,
                    ended_at=job.ended_at,
                    participants=mine,
                )
                for wave_id, mine in shares
            )
    return sorted(jobs, key=lambda j: (j.created_at, j.job_id))


def _settle(cloud: LocalCloud, until: datetime) -> datetime:
    """Keep the cloud running (rollbacks, capacity ticks) until it is idle or `until`."""
    while True:
        progressed, next_due = cloud.step()
        if progressed:
            continue
        if next_due is None or next_due > until:
            return cloud.clock.now()
        cloud.clock.jump_to(next_due)


def run_scenario(scenario: Scenario, *, sim_bound_seconds: float, real_timeout: float = 120.0) -> Observation:
    """Run the scenario to its end (or a bound) and record what happened."""
    profile = SimProfile.model_validate(scenario.profile)
    real_start = time.perf_counter()
    cloud = LocalCloud(profile)
    cloud.start()
    started = time.perf_counter()
    try:
        obs = _run(cloud, scenario, sim_bound_seconds, real_timeout, real_start)
        obs.phases["start"] = started - real_start
        return obs
    finally:
        cloud.stop()


def _run(
    cloud: LocalCloud, scenario: Scenario, sim_bound_seconds: float, real_timeout: float, real_start: float
) -> Observation:
    changes: list[tuple[str, datetime]] = []
    _record_status_changes(cloud, changes)
    cloud.drs.ensure_servers(
        s if isinstance(s, str) else s["sourceServerID"] for w in scenario.plan["waves"] for s in w["servers"]
    )
    started_at = cloud.clock.now()
    execution_id = start_plan(cloud, scenario.plan, execution_id=f"campaign-{scenario.seed}")
    deadline = started_at + timedelta(seconds=sim_bound_seconds)
    end_error: str | None = None

    def done() -> bool:
        return (
            cloud.execution_finished(execution_id)
            or bool(rejected_start(cloud, execution_id))
            or cloud.clock.now() > deadline
        )

    try:
        cloud.run_until(done, timeout=max(1.0, real_timeout - (time.perf_counter() - real_start)))
        cloud.drain()
    except Stalled as exc:
        end_error = f"stalled: {exc}"
    except TimeoutError as exc:
        end_error = f"real-time bound: {exc}"
    except Exception as exc:  # a wave launch state machine that failed, a crash of the loop itself
        end_error = f"{type(exc).__name__}: {exc}"[:500]
    assert cloud.runtime is not None
    ledger = cloud.runtime.ledger
    execution = ledger.get_execution(execution_id)
    status = execution["status"] if execution else ("REJECTED" if rejected_start(cloud, execution_id) else "NOT_FOUND")
    if end_error is None and status not in ENDED and status != "REJECTED":
        end_error = f"not ended within the simulated bound of {sim_bound_seconds:.0f} s (status {status})"
    ended_at = parse_iso(execution["endedAt"]) if execution and execution.get("endedAt") else None
    settled_at = cloud.clock.now()
    run_done = time.perf_counter()
    if status in ENDED and end_error is None:
        try:
            settled_at = _settle(cloud, cloud.clock.now() + timedelta(seconds=SETTLE_SECONDS))
        except Exception as exc:
            end_error = f"after the end: {type(exc).__name__}: {exc}"[:500]
    events = [
        {"detailType": e.detail_type, "time": e.time, "waveId": e.wave_id}
        for e in cloud.events
        if e.detail.get("executionId") in (execution_id, None) and e.source == "drs.orchestrator"
    ]
    report = build_report(ledger, execution_id, events) if execution else None
    execution = ledger.get_execution(execution_id)
    result = RunResult(execution_id, status, report)
    phases = {"settle": time.perf_counter() - run_done}
    sim = cloud.drs
    quotas = sim.config.quotas
    return Observation(
        execution_id=execution_id,
        status=status,
        exit_code=result.exit_code if status in ENDED | {"REJECTED"} else None,
        end_error=end_error,
        report=report,
        execution=execution,
        waves={
            w["waveId"]: {
                **w,
                "servers": {sid: server_item(s) for sid, s in ledger.wave_servers(execution_id, w["waveId"]).items()},
            }
            for w in ledger.list_waves(execution_id)
        },
        jobs=_drs_jobs(cloud, scenario, execution_id),
        quotas={
            "serversPerJob": quotas.servers_per_job,
            "concurrentJobs": quotas.concurrent_jobs,
            "serversInAllJobs": quotas.servers_in_all_jobs,
        },
        drs_calls=dict(sim.stats.calls),
        drs_errors=dict(sim.stats.errors),
        launches=dict(sim.stats.launches),
        terminations=ledger.list_terminations(execution_id),
        dead_letters={k: v for k, v in cloud.dead_letters().items() if v},
        handler_errors=cloud.stats.handler_errors,
        crashes=cloud.stats.crashes_injected,
        duplicated=cloud.stats.duplicated,
        reordered=cloud.stats.reordered,
        events=[(e.detail_type, e.time, e.detail) for e in cloud.events],
        status_changes=changes,
        started_at=started_at,
        ended_at=ended_at,
        settled_at=settled_at,
        sim_seconds=((ended_at or cloud.clock.now()) - started_at).total_seconds(),
        real_seconds=time.perf_counter() - real_start,
        unfinished_schedules=sorted(cloud._schedules),
        phases=phases,
    )
