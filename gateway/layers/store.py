"""Layer indexes on disk: one SQLite file under ``LR_DATA_DIR``, within a byte budget.

Indexes are derived data (every replica keeps its own), keyed by layer digest and shared
by every repository, tag and caller that may pull the layer (the caller's access is
checked before the engine is asked). One file, ``layers.sqlite3``:

- ``layers``: one row per index, ``state`` ``building`` until every entry and checkpoint
  of it is written, then ``complete`` (with its counts) in one transaction. A build that
  fails is deleted with its rows; rows still ``building`` at start-up (a crash) too.
  ``engine`` is the version of what the indexer writes: rows of another are dropped.
- ``entries``: the tar entries by (layer, path), with ``parent`` for directory listings.
- ``points``: the decompression checkpoints, windows zlib-compressed.

Whole on first use: the first time a process serves an index it counts its rows against
the counts recorded at completion; an index that does not match is dropped (and read
again). The budget (``LR_LAYER_INDEX_BYTES``) counts each index's estimated size (rows
and windows); after a build the least recently used indexes go until the rest fits
(the new one stays even if it alone is larger).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from gateway.datastore import Database, StoreUnavailable, UnusableDatabase, transaction
from gateway.layers.checkpoints import Checkpoint
from gateway.layers.indexer import LayerRead
from gateway.layers.paths import subtree_bounds
from gateway.layers.source import Format
from gateway.layers.tarstream import TarEntry

log = logging.getLogger(__name__)

FILE_NAME = "layers.sqlite3"
ENGINE = 1

SCHEMA_V1 = """
CREATE TABLE layers (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    engine INTEGER NOT NULL,
    format TEXT NOT NULL DEFAULT 'tar',
    media_type TEXT NOT NULL,
    compressed_size INTEGER NOT NULL DEFAULT 0,
    expanded_size INTEGER NOT NULL DEFAULT 0,
    entry_count INTEGER NOT NULL DEFAULT 0,
    point_count INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    last_used REAL NOT NULL
);
CREATE TABLE entries (
    layer_id INTEGER NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    parent TEXT NOT NULL,
    type TEXT NOT NULL,
    size INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    gid INTEGER NOT NULL,
    mtime INTEGER,
    link_target TEXT,
    sha256 TEXT,
    data_offset INTEGER,
    implicit INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (layer_id, path)
) WITHOUT ROWID;
CREATE INDEX entries_by_parent ON entries (layer_id, parent, path);
CREATE TABLE points (
    layer_id INTEGER NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    compressed INTEGER NOT NULL,
    expanded INTEGER NOT NULL,
    bits INTEGER NOT NULL,
    window BLOB,
    PRIMARY KEY (layer_id, n)
) WITHOUT ROWID;
"""
MIGRATIONS = [SCHEMA_V1]

_COLUMNS = "path, type, size, mode, uid, gid, mtime, link_target, sha256, data_offset, implicit"
_ROW_OVERHEAD = 96  # bytes an entry row and its index entry take beyond their text
_POINT_OVERHEAD = 48


@dataclass(frozen=True, slots=True)
class Point:
    """A checkpoint without its window (read from disk only when a file needs it)."""

    n: int
    compressed: int
    expanded: int
    bits: int


@dataclass(frozen=True, slots=True)
class LayerIndex:
    id: int
    digest: str
    format: Format
    media_type: str
    compressed_size: int
    expanded_size: int
    entry_count: int
    bytes: int
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Row:
    """An entry as stored, with the index it belongs to."""

    layer_id: int
    entry: TarEntry


def _row(layer_id: int, values: Sequence[object]) -> Row:
    path, etype, size, mode, uid, gid, mtime, link, sha, offset, implicit = values
    return Row(
        layer_id,
        TarEntry(
            path=cast(str, path),
            type=cast(str, etype),
            size=cast(int, size),
            mode=cast(int, mode),
            uid=cast(int, uid),
            gid=cast(int, gid),
            mtime=cast("int | None", mtime),
            link_target=cast("str | None", link),
            sha256=cast("str | None", sha),
            offset=cast("int | None", offset),
            implicit=bool(implicit),
        ),
    )


def entry_bytes(entry: TarEntry) -> int:
    """The estimated disk size of one entry row (path twice: the row and its index)."""
    return (
        _ROW_OVERHEAD
        + 2 * len(entry.path.encode())
        + len((entry.link_target or "").encode())
        + (64 if entry.sha256 else 0)
    )


class IndexStore:
    def __init__(self, db: Database, budget: int) -> None:
        self.db = db
        self.budget = budget
        self._verified: set[int] = set()
        self.evictions = 0

    @classmethod
    def open(cls, data_dir: Path, budget: int) -> IndexStore:
        """Open (blocking: at start-up or through ``asyncio.to_thread``) and drop what a
        crash or another engine version left. A file that cannot be opened gives a store
        whose every call raises ``StoreUnavailable`` (logged): the files routes answer
        503 and the gateway starts."""
        path = data_dir / FILE_NAME
        try:
            db = Database.open(path, MIGRATIONS)
            db.call(_drop_unusable)
        except StoreUnavailable as exc:
            log.error("the layer index store cannot be used: %s", exc)
            return cls(UnusableDatabase(path, str(exc)), budget)
        return cls(db, budget)

    async def close(self) -> None:
        await self.db.aclose()

    # -- reads ----------------------------------------------------------------------------

    async def get(self, digest: str) -> LayerIndex | None:
        """The complete index of ``digest`` (its use recorded for the LRU), or None."""
        return await self.db.run(lambda c: self._get(c, digest))

    def _get(self, c: sqlite3.Connection, digest: str) -> LayerIndex | None:
        row = c.execute(
            "SELECT id, format, media_type, compressed_size, expanded_size, entry_count, "
            "point_count, bytes FROM layers WHERE digest = ? AND state = 'complete'",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        layer_id, fmt, media_type, csize, esize, entry_count, point_count, size = row
        points = tuple(
            Point(*p)
            for p in c.execute(
                "SELECT n, compressed, expanded, bits FROM points WHERE layer_id = ? ORDER BY n",
                (layer_id,),
            )
        )
        if layer_id not in self._verified:
            (entries,) = c.execute(
                "SELECT COUNT(*) FROM entries WHERE layer_id = ?", (layer_id,)
            ).fetchone()
            if entries != entry_count or len(points) != point_count:
                with transaction(c):
                    c.execute("DELETE FROM layers WHERE id = ?", (layer_id,))
                return None
            self._verified.add(layer_id)
        c.execute("UPDATE layers SET last_used = ? WHERE id = ?", (time.time(), layer_id))
        return LayerIndex(
            layer_id, digest, fmt, media_type, csize, esize, entry_count, size, points
        )

    async def window(self, layer_id: int, n: int) -> bytes | None:
        def read(c: sqlite3.Connection) -> bytes | None:
            row = c.execute(
                "SELECT window FROM points WHERE layer_id = ? AND n = ?", (layer_id, n)
            ).fetchone()
            return None if row is None or row[0] is None else zlib.decompress(row[0])

        return await self.db.run(read)

    async def checkpoint(self, layer_id: int, point: Point) -> Checkpoint:
        window = await self.window(layer_id, point.n)
        return Checkpoint(point.compressed, point.expanded, point.bits, window)

    async def entry(self, layer_id: int, path: str) -> TarEntry | None:
        rows = await self.at([layer_id], [path])
        return rows[0].entry if rows else None

    async def at(self, layer_ids: Sequence[int], paths: Sequence[str]) -> list[Row]:
        """Every entry of these layers at these exact paths."""
        if not layer_ids or not paths:
            return []
        lq, pq = ",".join("?" * len(layer_ids)), ",".join("?" * len(paths))
        sql = (
            f"SELECT layer_id, {_COLUMNS} FROM entries "  # noqa: S608 - placeholders only
            f"WHERE layer_id IN ({lq}) AND path IN ({pq})"
        )
        params = [*layer_ids, *paths]
        return await self.db.run(lambda c: [_row(r[0], r[1:]) for r in c.execute(sql, params)])

    async def below(
        self,
        layer_ids: Sequence[int],
        directory: str,
        *,
        recursive: bool,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Row]:
        """Entries of these layers in ``directory`` (``recursive``: anywhere below it),
        sorted by path then layer; ``after``/``limit`` page them."""
        lq = ",".join("?" * len(layer_ids))
        if recursive:
            low, high = subtree_bounds(directory)
            where, params = "path >= ? AND path < ?", [low, high]
        else:
            where, params = "parent = ?", [directory]
        if after is not None:
            where += " AND path > ?"
            params.append(after)
        sql = (
            f"SELECT layer_id, {_COLUMNS} FROM entries "  # noqa: S608 - placeholders only
            f"WHERE layer_id IN ({lq}) AND {where} ORDER BY path, layer_id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit):d}"
        all_params = [*layer_ids, *params]
        return await self.db.run(lambda c: [_row(r[0], r[1:]) for r in c.execute(sql, all_params)])

    async def count_below(self, layer_id: int, directory: str, *, recursive: bool) -> int:
        params: tuple[object, ...]
        if recursive:
            low, high = subtree_bounds(directory)
            sql, params = (
                "SELECT COUNT(*) FROM entries WHERE layer_id = ? AND path >= ? AND path < ?",
                (layer_id, low, high),
            )
        else:
            sql, params = (
                "SELECT COUNT(*) FROM entries WHERE layer_id = ? AND parent = ?",
                (layer_id, directory),
            )
        return cast(int, await self.db.run(lambda c: c.execute(sql, params).fetchone()[0]))

    # -- writes ---------------------------------------------------------------------------

    async def begin(self, digest: str, media_type: str) -> int:
        """A ``building`` row for ``digest`` (any earlier row of it dropped)."""

        def begin(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute("DELETE FROM layers WHERE digest = ?", (digest,))
                cursor = c.execute(
                    "INSERT INTO layers (digest, state, engine, media_type, last_used) "
                    "VALUES (?, 'building', ?, ?, ?)",
                    (digest, ENGINE, media_type, time.time()),
                )
            return cast(int, cursor.lastrowid)

        return await self.db.run(begin)

    async def add(self, layer_id: int, entries: Iterable[TarEntry]) -> None:
        """Write a batch; a later entry at the same path replaces an earlier one (tar
        order: the last one is what extraction leaves)."""
        rows = [
            (
                layer_id,
                e.path,
                _parent_of(e),
                e.type,
                e.size,
                e.mode,
                e.uid,
                e.gid,
                e.mtime,
                e.link_target,
                e.sha256,
                e.offset,
                int(e.implicit),
            )
            for e in entries
        ]

        def add(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.executemany(
                    "INSERT OR REPLACE INTO entries (layer_id, path, parent, type, size, mode, "
                    "uid, gid, mtime, link_target, sha256, data_offset, implicit) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

        await self.db.run(add)

    async def complete(self, layer_id: int, read: LayerRead, entry_bytes_total: int) -> None:
        points = [
            (
                layer_id,
                n,
                p.compressed,
                p.expanded,
                p.bits,
                None if p.window is None else zlib.compress(p.window, 6),
            )
            for n, p in enumerate(read.checkpoints)
        ]
        size = entry_bytes_total + sum(_POINT_OVERHEAD + (len(p[5]) if p[5] else 0) for p in points)

        def complete(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.executemany(
                    "INSERT INTO points (layer_id, n, compressed, expanded, bits, window) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    points,
                )
                (count,) = c.execute(
                    "SELECT COUNT(*) FROM entries WHERE layer_id = ?", (layer_id,)
                ).fetchone()
                c.execute(
                    "UPDATE layers SET state = 'complete', format = ?, compressed_size = ?, "
                    "expanded_size = ?, entry_count = ?, point_count = ?, bytes = ?, "
                    "last_used = ? WHERE id = ?",
                    (
                        read.format,
                        read.compressed_size,
                        read.expanded_size,
                        count,
                        len(points),
                        size,
                        time.time(),
                        layer_id,
                    ),
                )
            self.evictions += _evict(c, self.budget, keep=layer_id)

        await self.db.run(complete)

    async def discard(self, layer_id: int) -> None:
        def discard(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute("DELETE FROM layers WHERE id = ?", (layer_id,))

        await self.db.run(discard)

    # -- sizes ----------------------------------------------------------------------------

    async def indexed_bytes(self) -> int:
        """The budgeted size of every complete index (estimated rows and windows)."""
        return cast(
            int,
            await self.db.run(
                lambda c: c.execute(
                    "SELECT COALESCE(SUM(bytes), 0) FROM layers WHERE state = 'complete'"
                ).fetchone()[0]
            ),
        )

    def disk_bytes(self) -> int:
        """The database file's size on disk (with its write-ahead log)."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += Path(str(self.db.path) + suffix).stat().st_size
            except OSError:
                continue
        return total

    async def digests(self) -> list[str]:
        """Digests with a complete index, most recently used first."""
        return await self.db.run(
            lambda c: [
                r[0]
                for r in c.execute(
                    "SELECT digest FROM layers WHERE state = 'complete' ORDER BY last_used DESC"
                )
            ]
        )


def _parent_of(entry: TarEntry) -> str:
    head = entry.path.rsplit("/", 1)[0]
    return head or "/"


def _evict(c: sqlite3.Connection, budget: int, keep: int) -> int:
    """Drop the least recently used complete indexes until the rest fits the budget."""
    dropped = 0
    (total,) = c.execute(
        "SELECT COALESCE(SUM(bytes), 0) FROM layers WHERE state = 'complete'"
    ).fetchone()
    if total <= budget:
        return 0
    victims = c.execute(
        "SELECT id, bytes FROM layers WHERE state = 'complete' AND id != ? ORDER BY last_used ASC",
        (keep,),
    ).fetchall()
    with transaction(c):
        for layer_id, size in victims:
            if total <= budget:
                break
            c.execute("DELETE FROM layers WHERE id = ?", (layer_id,))
            total -= size
            dropped += 1
    return dropped


def _drop_unusable(c: sqlite3.Connection) -> None:
    with transaction(c):
        c.execute("DELETE FROM layers WHERE state != 'complete' OR engine != ?", (ENGINE,))
