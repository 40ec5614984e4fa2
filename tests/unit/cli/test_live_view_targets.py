"""The live table shows each wave's target (issue #15): a `target` column, last, only for a plan with a wave target;
a wave in the orchestrator's own account and Region has an empty cell."""

from __future__ import annotations

from drs_orch.live_view import COLUMNS, progress_table
from orchestrator.domain.plan import Plan, parse_plan
from tests.unit.cli.test_live_view import _cells, _header, _render, _waves

B = "222233334444"


def _plan(*, with_target: bool) -> Plan:
    target = {
        "accountId": B,
        "region": "us-west-2",
        "roleArn": f"arn:aws:iam::{B}:role/drs-orchestrator-target",
        "externalId": "ext-123",
    }
    return parse_plan(
        {
            "planId": "p",
            "waves": [
                {"waveId": "database-primary", "servers": ["s-00000000000000001"]},
                {
                    "waveId": "application-tier",
                    "servers": ["s-00000000000000002"],
                    **({"target": target} if with_target else {}),
                },
                {"waveId": "web", "servers": ["s-00000000000000003"]},
            ],
        }
    )


def test_a_plan_with_a_wave_target_shows_a_target_column_naming_its_account_and_region() -> None:
    lines = _render(progress_table(_plan(with_target=True), _waves(), 160), 160)
    assert _header(lines) == [*(column.name for column in COLUMNS), "target"]
    assert _cells(lines, len(COLUMNS)) == [f"{B} us-west-2"]


def test_a_plan_without_targets_has_no_target_column() -> None:
    lines = _render(progress_table(_plan(with_target=False), _waves(), 160), 160)
    assert _header(lines) == [column.name for column in COLUMNS]
