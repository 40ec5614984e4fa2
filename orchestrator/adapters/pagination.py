"""Token pagination shared by the adapters (each passes its own call, which translates errors)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def paginate(
    call: Callable[..., dict[str, Any]], operation: str, key: str, *, marker_member: str, **kwargs: Any
) -> Iterator[dict[str, Any]]:
    """Yield every item under `key` of every page; `marker_member` names the service's next-token member
    (`nextToken` in DRS, `NextToken` in SSM)."""
    marker: str | None = None
    while True:
        page = call(operation, **kwargs, **({marker_member: marker} if marker else {}))
        yield from page.get(key, [])
        marker = page.get(marker_member)
        if not marker:
            return
