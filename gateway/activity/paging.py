"""Pages of the activity feed and of the stale report, under the caller's rights.

The caller's rights are decided elsewhere (the cached registry view, which confirms
pull access with the registry); here they come in one of two forms:

- ``allowed``: the set of repositories the caller may pull, when the view knows it. A
  store applies it in place (SQLite: one ``IN``), so a page costs what it lists.
- ``visible``: an async predicate over a batch of repository names, answering the
  subset the caller may pull. Asked once per name per page, for the names of a whole
  batch at once (so the view can confirm them concurrently).

Paging stays correct under either: a page holds the first ``n`` records the caller may
see after ``last``, and ``next`` is the cursor of its last record (null when nothing the
caller may see is left). A filter that matches rarely cannot make one request walk the
whole store: after ``SCAN_BUDGET`` records looked at, the page ends early with what it
found and a ``next`` that continues where the walk stopped — a short page with a
``next`` means "more may follow", an empty one included.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.activity.records import (
    Cursor,
    Entry,
    Filter,
    MarkKey,
    Marks,
    Record,
    days_ago,
    format_time,
    verdict,
)

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from gateway.activity.store import ActivityStore

Visible = Callable[[frozenset[str]], Awaitable["AbstractSet[str]"]]

SCAN_BUDGET = 10_000  # records one feed page may look at
MAX_PAGE = 1000
MIN_BATCH = 200  # records read per store call when a predicate may reject many


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[Record]
    next: str | None
    tracking_since: int

    def api(self) -> dict[str, Any]:
        return {
            "events": [r.api() for r in self.events],
            "next": self.next,
            "tracking_since": format_time(self.tracking_since),
        }


async def feed_page(
    store: ActivityStore,
    where: Filter,
    *,
    n: int,
    last: Cursor | None,
    visible: Visible | None,
    now: int,
) -> FeedPage:
    """The records of one page, newest first (see the module's docstring)."""
    n = max(1, min(n, MAX_PAGE))
    if where.allowed is not None and where.repository not in (None, *where.allowed):
        return FeedPage([], None, await store.tracking_since(now))  # asked for a hidden one
    decided: dict[str, bool] = {}
    found: list[Entry] = []
    before = last
    scanned = 0
    # When the store applies every filter and there is no predicate, each entry it
    # returns is listed: n + 1 says if more follow. Otherwise read larger batches.
    exact = visible is None and store.filters_in_place
    batch = n + 1 if exact else max(n + 1, MIN_BATCH)
    while True:
        scan = await store.scan(where, before, batch)
        scanned += scan.scanned
        if visible is not None:
            unknown = frozenset(e.record.repository for e in scan.entries) - decided.keys()
            if unknown:
                yes = await visible(unknown)
                decided.update((name, name in yes) for name in unknown)
        for entry in scan.entries:
            if visible is None or decided[entry.record.repository]:
                found.append(entry)
                if len(found) > n:
                    return FeedPage(
                        [e.record for e in found[:n]],
                        found[n - 1].cursor.text(),
                        await store.tracking_since(now),
                    )
        if scan.exhausted or scan.last is None:
            return FeedPage([e.record for e in found], None, await store.tracking_since(now))
        before = scan.last
        if scanned >= SCAN_BUDGET:
            return FeedPage(
                [e.record for e in found], before.text(), await store.tracking_since(now)
            )


@dataclass(frozen=True, slots=True)
class TagRow:
    """A tag as the view lists it (the report's rows come from the registry: tags
    pushed before tracking began are in it too)."""

    repository: str
    tag: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class StaleTag:
    repository: str
    tag: str
    digest: str | None
    marks: Marks
    exclusive_bytes: int | None = None

    def api(self) -> dict[str, Any]:
        pulled, pushed = self.marks.last_pulled, self.marks.last_pushed
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "last_pulled": None if pulled is None else pulled.api(),
            "last_pushed": None if pushed is None else pushed.api(),
            "exclusive_bytes": self.exclusive_bytes,
        }


@dataclass(frozen=True, slots=True)
class StalePage:
    tags: list[StaleTag]
    next: TagRow | None  # the last row listed, when more may follow
    tracking_since: int


#: Fills ``exclusive_bytes`` of a page's rows (the storage accounting knows them).
Sizes = Callable[[Sequence[StaleTag]], Awaitable[Sequence[int | None]]]
STALE_BATCH = 500


async def stale_page(
    store: ActivityStore,
    tags: AsyncIterable[TagRow],
    *,
    days: float,
    n: int,
    now: int,
    sizes: Sizes | None = None,
) -> StalePage:
    """The first ``n`` of ``tags`` (in the view's order, starting after the client's
    ``last``) whose image was not pulled in ``days`` days (``Pulled.stale``): never
    pulled since ``tracking_since`` counts as not pulled; a tag pushed within the days
    is too new to be stale. Marks are read ``STALE_BATCH`` rows per store call. Raises
    ``ActivityUnavailable``: a report built on a failed read would call everything
    stale."""
    n = max(1, min(n, MAX_PAGE))
    cutoff = days_ago(now, days)
    since = await store.tracking_since(now)
    found: list[StaleTag] = []
    pending: list[TagRow] = []

    async def drain() -> bool:
        marks = await store.marks([MarkKey(t.repository, t.tag, t.digest) for t in pending])
        for row, mark in zip(pending, marks, strict=True):
            if verdict(mark, cutoff=cutoff, tracking_since=since).stale:
                found.append(StaleTag(row.repository, row.tag, row.digest, mark))
        pending.clear()
        return len(found) > n

    more = False
    async for row in tags:
        pending.append(row)
        if len(pending) >= STALE_BATCH and await drain():
            more = True
            break
    if not more and pending:
        more = await drain()
    page = found[:n]
    if sizes is not None and page:
        page = [
            StaleTag(t.repository, t.tag, t.digest, t.marks, size)
            for t, size in zip(page, await sizes(page), strict=True)
        ]
    last = TagRow(page[-1].repository, page[-1].tag, page[-1].digest) if more else None
    return StalePage(page, last, since)
