"""The plan a FAILBACK execution runs (issue #15): the same plan, the same dependency order and gates, the scripts
for that direction.

A wave may give `failback:` scripts (`WaveFailback`): each key given replaces the recovery one (an empty list, or
null, means none in failback); a key left out keeps the recovery one. `for_failback` is pure: it writes the failback
scripts in and drops each wave's `failback`, so running its result is an ordinary run (the engine freezes it, so it
round-trips through `plan_to_document` and `Plan.model_validate`). The plan's own `failback` options (reprotect)
are kept: the engine reads them.
"""

from __future__ import annotations

from orchestrator.domain.plan.model import Plan, Wave


def for_failback(plan: Plan) -> Plan:
    """A copy of `plan` whose waves run their failback scripts where given (their recovery ones otherwise), each
    wave without `failback`. A plan without failback scripts comes back equal to itself."""
    return plan.model_copy(update={"waves": [_failback_wave(wave) for wave in plan.waves]})


def _failback_wave(wave: Wave) -> Wave:
    if wave.failback is None:
        return wave
    given = wave.failback.given()
    # A null list means none in failback, as [] does (a null healthCheck: no health check).
    update = {name: [] if value is None and name != "health_check" else value for name, value in given.items()}
    update["failback"] = None
    copied = wave.model_copy(update=update)
    # model_copy keeps the fields set: a copy reads as if `failback` had never been written (a dump skips it).
    copied.__pydantic_fields_set__.discard("failback")
    return copied
