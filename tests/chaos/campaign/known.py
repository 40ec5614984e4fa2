"""Known root causes: signatures that tie a violation to a fault already traced in the product's code.

Each cause is matched from evidence in the run's record (not from the seed number), so a fixed fault
stops matching by itself and an unknown fault is never hidden behind a known one: a cause claims only
the violations its evidence explains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.chaos.campaign.generator import Scenario
from tests.chaos.campaign.model import Forecast
from tests.chaos.campaign.observe import Observation
from tests.chaos.campaign.oracle import Violation


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    where: str
    matches: Callable[[Scenario, Forecast, Observation, Violation], bool]


def _throttle(scenario: Scenario) -> float:
    return float(scenario.profile.get("drs", {}).get("throttleRate", 0.0))


def _fault(scenario: Scenario, name: str) -> float:
    return float(scenario.profile.get("faults", {}).get(name, 0.0))


def _open_waves(obs: Observation, *statuses: str) -> list[str]:
    return [w for w, item in obs.waves.items() if item.get("status") in statuses]


def _throttled_dead_letter(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 2a: a handler that meets DRS throttling raises, its event is redelivered five times and
    dead-lettered; nothing fails the wave, so the plan never ends (every wave stays READY/PRE_LAUNCH)."""
    return (v.invariant in {"ends", "no-dead-letter"} and _throttle(scenario) > 0 and bool(obs.dead_letters)
            and obs.drs_errors.get("ThrottlingException", 0) > 0 and not _open_waves(obs, "POST_LAUNCH"))


def _post_launch_throttled(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7a: a post-launch script resolving its targets meets DescribeRecoveryInstances throttled; the
    redelivered DRSJobCompleted does nothing (only LAUNCHING is accepted), the wave stays POST_LAUNCH."""
    return (v.invariant in {"ends", "no-dead-letter"} and _throttle(scenario) > 0
            and bool(_open_waves(obs, "POST_LAUNCH", "LAUNCHED")))


def _terminate_capacity_never_released(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7b: a finished terminate job stays counted in the shared DRS capacity (the reconcile runs only
    when a launch is blocked): a rollback needing more capacity than is free re-checks every 15 s forever."""
    looping = any(name.startswith("terminate-") for name in obs.unfinished_schedules)
    return v.invariant == "rollback" and "kept" in v.message and looping


def _replay_rewrites_times(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """A redelivered event's REPLAY writes the transition's `sets` again (orchestrator/ledger.py
    `_conditional`): a duplicated PreLaunchDone moves the wave's launchStartedAt after its first DRS job
    (and sets jobsDone back to 0)."""
    duplicated = _fault(scenario, "duplicateDelivery") > 0 or _fault(scenario, "crashAfterStartRecovery") > 0
    return (v.invariant == "dependency-order" and "before the wave started launching" in v.message
            and duplicated)


def _stop_cut_launch_completed(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 7e: a launch cancelled by STOP while it waited for capacity is judged as if it had launched."""
    return v.invariant == "wave-outcome" and "the STOP cancelled the launch" in v.message


def _parked_relaunch_after_crash(scenario: Scenario, fc: Forecast, obs: Observation, v: Violation) -> bool:
    """Fault 1: the parked path (CapacityTick -> drain -> start_job) does not find its job after a crash
    after StartRecovery: the claim is PARKED without mayHaveStarted, so the redelivered tick starts it again."""
    return (v.invariant in {"single-launch", "ends", "no-dead-letter"}
            and _fault(scenario, "crashAfterStartRecovery") > 0 and obs.crashes > 0
            and any(n > 1 for n in obs.launches.values()))


CAUSES: list[Cause] = [
    Cause("F1-parked-relaunch", "a parked launch is started again after a crash after StartRecovery",
          "orchestrator/launcher.py drain -> start_job -> _existing_job", _parked_relaunch_after_crash),
    Cause("F2a-throttle-dead-letter", "DRS throttling past the redelivery budget dead-letters the event and the "
          "plan never ends", "orchestrator/preflight.py check_servers re-raises; localcloud MAX_RECEIVE",
          _throttled_dead_letter),
    Cause("F7a-post-launch-throttled", "post-launch target resolution throttled: the wave stays POST_LAUNCH",
          "orchestrator/scripts.py _recovery_instances; phases.on_job_completed", _post_launch_throttled),
    Cause("F7b-terminate-capacity", "a finished terminate job's capacity is never released: the rollback "
          "re-checks every 15 s forever", "orchestrator/cleanup.py _terminate_job; capacity.reconcile",
          _terminate_capacity_never_released),
    Cause("F7e-stop-cut-launch", "a launch cut by STOP while parked is judged as launched",
          "orchestrator/launcher.py drain -> chunk_failed; phases.judge_launch", _stop_cut_launch_completed),
    Cause("replay-rewrites-times", "a replayed transition rewrites the times it set",
          "orchestrator/ledger.py _conditional / launcher.prepare", _replay_rewrites_times),
]


def classify(scenario: Scenario, fc: Forecast, obs: Observation, violations: list[Violation]) -> dict[int, str]:
    """Index of each violation a known cause explains -> the cause's id."""
    found: dict[int, str] = {}
    for index, violation in enumerate(violations):
        for cause in CAUSES:
            if cause.matches(scenario, fc, obs, violation):
                found[index] = cause.id
                break
    return found


def describe(cause_id: str) -> str:
    for cause in CAUSES:
        if cause.id == cause_id:
            return f"{cause.title} ({cause.where})"
    return cause_id
