"""Content by digest on disk: the view's level that survives a restart.

Manifests and configs never change for a digest, so what was verified once can serve a
restarted gateway: its first tag page asks the registry for the tag list and one
manifest per tag (what may have changed), and reads every config, every child manifest
already seen, from here. Besides content, a few facts about the registry itself (whether it
has a referrers API) are kept with the time they were learnt, for their users to trust
as long as they would in process. Nothing else is kept on disk: lists, tag pointers,
access and membership are the registry's word of the moment and are asked again.

**SQLite, not one file per digest.** One file (``content.sqlite3`` under
``LR_DATA_DIR``, opened through ``gateway.datastore``): no path is ever built from a
digest, a write is atomic (a crash leaves no half-written document), tens of thousands
of one-kilobyte documents do not cost a 4 KiB block and an inode each, and the
least-recently-used order is an index rather than a scan of file times.

- **Verified again when read.** A body whose sha256 is not its digest (a disk error, a
  file edited by hand) is deleted and reported as a miss, never served.
- **Within ``LR_DISK_CACHE_BYTES``.** Each entry counts its body, its media type and a
  row's overhead; when a write takes the total past the budget the least recently used
  entries go until it is back under nine tenths of it. Reads move an entry to the front.
- **Off the request path.** Writes and the reads' use marks are queued and written by
  one task at a time, each batch in one transaction; a request never waits for a
  write. The queue is bounded: beyond ``MAX_PENDING_BYTES`` a document is not written
  (it is a cache). Reads run on the database's own thread (``Database.run``).
- **Failures are misses.** A disk that is full, gone or corrupt makes reads miss and
  writes drop (logged once, counted); the gateway answers from the registry as before.
- **Per replica.** With ``LR_REDIS_URL`` too, each replica keeps its own file: it is a
  local copy of immutable content, never shared state.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from gateway.cache import Blob
from gateway.datastore import Database, StoreUnavailable, transaction

log = logging.getLogger("gateway.disk")

FILE_NAME = "content.sqlite3"
ROW_OVERHEAD = 96  # bytes a row and its index entries take beyond body and media type
MAX_PENDING_BYTES = 16 * 1024 * 1024
_LOW_WATER = 0.9  # an eviction brings the total under this share of the budget

SCHEMA_V1 = """
CREATE TABLE content (
    digest TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    used INTEGER NOT NULL
);
CREATE INDEX content_by_use ON content (used);
CREATE TABLE facts (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    learnt REAL NOT NULL
);
"""
MIGRATIONS = [SCHEMA_V1]


def entry_size(blob: Blob) -> int:
    return len(blob.body) + len(blob.media_type) + ROW_OVERHEAD


def _verified(digest: str, body: bytes) -> bool:
    return digest == "sha256:" + hashlib.sha256(body).hexdigest()


class DiskContent:
    """Verified content by digest in one SQLite file, least recently used dropped first."""

    def __init__(self, db: Database, max_bytes: int, total: int, clock: int) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.total = total  # bytes of the entries on disk (as ``entry_size`` counts them)
        self._clock = clock  # the last use mark given; marks only grow
        self._facts: dict[str, tuple[str, float]] = {}
        self._fact_writes: dict[str, tuple[str, float]] = {}
        self._writes: dict[str, Blob] = {}
        self._uses: dict[str, int] = {}
        self._pending_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._failed = False
        # Plain counters, read by the metrics at scrape time.
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.failures = 0
        self.dropped = 0  # documents not written: the queue was full
        self.entries = 0

    @classmethod
    def open(cls, data_dir: Path, max_bytes: int) -> DiskContent | None:
        """The store under ``data_dir`` (blocking: at start-up), or None when the budget
        is 0 or the file cannot be used (logged: the gateway runs without it)."""
        if max_bytes <= 0:
            return None
        try:
            db = Database.open(data_dir / FILE_NAME, MIGRATIONS)
            entries, total, clock = db.call(_totals)
            facts = db.call(_facts)
        except StoreUnavailable as exc:
            log.warning("content on disk is off: %s", exc)
            return None
        store = cls(db, max_bytes, total, clock)
        store.entries = entries
        store._facts = facts
        return store

    # -- facts about the registry -----------------------------------------------------------

    def fact(self, name: str) -> tuple[str, float] | None:
        """(value, when it was learnt: ``time.time()``) of a fact kept, or None."""
        return self._facts.get(name)

    def learnt(self, name: str, value: str, when: float) -> None:
        """Keep a fact (written in the background)."""
        if self._failed or self._facts.get(name) == (value, when):
            return
        self._facts[name] = self._fact_writes[name] = (value, when)
        self._schedule()

    # -- reads ----------------------------------------------------------------------------

    async def get(self, digest: str) -> Blob | None:
        """The verified content of ``digest``, or None (never raises)."""
        queued = self._writes.get(digest)
        if queued is not None:
            return queued
        if self._failed or not digest.startswith("sha256:"):
            return None
        try:
            row = await self.db.run(lambda c: _read(c, digest))
        except StoreUnavailable as exc:
            self._failure(exc)
            return None
        if row is None:
            self.misses += 1
            return None
        media_type, body = row
        if not _verified(digest, body):
            self.misses += 1
            self.failures += 1
            log.warning("content on disk for %s does not match its digest: dropped", digest)
            self._forget(digest)
            return None
        self.hits += 1
        self._clock += 1
        self._uses[digest] = self._clock
        self._schedule()
        return Blob(digest, media_type, body)

    # -- writes ---------------------------------------------------------------------------

    def put(self, blob: Blob) -> None:
        """Keep ``blob`` (verified by the caller) on disk, written in the background."""
        if self._failed or not blob.digest.startswith("sha256:") or blob.digest in self._writes:
            return
        size = entry_size(blob)
        if size > self.max_bytes:
            return
        if self._pending_bytes + size > MAX_PENDING_BYTES:
            self.dropped += 1
            return
        self._clock += 1
        self._writes[blob.digest] = blob
        self._uses[blob.digest] = self._clock
        self._pending_bytes += size
        self._schedule()

    def _forget(self, digest: str) -> None:
        self._writes.pop(digest, None)
        self._uses[digest] = -1  # -1: delete
        self._schedule()

    def _schedule(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Write what is queued, batch after batch, until nothing is."""
        while self._writes or self._uses or self._fact_writes:
            writes, uses, facts = list(self._writes.values()), self._uses, self._fact_writes
            self._uses, self._fact_writes = {}, {}
            try:
                batch = functools.partial(
                    _apply,
                    writes=writes,
                    uses=uses,
                    facts=facts,
                    max_bytes=self.max_bytes,
                    total=self.total,
                )
                entries, size_change, evicted = await self.db.run(batch)
            except StoreUnavailable as exc:
                self._failure(exc)
                entries, size_change, evicted = 0, 0, 0
            finally:
                for blob in writes:
                    if self._writes.get(blob.digest) is blob:
                        del self._writes[blob.digest]
                        self._pending_bytes -= entry_size(blob)
            self.entries += entries
            self.total += size_change
            self.evictions += evicted
            if self._failed:
                self._writes.clear()
                self._uses.clear()
                self._fact_writes.clear()
                self._pending_bytes = 0

    def _failure(self, exc: StoreUnavailable) -> None:
        self.failures += 1
        if not self._failed:
            log.warning("content on disk failed, now off until restart: %s", exc)
        self._failed = True

    async def aclose(self) -> None:
        """Write what is queued, then close the file."""
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)
        await self.db.aclose()

    def __len__(self) -> int:
        return self.entries


# -- on the database's thread -------------------------------------------------------------


def _totals(c: sqlite3.Connection) -> tuple[int, int, int]:
    entries, total, clock = c.execute(
        "SELECT COUNT(*), COALESCE(SUM(size), 0), COALESCE(MAX(used), 0) FROM content"
    ).fetchone()
    return int(entries), int(total), int(clock)


def _facts(c: sqlite3.Connection) -> dict[str, tuple[str, float]]:
    rows = c.execute("SELECT name, value, learnt FROM facts").fetchall()
    return {str(name): (str(value), float(learnt)) for name, value, learnt in rows}


def _read(c: sqlite3.Connection, digest: str) -> tuple[str, bytes] | None:
    row = c.execute("SELECT media_type, body FROM content WHERE digest = ?", (digest,)).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def _apply(
    c: sqlite3.Connection,
    *,
    writes: Sequence[Blob],
    uses: dict[str, int],
    facts: dict[str, tuple[str, float]],
    max_bytes: int,
    total: int,
) -> tuple[int, int, int]:
    """One batch in one transaction: the change in entries and in bytes, and how many
    least recently used entries went to bring the total back under the budget."""
    entries = 0
    size_change = 0
    with transaction(c):
        for blob in writes:
            size = entry_size(blob)
            cursor = c.execute(
                "INSERT OR IGNORE INTO content (digest, media_type, body, size, used) "
                "VALUES (?, ?, ?, ?, ?)",
                (blob.digest, blob.media_type, blob.body, size, uses.get(blob.digest, 0)),
            )
            if cursor.rowcount == 1:
                entries += 1
                size_change += size
        for digest in [d for d, mark in uses.items() if mark < 0]:
            row = c.execute("SELECT size FROM content WHERE digest = ?", (digest,)).fetchone()
            if row is not None:
                c.execute("DELETE FROM content WHERE digest = ?", (digest,))
                entries -= 1
                size_change -= int(row[0])
        c.executemany(
            "UPDATE content SET used = ? WHERE digest = ?",
            [(mark, d) for d, mark in uses.items() if mark >= 0],
        )
        c.executemany(
            "INSERT OR REPLACE INTO facts (name, value, learnt) VALUES (?, ?, ?)",
            [(name, value, when) for name, (value, when) in facts.items()],
        )
        over = total + size_change - int(max_bytes * _LOW_WATER)
        victims: list[str] = []
        if total + size_change > max_bytes:
            freed = 0
            for digest, size in c.execute("SELECT digest, size FROM content ORDER BY used"):
                if freed >= over:
                    break
                victims.append(digest)
                freed += int(size)
            c.executemany("DELETE FROM content WHERE digest = ?", [(d,) for d in victims])
            entries -= len(victims)
            size_change -= freed
    return entries, size_change, len(victims)
