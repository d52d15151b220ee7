"""Upstream concurrency slots handed out earliest deadline first.

A plain semaphore is FIFO: under a slow registry a page's second call (the config after
its manifest) queues behind the first calls of every request that arrived later, so all
of them run out of time together and none answers. Handing each freed slot to the
waiter whose request must answer soonest lets the oldest requests finish while later
ones wait (and, if the registry stays slow, meet their own deadline).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DeadlineSlots:
    """``async with slots.held(priority)``: at most ``size`` holders at once; a freed
    slot goes to the waiter with the lowest ``priority`` (a loop-time deadline), in
    arrival order among equals. Cancel-safe: a waiter cancelled after it was handed a
    slot passes it on."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiters if not f.done())

    @asynccontextmanager
    async def held(self, priority: float) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: float) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._release()  # handed a slot, then cancelled before using it
            else:
                future.cancel()  # skipped when its turn comes
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the slot passes straight to it
                return
        self._free += 1
