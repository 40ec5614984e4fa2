"""Chaos: the operator commands of tests/e2e/test_control.py again, with half of all events delivered twice."""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_control import (  # noqa: F401
    test_cancel_mid_plan_lets_the_running_wave_finish_and_skips_the_rest,
    test_commands_on_a_finished_or_unknown_execution_are_rejected,
    test_pause_holds_the_next_wave_until_resume,
    test_resume_of_a_running_plan_is_rejected_and_changes_nothing,
)

SEEDS = (4, 5)


faults = duplicate_delivery(*SEEDS)
