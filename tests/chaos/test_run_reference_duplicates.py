"""Chaos: the values-from-the-run scenarios again, with half of all events delivered twice.

Each scenario of tests/e2e/test_run_references.py asserts the SSM commands sent (one with the resolved values, or
none when a value is empty), so a duplicated DRSJobCompleted, WaveReady or scheduler tick that resolved and sent a
step twice, or recorded its failure twice, fails it; each also ends with the choreography invariants.
"""

from __future__ import annotations

from tests.chaos.faults import duplicate_delivery, short_launches

# the scenarios, collected again in this module (where `faults` below applies)
from tests.e2e.test_run_references import (  # noqa: F401
    test_an_empty_upstream_value_fails_the_step_with_the_reason_and_sends_nothing,
    test_post_launch_step_receives_the_upstream_waves_recovered_private_ips,
)

SEEDS = (1,)


drs_launch_seconds = short_launches


faults = duplicate_delivery(*SEEDS)
