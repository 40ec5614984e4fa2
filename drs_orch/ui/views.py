"""The dashboard's pages and their live fragments, rendered from a `Source` with Jinja2 (autoescaped).

A page is rendered whole once; then its fragments (`EXECUTION_FRAGMENTS`, `LIST_FRAGMENTS`: element id -> HTML)
are rendered again on every change and pushed to the page, which replaces each element's content. The drawing
is the evidence report's (`orchestrator.reporting.graph_svg`, `timeline`) and so is each wave's section
(`templates/wave.html.j2` from `orchestrator.reporting.html.wave_sections`); every value that came from outside
(plan and wave names, script output, comments) is escaped by the template and made inert
(`orchestrator.reporting.templating`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from drs_orch.ui.feed import ExecutionRow, Source, moments
from orchestrator.domain.status import EXECUTION_FINAL, WaveStatus
from orchestrator.reporting.graph_svg import graph_waves, render_graph_svg
from orchestrator.reporting.html import tone, wave_sections
from orchestrator.reporting.templating import page_environment
from orchestrator.reporting.timeline import ReportError, render_svg

EVENTS_SHOWN = 200  # the newest events (or ledger moments) an execution's page lists
LIST_FRAGMENTS = ("executions",)
EXECUTION_FRAGMENTS = ("summary", "graph", "timeline", "waves", "events")

WAVE_VERBS: dict[str, tuple[str, ...]] = {  # the buttons a wave offers in each status (the control function decides)
    WaveStatus.AWAITING_APPROVAL: ("approve", "deny", "skip"),
    WaveStatus.FAILED: ("retry", "skip"),
    WaveStatus.PENDING: ("skip",),
    WaveStatus.READY: ("skip",),
}
PLAN_VERBS = ("pause", "resume", "cancel")


def duration(seconds: float | None) -> str | None:
    """`seconds` as `1h02m03s`, `2m05s` or `7s`; None stays None."""
    if seconds is None:
        return None
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _render(template: str, **context: Any) -> str:
    env = page_environment("drs_orch.ui")
    return env.get_template(template).render(tone=tone, duration=duration, **context)


def list_fragments(rows: list[ExecutionRow]) -> dict[str, str]:
    """The executions list's fragments."""
    return {"executions": _render("_executions.html.j2", rows=rows)}


def _timeline(report: Mapping[str, Any]) -> Markup | None:
    """The timeline drawing inline (its XML declaration dropped), or None when the report cannot be drawn yet."""
    try:
        svg = render_svg(report)
    except ReportError:
        return None
    return Markup(svg.split("?>", 1)[1].strip() if svg.startswith("<?xml") else svg)  # noqa: S704 - escaped by timeline


def _events(report: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """("events", the events published for the execution) for a local run; ("moments", what the ledger recorded
    of each wave) otherwise: newest first, at most EVENTS_SHOWN."""
    events = report.get("events")
    if isinstance(events, list) and events:
        shown = [
            {"time": e.get("time"), "waveId": e.get("waveId"), "what": e.get("detailType")}
            for e in events
            if isinstance(e, Mapping)
        ]
        return "events", shown[::-1][:EVENTS_SHOWN]
    return "moments", moments(report)[::-1][:EVENTS_SHOWN]


def execution_fragments(report: Mapping[str, Any], row: ExecutionRow) -> dict[str, str]:
    """An execution page's fragments, element id -> HTML."""
    kind, events = _events(report)
    waves = wave_sections(report)
    return {
        "summary": _render("_summary.html.j2", report=report, row=row),
        "graph": str(render_graph_svg(graph_waves(report), id_prefix="live", live=True)),
        "timeline": _render("_timeline.html.j2", timeline=_timeline(report)),
        "waves": _render("_waves.html.j2", waves=waves, verbs=WAVE_VERBS, ended=row.status in EXECUTION_FINAL),
        "events": _render("_events.html.j2", kind=kind, events=events),
    }


def row_of(report: Mapping[str, Any], source: Source) -> ExecutionRow:
    """The list row of the execution `report` is of (its duration as the list shows it)."""
    for row in source.executions():
        if row.execution_id == report.get("executionId"):
            return row
    from datetime import UTC, datetime

    from drs_orch.ui.feed import execution_rows

    return execution_rows([report], datetime.now(UTC))[0]


def list_page(source: Source) -> str:
    """The executions list, whole."""
    rows = source.executions()
    return _render("executions.html.j2", source=source, fragments=list_fragments(rows), stream="/stream")


def execution_page(source: Source, report: Mapping[str, Any]) -> str:
    """One execution's page, whole: its fragments and the operator's panel."""
    row = row_of(report, source)
    execution_id = str(report.get("executionId"))
    return _render(
        "execution.html.j2",
        source=source,
        report=report,
        row=row,
        fragments=execution_fragments(report, row),
        waves=[w.get("waveId") for w in report.get("waves") or [] if isinstance(w, Mapping)],
        plan_verbs=PLAN_VERBS,
        recovery=report.get("mode") == "RECOVERY",
        stream=f"/executions/{quote(execution_id, safe='')}/stream",
    )
