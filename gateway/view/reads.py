"""Reads through the view: lists per caller, content by digest, gated per caller.

- Catalogs and tag lists are cached per caller: the entry records that the registry
  answered that list to that caller. The list itself is one immutable copy per content
  (``SharedList``): callers filter or sort into a list of their own.
- Manifests and configs are cached by digest, verified, and served for a repository
  through the gate (``gateway.view.access``).
- The tag index of a large repository (tag → digest, digest → created, filled in the
  background) is per repository and shared, handed to a caller only after that
  caller's access was confirmed (``tag_index_view``), and only ever read for the tags
  of the list the registry answered that caller.

Every read looks in process first (``peek_*`` stop there: the warm path, no I/O), then
in Redis, then asks the registry once for all concurrent askers (``Store.once``,
``Store.across``); what it fetched is put on both levels under what the miss saw, so a
change meanwhile is never overwritten with what was read before it.
"""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable, Sequence

from gateway.cache import Blob
from gateway.errors import Forbidden, GatewayError, NameUnknown, NotFound, Unauthorized
from gateway.models import media_types as mt
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.metrics import note_cache, note_stale
from gateway.registry.names import is_digest
from gateway.registry.protocol import Manifest
from gateway.view.access import Gate
from gateway.view.caches import ViewCaches, stored_key
from gateway.view.documents import Documents
from gateway.view.refresh import Refresher
from gateway.view.tag_index import UNKNOWN, RepoIndex


class Reads(Documents):
    def __init__(
        self,
        client: RegistryClient,
        caches: ViewCaches,
        max_config_bytes: int,
        refresher: Refresher | None = None,
    ) -> None:
        super().__init__(caches.models)
        self.client = client
        self.caches = caches
        self.max_config_bytes = max_config_bytes
        # Stale-while-revalidate (LR_STALE_TTL): None serves nothing stale.
        self.refresher = refresher
        self.gate = Gate(caches, self.tags, self._refresh_tags if refresher is not None else None)
        self.lists = caches.lists
        self.tag_index = caches.tag_index
        self._store = caches.store
        self._content = caches.content
        self._catalogs = caches.catalogs
        self._tag_lists = caches.tag_lists
        self._tag_digests = caches.tag_digests
        self._membership = caches.membership

    # -- lists (per caller, content shared) ---------------------------------------------

    async def catalog(self, caller: Caller) -> Sequence[str]:
        cached = self._catalogs.peek((caller.key,))
        if cached is None:
            cached = self._stale_catalog(caller)
        note_cache(hit=cached is not None)
        if cached is not None:
            return cached
        return await self._store.once(("catalog", caller.key), lambda: self._load_catalog(caller))

    async def _load_catalog(self, caller: Caller) -> Sequence[str]:
        key = (stored_key(caller.key),)
        seen = await self._catalogs.get(key, caller, local=False)
        if seen.value is not None:
            return seen.value

        async def fetch() -> Sequence[str]:
            names = self.lists.intern(await self.client.catalog(caller))
            await self._catalogs.put(key, names, caller, stamp=seen.stamp, local=False)
            return names

        names = await self._store.across(
            caller, ("catalog",), lambda: self._catalogs.shared_value(key, caller), fetch
        )
        self._catalogs.local.put(key, names, seen.generation)
        return names

    def _stale_catalog(self, caller: Caller) -> Sequence[str] | None:
        key = (caller.key,)
        names = self._catalogs.peek_stale(key) if self.refresher is not None else None
        if names is not None:
            flight = ("catalog", caller.key)
            self._refresh(
                flight,
                lambda: self._store.once(flight, lambda: self._load_catalog(caller)),
                refused=lambda: self._catalogs.local.discard(key),
            )
        return names

    async def tags(self, caller: Caller, repo: str) -> Sequence[str]:
        cached = self._tag_lists.peek((caller.key, repo))
        if cached is None:
            cached = self._stale_tags(caller, repo)
        note_cache(hit=cached is not None)
        if cached is not None:
            return cached
        return await self._store.once(
            ("tags", caller.key, repo), lambda: self._load_tags(caller, repo)
        )

    async def _load_tags(self, caller: Caller, repo: str) -> Sequence[str]:
        key = (stored_key(caller.key), repo)
        seen = await self._tag_lists.get(key, caller, local=False)
        if seen.value is None:  # not even in Redis: the registry is asked

            async def fetch() -> Sequence[str]:
                tags = self.lists.intern(await self.client.tags(caller, repo))
                await self.gate.access.put(key, True, caller, local=False)
                await self._tag_lists.put(key, tags, caller, stamp=seen.stamp, local=False)
                return tags

            tags = await self._store.across(
                caller,
                ("tags", repo),
                lambda: self._tag_lists.shared_value(key, caller),
                fetch,
            )
            self._tag_lists.local.put(key, tags, seen.generation)
        else:  # the registry answered this list to this caller (another replica)
            tags = seen.value
        self.gate.note(caller, repo)
        return tags

    def _stale_tags(self, caller: Caller, repo: str) -> Sequence[str] | None:
        tags = (
            self._tag_lists.peek_stale((caller.key, repo)) if self.refresher is not None else None
        )
        if tags is not None:
            self._refresh_tags(caller, repo)
        return tags

    def _refresh_tags(self, caller: Caller, repo: str) -> None:
        """The caller's tag list read again in the background (it confirms the caller's
        access too); a refusal drops the list and the access served stale."""

        def refused() -> None:
            self._tag_lists.local.discard((caller.key, repo))
            self.gate.access.local.discard((caller.key, repo))

        flight = ("tags", caller.key, repo)
        self._refresh(
            flight, lambda: self._store.once(flight, lambda: self._load_tags(caller, repo)), refused
        )

    def _refresh(
        self,
        flight: tuple[str, ...],
        load: Callable[[], Awaitable[object]],
        refused: Callable[[], None],
    ) -> None:
        """``load`` (coalesced with the same load in a request's path: ``Store.once``) in
        the background, once per ``flight`` at a time; ``refused`` when the registry
        refuses it (401, 403, 404): what was served stale on its word goes."""

        async def work() -> None:
            try:
                await load()
            except (Unauthorized, Forbidden, NotFound):
                refused()
                raise

        assert self.refresher is not None
        note_stale()
        self.refresher.start(flight, work)

    def peek_tags(self, caller: Caller, repo: str) -> Sequence[str] | None:
        """The tag list cached for this caller, or None: no I/O, no task (the warm path
        of a page that needs many of them). The list is the registry's answer to this
        very caller: it is its own proof of access. Past its time, within
        ``LR_STALE_TTL``, it is answered still and read again in the background."""
        cached = self._tag_lists.peek((caller.key, repo))
        if cached is None:
            cached = self._stale_tags(caller, repo)
        if cached is not None:
            note_cache(hit=True)
        return cached

    def in_cached_catalog(self, caller: Caller, repo: str) -> bool:
        """Whether the catalog cached for this caller lists ``repo`` (False if none is)."""
        names = self._catalogs.peek((caller.key,))
        if not names:
            return False
        i = bisect.bisect_left(names, repo)
        return i < len(names) and names[i] == repo

    async def ensure_access(
        self, caller: Caller, repo: str, proof: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        """Raise (401/403/404) unless the registry lets this caller read this repository
        (``Gate.admit``)."""
        await self.gate.admit(caller, repo, proof)

    # -- tags to digests ------------------------------------------------------------------

    def peek_tag_digest(self, caller: Caller, repo: str, tag: str) -> str | None:
        """What ``resolve`` answers for a tag when it needs no I/O: the cached digest,
        for a caller the gate lets see the repository; else None."""
        digest = self._pointer(caller, repo, tag)
        if digest is None or not self.gate.sees(caller, repo):
            return None
        note_cache(hit=True)
        return digest

    def _pointer(self, caller: Caller, repo: str, tag: str) -> str | None:
        """The cached digest of ``tag``; past its time (within ``LR_STALE_TTL``) for a
        caller the gate lets see the repository, with the tag resolved again in the
        background."""
        digest = self._tag_digests.peek((repo, tag))
        if digest is not None or self.refresher is None:
            return digest
        digest = self._tag_digests.peek_stale((repo, tag))
        if digest is not None and self.gate.sees(caller, repo):
            flight = ("manifest", caller.key, repo, tag)
            self._refresh(
                flight,
                lambda: self._get_manifest(caller, repo, tag),
                refused=lambda: self._tag_digests.local.discard((repo, tag)),
            )
            return digest
        return None

    def peek_digest(self, caller: Caller, repo: str, reference: str) -> str | None:
        """The digest ``reference`` names here, when everything serving its manifest to
        this caller needs is already known — the tag's digest, the gate's leave (access
        and membership), the verified bytes — else None (then ``manifest`` decides, with
        I/O). Never a looser rule than it."""
        digest = reference if is_digest(reference) else self._pointer(caller, repo, reference)
        if digest is None or not self.gate.sees(caller, repo, digest):
            return None
        blob = self._content.peek(digest)
        if blob is None or not blob.media_type:
            return None
        note_cache(hit=True)
        return digest

    def peek_config(self, caller: Caller, repo: str, digest: str) -> Blob | None:
        """A config (a blob held verified, without a manifest's media type) of ``repo``
        for a caller the gate lets see it there; else None. No I/O."""
        if not self.gate.sees(caller, repo, digest):
            return None
        blob = self._content.peek(digest)
        if blob is None or blob.media_type:
            return None
        note_cache(hit=True)
        return blob

    async def _tag_digest(self, caller: Caller, repo: str, tag: str) -> str | None:
        """A tag's cached digest (in process, then Redis, then kept in process; past its
        time as ``_pointer`` allows)."""
        found = (await self._tag_digests.get((repo, tag))).value
        return found if found is not None else self._pointer(caller, repo, tag)

    async def resolve(self, caller: Caller, repo: str, reference: str) -> str:
        """The digest a tag points at (or the digest itself), for this caller."""
        if is_digest(reference):
            return reference
        cached = await self._tag_digest(caller, repo, reference)
        note_cache(hit=cached is not None)
        if cached is not None:
            await self.gate.admit(caller, repo)
            return cached
        manifest = await self._get_manifest(caller, repo, reference)
        return manifest.digest

    # -- content (shared by digest, gated per caller) -------------------------------------

    def _remember(self, repo: str, blob: Blob) -> None:
        self._content.keep(blob)
        self._membership.local.put((repo, blob.digest), True)

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
        self._membership.local.put((repo, config), True)
        return config

    async def _share(self, caller: Caller, repo: str, blob: Blob, stamp: bytes | None) -> None:
        """What was just fetched upstream for ``repo``, into Redis (for the replicas
        waiting on ``across``): the access, the verified bytes, their membership."""
        if self.caches.shared is None:
            return
        await self.gate.access.put((stored_key(caller.key), repo), True, caller, local=False)
        await self._content.share(blob)
        config = self._remember_references(repo, Manifest(blob.digest, blob.media_type, blob.body))
        for digest in (blob.digest, *([config] if config else [])):
            await self._membership.put((repo, digest), True, stamp=stamp, local=False)

    async def _get_manifest(self, caller: Caller, repo: str, reference: str) -> Manifest:
        async def load() -> Manifest:
            # Another asker's flight may have ended while this one was on its way here
            # (it awaited the disk, or Redis, after its miss): what that flight kept is
            # used (a tag's pointer as well as the manifest).
            digest = (
                reference if is_digest(reference) else self._tag_digests.peek((repo, reference))
            )
            kept = None if digest is None else self._content.peek(digest)
            if kept is not None and kept.media_type and self.gate.sees(caller, repo, kept.digest):
                return Manifest(kept.digest, kept.media_type, kept.body)
            generation = self._tag_digests.local.generation
            stamp = await self._store.stamp(repo)

            async def fetch() -> Manifest:
                found = await self.client.manifest(caller, repo, reference)
                await self._share(caller, repo, Blob(*_parts(found)), stamp)
                if not is_digest(reference):
                    pointer = (repo, reference)
                    await self._tag_digests.put(pointer, found.digest, stamp=stamp, local=False)
                return found

            manifest = await self._store.across(
                caller,
                ("manifest", repo, reference),
                lambda: self._shared_manifest(caller, repo, reference),
                fetch,
            )
            self._remember(repo, Blob(*_parts(manifest)))
            self._remember_references(repo, manifest)
            self.gate.note(caller, repo)
            if not is_digest(reference) and generation == self._tag_digests.local.generation:
                self._tag_digests.local.put((repo, reference), manifest.digest, generation)
                self.tag_index.note(repo, reference, manifest.digest)
            return manifest

        return await self._store.once(("manifest", caller.key, repo, reference), load)

    async def _shared_manifest(self, caller: Caller, repo: str, reference: str) -> Manifest | None:
        """A manifest another replica fetched for this caller: its access confirmed,
        the digest a member of the repository, the bytes verified again."""
        if self.caches.shared is None:
            return None
        digest = reference
        if not is_digest(reference):
            digest = await self._tag_digests.shared_value((repo, reference)) or ""
        if not digest or not await self._may_read_shared(caller, repo, digest):
            return None
        blob = await self._content.shared_value(digest)
        if blob is None or not blob.media_type:
            return None
        return Manifest(blob.digest, blob.media_type, blob.body)

    async def _may_read_shared(self, caller: Caller, repo: str, digest: str) -> bool:
        """The gate's rule, on what Redis holds (another replica's fetch)."""
        if not await self.gate.access.shared_value((caller.key, repo), caller):
            return False
        return bool(await self._membership.shared_value((repo, digest)))

    async def manifest(self, caller: Caller, repo: str, reference: str) -> Manifest:
        """A manifest by tag or digest, verified, from the cache when this caller may."""
        if not is_digest(reference) and await self._tag_digest(caller, repo, reference) is None:
            # Resolving the tag fetches the manifest: that answer is the one to return
            # (with the content cache off or full it would be fetched again by digest).
            note_cache(hit=False)
            return await self._get_manifest(caller, repo, reference)
        digest = await self.resolve(caller, repo, reference)
        blob = await self._content.get(digest)
        note_cache(hit=blob is not None and bool(blob.media_type))
        if blob is None or not blob.media_type:
            return await self._get_manifest(caller, repo, digest)

        async def head() -> object:
            return await self._store.once(
                ("head", caller.key, repo, digest),
                lambda: self.client.head_manifest(caller, repo, digest),
            )

        if await self.gate.admit_content(caller, repo, digest, proof=head):
            return Manifest(blob.digest, blob.media_type, blob.body)
        # Cached for another repository: one HEAD proves it is here and readable.
        stamp = await self._store.stamp(repo)
        await head()
        self._membership.local.put((repo, digest), True)
        await self.gate.confirm(caller, repo)
        await self._membership.put((repo, digest), True, stamp=stamp, local=False)
        return Manifest(blob.digest, blob.media_type, blob.body)

    async def manifest_afresh(self, caller: Caller, repo: str, reference: str) -> Manifest:
        """A manifest as the registry holds it now, asked with this caller's credentials
        and kept nowhere: for a read-modify-write of a tag that other clients write too
        (the referrers tag schema's index), where a cached answer may be a moment old."""
        return await self.client.manifest(caller, repo, reference)

    async def tags_afresh(self, caller: Caller, repo: str) -> Sequence[str]:
        """``repo``'s tag list as the registry answers this caller now, kept nowhere (the
        cached list, and one past its time served stale, may predate a change no
        notification told): for a walk whose whole point is to read the registry again
        (the search index's re-walk after ``LR_SEARCH_INDEX_TTL``)."""
        return await self.client.tags(caller, repo)

    async def resolve_afresh(self, caller: Caller, repo: str, tag: str) -> str:
        """The digest ``tag`` points at now (one HEAD with this caller's credentials),
        kept nowhere: ``tags_afresh``'s companion. 404 once the tag is gone."""
        return (await self.client.head_manifest(caller, repo, tag)).digest

    async def config(self, caller: Caller, repo: str, digest: str) -> bytes:
        """A config blob (small, read whole), verified and cached by digest."""
        blob = await self._content.get(digest)
        here = blob is not None and await self.gate.member(repo, digest)
        note_cache(hit=here)
        if blob is not None and here:
            await self.gate.admit(
                caller, repo, proof=lambda: self.client.head_blob(caller, repo, digest)
            )
            return blob.body

        async def load() -> bytes:
            kept = self._content.peek(digest)  # kept by a flight that ended meanwhile
            if kept is not None and self.gate.sees(caller, repo, digest):
                return kept.body
            stamp = await self._store.stamp(repo)

            async def fetch() -> bytes:
                body = await self.client.blob(caller, repo, digest, self.max_config_bytes)
                await self._share(caller, repo, Blob(digest, "", body), stamp)
                return body

            body = await self._store.across(
                caller,
                ("blob", repo, digest),
                lambda: self._shared_config(caller, repo, digest),
                fetch,
            )
            self._remember(repo, Blob(digest, "", body))
            self.gate.note(caller, repo)
            return body

        return await self._store.once(("blob", caller.key, repo, digest), load)

    async def _shared_config(self, caller: Caller, repo: str, digest: str) -> bytes | None:
        if self.caches.shared is None or not await self._may_read_shared(caller, repo, digest):
            return None
        blob = await self._content.shared_value(digest)
        return None if blob is None else blob.body

    # -- the tag index of large repositories (shared per repository, gated per caller) --

    async def tag_index_view(self, caller: Caller, repo: str) -> RepoIndex:
        """The tag index of ``repo`` (made empty if there is none), once this caller's
        access to it is confirmed. Read it only for the tags of this caller's list."""
        await self.gate.admit(caller, repo)
        return self.tag_index.of(repo)

    def known_digest(self, index: RepoIndex, tag: str) -> str:
        """What is known of ``tag``'s digest without asking the registry: the index, or
        else the tag→digest cache (then kept in the index); ``UNKNOWN`` or ``GONE``
        (deleted since the list was read) otherwise."""
        digest = index.digest(tag)
        if digest == UNKNOWN:
            cached = self._tag_digests.peek((index.repo, tag))
            if cached is not None:
                index.note(tag, cached)
                return cached
        return digest

    def not_found(self, repo: str) -> NameUnknown:
        return NameUnknown("repository not found", detail={"repository": repo})


def _parts(manifest: Manifest) -> tuple[str, str, bytes]:
    return manifest.digest, manifest.media_type, manifest.body
