"""What the ledger's adapter-tier tests share: the ledger table on moto's DynamoDB and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from infra.definitions import ledger_table_request
from orchestrator.adapters.ledger._base import _Update
from orchestrator.adapters.ledger._keys import wave_key


class SettableClock:
    """A clock a test moves by hand (`clock.at += timedelta(...)`)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


def ledger_table(name: str = "ledger") -> Any:
    """The ledger's table (the deployed key schema and index) named `name`, inside an active `mock_aws()`."""
    return boto3.resource("dynamodb", region_name="us-east-1").create_table(**ledger_table_request(name))


def write_wave_attributes(ledger: Any, execution_id: str, wave_id: str, attributes: dict[str, Any]) -> None:
    """Set raw attributes on a wave item, as no step would (an item an older or newer version wrote, a huge
    attribute): the test's own UpdateItem on the ledger's table."""
    update = _Update(sets=dict(attributes))
    ledger._table.update_item(Key=wave_key(execution_id, wave_id), **update.request("attribute_exists(pk)"))
