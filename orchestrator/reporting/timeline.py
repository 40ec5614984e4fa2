"""An execution report drawn as a timeline: an SVG Gantt chart with one row per wave (`drs-orch timeline`).

`render_svg(report)` takes the report `orchestrator.reporting.report.build_report` returns (or its JSON, loaded) and
returns plain SVG 1.1 text: per wave, the phases that happened (waiting for approval, pre-launch, DRS launch,
post-launch) as bars with tooltips, a marker coloured by the wave's outcome, thin connectors from the end of
each dependency to the moment the wave became ready, and a time axis in minutes:seconds from the execution
start. Standard library only, no script; the same report always gives the same text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.domain.clock import iso
from orchestrator.domain.status import ExecutionStatus, WaveStatus
from orchestrator.domain.untrusted import inert
from orchestrator.reporting.report import APPROVAL_TIME_KEYS, ATTEMPT_TIME_KEYS


class ReportError(ValueError):
    """The input is not an execution report as `drs-orch run --report` writes it."""


# ---- look ------------------------------------------------------------------------------------------

PHASES: tuple[tuple[str, str, str], ...] = (  # kind, name, fill
    ("approval", "waiting for approval", "#b07aa1"),
    ("pre-launch", "pre-launch", "#4e79a7"),
    ("launch", "DRS launch", "#f28e2b"),
    ("post-launch", "post-launch", "#76b7b2"),
)
PHASE_NAME = {kind: name for kind, name, _ in PHASES}
PHASE_FILL = {kind: fill for kind, _, fill in PHASES}
OUTCOME_COLOURS: dict[str, str] = {  # how a wave (or the execution: CANCELLED) ended
    WaveStatus.COMPLETED: "#2e7d32",
    WaveStatus.FAILED: "#d32f2f",
    WaveStatus.SKIPPED: "#9e9e9e",
    ExecutionStatus.CANCELLED: "#6d4c41",
}
FAILED_COLOUR = OUTCOME_COLOURS[WaveStatus.FAILED]
OTHER_COLOUR = "#f9a825"  # a wave still on its way when the report was written
FINAL = frozenset(OUTCOME_COLOURS)

MARGIN = 16
PLOT_WIDTH = 880
ROW_HEIGHT = 22
BAR_HEIGHT = 12
MARKER = 6
CHAR_WIDTH = 6.6  # an estimate at font-size 12; SVG 1.1 cannot measure text
MIN_BAR = 1.0
MAX_TICKS = 10
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
LABEL_ID_CHARS = 32
TITLE_CHARS = 110
HEADING_CHARS = 60
HEADING_CHAR_WIDTH = 8.4  # font-size 15, partly bold
FONT = "Helvetica, Arial, sans-serif"
TEXT = "#212121"
MUTED = "#616161"
GRID = "#e0e0e0"
CONNECTOR = "#757575"

# the moments of an attempt (orchestrator.domain.records.ATTEMPT_TIMES) under the report's keys, in their order
_READY, _PRE_LAUNCH, _LAUNCH_STARTED, _LAUNCHED, _POST_LAUNCH, _COMPLETED, _ENDED = ATTEMPT_TIME_KEYS
_WAVE_TIMES = (*ATTEMPT_TIME_KEYS, "skippedAt", "retriedAt")
_APPROVAL_TIMES = APPROVAL_TIME_KEYS  # the moments of an approval (orchestrator.domain.records.approvals)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ---- the report, checked -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Wave:
    index: int
    data: Mapping[str, Any]
    wave_id: str
    status: str
    attempt: int
    depends_on: tuple[str, ...]
    times: Mapping[str, datetime]
    approval: Mapping[str, Any]
    approval_times: Mapping[str, datetime]


@dataclass(frozen=True)
class _Phase:
    kind: str
    start: datetime
    end: datetime
    recorded: bool  # False: no end in the report, drawn to the end of the report
    failed: bool = False


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportError(f"{where}: expected an ISO 8601 time, found {_json_type(value)}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{where}: not an ISO 8601 time: {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _times(data: Mapping[str, Any], keys: Sequence[str], where: str) -> dict[str, datetime]:
    times = {}
    for key in keys:
        moment = _time(data.get(key), f"{where}.{key}")
        if moment is not None:
            times[key] = moment
    return times


def _wave(index: int, data: object, where: str | None = None) -> _Wave:
    where = where or f"waves[{index}]"
    if not isinstance(data, Mapping):
        raise ReportError(f"{where}: expected an object, found {_json_type(data)}")
    wave_id, status = data.get("waveId"), data.get("status")
    if not isinstance(wave_id, str):
        raise ReportError(f"{where}: no waveId")
    where = f"{where} (wave {wave_id})"
    if not isinstance(status, str):
        raise ReportError(f"{where}: no status")
    depends_on = data.get("dependsOn") or []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise ReportError(f"{where}.dependsOn: expected a list of wave ids")
    approval = data.get("approval") or {}
    if not isinstance(approval, Mapping):
        raise ReportError(f"{where}.approval: expected an object or null, found {_json_type(approval)}")
    attempt = data.get("attempt")
    return _Wave(
        index=index,
        data=data,
        wave_id=wave_id,
        status=status,
        attempt=attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1,
        depends_on=tuple(depends_on),
        times=_times(data, _WAVE_TIMES, where),
        approval=approval,
        approval_times=_times(approval, _APPROVAL_TIMES, f"{where}.approval"),
    )


def _check(report: object) -> tuple[Mapping[str, Any], list[_Wave]]:
    if not isinstance(report, Mapping):
        raise ReportError(f"not an execution report: expected a JSON object, found {_json_type(report)}")
    missing = [key for key in ("executionId", "waves") if key not in report]
    if missing:
        raise ReportError(
            f"not an execution report: no {' and no '.join(missing)} (write one with drs-orch run --report)"
        )
    if not isinstance(report["executionId"], str):
        raise ReportError(f"executionId: expected a string, found {_json_type(report['executionId'])}")
    if not isinstance(report["waves"], list):
        raise ReportError(f"waves: expected a list, found {_json_type(report['waves'])}")
    rows: list[tuple[object, str]] = []
    for index, data in enumerate(report["waves"]):
        rows.extend(_previous_attempts(index, data))
        rows.append((data, f"waves[{index}]"))
    return report, [_wave(row, data, where) for row, (data, where) in enumerate(rows)]


def _previous_attempts(index: int, data: object) -> list[tuple[object, str]]:
    """A retried wave's earlier attempts, each a row of its own above the wave's (same id and dependencies)."""
    if not isinstance(data, Mapping) or not data.get("previousAttempts"):
        return []
    previous = data["previousAttempts"]
    where = f"waves[{index}].previousAttempts"
    if not isinstance(previous, list) or not all(isinstance(p, Mapping) for p in previous):
        raise ReportError(f"{where}: expected a list of objects")
    return [
        (
            {**attempt, "waveId": data.get("waveId"), "dependsOn": data.get("dependsOn"), "earlierAttempt": True},
            f"{where}[{number}]",
        )
        for number, attempt in enumerate(previous)
    ]


# ---- what happened when ----------------------------------------------------------------------------


def _phases(wave: _Wave, horizon: datetime) -> list[_Phase]:
    """The phases that started, each ended by its own end time, else the wave's end, else the horizon."""
    t, a = wave.times, wave.approval_times
    specs: list[tuple[str, datetime | None, list[datetime | None]]] = [
        (
            "approval",
            a.get("requestedAt"),
            [a.get("approvedAt"), a.get("deniedAt"), a.get("timedOutAt"), t.get(_PRE_LAUNCH)],
        ),
        ("pre-launch", t.get(_PRE_LAUNCH), [t.get(_LAUNCH_STARTED)]),
        ("launch", t.get(_LAUNCH_STARTED), [t.get(_LAUNCHED), t.get(_POST_LAUNCH)]),
        ("post-launch", t.get(_POST_LAUNCH), [t.get(_COMPLETED)]),
    ]
    phases = []
    for kind, start, ends in specs:
        if start is None:
            continue
        end = next((moment for moment in [*ends, t.get(_ENDED)] if moment is not None), None)
        phases.append(_Phase(kind, start, max(end or horizon, start), recorded=end is not None))
    if wave.status == WaveStatus.FAILED and phases:
        phases[-1] = replace(phases[-1], failed=True)
    return phases


def _end(wave: _Wave, phases: Sequence[_Phase]) -> datetime | None:
    """When the wave ended (None: it had not, or the report does not say)."""
    t = wave.times
    moment = t.get(_ENDED) or t.get(_COMPLETED) or t.get("skippedAt")
    if moment is None and wave.status in FINAL and phases and phases[-1].recorded:
        moment = phases[-1].end
    return moment


def _tick_step(seconds: float) -> int:
    for step in TICK_STEPS:
        if seconds / step <= MAX_TICKS:
            return step
    return 86400 * math.ceil(seconds / 86400 / MAX_TICKS)


def _clock(seconds: float) -> str:
    """m:ss from the execution start (minutes go past 59)."""
    whole = max(int(seconds), 0)
    return f"{whole // 60}:{whole % 60:02d}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


# ---- SVG text ----------------------------------------------------------------------------------------


def _esc(value: object) -> str:
    """XML-escaped text for an element or an attribute; characters XML cannot carry, and those a viewer would act
    on instead of showing (`orchestrator.domain.untrusted.inert`: C1 controls, bidirectional overrides), become
    U+FFFD. Every text and attribute value of the SVG goes through here: a report may hold what a target
    instance wrote."""
    text = _NOT_XML.sub("\ufffd", inert(str(value)))
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def _num(value: float) -> str:
    text = f"{value:.1f}"
    if text in {"-0.0", "0.0"}:
        return "0"
    return text[:-2] if text.endswith(".0") else text


def _attrs(attrs: Mapping[str, object]) -> str:
    return "".join(f' {name}="{_num(v) if isinstance(v, float) else _esc(v)}"' for name, v in attrs.items())


def _el(tag: str, attrs: Mapping[str, object], body: str | None = None) -> str:
    if body is None:
        return f"<{tag}{_attrs(attrs)}/>"
    return f"<{tag}{_attrs(attrs)}>{body}</{tag}>"


def _tooltip(lines: Sequence[str]) -> str:
    return f"<title>{_esc(chr(10).join(lines))}</title>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _colour(status: str) -> str:
    return OUTCOME_COLOURS.get(status, OTHER_COLOUR)


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The objects in the list `data[key]` (no list: none; anything else in it is ignored)."""
    return [item for item in data.get(key) or [] if isinstance(item, Mapping)]


def _approval_details(approval: Mapping[str, Any]) -> list[str]:
    """The approval gate: its outcome, who could answer, who did and what they said."""
    lines: list[str] = []
    if approval.get("status"):
        lines.append(f"approval {approval['status']}")
    if approval.get("approvers"):
        lines.append(f"approvers: {', '.join(str(a) for a in approval['approvers'])}")
    if approval.get("approvedBy"):
        lines.append(
            f"approved by {approval['approvedBy']}" + (f": {approval['comment']}" if approval.get("comment") else "")
        )
    if approval.get("deniedBy"):
        lines.append(
            f"denied by {approval['deniedBy']}" + (f": {approval['denyReason']}" if approval.get("denyReason") else "")
        )
    return lines


def _launch_details(data: Mapping[str, Any]) -> list[str]:
    """The DRS launch: servers launched, the first failed ones, the first jobs."""
    servers, jobs = _objects(data, "servers"), _objects(data, "jobs")
    launched = sum(1 for s in servers if s.get("launchStatus") == "LAUNCHED")
    failed = [str(s.get("sourceServerId")) for s in servers if s.get("launchStatus") == "FAILED"]
    lines = [f"{launched}/{len(servers)} servers launched in {len(jobs)} DRS job(s)"]
    if failed:
        more = f" and {len(failed) - 5} more" if failed[5:] else ""
        lines.append(f"failed: {', '.join(failed[:5])}{more}")
    lines.extend(f"job {j.get('jobId')}: {j.get('status')}" for j in jobs[:5])
    if jobs[5:]:
        lines.append(f"and {len(jobs) - 5} more job(s)")
    return lines


def lambda_request_id(script: Mapping[str, Any]) -> str | None:
    """A LAMBDA step's Lambda request id (its one result row, where an SSM step has its instances), else None."""
    rows = script.get("instances")
    if not str(script.get("documentName") or "").startswith("LAMBDA ") or not isinstance(rows, list) or len(rows) != 1:
        return None
    row = rows[0]
    request = row.get("instanceId") if isinstance(row, Mapping) else None
    return request if isinstance(request, str) else None


def _script_details(data: Mapping[str, Any], phase: str) -> list[str]:
    """The first scripts of `phase` (PRE_LAUNCH or POST_LAUNCH) and how each ended."""
    scripts = [s for s in _objects(data, "scripts") if s.get("phase") == phase]
    lines = []
    for script in scripts[:8]:
        what = "health check " if script.get("healthCheck") else ""
        request = lambda_request_id(script)
        called = f" (request {request})" if request else ""
        lines.append(f"{what}{script.get('documentName')}: {script.get('status')}{called}")
    if scripts[8:]:
        lines.append(f"and {len(scripts) - 8} more script(s)")
    return lines


class _Chart:
    """Geometry: rows of ROW_HEIGHT under a header, a plot of PLOT_WIDTH right of the labels."""

    def __init__(self, report: Mapping[str, Any], waves: list[_Wave]) -> None:
        self.report, self.waves = report, waves
        self.started = _time(report.get("startedAt"), "startedAt")
        self.ended = _time(report.get("endedAt"), "endedAt")
        moments = [m for w in waves for m in (*w.times.values(), *w.approval_times.values())]
        moments += [m for m in (self.started, self.ended) if m is not None]
        self.t0 = self.started or (min(moments) if moments else datetime(1970, 1, 1, tzinfo=UTC))
        self.horizon = max([self.t0, *moments])
        self.phases = {w.index: _phases(w, self.horizon) for w in waves}
        self.ends = {w.index: _end(w, self.phases[w.index]) for w in waves}
        seconds = max((self.horizon - self.t0).total_seconds(), 1.0)
        self.step = _tick_step(seconds)
        self.span = float(self.step * math.ceil(seconds / self.step))
        label_chars = max((len(self._label_id(w)) + len(self._label_state(w)) for w in waves), default=10)
        self.label_width = min(max(label_chars * CHAR_WIDTH + 20, 120.0), 420.0)
        self.plot_left = MARGIN + self.label_width + 8
        plan, execution, *rest = self._heading_parts()
        heading_chars = min(len(plan), HEADING_CHARS) + min(len(execution), HEADING_CHARS) + sum(map(len, rest)) + 24
        self.width = max(self.plot_left + PLOT_WIDTH + MARKER + MARGIN, 2 * MARGIN + heading_chars * HEADING_CHAR_WIDTH)
        self.header = self._header()
        self.legend_top = MARGIN + 14 + 22 * len(self.header) + 26
        self.legend = self._legend_rows()
        self.rows_top = self.legend_top + 18 * len(self.legend) + 16
        self.rows_bottom = self.rows_top + ROW_HEIGHT * max(len(waves), 1)
        self.height = self.rows_bottom + 50

    # -- positions
    def offset(self, moment: datetime) -> float:
        return (moment - self.t0).total_seconds()

    def x(self, moment: datetime) -> float:
        seconds = min(max(self.offset(moment), 0.0), self.span)
        return self.plot_left + seconds / self.span * PLOT_WIDTH

    def centre(self, wave: _Wave) -> float:
        return self.rows_top + ROW_HEIGHT * wave.index + ROW_HEIGHT / 2

    def when(self, moment: datetime) -> str:
        return f"{iso(moment)} (+{_clock(self.offset(moment))})"

    # -- header
    def _header(self) -> list[str]:
        """The lines under the heading: when, who, why it stopped."""
        report = self.report
        times = [f"started {iso(self.started)}" if self.started else "start not recorded"]
        if self.ended:
            times.append(f"ended {iso(self.ended)}")
        if report.get("requestedBy"):
            times.append(f"requested by {report['requestedBy']}")
        if report.get("cancelledBy"):
            times.append(f"cancelled by {report['cancelledBy']}")
        lines = [" · ".join(times)]
        if report.get("stopReason"):
            lines.append(f"stopped: {report['stopReason']}")
        return lines

    def _heading_parts(self) -> tuple[str, str, str, str, str]:
        """Plan, execution, mode, final status, duration (the first two cut to a sensible length)."""
        report = self.report
        plan_id, name = report.get("planId"), report.get("planName")
        plan = f"{name} ({plan_id})" if name and plan_id else str(name or plan_id or "plan")
        seconds = report.get("durationSeconds")
        if not isinstance(seconds, int | float) and self.started and self.ended:
            seconds = (self.ended - self.started).total_seconds()
        duration = _duration(float(seconds)) if isinstance(seconds, int | float) else "duration unknown"
        return (
            plan,
            str(report["executionId"]),
            str(report.get("mode") or "?"),
            str(report.get("status") or "?"),
            duration,
        )

    def _heading(self) -> str:
        plan, execution, mode, status, duration = self._heading_parts()
        body = _esc(_cut(plan, HEADING_CHARS))
        if len(plan) > HEADING_CHARS or len(execution) > HEADING_CHARS:
            body = _tooltip([f"{plan} · execution {execution}"]) + body
        muted = {"font-weight": "normal", "fill": MUTED}
        body += _el("tspan", muted, _esc(f" · execution {_cut(execution, HEADING_CHARS)} · "))
        body += _el("tspan", {"class": "mode", "fill": FAILED_COLOUR if mode == "RECOVERY" else TEXT}, _esc(mode))
        body += _el("tspan", muted, " · ")
        body += _el("tspan", {"class": "status", "fill": _colour(status)}, _esc(status))
        body += _el("tspan", muted, _esc(f" · {duration}"))
        return _el(
            "text",
            {"class": "heading", "x": MARGIN, "y": MARGIN + 14, "font-size": 15, "font-weight": "bold", "fill": TEXT},
            body,
        )

    def _title(self) -> list[str]:
        out = [self._heading()]
        for number, line in enumerate(self.header, start=1):
            stop = line.startswith("stopped: ")
            attrs = {
                "class": "stop-reason" if stop else "subheading",
                "x": MARGIN,
                "y": MARGIN + 14 + 22 * number,
                "fill": FAILED_COLOUR if stop else MUTED,
            }
            body = _esc(_cut(line, TITLE_CHARS))
            if len(line) > TITLE_CHARS:
                body = _tooltip([line]) + body
            out.append(_el("text", attrs, body))
        return out

    # -- legend, axis
    def _legend_items(self) -> list[tuple[str, str]]:
        swatch = {"x": 0.0, "y": -9.0, "width": 14, "height": 10, "rx": 2}
        items = [(name, _el("rect", {**swatch, "fill": fill})) for _, name, fill in PHASES]
        items.append(
            ("failed in phase", _el("rect", {**swatch, "fill": "#ffffff", "stroke": FAILED_COLOUR, "stroke-width": 2}))
        )
        items.append(
            ("ready", _el("line", {"x1": 7, "y1": -10, "x2": 7, "y2": 2, "stroke": TEXT, "stroke-width": 1.5}))
        )
        items.append(("dependency", _el("path", {"d": "M1,-9 V-3 H14", "fill": "none", "stroke": CONNECTOR})))
        items.extend(
            (status.lower(), self._diamond(7.0, -4.0, _colour(status)))
            for status in (WaveStatus.COMPLETED, WaveStatus.FAILED, WaveStatus.SKIPPED)
        )
        return items

    def _legend_rows(self) -> list[list[tuple[float, str, str]]]:
        """The legend's items as (x, text, symbol), in as many lines as the width needs."""
        rows: list[list[tuple[float, str, str]]] = [[]]
        x = float(MARGIN)
        for text, symbol in self._legend_items():
            width = 19 + len(text) * CHAR_WIDTH
            if rows[-1] and x + width > self.width - MARGIN:
                rows.append([])
                x = float(MARGIN)
            rows[-1].append((x, text, symbol))
            x += width + 14
        return rows

    def _legend(self) -> list[str]:
        out = ['<g class="legend">']
        for number, row in enumerate(self.legend):
            y = self.legend_top + 18 * number
            out.extend(
                f'<g transform="translate({_num(x)},{_num(float(y))})">{symbol}'
                + _el("text", {"x": 19, "y": 0, "fill": TEXT}, _esc(text))
                + "</g>"
                for x, text, symbol in row
            )
        out.append("</g>")
        return out

    def _axis(self) -> list[str]:
        out = ['<g class="axis">']
        ticks = round(self.span / self.step)
        for number in range(ticks + 1):
            seconds = number * self.step
            x = self.plot_left + seconds / self.span * PLOT_WIDTH
            out.append(
                _el(
                    "line",
                    {"x1": x, "y1": float(self.rows_top), "x2": x, "y2": float(self.rows_bottom), "stroke": GRID},
                )
            )
            for y in (self.rows_top - 6, self.rows_bottom + 14):
                out.append(
                    _el(
                        "text",
                        {"x": x, "y": y, "text-anchor": "middle", "fill": MUTED, "font-size": 11},
                        _clock(seconds),
                    )
                )
        out.append(
            _el(
                "text",
                {
                    "x": self.plot_left + PLOT_WIDTH / 2,
                    "y": self.rows_bottom + 32,
                    "text-anchor": "middle",
                    "fill": MUTED,
                    "font-size": 11,
                },
                _esc("minutes:seconds since the execution started" + (f" ({iso(self.t0)})" if self.started else "")),
            )
        )
        out.append("</g>")
        return out

    def _stripes(self) -> list[str]:
        out = ['<g class="rows">']
        for wave in self.waves:
            if wave.index % 2 == 0:
                out.append(
                    _el(
                        "rect",
                        {
                            "x": MARGIN,
                            "y": self.rows_top + ROW_HEIGHT * wave.index,
                            "width": self.width - 2 * MARGIN,
                            "height": ROW_HEIGHT,
                            "fill": "#f5f5f5",
                        },
                    )
                )
        if not self.waves:
            out.append(
                _el("text", {"x": self.plot_left, "y": self.rows_top + 15, "fill": MUTED}, "the report has no waves")
            )
        out.append("</g>")
        return out

    # -- dependencies
    def _connectors(self) -> list[str]:
        final: dict[str, _Wave] = {}  # a retried wave's last row is its final attempt: dependents follow it
        for wave in self.waves:
            final[wave.wave_id] = wave
        out = ['<g class="dependencies" fill="none" stroke="' + CONNECTOR + '" stroke-width="1">']
        for wave in self.waves:
            ready = wave.times.get(_READY)
            if ready is None:
                continue
            for dep_id in wave.depends_on:
                dep = final.get(dep_id)
                dep_end = self.ends[dep.index] if dep is not None else None
                if dep is None or dep_end is None:
                    continue
                x1, x2 = self.x(dep_end), self.x(ready)
                y1, y2 = self.centre(dep), self.centre(wave)
                y1 += MARKER if y2 > y1 else -MARKER if y2 < y1 else 0
                tip = [
                    f"{wave.wave_id} after {dep_id}",
                    f"{dep_id} ended {self.when(dep_end)}",
                    f"{wave.wave_id} ready {self.when(ready)}",
                ]
                out.append(
                    _el(
                        "path",
                        {"class": "dependency", "d": f"M{_num(x1)},{_num(y1)} V{_num(y2)} H{_num(x2)}"},
                        _tooltip(tip),
                    )
                )
        out.append("</g>")
        return out

    # -- one wave
    def _label_id(self, wave: _Wave) -> str:
        return _cut(wave.wave_id, LABEL_ID_CHARS)

    def _label_state(self, wave: _Wave) -> str:
        retried = wave.attempt > 1 or bool(wave.data.get("earlierAttempt"))
        return wave.status + (f" · attempt {wave.attempt}" if retried else "")

    def _summary(self, wave: _Wave) -> list[str]:
        lines = [f"wave {wave.wave_id}: {wave.status}" + (f" (attempt {wave.attempt})" if wave.attempt > 1 else "")]
        if wave.depends_on:
            lines.append(f"depends on {', '.join(wave.depends_on)}")
        servers = _objects(wave.data, "servers")
        if servers:
            launched = sum(1 for s in servers if s.get("launchStatus") == "LAUNCHED")
            lines.append(f"{launched}/{len(servers)} servers launched")
        if wave.data.get("skippedBy"):
            lines.append(f"skipped by {wave.data['skippedBy']}")
        if wave.data.get("retriedBy"):
            lines.append(f"retried by {wave.data['retriedBy']}")
        if wave.data.get("reason"):
            lines.append(f"reason: {wave.data['reason']}")
        return lines

    def _details(self, wave: _Wave, kind: str) -> list[str]:
        """What the phase did: who answered the gate, servers and jobs, scripts."""
        if kind == "approval":
            return _approval_details(wave.approval)
        if kind == "launch":
            return _launch_details(wave.data)
        return _script_details(wave.data, "PRE_LAUNCH" if kind == "pre-launch" else "POST_LAUNCH")

    def _bar(self, wave: _Wave, phase: _Phase) -> str:
        x1, x2 = self.x(phase.start), self.x(phase.end)
        y = self.centre(wave) - BAR_HEIGHT / 2
        tip = [
            f"{wave.wave_id} · {PHASE_NAME[phase.kind]}",
            f"start {self.when(phase.start)}",
            f"end {self.when(phase.end)}" if phase.recorded else "end not recorded: drawn to the end of the report",
            f"duration {_duration((phase.end - phase.start).total_seconds())}",
            *self._details(wave, phase.kind),
        ]
        attrs: dict[str, object] = {
            "class": f"bar {phase.kind}",
            "x": x1,
            "y": y,
            "width": max(x2 - x1, MIN_BAR),
            "height": float(BAR_HEIGHT),
            "rx": 2,
            "fill": PHASE_FILL[phase.kind],
        }
        if phase.failed:
            attrs.update({"stroke": FAILED_COLOUR, "stroke-width": 2})
            tip.append(f"the wave failed here: {wave.data.get('reason') or 'no reason recorded'}")
        elif not phase.recorded:
            attrs.update({"fill-opacity": 0.5, "stroke": MUTED, "stroke-dasharray": "3,2"})
        return _el("rect", attrs, _tooltip(tip))

    @staticmethod
    def _diamond(
        x: float, y: float, fill: str, extra: Mapping[str, object] | None = None, body: str | None = None
    ) -> str:
        d = (
            f"M{_num(x)},{_num(y - MARKER)} L{_num(x + MARKER)},{_num(y)} L{_num(x)},{_num(y + MARKER)} "
            f"L{_num(x - MARKER)},{_num(y)} Z"
        )
        return _el("path", {**(extra or {}), "d": d, "fill": fill, "stroke": "#ffffff", "stroke-width": 1}, body)

    def _row(self, wave: _Wave) -> list[str]:
        y = self.centre(wave)
        out = ['<g class="wave">']
        label = (
            _tooltip(self._summary(wave))
            + _el("tspan", {"class": "wave-id", "font-weight": "bold", "fill": TEXT}, _esc(self._label_id(wave)))
            + _el(
                "tspan", {"class": "wave-status", "dx": 8, "fill": _colour(wave.status)}, _esc(self._label_state(wave))
            )
        )
        out.append(_el("text", {"class": "label", "x": MARGIN + 4, "y": y + 4}, label))
        ready = wave.times.get(_READY)
        if ready is not None:
            x = self.x(ready)
            out.append(
                _el(
                    "line",
                    {
                        "class": "ready",
                        "x1": x,
                        "y1": y - BAR_HEIGHT / 2 - 2,
                        "x2": x,
                        "y2": y + BAR_HEIGHT / 2 + 2,
                        "stroke": TEXT,
                        "stroke-width": 1.5,
                    },
                    _tooltip([f"{wave.wave_id} ready (dependencies met) {self.when(ready)}"]),
                )
            )
        out.extend(self._bar(wave, phase) for phase in self.phases[wave.index])
        end = self.ends[wave.index]
        if end is not None and (wave.status in FINAL or _ENDED in wave.times):
            tip = [*self._summary(wave)[:1], f"ended {self.when(end)}", *self._summary(wave)[1:]]
            out.append(self._diamond(self.x(end), y, _colour(wave.status), {"class": "marker"}, _tooltip(tip)))
        out.append("</g>")
        return out

    def svg(self) -> str:
        title = f"Timeline of execution {self.report['executionId']}"
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_num(self.width)}" '
            f'height="{_num(float(self.height))}" viewBox="0 0 {_num(self.width)} {_num(float(self.height))}" '
            f'font-family="{FONT}" font-size="12">',
            f"<title>{_esc(title)}</title>",
            _el("rect", {"x": 0, "y": 0, "width": self.width, "height": float(self.height), "fill": "#ffffff"}),
            *self._title(),
            *self._legend(),
            *self._stripes(),
            *self._axis(),
            *self._connectors(),
        ]
        for wave in self.waves:
            parts.extend(self._row(wave))
        parts.append("</svg>")
        return "\n".join(parts) + "\n"


def render_svg(report: Mapping[str, Any]) -> str:
    """The execution as an SVG Gantt chart (SVG 1.1 text); ReportError when `report` is not a report."""
    checked, waves = _check(report)
    return _Chart(checked, waves).svg()
