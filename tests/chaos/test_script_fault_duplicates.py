"""Chaos: the script faults of issue #11 again, with half of all events delivered twice.

A duplicated resend tick, DRSJobCompleted or timeout tick must not send a command twice: each scenario
asserts how many SSM commands were sent and ends with the choreography invariants.
"""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery, short_launches

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_script_faults import (  # noqa: F401
    test_a_script_that_succeeded_in_time_is_not_timed_out_when_its_completion_events_are_lost,
    test_a_send_throttled_after_its_first_batch_sends_only_the_rest_on_its_resend,
    test_target_resolution_throttled_past_its_budget_fails_the_wave_with_the_error,
    test_target_resolution_throttled_six_times_is_resent_by_a_tick_and_succeeds,
)

SEEDS = (1, 2)


drs_launch_seconds = short_launches


faults = duplicate_delivery(*SEEDS)
