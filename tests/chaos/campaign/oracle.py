"""The oracle: what must hold after a run, judged from the model's forecast and the run's record.

Each check names its invariant and gives one short message per violation, naming the wave or server and
what was expected against what happened. Timing that the model cannot know (which unrelated waves were
already running when a STOP came) is judged from the run's own timestamps instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.domain.clock import parse_iso
from tests.chaos.campaign.generator import Scenario
from tests.chaos.campaign.model import COMPLETED, FAILED, SKIPPED, Forecast, WaveForecast
from tests.chaos.campaign.model import judge as judge_launch
from tests.chaos.campaign.observe import ENDED, Observation

INVARIANTS = (
    "ends",  # every run ends COMPLETED, FAILED or CANCELLED within a bound (simulated and real time)
    "single-launch",  # no server in two launch jobs; launched exactly when the wave launches
    "dependency-order",  # no wave released or launched before its dependencies completed
    "stop-continue",  # STOP skips what had not started, CONTINUE what is downstream; nothing launches after
    "wave-outcome",  # each wave ends as its servers, criticality, threshold, scripts and gates say
    "plan-status",  # the plan's status follows from its waves' (and the model's)
    "exit-code",  # the run's exit code follows from the status
    "report-matches-drs",  # the report's jobs and launches are the DRS simulator's own record
    "quotas",  # DRS quotas never exceeded, never even asked beyond
    "rollback",  # rollback terminates exactly the failed wave's own instances, and finishes
    "no-silent-failure",  # an event given up after its retries fails its wave with the error as the reason
)
TICK = timedelta(milliseconds=1)  # ledger times have milliseconds
THROTTLE_WORDS = ("throttl", "rate exceeded")


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    wave: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return self.invariant, self.wave

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


def _at(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def _policy(scenario: Scenario, wave_id: str) -> str:
    wave = next(w for w in scenario.plan["waves"] if w["waveId"] == wave_id)
    return str(wave.get("onFailure", scenario.plan.get("defaults", {}).get("onFailure", "STOP")))


def _wave_doc(scenario: Scenario, wave_id: str) -> dict[str, Any]:
    return next(w for w in scenario.plan["waves"] if w["waveId"] == wave_id)


def throttled_out(scenario: Scenario, obs: Observation, wave_id: str) -> bool:
    """A wave failed because DRS throttled it past its retry budget: a legitimate outcome whenever the
    profile throttles (the intended behaviour of issue #11, fault 2), not a model mismatch."""
    item = obs.waves.get(wave_id, {})
    reason = str(item.get("reason") or "").lower()
    rate = float(scenario.profile.get("drs", {}).get("throttleRate", 0.0))
    return rate > 0 and item.get("status") == FAILED and any(w in reason for w in THROTTLE_WORDS)


def cut_by_stop(fc: Forecast, obs: Observation, wave_id: str) -> bool:
    """The plan went STOPPING while this wave was launching and some of its servers never got a job (their
    launch waited for DRS capacity): the wave did not run as a whole, so FAILED or SKIPPED are both
    legitimate, and COMPLETED only if what did launch makes it (issue #11, fault 7e: such a wave was judged
    as if the cut servers had launched)."""
    stopped_at, f = obs.stop_at, fc.waves[wave_id]
    started = _at(obs.waves.get(wave_id, {}).get("launchStartedAt"))
    if stopped_at is None or started is None or started > stopped_at + TICK or not f.launches:
        return False
    return any(obs.launches.get(sid, 0) == 0 for sid in [*f.launched, *f.launch_failed])


# ---- the checks ------------------------------------------------------------------------------------


def check_ends(fc: Forecast, obs: Observation) -> list[Violation]:
    if obs.status == "REJECTED":
        return [Violation("ends", "StartPlan was refused for a valid generated plan")]
    if obs.end_error is None and obs.status in ENDED:
        return []
    open_waves = {
        w: i.get("status") for w, i in sorted(obs.waves.items()) if i.get("status") not in {COMPLETED, FAILED, SKIPPED}
    }
    where = ", ".join(f"{w} {s}" for w, s in open_waves.items()) or "no open wave"
    dead = f"; dead letters {obs.dead_letters}" if obs.dead_letters else ""
    return [
        Violation(
            "ends",
            f"execution {obs.status} did not end: {obs.end_error} ({where}{dead}; "
            f"{obs.sim_seconds:.0f} s simulated, bound {fc.sim_bound_seconds:.0f} s)",
        )
    ]


def _launch_participations(obs: Observation) -> dict[str, list[tuple[str, str]]]:
    """server -> [(job id, wave id)] of every launch job of this execution that includes it."""
    seen: dict[str, list[tuple[str, str]]] = {}
    for job in obs.jobs:
        if job.kind != "LAUNCH":
            continue
        for p in job.participants:
            seen.setdefault(p.source_server_id, []).append((job.job_id, str(job.wave_id)))
    return seen


def check_single_launch(scenario: Scenario, fc: Forecast, obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    jobs = _launch_participations(obs)
    for sid, n in sorted(obs.launches.items()):
        if n > 1:
            waves = sorted({w for _, w in jobs.get(sid, [])})
            out.append(
                Violation(
                    "single-launch",
                    f"server {sid} ({', '.join(waves)}) launched {n} times "
                    f"in jobs {[j for j, _ in jobs.get(sid, [])]}, expected once",
                    waves[0] if waves else None,
                )
            )
    if obs.end_error is not None:
        return out  # an unfinished run is reported by `ends`; what did not launch yet is not judged
    stopped_at = obs.stop_at
    for wave_id, f in fc.waves.items():
        status = obs.waves.get(wave_id, {}).get("status")
        sids = [s if isinstance(s, str) else s["sourceServerID"] for s in _wave_doc(scenario, wave_id)["servers"]]
        counts = {sid: obs.launches.get(sid, 0) for sid in sids}
        if status == SKIPPED or not f.launches:
            launched = sorted(sid for sid, n in counts.items() if n)
            if launched:
                why = "the wave is SKIPPED" if status == SKIPPED else f"the wave must fail before launch ({f.reason})"
                out.append(
                    Violation("single-launch", f"{wave_id}: servers {launched} launched although {why}", wave_id)
                )
            continue
        if status not in {COMPLETED, FAILED} or not obs.waves.get(wave_id, {}).get("launchStartedAt"):
            continue
        # a plan that stopped fails the launches still waiting for capacity; throttling may exhaust retries
        loose = throttled_out(scenario, obs, wave_id) or stopped_at is not None
        missing = sorted(sid for sid, n in counts.items() if n == 0)
        if missing and not loose:
            out.append(
                Violation(
                    "single-launch", f"{wave_id} ({status}): servers {missing} never launched, expected once", wave_id
                )
            )
    return out


def check_dependency_order(fc: Forecast, obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    for wave_id, deps in fc.dependencies.items():
        item = obs.waves.get(wave_id, {})
        first_job = min((j.created_at for j in obs.jobs_of(wave_id)), default=None)
        ready = _at(item.get("readyAt"))
        for dep in deps:
            upstream = obs.waves.get(dep, {})
            met = _at(upstream.get("completedAt"))
            if first_job is not None and (upstream.get("status") != COMPLETED or met is None or first_job + TICK < met):
                out.append(
                    Violation(
                        "dependency-order",
                        f"{wave_id} launched a DRS job at {first_job:%H:%M:%S.%f} "
                        f"although {dep} is {upstream.get('status')} "
                        f"(completed {upstream.get('completedAt')})",
                        wave_id,
                    )
                )
            if ready is not None and (met is None or ready + TICK < met) and not upstream.get("skippedBy"):
                out.append(
                    Violation(
                        "dependency-order",
                        f"{wave_id} ready at {item.get('readyAt')} before {dep} "
                        f"completed ({upstream.get('status')}, "
                        f"{upstream.get('completedAt')})",
                        wave_id,
                    )
                )
        for earlier, later in (("readyAt", "preLaunchAt"), ("preLaunchAt", "launchStartedAt")):
            a, b = _at(item.get(earlier)), _at(item.get(later))
            if a is not None and b is not None and b + TICK < a:
                out.append(
                    Violation(
                        "dependency-order",
                        f"{wave_id}: {later} {item.get(later)} before {earlier} {item.get(earlier)}",
                        wave_id,
                    )
                )
        started = _at(item.get("launchStartedAt"))
        if first_job is not None and (started is None or first_job + TICK < started):
            out.append(
                Violation(
                    "dependency-order",
                    f"{wave_id}: a DRS job at {first_job:%H:%M:%S.%f} before the "
                    f"wave started launching ({item.get('launchStartedAt')})",
                    wave_id,
                )
            )
    return out


def check_stop_continue(scenario: Scenario, fc: Forecast, obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    statuses = {w: i.get("status") for w, i in obs.waves.items()}
    failed = [w for w in fc.order if statuses.get(w) == FAILED]
    for wave_id in failed:
        if _policy(scenario, wave_id) != "CONTINUE":
            continue
        for below in sorted(fc.descendants[wave_id]):
            if statuses.get(below) != SKIPPED:
                out.append(
                    Violation(
                        "stop-continue",
                        f"{below} is {statuses.get(below)} although upstream {wave_id} FAILED with onFailure CONTINUE",
                        below,
                    )
                )
    stop_sources = [w for w in failed if _policy(scenario, w) == "STOP"]
    stopped_at = obs.stop_at
    if stop_sources and obs.status in ENDED:
        if obs.status != FAILED:
            out.append(
                Violation("stop-continue", f"{stop_sources[0]} FAILED with onFailure STOP but the plan is {obs.status}")
            )
        if stopped_at is None:
            # the plan closed before the STOP was applied (every other wave had ended: a CONTINUE skipped the
            # rest, say): nothing was left to stop, but nothing may have started after the STOP wave failed
            ended = [_at(obs.waves.get(w, {}).get("endedAt")) for w in stop_sources]
            stopped_at = min((e for e in ended if e is not None), default=None)
            if stopped_at is None:
                out.append(
                    Violation(
                        "stop-continue",
                        f"{stop_sources[0]} FAILED with onFailure STOP but the plan never went STOPPING",
                    )
                )
    if stopped_at is not None:
        for wave_id in fc.order:
            item = obs.waves.get(wave_id, {})
            started = _at(item.get("launchStartedAt"))
            if started is not None and started > stopped_at + TICK:
                out.append(
                    Violation(
                        "stop-continue",
                        f"{wave_id} started launching at {item.get('launchStartedAt')}"
                        f", after the plan went STOPPING at {stopped_at:%H:%M:%S.%f}",
                        wave_id,
                    )
                )
            pre = _at(item.get("preLaunchAt"))
            if (pre is None or pre > stopped_at + TICK) and statuses.get(wave_id) == COMPLETED:
                out.append(
                    Violation(
                        "stop-continue",
                        f"{wave_id} COMPLETED although it had not started when the "
                        f"plan went STOPPING at {stopped_at:%H:%M:%S.%f}",
                        wave_id,
                    )
                )
    for wave_id in fc.order:
        if statuses.get(wave_id) != SKIPPED:
            continue
        if obs.jobs_of(wave_id):
            out.append(
                Violation(
                    "stop-continue",
                    f"{wave_id} is SKIPPED but has DRS launch jobs {[j.job_id for j in obs.jobs_of(wave_id)]}",
                    wave_id,
                )
            )
        upstream_lost = any(statuses.get(d) != COMPLETED for d in fc.dependencies[wave_id])
        if not upstream_lost and stopped_at is None:
            out.append(
                Violation(
                    "stop-continue",
                    f"{wave_id} SKIPPED although its dependencies completed and the plan never stopped",
                    wave_id,
                )
            )
    return out


def reason_fits(f: WaveForecast, reason: str) -> bool:
    """Does a FAILED wave's recorded reason name what the model says failed it?"""
    text = reason.lower()
    if f.stage == "approval":
        return "approval" in text and (("denied" in text) if f.reason == "approval denied" else "deadline" in text)
    if f.stage in {"pre-launch", "post-launch", "health-check"}:
        return f.step.lower() in text
    if f.stage == "launch":
        return "launch" in text
    if f.stage == "throttled":
        return any(word in text for word in THROTTLE_WORDS)
    return True


def decision_held_back(obs: Observation, wave_id: str) -> bool:
    """The simulated approver's decision reached the control function only after the wave had failed
    (ControlRejected: not awaiting approval): a delivery the profile held back (faults.reorderDelivery)
    until later ones went out, and when nothing else happens until the deadline, the ApprovalTimeout tick
    is the next delivery. Its deadline reason is then right: the decision was late in processing order."""
    return obs.reordered > 0 and any(
        kind == "ControlRejected"
        and d.get("waveId") == wave_id
        and str(d.get("requestedBy")).endswith("/simulated-approver")  # a session of the approver's role
        and "not awaiting approval" in str(d.get("reason"))
        for kind, _, d in obs.events
    )


def _launch_outcomes(obs: Observation, wave_id: str) -> dict[str, str]:
    return {p.source_server_id: p.outcome for job in obs.jobs_of(wave_id) for p in job.participants}


def check_wave_outcome(scenario: Scenario, fc: Forecast, obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    if obs.status not in ENDED:
        return out  # `ends` reports an unfinished run; its open waves are not outcomes yet
    for wave_id in fc.order:
        f = fc.waves[wave_id]
        item = obs.waves.get(wave_id, {})
        actual = item.get("status")
        allowed = fc.possible[wave_id]
        if cut_by_stop(fc, obs, wave_id):
            # what did launch is judged, the servers the STOP cut counting as not launched; a wave with
            # nothing launched is not COMPLETED (fault 7e: it was judged as if the cut servers had launched)
            wave = _wave_doc(scenario, wave_id)
            servers = [
                (s, None) if isinstance(s, str) else (s["sourceServerID"], s.get("criticality"))
                for s in wave["servers"]
            ]
            outcomes = _launch_outcomes(obs, wave_id)
            up = {sid for sid, outcome in outcomes.items() if outcome == "LAUNCHED"}
            passes, _ = judge_launch(servers, wave.get("successThreshold"), {sid for sid, _ in servers} - up)
            if actual == COMPLETED and not (passes and up):
                out.append(
                    Violation(
                        "wave-outcome",
                        f"{wave_id} COMPLETED although the STOP cancelled the launch "
                        f"of some of its servers (they waited for DRS capacity) and "
                        f"what launched ({sorted(up)}) does not make it",
                        wave_id,
                    )
                )
            continue
        if actual not in allowed:
            if throttled_out(scenario, obs, wave_id):
                continue
            expected = "/".join(sorted(allowed))
            why = f" ({f.reason})" if f.reason and FAILED in allowed else ""
            if allowed == {SKIPPED}:
                why = " (an upstream wave did not complete)"
            got = f" ({item.get('reason')})" if item.get("reason") else ""
            out.append(Violation("wave-outcome", f"{wave_id}: expected {expected}{why}, got {actual}{got}", wave_id))
            continue
        if actual == FAILED and not item.get("reason"):
            out.append(Violation("wave-outcome", f"{wave_id} FAILED without a reason", wave_id))
        elif (
            actual == FAILED
            and f.status == FAILED
            and not reason_fits(f, str(item["reason"]))
            and not (f.stage == "approval" and decision_held_back(obs, wave_id))
            and not throttled_out(scenario, obs, wave_id)
        ):
            out.append(
                Violation(
                    "wave-outcome",
                    f"{wave_id} FAILED for another reason: expected {f.stage} ({f.reason}), got {item['reason']!r}",
                    wave_id,
                )
            )
        outcomes = _launch_outcomes(obs, wave_id)
        if actual in {COMPLETED, FAILED} and outcomes:
            wrong = sorted(sid for sid in f.launched if outcomes.get(sid, "LAUNCHED") != "LAUNCHED")
            wrong += sorted(sid for sid in f.launch_failed if outcomes.get(sid, "FAILED") != "FAILED")
            if wrong:
                out.append(
                    Violation(
                        "wave-outcome", f"{wave_id}: servers {wrong} launched otherwise than the profile says", wave_id
                    )
                )
        if actual == COMPLETED and f.launches:
            ledger_servers = item.get("servers", {})
            launched = sorted(s for s, v in ledger_servers.items() if v.get("launchStatus") == "LAUNCHED")
            if launched != sorted(f.launched):
                out.append(
                    Violation(
                        "wave-outcome",
                        f"{wave_id} COMPLETED with launched {launched}, expected {sorted(f.launched)}",
                        wave_id,
                    )
                )
    return out


def check_plan_status(fc: Forecast, obs: Observation, scenario: Scenario) -> list[Violation]:
    out: list[Violation] = []
    if obs.status not in ENDED:
        return out
    statuses = {w: i.get("status") for w, i in obs.waves.items()}
    tolerated = any(throttled_out(scenario, obs, w) for w in fc.order)
    if obs.status not in fc.plan_statuses and not (tolerated and obs.status == FAILED):
        out.append(Violation("plan-status", f"plan expected {'/'.join(sorted(fc.plan_statuses))}, got {obs.status}"))
    all_completed = all(statuses.get(w) == COMPLETED for w in fc.order)
    if (obs.status == COMPLETED) != all_completed:
        out.append(Violation("plan-status", f"plan {obs.status} with waves { {w: statuses.get(w) for w in fc.order} }"))
    if obs.status == FAILED and FAILED not in statuses.values():
        out.append(Violation("plan-status", "plan FAILED without a FAILED wave"))
    ended = _at(obs.execution.get("endedAt")) if obs.execution else None
    for wave_id, item in obs.waves.items():
        wave_end = _at(item.get("endedAt"))
        if ended is not None and wave_end is not None and wave_end > ended + TICK:
            plan_end = obs.execution.get("endedAt") if obs.execution else None
            out.append(
                Violation(
                    "plan-status", f"{wave_id} ended at {item.get('endedAt')}, after the plan ({plan_end})", wave_id
                )
            )
    closing = [
        e
        for e in obs.events
        if e[0] in {"PlanCompleted", "PlanFailed", "PlanCancelled"} and e[2].get("executionId") == obs.execution_id
    ]
    if len(closing) != 1 or closing[0][0] != f"Plan{obs.status.title()}":
        out.append(
            Violation("plan-status", f"closing events {[e[0] for e in closing]}, expected one Plan{obs.status.title()}")
        )
    return out


def check_exit_code(obs: Observation) -> list[Violation]:
    if obs.status not in ENDED:
        return []
    expected = 0 if obs.status == COMPLETED else 1
    if obs.exit_code != expected:
        return [Violation("exit-code", f"exit code {obs.exit_code} for a {obs.status} plan, expected {expected}")]
    return []


def check_report(obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    if obs.status not in ENDED:
        return out
    if obs.report is None:
        return [Violation("report-matches-drs", "no report for an ended execution")]
    if obs.report.get("status") != obs.status:
        out.append(Violation("report-matches-drs", f"report status {obs.report.get('status')}, ledger {obs.status}"))
    reported = {w["waveId"]: w for w in obs.report.get("waves", [])}
    for wave_id in sorted(set(reported) | {j.wave_id for j in obs.jobs if j.kind == "LAUNCH" and j.wave_id}):
        wave = reported.get(wave_id, {"jobs": [], "servers": []})
        real = {j.job_id: j for j in obs.jobs_of(wave_id)}
        jobs = {j["jobId"]: j for j in wave.get("jobs", []) if not str(j["jobId"]).startswith("not-started-")}
        if set(jobs) != set(real):
            out.append(
                Violation(
                    "report-matches-drs", f"{wave_id}: report jobs {sorted(jobs)}, DRS jobs {sorted(real)}", wave_id
                )
            )
        for job_id in sorted(set(jobs) & set(real)):
            servers = sorted(p.source_server_id for p in real[job_id].participants)
            if sorted(jobs[job_id].get("sourceServerIds", [])) != servers:
                out.append(
                    Violation(
                        "report-matches-drs",
                        f"{wave_id}: job {job_id} has servers "
                        f"{jobs[job_id].get('sourceServerIds')} in the report, "
                        f"{servers} at DRS",
                        wave_id,
                    )
                )
        in_drs = {
            p.source_server_id: (p.outcome, p.instance_id, j.job_id) for j in real.values() for p in j.participants
        }
        for server in wave.get("servers", []):
            sid = server["sourceServerId"]
            if sid not in in_drs:
                if server.get("launchStatus") == "LAUNCHED":
                    out.append(
                        Violation(
                            "report-matches-drs", f"{wave_id}: {sid} LAUNCHED in the report, in no DRS job", wave_id
                        )
                    )
                continue
            outcome, instance, job_id = in_drs[sid]
            if server.get("launchStatus") != outcome:
                out.append(
                    Violation(
                        "report-matches-drs",
                        f"{wave_id}: {sid} {server.get('launchStatus')} in the report, {outcome} in DRS job {job_id}",
                        wave_id,
                    )
                )
            elif outcome == "LAUNCHED" and server.get("recoveryInstanceId") != instance:
                out.append(
                    Violation(
                        "report-matches-drs",
                        f"{wave_id}: {sid} recovery instance "
                        f"{server.get('recoveryInstanceId')} in the report, "
                        f"{instance} at DRS",
                        wave_id,
                    )
                )
        missing = sorted(set(in_drs) - {s["sourceServerId"] for s in wave.get("servers", [])})
        if missing:
            out.append(
                Violation("report-matches-drs", f"{wave_id}: DRS launched {missing}, absent from the report", wave_id)
            )
    return out


def check_quotas(obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    quotas = obs.quotas
    far = datetime.max.replace(tzinfo=obs.started_at.tzinfo)
    sizes: dict[str, int] = {}  # a packed job is observed once per wave sharing it: its servers, summed
    for job in obs.jobs:
        sizes[job.job_id] = sizes.get(job.job_id, 0) + len(job.participants)
    for job in obs.jobs:
        if job.kind == "LAUNCH" and sizes[job.job_id] > quotas["serversPerJob"]:
            out.append(
                Violation(
                    "quotas",
                    f"job {job.job_id} ({job.wave_id}) has {sizes[job.job_id]} servers, "
                    f"quota {quotas['serversPerJob']}",
                    job.wave_id,
                )
            )
        active = {j.job_id for j in obs.jobs if j.created_at <= job.created_at < (j.ended_at or far)}
        servers = sum(sizes[job_id] for job_id in active)
        if len(active) > quotas["concurrentJobs"] or servers > quotas["serversInAllJobs"]:
            out.append(
                Violation(
                    "quotas",
                    f"at {job.created_at:%H:%M:%S} {len(active)} jobs with {servers} servers "
                    f"were active (quotas {quotas['concurrentJobs']} jobs, "
                    f"{quotas['serversInAllJobs']} servers)",
                    job.wave_id,
                )
            )
    refused = obs.drs_errors.get("ServiceQuotaExceededException", 0)
    if refused:
        out.append(
            Violation("quotas", f"DRS refused {refused} call(s) over its quotas: the orchestrator asked beyond them")
        )
    return out


def check_rollback(scenario: Scenario, obs: Observation) -> list[Violation]:
    out: list[Violation] = []
    owner: dict[str, str] = {}  # recovery instance -> wave that launched it
    for job in obs.jobs:
        if job.kind == "LAUNCH":
            for p in job.participants:
                if p.outcome == "LAUNCHED" and p.instance_id:
                    owner[p.instance_id] = str(job.wave_id)
    terminated: dict[str, list[str]] = {}
    for job in obs.jobs:
        if job.kind == "TERMINATE":
            for p in job.participants:
                if p.instance_id:
                    terminated.setdefault(p.instance_id, []).append(job.job_id)
            if job.ended_at is None:
                out.append(
                    Violation(
                        "rollback",
                        f"terminate job {job.job_id} still running "
                        f"{(obs.settled_at - job.created_at).total_seconds():.0f} s after "
                        "it started",
                    )
                )
    statuses = {w: i.get("status") for w, i in obs.waves.items()}
    for wave in scenario.plan["waves"]:
        wave_id = wave["waveId"]
        own = {i for i, w in owner.items() if w == wave_id}
        gone = {i for i in own if i in terminated}
        expected = own if wave.get("rollback") == "TERMINATE" and statuses.get(wave_id) == FAILED else set()
        if gone != expected:
            kept = sorted(expected - gone)
            extra = sorted(gone - expected)
            what = []
            if kept:
                what.append(f"kept {kept} (rollback TERMINATE of a FAILED wave)")
            if extra:
                what.append(
                    f"terminated {extra} (wave {statuses.get(wave_id)}, rollback {wave.get('rollback', 'NONE')})"
                )
            out.append(Violation("rollback", f"{wave_id}: " + "; ".join(what), wave_id))
    strangers = sorted(i for i in terminated if i not in owner)
    if strangers:
        out.append(Violation("rollback", f"terminated instances no wave of this execution launched: {strangers}"))
    twice = sorted(i for i, jobs in terminated.items() if len(jobs) > 1)
    if twice:
        out.append(Violation("rollback", f"instances in more than one terminate job: {twice}"))
    return out


HANDLER_GAVE_UP = "could not be handled"  # how a wave failed by a handler's exhausted retries says so


def check_dead_letters(obs: Observation) -> list[Violation]:
    """A handler failure that repeats is never silent: once an event has used up its deliveries (it is in a
    dead-letter queue), a wave must have failed naming it."""
    if not obs.dead_letters:
        return []
    if any(HANDLER_GAVE_UP in str(item.get("reason") or "") for item in obs.waves.values()):
        return []
    return [
        Violation(
            "no-silent-failure",
            f"events dead-lettered after their retries, and no wave failed naming the error: {obs.dead_letters}",
        )
    ]


def judge(scenario: Scenario, fc: Forecast, obs: Observation) -> list[Violation]:
    """Every violation of the run, in invariant order."""
    return [
        *check_ends(fc, obs),
        *check_single_launch(scenario, fc, obs),
        *check_dependency_order(fc, obs),
        *check_stop_continue(scenario, fc, obs),
        *check_wave_outcome(scenario, fc, obs),
        *check_plan_status(fc, obs, scenario),
        *check_exit_code(obs),
        *check_report(obs),
        *check_quotas(obs),
        *check_rollback(scenario, obs),
        *check_dead_letters(obs),
    ]
