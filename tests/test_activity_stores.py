"""gateway.activity stores, SQLite and Redis alike (a real Redis: tests/support).

Each test runs twice through ``activity_stores``: once on an SQLite file in a tmp
folder, once on the session's Redis under a key prefix of its own.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.activity import paging
from gateway.activity.placeholder import placeholder_for
from gateway.activity.records import Cursor, Filter, MarkKey, format_time
from gateway.activity.redis_store import RedisActivityStore
from gateway.activity.sqlite_store import SqliteActivityStore
from tests.support.activity import Stores, digest, rec

D1, D2, D3 = digest(1), digest(2), digest(3)


async def listed(stores: Stores, **filters: object) -> list[str]:
    """Every record id the feed lists, newest first, walking pages of 3."""
    activity = await stores.activity()
    ids: list[str] = []
    last = None
    while True:
        page = await activity.feed(n=3, last=last, **filters)  # type: ignore[arg-type]
        ids += [r.id for r in page.events]
        if page.next is None:
            return ids
        last = page.next


async def test_a_record_delivered_twice_is_kept_once(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    first = await store.add([rec(1, image=1), rec(1, image=1)], activity_stores.clock())
    assert [r.id for r in first.recorded] == ["ev-1"] and first.duplicates == 1
    again = await store.add([rec(1, image=1)], activity_stores.clock())
    assert again.recorded == [] and again.duplicates == 1 and again.size == 1
    assert await listed(activity_stores) == ["ev-1"]


async def test_the_feed_is_newest_first_by_event_time(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    # Delivered out of order (a retry arrives late): listed by when it happened.
    await activity_stores.add(store, [rec(3, image=3), rec(1, image=1), rec(2, image=2)])
    assert await listed(activity_stores) == ["ev-3", "ev-2", "ev-1"]


async def test_records_of_the_same_microsecond_page_without_loss(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    moment = activity_stores.clock()
    await activity_stores.add(store, [rec(i, image=i, time=moment) for i in range(10)])
    ids = await listed(activity_stores)
    assert sorted(ids) == sorted(f"ev-{i}" for i in range(10))
    assert ids == [f"ev-{i}" for i in reversed(range(10))]  # ties: the later write first


async def test_bounded_oldest_first_while_marks_are_kept(activity_stores: Stores) -> None:
    store = await activity_stores.open(max_events=5)
    await activity_stores.add(store, [rec(1, "pull", image=1), rec(2, "push", tag="1.0", image=1)])
    added = await store.add([rec(n, image=100 + n) for n in range(3, 10)], activity_stores.clock())
    assert added.size == 5
    assert await listed(activity_stores) == [f"ev-{n}" for n in range(9, 4, -1)]
    # A late record older than everything kept is dropped at once, not kept instead.
    await activity_stores.add(store, [rec(0, image=50)])
    assert "ev-0" not in await listed(activity_stores)
    # The pull and the push have left the feed; their marks have not.
    (marks,) = await store.marks([MarkKey("team/app", "1.0", D1)])
    assert marks.last_pulled is not None and marks.last_pulled.actor == "alice"
    assert marks.last_pushed is not None and marks.last_pushed.digest == D1
    assert (await store.size())[0] == 5


async def test_marks_move_forward_only(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    await activity_stores.add(store, [rec(5, image=1, actor="new")])
    await activity_stores.add(store, [rec(1, image=1, actor="old")])  # older, delivered later
    (marks,) = await store.marks([MarkKey("team/app", None, D1)])
    assert marks.last_pulled is not None and marks.last_pulled.actor == "new"
    await activity_stores.add(store, [rec(6, "push", tag="1.0", image=2, via="gateway")])
    (marks,) = await store.marks([MarkKey("team/app", "1.0", D1)])
    assert marks.last_pushed is not None
    assert (marks.last_pushed.digest, marks.last_pushed.via) == (D2, "gateway")


async def test_deletes_drop_the_marks_they_remove(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    c = activity_stores.clock
    await activity_stores.add(
        store,
        [
            rec(1, "push", tag="a", image=1, clock=c),
            rec(2, "push", tag="b", image=1, clock=c),
            rec(3, "push", tag="c", image=2, clock=c),
            rec(4, "pull", image=1, clock=c),
            rec(5, "pull", image=2, clock=c),
            rec(6, "push", tag="a", image=1, repository="team/other", clock=c),
            rec(7, "pull", image=1, repository="team/other", clock=c),
        ],
    )
    keys = [MarkKey("team/app", t, d) for t, d in (("a", D1), ("b", D1), ("c", D2))]
    keys.append(MarkKey("team/other", "a", D1))

    async def kept() -> list[tuple[bool, bool]]:
        found = await store.marks(keys)
        return [(m.last_pulled is not None, m.last_pushed is not None) for m in found]

    assert await kept() == [(True, True)] * 4
    await activity_stores.add(store, [rec(8, "delete", tag="c", clock=c)])  # a tag delete
    assert await kept() == [(True, True), (True, True), (True, False), (True, True)]
    # A delete by digest: its pull, and the tags last pushed as it (not another repo's).
    await activity_stores.add(store, [rec(9, "delete", image=1, clock=c)])
    assert await kept() == [(False, False), (False, False), (True, False), (True, True)]
    # A repository delete (neither tag nor digest): everything of that repository only.
    await activity_stores.add(store, [rec(10, "delete", clock=c)])
    assert await kept() == [(False, False), (False, False), (False, False), (True, True)]


async def test_the_placeholder_of_a_2x_tag_delete_is_one_delete(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    p = placeholder_for("team/app", "old").digest
    await activity_stores.add(store, [rec(1, "push", tag="old", image=7)])
    added = await store.add(
        [
            replace(rec(2, "push", tag="old"), digest=p, placeholder=True),
            replace(rec(3, "delete"), digest=p),  # the delete by digest
            rec(4, "delete", tag="old"),  # and the tag it removed
        ],
        activity_stores.clock(),
    )
    assert [r.id for r in added.recorded] == ["ev-4"] and added.placeholders == 2
    assert await listed(activity_stores) == ["ev-4", "ev-1"]
    # The placeholder never became the tag's last push; the tag's delete dropped it.
    (marks,) = await store.marks([MarkKey("team/app", "old", p)])
    assert marks.last_pushed is None
    # The registry delivering the digest's delete again changes nothing either.
    again = replace(rec(3, "delete"), digest=p, id="ev-3-retry")
    assert (await store.add([again], activity_stores.clock())).placeholders == 1
    # A day later the placeholder is forgotten: a delete of that digest is a delete.
    activity_stores.clock.advance(days=2)
    late = replace(again, id="ev-5")
    assert [r.id for r in (await store.add([late], activity_stores.clock())).recorded] == ["ev-5"]


async def test_records_survive_a_restart_or_show_on_another_replica(
    activity_stores: Stores,
) -> None:
    first = await activity_stores.open()
    await activity_stores.add(first, [rec(1, image=1), rec(2, "push", tag="1.0", image=1)])
    since = await first.tracking_since(activity_stores.clock())
    if isinstance(first, SqliteActivityStore):
        await first.aclose()  # a restart; for Redis, the second store is another replica
    activity_stores.clock.advance(days=3)
    second = await activity_stores.open()
    assert await second.tracking_since(activity_stores.clock()) == since
    assert second.origin == first.origin
    assert await listed(activity_stores) == ["ev-2", "ev-1"]
    (marks,) = await second.marks([MarkKey("team/app", "1.0", D1)])
    assert marks.last_pulled is not None and marks.last_pushed is not None
    # Duplicates are still recognised after it.
    assert (await second.add([rec(1, image=1)], activity_stores.clock())).duplicates == 1


async def test_filters(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    c = activity_stores.clock
    await activity_stores.add(
        store,
        [
            rec(1, "push", tag="1", image=1, actor="alice", clock=c),
            rec(2, "pull", image=1, actor="bob", clock=c),
            rec(3, "pull", image=1, actor="alice", repository="team/other", clock=c),
            rec(4, "delete", tag="1", actor="alice", clock=c),
            rec(5, "pull", image=1, actor=None, clock=c),
        ],
    )
    assert await listed(activity_stores, repository="team/app") == ["ev-5", "ev-4", "ev-2", "ev-1"]
    assert await listed(activity_stores, action="pull") == ["ev-5", "ev-3", "ev-2"]
    assert await listed(activity_stores, actor="alice") == ["ev-4", "ev-3", "ev-1"]
    assert await listed(activity_stores, repository="team/app", actor="alice") == ["ev-4", "ev-1"]
    assert await listed(activity_stores, action="pull", actor="alice") == ["ev-3"]
    since = c.us + 3 * 1_000_000
    assert await listed(activity_stores, since=format_time(since)) == ["ev-5", "ev-4", "ev-3"]
    assert await listed(activity_stores, repository="nobody/here") == []


def _visible_to(allowed: set[str], asked: list[frozenset[str]]) -> paging.Visible:
    async def visible(names: frozenset[str]) -> set[str]:
        asked.append(names)
        return names & allowed

    return visible


async def test_paging_under_rights(
    activity_stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await activity_stores.open()
    repos = ["team/a", "team/b", "team/c", "secret/x"]
    c = activity_stores.clock
    await activity_stores.add(
        store, [rec(i, image=i, repository=repos[i % 4], clock=c) for i in range(40)]
    )
    allowed = {"team/a", "secret/x"}
    expected = [f"ev-{i}" for i in reversed(range(40)) if repos[i % 4] in allowed]
    # The rights as a set (a store applies it in place), of a few repositories or many …
    assert await listed(activity_stores, allowed=frozenset(allowed)) == expected
    many = frozenset(allowed | {f"team/none{i}" for i in range(20)})
    assert await listed(activity_stores, allowed=many) == expected
    # … as a predicate, asked once per repository per page, a batch of names at a time …
    asked: list[frozenset[str]] = []
    assert await listed(activity_stores, visible=_visible_to(allowed, asked)) == expected
    assert all(len(names) <= 4 for names in asked)
    # … with a filter that matches rarely: short pages with a next, nothing lost.
    monkeypatch.setattr(paging, "SCAN_BUDGET", 5)
    monkeypatch.setattr(paging, "MIN_BATCH", 5)
    rare = _visible_to({"secret/x"}, [])
    activity = await activity_stores.activity()
    pages = []
    last = None
    while True:
        page = await activity.feed(n=3, last=last, visible=rare)
        pages.append([r.id for r in page.events])
        if page.next is None:
            break
        last = page.next
    assert [i for p in pages for i in p] == [f"ev-{i}" for i in reversed(range(40)) if i % 4 == 3]
    assert any(len(p) < 3 for p in pages[:-1])  # the budget ended some pages early
    assert await listed(activity_stores, allowed=frozenset()) == []
    hidden = await listed(activity_stores, repository="team/b", allowed=frozenset(allowed))
    assert hidden == []
    assert await listed(activity_stores, repository="team/a", allowed=frozenset(allowed)) == [
        f"ev-{i}" for i in reversed(range(40)) if i % 4 == 0
    ]


async def test_scan_from_a_cursor(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    await activity_stores.add(store, [rec(i, image=i) for i in range(5)])
    first = await store.scan(Filter(), None, 2)
    assert [e.record.id for e in first.entries] == ["ev-4", "ev-3"] and not first.exhausted
    assert first.last is not None
    rest = await store.scan(Filter(), first.last, 10)
    assert [e.record.id for e in rest.entries] == ["ev-2", "ev-1", "ev-0"] and rest.exhausted
    assert (await store.scan(Filter(), Cursor(0, 0), 10)).entries == []


async def test_marks_of_a_thousand_rows_in_one_round_trip(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    c = activity_stores.clock
    records = [rec(i, "push", tag=f"t{i}", image=i, clock=c) for i in range(0, 1000, 2)]
    records += [rec(1000 + i, "pull", image=i, clock=c) for i in range(0, 1000, 3)]
    await activity_stores.add(store, records)
    keys = [MarkKey("team/app", f"t{i}", digest(i)) for i in range(1000)]
    statements: list[str] = []
    if isinstance(store, SqliteActivityStore):
        store.db.call(lambda conn: conn.set_trace_callback(statements.append))
    calls = store.store.calls if isinstance(store, RedisActivityStore) else 0
    found = await store.marks(keys)
    if isinstance(store, SqliteActivityStore):
        store.db.call(lambda conn: conn.set_trace_callback(None))
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    else:
        assert store.store.calls - calls == 1  # one pipeline
    assert [m.last_pushed is not None for m in found] == [i % 2 == 0 for i in range(1000)]
    assert [m.last_pulled is not None for m in found] == [i % 3 == 0 for i in range(1000)]
    assert found[0].last_pushed is not None and found[0].last_pushed.digest == digest(0)
    assert await store.marks([]) == []
    # Rows without a tag or digest ask for nothing of that kind.
    (bare,) = await store.marks([MarkKey("team/app", None, None)])
    assert bare.last_pulled is None and bare.last_pushed is None


async def test_tracking_since_is_set_on_creation(activity_stores: Stores) -> None:
    created = activity_stores.clock()
    store = await activity_stores.open()
    await activity_stores.add(store, [rec(1, image=1)])
    activity_stores.clock.advance(days=1)
    assert await store.tracking_since(activity_stores.clock()) == created


def test_sqlite_schema_is_versioned(tmp_path: Path) -> None:
    folder = tmp_path
    store = SqliteActivityStore.open(folder, max_events=10, now=0)
    assert store.db.version == 2
    store.db.close()
    with sqlite3.connect(folder / "activity.sqlite3") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"events", "pulls", "pushes", "placeholders", "meta", "changed"} <= tables


async def test_each_repository_s_newest_change(activity_stores: Stores) -> None:
    store = await activity_stores.open()
    t0 = activity_stores.clock()
    records = [
        rec(1, "push", tag="1.0", image=1, time=t0 + 1),
        rec(2, "pull", image=1, time=t0 + 50),  # not a change
        rec(3, "delete", tag="0.9", time=t0 + 20),
        rec(4, "push", repository="team/other", tag="1", image=2, time=t0 + 5),
        rec(5, "push", tag="0.8", image=3, time=t0 + 10),  # older than the delete
    ]
    await activity_stores.add(store, records)
    found = await store.changed(["team/app", "team/other", "team/none", "team/app"])
    assert found == {"team/app": t0 + 20, "team/other": t0 + 5}
    assert await store.changed([]) == {}
    again = await activity_stores.open()  # a restart, or another replica
    assert await again.changed(["team/app"]) == {"team/app": t0 + 20}


def test_sqlite_v1_files_are_migrated_with_their_changes(tmp_path: Path) -> None:
    from gateway.activity.sqlite_store import V1
    from gateway.datastore import Database

    db = Database.open(tmp_path / "activity.sqlite3", [V1])
    db.call(
        lambda c: c.executemany(
            "INSERT INTO events (time, event_id, action, repository, via) VALUES (?, ?, ?, ?, ?)",
            [(5, "a", "push", "r/a", "registry"), (9, "b", "pull", "r/a", "registry")],
        )
    )
    db.close()
    store = SqliteActivityStore.open(tmp_path, max_events=10, now=0)
    assert store.db.version == 2
    assert store.db.call(lambda c: c.execute("SELECT * FROM changed").fetchall()) == [("r/a", 5)]
    store.db.close()
