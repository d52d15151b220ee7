"""``SearchIndex``: the registry-wide search index of one replica, on disk.

The one object the rest of the gateway holds: it owns the SQLite file
(``LR_DATA_DIR/search.sqlite3``, through ``gateway.datastore``), takes the units the
walker and notifications feed, answers the walker's questions and answers searches.
Every database call runs on the database's own thread; parsing (documents, SBOMs, which
can be megabytes) runs in a worker thread first, so neither blocks the event loop and a
search never waits behind a parse.

It reads nothing from the registry and knows nothing of callers: whoever feeds it has
read (and verified) what it gives, and whoever asks names the repositories the caller
may pull (``Visible``). Times are wall-clock seconds (``clock``), as the walker's
``as_of`` (when it began reading a list) must be comparable with the times events are
applied at.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from gateway.datastore import Database
from gateway.registry.names import is_digest, is_name, is_tag
from gateway.settings import Settings

from . import lookup, sbom, walk, writes
from .documents import DocumentRefused, Facts, facts_of, kind_of_media_type
from .lookup import Page, Visible
from .metrics import SearchMetrics
from .query import Query, SortKey
from .schema import FILE_NAME, MIGRATIONS

T = TypeVar("T")


@dataclass(frozen=True)
class Sbom:
    """One SBOM document about an image, and the manifest that carried it (a referrer,
    or a BuildKit attestation manifest): deleting that manifest drops its packages."""

    source: str
    body: bytes


def _check(repo: str, *, tag: str | None = None, digest: str | None = None) -> None:
    if not is_name(repo):
        raise ValueError(f"not a repository name: {repo[:100]!r}")
    if tag is not None and not is_tag(tag):
        raise ValueError(f"not a tag: {tag[:100]!r}")
    if digest is not None and not is_digest(digest):
        raise ValueError(f"not a digest: {digest[:100]!r}")


def _totals(c: sqlite3.Connection) -> tuple[int, int, int]:
    repos, images = c.execute("SELECT count(*), coalesce(sum(images), 0) FROM repos").fetchone()
    pending = c.execute("SELECT count(*) FROM digests WHERE read < 2").fetchone()[0]
    return int(repos), int(images), int(pending)


DEFAULT_TTL = 3600.0


class SearchIndex:
    def __init__(
        self,
        db: Database,
        metrics: SearchMetrics,
        clock: Callable[[], float] = time.time,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.clock = clock
        self.ttl = ttl  # seconds after which a repository's tag list is due again

    @classmethod
    def open(
        cls,
        data_dir: Path,
        metrics: SearchMetrics | None = None,
        clock: Callable[[], float] = time.time,
        ttl: float = DEFAULT_TTL,
    ) -> SearchIndex:
        """Open (or create) the index in ``data_dir``; blocking (start-up, or
        ``asyncio.to_thread``). ``StoreUnavailable`` when the file cannot be used."""
        db = Database.open(data_dir / FILE_NAME, MIGRATIONS)
        index = cls(db, metrics or SearchMetrics(), clock, ttl)
        db.call(index._refresh)
        return index

    @classmethod
    def from_settings(cls, settings: Settings, metrics: SearchMetrics | None = None) -> SearchIndex:
        """``LR_DATA_DIR/search.sqlite3``, due again after ``LR_SEARCH_INDEX_TTL``."""
        return cls.open(settings.data_dir, metrics, ttl=settings.search_index_ttl)

    def close(self) -> None:
        self.db.close()

    async def aclose(self) -> None:
        await self.db.aclose()

    def size_bytes(self) -> int:
        """The file and its write-ahead log, as they are on disk now."""
        total = 0
        for suffix in ("", "-wal"):
            path = self.db.path.with_name(self.db.path.name + suffix)
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total

    def _refresh(self, c: sqlite3.Connection) -> None:
        m = self.metrics
        m.repositories, m.images, m.pending_documents = _totals(c)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on the database's thread, then the figures the metrics show."""

        def run(c: sqlite3.Connection) -> T:
            out = fn(c)
            self._refresh(c)
            return out

        return await self.db.run(run)

    # -- the units the walker and notifications feed ------------------------------------

    async def set_catalog(self, names: Iterable[str], as_of: float) -> int:
        """The registry lists ``names`` (the catalog, read at ``as_of``); returns how
        many repositories were dropped."""
        listed = list(names)
        now = self.clock()
        return await self._write(lambda c: writes.set_catalog(c, listed, as_of, now))

    async def set_tags(
        self, repo: str, tags: Mapping[str, str], as_of: float
    ) -> writes.TagsApplied:
        """Repository ``repo`` has exactly ``tags`` (tag → digest), as read at ``as_of``."""
        _check(repo)
        copy, now = dict(tags), self.clock()
        applied = await self._write(lambda c: writes.set_tags(c, repo, copy, as_of, now))
        self.metrics.tag_lists += 1
        self.metrics.tag_lists_unchanged += applied.unchanged
        return applied

    async def tag_pushed(
        self, repo: str, tag: str, digest: str, media_type: str | None = None
    ) -> bool:
        """Tag ``tag`` of ``repo`` now points at ``digest`` (a push notification's own
        fields: the tag need not be readable yet). True when the digest's documents are
        still to be read (``missing_documents`` lists it)."""
        _check(repo, tag=tag, digest=digest)
        kind, now = kind_of_media_type(media_type), self.clock()
        self.metrics.events += 1
        return await self._write(lambda c: writes.tag_pushed(c, repo, tag, digest, kind, now))

    async def tag_deleted(self, repo: str, tag: str) -> None:
        _check(repo, tag=tag)
        now = self.clock()
        self.metrics.events += 1
        await self._write(lambda c: writes.tag_deleted(c, repo, tag, now))

    async def digest_deleted(self, repo: str, digest: str) -> None:
        """``digest`` was deleted from ``repo``: with it every tag on it, and the SBOMs
        about it (or carried by it) there."""
        _check(repo, digest=digest)
        now = self.clock()
        self.metrics.events += 1
        await self._write(lambda c: writes.digest_deleted(c, repo, digest, now))

    async def add_documents(
        self,
        digest: str,
        manifest: bytes,
        media_type: str | None = None,
        config: bytes | None = None,
    ) -> Facts:
        """The documents of ``digest``: its manifest or index as served, and for an
        image manifest its config blob (``None`` when it was not read: the manifest is
        recorded, and listed again by ``missing_documents``; a config that is not an
        image config — a Helm chart's — is never needed). Raises
        ``DocumentRefused`` for bytes that are not that digest's manifest."""
        try:
            facts = await asyncio.to_thread(facts_of, digest, manifest, media_type, config)
        except DocumentRefused:
            self.metrics.documents_refused += 1
            raise
        await self._write(lambda c: writes.add_documents(c, facts, complete=not facts.wants_config))
        self.metrics.documents += 1
        return facts

    async def set_sboms(self, repo: str, subject: str, sboms: Sequence[Sbom]) -> int:
        """The SBOMs found about ``subject`` in ``repo`` (among its referrers, or in the
        attestations of the index holding it) — all of them: they replace what was
        known. An empty list records that there are none. Returns the packages listed."""
        _check(repo, digest=subject)
        for one in sboms:
            _check(repo, digest=one.source)
        parsed = await asyncio.to_thread(lambda: [(s.source, sbom.parse(s.body)) for s in sboms])
        self.metrics.sboms += len(sboms)
        now = self.clock()
        return await self._write(lambda c: writes.set_sboms(c, repo, subject, parsed, now))

    async def sboms_stale(self, repo: str, subject: str) -> None:
        """Something referring to ``subject`` in ``repo`` changed: look for its SBOMs
        again (``missing_sboms`` lists it)."""
        _check(repo, digest=subject)
        await self.db.run(lambda c: writes.sboms_stale(c, repo, subject))

    # -- what the walker asks -----------------------------------------------------------

    async def due(self, ttl: float | None = None) -> list[str]:
        """Repositories whose tag list to read (never read, or read ``ttl`` ago)."""
        now, older = self.clock(), self.ttl if ttl is None else ttl
        return await self.db.run(lambda c: walk.due(c, now, older))

    async def catalog_at(self) -> float | None:
        return await self.db.run(walk.catalog_at)

    async def repo_state(self, repo: str) -> walk.RepoState | None:
        return await self.db.run(lambda c: walk.repo_state(c, repo))

    async def missing_documents(
        self, repos: Collection[str] | None = None, limit: int = 100
    ) -> list[walk.Wanted]:
        return await self.db.run(lambda c: walk.missing_documents(c, repos, limit))

    async def missing_sboms(
        self,
        repos: Collection[str] | None = None,
        limit: int = 100,
        older_than: float | None = None,
    ) -> list[walk.Wanted]:
        return await self.db.run(lambda c: walk.missing_sboms(c, repos, limit, older_than))

    async def prune(self, keep_deletions_for: float = 86400.0) -> walk.Pruned:
        """Forget what no tag reaches any more (after a walk has gone round)."""
        forget_before = self.clock() - keep_deletions_for
        return await self._write(lambda c: walk.prune(c, forget_before))

    # -- searching ----------------------------------------------------------------------

    async def search(
        self, query: Query, visible: Visible, n: int = 50, last: SortKey | None = None
    ) -> Page:
        """One page of ``query``'s results among the ``visible`` repositories (a set of
        names, a predicate, or None for all). A predicate runs on the database's thread."""
        started = time.perf_counter()
        page = await self.db.run(lambda c: lookup.search(c, query, visible, n, last))
        self.metrics.searches[query.kind] += 1
        self.metrics.search_seconds += time.perf_counter() - started
        return page
