"""The ledger's launch and termination claims and their leases, against moto's DynamoDB (the adapter tier):
one caller at a time may call DRS for a claim, and a claim that a call was made for says so forever."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from moto import mock_aws

from orchestrator.adapters.ledger import Ledger
from orchestrator.domain.records.launches import LaunchStatus
from tests.unit.moto_ledger import SettableClock, ledger_table

EXECUTION = "exec-1"


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def ledger(clock: SettableClock) -> Iterator[Ledger]:
    with mock_aws():
        yield Ledger(ledger_table(), clock)


def _claim(ledger: Ledger) -> None:
    assert ledger.claim_launch(EXECUTION, "w", 1, 0, launch_key="lk-1", server_ids=["s-1"]) is None


def test_a_second_caller_cannot_take_a_running_lease(ledger: Ledger) -> None:
    # GIVEN a launch claim whose lease one caller holds
    _claim(ledger)
    assert ledger.lease_launch(EXECUTION, "w", 1, 0, token="first", seconds=90) is None

    # WHEN another caller asks for it
    held = ledger.lease_launch(EXECUTION, "w", 1, 0, token="second", seconds=90)

    # THEN it is refused with the claim as it is: STARTING, a call may have started a job, until when
    assert held is not None
    assert (held.status, held.lease_token, held.may_have_started, held.calls) == ("STARTING", "first", True, 1)
    assert held.lease_until == "2026-01-01T09:01:30.000Z"


def test_a_lease_whose_holder_died_is_taken_over_once_it_has_run_out(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN a lease whose holder died during its DRS call
    _claim(ledger)
    assert ledger.lease_launch(EXECUTION, "w", 1, 0, token="dead", seconds=90) is None

    # WHEN another caller asks after the lease has run out
    clock.at += timedelta(seconds=91)
    taken = ledger.lease_launch(EXECUTION, "w", 1, 0, token="next", seconds=90)

    # THEN it holds it now, and the claim keeps when the first call was made (where to look for its job)
    assert taken is None
    [claim] = ledger.launches(EXECUTION, "w")
    assert (claim.lease_token, claim.calls, claim.starting_at) == ("next", 2, "2026-01-01T09:00:00.000Z")


def test_a_launch_with_its_job_is_never_leased_again(ledger: Ledger, clock: SettableClock) -> None:
    # GIVEN a launch whose job is recorded
    _claim(ledger)
    assert ledger.lease_launch(EXECUTION, "w", 1, 0, token="t", seconds=90) is None
    ledger.complete_launch(EXECUTION, "w", 1, 0, job_id="drsjob-1", status=LaunchStatus.STARTED)

    # WHEN anyone asks for a lease, however late
    clock.at += timedelta(hours=1)
    held = ledger.lease_launch(EXECUTION, "w", 1, 0, token="late", seconds=90)

    # THEN it is refused with the job
    assert held is not None
    assert (held.status, held.job_id) == ("STARTED", "drsjob-1")
    assert held.lease_token is None


def test_ending_a_lease_keeps_that_a_call_was_made_and_only_its_holder_may_end_it(ledger: Ledger) -> None:
    # GIVEN a lease held by "mine"
    _claim(ledger)
    assert ledger.lease_launch(EXECUTION, "w", 1, 0, token="mine", seconds=90) is None

    # WHEN another token tries to end it, then its holder parks the launch
    foreign = ledger.end_launch_lease(EXECUTION, "w", 1, 0, token="other", status=LaunchStatus.CLAIMED)
    mine = ledger.end_launch_lease(EXECUTION, "w", 1, 0, token="mine", status=LaunchStatus.PARKED, park_reason="full")

    # THEN only the holder's write counted; the claim still says a call was made; anyone may lease it now
    assert (foreign, mine) == (False, True)
    [claim] = ledger.launches(EXECUTION, "w")
    assert (claim.status, claim.may_have_started, claim.park_reason) == ("PARKED", True, "full")
    assert claim.lease_token is None
    assert ledger.lease_launch(EXECUTION, "w", 1, 0, token="again", seconds=90) is None


def test_a_termination_claim_is_made_once_and_reopened_once_when_its_job_failed(ledger: Ledger) -> None:
    # GIVEN a batch of instances whose terminate job is recorded
    assert ledger.claim_termination(EXECUTION, "term-1", instance_ids=["i-1", "i-2"]) is None
    assert ledger.lease_termination(EXECUTION, "term-1", token="t", seconds=90) is None
    ledger.complete_termination(EXECUTION, "term-1", job_id="drsjob-9")

    # WHEN the same batch is claimed again, and then its failed job is reopened twice
    again = ledger.claim_termination(EXECUTION, "term-1", instance_ids=["i-1", "i-2"])
    first = ledger.reclaim_termination(EXECUTION, "term-1", failed_job_id="drsjob-9")
    second = ledger.reclaim_termination(EXECUTION, "term-1", failed_job_id="drsjob-9")

    # THEN the second claim got the first with its job; the reopen happened once
    assert again is not None
    assert (again.status, again.job_id, again.instance_ids) == ("STARTED", "drsjob-9", ("i-1", "i-2"))
    assert (first, second) == (True, False)
    [claim] = ledger.termination_claims(EXECUTION)
    assert (claim.status, claim.failed_job_ids) == ("CLAIMED", ("drsjob-9",))
    assert claim.job_id is None
    assert claim.may_have_started is None


def test_a_claim_made_with_its_lease_is_starting_in_one_write(ledger: Ledger) -> None:
    # GIVEN a launch claimed by a caller about to call StartRecovery (the claim and the lease in one write)
    assert ledger.claim_launch(EXECUTION, "w", 1, 0, launch_key="lk-1", server_ids=["s-1"], lease=("first", 90)) is None

    # WHEN a duplicate claims the same launch and asks for the lease
    existing = ledger.claim_launch(EXECUTION, "w", 1, 0, launch_key="lk-1", server_ids=["s-1"], lease=("dup", 90))
    held = ledger.lease_launch(EXECUTION, "w", 1, 0, token="dup", seconds=90)

    # THEN it gets the first caller's claim, which already says a call may have started a job, and no lease
    assert existing is not None
    assert (existing.status, existing.lease_token, existing.may_have_started) == ("STARTING", "first", True)
    assert (existing.starting_at, existing.lease_until) == ("2026-01-01T09:00:00.000Z", "2026-01-01T09:01:30.000Z")
    assert held is not None
    assert held.lease_token == "first"
