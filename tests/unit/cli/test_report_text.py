"""`drs-orch report --text`: the execution, its waves and its recovery objectives in a few lines."""

from __future__ import annotations

from drs_orch.report_verb import text_summary
from orchestrator.domain.objectives import Figure, judge


def test_the_text_summary_states_each_objective_with_its_verdict() -> None:
    # GIVEN a report of a completed run that missed its plan's RTO and met its RPO
    report = {
        "executionId": "e1",
        "planId": "erp",
        "mode": "DRILL",
        "status": "COMPLETED",
        "startedAt": "2026-03-01T09:00:00.000Z",
        "endedAt": "2026-03-01T09:41:00.000Z",
        "declaredAt": "2026-03-01T08:55:00.000Z",
        "objectives": {"rto": judge(40, Figure(46.0)), "rpo": judge(15, Figure(4.5))},
        "waves": [{"waveId": "db", "status": "COMPLETED"}, {"waveId": "app", "status": "COMPLETED"}],
    }
    # WHEN / THEN its text
    assert text_summary(report) == (
        "execution e1 of plan erp (DRILL): COMPLETED\n"
        "started 2026-03-01T09:00:00.000Z, ended 2026-03-01T09:41:00.000Z\n"
        "  wave db: COMPLETED\n"
        "  wave app: COMPLETED\n"
        "recovery objectives:\n"
        "  declared at 2026-03-01T08:55:00.000Z\n"
        "  plan RTO 40 min: achieved 46, margin -6 -> MISSED\n"
        "  plan RPO 15 min: achieved 4.5, margin +10.5 -> MET\n"
    )
