"""An independent model of how a generated run must end, computed from the plan and profile documents.

It imports nothing of the product (no plan loader, no phases, progress, scripts or launcher code): it
reads the two dicts the generator wrote and applies the rules as the README states them.

- A wave passes its gate first: an approval is granted only when the simulated approver answers GRANT
  before the gate's timeout; DENY or no answer in time fails the wave.
- Pre-launch scripts run in plan order on the targets they name. A script that ends Failed or TimedOut
  (every retry behaves the same: a document's behaviour is fixed) fails the wave when its onFailure is
  FAIL, and only warns when it is WARN. A script whose targets resolve to nothing cannot run: a FAIL one
  fails the wave before launch, a WARN one warns (issue #11, fault 3: the intended rule).
- The launch: every server of the wave is started once; a server the profile makes fail ends FAILED.
  Criticality: an explicit CRITICAL failure fails the wave at once; OPTIONAL failures count toward the
  successThreshold. An unmarked server is CRITICAL, except in a wave that sets a successThreshold, where
  it counts toward the threshold like an OPTIONAL one (the rule decided on issue #11, fault 4). The wave
  fails when the share launched is below the threshold.
- Post-launch scripts, then the health check, on the launched instances (a FAIL script fails the wave, a
  WARN one warns; a failing health check always fails it). A required step with nothing to run on (no
  instance launched) fails the wave too; a WARN one is Skipped.
- DRS throttling on every call (throttleRate 1.0): nothing can start; a wave that reaches DRS fails with a
  reason naming the throttling (issue #11, fault 2: the intended behaviour).
- A failed wave with `rollback: TERMINATE` terminates the instances it launched, and nothing else.
- Plan: a wave whose dependencies did not all complete is SKIPPED. onFailure CONTINUE skips everything
  downstream of the failed wave; STOP skips every wave not started yet, lets running ones finish, and
  fails the plan. Which unrelated waves were already running when a STOP came depends on timing: such a
  wave may end as it would have, or SKIPPED (the oracle then checks the timing itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tests.chaos.campaign.generator import DEAD_TAGS, FENCE_INSTANCE, FENCE_TAGS

COMPLETED, FAILED, SKIPPED = "COMPLETED", "FAILED", "SKIPPED"


@dataclass(frozen=True)
class Rules:
    """The rules issue #11 changed. The campaign judges by the decided rules; judging a run again with one of
    them switched back to the old rule tells a violation that only the old rule explains (a branch without
    the change, or a regression to it) from a new fault."""

    # fault 4: in a wave that sets successThreshold, unmarked servers count toward it (not CRITICAL)
    unmarked_count_toward_threshold: bool = True
    # fault 3: a FAIL-policy step (or a health check) with no target it can run on fails its wave, before
    # launch in the pre-launch phase (before the fix it was Skipped with a warning and the wave went on)
    unrunnable_fail_step_fails: bool = True

    def on_main(self, name: str) -> Rules:
        return replace(self, **{name: False})


DECIDED = Rules()
PENDING_RULES = {
    "unmarked_count_toward_threshold": "fault 4: unmarked servers of a wave with a successThreshold count "
    "toward it (the old rule judged them CRITICAL: "
    "orchestrator/domain/launch_judgement.py)",
    "unrunnable_fail_step_fails": "fault 3: a required step with no target fails its wave (the old rule "
    "recorded it Skipped and went on: orchestrator/steps/scripts.py)",
}


@dataclass
class WaveForecast:
    """What one wave ends as if it runs (all its dependencies completed, no STOP skipped it)."""

    wave_id: str
    status: str  # COMPLETED | FAILED
    stage: str  # "" | approval | pre-launch | launch | post-launch | health-check | throttled
    reason: str
    launches: bool  # reaches DRS StartRecovery
    step: str = ""  # the document of the script or health check that fails the wave
    launched: list[str] = field(default_factory=list)  # servers whose launch succeeds
    launch_failed: list[str] = field(default_factory=list)  # servers started whose launch fails
    rollback: bool = False  # the launched instances must be terminated
    notes: list[str] = field(default_factory=list)


@dataclass
class Forecast:
    waves: dict[str, WaveForecast]
    possible: dict[str, set[str]]  # every final status each wave may legitimately end with
    plan_statuses: set[str]
    stop_sources: list[str]  # waves that may fail with onFailure STOP
    order: list[str]
    dependencies: dict[str, list[str]]
    descendants: dict[str, set[str]]
    ancestors: dict[str, set[str]]
    sim_bound_seconds: float

    def must_launch(self) -> set[str]:
        """Servers that must be in exactly one DRS launch job whatever the timing."""
        return {
            sid
            for w, f in self.waves.items()
            if f.launches and self.possible[w] <= {f.status}
            for sid in [*f.launched, *f.launch_failed]
        }

    def may_launch(self) -> set[str]:
        return {
            sid
            for w, f in self.waves.items()
            if f.launches and (self.possible[w] - {SKIPPED})
            for sid in [*f.launched, *f.launch_failed]
        }


def _server(raw: Any) -> tuple[str, str | None]:
    if isinstance(raw, str):
        return raw, None
    return raw["sourceServerID"], raw.get("criticality")


def effective_criticality(marked: str | None, has_threshold: bool, *, new_rule: bool = True) -> str:
    if marked is not None:
        return marked
    return "OPTIONAL" if (has_threshold and new_rule) else "CRITICAL"


def judge(
    servers: list[tuple[str, str | None]], threshold: float | None, failed: set[str], *, new_rule: bool = True
) -> tuple[bool, str]:
    """Did the launch go well enough? (the README's rule; `new_rule`: unmarked servers under a threshold)"""
    critical = [
        sid
        for sid, marked in servers
        if sid in failed and effective_criticality(marked, threshold is not None, new_rule=new_rule) == "CRITICAL"
    ]
    if critical:
        return False, f"CRITICAL server(s) did not launch: {', '.join(critical)}"
    total = len(servers)
    launched = total - len([sid for sid, _ in servers if sid in failed])
    if threshold is not None and total and launched / total < threshold:
        return False, f"only {launched}/{total} launched, below the threshold {threshold}"
    return True, f"{launched}/{total} launched"


def script_outcome(script: dict[str, Any], documents: dict[str, Any]) -> str:
    """Success, Failed or TimedOut: what every try of this script ends as."""
    behavior = documents.get(script["documentName"], {})
    duration = float(behavior.get("durationSeconds", 5))
    if behavior.get("status") == "TimedOut" or duration >= float(script["timeoutSeconds"]):
        return "TimedOut"
    return str(behavior.get("status", "Success"))


def _targets_resolve(
    script: dict[str, Any], launched_by_wave: dict[str, list[str]], own_wave: str, phase: str, fence_exists: bool
) -> bool:
    targets = script.get("targets") or {"wave": own_wave}
    if "instanceIds" in targets:
        return FENCE_INSTANCE in targets["instanceIds"] and fence_exists
    if "tags" in targets:
        return targets["tags"] == FENCE_TAGS and fence_exists and targets["tags"] != DEAD_TAGS
    wave = targets["wave"]
    if wave == own_wave and phase == "PRE_LAUNCH":
        return False
    return bool(launched_by_wave.get(wave))


def _run_scripts(
    forecast: WaveForecast,
    scripts: list[dict[str, Any]],
    *,
    phase: str,
    documents: dict[str, Any],
    launched_by_wave: dict[str, list[str]],
    fence_exists: bool,
    health_check: bool = False,
    unrunnable_fails: bool = True,
) -> bool:
    """Run the scripts of one phase; returns whether the wave survives them."""
    for script in scripts:
        name = script["documentName"]
        policy_fail = health_check or script.get("onFailure", "FAIL") == "FAIL"
        if not _targets_resolve(script, launched_by_wave, forecast.wave_id, phase, fence_exists):
            if phase == "PRE_LAUNCH":
                if policy_fail and unrunnable_fails:  # a required step that cannot run fails the wave
                    forecast.status, forecast.stage, forecast.step = FAILED, "pre-launch", name
                    forecast.reason = f"pre-launch script {name} has no target it can run on"
                    return False
                forecast.notes.append(f"{name}: no target, WARN")
                continue
            # post-launch / health check with nothing launched to run on: a required step that cannot
            # run fails the wave, a WARN one is Skipped with a warning
            if policy_fail and unrunnable_fails:
                forecast.status, forecast.step = FAILED, name
                forecast.stage = "health-check" if health_check else "post-launch"
                forecast.reason = f"{forecast.stage} {name} has no launched instance to run on"
                return False
            continue
        outcome = script_outcome(script, documents)
        if outcome == "Success":
            continue
        if policy_fail:
            forecast.status = FAILED
            forecast.stage = (
                "health-check" if health_check else ("pre-launch" if phase == "PRE_LAUNCH" else "post-launch")
            )
            forecast.reason = f"{forecast.stage} {name} {outcome}"
            forecast.step = name
            return False
        forecast.notes.append(f"{name}: {outcome}, WARN")
    return True


def forecast_wave(
    wave: dict[str, Any], profile: dict[str, Any], launched_by_wave: dict[str, list[str]], rules: Rules = DECIDED
) -> WaveForecast:
    """The wave's own outcome if it runs; `launched_by_wave`: servers launched by the waves upstream."""
    wave_id = wave["waveId"]
    drs = profile.get("drs", {})
    ssm = profile.get("ssm", {})
    documents = ssm.get("documents", {})
    fence_exists = FENCE_INSTANCE in ssm.get("instances", {})
    forecast = WaveForecast(wave_id, COMPLETED, "", "", launches=False)
    # 1. the approval gate
    approval = wave.get("approval")
    if approval and approval.get("required", True):
        answer = profile.get("approvals", {"decision": "NONE", "afterSeconds": 60.0})
        in_time = float(answer.get("afterSeconds", 60.0)) < float(approval.get("timeoutSeconds", 3600))
        if answer.get("decision", "NONE") != "GRANT" or not in_time:
            denied = answer.get("decision") == "DENY" and in_time
            forecast.status, forecast.stage = FAILED, "approval"
            forecast.reason = "approval denied" if denied else "approval timed out"
            return forecast
    # 2. every DRS call throttled: the preflight (the first DRS call) can never succeed
    if float(drs.get("throttleRate", 0.0)) >= 1.0:
        forecast.status, forecast.stage, forecast.reason = FAILED, "throttled", "DRS throttled every call"
        return forecast
    # 3. pre-launch scripts
    if not _run_scripts(
        forecast,
        wave.get("preLaunch", []),
        phase="PRE_LAUNCH",
        documents=documents,
        launched_by_wave=launched_by_wave,
        fence_exists=fence_exists,
        unrunnable_fails=rules.unrunnable_fail_step_fails,
    ):
        return forecast
    # 4. the launch
    servers = [_server(raw) for raw in wave["servers"]]
    failing = {sid for sid, s in drs.get("servers", {}).items() if s.get("launch") == "FAILED"}
    failed = {sid for sid, _ in servers if sid in failing}
    forecast.launches = True
    forecast.launched = [sid for sid, _ in servers if sid not in failed]
    forecast.launch_failed = [sid for sid, _ in servers if sid in failed]
    threshold = wave.get("successThreshold")
    ok, why = judge(servers, threshold, failed, new_rule=rules.unmarked_count_toward_threshold)
    rollback = wave.get("rollback") == "TERMINATE"
    if not ok:
        forecast.status, forecast.stage, forecast.reason = FAILED, "launch", why
        forecast.rollback = rollback and bool(forecast.launched)
        return forecast
    own = {**launched_by_wave, wave_id: forecast.launched}
    # 5. post-launch scripts, then the health check
    unrunnable = rules.unrunnable_fail_step_fails
    survived = _run_scripts(
        forecast,
        wave.get("postLaunch", []),
        phase="POST_LAUNCH",
        documents=documents,
        launched_by_wave=own,
        fence_exists=fence_exists,
        unrunnable_fails=unrunnable,
    )
    if survived and wave.get("healthCheck"):
        survived = _run_scripts(
            forecast,
            [wave["healthCheck"]],
            phase="POST_LAUNCH",
            documents=documents,
            launched_by_wave=own,
            fence_exists=fence_exists,
            health_check=True,
            unrunnable_fails=unrunnable,
        )
    if not survived:
        forecast.rollback = rollback and bool(forecast.launched)
    return forecast


def _topological(waves: list[dict[str, Any]]) -> list[str]:
    done: list[str] = []
    deps = {w["waveId"]: list(w.get("dependsOn", [])) for w in waves}
    while len(done) < len(deps):
        for wave_id, wanted in deps.items():
            if wave_id not in done and all(d in done for d in wanted):
                done.append(wave_id)
    return done


def _closure(edges: dict[str, list[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, []))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, []))
    return seen


def _wave_time_bound(wave: dict[str, Any], profile: dict[str, Any]) -> float:
    """A generous upper bound of the simulated seconds one wave may take (gates, scripts, launch)."""
    drs = profile.get("drs", {})
    quotas = drs.get("quotas", {})
    per_job = int(quotas.get("serversPerJob", 100))
    jobs = -(-len(wave["servers"]) // per_job)
    launch = float(drs.get("launchSeconds", {}).get("max", 900))
    seconds = 120.0 + jobs * (launch + 2 + 30 + 60 + 60)  # start delay, capacity tick slot, watcher ticks
    if wave.get("approval"):
        seconds += float(wave["approval"].get("timeoutSeconds", 3600)) + 60
    scripts = [*wave.get("preLaunch", []), *wave.get("postLaunch", [])]
    if wave.get("healthCheck"):
        scripts.append(wave["healthCheck"])
    for script in scripts:
        tries = int(script.get("retries", 0)) + 1
        seconds += tries * (float(script["timeoutSeconds"]) + 60 + 300)
    return seconds


def forecast(plan: dict[str, Any], profile: dict[str, Any], rules: Rules = DECIDED) -> Forecast:
    """Every wave's own outcome, and what the plan as a whole may end as."""
    waves = {w["waveId"]: w for w in plan["waves"]}
    order = _topological(plan["waves"])
    dependencies = {w: list(waves[w].get("dependsOn", [])) for w in order}
    dependents: dict[str, list[str]] = {w: [] for w in order}
    for wave_id, deps in dependencies.items():
        for d in deps:
            dependents[d].append(wave_id)
    ancestors = {w: _closure(dependencies, w) for w in order}
    descendants = {w: _closure(dependents, w) for w in order}
    default_policy = plan.get("defaults", {}).get("onFailure", "STOP")
    policy = {w: waves[w].get("onFailure", default_policy) for w in order}

    forecasts: dict[str, WaveForecast] = {}
    launched_by_wave: dict[str, list[str]] = {}
    for wave_id in order:  # a wave runs after its dependencies: their launched instances are known
        forecasts[wave_id] = forecast_wave(waves[wave_id], profile, launched_by_wave, rules)
        if forecasts[wave_id].status == COMPLETED:
            launched_by_wave[wave_id] = forecasts[wave_id].launched

    def possibilities(stoppable: set[str]) -> dict[str, set[str]]:
        possible: dict[str, set[str]] = {}
        for wave_id in order:
            deps = dependencies[wave_id]
            if any(COMPLETED not in possible[d] for d in deps):
                possible[wave_id] = {SKIPPED}
                continue
            outcome = {forecasts[wave_id].status}
            if any(possible[d] != {COMPLETED} for d in deps) or wave_id in stoppable:
                outcome.add(SKIPPED)
            possible[wave_id] = outcome
        return possible

    stoppable: set[str] = set()
    while True:
        possible = possibilities(stoppable)
        sources = [w for w in order if FAILED in possible[w] and policy[w] == "STOP"]
        # a STOP skips every wave that had not started: any wave but the source and its ancestors
        wider = {w for s in sources for w in order if w != s and w not in ancestors[s]}
        if wider <= stoppable:
            break
        stoppable |= wider
    if all(p == {COMPLETED} for p in possible.values()):
        plan_statuses = {COMPLETED}
    elif any(COMPLETED not in p for p in possible.values()):
        plan_statuses = {FAILED}
    else:
        plan_statuses = {COMPLETED, FAILED}
    bound = 600.0 + sum(_wave_time_bound(waves[w], profile) for w in order)
    return Forecast(forecasts, possible, plan_statuses, sources, order, dependencies, descendants, ancestors, bound)
