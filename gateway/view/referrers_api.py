"""The registry's referrers API, probed once, and the referrers found, kept per caller.

Whether the registry answers ``GET /v2/<name>/referrers/<digest>`` is a property of the
registry, not of a caller or a repository: it is learnt once (a 404 is "no"; an error
says nothing) and asked again after ``REFERRERS_API_RECHECK`` (the registry may be
upgraded). While it is unknown, one request at a time asks, the others wait for its
verdict, so a page of many rows learns it once.

What refers to a digest (``gateway.services.referrers`` finds it, from the API or the
fallback and cosign tags) is kept per caller for the tag lists' TTL, and dropped with
the repository's lists: a notification naming the repository (a push of a fallback or
cosign tag among them) drops it. The verdict is also kept on disk with the time it was
learnt, so a restarted gateway does not ask again within the same hour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.errors import NotFound
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.metrics import note_cache
from gateway.registry.protocol import ReferrersAnswer
from gateway.view.caches import ViewCaches, stored_key

T = TypeVar("T")
REFERRERS_API_RECHECK = 3600.0  # seconds a verdict on the referrers API is kept


class ReferrersApi:
    def __init__(self, client: RegistryClient, caches: ViewCaches) -> None:
        self.client = client
        self._store = caches.store
        self.found = caches.referrers
        # The verdict and when it was learnt (monotonic); None while unknown.
        self._verdict: tuple[bool, float] | None = None
        self._learning: asyncio.Lock | None = None
        # Kept on disk for a restart, per registry (gateway.view.disk): trusted as long
        # as it would be in process.
        self._disk = caches.content.disk
        self._fact = ""
        kept = None
        if self._disk is not None:
            self._fact = "referrers-api " + client.transport.base
            kept = self._disk.fact(self._fact)
        if kept is not None and kept[0] in ("yes", "no"):
            age = max(0.0, time.time() - kept[1])
            if age < REFERRERS_API_RECHECK:
                self._verdict = (kept[0] == "yes", time.monotonic() - age)

    @property
    def available(self) -> bool | None:
        """Whether the registry has a referrers API; None while that is unknown."""
        learnt = self._verdict
        if learnt is None or time.monotonic() - learnt[1] > REFERRERS_API_RECHECK:
            return None
        return learnt[0]

    @available.setter
    def available(self, verdict: bool) -> None:
        self._verdict = (verdict, time.monotonic())
        if self._disk is not None:
            self._disk.learnt(self._fact, "yes" if verdict else "no", time.time())

    async def index(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer | None:
        """The registry's referrers API answer for ``digest``, or None when the registry
        has no referrers API."""
        if self.available is None:
            if self._learning is None:
                self._learning = asyncio.Lock()
            async with self._learning:
                if self.available is None:
                    return await self._ask(caller, repo, digest, artifact_type)
        if not self.available:
            return None
        return await self._ask(caller, repo, digest, artifact_type)

    async def _ask(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer | None:
        async def fetch() -> ReferrersAnswer | None:
            try:
                answer = await self.client.referrers_index(caller, repo, digest, artifact_type)
            except NotFound:
                # Asked only for a digest the registry just served: a 404 is the route's.
                self.available = False
                return None
            self.available = True
            return answer

        return await self._store.once(("referrers", caller.key, repo, digest, artifact_type), fetch)

    def cached(
        self, caller: Caller, repo: str, digest: str, artifact_type: str, *, peek: bool = False
    ) -> object:
        """What ``once`` kept for this caller, or None; ``peek`` (the warm path) notes
        only a hit, as ``peek_tags`` does. Kept per caller: the entry is what was found
        with this caller's own reads."""
        found = self.found.get((caller.key, repo, digest, artifact_type))
        if found is not None or not peek:
            note_cache(hit=found is not None)
        return found

    async def once(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        artifact_type: str,
        find: Callable[[], Awaitable[T]],
    ) -> T:
        """``find()`` run once for concurrent askers, its result kept for this caller
        unless the repository's caches were dropped meanwhile."""
        key = (stored_key(caller.key), repo, digest, artifact_type)

        async def fetch() -> T:
            generation = self.found.generation
            found = await find()
            self.found.put(key, found, generation)
            return found

        return await self._store.once(("referrers-of", *key), fetch)
