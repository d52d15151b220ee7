"""gateway.datastore: SQLite files under LR_DATA_DIR, created, versioned, one thread each."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.datastore import Database, SchemaTooNew, StoreUnavailable, transaction

V1 = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"


def _add_column(connection: sqlite3.Connection) -> None:
    connection.execute("ALTER TABLE notes ADD COLUMN author TEXT")


def test_created_with_its_folder_and_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "notes.sqlite3"
    db = Database.open(path, [V1])
    assert db.version == 1
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert (path.stat().st_mode & 0o777) == 0o600
    db.call(lambda c: c.execute("INSERT INTO notes (text) VALUES ('kept')"))
    db.close()

    upgraded = Database.open(path, [V1, _add_column])
    assert upgraded.version == 2
    rows = upgraded.call(lambda c: c.execute("SELECT text, author FROM notes").fetchall())
    assert rows == [("kept", None)]
    upgraded.close()


def test_a_newer_file_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    Database.open(path, [V1, _add_column]).close()
    with pytest.raises(SchemaTooNew, match="schema version 2"):
        Database.open(path, [V1])


def test_a_failed_migration_leaves_the_old_version(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    Database.open(path, [V1]).close()
    with pytest.raises(StoreUnavailable):
        Database.open(path, [V1, "CREATE TABLE extra (x);\nINSERT INTO missing VALUES (1);"])
    db = Database.open(path, [V1])
    assert db.version == 1
    assert db.call(lambda c: c.execute("SELECT name FROM sqlite_master").fetchall()) == [
        ("notes",)
    ]
    db.close()


async def test_run_serialises_calls_on_one_thread_and_wraps_errors(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "notes.sqlite3", [V1])

    def add(text: str) -> Callable[[sqlite3.Connection], None]:
        def write(connection: sqlite3.Connection) -> None:
            with transaction(connection):
                connection.execute("INSERT INTO notes (text) VALUES (?)", (text,))

        return write

    await asyncio.gather(*(db.run(add(str(i))) for i in range(50)))
    assert await db.run(lambda c: c.execute("SELECT count(*) FROM notes").fetchone()[0]) == 50
    with pytest.raises(StoreUnavailable, match="notes.sqlite3"):
        await db.run(lambda c: c.execute("SELECT nope FROM notes"))
    await db.aclose()
    with pytest.raises(StoreUnavailable, match="closed"):
        await db.run(lambda c: None)


def test_an_unwritable_folder_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="data folder"):
        Database.open(blocker / "x.sqlite3", [V1])


def test_a_full_database_says_so(tmp_path: Path) -> None:
    """SQLite rolls a transaction back itself when the disk is full: the error must be
    that, not the failed ROLLBACK that would follow it."""
    db = Database.open(tmp_path / "notes.sqlite3", [V1])

    def fill(connection: sqlite3.Connection) -> None:
        used = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {used + 1}")
        with transaction(connection):
            for _ in range(1000):
                connection.execute("INSERT INTO notes (text) VALUES (?)", ("x" * 1000,))

    with pytest.raises(StoreUnavailable, match="full"):
        db.call(fill)
    assert db.call(lambda c: c.execute("SELECT count(*) FROM notes").fetchone()[0]) == 0
    db.close()
