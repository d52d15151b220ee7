"""The registry's status: a fresh ping for health, a recent one for the SPA's config.

``/api/config`` is fetched on every page load of an SPA; it must not cost a registry
round trip each time, nor fail when the registry is briefly down. ``recent()`` reuses
an answer for a few seconds (one ping in flight at a time) and remembers the last
challenge the registry sent, so the SPA still knows whether to offer a login form.
"""

from __future__ import annotations

import asyncio
import time

from gateway.registry.client import Ping, RegistryClient

RECENT_SECONDS = 10.0


class RegistryStatus:
    def __init__(self, client: RegistryClient, max_age: float = RECENT_SECONDS) -> None:
        self.client = client
        self.max_age = max_age
        self._last: Ping | None = None
        self._at = 0.0
        self._known_auth = "none"
        self._lock = asyncio.Lock()

    @property
    def known_auth(self) -> str:
        """The scheme of the last answer from a reachable registry (``none`` before one)."""
        return self._known_auth

    async def ping(self) -> Ping:
        """A fresh ``GET /v2/``; what it learns serves ``recent()`` too."""
        ping = await self.client.ping()
        self._last, self._at = ping, time.monotonic()
        if ping.reachable:
            self._known_auth = ping.auth
        return ping

    async def recent(self) -> Ping:
        """A ping at most ``max_age`` seconds old."""
        async with self._lock:
            if self._last is not None and time.monotonic() - self._at < self.max_age:
                return self._last
            return await self.ping()
