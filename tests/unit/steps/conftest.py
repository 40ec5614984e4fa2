"""The unit tier of the steps: each step called directly with a Runtime of in-memory fakes (tests/fakes.py)
and the real ledger on moto's DynamoDB (tests/unit/moto_ledger.py; a ledger fake comes with typed records)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.unit.steps.world import World


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        yield World()
