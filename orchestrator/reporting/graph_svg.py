"""A plan's waves drawn as their dependency graph (a DAG), each wave coloured by its outcome: inline SVG 1.1.

`render_graph_svg(waves)` takes `GraphWave`s (each wave's id, the ids it depends on, its status and attempt; from
an execution report: `graph_waves(report)`) and returns SVG text as `Markup`, ready to put in an HTML page (the
evidence report, `orchestrator.reporting.html`; the dashboard). Layout: waves in columns by dependency depth (a
root in the first column; any other wave one column right of its deepest dependency), ordered in each column by
the mean row of their dependencies, an arrow from each dependency to its dependent. Each box says its wave's
status in words and draws it in its outcome's colour (the timeline's, `timeline.OUTCOME_COLOURS`) with a border
of its own (FAILED thick, SKIPPED dashed, still running dotted): readable in black and white. No script, no
external reference; the same waves always give the same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from orchestrator.domain.status import ExecutionStatus, WaveStatus
from orchestrator.reporting.templating import environment
from orchestrator.reporting.timeline import OTHER_COLOUR, OUTCOME_COLOURS

NODE_WIDTH = 190
NODE_HEIGHT = 46
COLUMN_GAP = 56
ROW_GAP = 18
MARGIN = 12
LEGEND_HEIGHT = 30
LABEL_CHARS = 24  # a longer wave id is cut with an ellipsis (its whole id is in the box's tooltip)
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
TINT = 0.85  # a box's fill: its outcome colour mixed with this much white

_BORDERS: dict[str, tuple[float, str | None]] = {  # status -> (stroke width, dash array)
    WaveStatus.COMPLETED: (1.5, None),
    WaveStatus.FAILED: (3.0, None),
    WaveStatus.SKIPPED: (1.5, "6,3"),
    ExecutionStatus.CANCELLED: (1.5, "2,2,8,2"),
}
_RUNNING_BORDER = (1.5, "2,3")  # any other status: the wave had not ended when the report was written
LEGEND: tuple[str, ...] = (WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED, "RUNNING")
LEGEND_PITCH = 130  # the width of one legend entry
LIVE_LEGEND_PITCH = 150  # the live legend's: "awaiting approval" is its longest label

LIVE_COLOURS: dict[str, str] = {  # a wave that has not ended, drawn live (the dashboard): each stage its own colour
    WaveStatus.PENDING: "#9e9e9e",
    WaveStatus.READY: "#00838f",
    WaveStatus.AWAITING_APPROVAL: "#8e24aa",
    "RUNNING": OTHER_COLOUR,  # PRE_LAUNCH, LAUNCHING, LAUNCHED, POST_LAUNCH: the legend's entry for all four
}
LIVE_LEGEND: tuple[str, ...] = (
    WaveStatus.PENDING,
    WaveStatus.READY,
    WaveStatus.AWAITING_APPROVAL,
    "RUNNING",
    WaveStatus.COMPLETED,
    WaveStatus.FAILED,
    WaveStatus.SKIPPED,
)


@dataclass(frozen=True)
class GraphWave:
    """One wave to draw: its id, the waves it depends on, its status (a `WaveStatus` value, or any text: drawn
    as not ended), its attempt (more than 1 after an operator's retry) and why it ended so (tooltip)."""

    wave_id: str
    depends_on: tuple[str, ...] = ()
    status: str = WaveStatus.PENDING
    attempt: int = 1
    reason: str | None = None


@dataclass(frozen=True)
class _Node:
    wave: GraphWave
    x: float
    y: float
    label: str
    state: str
    fill: str
    stroke: str
    stroke_width: float
    dash: str | None
    tooltip: str


@dataclass(frozen=True)
class _Edge:
    path: str
    tooltip: str


def graph_waves(report: Mapping[str, Any]) -> list[GraphWave]:
    """The waves of an execution report (`orchestrator.reporting.report.build_report`, or its JSON loaded), in
    report order; entries that are not objects with a string `waveId` are left out."""
    found = []
    for wave in report.get("waves") or []:
        if not isinstance(wave, Mapping) or not isinstance(wave.get("waveId"), str):
            continue
        depends_on = wave.get("dependsOn") or []
        attempt = wave.get("attempt")
        found.append(
            GraphWave(
                wave_id=wave["waveId"],
                depends_on=tuple(str(d) for d in depends_on) if isinstance(depends_on, list) else (),
                status=str(wave.get("status") or "UNKNOWN"),
                attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1,
                reason=str(wave["reason"]) if wave.get("reason") else None,
            )
        )
    return found


def layers(waves: Sequence[GraphWave]) -> list[list[GraphWave]]:
    """The waves in columns: column 0 holds the roots, a wave sits one column right of its deepest dependency
    (dependencies on ids not among `waves` are ignored; waves of a cycle, which a valid plan cannot have, go in
    one last column). In each column, waves are ordered by the mean row of their dependencies, then as given."""
    column = _depths(waves)
    columns: list[list[GraphWave]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    for w in waves:
        columns[column[w.wave_id]].append(w)
    row: dict[str, float] = {}
    for number, members in enumerate(columns):
        if number:
            order = {w.wave_id: i for i, w in enumerate(members)}
            members.sort(key=lambda w: (_mean_row(w, row), order[w.wave_id]))
        row.update({w.wave_id: float(i) for i, w in enumerate(members)})
    return columns


def _depths(waves: Sequence[GraphWave]) -> dict[str, int]:
    """Each wave's column: 0 for a root, else one more than its deepest known dependency's (a cycle: the last)."""
    known = {w.wave_id for w in waves}
    column: dict[str, int] = {}
    remaining = list(waves)
    while remaining:
        placed = [w for w in remaining if all(d in column for d in w.depends_on if d in known)]
        if not placed:  # a cycle: nothing left can be placed by its dependencies
            last = max(column.values(), default=-1) + 1
            return column | {w.wave_id: last for w in remaining}
        for w in placed:
            column[w.wave_id] = 1 + max((column[d] for d in w.depends_on if d in known), default=-1)
        remaining = [w for w in remaining if w.wave_id not in column]
    return column


def _mean_row(wave: GraphWave, row: Mapping[str, float]) -> float:
    rows = [row[d] for d in wave.depends_on if d in row]
    return sum(rows) / len(rows) if rows else float("inf")


def _tint(colour: str) -> str:
    """`colour` (#rrggbb) mixed with TINT white."""
    channels = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * TINT):02x}" for c in channels)


def _state(wave: GraphWave) -> str:
    return wave.status + (f" \u00b7 attempt {wave.attempt}" if wave.attempt > 1 else "")


def _colour(status: str, live: bool) -> str:
    """An ended wave's outcome colour; a wave still on its way: OTHER_COLOUR, or with `live` its stage's own."""
    if status in OUTCOME_COLOURS or not live:
        return OUTCOME_COLOURS.get(status, OTHER_COLOUR)
    return LIVE_COLOURS.get(status, OTHER_COLOUR)


def _node(wave: GraphWave, x: float, y: float, *, live: bool = False) -> _Node:
    colour = _colour(wave.status, live)
    width, dash = _BORDERS.get(wave.status, _RUNNING_BORDER)
    label = wave.wave_id if len(wave.wave_id) <= LABEL_CHARS else wave.wave_id[: LABEL_CHARS - 1] + "\u2026"
    tooltip = [f"wave {wave.wave_id}: {_state(wave)}"]
    if wave.depends_on:
        tooltip.append(f"depends on {', '.join(wave.depends_on)}")
    if wave.reason:
        tooltip.append(f"reason: {wave.reason}")
    return _Node(wave, x, y, label, _state(wave), _tint(colour), colour, width, dash, "\n".join(tooltip))


def _edge(source: _Node, target: _Node) -> _Edge:
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT / 2
    x2, y2 = target.x - 2, target.y + NODE_HEIGHT / 2  # the arrow's tip touches the box
    bend = (x2 - x1) / 2
    path = f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
    return _Edge(path, f"{target.wave.wave_id} after {source.wave.wave_id}")


def render_graph_svg(waves: Sequence[GraphWave], *, id_prefix: str = "dag", live: bool = False) -> Markup:
    """The dependency graph of `waves` as inline SVG (`Markup`: its text is escaped already). `id_prefix`
    prefixes the ids the drawing defines (its arrowhead), so two drawings can share a page: a letter, then
    letters, digits, `-` or `_` (ValueError otherwise). `live` (the dashboard, for a running execution): a wave
    that has not ended is drawn in its stage's colour (`LIVE_COLOURS`: pending, ready, awaiting approval,
    running) and the legend lists those stages too (`LIVE_LEGEND`); every box still says its status in words."""
    if not _ID.fullmatch(id_prefix):
        raise ValueError(f"id_prefix must be a letter then letters, digits, - or _, not {id_prefix!r}")
    columns = layers(waves)
    tallest = max((len(c) for c in columns), default=0)
    pitch = NODE_HEIGHT + ROW_GAP
    nodes: dict[str, _Node] = {}
    for number, members in enumerate(columns):
        top = MARGIN + LEGEND_HEIGHT + (tallest - len(members)) * pitch / 2
        for row, wave in enumerate(members):
            nodes[wave.wave_id] = _node(wave, MARGIN + number * (NODE_WIDTH + COLUMN_GAP), top + row * pitch, live=live)
    edges = [
        _edge(nodes[d], node) for node in nodes.values() for d in dict.fromkeys(node.wave.depends_on) if d in nodes
    ]
    width = 2 * MARGIN + max(len(columns), 1) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = 2 * MARGIN + LEGEND_HEIGHT + max(tallest, 1) * pitch - ROW_GAP
    legend, pitch_of_legend = (LIVE_LEGEND, LIVE_LEGEND_PITCH) if live else (LEGEND, LEGEND_PITCH)
    text = (
        environment()
        .get_template("graph.svg.j2")
        .render(
            nodes=list(nodes.values()),
            edges=edges,
            width=max(width, len(legend) * pitch_of_legend + 2 * MARGIN),
            height=height,
            node_width=NODE_WIDTH,
            node_height=NODE_HEIGHT,
            margin=MARGIN,
            legend=[_node(GraphWave(status, status=status), 0.0, 0.0, live=live) for status in legend],
            legend_pitch=pitch_of_legend,
            running_note="" if live else " (not ended)",  # live: ready and awaiting approval have not ended either
            prefix=id_prefix,
        )
    )
    return Markup(text)  # noqa: S704 - rendered by an autoescaping template: every value in it is escaped
