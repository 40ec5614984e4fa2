"""Input far beyond what a plan needs is refused with one specific problem, before it can exhaust the
loader: each input of the issue's fault 8 (a plan nested thousands of levels deep, an integer of 5,000
digits, a NUL byte, a few hundred bytes of nested YAML aliases, 10,000 waves, 10,000 unknown dependencies)
and each limit at its boundary, through `load_plan`/`parse_plan` (text), `check_plan` (a loaded document,
as StartPlan brings it), `drs-orch validate` and the simulation profile loader.

Time and memory are bounded by construction (the limits are counted while the text is read); the tests
assert it indirectly: the refusal names the limit that stopped the reading, and the "did you mean" step
compares a bounded number of names whatever the plan's size.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register
from localcloud.profile import ProfileError, load_profile
from orchestrator.domain.plan import PlanError, check_plan, load_plan, parse_plan
from orchestrator.domain.plan import suggest as suggest_module
from orchestrator.domain.plan.limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_PLAN_BYTES,
    MAX_SERVERS,
    MAX_STRING_CHARS,
    MAX_WAVES,
)
from orchestrator.domain.plan.suggest import MAX_CANDIDATES, MAX_SUGGESTIONS
from tests.unit.domain.plan.conftest import server_id

DEEP = "nested deeper than 32 levels of mappings and lists"
BILLION_LAUGHS = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
            for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "planId: p\nwaves: *i\n",
    ]
)


def _wave_lines(count: int, extra: str = "") -> str:
    return "".join(f"- {{waveId: w{n}, servers: [{server_id(n)}]{extra.format(n=n)}}}\n" for n in range(count))


def _problems(text: str, source: str = "plan.yaml") -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, source)
    return [str(problem) for problem in caught.value.problems]


def _codes(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    return [problem.code for problem in caught.value.problems]


# ---- the inputs of fault 8 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param('{"planId": "p", "waves": ' + "[" * 3000 + "]" * 3000 + "}", 1, id="json-3000-levels"),
        pytest.param("planId: p\nwaves: " + "[" * 3000 + "]" * 3000 + "\n", 2, id="yaml-flow-3000-levels"),
        pytest.param(
            "planId: p\nwaves:\n" + "".join("  " * n + "- \n" for n in range(1, 200)), 34, id="yaml-block-200-levels"
        ),
    ],
)
def test_a_plan_nested_thousands_of_levels_deep_is_refused_where_it_goes_too_deep(text: str, line: int) -> None:
    # GIVEN a plan nested far deeper than any plan (it was a RecursionError traceback)
    # WHEN it is parsed / THEN one problem names the depth limit and the line it was passed on
    assert _problems(text) == [f"plan.yaml:{line}: {DEEP}"]


def test_nesting_is_refused_only_past_the_limit() -> None:
    # GIVEN parameters nested to exactly the limit, and one level more
    def plan(levels: int) -> str:
        # plan(1) > waves(2) > wave(3) > postLaunch(4) > script(5) > parameters(6) > list(7) ... list(levels)
        value = "[" * (levels - 6) + "]" * (levels - 6)
        return (
            "planId: p\nwaves:\n- waveId: w\n  servers: [s-00000000000000001]\n"
            f"  postLaunch:\n  - documentName: d\n    parameters: {{p: {value}}}\n"
        )

    # WHEN / THEN the deepest allowed plan is refused for its content (not its depth), one more level for depth
    assert "too-deep" not in _codes(plan(MAX_DEPTH))
    assert _problems(plan(MAX_DEPTH + 1)) == [f"plan.yaml:7: {DEEP}"]


def test_an_integer_of_5000_digits_is_refused_on_its_line() -> None:
    # GIVEN a timeout of 5,000 digits (it was a ValueError traceback from int())
    text = f"planId: p\ndefaults:\n  scriptTimeoutSeconds: {'9' * 5000}\nwaves: []\n"

    # WHEN / THEN
    assert _problems(text) == ["plan.yaml:3: an integer of 5,000 digits (at most 18)"]


def test_integers_are_refused_only_past_the_limit() -> None:
    # GIVEN integers of 18 and 19 digits
    at_limit = f"planId: p\ndefaults: {{maxReplicationLagSeconds: {'9' * MAX_INT_DIGITS}}}\nwaves: []\n"
    past = f"planId: p\ndefaults: {{maxReplicationLagSeconds: {'9' * (MAX_INT_DIGITS + 1)}}}\nwaves: []\n"

    # WHEN / THEN only the longer one is too long
    assert "number-too-long" not in _codes(at_limit)
    assert _problems(past) == ["plan.yaml:2: an integer of 19 digits (at most 18)"]


def test_a_nul_byte_is_refused_with_its_line_and_column() -> None:
    # GIVEN a NUL byte after the plan id (it was a ReaderError traceback)
    text = "planId: p\x00\nwaves:\n- waveId: a\n  servers: [s-00000000000000001]\n"

    # WHEN / THEN
    assert _problems(text) == ["plan.yaml:1: control character U+0000 (only printable text is allowed) at column 10"]


@pytest.mark.parametrize(
    ("escape", "code_point"), [("\\x1b", "001B"), ("\\0", "0000"), ("\\x85", "0085"), ("\\x7f", "007F")]
)
def test_a_control_character_written_as_an_escape_is_refused_at_its_field(escape: str, code_point: str) -> None:
    # GIVEN a double-quoted YAML string whose escape makes a control character (an ANSI escape, NUL, ...)
    text = f'planId: p\nname: "x{escape}y"\nwaves: []\n'

    # WHEN / THEN the field and line are named, and the character is never printed raw
    assert _problems(text) == [f"plan.yaml:2: name: control character U+{code_point} (only printable text is allowed)"]


def test_a_billion_laughs_is_refused_before_it_expands() -> None:
    # GIVEN 362 bytes of nested aliases standing for 9^9 values (it took 27 s and 1.6 GB)
    assert len(BILLION_LAUGHS.encode()) == 362

    # WHEN / THEN the expansion is measured on the composed nodes and refused at the alias that overflows
    assert _problems(BILLION_LAUGHS) == [
        "plan.yaml:6: YAML aliases expand the document to more than 250,000 values (mappings, lists, scalars)"
    ]


def test_aliases_are_refused_past_their_count() -> None:
    # GIVEN a plan that refers to one anchor through as many aliases as allowed, and one more
    def plan(aliases: int) -> str:
        return f"planId: p\nx: &x 1\nrefs: [{', '.join(['*x'] * aliases)}]\nwaves: []\n"

    # WHEN / THEN the first is read (and fails only on its unknown fields), the second is refused
    assert "too-many-aliases" not in _codes(plan(MAX_ALIASES))
    assert _problems(plan(MAX_ALIASES + 1)) == ["plan.yaml:3: more than 1,000 YAML aliases"]


def test_an_alias_inside_itself_is_refused() -> None:
    assert _problems("planId: p\nwaves: &w [*w]\n") == [
        "plan.yaml:2: not valid YAML or JSON: a YAML alias refers to the mapping or list that contains it"
    ]


def test_a_10000_wave_plan_is_refused_at_its_1001st_wave() -> None:
    # GIVEN 10,000 waves (validation took 11-24 s; 159 s when each named an unknown dependency)
    text = "planId: p\nwaves:\n" + _wave_lines(10_000)
    unknown = "planId: p\nwaves:\n" + _wave_lines(10_000, ", dependsOn: [x{n}]")

    # WHEN / THEN the reading stops at the first wave past the limit
    assert _problems(text) == [f"plan.yaml:{MAX_WAVES + 3}: the plan has more than 1,000 waves"]
    assert _problems(unknown[:MAX_PLAN_BYTES]) == [f"plan.yaml:{MAX_WAVES + 3}: the plan has more than 1,000 waves"]


def test_a_plan_at_the_wave_limit_is_read_and_checked_whole() -> None:
    # GIVEN 1,000 waves in a chain, each after the one before with a post-launch script on the first wave
    text = (
        "planId: p\nwaves:\n"
        + _wave_lines(1)
        + "".join(
            f"- {{waveId: w{n}, servers: [{server_id(n)}], dependsOn: [w{n - 1}],"
            f" postLaunch: [{{documentName: d, targets: {{wave: w0}}}}]}}\n"
            for n in range(1, MAX_WAVES)
        )
    )

    # WHEN / THEN it is valid (every target is upstream of its wave)
    plan = parse_plan(text)
    assert (len(plan.waves), plan.waves[-1].depends_on) == (MAX_WAVES, [f"w{MAX_WAVES - 2}"])


def test_did_you_mean_is_bounded_whatever_the_number_of_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN 1,000 waves that each name an unknown dependency close to a real wave's id
    text = "planId: p\nwaves:\n" + "".join(
        f"- {{waveId: w{n}, servers: [{server_id(n)}], dependsOn: [w{n + 1}x]}}\n" for n in range(MAX_WAVES)
    )
    compared: list[int] = []
    closest = difflib.get_close_matches

    def counting(word: str, possibilities: list[str], *args: Any, **kwargs: Any) -> list[str]:
        compared.append(len(possibilities))
        return closest(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(suggest_module.difflib, "get_close_matches", counting)

    # WHEN it is parsed
    problems = _problems(text)

    # THEN every unknown dependency is reported; only the first 20 carry a hint, each from at most 500 names
    assert len(problems) == MAX_WAVES
    assert problems[0] == "plan.yaml:3: waves[0].dependsOn[0] (wave w0): unknown dependency 'w1x' (did you mean 'w1'?)"
    assert sum("did you mean" in problem for problem in problems) == MAX_SUGGESTIONS
    assert problems[-1] == "plan.yaml:1002: waves[999].dependsOn[0] (wave w999): unknown dependency 'w1000x'"
    assert len(compared) == MAX_SUGGESTIONS
    assert max(compared) <= MAX_CANDIDATES


def test_a_file_over_the_size_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    # GIVEN a file one byte over the limit
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_PLAN_BYTES + 1))

    # WHEN / THEN its size is named
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}: the document is 524,289 bytes (at most 524,288)"]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_device_is_refused_after_reading_the_limit() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan("/dev/zero")
    assert [str(p) for p in caught.value.problems] == [
        "/dev/zero: the document is more than 524,288 bytes (the most allowed)"
    ]


def test_a_string_is_refused_only_past_its_length_limit() -> None:
    # GIVEN descriptions of the longest allowed length and one character more
    def plan(length: int) -> str:
        return f"planId: p\ndescription: {'x' * length}\nwaves: []\n"

    # WHEN / THEN
    assert "string-too-long" not in _codes(plan(MAX_STRING_CHARS))
    assert _problems(plan(MAX_STRING_CHARS + 1)) == ["plan.yaml:2: a string of 16,385 characters (at most 16,384)"]


# ---- a loaded document (StartPlan's plan) --------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            {"planId": "p", "waves": _nested(3000)}, [("waves" + "[0]" * 31, "too-deep", DEEP)], id="3000-levels"
        ),
        pytest.param(
            {"planId": "p", "defaults": {"maxReplicationLagSeconds": 10**4999}, "waves": []},
            [("defaults.maxReplicationLagSeconds", "number-too-long", "an integer of 5,000 digits (at most 18)")],
            id="5000-digits",
        ),
        pytest.param(
            {"planId": "p\x00", "waves": []},
            [("planId", "control-character", "control character U+0000 (only printable text is allowed)")],
            id="nul",
        ),
        pytest.param(
            {"planId": "p", "waves": [], "x\ud800": 1},
            [("x\ud800", "control-character", "control character U+D800 (only printable text is allowed)")],
            id="lone-surrogate-key",
        ),
        pytest.param(
            {"planId": "p", "name": "n" * 20_000, "waves": []},
            [("name", "string-too-long", "a string of 20,000 characters (at most 16,384)")],
            id="long-string",
        ),
        pytest.param(
            {"planId": "p", "waves": [{"waveId": f"w{n}", "servers": [server_id(n)]} for n in range(10_000)]},
            [("waves", "too-many-waves", "the plan has 10,000 waves (at most 1,000)")],
            id="10000-waves",
        ),
        pytest.param(
            {
                "planId": "p",
                "waves": [
                    {"waveId": f"w{w}", "servers": [server_id(w * 1000 + n) for n in range(1000)]} for w in range(11)
                ],
            },
            [("waves", "too-many-servers", "the plan has 11,000 servers over all its waves (at most 10,000)")],
            id="11000-servers",
        ),
        pytest.param(
            {"planId": "p", "waves": [], "notes": ["x" * 16_000] * 40},
            [(None, "too-large", "the plan holds more than 524,288 characters of text")],
            id="too-much-text",
        ),
    ],
)
def test_a_loaded_document_over_a_limit_gets_that_one_problem(document: Any, expected: list[Any]) -> None:
    # GIVEN a plan as a StartPlan event brings it (already parsed)
    # WHEN it is checked
    plan, problems = check_plan(document, source="StartPlan.plan")

    # THEN only the limit is reported (nothing else has read the document)
    assert plan is None
    assert [(p.path, p.code, p.message) for p in problems] == expected


def test_a_document_that_contains_itself_is_refused_not_walked_forever() -> None:
    # GIVEN a dict built in code that contains itself (no JSON can, but nothing else checks it)
    document: dict[str, Any] = {"planId": "p"}
    document["waves"] = [document]

    # WHEN / THEN its depth gives out
    _, problems = check_plan(document)
    assert [(p.code, p.message) for p in problems] == [("too-deep", DEEP)]


def test_json_limits_match_yaml_limits_for_the_same_plan() -> None:
    # GIVEN the same over-deep plan as JSON text and as a loaded document
    document = {"planId": "p", "waves": _nested(40)}

    # WHEN / THEN both are refused for their depth
    assert _codes(json.dumps(document)) == ["too-deep"]
    assert [p.code for p in check_plan(document)[1]] == ["too-deep"]


# ---- drs-orch validate ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"planId": "p", "waves": ' + b"[" * 3000 + b"]" * 3000 + b"}", f"1: {DEEP}", id="deep"),
        pytest.param(
            f"planId: p\ndefaults:\n  scriptTimeoutSeconds: {'9' * 5000}\n".encode(),
            "3: an integer of 5,000 digits (at most 18)",
            id="5000-digits",
        ),
        pytest.param(
            b"planId: p\x00\nwaves: []\n",
            "1: control character U+0000 (only printable text is allowed) at column 10",
            id="nul",
        ),
        pytest.param(
            BILLION_LAUGHS.encode(),
            "6: YAML aliases expand the document to more than 250,000 values (mappings, lists, scalars)",
            id="billion-laughs",
        ),
        pytest.param(
            ("planId: p\nwaves:\n" + _wave_lines(10_000)).encode(),
            "1003: the plan has more than 1,000 waves",
            id="10000-waves",
        ),
    ],
)
def test_validate_refuses_each_input_with_exit_2_and_no_traceback(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    # GIVEN a plan file with one of fault 8's inputs
    path = tmp_path / "plan.yaml"
    path.write_bytes(content)
    app = typer.Typer()
    register(app)

    # WHEN it is validated
    result = CliRunner().invoke(app, ["validate", str(path)])

    # THEN exit 2, the specific problem on its line, no traceback
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == f"{path}:{expected}"
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# ---- simulation profiles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"drs: " + b"[" * 3000 + b"]" * 3000 + b"\n", f"1: {DEEP}", id="deep"),
        pytest.param(f"seed: {'9' * 5000}\n".encode(), "1: an integer of 5,000 digits (at most 18)", id="5000-digits"),
        pytest.param(
            b"seed: 1\x00\n", "1: control character U+0000 (only printable text is allowed) at column 8", id="nul"
        ),
        pytest.param(
            BILLION_LAUGHS.replace("planId: p\nwaves: *i\n", "drs: {x: *i}\n").encode(),
            "6: YAML aliases expand the document to more than 250,000 values (mappings, lists, scalars)",
            id="billion-laughs",
        ),
        pytest.param(
            b"seed: [1\n",
            "2: not valid YAML: while parsing a flow sequence did not find expected ',' or ']'",
            id="syntax",
        ),
        pytest.param(
            b"#" * (MAX_PLAN_BYTES + 1), ": the document is more than 524,288 bytes (the most allowed)", id="too-large"
        ),
    ],
)
def test_a_simulation_profile_is_read_under_the_same_limits(tmp_path: Path, content: bytes, expected: str) -> None:
    # GIVEN a simulation profile with one of fault 8's inputs
    path = tmp_path / "profile.yaml"
    path.write_bytes(content)

    # WHEN it is loaded / THEN a ProfileError names the file, the line and the limit
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value) == f"{path}:{expected}".replace("::", ":")


def test_limits_leave_room_for_every_example(examples: Path) -> None:
    # GIVEN / WHEN / THEN the example plans and profile are far inside every limit
    for path in [*examples.glob("*.yaml"), *examples.glob("*.json")]:
        assert load_plan(path).waves
    assert load_profile(examples / "profiles" / "demo.yaml")
    assert MAX_SERVERS >= 5_000  # a wave of 5,000 servers (the scale test) fits
