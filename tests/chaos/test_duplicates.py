"""Chaos: every end-to-end choreography scenario again, with half of all events delivered twice.

EventBridge, SQS and async Express deliver at least once. The scenarios of
tests/e2e/test_choreography.py are collected here a second time with the `faults` fixture overridden,
so each runs under `faults.duplicateDelivery: 0.5` for a few seeds and must reach the same final
statuses while keeping the invariants (`assert_choreography_invariants`): no server launched twice, no
wave released before its dependencies completed, no dead letters, no handler errors.
"""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery, short_launches

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_choreography import (  # noqa: F401
    test_diamond_joins_after_both_branches_and_runs_them_together,
    test_failed_critical_server_with_stop_fails_the_plan_and_skips_downstream,
    test_failed_wave_with_continue_lets_the_other_branch_finish,
    test_job_watcher_ticks_back_off_from_15_to_30_to_60_seconds,
    test_linear_plan_runs_its_waves_one_after_another,
    test_optional_server_failure_is_judged_against_the_success_threshold,
    test_parallel_waves_all_start_before_any_completes,
    test_plan_with_a_cycle_is_rejected_before_anything_starts,
    test_recovery_without_confirmation_is_rejected,
    test_start_plan_event_without_a_plan_is_rejected,
    test_three_tier_example_completes,
)

SEEDS = (1, 2, 3)


drs_launch_seconds = short_launches


faults = duplicate_delivery(*SEEDS)
