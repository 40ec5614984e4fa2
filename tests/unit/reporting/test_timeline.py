"""`orchestrator.reporting.timeline.render_svg` and `drs-orch timeline`: an execution report drawn as an SVG
Gantt chart."""

from __future__ import annotations

import copy
import itertools
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from drs_orch.app import app
from orchestrator.reporting.timeline import ReportError, render_svg

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 1, 1, 9, 0, 0, tzinfo=UTC)
runner = CliRunner()


# ---- building reports by hand --------------------------------------------------------------------------


def at(seconds: float | None) -> str | None:
    """The report's time `seconds` after the execution start."""
    if seconds is None:
        return None
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wave(
    wave_id: str,
    status: str = "COMPLETED",
    depends_on: tuple[str, ...] = (),
    *,
    ready: float | None = None,
    pre: float | None = None,
    launch: float | None = None,
    launched: float | None = None,
    post: float | None = None,
    completed: float | None = None,
    ended: float | None = None,
    reason: str | None = None,
    approval: dict[str, Any] | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    return {
        "waveId": wave_id,
        "status": status,
        "attempt": attempt,
        "dependsOn": list(depends_on),
        "readyAt": at(ready),
        "preLaunchAt": at(pre),
        "launchStartedAt": at(launch),
        "launchedAt": at(launched),
        "postLaunchAt": at(post),
        "completedAt": at(completed),
        "endedAt": at(ended),
        "reason": reason,
        "jobs": [],
        "servers": [],
        "scripts": [],
        "warnings": [],
        "approval": approval,
    }


def completed(wave_id: str, start: float, depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    """A wave that became ready at `start` and ran every phase: 2 minutes in all."""
    return wave(
        wave_id,
        "COMPLETED",
        depends_on,
        ready=start,
        pre=start + 1,
        launch=start + 10,
        launched=start + 100,
        post=start + 101,
        completed=start + 120,
        ended=start + 120,
    )


def report(waves: list[dict[str, Any]], status: str = "COMPLETED", **extra: Any) -> dict[str, Any]:
    ends = [_seconds(w.get("endedAt")) for w in waves]
    end = max((e for e in ends if e is not None), default=0.0)
    return {
        "executionId": "plan-0123456789ab",
        "planId": "plan",
        "planName": "A plan",
        "mode": "DRILL",
        "status": status,
        "startedAt": at(0),
        "endedAt": at(end),
        "durationSeconds": end,
        "requestedBy": "alice",
        "stopReason": None,
        "waves": waves,
        "events": [],
        **extra,
    }


def _seconds(moment: str | None) -> float | None:
    if moment is None:
        return None
    return (datetime.fromisoformat(moment.replace("Z", "+00:00")) - T0).total_seconds()


def diamond() -> dict[str, Any]:
    return report(
        [completed("A", 0), completed("B", 121, ("A",)), completed("C", 121, ("A",)), completed("D", 242, ("B", "C"))]
    )


def failed_then_skipped() -> dict[str, Any]:
    reason = "1 CRITICAL server(s) did not launch: s-b0000000000000001"
    return report(
        [
            completed("A", 0),
            wave("B", "FAILED", ("A",), ready=121, pre=122, launch=130, ended=400, reason=reason),
            wave("D", "SKIPPED", ("B",), ended=401, reason=f"wave B failed: {reason}"),
        ],
        status="FAILED",
        stopReason=f"wave B failed: {reason}",
    )


# ---- reading the picture ---------------------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def rows(root: ET.Element) -> dict[str, ET.Element]:
    """Each wave's group, by the wave id of its label."""
    found = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "wave":
            label = group.find(f"{SVG}text[@class='label']/{SVG}tspan[@class='wave-id']")
            assert label is not None
            assert label.text is not None
            found[label.text] = group
    return found


def bars(row: ET.Element) -> dict[str, ET.Element]:
    """The row's phase bars by kind (approval, pre-launch, launch, post-launch)."""
    return {
        rect.get("class", "").split()[1]: rect
        for rect in row.iter(f"{SVG}rect")
        if rect.get("class", "").startswith("bar ")
    }


def left(bar: ET.Element) -> float:
    return float(bar.get("x", "nan"))


def right(bar: ET.Element) -> float:
    return left(bar) + float(bar.get("width", "nan"))


def marker(row: ET.Element) -> ET.Element:
    found = [path for path in row.iter(f"{SVG}path") if path.get("class") == "marker"]
    assert len(found) == 1
    return found[0]


def marker_x(row: ET.Element) -> float:
    match = re.match(r"M([-\d.]+),", marker(row).get("d", ""))
    assert match
    return float(match.group(1))


def ready_x(row: ET.Element) -> float:
    line = row.find(f"{SVG}line[@class='ready']")
    assert line is not None
    return float(line.get("x1", "nan"))


def tooltip(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None
    assert title.text
    return title.text


def rgb(colour: str | None) -> tuple[int, int, int]:
    assert colour is not None
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", colour)
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return red, green, blue


def is_red(colour: str | None) -> bool:
    red, green, blue = rgb(colour)
    return red > 0xC0 and green < 0x60 and blue < 0x60


def connectors(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Each dependency connector as (x start, y start, y end, x end), keyed by its first tooltip line."""
    found = {}
    for path in root.iter(f"{SVG}path"):
        if path.get("class") == "dependency":
            match = re.fullmatch(r"M([-\d.]+),([-\d.]+) V([-\d.]+) H([-\d.]+)", path.get("d", ""))
            assert match
            x1, y1, y2, x2 = (float(v) for v in match.groups())
            found[tooltip(path).splitlines()[0]] = (x1, y1, y2, x2)
    return found


def text_of(root: ET.Element, css_class: str) -> str:
    """The visible text of the first <text> of that class (its tooltip left out)."""
    element = next(e for e in root.iter(f"{SVG}text") if e.get("class") == css_class)
    return (element.text or "") + "".join((c.text or "") + (c.tail or "") for c in element if c.tag != f"{SVG}title")


# ---- the chart ---------------------------------------------------------------------------------------------


def test_diamond_draws_the_dependencies_in_order_and_joins_them() -> None:
    # GIVEN a diamond A -> B, A -> C, B + C -> D, all COMPLETED
    data = diamond()

    # WHEN it is drawn
    root = parse(render_svg(data))

    # THEN one row per wave in report order, each with the three phases that happened and a green marker
    waves = rows(root)
    assert list(waves) == ["A", "B", "C", "D"]
    for row in waves.values():
        assert set(bars(row)) == {"pre-launch", "launch", "post-launch"}
        assert rgb(marker(row).get("fill"))[1] > 0x60  # green
    # and D's launch starts right of where B's and C's post-launch bars end
    d_launch = left(bars(waves["D"])["launch"])
    assert d_launch > right(bars(waves["B"])["post-launch"])
    assert d_launch > right(bars(waves["C"])["post-launch"])
    # and B and C start right of A's end, side by side
    assert left(bars(waves["B"])["pre-launch"]) >= right(bars(waves["A"])["post-launch"])
    assert left(bars(waves["B"])["launch"]) == left(bars(waves["C"])["launch"])
    # and the phases of a wave follow each other
    b = bars(waves["B"])
    assert right(b["pre-launch"]) <= left(b["launch"]) + 0.11 <= right(b["launch"]) <= left(b["post-launch"]) + 0.11


def test_diamond_connectors_go_from_each_dependency_end_to_the_dependent_ready_time() -> None:
    # GIVEN the diamond
    root = parse(render_svg(diamond()))
    waves = rows(root)

    # WHEN its dependency connectors are read
    lines = connectors(root)

    # THEN one per edge, from the dependency's end marker to the dependent's ready tick
    assert set(lines) == {"B after A", "C after A", "D after B", "D after C"}
    for name, (x1, _y1, _y2, x2) in lines.items():
        dependent, dependency = name.split(" after ")
        assert x1 == pytest.approx(marker_x(waves[dependency]), abs=0.1)
        assert x2 == pytest.approx(ready_x(waves[dependent]), abs=0.1)
        assert x2 >= x1
    # and D's ready tick is right of both its dependencies' ends
    assert ready_x(waves["D"]) >= max(marker_x(waves["B"]), marker_x(waves["C"]))


def test_every_bar_has_a_tooltip_with_phase_start_end_and_duration() -> None:
    # GIVEN the diamond drawn
    root = parse(render_svg(diamond()))

    # WHEN each bar's tooltip is read
    tips = {f"{wave_id}/{kind}": tooltip(bar) for wave_id, row in rows(root).items() for kind, bar in bars(row).items()}

    # THEN each names the wave and phase, its start and end (ISO and from the start) and its duration
    assert len(tips) == 12
    assert tips["D/launch"].splitlines()[:4] == [
        "D · DRS launch",
        "start 2026-01-01T09:04:12.000Z (+4:12)",
        "end 2026-01-01T09:05:42.000Z (+5:42)",
        "duration 1m30s",
    ]
    assert all("start " in tip and "end " in tip and "duration " in tip for tip in tips.values())


def test_heading_and_axis_say_what_ran_and_when() -> None:
    # GIVEN the diamond (6 minutes in all)
    root = parse(render_svg(diamond()))

    # WHEN the heading and the axis are read
    heading = text_of(root, "heading")
    ticks = [
        t.text
        for t in root.iter(f"{SVG}text")
        if t.get("text-anchor") == "middle" and t.text and re.fullmatch(r"\d+:\d\d", t.text)
    ]

    # THEN the heading has plan, execution, mode, status and duration
    assert heading == "A plan (plan) · execution plan-0123456789ab · DRILL · COMPLETED · 6m02s"
    # and the axis counts minutes:seconds from 0:00 in even steps, on top and at the bottom
    top, bottom = ticks[0::2], ticks[1::2]
    assert top == bottom
    assert top[0] == "0:00"
    assert 4 <= len(top) <= 11
    seconds = [int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in top]
    assert len({b - a for a, b in itertools.pairwise(seconds)}) == 1
    assert seconds[-1] >= 362


def test_failed_wave_has_a_red_marker_with_the_reason_and_its_dependent_skipped_has_no_bars() -> None:
    # GIVEN B failed during its DRS launch and D, after it, was SKIPPED
    data = failed_then_skipped()

    # WHEN it is drawn
    root = parse(render_svg(data))
    waves = rows(root)

    # THEN B's launch bar runs until B ended, outlined red, and B has no post-launch bar
    b = bars(waves["B"])
    assert set(b) == {"pre-launch", "launch"}
    assert right(b["launch"]) == pytest.approx(marker_x(waves["B"]), abs=0.1)
    assert is_red(b["launch"].get("stroke"))
    assert "did not launch: s-b0000000000000001" in tooltip(b["launch"])
    # and B's marker is red with the reason in its tooltip
    assert is_red(marker(waves["B"]).get("fill"))
    assert "1 CRITICAL server(s) did not launch: s-b0000000000000001" in tooltip(marker(waves["B"]))
    # and D has no bar, no ready tick and no connector, only a grey marker with the reason
    assert bars(waves["D"]) == {}
    assert waves["D"].find(f"{SVG}line[@class='ready']") is None
    assert set(connectors(root)) == {"B after A"}
    red, green, blue = rgb(marker(waves["D"]).get("fill"))
    assert red == green == blue
    assert "wave B failed" in tooltip(marker(waves["D"]))
    # and the label says FAILED and SKIPPED, the heading FAILED, the stop reason is shown
    assert [text_of_row(waves[w]) for w in ("B", "D")] == ["FAILED", "SKIPPED"]
    assert "FAILED" in text_of(root, "heading")
    assert text_of(root, "stop-reason").startswith("stopped: wave B failed")


def text_of_row(row: ET.Element) -> str:
    status = row.find(f"{SVG}text[@class='label']/{SVG}tspan[@class='wave-status']")
    assert status is not None
    assert status.text is not None
    return status.text


def test_a_phase_without_a_start_time_is_not_drawn() -> None:
    # GIVEN a wave whose report has post-launch ended but no post-launch start, and a retried wave
    data = report(
        [
            wave("A", "COMPLETED", ready=0, pre=1, launch=2, launched=50, completed=60, ended=60),
            completed("B", 61, ("A",)) | {"attempt": 2},
        ]
    )

    # WHEN it is drawn
    waves = rows(parse(render_svg(data)))

    # THEN A has its pre-launch and launch bars only, and B's label gives its attempt
    assert set(bars(waves["A"])) == {"pre-launch", "launch"}
    assert text_of_row(waves["B"]) == "COMPLETED · attempt 2"


def test_approval_wait_is_a_bar_before_pre_launch_with_who_approved() -> None:
    # GIVEN a wave that waited 2 minutes for its approval, and one whose approval was denied
    approval = {
        "status": "GRANTED",
        "approvers": ["ops-oncall"],
        "requestedAt": at(1),
        "approvedBy": "ops-oncall",
        "approvedAt": at(121),
    }
    denied = {"status": "DENIED", "requestedAt": at(1), "deniedBy": "bob", "deniedAt": at(31), "denyReason": "not now"}
    data = report(
        [
            wave(
                "web",
                "COMPLETED",
                ready=0,
                pre=122,
                launch=130,
                launched=200,
                post=201,
                completed=210,
                ended=210,
                approval=approval,
            ),
            wave("db", "FAILED", ready=0, ended=31, reason="approval denied by bob: not now", approval=denied),
        ],
        status="FAILED",
    )

    # WHEN it is drawn
    waves = rows(parse(render_svg(data)))

    # THEN the approval bar ends where pre-launch starts and says who approved
    web = bars(waves["web"])
    assert list(web) == ["approval", "pre-launch", "launch", "post-launch"]
    assert left(web["approval"]) > ready_x(waves["web"])
    assert right(web["approval"]) <= left(web["pre-launch"])
    assert "duration 2m00s" in tooltip(web["approval"])
    assert "approved by ops-oncall" in tooltip(web["approval"])
    # and the denied wave has only its approval bar, ended at the denial and outlined red
    db = bars(waves["db"])
    assert list(db) == ["approval"]
    assert right(db["approval"]) == pytest.approx(marker_x(waves["db"]), abs=0.1)
    assert "denied by bob: not now" in tooltip(db["approval"])
    assert db["approval"].get("stroke") is not None


def test_special_characters_are_escaped_and_round_trip() -> None:
    # GIVEN wave ids, a reason and a plan name full of XML's special characters (and a control character)
    nasty = "a<&>\"b'c"
    reason = '<script>alert("x")</script> & \x01 more'
    data = report(
        [completed(nasty, 0), wave("z&", "FAILED", (nasty,), ready=121, pre=122, ended=130, reason=reason)],
        status="FAILED",
        planName="<Plan & Co>",
        stopReason=reason,
    )

    # WHEN it is drawn
    svg = render_svg(data)
    root = parse(svg)  # well-formed

    # THEN the texts come back as they were (the control character replaced), nothing is markup
    assert "<script>" not in svg
    assert list(rows(root)) == [nasty, "z&"]
    assert "<Plan & Co> (plan)" in text_of(root, "heading")
    assert '<script>alert("x")</script> & \ufffd more' in tooltip(marker(rows(root)["z&"]))
    assert set(connectors(root)) == {f"z& after {nasty}"}


def test_the_same_report_renders_to_the_same_text() -> None:
    # GIVEN a report and a copy of it
    data = failed_then_skipped()
    same = copy.deepcopy(data)

    # WHEN both are drawn
    first, second = render_svg(data), render_svg(same)

    # THEN the texts are identical, and the report was not changed
    assert first == second
    assert data == failed_then_skipped()


@pytest.mark.parametrize("count", [1, 200])
def test_size_grows_with_the_waves_and_stays_sensible(count: int) -> None:
    # GIVEN a chain of `count` waves
    data = report([completed(f"w{i}", 121 * i, (f"w{i - 1}",) if i else ()) for i in range(count)])

    # WHEN it is drawn
    root = parse(render_svg(data))

    # THEN every wave has its row, and the picture is a readable size
    assert len(rows(root)) == count
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    assert 900 <= width <= 1600
    assert 150 <= height <= 300 + 25 * count
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "expected a JSON object, found a list"),
        ({"planId": "p", "waves": []}, "no executionId"),
        ({"executionId": "x", "waves": {}}, "waves: expected a list"),
        ({"executionId": "x", "waves": [{"waveId": "a"}]}, "waves[0] (wave a): no status"),
        (
            {"executionId": "x", "waves": [{"waveId": "a", "status": "COMPLETED", "endedAt": "yesterday"}]},
            "waves[0] (wave a).endedAt: not an ISO 8601 time: 'yesterday'",
        ),
    ],
)
def test_what_is_not_a_report_is_refused_with_what_is_wrong(data: Any, message: str) -> None:
    # GIVEN / WHEN something that is not an execution report is drawn
    with pytest.raises(ReportError) as raised:
        render_svg(data)

    # THEN the error says what is wrong
    assert message in str(raised.value)


# ---- drs-orch timeline --------------------------------------------------------------------------------------


def test_timeline_command_draws_a_report_next_to_it(tmp_path: Path) -> None:
    # GIVEN a report written earlier
    path = tmp_path / "report.json"
    path.write_text(json.dumps(failed_then_skipped(), indent=2))

    # WHEN drs-orch timeline draws it, to the default place and to -o
    result = runner.invoke(app, ["timeline", str(path)])
    other = runner.invoke(app, ["timeline", str(path), "-o", str(tmp_path / "other.svg")])

    # THEN exit 0, the SVG is next to the report (and where -o said), and it is the report's picture
    assert result.exit_code == 0, result.output
    assert f"timeline written to {tmp_path / 'report.svg'}" in result.output
    assert other.exit_code == 0, other.output
    svg = (tmp_path / "report.svg").read_text(encoding="utf-8")
    assert svg == (tmp_path / "other.svg").read_text(encoding="utf-8") == render_svg(failed_then_skipped())
    assert list(rows(parse(svg))) == ["A", "B", "D"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"executionId": "x", "waves": [', "not valid JSON"),
        ('{"planId": "diamond", "waves": []}', "not an execution report: no executionId"),
        ("[]", "not an execution report: expected a JSON object"),
    ],
)
def test_timeline_command_exits_2_on_a_malformed_or_non_report_file(tmp_path: Path, content: str, message: str) -> None:
    # GIVEN a broken or non-report JSON file
    path = tmp_path / "report.json"
    path.write_text(content)

    # WHEN drs-orch timeline is given it
    result = runner.invoke(app, ["timeline", str(path)])

    # THEN exit 2, one clear line naming the file, no traceback and no picture
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert str(path) in result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "report.svg").exists()


def test_a_retried_wave_shows_its_failed_attempt_on_a_row_above_and_dependents_follow_the_last() -> None:
    # GIVEN B failed at its first attempt, was retried and completed; C depends on B
    reason = "1 CRITICAL server(s) did not launch: s-b0000000000000002"
    b = completed("B", 600, ("A",))
    b.update(
        attempt=2,
        retriedBy="ops",
        retriedAt=at(590),
        previousAttempts=[
            {
                "attempt": 1,
                "status": "FAILED",
                "readyAt": at(121),
                "preLaunchAt": at(122),
                "launchStartedAt": at(130),
                "endedAt": at(400),
                "reason": reason,
                "serversLaunched": 1,
                "servers": [{"sourceServerId": "s-b0000000000000002", "launchStatus": "FAILED"}],
            }
        ],
    )
    data = report([completed("A", 0), b, completed("C", 721, ("B",))])

    # WHEN it is drawn
    root = parse(render_svg(data))

    # THEN B has two rows: attempt 1 (FAILED, red marker, its launch bar) above attempt 2 (COMPLETED)
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "wave"]
    labels = [[t.text or "" for t in g.iter(f"{SVG}tspan")] for g in groups]
    assert [label[0] for label in labels] == ["A", "B", "B", "C"]
    assert labels[1][1] == "FAILED · attempt 1"
    assert labels[2][1] == "COMPLETED · attempt 2"
    first, second = groups[1], groups[2]
    assert is_red(marker(first).get("fill"))
    assert reason in tooltip(marker(first))
    assert right(bars(first)["launch"]) < left(bars(second)["pre-launch"])

    # and C's connector starts at B's final attempt's row, not at the failed one's
    def centre(row: ET.Element) -> float:
        bar = next(iter(bars(row).values()))
        return float(bar.get("y", "nan")) + float(bar.get("height", "nan")) / 2

    (_x1, y1, _y2, _x2) = connectors(root)["C after B"]
    assert abs(y1 - centre(second)) < abs(y1 - centre(first))
