"""`orchestrator.reporting.inspect.rebuild`: an execution's state from its events alone, whatever their order."""

from __future__ import annotations

import random

from orchestrator.reporting.inspect import compare, rebuild


def _event(detail_type: str, time: str, **detail: object) -> dict:
    return {
        "source": "drs.orchestrator",
        "detail-type": detail_type,
        "time": time,
        "detail": {"executionId": "e", "planId": "p", **detail},
    }


EVENTS = [
    _event("PlanStarted", "T00", mode="DRILL", waveIds=["A", "B", "C"]),
    _event("WaveReady", "T00", waveId="A"),
    _event(
        "DRSJobCompleted",
        "T01",
        waveId="A",
        servers=[
            {"sourceServerId": "s-a", "launchStatus": "LAUNCHED"},
            {"sourceServerId": "s-b", "launchStatus": "FAILED"},
        ],
    ),
    _event("WaveFailed", "T02", waveId="A", reason="x", onFailure="STOP"),
    _event("WaveSkipped", "T02", waveId="B", reason="plan stopped"),
    _event("WaveSkipped", "T02", waveId="C", reason="plan stopped"),
    _event("PlanFailed", "T03", reason="A failed"),
    _event("RetryWave", "T04", waveId="A", requestedBy="ops"),
    _event("WaveReady", "T04", waveId="A", attempt=2),
    _event(
        "DRSJobCompleted", "T05", waveId="A", attempt=2, servers=[{"sourceServerId": "s-b", "launchStatus": "LAUNCHED"}]
    ),
    _event("WaveCompleted", "T06", waveId="A", attempt=2, serversLaunched=2, serversFailed=0),
    _event("WaveReady", "T06", waveId="B"),
    _event("WaveCompleted", "T07", waveId="B", serversLaunched=0, serversFailed=0),
    _event("SkipWave", "T07", waveId="C", requestedBy="ops"),
    _event("WaveSkipped", "T07", waveId="C", reason="skipped by ops", skippedBy="ops"),
    _event("ControlRejected", "T07", command="RetryWave", waveId="nope", reason="no such wave"),
    _event("PlanCompleted", "T08", mode="DRILL", wavesCompleted=2, wavesSkipped=1, durationSeconds=8),
]


def test_rebuild_follows_retries_and_operator_skips():
    state = rebuild(EVENTS)
    assert state["status"] == "COMPLETED"
    assert {w: (v["status"], v["attempt"]) for w, v in state["waves"].items()} == {
        "A": ("COMPLETED", 2),
        "B": ("COMPLETED", 1),
        "C": ("SKIPPED", 1),
    }
    assert state["waves"]["A"]["serversLaunched"] == ["s-a", "s-b"]


def test_rebuild_does_not_depend_on_the_order_events_arrive_in():
    # GIVEN the events in many orders with the same (second-resolution) time
    def final(state: dict) -> dict:
        return {
            w: {k: v for k, v in wave.items() if k not in {"firstAt", "lastAt"}} for w, wave in state["waves"].items()
        }

    expected = final(rebuild(EVENTS))
    for seed in range(20):
        shuffled = [dict(e, time="T") for e in EVENTS]
        random.Random(seed).shuffle(shuffled)
        # THEN the final state is the same
        state = rebuild(shuffled)
        assert state["status"] == "COMPLETED"
        assert final(state) == expected


def test_compare_names_each_difference():
    rebuilt = rebuild(EVENTS)
    ledger = {
        "planId": "p",
        "mode": "DRILL",
        "status": "FAILED",
        "waves": {
            "A": {"status": "COMPLETED", "attempt": 2, "serversLaunched": ["s-a", "s-b"], "approvedBy": None},
            "B": {"status": "SKIPPED", "attempt": 1, "serversLaunched": [], "approvedBy": None},
        },
    }
    assert compare(rebuilt, ledger) == [
        "execution status: events say COMPLETED, ledger says FAILED",
        "wave B status: events say COMPLETED, ledger says SKIPPED",
        "wave C: only in the events",
    ]
