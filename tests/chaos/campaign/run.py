"""One seed end to end: generate, forecast, run on the local cloud, judge, attribute."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field

from tests.chaos.campaign import known
from tests.chaos.campaign.generator import Scenario, generate
from tests.chaos.campaign.model import DECIDED, PENDING_RULES, Forecast, forecast
from tests.chaos.campaign.observe import Observation, run_scenario
from tests.chaos.campaign.oracle import Violation, judge

REAL_TIMEOUT = 300.0  # real seconds one run may take before it counts as not ending (a loaded machine)


@dataclass
class SeedResult:
    seed: int
    topology: str
    features: list[str]
    status: str
    real_seconds: float
    sim_seconds: float
    violations: list[Violation] = field(default_factory=list)  # explained by nothing known
    pending: list[tuple[Violation, str]] = field(default_factory=list)  # (violation, the old rule that explains it)
    known: list[tuple[Violation, str]] = field(default_factory=list)  # (violation, known root cause id)
    error: str | None = None  # the campaign itself failed on this seed
    phases: dict[str, float] = field(default_factory=dict)  # real seconds: start, run, settle
    exercised: list[str] = field(default_factory=list)  # what the run went through (Observation.exercised)

    @property
    def all_violations(self) -> list[Violation]:
        return [*self.violations, *(v for v, _ in self.pending), *(v for v, _ in self.known)]

    @property
    def clean(self) -> bool:
        return not self.all_violations and self.error is None


def attribute(
    scenario: Scenario, fc: Forecast, obs: Observation, violations: list[Violation]
) -> tuple[list[Violation], list[tuple[Violation, str]], list[tuple[Violation, str]]]:
    """Split the violations: those an old rule explains (judged again with each rule issue #11 changed
    switched back), those a known root cause explains (`known.classify`), and the rest."""
    pending: list[tuple[Violation, str]] = []
    rest = list(violations)
    # each old rule alone, then all of them (a violation may need two: a wave that runs only because the
    # old rule skips a dead fence, then fails only because the old rule counts unmarked servers CRITICAL)
    trials = [[rule] for rule in PENDING_RULES] + ([list(PENDING_RULES)] if len(PENDING_RULES) > 1 else [])
    for names in trials:
        if not rest:
            break
        rules = DECIDED
        for name in names:
            rules = rules.on_main(name)
        on_main = {v.key for v in judge(scenario, forecast(scenario.plan, scenario.profile, rules), obs)}
        pending.extend((v, "+".join(names)) for v in rest if v.key not in on_main)
        rest = [v for v in rest if v.key in on_main]
    causes = known.classify(scenario, fc, obs, rest)
    known_ = [(v, causes[i]) for i, v in enumerate(rest) if i in causes]
    unexplained = [v for i, v in enumerate(rest) if i not in causes]
    return unexplained, pending, known_


def run_seed(
    seed: int, *, real_timeout: float = REAL_TIMEOUT
) -> tuple[SeedResult, Scenario, Forecast, Observation | None]:
    scenario = generate(seed)
    fc = forecast(scenario.plan, scenario.profile)
    started = time.perf_counter()
    try:
        obs = run_scenario(scenario, sim_bound_seconds=fc.sim_bound_seconds, real_timeout=real_timeout)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        return (
            SeedResult(
                seed, scenario.topology, scenario.features, "ERROR", time.perf_counter() - started, 0.0, error=error
            ),
            scenario,
            fc,
            None,
        )
    violations = judge(scenario, fc, obs)
    unexplained, pending, known_ = attribute(scenario, fc, obs, violations)
    phases = {"start": obs.phases.get("start", 0.0), "settle": obs.phases.get("settle", 0.0)}
    phases["run"] = obs.real_seconds - phases["start"] - phases["settle"]
    result = SeedResult(
        seed,
        scenario.topology,
        scenario.features,
        obs.status,
        obs.real_seconds,
        obs.sim_seconds,
        unexplained,
        pending,
        known_,
        phases=phases,
        exercised=obs.exercised(),
    )
    return result, scenario, fc, obs
