"""Chaos: the approval, retry, skip and cancel scenarios of tests/e2e/test_operate.py again, with half of
all events (the operators' commands included) delivered twice: nothing launches twice, nothing is
rejected that fits, and every plan ends as it does without duplicates."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.fixture
def drs_launch_seconds() -> dict[str, float]:
    return {"min": 5, "max": 20}


@pytest.fixture(params=SEEDS, ids=[f"dup50-seed{s}" for s in SEEDS])
def faults(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"faults.duplicateDelivery": 0.5, "seed": request.param}
