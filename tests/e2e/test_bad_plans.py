"""End to end: every malformed plan of the generated corpus (`tests/unit/domain/plan/mutations.py`), started with
a StartPlan on the local cloud while another execution runs, is refused with a PlanFailed that lists its
problem; nothing is created in the ledger (beyond the record of each refusal), nothing is launched, and
the running execution is not disturbed."""

from __future__ import annotations

from typing import Any

from localcloud.runner import start, wait
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import (
    assert_choreography_invariants,
    events_of,
    ledger_items,
    sid,
    start_recovery_calls,
    wave,
    wave_status,
)
from tests.unit.domain.plan.mutations import corpus

RUNNING = {"planId": "running", "waves": [wave("w1", [sid("r", 1)]), wave("w2", [sid("r", 2)], ["w1"])]}


def test_every_malformed_plan_of_the_corpus_is_refused_by_start_plan_without_side_effects(local_cloud):
    # GIVEN a live execution (wave 1 launching) and the corpus's malformed plans as StartPlan details
    cloud = local_cloud()
    running = start(cloud, parse_plan(RUNNING))
    cloud.run_until(lambda: wave_status(cloud, running, "w1") == "LAUNCHING", timeout=60)
    cloud.drain()
    before, calls, published = ledger_items(cloud), start_recovery_calls(cloud), len(cloud.events)
    mutants = [mutant for mutant in corpus() if mutant.document is not None]
    assert len(mutants) >= 200

    # WHEN each is published as a StartPlan with an execution id of its own
    for number, mutant in enumerate(mutants):
        cloud.publish("StartPlan", {"plan": mutant.document, "executionId": f"bad-{number}", "requestedBy": "corpus"})
    cloud.drain()

    # THEN each is answered by one PlanFailed listing its problem (code, field path, message)
    failed: dict[str, list[dict[str, Any]]] = {}
    for event in events_of(cloud, "PlanFailed"):
        failed.setdefault(event.detail["executionId"], []).append(event.detail)
    missed = {}
    for number, mutant in enumerate(mutants):
        answers = failed.get(f"bad-{number}", [])
        errors = [(e["code"], e.get("path"), e["message"]) for answer in answers for e in answer["errors"]]
        if len(answers) != 1 or not answers[0]["reason"].startswith("invalid plan: ") or not mutant.found_in(errors):
            missed[mutant.name] = answers
    assert missed == {}
    assert len(failed) == len(mutants)

    # AND nothing was created or launched, nothing failed, and only the PlanFailed answers were published
    assert ledger_items(cloud) == before
    decisions = [i for i in ledger_items(cloud, decisions=True) if i.get("kind", {}).get("S") == "DECISION"]
    assert len(decisions) == len(mutants)  # one refusal record per StartPlan
    assert start_recovery_calls(cloud) == calls
    assert {e.detail_type for e in cloud.events[published:]} == {"StartPlan", "PlanFailed"}
    assert cloud.stats.handler_errors == 0
    assert not cloud.lambdas.errors

    # AND the running execution ends as it would have
    assert wait(cloud, running, timeout=60).status == "COMPLETED"
    assert_choreography_invariants(cloud, running)


def test_a_plan_with_a_thousand_problems_is_refused_with_a_bounded_plan_failed(local_cloud):
    # GIVEN a plan of 1,000 waves that each name an unknown dependency (1,000 problems)
    cloud = local_cloud()
    plan = {"planId": "many", "waves": [wave(f"w{n}", [f"s-{n:017d}"], [f"x{n}"]) for n in range(1000)]}

    # WHEN it is started
    cloud.publish("StartPlan", {"plan": plan, "executionId": "many-problems"})
    cloud.drain()

    # THEN one PlanFailed lists the first 50 problems and says how many there are (the event stays small)
    [answer] = [e.detail for e in events_of(cloud, "PlanFailed", "many-problems")]
    assert answer["reason"] == "invalid plan: 1000 problem(s), the first 50 listed"
    assert [e["path"] for e in answer["errors"]] == [f"waves[{n}].dependsOn[0]" for n in range(50)]
    assert answer["errors"][0]["message"] == "unknown dependency 'x0'"
    assert ledger_items(cloud) == []
    assert cloud.stats.handler_errors == 0
