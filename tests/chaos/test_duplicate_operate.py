"""Chaos: the approval, retry, skip and cancel scenarios of tests/e2e/test_operate.py again, with half of
all events (the operators' commands included) delivered twice: nothing launches twice, nothing is
rejected that fits, and every plan ends as it does without duplicates."""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery, short_launches

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_operate import (  # noqa: F401
    test_approval_denied_fails_the_wave_with_the_reason,
    test_approval_gate_holds_the_wave_until_an_approver_grants_it,
    test_approval_timeout_fails_the_wave_and_its_policy_applies,
    test_cancel_with_terminate_drill_instances_terminates_what_launched_so_far,
    test_control_events_that_do_not_fit_are_rejected_and_change_nothing,
    test_retry_after_a_critical_failure_relaunches_only_the_failed_server_and_completes,
    test_skip_of_a_failed_wave_releases_its_dependents,
    test_two_failures_that_stop_the_plan_are_decided_one_after_the_other,
)

SEEDS = (7,)


drs_launch_seconds = short_launches


faults = duplicate_delivery(*SEEDS)
