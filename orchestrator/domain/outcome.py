"""How a conditional write of the ledger came out (`Outcome`): the answer every transition gives a step."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Outcome"]


class Outcome(StrEnum):
    """What a transition came to: WON (this call made it), REPLAY (a redelivery of the event that made it: its
    caller may safely redo what follows the write) or REJECTED (the item is not in a state it may leave)."""

    WON = "WON"
    REPLAY = "REPLAY"
    REJECTED = "REJECTED"

    @property
    def proceed(self) -> bool:
        return self is not Outcome.REJECTED
