"""The unit tier of the steps: each step called directly with a Runtime of in-memory fakes (tests/fakes.py)
and the real ledger on moto's DynamoDB (tests/unit/moto_ledger.py; a ledger fake comes with typed records).

moto is started once for this package and each test gets a table of its own (starting and resetting moto for
every test cost half a second each)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.moto_ledger import ledger_table
from tests.unit.steps.world import World

_TABLES = itertools.count(1)


@pytest.fixture(scope="package")  # stopped after the last test of this package: nothing else runs on it
def _dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.resource("dynamodb", region_name="us-east-1")


@pytest.fixture
def world(_dynamodb: Any) -> Iterator[World]:
    table = ledger_table(f"ledger-{next(_TABLES)}")
    yield World(table)
    table.delete()
