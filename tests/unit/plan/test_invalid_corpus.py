"""Every file under invalid/ is rejected, with each expected message on the expected line.

YAML files carry their expectations in header comments: `# expect: <line>: <message substring>`.
JSON files cannot hold comments, so their expectations live in JSON_EXPECTATIONS below.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.plan import PlanError, load_plan
from tests.unit.plan.conftest import INVALID

JSON_EXPECTATIONS: dict[str, list[tuple[int | None, str]]] = {
    "native-unknown-dependency.json": [
        (7, "waves[1].dependsOn[0] (wave app): unknown dependency 'database'")
    ],
    "native-cycle.json": [(4, "dependency cycle: a -> b -> a")],
    # the seed format is converted, and problems still point at the seed file's lines
    "seed-unknown-dependency.json": [(6, "unknown dependency 'wave-0'")],
    "seed-bad-script.json": [
        (9, "timeoutSeconds 5 is out of range (30..172800)"),
        (12, "unknown field 'DocumentNme' (did you mean 'documentName'?)"),
        (12, "missing required field 'documentName'"),
    ],
    "truncated.json": [(None, "not valid YAML or JSON")],
}

_EXPECT = re.compile(r"^# expect: (\d+|-): (.+)$")


def _expectations(path: Path) -> list[tuple[int | None, str]]:
    if path.suffix == ".json":
        return JSON_EXPECTATIONS[path.name]
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EXPECT.match(line)
        if match:
            number = None if match.group(1) == "-" else int(match.group(1))
            found.append((number, match.group(2)))
    return found


CORPUS = sorted(INVALID.glob("*.yaml")) + sorted(INVALID.glob("*.json"))


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30
    assert any(path.suffix == ".json" for path in CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.name)
def test_invalid_plan_is_rejected_with_every_expected_problem(path: Path) -> None:
    # GIVEN an invalid plan file and the problems it must report
    expected = _expectations(path)
    assert expected, f"{path.name} has no expectations"

    # WHEN it is loaded
    with pytest.raises(PlanError) as caught:
        load_plan(path)

    # THEN every expected message is reported, on its line, with the file name
    problems = caught.value.problems
    rendered = [(problem.line, str(problem)) for problem in problems]
    for line, substring in expected:
        matches = [(found_line, text) for found_line, text in rendered if substring in text]
        assert matches, f"{path.name}: no problem contains {substring!r}; got {rendered}"
        if line is not None:
            assert any(found_line == line for found_line, _ in matches), (
                f"{path.name}: {substring!r} expected on line {line}; got {matches}"
            )
        assert all(text.startswith(str(path)) for _, text in matches)
    assert caught.value.source == str(path)
