"""State kept on disk: SQLite databases under ``LR_DATA_DIR``, each schema-versioned.

Every feature that keeps state of its own (content by digest, layer indexes, activity,
the search index) opens one database file in the data folder through ``Database.open``
and never builds a file path from anything a registry or a caller sent: keys (digests,
repository names, paths inside layers) are column values, never file names.

- **Created on first start.** The folder is made (mode 0700) when the first database is
  opened; nothing needs to be installed (SQLite is in the standard library).
- **Schema versioned.** A database records its version in SQLite's ``user_version``.
  ``migrations[i]`` takes a database from version ``i`` to ``i + 1`` (a script or a
  function), all pending ones in one transaction; a file written by a newer release is
  refused (``SchemaTooNew``) rather than read wrongly.
- **One thread per database.** SQLite calls block: ``await db.run(fn)`` runs
  ``fn(connection)`` on the database's own thread, so calls are serialised, the event
  loop never waits on the disk, and the connection is only ever used by that thread.
- **Failures are one type.** ``StoreUnavailable`` (a ``GatewayError``-free exception:
  callers decide whether a failure fails a request or is only logged and counted) wraps
  every ``sqlite3`` and ``OSError`` failure: a full disk, a read-only folder, a corrupt
  file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
Migration = str | Callable[[sqlite3.Connection], None]


class StoreUnavailable(Exception):
    """The database could not be opened, read or written (disk full, permissions,
    corruption); the message says which file and why."""


class SchemaTooNew(StoreUnavailable):
    """The file was written by a newer release (its schema version is unknown here)."""


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception, unless SQLite
    rolled back already: it does on a full disk, and a second ``ROLLBACK`` would raise
    "no transaction is active" in place of "database or disk is full")."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def ensure_data_dir(path: Path) -> Path:
    """The data folder, created (0700) if missing; ``StoreUnavailable`` if it cannot be."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create the data folder {path}: {exc.strerror}") from None
    if not path.is_dir():
        raise StoreUnavailable(f"the data folder {path} is not a folder")
    return path


class Database:
    """One SQLite file, its schema brought up to date, used from one thread."""

    def __init__(self, path: Path, connection: sqlite3.Connection, pool: ThreadPoolExecutor):
        self.path = path
        self._connection = connection
        self._pool = pool
        self._closed = False

    @classmethod
    def open(cls, path: Path, migrations: Sequence[Migration]) -> Database:
        """Open (creating it and its folder if needed) and migrate; blocking, so call it
        at start-up or through ``asyncio.to_thread``."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.stem}")
        try:
            connection = pool.submit(_connect, path, migrations).result()
        except BaseException:
            pool.shutdown(wait=False)
            raise
        return cls(path, connection, pool)

    @property
    def version(self) -> int:
        return self.call(_user_version)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on this database's thread; SQLite and disk failures raise
        ``StoreUnavailable``. ``fn`` should commit what it writes (``with connection:``)."""
        if self._closed:
            raise StoreUnavailable(f"{self.path.name} is closed")
        future = self._pool.submit(_guarded, self.path, fn, self._connection)
        return await asyncio.wrap_future(future)

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``run`` for code outside the event loop (start-up, tests, scripts): blocks."""
        if self._closed:
            raise StoreUnavailable(f"{self.path.name} is closed")
        return self._pool.submit(_guarded, self.path, fn, self._connection).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.submit(self._connection.close).result()
        self._pool.shutdown(wait=True)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


class UnusableDatabase(Database):
    """What stands for a database that could not be opened (a data folder that cannot be
    created, a full disk, a newer schema): every call raises ``StoreUnavailable`` with
    the reason, so the feature built on it answers 503 while the rest of the gateway
    runs."""

    def __init__(self, path: Path, reason: str) -> None:  # no connection, no thread
        self.path = path
        self.reason = reason
        self._closed = True

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise StoreUnavailable(self.reason)

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise StoreUnavailable(self.reason)

    def close(self) -> None:
        return None


def _connect(path: Path, migrations: Sequence[Migration]) -> sqlite3.Connection:
    ensure_data_dir(path.parent)
    try:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"cannot open {path}: {exc}") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        connection.execute("PRAGMA foreign_keys=ON")
        _migrate(path, connection, migrations)
    except sqlite3.Error as exc:
        connection.close()
        raise StoreUnavailable(f"cannot use {path}: {exc}") from None
    except BaseException:
        connection.close()
        raise
    with suppress(OSError):  # a file system without modes; the folder is 0700 already
        path.chmod(0o600)
    return connection


def _user_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def _migrate(path: Path, connection: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    current = _user_version(connection)
    if current > len(migrations):
        raise SchemaTooNew(
            f"{path} has schema version {current}; this release knows up to "
            f"{len(migrations)}: run the newer release, or move the file away to start afresh"
        )
    if current == len(migrations):
        return
    with transaction(connection):
        for step in migrations[current:]:
            if isinstance(step, str):
                for statement in _statements(step):
                    connection.execute(statement)
            else:
                step(connection)
        # PRAGMA takes no parameters; the value is an int computed here.
        connection.execute(f"PRAGMA user_version = {len(migrations):d}")


def _statements(script: str) -> list[str]:
    """A migration script split into statements (``executescript`` would commit the
    transaction the migrations run in)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buffer.strip()[:60]!r}")
    return out


def _guarded(
    path: Path, fn: Callable[[sqlite3.Connection], T], connection: sqlite3.Connection
) -> T:
    try:
        return fn(connection)
    except sqlite3.Error as exc:
        if connection.in_transaction:
            with suppress(sqlite3.Error):
                connection.rollback()
        raise StoreUnavailable(f"{path.name}: {exc}") from None
    except OSError as exc:
        raise StoreUnavailable(f"{path.name}: {exc.strerror or exc}") from None
