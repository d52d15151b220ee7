"""A cached, per-caller view of the registry: the one place services get data from.

Isolation rules (content is immutable, access is not):

- catalog and tag lists are cached per caller (``caller.key`` in the key): the entry
  records that the registry answered that list to that caller. The list itself is
  interned by content (``gateway.shared_lists``): callers answered the same entries
  point at one immutable copy, while each still gets only what the registry answered
  for them (sharing needs equal content, never mere digest equality);
- a repository's data reaches a caller only after the registry confirmed that caller's
  access to that repository (a tag list or manifest fetched with the caller's own
  credentials), remembered per (caller, repository) for ``access_ttl``;
- manifests and configs are cached by digest and shared, but served for a repository
  only when the digest is known to belong to it (``membership``): otherwise a caller
  allowed on one repository could read another's content by naming its digest.
  Membership comes from the registry answering for that repository, never from what a
  document claims: an index may name children its repository does not hold (a sparse
  index, which distribution 3.x can be configured to accept, or a broken one);
- the tag index of a large repository (``tag_index``: tag → digest, digest → created,
  filled in the background) is per repository and shared, handed to a caller only
  after that caller's access was confirmed (``tag_index_view``), and only ever read
  for the tags of the list the registry answered that caller. It is dropped with the
  repository's lists (``forget_repositories``, which notifications use);
- the referrers of a digest (``gateway.services.referrers``) are cached per caller, for
  the tag lists' TTL, and dropped with the repository's lists: a notification naming
  the repository (a push of a fallback or cosign tag among them) drops them. Whether
  the registry has a referrers API at all is learnt once (``referrers_api``): it is a
  property of the registry, not of a caller or a repository;
- caches of figures derived from these (``services.usage``) are per caller too and are
  dropped at the same moments, through ``on_forget`` and ``on_forget_caller``.

With ``LR_REDIS_URL`` (``shared``, ``gateway.shared_state.caches``) Redis is a second
level behind each of these stores, under the same rules and keyed the same way (the
caller by its shared name): consulted on a local miss before going upstream, written
with what came from upstream, never read by the ``peek_*`` warm path. ``forget_*``
also make the Redis entries stale and tell the other replicas, whose subscribers drop
their own copies (``apply_remote``).
"""

from __future__ import annotations

import asyncio
import bisect
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import TypeVar

from gateway.cache import Blob, ContentCache, ModelCache, SingleFlight, TTLStore
from gateway.errors import GatewayError, NameUnknown, NotFound
from gateway.models import media_types as mt
from gateway.models import oci
from gateway.registry.client import Manifest, ReferrersAnswer, RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.metrics import note_cache
from gateway.registry.names import is_digest
from gateway.services.tag_index import UNKNOWN, RepoIndex, TagIndex
from gateway.shared_lists import ListInterner, SharedList
from gateway.shared_state.caches import Invalidation, SharedCaches

T = TypeVar("T")
REFERRERS_API_RECHECK = 3600.0  # seconds a verdict on the referrers API is kept
P = TypeVar("P", oci.Index, oci.ImageManifest, oci.ImageConfig)


class CachedRegistry:
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
    ) -> None:
        self.client = client
        self.content = ContentCache(content_bytes)
        # Indexed by the key parts invalidation names (see forget_*): keys are
        # (caller,), (caller, repo), (repo, tag), (caller, repo), (repo, digest).
        # Catalogs and tag lists are SharedLists from ``lists``: one copy per content.
        self.lists = ListInterner()
        self.catalogs: TTLStore[tuple[str], Sequence[str]] = TTLStore(ttl, maxsize=1000)
        self.tag_lists: TTLStore[tuple[str, str], Sequence[str]] = TTLStore(
            ttl, indexes={"repo": _second, "caller": _first}
        )
        self.tag_digests: TTLStore[tuple[str, str], str] = TTLStore(ttl, indexes={"repo": _first})
        self.access: TTLStore[tuple[str, str], bool] = TTLStore(
            access_ttl, indexes={"caller": _first}
        )
        self.membership: TTLStore[tuple[str, str], bool] = TTLStore(
            membership_ttl, 500_000, indexes={"repo": _first}
        )
        self.flights = SingleFlight()
        # Parsed documents here, image rows and summaries in ImageService: one budget.
        self.models = ModelCache(model_bytes)
        self.max_config_bytes = max_config_bytes
        self.tag_index = tag_index if tag_index is not None else TagIndex()
        # (caller, repo, digest, artifact type filter) -> what refers to the digest.
        self.referrers: TTLStore[tuple[str, str, str, str], object] = TTLStore(
            ttl, indexes={"repo": _second, "caller": _first}
        )
        # Whether the registry answers GET /v2/<name>/referrers/<digest>, and when that
        # was learnt: unknown until the first answer says (a 404 is "no"; an error says
        # nothing), asked again after REFERRERS_API_RECHECK (the registry may be upgraded).
        self._referrers_api: tuple[bool, float] | None = None
        self._learning: asyncio.Lock | None = None
        self.shared = shared
        if shared is not None:
            shared.on_invalidation = self.apply_remote
            shared.on_gap = self.forget_all_lists
        # Caches kept outside this class (the usage figures) drop theirs with the lists:
        # called with the repositories forgotten, and with a caller's key on a logout.
        self.on_forget: list[Callable[[Collection[str]], None]] = []
        self.on_forget_caller: list[Callable[[str], None]] = []
        self.on_forget_all: list[Callable[[], None]] = []

    async def _once(self, key: tuple[object, ...], factory: Callable[[], Awaitable[T]]) -> T:
        return await self.flights.run(key, factory)

    # -- lists (per caller, content shared) -------------------------------------------
    # Both answer an immutable, shared list (a SharedList refuses changes): callers
    # filter or sort into a list of their own.

    async def catalog(self, caller: Caller) -> Sequence[str]:
        key = (_stored_key(caller),)
        cached = self.catalogs.get(key)
        note_cache(hit=cached is not None)
        if cached is not None:
            return cached

        async def fetch() -> SharedList:
            generation = self.catalogs.generation
            stamp = None
            if self.shared is not None:
                found, stamp = await self.shared.catalog(caller)
                if found is not None:
                    names = self.lists.intern(found)
                    self.catalogs.put(key, names, generation)
                    return names

            async def share(found: Iterable[str]) -> None:
                if self.shared is not None:
                    await self.shared.put_catalog(caller, list(found), stamp)

            names = self.lists.intern(
                await self._coalesced(
                    caller, ("catalog",), self._shared_catalog(caller), self.client.catalog, share
                )
            )
            self.catalogs.put(key, names, generation)
            return names

        return await self._once(("catalog", caller.key), fetch)

    def peek_tags(self, caller: Caller, repo: str) -> Sequence[str] | None:
        """The tag list cached for this caller, or None: no I/O, no task (the warm path
        of a page that needs many of them)."""
        cached = self.tag_lists.get((_stored_key(caller), repo))
        if cached is not None:
            note_cache(hit=True)
        return cached

    def peek_tag_digest(self, caller: Caller, repo: str, tag: str) -> str | None:
        """What ``resolve`` answers for a tag when it needs no I/O: the cached digest,
        for a caller whose access to the repository is confirmed; else None."""
        digest = self.tag_digests.get((repo, tag))
        if digest is None or not self.access.get((caller.key, repo)):
            return None
        note_cache(hit=True)
        return digest

    def peek_digest(self, caller: Caller, repo: str, reference: str) -> str | None:
        """The digest ``reference`` names here, when everything serving its manifest to
        this caller needs is already known — the tag's digest, this caller's confirmed
        access, the digest's membership of the repository, the verified bytes — else
        None (then ``manifest`` decides, with I/O). Never a looser rule than it."""
        digest = reference if is_digest(reference) else self.tag_digests.get((repo, reference))
        if digest is None or not self.access.get((caller.key, repo)):
            return None
        if not self.membership.get((repo, digest)):
            return None
        blob = self.content.get(digest)
        if blob is None or not blob.media_type:
            return None
        note_cache(hit=True)
        return digest

    async def tags(self, caller: Caller, repo: str) -> Sequence[str]:
        key = (_stored_key(caller), repo)
        cached = self.tag_lists.get(key)
        note_cache(hit=cached is not None)
        if cached is not None:
            return cached

        async def fetch() -> SharedList:
            generation = self.tag_lists.generation
            stamp = None
            if self.shared is not None:
                found, stamp = await self.shared.tags(caller, repo)
                if found is not None:  # the registry answered this list to this caller
                    tags = self.lists.intern(found)
                    self.tag_lists.put(key, tags, generation)
                    self.access.put((_stored_key(caller), repo), True)
                    return tags

            async def share(found: Iterable[str]) -> None:
                if self.shared is not None:
                    await self.shared.put_access(caller, repo)
                    await self.shared.put_tags(caller, repo, list(found), stamp)

            tags = self.lists.intern(
                await self._coalesced(
                    caller,
                    ("tags", repo),
                    self._shared_tags(caller, repo),
                    lambda c: self.client.tags(c, repo),
                    share,
                )
            )
            self.tag_lists.put(key, tags, generation)
            self.access.put((_stored_key(caller), repo), True)
            return tags

        return await self._once(("tags", caller.key, repo), fetch)

    def in_cached_catalog(self, caller: Caller, repo: str) -> bool:
        """Whether the catalog cached for this caller lists ``repo`` (False if none is)."""
        names = self.catalogs.get((caller.key,))
        if not names:
            return False
        i = bisect.bisect_left(names, repo)
        return i < len(names) and names[i] == repo

    async def ensure_access(
        self, caller: Caller, repo: str, proof: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        """Raise (401/403/404) unless the registry lets this caller read this repository.

        The tag list is the usual proof. A repository that was never tagged (images
        pushed by digest only, as CI does before it assembles an index) has none: the
        registry answers NAME_UNKNOWN to its tags/list. Then ``proof`` (a HEAD of the
        very manifest or blob asked for, with the caller's credentials) decides.
        """
        if self.access.get((caller.key, repo)):
            return
        if self.shared is not None and await self.shared.access(caller, repo):
            self.access.put((_stored_key(caller), repo), True)
            return
        try:
            await self.tags(caller, repo)
        except NameUnknown as exc:
            if proof is None:
                raise
            try:
                await proof()
            except NotFound:
                raise exc from None  # nothing there either: an unknown repository
            await self._confirm(caller, repo)

    async def _confirm(self, caller: Caller, repo: str) -> None:
        """Remember that the registry let this caller read this repository (both levels)."""
        self.access.put((_stored_key(caller), repo), True)
        if self.shared is not None:
            await self.shared.put_access(caller, repo)

    # -- content (shared by digest, gated per caller) -------------------------------------

    def _remember(self, repo: str, blob: Blob) -> None:
        self.content.put(blob)
        self.membership.put((repo, blob.digest), True)

    async def _share(self, repo: str, blob: Blob, stamp: bytes | None, *members: str) -> None:
        """What ``_remember`` (and ``_remember_references``) kept, into Redis too: the
        verified bytes, and the membership of ``blob`` and ``members`` in ``repo``."""
        if self.shared is None:
            return
        await self.shared.put_blob(blob)
        await self.shared.put_member(repo, [blob.digest, *members], stamp)

    async def _shared_blob(self, digest: str) -> Blob | None:
        """Content by digest from Redis (verified again there), kept in process."""
        if self.shared is None:
            return None
        blob = await self.shared.blob(digest)
        if blob is not None:
            self.content.put(blob)
        return blob

    async def _member(self, repo: str, digest: str) -> bool:
        """Whether ``digest`` is known to belong to ``repo`` (in process, then Redis)."""
        if self.membership.get((repo, digest)):
            return True
        if self.shared is not None and await self.shared.member(repo, digest):
            self.membership.put((repo, digest), True)
            return True
        return False

    async def _tag_digest(self, repo: str, tag: str) -> str | None:
        """A tag's cached digest (in process, then Redis, then kept in process)."""
        digest = self.tag_digests.get((repo, tag))
        if digest is not None or self.shared is None:
            return digest
        generation = self.tag_digests.generation
        digest, _stamp = await self.shared.tag_digest(repo, tag)
        if digest is not None:
            self.tag_digests.put((repo, tag), digest, generation)
        return digest

    def _remember_references(self, repo: str, manifest: Manifest) -> str | None:
        """The config of an image manifest of ``repo`` lives in ``repo`` too: a registry
        refuses an image manifest whose blobs the repository does not hold.

        Not so an index's children: a sparse index (or a broken one) names manifests the
        repository lacks, so a child is a member only once the registry served it here.
        """
        if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
            return None
        try:
            config = self.image_manifest(manifest).config.digest
        except GatewayError:  # malformed documents are reported where they are used
            return None
        self.membership.put((repo, config), True)
        return config

    # -- coalescing across replicas (a cold fetch done by one of them) -----------------

    async def _coalesced(
        self,
        caller: Caller,
        what: tuple[str, ...],
        ready: Callable[[], Awaitable[T | None]],
        fetch: Callable[[Caller], Awaitable[T]],
        share: Callable[[T], Awaitable[None]],
    ) -> T:
        """``fetch(caller)`` from upstream; with Redis, once across the replicas: a
        replica doing the same fetch for the same caller is waited for, and its result
        taken from Redis (``ready``). What was fetched goes to Redis (``share``) before
        the lock is released, so a waiter finds it there."""
        if self.shared is None:
            return await fetch(caller)

        async def fetch_and_share() -> T:
            result = await fetch(caller)
            await share(result)
            return result

        return await self.shared.once(caller, what, ready, fetch_and_share)

    def _shared_catalog(self, caller: Caller) -> Callable[[], Awaitable[list[str] | None]]:
        shared = self.shared

        async def ready() -> list[str] | None:
            return None if shared is None else (await shared.catalog(caller))[0]

        return ready

    def _shared_tags(self, caller: Caller, repo: str) -> Callable[[], Awaitable[list[str] | None]]:
        shared = self.shared

        async def ready() -> list[str] | None:
            return None if shared is None else (await shared.tags(caller, repo))[0]

        return ready

    def _shared_manifest(
        self, caller: Caller, repo: str, reference: str
    ) -> Callable[[], Awaitable[Manifest | None]]:
        """A manifest another replica fetched for this caller: its access confirmed,
        the digest a member of the repository, the bytes verified again."""
        shared = self.shared

        async def ready() -> Manifest | None:
            if shared is None:
                return None
            digest: str | None = reference
            if not is_digest(reference):
                digest = (await shared.tag_digest(repo, reference))[0]
            if digest is None or not await shared.access(caller, repo):
                return None
            if not await shared.member(repo, digest):
                return None
            blob = await shared.blob(digest)
            if blob is None or not blob.media_type:
                return None
            return Manifest(blob.digest, blob.media_type, blob.body)

        return ready

    def _shared_config(
        self, caller: Caller, repo: str, digest: str
    ) -> Callable[[], Awaitable[bytes | None]]:
        shared = self.shared

        async def ready() -> bytes | None:
            if shared is None or not await shared.access(caller, repo):
                return None
            if not await shared.member(repo, digest):
                return None
            blob = await shared.blob(digest)
            return None if blob is None else blob.body

        return ready

    # -- parsed documents (by digest: parsing is the main CPU cost of a cold page) -------

    def _parsed_as(self, digest: str, body: bytes, kind: type[P], parse: Callable[[bytes], P]) -> P:
        key = (kind, digest)
        parsed = self.models.get(key)
        if parsed is not None:
            return parsed  # type: ignore[no-any-return]
        fresh = parse(body)
        self.models.put(key, fresh)
        return fresh

    def index(self, manifest: Manifest) -> oci.Index:
        return self._parsed_as(manifest.digest, manifest.body, oci.Index, oci.parse_index)

    def image_manifest(self, manifest: Manifest) -> oci.ImageManifest:
        return self._parsed_as(
            manifest.digest, manifest.body, oci.ImageManifest, oci.parse_image_manifest
        )

    def image_config(self, digest: str, body: bytes) -> oci.ImageConfig:
        return self._parsed_as(digest, body, oci.ImageConfig, oci.parse_config)

    async def resolve(self, caller: Caller, repo: str, reference: str) -> str:
        """The digest a tag points at (or the digest itself), for this caller."""
        if is_digest(reference):
            return reference
        cached = await self._tag_digest(repo, reference)
        note_cache(hit=cached is not None)
        if cached is not None:
            await self.ensure_access(caller, repo)
            return cached
        manifest = await self._get_manifest(caller, repo, reference)
        return manifest.digest

    async def _get_manifest(self, caller: Caller, repo: str, reference: str) -> Manifest:
        async def fetch() -> Manifest:
            generation = self.tag_digests.generation
            stamp = None if self.shared is None else await self.shared.stamp(repo)

            async def share(found: Manifest) -> None:
                if self.shared is None:
                    return
                await self.shared.put_access(caller, repo)
                config = self._remember_references(repo, found)
                blob = Blob(found.digest, found.media_type, found.body)
                await self._share(repo, blob, stamp, *([config] if config else []))
                if not is_digest(reference):
                    await self.shared.put_tag_digest(repo, reference, found.digest, stamp)

            manifest = await self._coalesced(
                caller,
                ("manifest", repo, reference),
                self._shared_manifest(caller, repo, reference),
                lambda c: self.client.manifest(c, repo, reference),
                share,
            )
            self._remember(repo, Blob(manifest.digest, manifest.media_type, manifest.body))
            self._remember_references(repo, manifest)
            self.access.put((_stored_key(caller), repo), True)
            if not is_digest(reference) and generation == self.tag_digests.generation:
                self.tag_digests.put((repo, reference), manifest.digest, generation)
                self.tag_index.note(repo, reference, manifest.digest)
            return manifest

        return await self._once(("manifest", caller.key, repo, reference), fetch)

    async def manifest(self, caller: Caller, repo: str, reference: str) -> Manifest:
        """A manifest by tag or digest, verified, from the cache when this caller may."""
        if not is_digest(reference) and await self._tag_digest(repo, reference) is None:
            # Resolving the tag fetches the manifest: that answer is the one to return
            # (with the content cache off or full it would be fetched again by digest).
            note_cache(hit=False)
            return await self._get_manifest(caller, repo, reference)
        digest = await self.resolve(caller, repo, reference)
        blob = self.content.get(digest) or await self._shared_blob(digest)
        note_cache(hit=blob is not None and bool(blob.media_type))
        if blob is not None and blob.media_type:

            async def head() -> object:
                return await self._once(
                    ("head", caller.key, repo, digest),
                    lambda: self.client.head_manifest(caller, repo, digest),
                )

            if await self._member(repo, digest):
                await self.ensure_access(caller, repo, proof=head)
                return Manifest(blob.digest, blob.media_type, blob.body)
            # Cached for another repository: one HEAD proves it is here and readable.
            stamp = None if self.shared is None else await self.shared.stamp(repo)
            await head()
            self.membership.put((repo, digest), True)
            await self._confirm(caller, repo)
            if self.shared is not None:
                await self.shared.put_member(repo, [digest], stamp)
            return Manifest(blob.digest, blob.media_type, blob.body)
        return await self._get_manifest(caller, repo, digest)

    async def config(self, caller: Caller, repo: str, digest: str) -> bytes:
        """A config blob (small, read whole), verified and cached by digest."""
        blob = self.content.get(digest) or await self._shared_blob(digest)
        here = blob is not None and await self._member(repo, digest)
        note_cache(hit=here)
        if blob is not None and here:
            await self.ensure_access(
                caller, repo, proof=lambda: self.client.head_blob(caller, repo, digest)
            )
            return blob.body

        async def fetch() -> bytes:
            stamp = None if self.shared is None else await self.shared.stamp(repo)

            async def share(found: bytes) -> None:
                if self.shared is not None:
                    await self.shared.put_access(caller, repo)
                    await self._share(repo, Blob(digest, "", found), stamp)

            body = await self._coalesced(
                caller,
                ("blob", repo, digest),
                self._shared_config(caller, repo, digest),
                lambda c: self.client.blob(c, repo, digest, self.max_config_bytes),
                share,
            )
            self._remember(repo, Blob(digest, "", body))
            self.access.put((_stored_key(caller), repo), True)
            return body

        return await self._once(("blob", caller.key, repo, digest), fetch)

    # -- referrers ------------------------------------------------------------------------

    @property
    def referrers_api(self) -> bool | None:
        """Whether the registry has a referrers API; None while that is unknown."""
        learnt = self._referrers_api
        if learnt is None or time.monotonic() - learnt[1] > REFERRERS_API_RECHECK:
            return None
        return learnt[0]

    @referrers_api.setter
    def referrers_api(self, verdict: bool) -> None:
        self._referrers_api = (verdict, time.monotonic())

    async def referrers_index(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer | None:
        """The registry's referrers API answer for ``digest``, or None when the registry
        has no referrers API. While that is unknown, one request at a time asks (the
        others wait for its verdict), so a page of many rows learns it once."""
        if self.referrers_api is None:
            if self._learning is None:
                self._learning = asyncio.Lock()
            async with self._learning:
                if self.referrers_api is None:
                    return await self._ask_referrers(caller, repo, digest, artifact_type)
        if not self.referrers_api:
            return None
        return await self._ask_referrers(caller, repo, digest, artifact_type)

    async def _ask_referrers(
        self, caller: Caller, repo: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer | None:
        async def fetch() -> ReferrersAnswer | None:
            try:
                answer = await self.client.referrers_index(caller, repo, digest, artifact_type)
            except NotFound:
                # Asked only for a digest the registry just served: a 404 is the route's.
                self.referrers_api = False
                return None
            self.referrers_api = True
            return answer

        return await self._once(("referrers", caller.key, repo, digest, artifact_type), fetch)

    def cached_referrers(
        self, caller: Caller, repo: str, digest: str, artifact_type: str, *, peek: bool = False
    ) -> object:
        """What ``referrers_once`` kept for this caller, or None; ``peek`` (the warm path)
        notes only a hit, as ``peek_tags`` does."""
        found = self.referrers.get((_stored_key(caller), repo, digest, artifact_type))
        if found is not None or not peek:
            note_cache(hit=found is not None)
        return found

    async def referrers_once(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        artifact_type: str,
        find: Callable[[], Awaitable[T]],
    ) -> T:
        """``find()`` run once for concurrent askers, its result kept for this caller
        unless the repository's caches were dropped meanwhile."""
        key = (_stored_key(caller), repo, digest, artifact_type)

        async def fetch() -> T:
            generation = self.referrers.generation
            found = await find()
            self.referrers.put(key, found, generation)
            return found

        return await self._once(("referrers-of", *key), fetch)

    # -- the tag index of large repositories (shared per repository, gated per caller) --

    async def tag_index_view(self, caller: Caller, repo: str) -> RepoIndex:
        """The tag index of ``repo`` (made empty if there is none), once this caller's
        access to it is confirmed. Read it only for the tags of this caller's list."""
        await self.ensure_access(caller, repo)
        return self.tag_index.of(repo)

    def known_digest(self, index: RepoIndex, tag: str) -> str:
        """What is known of ``tag``'s digest without asking the registry: the index, or
        else the tag→digest cache (then kept in the index); ``UNKNOWN`` or ``GONE``
        (deleted since the list was read) otherwise."""
        digest = index.digest(tag)
        if digest == UNKNOWN:
            cached = self.tag_digests.get((index.repo, tag))
            if cached is not None:
                index.note(tag, cached)
                return cached
        return digest

    # -- invalidation -----------------------------------------------------------------------

    def forget_repository(self, repo: str, *, new_repo_possible: bool = True) -> None:
        """Drop every list and pointer of ``repo`` (all callers). Content stays: it is
        immutable and only reachable through membership, which is dropped too."""
        self.forget_repositories([repo], new_repo_possible=new_repo_possible)

    def forget_repositories(
        self, repos: Collection[str], *, new_repo_possible: bool = True, publish: bool = True
    ) -> None:
        """``forget_repository`` for many at once, in O(repositories + entries dropped)
        (through the stores' indexes by repository) plus one pass over the cached
        catalogs (one per caller) when ``new_repo_possible``: a catalog that lacks one
        of them is dropped, since the repository may be new."""
        if not repos:
            return
        self.tag_lists.drop_groups("repo", repos)
        self.tag_digests.drop_groups("repo", repos)
        self.membership.drop_groups("repo", repos)
        self.referrers.drop_groups("repo", repos)
        self.tag_index.forget(repos)  # and stops their fills
        for hook in self.on_forget:
            hook(repos)
        if new_repo_possible:
            self.forget_catalogs_lacking(repos, publish=False)
        if self.shared is not None and publish:
            self.shared.invalidate(repos, catalogs=new_repo_possible)

    def forget_catalogs_lacking(self, repos: Collection[str], *, publish: bool = True) -> None:
        """Drop each cached catalog that lacks one of ``repos`` (it may be new): each
        distinct (shared) catalog is checked once, however many callers hold it."""
        if not repos:
            return
        if self.shared is not None and publish:
            self.shared.invalidate(repos, lists=False, catalogs=True)
        wanted = sorted(set(repos))
        # By id: every value stays alive during the pass (drop_where lists them first).
        verdicts: dict[int, bool] = {}

        def lacking(_key: tuple[str], names: Sequence[str]) -> bool:
            verdict = verdicts.get(id(names))
            if verdict is None:
                verdict = verdicts[id(names)] = not _lists_all(names, wanted)
            return verdict

        self.catalogs.drop_where(lacking)

    def forget_caller(self, caller: Caller | str, *, publish: bool = True) -> None:
        """Drop what is cached for a caller (a logout); ``caller`` or its key."""
        caller_key = caller if isinstance(caller, str) else caller.key
        if self.shared is not None and publish and not isinstance(caller, str):
            self.shared.invalidate((), lists=False, caller=caller)
        self.catalogs.drop_where(lambda k, _v: k[0] == caller_key)
        self.tag_lists.drop_groups("caller", (caller_key,))
        self.access.drop_groups("caller", (caller_key,))
        self.referrers.drop_groups("caller", (caller_key,))
        self.tag_index.forget_caller(caller_key)  # fills reading with their credentials
        self.client.tokens.drop_caller(caller_key)
        for hook in self.on_forget_caller:
            hook(caller_key)

    def apply_remote(self, invalidation: Invalidation) -> None:
        """Another replica's invalidation: drop the in-process copies (not published)."""
        if invalidation.lists and invalidation.repos:
            self.forget_repositories(invalidation.repos, new_repo_possible=False, publish=False)
        if invalidation.catalogs:
            self.forget_catalogs_lacking(invalidation.repos, publish=False)
        if invalidation.caller is not None and self.shared is not None:
            local = self.shared.local_key(invalidation.caller)
            if local is not None:
                self.forget_caller(local, publish=False)

    def forget_all_lists(self) -> None:
        """Drop every list, pointer and membership held in process (not content, which
        is immutable, nor access): after invalidations may have been missed."""
        self.catalogs.clear()
        self.tag_lists.clear()
        self.tag_digests.clear()
        self.membership.clear()
        self.referrers.clear()
        self.tag_index.forget_all()
        for hook in self.on_forget_all:
            hook()

    def not_found(self, repo: str) -> NameUnknown:
        return NameUnknown("repository not found", detail={"repository": repo})


def _stored_key(caller: Caller) -> str:
    """The caller's key as stored in long-lived cache keys: one string per caller
    (interned), not one per entry (a caller's tag lists and access confirmations are
    one entry per repository)."""
    return sys.intern(caller.key)


def _first(key: tuple[str, ...]) -> str:
    return key[0]


def _second(key: tuple[str, ...]) -> str:
    return key[1]


def _lists_all(names: Sequence[str], wanted: list[str]) -> bool:
    """Whether the sorted, duplicate-free ``names`` (a cached catalog) holds every one
    of the sorted, duplicate-free ``wanted``: at most len(wanted) bisections, each
    starting where the last one matched; none when there are more wanted than names."""
    if len(wanted) > len(names):
        return False
    i = 0
    for repo in wanted:
        i = bisect.bisect_left(names, repo, i)
        if i == len(names) or names[i] != repo:
            return False
        i += 1
    return True
