"""Chaos: the script scenarios again, with half of all events delivered twice.

Each scenario of tests/e2e/test_scripts.py asserts how many SSM commands were sent, so a duplicated
WaveReady, DRSJobCompleted, SSM status event or scheduler tick that sent a command twice fails it; each
also ends with the choreography invariants (no dead letters, no handler errors, no early release).
"""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery, short_launches

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_scripts import (  # noqa: F401
    test_completion_is_detected_by_polling_when_ssm_events_are_dropped,
    test_failed_script_is_retried_with_backoff_and_succeeds,
    test_failing_health_check_fails_the_wave_and_holds_its_dependents_back,
    test_failing_script_with_fail_fails_the_wave_and_stops_the_plan,
    test_failing_script_with_warn_records_a_warning_and_the_plan_goes_on,
    test_pre_launch_scripts_run_before_start_recovery_and_post_launch_after_the_launch,
    test_script_exceeding_its_timeout_is_cancelled_and_counts_as_timed_out,
    test_scripts_target_the_recovery_instances_of_an_upstream_wave,
)

SEEDS = (1,)


drs_launch_seconds = short_launches


faults = duplicate_delivery(*SEEDS)
