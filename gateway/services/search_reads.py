"""What the search index lacks, read through the cached registry view and handed to it.

The index (``gateway.search``) reads nothing itself; this module is its only reader. Each
read goes through ``CachedRegistry`` with one caller's credentials (the service
account's, or the caller whose search walks), so it reuses whatever the view's caches
hold (content by digest in process, in Redis, on disk) and is refused whatever the
registry refuses that caller. Documents are read **by digest**, never by tag: a push
notification arrives before its tag is readable, and a digest names immutable bytes.

- ``tag_list``: a repository's tags and their digests (the view's resolve: the tag
  digest cache, a read otherwise; a re-walk reads both afresh, a HEAD per tag)
  → ``SearchIndex.set_tags``.
- ``documents``: a manifest or index by digest, and an image manifest's config →
  ``add_documents``.
- ``sboms``: an image's SBOMs — its referrers (the registry's referrers API, the
  ``sha256-<hex>`` fallback index, cosign's tags, through ``ReferrerService``; plus a
  fallback index a notification named before its tag was readable) and the BuildKit
  attestation manifests the index named — each chosen layer read as a blob by digest
  (bounded like a config: ``LR_MAX_CONFIG_BYTES``) → ``set_sboms``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Collection

from gateway.errors import GatewayError, NameUnknown, NotFound
from gateway.models import media_types as mt
from gateway.models import oci
from gateway.registry.credentials import Caller
from gateway.search import DocumentRefused, Sbom, SearchIndex, Wanted
from gateway.search.documents import sbom_layers
from gateway.services.referrers import ReferrerService
from gateway.view import CachedRegistry

log = logging.getLogger(__name__)

BATCH = 50  # what is asked of the index at a time
MAX_HINTS = 10_000  # fallback indexes named by notifications, kept until read


class SearchReads:
    def __init__(
        self,
        registry: CachedRegistry,
        referrers: ReferrerService,
        index: SearchIndex,
        concurrency: int = 1,
    ) -> None:
        self.registry = registry
        self.referrers = referrers
        self.index = index
        self.concurrency = max(1, concurrency)
        self._gate: asyncio.Semaphore | None = None
        # (repository, subject) -> the fallback index a notification named: its tag may
        # not be readable yet, its digest is.
        self.hints: OrderedDict[tuple[str, str], str] = OrderedDict()

    def gate(self) -> asyncio.Semaphore:
        """Every read of the walks and of the notifications' reads together: at most
        ``concurrency`` at once (a quarter of the upstream slots)."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        return self._gate

    def hint(self, repo: str, subject: str, fallback: str) -> None:
        self.hints[(repo, subject)] = fallback
        self.hints.move_to_end((repo, subject))
        while len(self.hints) > MAX_HINTS:
            self.hints.popitem(last=False)

    async def tag_list(self, caller: Caller, repo: str, *, afresh: bool = False) -> bool:
        """Read ``repo``'s tags and their digests and apply them; True when anything
        in the index changed. ``afresh`` (a re-walk): the list and every pointer as the
        registry answers now, not the view's cached ones, which may predate a change no
        notification told (a cached list is kept ``LR_CACHE_TTL``, then served stale for
        ``LR_STALE_TTL`` more)."""
        as_of = self.index.clock()
        list_tags = self.registry.tags_afresh if afresh else self.registry.tags
        pointer = self.registry.resolve_afresh if afresh else self.registry.resolve
        try:
            async with self.gate():
                tags = list(await list_tags(caller, repo))
        except NameUnknown:
            tags = []  # listed but never tagged (or every tag deleted)

        async def resolve(tag: str) -> str | None:
            try:
                async with self.gate():
                    return await pointer(caller, repo, tag)
            except NotFound:
                return None  # deleted since the list was read

        digests = await asyncio.gather(*(resolve(t) for t in tags))
        pointers = {t: d for t, d in zip(tags, digests, strict=True) if d is not None}
        applied = await self.index.set_tags(repo, pointers, as_of)
        return not applied.unchanged

    async def documents(self, caller: Caller, repo: str, digest: str) -> bool:
        """Read ``digest``'s manifest (and its config) from ``repo``; False when the
        registry no longer has it there or it is not a manifest."""
        try:
            manifest = await self.registry.manifest(caller, repo, digest)
        except NotFound:
            return False
        config = None
        if mt.base(manifest.media_type) in mt.IMAGE_MANIFEST_TYPES:
            try:
                described = oci.parse_image_manifest(manifest.body).config
            except (ValueError, GatewayError):
                described = None
            if described is not None and described.media_type in mt.IMAGE_CONFIG_TYPES:
                try:
                    config = await self.registry.config(caller, repo, described.digest)
                except NotFound:
                    config = None
        try:
            await self.index.add_documents(digest, manifest.body, manifest.media_type, config)
        except DocumentRefused:
            return False
        return True

    async def subject_of(self, caller: Caller, repo: str, digest: str) -> str | None:
        """The subject a manifest pushed by digest refers to (an OCI 1.1 referrer)."""
        try:
            manifest = await self.registry.manifest(caller, repo, digest)
        except NotFound:
            return None
        if mt.base(manifest.media_type) not in mt.MANIFEST_TYPES:
            return None
        try:
            parsed = oci.parse_image_manifest(manifest.body)
        except (ValueError, GatewayError):
            return None
        return parsed.subject.digest if parsed.subject is not None else None

    async def sboms(self, caller: Caller, wanted: Wanted) -> int:
        """Every SBOM about ``wanted.digest`` in its repository, applied; the packages."""
        repo, subject = wanted.repository, wanted.digest
        sources: list[str] = []
        try:
            found = await self.referrers.lookup(caller, repo, subject)
            sources += [r.digest for r in found.referrers if r.media_type in mt.MANIFEST_TYPES]
            fallback = found.fallback
        except NotFound:
            fallback = None
        hinted = self.hints.pop((repo, subject), None)
        if hinted is not None and hinted != fallback:
            sources += await self._listed(caller, repo, hinted)
        sources += wanted.attestations
        found_sboms: list[Sbom] = []
        for source in dict.fromkeys(sources):
            found_sboms += await self._sbom_blobs(caller, repo, source)
        return await self.index.set_sboms(repo, subject, found_sboms)

    async def _listed(self, caller: Caller, repo: str, index_digest: str) -> list[str]:
        try:
            manifest = await self.registry.manifest(caller, repo, index_digest)
        except NotFound:
            return []
        if manifest.media_type not in mt.INDEX_TYPES:
            return []
        return [d.digest for d in self.registry.index(manifest).manifests]

    async def _sbom_blobs(self, caller: Caller, repo: str, source: str) -> list[Sbom]:
        try:
            manifest = await self.registry.manifest(caller, repo, source)
        except NotFound:
            return []
        if mt.base(manifest.media_type) not in mt.IMAGE_MANIFEST_TYPES:
            return []
        try:
            layers = sbom_layers(oci.parse_image_manifest(manifest.body))
        except (ValueError, GatewayError):
            return []
        out: list[Sbom] = []
        for layer in layers:
            try:
                out.append(Sbom(source, await self.registry.config(caller, repo, layer.digest)))
            except NotFound:
                continue
            except GatewayError as exc:
                if exc.status >= 500:
                    raise
                log.info("an SBOM layer was not read: %s", exc.code)
        return out

    async def missing(
        self, caller: Caller, repos: Collection[str] | None, older_than: float | None = None
    ) -> int:
        """Read what the index lacks in ``repos`` (None: everywhere): documents, then
        SBOMs (looked for again when looked for before ``older_than``). Returns how many
        units were read; stops at what cannot be read (left for the next pass)."""
        done = 0
        failed: set[tuple[str, str]] = set()
        while True:
            wanted = [
                w
                for w in await self.index.missing_documents(repos, limit=BATCH + len(failed))
                if (w.repository, w.digest) not in failed
            ]
            if not wanted:
                break
            for w in wanted:
                async with self.gate():
                    read = await self.documents(caller, w.repository, w.digest)
                if not read:
                    failed.add((w.repository, w.digest))
                done += 1
        seen: set[tuple[str, str]] = set()
        while True:
            batch = [
                w
                for w in await self.index.missing_sboms(
                    repos, limit=BATCH + len(seen), older_than=older_than
                )
                if (w.repository, w.digest) not in seen
            ]
            if not batch:
                break
            for w in batch:
                seen.add((w.repository, w.digest))
                async with self.gate():
                    await self.sboms(caller, w)
                done += 1
        return done
