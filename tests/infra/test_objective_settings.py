"""The deploy setting `objectiveAtRiskPercent` (issue #16): read from context, checked at synth, and given to the
functions that watch recovery time objectives only (no synth needed: the config and the environments)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.definitions import FUNCTIONS, function_environment
from infra.stack import StackConfig


def _config(**context: Any) -> StackConfig:
    return StackConfig.from_context(context.get)


def test_the_at_risk_share_defaults_to_80_percent_and_is_read_from_context() -> None:
    assert _config().objective_at_risk_percent == 80.0
    assert _config(objectiveAtRiskPercent="65").objective_at_risk_percent == 65.0
    assert _config(objectiveAtRiskPercent=90.5).objective_at_risk_percent == 90.5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "objectiveAtRiskPercent: 0 is not above 0 and below 100"),
        ("100", "objectiveAtRiskPercent: 100 is not above 0 and below 100"),
        ("most", "objectiveAtRiskPercent: 'most' is not a number"),
    ],
)
def test_a_malformed_at_risk_share_fails_the_synth_naming_it(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _config(objectiveAtRiskPercent=value)


def test_only_the_functions_that_watch_objectives_get_the_share() -> None:
    # GIVEN / WHEN each function's environment with a share of 65 %
    envs = {
        name: function_environment(
            spec,
            table_name="t",
            bus_name="b",
            bus_arn="arn:b",
            scheduler_group="g",
            scheduler_role_arn="arn:r",
            objective_at_risk_percent=65,
        )
        for name, spec in FUNCTIONS.items()
    }
    # THEN the WaveReady step that arms the ticks and the function the ticks reach have it, no other
    given = {name: env["OBJECTIVE_AT_RISK_PERCENT"] for name, env in envs.items() if "OBJECTIVE_AT_RISK_PERCENT" in env}
    assert given == {"pre_launch": "65", "progress": "65"}
