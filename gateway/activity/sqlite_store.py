"""The activity store in SQLite: ``activity.sqlite3`` under ``LR_DATA_DIR``.

One file per gateway (replicas without Redis each keep their own). Written through
``gateway.datastore`` (its own thread, schema versioned by ``user_version``, every
failure ``StoreUnavailable``, here re-raised as ``ActivityUnavailable``). A batch of
records is one transaction: the inserts, the marks they move, the trim to
``max_events``.

Tables: ``events`` (the feed; ``seq`` is the insertion order that breaks ties between
records of the same microsecond), ``pulls`` (latest pull per repository and digest),
``pushes`` (latest push per repository and tag), ``placeholders`` (tag-delete
placeholders awaiting their delete), ``meta`` (origin, tracking_since).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

from gateway.activity.placeholder import REMEMBER_SECONDS
from gateway.activity.records import (
    ActivityUnavailable,
    Added,
    Cursor,
    Entry,
    Filter,
    Mark,
    MarkKey,
    Marks,
    Record,
    Scan,
)
from gateway.datastore import Database, StoreUnavailable, transaction

T = TypeVar("T")
FILE_NAME = "activity.sqlite3"
#: Rights of at most this many repositories are read through the repository index.
FEW_REPOSITORIES = 8
_IN_ALLOWED = "repository IN (SELECT value FROM json_each(?))"

V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    action TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT,
    digest TEXT,
    media_type TEXT,
    actor TEXT,
    addr TEXT,
    user_agent TEXT,
    via TEXT NOT NULL
);
CREATE INDEX events_time ON events (time, seq);
CREATE INDEX events_repository ON events (repository, time, seq);
CREATE INDEX events_action ON events (action, time, seq);
CREATE INDEX events_actor ON events (actor, time, seq);
CREATE TABLE pulls (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    time INTEGER NOT NULL,
    actor TEXT,
    via TEXT NOT NULL,
    PRIMARY KEY (repository, digest)
) WITHOUT ROWID;
CREATE TABLE pushes (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT,
    time INTEGER NOT NULL,
    actor TEXT,
    via TEXT NOT NULL,
    PRIMARY KEY (repository, tag)
) WITHOUT ROWID;
CREATE INDEX pushes_digest ON pushes (repository, digest);
CREATE TABLE placeholders (
    repository TEXT NOT NULL,
    digest TEXT NOT NULL,
    time INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
) WITHOUT ROWID;
"""
# Each repository's newest push or delete (its rows' ``last_changed``), apart from the
# bounded feed; filled from the feed a V1 file holds.
V2 = """
CREATE TABLE changed (repository TEXT PRIMARY KEY, time INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO changed
    SELECT repository, MAX(time) FROM events WHERE action != 'pull' GROUP BY repository;
"""
MIGRATIONS = [V1, V2]
_COLUMNS = "seq, time, event_id, action, repository, tag, digest, media_type, actor, addr, "
_COLUMNS += "user_agent, via"


def _row_entry(row: tuple[object, ...]) -> Entry:
    seq, time, event_id, action, repo, tag, digest, media_type, actor, addr, ua, via = row
    record = Record(
        id=str(event_id),
        time=int(time),  # type: ignore[call-overload]
        action=action,  # type: ignore[arg-type]
        repository=str(repo),
        tag=tag,  # type: ignore[arg-type]
        digest=digest,  # type: ignore[arg-type]
        media_type=media_type,  # type: ignore[arg-type]
        actor=actor,  # type: ignore[arg-type]
        addr=addr,  # type: ignore[arg-type]
        user_agent=ua,  # type: ignore[arg-type]
        via=via,  # type: ignore[arg-type]
    )
    return Entry(Cursor(int(time), int(seq)), record)  # type: ignore[call-overload]


class SqliteActivityStore:
    kind: Literal["sqlite", "redis"] = "sqlite"
    filters_in_place = True

    def __init__(self, db: Database, *, origin: str, max_events: int) -> None:
        self.db = db
        self.origin = origin
        self.max_events = max_events
        self._tracking_since = 0
        # Records in the feed, known after each write (a count(*) per write would cost
        # a walk of an index); changed only on the database's thread, after a commit.
        self._events = [0]
        self.opened_size = (0, 0)

    @classmethod
    def open(
        cls, data_dir: Path, *, max_events: int, now: int, origin: str | None = None
    ) -> SqliteActivityStore:
        """Open (create, migrate) the file; blocking. ``origin`` (derived from the secret
        key when there is one) replaces a random one kept in the file."""
        try:
            db = Database.open(data_dir / FILE_NAME, MIGRATIONS)
        except StoreUnavailable as exc:
            raise ActivityUnavailable(str(exc)) from None
        store = cls(db, origin=origin or "", max_events=max_events)
        try:
            kept = db.call(lambda c: _init_meta(c, now, secrets.token_hex(16)))
            #: (records, marks) when the file was opened, for the metrics until a write.
            store.opened_size = db.call(_size)
            store._events[0] = store.opened_size[0]
        except StoreUnavailable as exc:
            db.close()
            raise ActivityUnavailable(str(exc)) from None
        store.origin = origin or kept[0]
        store._tracking_since = kept[1]
        return store

    @property
    def usable(self) -> bool:
        return True

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return await self.db.run(fn)
        except ActivityUnavailable:
            raise
        except StoreUnavailable as exc:
            raise ActivityUnavailable(str(exc)) from None

    async def add(self, records: Sequence[Record], now: int) -> Added:
        max_events, events = self.max_events, self._events
        return await self._run(lambda c: _add(c, records, now, max_events, events))

    async def scan(self, where: Filter, before: Cursor | None, limit: int) -> Scan:
        entries = await self._run(lambda c: _scan(c, where, before, limit))
        return Scan(
            entries=entries,
            scanned=len(entries),
            last=entries[-1].cursor if entries else before,
            exhausted=len(entries) < limit,
        )

    async def marks(self, keys: Sequence[MarkKey]) -> list[Marks]:
        if not keys:
            return []
        return await self._run(lambda c: _marks(c, keys))

    async def changed(self, repositories: Sequence[str]) -> dict[str, int]:
        names = list(dict.fromkeys(repositories))
        if not names:
            return {}
        rows = await self._run(
            lambda c: c.execute(
                "SELECT repository, time FROM changed WHERE " + _IN_ALLOWED,  # noqa: S608 - a constant
                (json.dumps(names),),
            ).fetchall()
        )
        return {str(repo): int(t) for repo, t in rows}

    async def tracking_since(self, now: int) -> int:
        return self._tracking_since

    async def size(self) -> tuple[int, int]:
        return await self._run(_size)

    async def aclose(self) -> None:
        await self.db.aclose()


def _init_meta(c: sqlite3.Connection, now: int, new_origin: str) -> tuple[str, int]:
    with transaction(c):
        c.execute("INSERT OR IGNORE INTO meta VALUES ('origin', ?)", (new_origin,))
        c.execute("INSERT OR IGNORE INTO meta VALUES ('tracking_since', ?)", (str(now),))
        meta = dict(c.execute("SELECT key, value FROM meta").fetchall())
    return str(meta["origin"]), int(meta["tracking_since"])


def _size(c: sqlite3.Connection) -> tuple[int, int]:
    events = c.execute("SELECT count(*) FROM events").fetchone()[0]
    pulls = c.execute("SELECT count(*) FROM pulls").fetchone()[0]
    pushes = c.execute("SELECT count(*) FROM pushes").fetchone()[0]
    return int(events), int(pulls) + int(pushes)


def _add(
    c: sqlite3.Connection, records: Sequence[Record], now: int, max_events: int, events: list[int]
) -> Added:
    recorded: list[Record] = []
    duplicates = placeholders = 0
    with transaction(c):
        c.execute("DELETE FROM placeholders WHERE time < ?", (now - REMEMBER_SECONDS * 1_000_000,))
        for r in records:
            if r.placeholder:
                c.execute(
                    "INSERT OR REPLACE INTO placeholders VALUES (?, ?, ?)",
                    (r.repository, r.digest, now),
                )
                placeholders += 1
                continue
            if r.action == "delete" and r.digest is not None and r.tag is None:
                # Kept until it expires: a second delivery of this delete is dropped too.
                known = c.execute(
                    "SELECT 1 FROM placeholders WHERE repository = ? AND digest = ?",
                    (r.repository, r.digest),
                ).fetchone()
                if known:
                    placeholders += 1
                    continue
            inserted = c.execute(
                "INSERT OR IGNORE INTO events (time, event_id, action, repository, tag, "
                "digest, media_type, actor, addr, user_agent, via) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (r.time, r.id, r.action, r.repository, r.tag, r.digest, r.media_type)
                + (r.actor, r.addr, r.user_agent, r.via),
            ).rowcount
            if not inserted:
                duplicates += 1
                continue
            _move_marks(c, r)
            if r.action != "pull":
                c.execute(
                    "INSERT INTO changed VALUES (?, ?) ON CONFLICT (repository) "
                    "DO UPDATE SET time = MAX(time, excluded.time)",
                    (r.repository, r.time),
                )
            recorded.append(r)
        size = events[0] + len(recorded)
        if size > max_events:
            c.execute(
                "DELETE FROM events WHERE seq IN "
                "(SELECT seq FROM events ORDER BY time, seq LIMIT ?)",
                (size - max_events,),
            )
            size = max_events
    events[0] = size
    return Added(recorded, duplicates, placeholders, size)


def _move_marks(c: sqlite3.Connection, r: Record) -> None:
    if r.action == "pull" and r.digest is not None:
        c.execute(
            "INSERT INTO pulls VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, digest) "
            "DO UPDATE SET time = excluded.time, actor = excluded.actor, via = excluded.via "
            "WHERE excluded.time > pulls.time",
            (r.repository, r.digest, r.time, r.actor, r.via),
        )
    elif r.action == "push" and r.tag is not None:
        c.execute(
            "INSERT INTO pushes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (repository, tag) "
            "DO UPDATE SET digest = excluded.digest, time = excluded.time, "
            "actor = excluded.actor, via = excluded.via WHERE excluded.time > pushes.time",
            (r.repository, r.tag, r.digest, r.time, r.actor, r.via),
        )
    elif r.action == "delete":
        repo = r.repository
        if r.tag is not None:
            c.execute("DELETE FROM pushes WHERE repository = ? AND tag = ?", (repo, r.tag))
        if r.digest is not None:
            c.execute("DELETE FROM pulls WHERE repository = ? AND digest = ?", (repo, r.digest))
            c.execute("DELETE FROM pushes WHERE repository = ? AND digest = ?", (repo, r.digest))
        if r.tag is None and r.digest is None:
            c.execute("DELETE FROM pulls WHERE repository = ?", (repo,))
            c.execute("DELETE FROM pushes WHERE repository = ?", (repo,))


def _scan(c: sqlite3.Connection, where: Filter, before: Cursor | None, limit: int) -> list[Entry]:
    """One batch of the feed. The query names the index that drives it, as the Redis
    store picks its sorted set: the repository's, else the actor's, else the action's,
    else time; the other filters are written ``+column`` so that SQLite (without
    statistics) does not drive by a less selective one. Each driving index ends with
    (time, seq): the rows come in feed order, and ``LIMIT`` stops the walk."""
    clauses: list[str] = []
    params: list[object] = []
    if before is not None:
        clauses.append("(time, seq) < (?, ?)")
        params += [before.time, before.seq]
    if where.since is not None:
        clauses.append("time >= ?")
        params.append(where.since)
    driving = next((col for col in ("repository", "actor", "action") if getattr(where, col)), None)
    for column in ("repository", "actor", "action"):
        value = getattr(where, column)
        if value is not None:
            # column: one of the three names above; the value is bound
            clauses.append(f"{'' if column == driving else '+'}{column} = ?")
            params.append(value)
    if where.allowed is not None:
        # A few repositories: each one's events through its index (then sorted); many:
        # the feed in time order, each row checked against the set.
        few = driving is None and len(where.allowed) <= FEW_REPOSITORIES
        clauses.append(_IN_ALLOWED if few else "+" + _IN_ALLOWED)
        params.append(json.dumps(sorted(where.allowed)))
    sql = f"SELECT {_COLUMNS} FROM events"  # noqa: S608 - fixed names; values are bound
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY time DESC, seq DESC LIMIT ?"
    params.append(limit)
    return [_row_entry(row) for row in c.execute(sql, params)]


def _marks(c: sqlite3.Connection, keys: Sequence[MarkKey]) -> list[Marks]:
    doc = json.dumps([[k.repository, k.tag, k.digest] for k in keys])
    pulled: dict[int, Mark] = {}
    for index, time, actor, via in c.execute(
        "SELECT CAST(j.key AS INTEGER), p.time, p.actor, p.via FROM json_each(?) AS j "
        "JOIN pulls AS p ON p.repository = json_extract(j.value, '$[0]') "
        "AND p.digest = json_extract(j.value, '$[2]')",
        (doc,),
    ):
        pulled[index] = Mark(time, actor, via)
    pushed: dict[int, Mark] = {}
    for index, time, actor, via, digest in c.execute(
        "SELECT CAST(j.key AS INTEGER), p.time, p.actor, p.via, p.digest FROM json_each(?) AS j "
        "JOIN pushes AS p ON p.repository = json_extract(j.value, '$[0]') "
        "AND p.tag = json_extract(j.value, '$[1]')",
        (doc,),
    ):
        pushed[index] = Mark(time, actor, via, digest)
    return [Marks(pulled.get(i), pushed.get(i)) for i in range(len(keys))]
