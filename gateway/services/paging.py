"""Paging a sorted list by name: the entries after a cursor (``last``), at most ``n``.
The repositories page and the registry's own ``_catalog``/``tags/list`` on /v2 page the
same way."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def page_of(entries: Sequence[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """The entries after ``last`` (sorted lists), at most ``n``; and whether more follow."""
    start = bisect.bisect_right(entries, last) if last else 0
    if n is None:
        return list(entries[start:]), False
    page = list(entries[start : start + n])
    return page, n > 0 and start + n < len(entries)
