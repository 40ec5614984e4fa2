"""A report holding what a compromised target instance (or any outsider) wrote is drawn inert: the SVG timeline
(orchestrator/reporting/timeline.py) escapes every string of the report in its elements and attributes, and
no character a viewer would act on survives; `drs-orch timeline` reads the report as JSON data, nothing more."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from drs_orch.app import app
from orchestrator.domain.untrusted import NOT_INERT
from orchestrator.reporting.timeline import render_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)
R = "\ufffd"

CLOSE_AND_SCRIPT = "</text><script>alert(1)</script>"  # 32 characters: a wave label shows it whole
ATTRIBUTE = '" onload="alert(1)'
TERMINAL = "\x1b]52;c;ZXZpbA==\x07 \x9b31m \u202eevil\u202c [bold]x[/bold] FAILED\rPASSED"
TERMINAL_SHOWN = f"{R}]52;c;ZXZpbA=={R} {R}31m {R}evil{R} [bold]x[/bold] FAILED{R}PASSED"
HOSTILE = f"{ATTRIBUTE} {CLOSE_AND_SCRIPT} {TERMINAL}"
HOSTILE_SHOWN = f"{ATTRIBUTE} {CLOSE_AND_SCRIPT} {TERMINAL_SHOWN}"

TAGS = {"svg", "title", "rect", "text", "tspan", "line", "path", "g"}
ATTRIBUTES = {
    "xmlns", "version", "width", "height", "viewBox", "font-family", "font-size", "font-weight", "x", "y", "x1",
    "y1", "x2", "y2", "dx", "rx", "d", "fill", "fill-opacity", "stroke", "stroke-width", "stroke-dasharray",
    "class", "text-anchor", "transform",
}  # fmt: skip


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _script(phase: str) -> dict[str, Any]:
    """A script summary as the report gives it, with what its instance reported."""
    return {
        "phase": phase,
        "documentName": f"Doc {HOSTILE}",
        "status": f"Failed {HOSTILE}",
        "reason": HOSTILE,
        "instances": [{"instanceId": f"i-{HOSTILE}", "status": HOSTILE, "output": HOSTILE}],
    }


def _wave(wave_id: str, depends_on: list[str], start: float) -> dict[str, Any]:
    return {
        "waveId": wave_id,
        "status": "FAILED",
        "attempt": 1,
        "dependsOn": depends_on,
        "readyAt": at(start),
        "preLaunchAt": at(start + 1),
        "launchStartedAt": at(start + 10),
        "launchedAt": at(start + 100),
        "postLaunchAt": at(start + 101),
        "endedAt": at(start + 120),
        "reason": HOSTILE,
        "jobs": [{"jobId": f"drsjob-{HOSTILE}", "status": HOSTILE}],
        "servers": [{"sourceServerId": f"s-{HOSTILE}", "launchStatus": "FAILED", "reason": HOSTILE}],
        "scripts": [_script("PRE_LAUNCH"), _script("POST_LAUNCH")],
        "warnings": [HOSTILE],
        "approval": {
            "status": HOSTILE,
            "approvers": [HOSTILE],
            "requestedAt": at(start),
            "approvedAt": at(start + 1),
            "approvedBy": HOSTILE,
            "comment": HOSTILE,
        },
        "retriedBy": HOSTILE,
        "skippedBy": HOSTILE,
    }


def hostile_report() -> dict[str, Any]:
    """A report in which every string that is not a time or a key holds hostile text."""
    return {
        "executionId": f"exec {HOSTILE}",
        "planId": HOSTILE,
        "planName": HOSTILE,
        "mode": HOSTILE,
        "status": HOSTILE,
        "startedAt": at(0),
        "endedAt": at(300),
        "durationSeconds": 300.0,
        "requestedBy": HOSTILE,
        "cancelledBy": HOSTILE,
        "stopReason": HOSTILE,
        "waves": [_wave(CLOSE_AND_SCRIPT, [], 0), _wave(ATTRIBUTE, [CLOSE_AND_SCRIPT], 150)],
        "events": [],
    }


def _tooltips(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}title")]


def _shown(element: ET.Element) -> str:
    """The text an element shows (its tooltip, a <title> child, left out)."""
    return (element.text or "") + "".join(child.tail or "" for child in element)


def _labels(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}tspan") if t.get("class") == "wave-id"]


def test_every_string_of_a_hostile_report_is_text_in_the_svg_never_markup() -> None:
    # GIVEN a report whose every string is hostile: XML that closes the element and opens a script, a quote
    # that closes the attribute and opens an event handler, terminal controls, Rich markup
    data = hostile_report()

    # WHEN it is drawn
    svg = render_svg(data)
    root = ET.fromstring(svg.encode("utf-8"))  # well-formed

    # THEN the SVG has only the chart's own elements and attributes: no script, no event handler
    assert {element.tag.removeprefix(SVG) for element in root.iter()} <= TAGS
    assert {name for element in root.iter() for name in element.attrib} <= ATTRIBUTES
    assert "<script" not in svg
    # AND no character a viewer would act on is left anywhere in it
    assert NOT_INERT.search(svg) is None
    # AND the hostile text reads back as text, exactly (the terminal controls replaced)
    assert _labels(root) == [CLOSE_AND_SCRIPT, ATTRIBUTE]
    lines = "\n".join(_tooltips(root)).split("\n")
    for expected in (
        f"Timeline of execution exec {HOSTILE_SHOWN}",
        f"reason: {HOSTILE_SHOWN}",
        f"the wave failed here: {HOSTILE_SHOWN}",
        f"approved by {HOSTILE_SHOWN}: {HOSTILE_SHOWN}",
        f"approvers: {HOSTILE_SHOWN}",
        f"Doc {HOSTILE_SHOWN}: Failed {HOSTILE_SHOWN}",
        f"job drsjob-{HOSTILE_SHOWN}: {HOSTILE_SHOWN}",
        f"retried by {HOSTILE_SHOWN}",
        f"{ATTRIBUTE} after {CLOSE_AND_SCRIPT}",
    ):
        assert expected in lines, expected
    assert [_shown(t) for t in root.iter(f"{SVG}text") if t.get("class") == "stop-reason"] == [
        f"stopped: {HOSTILE_SHOWN}"[:109] + "…"
    ]


def test_drs_orch_timeline_reads_a_hostile_report_as_data(tmp_path: Path) -> None:
    # GIVEN that report as JSON, as `run --report` or `report -o` write it
    source = tmp_path / "report.json"
    source.write_text(json.dumps(hostile_report(), indent=2))

    # WHEN `drs-orch timeline` draws it
    result = CliRunner().invoke(app, ["timeline", str(source), "-o", str(tmp_path / "out.svg")])

    # THEN it is drawn from the data alone: the same picture render_svg gives
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.svg").read_text(encoding="utf-8") == render_svg(hostile_report())
