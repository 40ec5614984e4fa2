"""`drs-orch validate` prints the settings of a valid plan that can have no effect, each with its line."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from drs_orch.plan_verbs import register

PLAN = """\
planId: warned
waves:
  - waveId: db
    servers:
      - {sourceServerID: s-00000000000000001, criticality: CRITICAL}
      - {sourceServerID: s-00000000000000002, criticality: CRITICAL}
    successThreshold: 0.5
    preLaunch:
      - documentName: fence-old-primary
  - waveId: app
    dependsOn: [db]
    servers: [s-00000000000000003]
    onFailure: CONTINUE
"""


def test_validate_prints_each_warning_with_its_line_and_still_exits_0(tmp_path: Path) -> None:
    # GIVEN a valid plan with a threshold that cannot matter, a pre-launch fence without targets, and
    # CONTINUE on the last wave of a chain
    path = tmp_path / "warned.yaml"
    path.write_text(PLAN, encoding="utf-8")
    app = typer.Typer()
    register(app)

    # WHEN it is validated (on a deploy that allows its fence's document)
    result = CliRunner().invoke(app, ["validate", str(path), "--allowed-documents", "DRSOrch-*,fence-old-primary"])

    # THEN exit 0, one line per warning at the line of the setting (in line order), and the count on the tick line
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(": warning: ")[0] for line in lines if ": warning: " in line] == [
        f"{path}:7: waves[0].successThreshold (wave db)",
        f"{path}:9: waves[0].preLaunch[0] (wave db)",
        f"{path}:13: waves[1].onFailure (wave app)",
    ]
    assert lines[-1] == f"✓ {path}: plan 'warned' is valid (2 waves, 3 servers, 3 warnings)"
