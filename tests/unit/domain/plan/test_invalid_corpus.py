"""Every file under invalid/, and every plan of the generated corpus (`mutations.py`), is rejected with
each expected message on the expected line.

YAML files carry their expectations in header comments: `# expect: <line>: <message substring>`.
JSON files cannot hold comments, so their expectations live in JSON_EXPECTATIONS below.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register
from orchestrator.domain.plan import PlanError, load_plan
from tests.unit.domain.plan.conftest import INVALID
from tests.unit.domain.plan.mutations import Mutant, corpus

_app = typer.Typer()
register(_app)
_runner = CliRunner()

JSON_EXPECTATIONS: dict[str, list[tuple[int | None, str]]] = {
    "native-unknown-dependency.json": [(7, "waves[1].dependsOn[0] (wave app): unknown dependency 'database'")],
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


# ---- the generated corpus: mutations of the example plans ------------------------------------------

MUTANTS = corpus()


def test_the_generated_corpus_has_at_least_200_malformed_plans_of_every_kind() -> None:
    # GIVEN / WHEN the generated corpus
    codes = {mutant.code for mutant in MUTANTS}

    # THEN it is large, its names are unique, and it covers every kind of bad input
    assert len(MUTANTS) >= 200
    assert len({mutant.name for mutant in MUTANTS}) == len(MUTANTS)
    assert codes >= {
        "invalid-value",
        "missing-field",
        "unknown-field",
        "cycle",
        "self-dependency",
        "unknown-dependency",
        "duplicate-dependency",
        "duplicate-wave",
        "duplicate-server",
        "duplicate-key",
        "invalid-server-id",
        "out-of-range",
        "timeout-out-of-range",
        "empty-plan",
        "empty-wave",
        "not-yaml",
        "not-a-mapping",
        "too-deep",
        "number-too-long",
        "control-character",
        "string-too-long",
        "alias-expansion",
        "too-many-aliases",
        "too-many-waves",
        "too-many-servers",
        "too-large",
    }


_RENDERED = re.compile(r"^(?P<file>.+?):(?P<line>\d+): ")


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda mutant: mutant.name)
def test_validate_refuses_each_malformed_plan_with_its_problem(tmp_path: Path, mutant: Mutant) -> None:
    # GIVEN a malformed plan file
    path = tmp_path / ("plan.json" if mutant.name.startswith("seed-format") else "plan.yaml")
    path.write_text(mutant.file_text, encoding="utf-8")

    # WHEN it is validated
    result = _runner.invoke(_app, ["validate", str(path)])

    # THEN exit 2, no traceback, and its problem among those printed as file:line: path: message
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    printed = result.output.splitlines()[:-1]
    assert printed
    assert all(line.startswith(f"{path}:") for line in printed)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    problems = caught.value.problems
    assert mutant.found_in([(p.code, p.path, p.message) for p in problems]), [str(p) for p in problems]
    assert [str(p) for p in problems] == printed
    # every problem that names a field says on which line it is
    assert all(_RENDERED.match(str(p)) for p in problems if p.path is not None)
