"""The registry's status: a fresh ping for health, a recent one for the SPA's config.

Every ping has a short deadline of its own (``LR_CONNECT_TIMEOUT``): health answers
503 within it when the registry hangs, instead of after the read timeouts.

``/api/config`` is fetched on every page load of an SPA, before it draws anything: it
must not cost a registry round trip each time, nor wait for a registry that is slow or
down. ``recent()`` answers from the last ping while a newer one runs in the background
(stale-while-revalidate); only the very first call waits, and that one for a short
deadline. The last challenge of a reachable registry is remembered, so the SPA still
knows whether to offer a login form while the registry is briefly down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from gateway.registry.client import RegistryClient
from gateway.registry.protocol import Ping

RECENT_SECONDS = 10.0


class RegistryStatus:
    def __init__(
        self, client: RegistryClient, max_age: float = RECENT_SECONDS, timeout: float = 5.0
    ) -> None:
        self.client = client
        self.max_age = max_age
        self.timeout = timeout  # the deadline of every ping
        self._last: Ping | None = None
        self._at = 0.0
        self._known_auth = "none"
        self._first = asyncio.Lock()
        self._refresh: asyncio.Task[Ping] | None = None

    @property
    def known_auth(self) -> str:
        """The scheme of the last answer from a reachable registry (``none`` before one)."""
        return self._known_auth

    async def ping(self) -> Ping:
        """A fresh ``GET /v2/`` within ``self.timeout``: a registry that hangs is
        unreachable here, and says so soon (health is asked by probes with deadlines of
        their own). What it learns serves ``recent()`` too."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                ping = await self.client.ping()
        except TimeoutError:
            ping = Ping(False, None, None, "none", round((time.perf_counter() - started) * 1000, 2))
        return self._learn(ping)

    def _learn(self, ping: Ping) -> Ping:
        self._last, self._at = ping, time.monotonic()
        if ping.reachable:
            self._known_auth = ping.auth
        return ping

    async def recent(self) -> Ping:
        """The last ping, refreshed in the background once it is ``max_age`` old."""
        if self._last is None:
            async with self._first:  # concurrent first calls share one ping
                if self._last is None:
                    return await self.ping()
        assert self._last is not None
        stale = time.monotonic() - self._at >= self.max_age
        if stale and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self.ping())
        return self._last

    async def aclose(self) -> None:
        """Stop a background refresh (the HTTP client is closing)."""
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
