"""``CachedRegistry``: the cached, per-caller view of the registry, as services use it.

Its face is its reads (``gateway.view.reads``); the rest is composed of one part per
responsibility, each in its own module: the gate (``access``), the two-level store
(``store``, ``caches``), the referrers API (``referrers_api``), blobs (``blobs``),
writes (``writes``) and invalidation (``invalidation``). Services read and write
through it and never reach the registry client for a write, nor drop a cache
themselves; what keeps data derived from the view subscribes (``subscribe``) and is
told of every change (``gateway.view.changes``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.protocol import Passed, ReferrersAnswer
from gateway.shared_state.caches import SharedCaches
from gateway.view.blobs import Blobs
from gateway.view.caches import ViewCaches
from gateway.view.changes import Change, Subscriber, Subscribers
from gateway.view.disk import DiskContent
from gateway.view.invalidation import Invalidation
from gateway.view.reads import Reads
from gateway.view.referrers_api import ReferrersApi
from gateway.view.refresh import Refresher
from gateway.view.tag_index import TagIndex
from gateway.view.writes import WriteBatch, Writes

T = TypeVar("T")


class CachedRegistry(Reads):
    def __init__(
        self,
        client: RegistryClient,
        *,
        content_bytes: int,
        ttl: float,
        access_ttl: float,
        membership_ttl: float = 600.0,
        max_config_bytes: int = 16 * 1024 * 1024,
        model_bytes: int = 32 * 1024 * 1024,
        tag_index: TagIndex | None = None,
        shared: SharedCaches | None = None,
        disk: DiskContent | None = None,
        stale_ttl: float = 0.0,
        refresh_concurrency: int = 4,
    ) -> None:
        caches = ViewCaches(
            content_bytes=content_bytes,
            model_bytes=model_bytes,
            ttl=ttl,
            access_ttl=access_ttl,
            membership_ttl=membership_ttl,
            tag_index=tag_index,
            shared=shared,
            disk=disk,
            stale_ttl=stale_ttl,
        )
        refresher = Refresher(refresh_concurrency) if stale_ttl > 0 else None
        super().__init__(client, caches, max_config_bytes, refresher)
        self.shared = shared
        # The in-process stores, as the metrics (and tests) read them.
        self.content = caches.content.local
        self.disk = disk  # content on disk (None: off), as the metrics read it
        self.catalogs = caches.catalogs.local
        self.tag_lists = caches.tag_lists.local
        self.tag_digests = caches.tag_digests.local
        self.access = caches.access.local
        self.membership = caches.membership.local
        self.referrers = caches.referrers
        self.flights = caches.store.flights
        self._subscribers = Subscribers()
        self.invalidation = Invalidation(caches, self._subscribers, self._drop_tokens)
        self.writes = Writes(client, caches, self.invalidation)
        self.blobs = Blobs(client, self.gate)
        self._referrers = ReferrersApi(client, caches)
        self.subscribe(self.tag_index.changed)

    def _drop_tokens(self, caller_key: str) -> None:
        self.client.tokens.drop_caller(caller_key)  # read now: tests swap the client

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` with every batch of changes, after the view dropped its
        own data (``gateway.view.changes``). Register once, when the state is built."""
        self._subscribers.add(subscriber)

    def start(self) -> None:
        """Listen for other replicas' changes (with Redis; on the running loop)."""
        if self.shared is not None:
            self.shared.bus.start(self.invalidation.remote, self.invalidation.everything)

    async def aclose(self) -> None:
        """Stop what runs in the background: refreshes, the tag index's fills."""
        if self.refresher is not None:
            await self.refresher.aclose()
        await self.tag_index.aclose()

    # -- what changed -------------------------------------------------------------------

    def notified(self, changes: Sequence[Change]) -> None:
        """The registry notified these changes (``gateway.services.events``)."""
        self.invalidation.repositories(changes, new_repo_possible=True)

    def logged_out(self, caller: Caller) -> None:
        """A caller logged out: what is cached for them goes, on every replica."""
        self.invalidation.caller(caller)

    def forget_repository(self, repo: str, *, new_repo_possible: bool = True) -> None:
        self.forget_repositories([repo], new_repo_possible=new_repo_possible)

    def forget_repositories(
        self, repos: Collection[str], *, new_repo_possible: bool = True, publish: bool = True
    ) -> None:
        """Drop every list and pointer of ``repos`` (every caller), as a change of
        unknown kind (``Invalidation.repositories``)."""
        change = Change("gateway", tuple(repos))
        self.invalidation.repositories(
            [change], new_repo_possible=new_repo_possible, publish=publish
        )

    def forget_catalogs_lacking(self, repos: Collection[str], *, publish: bool = True) -> None:
        self.invalidation.catalogs_lacking(repos, publish=publish)

    def forget_caller(self, caller: Caller | str) -> None:
        """Drop what is cached for a caller (``caller``, or its key: not published)."""
        self.invalidation.caller(caller)

    def forget_all_lists(self) -> None:
        self.invalidation.everything()

    # -- writes -----------------------------------------------------------------------------

    def writing(self, caller: Caller, repo: str) -> AbstractAsyncContextManager[WriteBatch]:
        """Writes to ``repo`` as ``caller``; its cached data is dropped when they end."""
        return self.writes.batch(caller, repo)

    def refresh(self, caller: Caller, repo: str) -> None:
        """Read ``repo`` afresh from now on (before a write that names what it changes)."""
        self.writes.refresh(caller, repo)

    async def delete_manifest(self, caller: Caller, repo: str, reference: str) -> None:
        async with self.writing(caller, repo) as batch:
            await batch.delete_manifest(reference)

    async def delete_tag(self, caller: Caller, repo: str, tag: str, digest: str) -> str:
        async with self.writing(caller, repo) as batch:
            return await batch.delete_tag(tag, digest)

    async def put_manifest(
        self, caller: Caller, repo: str, reference: str, body: bytes, media_type: str
    ) -> Passed:
        async with self.writing(caller, repo) as batch:
            return await batch.put_manifest(reference, body, media_type)

    async def delete_blob(self, caller: Caller, repo: str, digest: str) -> None:
        async with self.writing(caller, repo) as batch:
            await batch.delete_blob(digest)

    async def upload(
        self,
        caller: Caller,
        repo: str,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | AsyncIterable[bytes] | None,
    ) -> Passed:
        return await self.writes.upload(
            caller, repo, method, path, headers=headers, content=content
        )

    # -- referrers ----------------------------------------------------------------------

    @property
    def referrers_api(self) -> bool | None:
        """Whether the registry has a referrers API; None while that is unknown."""
        return self._referrers.available

    @referrers_api.setter
    def referrers_api(self, verdict: bool) -> None:
        self._referrers.available = verdict

    async def referrers_index(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer | None:
        return await self._referrers.index(caller, repo, digest, artifact_type)

    def cached_referrers(
        self, caller: Caller, repo: str, digest: str, artifact_type: str, *, peek: bool = False
    ) -> object:
        return self._referrers.cached(caller, repo, digest, artifact_type, peek=peek)

    async def referrers_once(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        artifact_type: str,
        find: Callable[[], Awaitable[T]],
    ) -> T:
        return await self._referrers.once(caller, repo, digest, artifact_type, find)
