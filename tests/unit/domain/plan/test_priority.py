"""The plan's `priority` (issue #19): who goes first when DRS capacity is short. A whole number from -1000 to 1000;
anything else is named, never coerced (`yes` is not 1, "5" is not 5)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.plan import parse_plan
from orchestrator.domain.plan.problems import PlanError


def _plan(**fields: Any) -> dict[str, Any]:
    return {"planId": "p", "waves": [{"waveId": "w", "servers": ["s-1234567890abcdef0"]}], **fields}


def test_priority_defaults_to_0_and_takes_a_whole_number_in_range() -> None:
    assert parse_plan(_plan()).priority == 0
    assert parse_plan(_plan(priority=-1000)).priority == -1000
    assert parse_plan(_plan(priority=1000)).priority == 1000


@pytest.mark.parametrize("value", [True, "yes", "5", 2.5, 2.0, 1001, -1001])
def test_a_priority_that_is_not_a_whole_number_in_range_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(PlanError) as refused:
        parse_plan(_plan(priority=value))
    assert "priority" in str(refused.value)
