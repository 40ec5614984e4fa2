"""Publishing to the orchestrator bus (PutEvents, 10 entries a call, failed entries raise)."""

from __future__ import annotations

from typing import Any

from events.envelope import put_events_entry
from events.models import OPERATOR_SOURCE, SOURCE, Contract
from orchestrator.observability import logger

PUT_EVENTS_BATCH = 10


class PublishError(RuntimeError):
    """Some entries were not accepted; the caller's event will be redelivered and retried."""


class Bus:
    """The orchestrator bus, publishing with `source` (SOURCE; `Bus.for_operator`: OPERATOR_SOURCE)."""

    def __init__(self, client: Any, bus_name: str, *, source: str = SOURCE) -> None:
        self._client = client
        self._bus_name = bus_name
        self.source = source

    @classmethod
    def for_operator(cls, client: Any, bus_name: str) -> Bus:
        """The operator endpoint's bus: its commands carry OPERATOR_SOURCE, which only its role may publish."""
        return cls(client, bus_name, source=OPERATOR_SOURCE)

    @property
    def name(self) -> str:
        return self._bus_name

    def entry(self, detail: Contract, resources: list[str] | None = None) -> dict[str, Any]:
        return put_events_entry(detail, self._bus_name, resources, source=self.source)

    def publish(self, *details: Contract) -> None:
        entries = [self.entry(d) for d in details]
        for start in range(0, len(entries), PUT_EVENTS_BATCH):
            batch = entries[start : start + PUT_EVENTS_BATCH]
            response = self._client.put_events(Entries=batch)
            if response.get("FailedEntryCount", 0):
                failed = [
                    (entry["DetailType"], result.get("ErrorCode"))
                    for entry, result in zip(batch, response["Entries"], strict=True)
                    if result.get("ErrorCode")
                ]
                raise PublishError(f"PutEvents rejected {len(failed)} entries: {failed}")
            for entry in batch:
                logger.debug("published", detail_type=entry["DetailType"])
