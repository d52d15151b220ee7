"""Refreshes in the background: what the view served stale is fetched afresh off the
request's path (stale-while-revalidate, ``LR_STALE_TTL``).

A list or pointer whose cache period ran out is still answered, at once, for
``LR_STALE_TTL`` seconds more, and the same read schedules its refresh here: one task
per key at a time, a few at once, each in a context of its own — no request's id,
deadline or counts (the page that served the stale value asked nothing of the registry
for it; ``X-Upstream-Requests`` says so). What a refresh fetches is put as any fetch is,
under the generation it saw, so a change meanwhile (a notification, a write) wins. A
refresh that fails leaves the stale entry to its end, unless the registry refused the
caller: then ``on_refused`` drops what was served on its word.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Hashable

from gateway.errors import GatewayError

log = logging.getLogger("gateway.refresh")

#: Refreshes waiting at most; beyond, a stale read schedules nothing (it will be
#: fetched in the request's path once its stale time is over).
MAX_WAITING = 10_000
#: How long a refresh waits before it starts: the answer that was served stale goes
#: out first, instead of sharing the event loop with the refresh's upstream requests
#: (a page past its time cost 3× a warm one with the refresh started at once).
DEFER_SECONDS = 0.05


class Refresher:
    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        # Plain counters, read by the metrics at scrape time.
        self.started = 0
        self.failed = 0

    def start(self, key: Hashable, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work()`` in the background unless a refresh of ``key`` is under way."""
        if key in self._tasks or len(self._tasks) >= MAX_WAITING:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a test calling the view from outside one): nothing to run
        task = loop.create_task(self._run(key, work), context=contextvars.Context())
        self._tasks[key] = task
        self.started += 1

    async def _run(self, key: Hashable, work: Callable[[], Awaitable[object]]) -> None:
        try:
            await asyncio.sleep(DEFER_SECONDS)
            async with self._slots:
                await work()
        except GatewayError as exc:
            self.failed += 1
            log.debug("refresh failed: %s (%s)", exc.message, exc.code)
        except Exception:  # a refresh must never take anything else down
            self.failed += 1
            log.exception("refresh failed")
        finally:
            self._tasks.pop(key, None)

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
