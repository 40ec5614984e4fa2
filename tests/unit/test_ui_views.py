"""The dashboard's drawing (graph_svg with `live=True`): each stage of a wave that has not ended has its own colour
and is named in words; the evidence report's drawing (`live` False) is as it was."""

from __future__ import annotations

from orchestrator.reporting.graph_svg import LIVE_COLOURS, GraphWave, _tint, render_graph_svg
from orchestrator.reporting.timeline import OTHER_COLOUR


def _box(svg: str, wave_id: str) -> str:
    start = svg.index(f'<g class="node" data-wave-id="{wave_id}"')
    return svg[start : svg.index("</g>", start)]


def test_live_stages_have_their_own_colour_and_their_name() -> None:
    # GIVEN a wave awaiting approval, one ready and one launching
    waves = [
        GraphWave("db", status="AWAITING_APPROVAL"),
        GraphWave("app", ("db",), status="READY"),
        GraphWave("web", ("app",), status="LAUNCHING"),
    ]
    # WHEN drawn live, and for the evidence report
    live, evidence = str(render_graph_svg(waves, live=True)), str(render_graph_svg(waves))
    # THEN live: each its stage's colour (running stages share one), its status written in the box; the legend
    # names every stage
    assert f'fill="{_tint(LIVE_COLOURS["AWAITING_APPROVAL"])}"' in _box(live, "db")
    assert ">AWAITING_APPROVAL</text>" in _box(live, "db")
    assert f'fill="{_tint(LIVE_COLOURS["READY"])}"' in _box(live, "app")
    assert f'fill="{_tint(OTHER_COLOUR)}"' in _box(live, "web")
    assert ">LAUNCHING</text>" in _box(live, "web")
    for label in ("pending", "ready", "awaiting approval", "running", "completed", "failed", "skipped"):
        assert f">{label}</text>" in live
    # AND the evidence report's drawing keeps one colour for every wave not ended, and its legend
    assert all(f'fill="{_tint(OTHER_COLOUR)}"' in _box(evidence, w) for w in ("db", "app", "web"))
    assert ">running (not ended)</text>" in evidence
    assert ">awaiting approval</text>" not in evidence
