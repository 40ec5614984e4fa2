"""The dashboard of a local run (`drs_orch.ui.feed.LocalSource`): a start the orchestrator refuses is shown REJECTED
with its reason (not STARTING for ever), and the page's reads take a bounded share of the run's loop however often
the loop offers one (counted on a clock the test drives: no timing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from drs_orch.ui import views
from drs_orch.ui.feed import MIN_REFRESH_SECONDS, READ_SHARE, LocalSource
from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult
from tests.e2e.helpers import sid, wave


def test_a_start_the_orchestrator_refuses_is_shown_rejected_with_its_reason(
    local_cloud: Callable[..., LocalCloud],
) -> None:
    # GIVEN a local run whose StartPlan names a dependency no wave has (StartPlan answers PlanFailed)
    cloud = local_cloud()
    plan = {"planId": "broken", "waves": [wave("db", [sid("a", 1)], ["nowhere"])]}
    cloud.publish("StartPlan", {"plan": plan, "executionId": "broken-1", "requestedBy": "alice"})
    cloud.drain()
    source = LocalSource(cloud, ["broken-1"])
    # WHEN the dashboard reads it
    source.refresh(force=True)
    report = source.report("broken-1")
    [row] = source.executions()
    # THEN it is REJECTED (ended, not running), with the PlanFailed's reason and its problem
    assert report is not None
    assert (report["status"], row.status, row.running) == ("REJECTED", "REJECTED", False)
    assert report["rejectedReason"].startswith("invalid plan: 1 problem(s); waves[0].dependsOn[0]: ")
    assert "nowhere" in report["rejectedReason"]
    # AND the page's summary says so in words
    summary = views.execution_fragments(report, row)["summary"]
    assert 'data-status="REJECTED"' in summary
    assert '<th scope="row">rejected</th><td id="rejected-reason">invalid plan: 1 problem(s)' in summary


@dataclass
class _Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Cloud:
    """What LocalSource reads of the cloud: the events published, the simulated clock."""

    events: list[object] = field(default_factory=list)

    class clock:  # noqa: N801 - the cloud's attribute
        @staticmethod
        def now() -> datetime:
            return datetime(2026, 1, 1, tzinfo=UTC)


def test_reads_take_at_most_a_fifth_of_the_loops_time_however_often_it_offers_one() -> None:
    # GIVEN a run whose report takes 0.6 s to read (a 200-wave plan), on a loop that publishes an event and offers
    # the page a read every 10 ms of its own work, for 120 s of that work
    clock, cloud = _Clock(), _Cloud()
    read_seconds, step_seconds, steps = 0.6, 0.01, 12_000
    report = {"executionId": "big-1", "planId": "big", "mode": "DRILL", "status": "RUNNING", "waves": []}

    def read(_: Any, execution_id: str) -> RunResult:
        clock.now += read_seconds
        return RunResult(execution_id, "RUNNING", {**report, "events": len(cloud.events)})

    source = LocalSource(cloud, ["big-1"], read=read, clock=clock)  # type: ignore[arg-type]
    # WHEN the loop runs
    for _ in range(steps):
        clock.now += step_seconds
        cloud.events.append(object())
        source.refresh()
    # THEN the reads took at most READ_SHARE of the loop's time (one read of slack: the first is at once), and they
    # kept up (a read whenever the spacing allowed: not starved either)
    work = steps * step_seconds
    spent = source.reads * read_seconds
    assert spent / (work + spent) <= READ_SHARE + read_seconds / (work + spent)
    spacing = read_seconds * (1 / READ_SHARE - 1)
    assert source.reads >= work / (spacing + step_seconds) - 1
    # AND once no event comes, the events published since the last read are read once, then nothing more however
    # often the loop offers; a forced read always reads
    before = source.reads
    for _ in range(1000):
        clock.now += MIN_REFRESH_SECONDS
        source.refresh()
    assert source.reads == before + 1
    assert source.report("big-1") == {**report, "events": steps}
    source.refresh(force=True)
    assert source.reads == before + 2
