"""The local cloud's retention settings follow the deploy's rule (issue #16): a ledger time to live shorter than the
evidence bucket's Object Lock is refused when the profile is loaded, named at its key."""

from __future__ import annotations

import pytest

from localcloud.profile import ProfileError, load_profile


def test_by_default_nothing_is_locked_and_nothing_expires() -> None:
    retention = load_profile(None).retention
    assert (retention.evidence_object_lock_days, retention.ledger_ttl_days) == (0, None)


def test_a_time_to_live_shorter_than_the_object_lock_is_refused() -> None:
    with pytest.raises(ProfileError) as refused:
        load_profile(None, **{"retention.evidenceObjectLockDays": 365, "retention.ledgerTtlDays": 90})
    assert str(refused.value) == (
        "profile: retention: ledgerTtlDays=90 is shorter than the evidence bucket's Object Lock retention "
        "(evidenceObjectLockDays=365): the ledger would delete runs whose evidence the archive must keep; set "
        "ledgerTtlDays to at least 365, or leave it unset"
    )


def test_a_time_to_live_at_least_the_lock_is_accepted() -> None:
    retention = load_profile(
        None, **{"retention.evidenceObjectLockDays": 365, "retention.ledgerTtlDays": 365}
    ).retention
    assert (retention.evidence_object_lock_days, retention.ledger_ttl_days) == (365, 365)
