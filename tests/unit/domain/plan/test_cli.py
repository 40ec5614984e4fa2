from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register
from tests.unit.domain.plan.conftest import EXAMPLES, INVALID


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


runner = CliRunner()


def test_validate_valid_plans_exits_0_with_a_tick_per_file(app: typer.Typer) -> None:
    # GIVEN the example plans
    paths = [str(EXAMPLES / name) for name in ("three-tier.yaml", "diamond.yaml", "parallel.yaml", "seed-format.json")]

    # WHEN they are validated
    result = runner.invoke(app, ["validate", *paths])

    # THEN exit 0 and one tick line per file
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 4


def test_validate_invalid_plan_exits_2_with_every_problem_and_no_traceback(app: typer.Typer) -> None:
    # GIVEN a plan with several problems, next to a valid one
    bad = INVALID / "many-problems-at-once.yaml"

    # WHEN both are validated
    result = runner.invoke(app, ["validate", str(EXAMPLES / "diamond.yaml"), str(bad)])

    # THEN exit 2, every problem as file:line: path (wave W): message, and no traceback
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{bad}:11: waves[0].dependsOn (wave a): dependency cycle: a -> b -> a" in result.output
    assert f"{bad}:16: waves[1].rollbak (wave b): unknown field 'rollbak' (did you mean 'rollback'?)" in result.output
    assert "✓" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff", "not a text file"),
        (b"planId: [unclosed\n", "not valid YAML or JSON"),
        (b"- just\n- a list\n", "must be a mapping"),
    ],
)
def test_validate_unreadable_or_non_yaml_file_exits_2(
    app: typer.Typer, tmp_path: Path, content: bytes | None, message: str
) -> None:
    # GIVEN a missing, binary, broken or list-shaped file
    path = tmp_path / "plan.yaml"
    if content is not None:
        path.write_bytes(content)

    # WHEN it is validated
    result = runner.invoke(app, ["validate", str(path)])

    # THEN a clear error and exit 2, no traceback
    assert result.exit_code == 2
    assert message in result.output
    assert str(path) in result.output
    assert "Traceback" not in result.output


def test_show_prints_layers_critical_path_jobs_and_scripts(app: typer.Typer) -> None:
    # GIVEN / WHEN show on the three-tier example
    result = runner.invoke(app, ["show", str(EXAMPLES / "three-tier.yaml")])

    # THEN the human view names the layers, the critical path, the jobs and the scripts
    assert result.exit_code == 0, result.output
    for text in (
        "Layer 1",
        "Layer 3",
        "Critical path",
        "database -> application -> web",
        "AWS-RunShellScript",
        "DRS job",
        "approval",
        "Queued",
    ):
        assert text in result.output


def test_show_json_parses(app: typer.Typer) -> None:
    # GIVEN / WHEN show --json on the diamond example
    result = runner.invoke(app, ["show", str(EXAMPLES / "diamond.yaml"), "--json"])

    # THEN the output is JSON with the documented keys
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"planId", "layers", "criticalPath", "waves", "quotas"} <= set(data)
    assert data["layers"] == [["A"], ["B", "C"], ["D"]]
    wave = data["waves"][3]
    assert {"waveId", "dependsOn", "servers", "jobs", "preLaunch", "postLaunch"} <= set(wave)
    assert wave["dependsOn"] == ["B", "C"]
    assert wave["jobs"] == [1]
    assert data["quotas"]["limits"]["serversPerJob"] == 100


def test_show_invalid_plan_exits_2(app: typer.Typer) -> None:
    result = runner.invoke(app, ["show", str(INVALID / "cycle-two-waves.yaml"), "--json"])
    assert result.exit_code == 2
    assert "dependency cycle" in result.output
    assert "Traceback" not in result.output
