"""The referrers tag schema's index, kept in the registry itself.

On a registry without the OCI 1.1 referrers API the referrers of a subject are listed
in an image index tagged ``<alg>-<encoded>`` (``models/artifact_tags.fallback_tag``):
the index oras, cosign and notation write and read there, so what the gateway writes
is what clients talking to the registry directly see too. Nothing of it lives only in
the gateway.

Updates are read-modify-write of one tag. Within a process they are serialised per
(repository, subject), so two referrers pushed at once for one subject both end up in
the index. Across replicas (or against clients writing the tag directly) the registry
offers no conditional PUT: after writing, the index is read again and the change made
again if another writer's PUT replaced it in between (a few rounds at most; a write
the registry refused as ``DIGEST_INVALID`` is tried again too: see ``_update``). That
closes the usual race of two pushes landing together; a writer whose PUT lands more
than a round trip after the other's check can still replace it (last writer wins, as
between two clients maintaining the tag themselves).

Every read is fresh (``manifest_afresh``, not the cached view: another client may have
written the tag a moment ago) and made with the caller's own credentials; every write
goes through the view (``CachedRegistry.writing``), which drops the repository's cached
lists and tag pointers and tells the subscribers what changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from gateway.errors import DigestInvalid, GatewayError, NotFound, ReferrersTagNotAnIndex
from gateway.models import media_types as mt
from gateway.models.artifact_tags import fallback_tag
from gateway.registry.credentials import Caller
from gateway.view import CachedRegistry

log = logging.getLogger(__name__)

ROUNDS = 3  # a write checked and redone at most this often

Descriptor = dict[str, Any]


def empty_index() -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}


def index_body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


class _Locks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def held(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class ReferrersIndex:
    def __init__(self, registry: CachedRegistry) -> None:
        self.registry = registry
        self.locks = _Locks()

    async def read(self, caller: Caller, repo: str, subject: str) -> dict[str, Any] | None:
        """The subject's index as stored (None when the tag does not exist). Raises
        ``ReferrersTagNotAnIndex`` when the tag holds something else."""
        try:
            manifest = await self.registry.manifest_afresh(caller, repo, fallback_tag(subject))
        except NotFound:
            return None
        if manifest.media_type != mt.OCI_INDEX:
            raise ReferrersTagNotAnIndex("the referrers tag does not hold an image index")
        doc = json.loads(manifest.body)  # a verified manifest: JSON, an object
        manifests = doc.get("manifests")
        if manifests is None:
            doc["manifests"] = []
        elif not isinstance(manifests, list):
            raise ReferrersTagNotAnIndex("the referrers tag holds a malformed image index")
        return dict(doc)

    async def entries(self, caller: Caller, repo: str, subject: str) -> list[Descriptor]:
        """The descriptors listed for ``subject`` (none without an index)."""
        doc = await self.read(caller, repo, subject)
        if doc is None:
            return []
        return [d for d in doc["manifests"] if isinstance(d, dict)]

    async def add(self, caller: Caller, repo: str, subject: str, descriptor: Descriptor) -> None:
        """List ``descriptor`` in the subject's index (once: an entry of that digest is
        replaced), creating the index when there is none."""
        digest = descriptor["digest"]

        def change(entries: list[Any]) -> list[Any] | None:
            kept = [e for e in entries if not _is(e, digest)]
            return [*kept, descriptor] if kept + [descriptor] != entries else None

        await self._update(caller, repo, subject, change, lambda e: any(_is(d, digest) for d in e))

    async def remove(self, caller: Caller, repo: str, subject: str, digest: str) -> bool:
        """Take ``digest`` out of the subject's index (the index deleted when nothing is
        left in it). False when it was not listed."""

        def change(entries: list[Any]) -> list[Any] | None:
            kept = [e for e in entries if not _is(e, digest)]
            return kept if len(kept) != len(entries) else None

        return await self._update(
            caller, repo, subject, change, lambda e: not any(_is(d, digest) for d in e)
        )

    async def _update(
        self,
        caller: Caller,
        repo: str,
        subject: str,
        change: Callable[[list[Any]], list[Any] | None],
        done: Callable[[list[Any]], bool],
    ) -> bool:
        """Read, ``change`` the entries (None: nothing to do), write; then read again
        and redo it if another writer replaced the index meanwhile."""
        changed = False
        refused: DigestInvalid | None = None
        async with self.locks.held((repo, subject)):
            for _ in range(ROUNDS):
                doc = await self.read(caller, repo, subject) or empty_index()
                entries = change(list(doc["manifests"]))
                if entries is None:
                    return changed
                try:
                    await self._write(caller, repo, subject, doc, entries)
                except DigestInvalid as exc:
                    # Written by tag, so no digest of ours was checked: distribution
                    # 3.0.0 writes its link files in place (truncated, then written),
                    # and an index checked while one of its children's links is being
                    # written again (that child pushed once more) reads it empty. Read
                    # and write again; the registry's answer if every round gets it.
                    refused = exc
                    continue
                refused = None
                changed = True
                check = await self.read(caller, repo, subject)
                if done(check["manifests"] if check is not None else []):
                    return True
        if refused is not None:
            raise refused
        log.warning("referrers: the index of %s@%s kept changing under this update", repo, subject)
        return changed

    async def _write(
        self, caller: Caller, repo: str, subject: str, doc: dict[str, Any], entries: list[Any]
    ) -> None:
        tag = fallback_tag(subject)
        # The repository exists: the referrer was just pushed to it, or deleted from it.
        async with self.registry.writing(caller, repo) as batch:
            if entries:
                doc["manifests"] = entries
                doc.setdefault("schemaVersion", 2)
                doc.setdefault("mediaType", mt.OCI_INDEX)
                body = index_body(doc)
                await batch.put_manifest(tag, body, mt.OCI_INDEX, new_repository=False)
            else:
                # the last referrer gone: the index goes too (by its digest, which on
                # distribution also removes the tag; a tag delete alone is not on 2.8)
                current = await self.registry.manifest_afresh(caller, repo, tag)
                await batch.delete_manifest(current.digest)


def _is(entry: object, digest: str) -> bool:
    return isinstance(entry, dict) and entry.get("digest") == digest


async def quietly(what: str, step: Any) -> bool:
    """Run an index update whose failure must not fail the request it follows (the
    registry already answered that one); False when it failed, logged."""
    try:
        await step
    except GatewayError as exc:
        log.warning("referrers: %s: %s (%s)", what, exc.message, exc.code)
        return False
    return True
