"""Known root causes: signatures that tie a violation to a fault already traced in the product's code.

Each cause is matched from evidence in the run's record (not from the seed number), so a fixed fault
stops matching by itself and an unknown fault is never hidden behind a known one: a cause claims only
the violations its evidence explains.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

from tests.chaos.campaign.generator import Scenario
from tests.chaos.campaign.model import Forecast, forecast
from tests.chaos.campaign.observe import Observation
from tests.chaos.campaign.oracle import Violation, judge

Matcher = Callable[[Scenario, Forecast, Observation, Violation], bool]
Adjuster = Callable[[Scenario, Observation], Scenario | None]


@dataclass(frozen=True)
class Cause:
    """A traced fault. `matches`: the violation itself carries the evidence. `adjust`: the run shows the
    fault happened (e.g. a script reported TimedOut that finished in time); the scenario rewritten as the
    fault made it behave is judged again, and the violations that vanish are the fault's consequences
    (its own wave's outcome, the dependents it skipped, the plan's status)."""

    id: str
    title: str
    where: str
    matches: Matcher | None = None
    adjust: Adjuster | None = None


def _throttle(scenario: Scenario) -> float:
    return float(scenario.profile.get("drs", {}).get("throttleRate", 0.0))


def _fault(scenario: Scenario, name: str) -> float:
    return float(scenario.profile.get("faults", {}).get(name, 0.0))


def _open_waves(obs: Observation, *statuses: str) -> list[str]:
    return [w for w, item in obs.waves.items() if item.get("status") in statuses]


def _throttled_dead_letter(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 2a: a handler that meets DRS throttling raises, its event is redelivered five times and
    dead-lettered; nothing fails the wave, so the plan never ends (every wave stays READY/PRE_LAUNCH)."""
    return (
        v.invariant in {"ends", "no-silent-failure"}
        and _throttle(scenario) > 0
        and bool(obs.dead_letters)
        and obs.drs_errors.get("ThrottlingException", 0) > 0
        and not _open_waves(obs, "POST_LAUNCH")
    )


def _post_launch_throttled(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7a: a post-launch script resolving its targets meets DescribeRecoveryInstances throttled; the
    redelivered DRSJobCompleted does nothing (only LAUNCHING is accepted), the wave stays POST_LAUNCH."""
    return (
        v.invariant in {"ends", "no-silent-failure"}
        and _throttle(scenario) > 0
        and bool(_open_waves(obs, "POST_LAUNCH", "LAUNCHED"))
    )


def _terminate_capacity_never_released(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7b: a finished terminate job stays counted in the shared DRS capacity (the reconcile runs only
    when a launch is blocked): a rollback needing more capacity than is free re-checks every 15 s forever."""
    looping = any(name.startswith("terminate-") for name in obs.unfinished_schedules)
    return v.invariant == "rollback" and "kept" in v.message and looping


def _replay_rewrites_times(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """A redelivered event's REPLAY writes the transition's `sets` again (orchestrator/adapters/ledger/transitions.py
    `_transition`): a duplicated PreLaunchDone moves the wave's launchStartedAt after its first DRS job
    (and sets jobsDone back to 0)."""
    duplicated = _fault(scenario, "duplicateDelivery") > 0 or _fault(scenario, "crashAfterStartRecovery") > 0
    return v.invariant == "dependency-order" and "before the wave started launching" in v.message and duplicated


def _stop_cut_launch_completed(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7e: a launch cancelled by STOP while it waited for capacity is judged as if it had launched."""
    return v.invariant == "wave-outcome" and "the STOP cancelled the launch" in v.message


def _parked_relaunch_after_crash(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 1: the parked path (CapacityTick -> drain -> start_job) does not find its job after a crash
    after StartRecovery: the claim is PARKED without mayHaveStarted, so the redelivered tick starts it again
    (once the first job has ended: while it runs, DRS's ConflictException leads to it by tag). The report
    then names one of the jobs only."""
    if _fault(scenario, "crashAfterStartRecovery") <= 0 or obs.crashes == 0:
        return False
    relaunched = {
        j.wave_id
        for j in obs.jobs
        if j.kind == "LAUNCH"
        for p in j.participants
        if obs.launches.get(p.source_server_id, 0) > 1
    }
    if not relaunched:
        return False
    return (v.invariant in {"single-launch", "report-matches-drs"} and v.wave in relaunched) or (
        v.invariant in {"ends", "no-silent-failure"} and "capacity" in obs.dead_letters
    )


def _lost_ssm_events_time_out(scenario: Scenario, obs: Observation) -> Scenario | None:
    """Fault 7d: with the SSM completion events lost, a script that finished within its timeout is concluded
    TimedOut when the timeout tick comes before (or with) the poll that would have seen it: `_time_out`
    always concludes TimedOut without reading the invocations' final status. The scenario as it behaved:
    those documents outlive their timeout."""
    ssm = scenario.profile.get("ssm", {})
    if ssm.get("events") != "drop":
        return None
    documents = ssm.get("documents", {})
    timeouts = {
        script["documentName"]: int(script["timeoutSeconds"])
        for wave in scenario.plan["waves"]
        for script in [
            *wave.get("preLaunch", []),
            *wave.get("postLaunch", []),
            *([wave["healthCheck"]] if wave.get("healthCheck") else []),
        ]
    }
    misjudged = sorted(
        {
            summary["documentName"]
            for item in obs.waves.values()
            for summary in item.get("scripts", [])
            if summary.get("status") == "TimedOut"
            and summary.get("documentName") in documents
            and float(documents[summary["documentName"]].get("durationSeconds", 5))
            < timeouts.get(summary["documentName"], 0)
            and documents[summary["documentName"]].get("status") != "TimedOut"
        }
    )
    if not misjudged:
        return None
    profile = copy.deepcopy(scenario.profile)
    for name in misjudged:
        profile["ssm"]["documents"][name] = {"status": "Success", "durationSeconds": timeouts[name] + 60}
    return replace(scenario, profile=profile)


def _late_timeout_tick(scenario: Scenario, obs: Observation) -> Scenario | None:
    """Found by the campaign (not in issue #11's list): a script whose invocation ran past its plan timeout
    is judged Success when the timeout tick arrives after the invocation ended (here held back by
    faults.reorderDelivery): `_check` and `_time_out` judge an ended invocation by its status only, never
    by its finish time against the deadline. The scenario as it behaved: those documents finish in time."""
    documents = scenario.profile.get("ssm", {}).get("documents", {})
    timeouts = {
        script["documentName"]: int(script["timeoutSeconds"])
        for wave in scenario.plan["waves"]
        for script in [
            *wave.get("preLaunch", []),
            *wave.get("postLaunch", []),
            *([wave["healthCheck"]] if wave.get("healthCheck") else []),
        ]
    }
    overran = sorted(
        {
            summary["documentName"]
            for item in obs.waves.values()
            for summary in item.get("scripts", [])
            if summary.get("status") in {"Success", "Failed"}
            and summary.get("documentName") in documents
            and float(documents[summary["documentName"]].get("durationSeconds", 5))
            >= timeouts.get(summary["documentName"], 10**9)
        }
    )
    if not overran:
        return None
    profile = copy.deepcopy(scenario.profile)
    for name in overran:
        profile["ssm"]["documents"][name] = {**documents[name], "durationSeconds": max(1, timeouts[name] - 20)}
    return replace(scenario, profile=profile)


CAUSES: list[Cause] = [
    Cause(
        "N1-late-timeout-tick",
        "a script that ran past its timeoutSeconds is judged by its status when the timeout tick comes late",
        "orchestrator/steps/scripts.py _check and _time_out (no finish time vs deadline)",
        adjust=_late_timeout_tick,
    ),
    Cause(
        "F7d-lost-ssm-events-timed-out",
        "with the SSM events lost, a script that finished in time is concluded TimedOut",
        "orchestrator/steps/scripts.py _time_out (poll tick and timeout tick collide)",
        adjust=_lost_ssm_events_time_out,
    ),
    Cause(
        "F1-parked-relaunch",
        "a parked launch is started again after a crash after StartRecovery",
        "orchestrator/steps/launch_wave.py drain -> start_job -> _existing_job",
        matches=_parked_relaunch_after_crash,
    ),
    Cause(
        "F2a-throttle-dead-letter",
        "DRS throttling past the redelivery budget dead-letters the event and the plan never ends",
        "orchestrator/steps/preflight.py check_servers re-raises; localcloud MAX_RECEIVE",
        matches=_throttled_dead_letter,
    ),
    Cause(
        "F7a-post-launch-throttled",
        "post-launch target resolution throttled: the wave stays POST_LAUNCH",
        "orchestrator/steps/scripts.py _recovery_instances; post_launch.on_job_completed",
        matches=_post_launch_throttled,
    ),
    Cause(
        "F7b-terminate-capacity",
        "a finished terminate job's capacity is never released: the rollback re-checks every 15 s forever",
        "orchestrator/steps/cleanup.py _terminate_job; capacity.reconcile",
        matches=_terminate_capacity_never_released,
    ),
    Cause(
        "F7e-stop-cut-launch",
        "a launch cut by STOP while parked is judged as launched",
        "orchestrator/steps/launch_wave.py drain -> chunk_failed; launch_judgement.judge_launch",
        matches=_stop_cut_launch_completed,
    ),
    Cause(
        "replay-rewrites-times",
        "a replayed transition rewrites the times it set",
        "orchestrator/adapters/ledger/transitions.py _transition / launch_wave.prepare",
        matches=_replay_rewrites_times,
    ),
]


def classify(scenario: Scenario, fc: Forecast, obs: Observation, violations: list[Violation]) -> dict[int, str]:
    """Index of each violation a known cause explains -> the cause's id."""
    found: dict[int, str] = {}
    for cause in CAUSES:
        adjusted = cause.adjust(scenario, obs) if cause.adjust else None
        if adjusted is None:
            continue
        remaining = {v.key for v in judge(adjusted, forecast(adjusted.plan, adjusted.profile), obs)}
        for index, violation in enumerate(violations):
            if index not in found and violation.key not in remaining:
                found[index] = cause.id
    for index, violation in enumerate(violations):
        if index in found:
            continue
        for cause in CAUSES:
            if cause.matches is not None and cause.matches(scenario, fc, obs, violation):
                found[index] = cause.id
                break
    return found


def describe(cause_id: str) -> str:
    for cause in CAUSES:
        if cause.id == cause_id:
            return f"{cause.title} ({cause.where})"
    return cause_id
