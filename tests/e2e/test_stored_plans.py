"""End to end: a plan larger than an event (issue #16 item 4) is pushed to the plan store and started by reference.

A plan of 4,000 servers (eight waves of 500 in four layers, every server with its criticality written out) is a
StartPlan of well over EventBridge's 256 KB entry limit: it cannot travel inline. Pushed as version 1 of its planId,
it is started with `planRef` and runs to COMPLETED on the local cloud, the execution and its report naming the
version and the SHA-256 it ran. Zero simulated launch time and the best-effort aws.drs events dropped keep it to
seconds (as tests/e2e/test_large_waves.py does).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from events.envelope import MAX_ENTRY_BYTES, EventTooLarge
from localcloud.runner import push, run_plan, start
from orchestrator.domain.plan import parse_plan, plan_to_document
from orchestrator.domain.stored_plans import PlanRef, canonical_bytes, digest
from tests.e2e.helpers import assert_choreography_invariants, events_of, sid, wave

QUIET = {"drs.startDelaySeconds": 0, "drs.launchEvents": "drop", "ssm.events": "drop"}
SERVERS_PER_WAVE = 500


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    return {"min": 0, "max": 0}


def big_plan(servers: int = 4000) -> dict[str, Any]:
    """Eight waves of 500 servers in four layers (two waves each, each layer depending on the one before)."""
    waves = []
    for index in range(servers // SERVERS_PER_WAVE):
        members = [
            {"sourceServerID": sid(f"w{index}x", n), "criticality": "CRITICAL" if n % 10 else "OPTIONAL"}
            for n in range(SERVERS_PER_WAVE)
        ]
        layer = index // 2
        depends = [f"wave-{layer - 1}-{side}" for side in "ab"] if layer else None
        waves.append(wave(f"wave-{layer}-{'ab'[index % 2]}", members, depends))
    return {"planId": "estate", "name": "The whole estate", "waves": waves}


@pytest.mark.slow  # about a minute: `make test-scale`
def test_a_4000_server_plan_pushed_then_started_by_reference_completes(local_cloud):
    # GIVEN a 4,000-server plan whose StartPlan would be far over the 256 KB entry limit
    plan = parse_plan(big_plan())
    assert len(json.dumps(plan_to_document(plan), separators=(",", ":")).encode()) > MAX_ENTRY_BYTES
    cloud = local_cloud(**QUIET)

    # WHEN it is pushed to the plan store and started by reference
    result = run_plan(cloud, plan, stored=True, timeout=280)

    # THEN it completes, every server launched once, in dependency order
    assert result.status == "COMPLETED", result.problem
    report = result.report
    assert report is not None
    assert [w["status"] for w in report["waves"]] == ["COMPLETED"] * 8
    launched = [s["sourceServerId"] for w in report["waves"] for s in w["servers"] if s["launchStatus"] == "LAUNCHED"]
    assert sorted(launched) == sorted(s.source_server_id for w in plan.waves for s in w.servers)
    assert_choreography_invariants(cloud, result.execution_id)
    # AND the execution ran version 1, whose digest is that of the plan's canonical document
    expected = {"planId": "estate", "version": 1, "sha256": digest(canonical_bytes(plan_to_document(plan)))}
    assert cloud.ledger is not None
    execution = cloud.ledger.execution(result.execution_id)
    assert execution is not None
    assert execution.plan_ref == expected
    assert report["planRef"] == expected
    # AND the StartPlan that started it was small: it named the version, not the plan
    [started] = [e for e in cloud.events if e.detail_type == "StartPlan"]
    assert started.detail["planRef"] == {"planId": "estate", "version": 1}
    assert "plan" not in started.detail
    assert len(json.dumps(started.detail)) < 300
    assert [e.detail["planName"] for e in events_of(cloud, "PlanStarted", result.execution_id)] == ["The whole estate"]


def test_the_same_plan_inline_is_refused_before_anything_is_published(local_cloud):
    # GIVEN the same plan, and a local cloud
    plan = parse_plan(big_plan())
    cloud = local_cloud(**QUIET)

    # WHEN it is started inline
    with pytest.raises(EventTooLarge, match=r"PutEvents accepts at most 262144 \(256 KB"):
        start(cloud, plan)

    # THEN nothing was published, nothing created
    assert cloud.events == []
    assert cloud.drs.stats.calls["StartRecovery"] == 0


def test_an_unknown_version_is_refused_and_a_later_push_is_a_new_version(local_cloud):
    # GIVEN version 1 of a small plan in the store
    small = parse_plan({"planId": "estate", "waves": [wave("db", [sid("db", 1)])]})
    cloud = local_cloud(**QUIET)
    assert push(cloud, small).version == 1

    # WHEN version 2 is started
    execution_id = start(cloud, small, plan_ref=PlanRef("estate", 2))
    cloud.drain()

    # THEN one PlanFailed names the versions there are; nothing was created
    [failed] = events_of(cloud, "PlanFailed", execution_id)
    assert failed.detail["reason"] == (
        "stored plan estate:2 cannot be run: stored plan 'estate' has no version 2 (its versions are 1 to 1)"
    )
    assert cloud.ledger is not None
    assert cloud.ledger.get_execution(execution_id) is None
    # AND pushing the same plan again makes no new version, a changed one is version 2
    again = push(cloud, small)
    assert (again.version, again.created) == (1, False)
    renamed = push(cloud, parse_plan({**plan_to_document(small), "name": "renamed"}))
    assert (renamed.version, renamed.created) == (2, True)
