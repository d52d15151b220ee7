"""The warm path of a page of rows, written once.

A page (repositories with their tag counts, tags with their details, the tags on an
image's digest) needs one value per row. A row whose every part is cached is made on
the spot, with no I/O and no task (``peek``); only the others go the long way, all of
them concurrently. A warm page then costs a dictionary lookup per row, not a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


async def peek_or_gather(
    items: Iterable[K], peek: Callable[[K], V | None], fetch: Callable[[K], Awaitable[V]]
) -> dict[K, V]:
    """Each item's value: ``peek(item)`` when it knows it (not None), else
    ``fetch(item)``, the fetches run concurrently."""
    found: dict[K, V] = {}
    pending: list[K] = []
    for item in items:
        value = peek(item)
        if value is None:
            pending.append(item)
        else:
            found[item] = value
    if pending:
        fetched = await asyncio.gather(*(fetch(item) for item in pending))
        found.update(zip(pending, fetched, strict=True))
    return found
