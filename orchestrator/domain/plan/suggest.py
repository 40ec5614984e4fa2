"""'Did you mean …?' hints, in bounded time however many names a plan gets wrong.

difflib compares a word with each candidate; doing that for every unknown name of a plan against every
wave is quadratic (10,000 waves that each name an unknown dependency took minutes). A `Suggestions`
answers at most MAX_SUGGESTIONS words per plan (later ones get no hint: the problem is reported all the
same), each against at most MAX_CANDIDATES candidates of a length that could match.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTIONS = 20
MAX_CANDIDATES = 500
#: A word longer than this gets no hint (no plan name is longer: wave ids have at most 64 characters).
MAX_WORD = 128
_CUTOFF = 0.6


def quote(value: object, limit: int = 80) -> str:
    """`value` for a message, cut to `limit` characters: a problem never repeats a huge input."""
    text = str(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class Suggestions:
    """Bounded hints for one plan check (create one per check)."""

    def __init__(self, budget: int = MAX_SUGGESTIONS) -> None:
        self.left = budget

    def closest(self, word: str, choices: Iterable[str]) -> str | None:
        """The candidate closest to `word` (difflib's ratio at least 0.6), or None; None once the budget
        is spent. A ratio of 0.6 needs the shorter string at least 3/7 of the longer one's length, so
        candidates outside that length window are skipped before difflib sees them."""
        if self.left <= 0 or len(word) > MAX_WORD:
            return None
        self.left -= 1
        low, high = len(word) * 3 / 7, len(word) * 7 / 3
        candidates: list[str] = []
        for choice in choices:
            if low <= len(choice) <= high:
                candidates.append(choice)
                if len(candidates) >= MAX_CANDIDATES:
                    break
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=_CUTOFF)
        return close[0] if close else None

    def hint(self, word: str, choices: Iterable[str]) -> str:
        """` (did you mean 'x'?)`, or an empty string."""
        close = self.closest(word, choices)
        return f" (did you mean '{close}'?)" if close else ""
