"""A store that cannot be written or read never fails a read or a notification: the
records are lost, the failure is logged, counted and shown, and the store is used again
as soon as it works. Real failures: a data folder that cannot be made, a full SQLite
file (``max_page_count``), a read-only folder, a stopped Redis, a full Redis."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.activity import Activity, ActivityUnavailable, MarkKey, TagRow
from gateway.activity.records import NO_MARKS
from gateway.activity.sqlite_store import SqliteActivityStore
from gateway.settings import Settings
from gateway.shared_state import store as redis_store_module
from harness.redis_server import RedisProcess
from tests.support.activity import Stores, digest
from tests.support.clock import FakeClock

D1 = digest(1)


def pull(event_id: str, image: str = D1, repository: str = "team/app") -> dict[str, Any]:
    return {
        "id": event_id,
        "timestamp": "2026-12-01T10:00:00Z",
        "action": "pull",
        "target": {
            "repository": repository,
            "digest": image,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "url": f"http://registry/v2/{repository}/manifests/{image}",
        },
        "request": {"method": "GET", "useragent": "docker/27.1", "addr": "10.0.0.5"},
        "actor": {"name": "alice" * 40},  # records of some size, to fill a store sooner
    }


async def _no_rows() -> Any:
    for row in [TagRow("team/app", "1.0", D1)]:
        yield row


async def assert_answers_are_refused(activity: Activity) -> None:
    with pytest.raises(ActivityUnavailable):
        await activity.feed()
    with pytest.raises(ActivityUnavailable):
        await activity.stale(_no_rows(), days=30)
    with pytest.raises(ActivityUnavailable):
        await activity.pulled_within([MarkKey("team/app", "1.0", D1)], 30)


async def test_a_data_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    activity = Activity.open(Settings(data_dir=blocker), clock=FakeClock(), reopen_after=0)
    assert activity.store is None and not activity.healthy
    assert activity.health()["error"] is not None and "data folder" in activity.health()["error"]
    assert await activity.notify([pull("e1")]) == []  # never raises
    assert await activity.marks([MarkKey("team/app", "1.0", D1)]) == [NO_MARKS]
    await assert_answers_are_refused(activity)
    assert activity.errors >= 5
    # The folder can be made now: the next write opens the store and records.
    blocker.unlink()
    assert [r.id for r in await activity.notify([pull("e2")])] == ["e2"]
    assert activity.healthy and activity.health()["store"] == "sqlite"
    await activity.aclose()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
async def test_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o500)
    try:
        activity = Activity.open(Settings(data_dir=folder), clock=FakeClock())
        assert activity.store is None and not activity.healthy
        assert await activity.notify([pull("e1")]) == []
        assert await activity.marks([MarkKey("team/app", None, D1)]) == [NO_MARKS]
    finally:
        folder.chmod(0o700)


async def test_a_full_disk(tmp_path: Path) -> None:
    activity = Activity.open(Settings(data_dir=tmp_path / "data"), clock=FakeClock())
    assert isinstance(activity.store, SqliteActivityStore)
    db = activity.store.db
    assert await activity.notify([pull("kept", image=digest(999))]) != []

    def limit(pages: int | None) -> None:
        def set_limit(conn: sqlite3.Connection) -> None:
            used = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {used + 2 if pages is None else pages}")

        db.call(set_limit)

    limit(None)  # two pages left: "database or disk is full" soon
    lost = 0
    for n in range(200):
        if not await activity.notify([pull(f"e{n}", image=digest(n))]):
            lost += 1
    assert lost > 0 and activity.errors == lost
    assert not activity.healthy and "full" in (activity.last_error or "")
    # Reads go on (the marks of tag rows, the feed); the write failure stays shown.
    (marks,) = await activity.marks([MarkKey("team/app", None, digest(999))])
    assert marks.last_pulled is not None
    assert (await activity.feed(n=1)).events
    assert not activity.healthy
    limit(1_000_000)  # room again: the next write works and clears it
    assert await activity.notify([pull("after", image=digest(1000))])
    assert activity.healthy
    await activity.aclose()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis is asked again at once after a failure (not a second later)."""
    monkeypatch.setattr(redis_store_module, "BACKOFF", 0.0)


async def test_a_stopped_redis(tmp_path: Path, no_backoff: None) -> None:
    server = RedisProcess(tmp_path).start()
    stores = Stores("redis", tmp_path, server.url)
    try:
        activity = await stores.activity(redis_timeout=0.2)
        assert await activity.notify([pull("e1")])
        server.stop()
        assert await activity.notify([pull("e2")]) == []  # never raises
        assert await activity.marks([MarkKey("team/app", None, D1)]) == [NO_MARKS]
        await assert_answers_are_refused(activity)
        assert not activity.healthy and "redis" in (activity.last_error or "")
        assert activity.errors >= 5
        # Redis back (empty: no persistence here): recording goes on, tracking anew.
        server.start()
        stores.clock.advance(days=1)
        assert [r.id for r in await activity.notify([pull("e3")])] == ["e3"]
        assert activity.healthy
        page = await activity.feed()
        assert [e.id for e in page.events] == ["e3"]
        assert page.tracking_since == stores.clock()
    finally:
        await stores.close()
        server.stop()


async def test_a_full_redis(tmp_path: Path, no_backoff: None) -> None:
    server = RedisProcess(tmp_path, maxmemory="2mb").start()
    stores = Stores("redis", tmp_path, server.url)
    try:
        activity = await stores.activity(max_events=1_000_000)
        filled = False
        for batch in range(200):
            events = [pull(f"e{batch}-{i}", image=digest(batch * 100 + i)) for i in range(100)]
            if not await activity.notify(events):
                filled = True
                break
        assert filled and not activity.healthy and "redis" in (activity.last_error or "")
        # Reads still answer.
        (marks,) = await activity.marks([MarkKey("team/app", None, digest(0))])
        assert marks.last_pulled is not None
        assert len((await activity.feed(n=5)).events) == 5
    finally:
        await stores.close()
        server.stop()
