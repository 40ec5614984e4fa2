"""`orchestrator.reporting.graph_svg`: the waves' dependency graph as inline SVG, each wave coloured by its
outcome and saying it in words."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from orchestrator.reporting.graph_svg import GraphWave, graph_waves, layers, render_graph_svg
from orchestrator.reporting.timeline import OTHER_COLOUR, OUTCOME_COLOURS

SVG = "{http://www.w3.org/2000/svg}"


def _ids(columns: list[list[GraphWave]]) -> list[list[str]]:
    return [[w.wave_id for w in column] for column in columns]


def test_waves_are_in_columns_by_dependency_depth_ordered_by_their_dependencies_rows() -> None:
    # GIVEN two roots and waves depending on them (x on b only, y on a only, z on x and a)
    waves = [
        GraphWave("a"),
        GraphWave("b"),
        GraphWave("x", ("b",)),
        GraphWave("y", ("a",)),
        GraphWave("z", ("x", "a")),
    ]
    # WHEN laid out
    # THEN roots first; y (under a, row 0) before x (under b, row 1); z one column right of its deepest, x
    assert _ids(layers(waves)) == [["a", "b"], ["y", "x"], ["z"]]


def test_unknown_dependencies_are_ignored_and_a_cycle_goes_in_a_last_column() -> None:
    # GIVEN a wave depending on a wave not in the list, and two waves depending on each other
    waves = [GraphWave("a", ("gone",)), GraphWave("p", ("q",)), GraphWave("q", ("p",))]
    # WHEN laid out / THEN a is a root; the cycle is drawn after everything else
    assert _ids(layers(waves)) == [["a"], ["p", "q"]]
    assert _ids(layers([])) == []


def test_the_drawing_has_a_box_per_wave_with_its_status_in_words_and_colour_and_an_arrow_per_dependency() -> None:
    # GIVEN a diamond whose right branch failed and whose end was skipped
    waves = [
        GraphWave("db", status="COMPLETED"),
        GraphWave("app", ("db",), status="COMPLETED", attempt=2),
        GraphWave("cache", ("db",), status="FAILED", reason="1 CRITICAL server(s) did not launch"),
        GraphWave("web", ("app", "cache"), status="SKIPPED"),
        GraphWave("dns", status="LAUNCHING"),
    ]

    # WHEN drawn
    svg = ET.fromstring(str(render_graph_svg(waves)))

    # THEN a box per wave: its id and status as text, its outcome's colour as the border, FAILED thicker,
    # SKIPPED dashed, a wave still running dotted in the "other" colour
    boxes = {g.get("data-wave-id"): g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"}
    assert list(boxes) == ["db", "dns", "app", "cache", "web"]
    texts = {wave_id: [t.text for t in g.iter(f"{SVG}text")] for wave_id, g in boxes.items()}
    assert texts == {
        "db": ["db", "COMPLETED"],
        "dns": ["dns", "LAUNCHING"],
        "app": ["app", "COMPLETED · attempt 2"],
        "cache": ["cache", "FAILED"],
        "web": ["web", "SKIPPED"],
    }
    rects = {wave_id: g.find(f"{SVG}rect") for wave_id, g in boxes.items()}
    assert {w: (r.get("stroke"), r.get("stroke-width"), r.get("stroke-dasharray")) for w, r in rects.items()} == {
        "db": (OUTCOME_COLOURS["COMPLETED"], "1.5", None),
        "dns": (OTHER_COLOUR, "1.5", "2,3"),
        "app": (OUTCOME_COLOURS["COMPLETED"], "1.5", None),
        "cache": (OUTCOME_COLOURS["FAILED"], "3.0", None),
        "web": (OUTCOME_COLOURS["SKIPPED"], "1.5", "6,3"),
    }
    assert boxes["cache"].find(f"{SVG}title").text == (
        "wave cache: FAILED\ndepends on db\nreason: 1 CRITICAL server(s) did not launch"
    )
    # AND an arrow per dependency, from the right of the dependency's box to the left of the dependent's
    edges = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert sorted(e.find(f"{SVG}title").text for e in edges) == [
        "app after db",
        "cache after db",
        "web after app",
        "web after cache",
    ]
    app = rects["app"]
    [app_after_db] = [e for e in edges if e.find(f"{SVG}title").text == "app after db"]
    start, end = app_after_db.get("d").split(" C")[0], app_after_db.get("d").rsplit(" ", 1)[1]
    db = rects["db"]
    assert start == f"M{float(db.get('x')) + float(db.get('width')):g},{float(db.get('y')) + 23:g}"
    assert end == f"{float(app.get('x')) - 2:g},{float(app.get('y')) + 23:g}"


def test_graph_waves_reads_the_report_and_long_ids_are_cut_with_their_whole_id_in_the_tooltip() -> None:
    # GIVEN a report with a long wave id and an entry that is no wave
    long_id = "w" * 40
    report = {
        "waves": [
            {"waveId": long_id, "status": "COMPLETED", "dependsOn": [], "attempt": 1},
            {"waveId": "b", "status": "FAILED", "dependsOn": [long_id], "attempt": 3, "reason": "why"},
            "not a wave",
        ]
    }
    # WHEN read and drawn
    waves = graph_waves(report)
    svg = ET.fromstring(str(render_graph_svg(waves, id_prefix="report-1")))
    # THEN both waves, the first label cut, the arrow's marker under the given prefix
    assert waves == [GraphWave(long_id, (), "COMPLETED", 1, None), GraphWave("b", (long_id,), "FAILED", 3, "why")]
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("font-weight") == "bold"]
    assert labels == ["w" * 23 + "…", "b"]
    assert [m.get("id") for m in svg.iter(f"{SVG}marker")] == ["report-1-arrow"]
    with pytest.raises(ValueError, match="id_prefix"):
        render_graph_svg(waves, id_prefix='x" onload="alert(1)')


def test_hostile_wave_ids_and_reasons_are_escaped() -> None:
    # GIVEN a wave whose id and reason are markup
    hostile = '</text><script>alert(1)</script><text x="'
    # WHEN drawn
    text = str(render_graph_svg([GraphWave(hostile, status=hostile, reason=hostile)]))
    # THEN it is well-formed SVG with no script element, the id shown as text
    svg = ET.fromstring(text)
    assert [e for e in svg.iter() if e.tag.endswith("script")] == []
    [node] = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "node"]
    assert node.get("data-wave-id") == hostile
