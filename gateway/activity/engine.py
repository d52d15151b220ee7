"""``Activity``: the one object the gateway holds to record and answer activity.

Its methods are split by what a failure of the store may do to the caller, so that the
wiring cannot get it wrong:

- **Never raise** — ``notify`` (the notification endpoint, after its cache
  invalidation), ``record`` (a write made through the gateway) and ``marks`` (the
  ``last_pulled``/``last_pushed`` of tag rows and image details). A store that cannot
  be written or read is logged (once, when it goes down, and when it is back), counted
  (``errors``), and shown by ``healthy``/``health()``; ``marks`` then answers no marks
  and the page it decorates is served as usual.
- **Raise ``ActivityUnavailable``** — ``feed``, ``stale`` and ``pulled_within``: their
  answer *is* the activity, and a guess would be wrong in a harmful way (an empty feed,
  every tag stale, a retention rule deleting what was pulled yesterday). The wiring
  answers 503 for the first two and keeps every tag for the third.

Without a store (its file could not be opened at start: a read-only or full folder)
the gateway still starts; every call counts as a failure, and opening is tried again at
most every ``REOPEN_SECONDS``.

The clock is injected (µs since the epoch): tests move it, never sleep on it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.activity import agent
from gateway.activity.classify import SKIP_REASONS, classify_all, gateway_record
from gateway.activity.paging import (
    FeedPage,
    Sizes,
    StalePage,
    TagRow,
    Visible,
    feed_page,
    stale_page,
)
from gateway.activity.records import (
    ACTIONS,
    NO_MARKS,
    VIAS,
    Action,
    ActivityUnavailable,
    Cursor,
    Filter,
    MarkKey,
    Marks,
    Pulled,
    Record,
    days_ago,
    format_time,
    parse_time,
    to_us,
    verdict,
)
from gateway.errors import InvalidRequest

if TYPE_CHECKING:
    from gateway.activity.store import ActivityStore
    from gateway.settings import Settings
    from gateway.shared_state.store import RedisStore

log = logging.getLogger("gateway.activity")
REOPEN_SECONDS = 30.0
SIZE_REFRESH_SECONDS = 60.0
Clock = Callable[[], int]


def now_us() -> int:
    return time.time_ns() // 1000


def _bad(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(
        message, detail=[{"loc": ["query", field], "msg": message, "type": "value_error"}]
    )


class Activity:
    def __init__(
        self,
        store: ActivityStore | None,
        *,
        origin: str,
        clock: Clock = now_us,
        opener: Callable[[], ActivityStore] | None = None,
        error: str | None = None,
        reopen_after: float = REOPEN_SECONDS,
    ) -> None:
        self.store = store
        #: This gateway's name in its upstream ``User-Agent``: fixed for the process.
        self.origin = origin
        self.clock = clock
        self._opener = opener
        self._reopen_after = reopen_after
        self._last_open = time.monotonic()
        # What the last write and the last read met: a full disk still reads, so a
        # read that works must not hide a write that does not (a write that works
        # clears both: the store is back).
        self._write_error: str | None = error
        self._read_error: str | None = None
        if error is not None:
            log.warning("activity store unavailable: %s", error)
        # Plain counters, read by the metrics collector at scrape time.
        self.recorded: Counter[tuple[str, str]] = Counter()
        self.skipped: Counter[str] = Counter()
        self.duplicates = 0
        self.placeholders = 0
        self.errors = 0 if error is None else 1
        self.events = 0  # records in the feed, as of the last write or refresh
        self.marks_kept = 0
        self._sized = 0.0

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        shared: RedisStore | None = None,
        clock: Clock = now_us,
        reopen_after: float = REOPEN_SECONDS,
    ) -> Activity:
        """The store ``settings`` asks for: Redis with ``LR_REDIS_URL`` (``shared`` is
        the gateway's ``RedisStore``), else SQLite under ``LR_DATA_DIR`` (opened here:
        blocking, so call it at start-up). Never raises for a store that cannot be used."""
        from gateway.activity.redis_store import RedisActivityStore, origin_from_key
        from gateway.activity.sqlite_store import SqliteActivityStore

        keys = settings.secret_keys
        keyed = origin_from_key(keys[0]) if keys is not None else None
        max_events = settings.activity_max_events
        if settings.redis_url is not None:
            if shared is None or keyed is None:
                raise ValueError(
                    "LR_REDIS_URL is set: the Redis store and LR_SECRET_KEY are needed"
                )
            store = RedisActivityStore(shared, origin=keyed, max_events=max_events)
            return cls(store, origin=keyed, clock=clock)

        def opener() -> SqliteActivityStore:
            return SqliteActivityStore.open(
                settings.data_dir, max_events=max_events, now=clock(), origin=keyed
            )

        try:
            sqlite = opener()
        except ActivityUnavailable as exc:
            origin = keyed or secrets.token_hex(16)
            return cls(
                None,
                origin=origin,
                clock=clock,
                opener=opener,
                error=str(exc),
                reopen_after=reopen_after,
            )
        activity = cls(
            sqlite, origin=sqlite.origin, clock=clock, opener=opener, reopen_after=reopen_after
        )
        activity.events, activity.marks_kept = sqlite.opened_size
        return activity

    # -- the store, its health -----------------------------------------------------------

    async def _store(self) -> ActivityStore:
        if self.store is not None:
            if not self.store.usable:
                raise ActivityUnavailable(f"{self.store.kind}: backing off after a failure")
            return self.store
        if self._opener is None or time.monotonic() - self._last_open < self._reopen_after:
            raise ActivityUnavailable(self.last_error or "the activity store is not open")
        self._last_open = time.monotonic()
        self.store = await asyncio.to_thread(self._opener)
        return self.store

    @property
    def healthy(self) -> bool:
        """Whether the last write and the last read of the store worked."""
        return self._write_error is None and self._read_error is None

    @property
    def last_error(self) -> str | None:
        return self._write_error or self._read_error

    def _failed(self, exc: ActivityUnavailable, *, write: bool = False) -> None:
        self.errors += 1
        if self.healthy:
            log.warning("activity store unavailable: %s", exc)
        if write:
            self._write_error = str(exc)
        else:
            self._read_error = str(exc)

    def _ok(self, *, write: bool = False) -> None:
        was = self.healthy
        self._read_error = None
        if write:
            self._write_error = None
        if self.healthy and not was:
            log.warning("activity store available again")

    def user_agent(self, version: str, request_id: str | None = None) -> str:
        """The ``User-Agent`` for upstream requests (see ``gateway.activity.agent``)."""
        return agent.user_agent(version, origin=self.origin, request_id=request_id)

    def health(self) -> dict[str, Any]:
        """What ``/api/health`` shows of the activity store."""
        return {
            "store": None if self.store is None else self.store.kind,
            "healthy": self.healthy,
            "error": self.last_error,
            "records": self.events,
        }

    # -- recording: never raises -------------------------------------------------------

    async def notify(self, events: object) -> list[Record]:
        """Record what an envelope's ``events`` list says (``classify``); the records
        written. Never raises."""
        records, skipped = classify_all(events, origin=self.origin, now=self.clock())
        for s in skipped:
            self.skipped[s.reason] += 1
        return await self.record(records)

    def made(self, action: Action, repository: str, **fields: Any) -> Record:
        """A record of a write (or ``/v2`` pull) made through the gateway, dated now
        (``classify.gateway_record``'s fields: tag, digest, media_type, actor, addr,
        user_agent)."""
        return gateway_record(action, repository, time=self.clock(), **fields)

    async def record(self, records: Sequence[Record]) -> list[Record]:
        """Write records; the ones written (duplicates and placeholders are not).
        Never raises: a failure is logged and counted, and the records are lost."""
        if not records:
            return []
        try:
            store = await self._store()
            added = await store.add(records, self.clock())
        except ActivityUnavailable as exc:
            self._failed(exc, write=True)
            return []
        self._ok(write=True)
        for r in added.recorded:
            self.recorded[(r.action, r.via)] += 1
        self.duplicates += added.duplicates
        self.placeholders += added.placeholders
        self.events = added.size
        if time.monotonic() - self._sized >= SIZE_REFRESH_SECONDS:
            await self.refresh_size()
        return added.recorded

    async def refresh_size(self) -> None:
        """Read the store's size (records, marks) for the metrics. Never raises."""
        self._sized = time.monotonic()
        try:
            store = await self._store()
            self.events, self.marks_kept = await store.size()
        except ActivityUnavailable as exc:
            self._failed(exc)

    # -- decorating other answers: never raises -----------------------------------------

    async def marks(self, keys: Sequence[MarkKey]) -> list[Marks]:
        """``last_pulled``/``last_pushed`` of a page of rows, in one round trip (or
        query) per kind. No marks at all when the store cannot be read."""
        if not keys:
            return []
        try:
            store = await self._store()
            found = await store.marks(keys)
        except ActivityUnavailable as exc:
            self._failed(exc)
            return [NO_MARKS] * len(keys)
        self._ok()
        return found

    async def changed(self, repositories: Sequence[str]) -> dict[str, str]:
        """Each repository's newest push or delete (RFC 3339), for repository rows'
        ``last_changed``. Nothing when the store cannot be read; never raises."""
        if not repositories:
            return {}
        try:
            store = await self._store()
            found = await store.changed(repositories)
        except ActivityUnavailable as exc:
            self._failed(exc)
            return {}
        self._ok()
        return {repo: format_time(t) for repo, t in found.items()}

    # -- answers that are the activity: raise ActivityUnavailable ------------------------

    async def feed(
        self,
        *,
        repository: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: str | datetime | None = None,
        n: int = 50,
        last: str | None = None,
        allowed: frozenset[str] | None = None,
        visible: Visible | None = None,
    ) -> FeedPage:
        """``GET /api/activity``: newest first, under the caller's rights (``allowed``
        and/or ``visible``: see ``gateway.activity.paging``). Bad ``action``, ``since``
        or ``last`` → ``InvalidRequest`` (400)."""
        if action is not None and action not in ACTIONS:
            raise _bad("action", "action must be push, pull or delete")
        since_us: int | None = None
        if isinstance(since, datetime):
            since_us = to_us(since)
        elif since is not None:
            since_us = parse_time(since)
            if since_us is None:
                raise _bad("since", "since must be an RFC 3339 time")
        cursor = None if last is None else Cursor.parse(last)
        where = Filter(repository, action, actor, since_us, allowed)
        try:
            store = await self._store()
            page = await feed_page(
                store, where, n=n, last=cursor, visible=visible, now=self.clock()
            )
        except ActivityUnavailable as exc:
            self._failed(exc)
            raise
        self._ok()
        return page

    async def stale(
        self, tags: AsyncIterable[TagRow], *, days: float, n: int = 50, sizes: Sizes | None = None
    ) -> StalePage:
        """``GET /api/stale``: see ``paging.stale_page``."""
        try:
            store = await self._store()
            page = await stale_page(store, tags, days=days, n=n, now=self.clock(), sizes=sizes)
        except ActivityUnavailable as exc:
            self._failed(exc)
            raise
        self._ok()
        return page

    async def pulled_within(self, tags: Sequence[MarkKey], days: float) -> list[Pulled]:
        """Retention's ``not_pulled_days``: for each tag row (repository, tag, digest),
        what the activity says of the last ``days`` days (``Pulled``: only ``NOT`` lets
        a tag go). Raises rather than guess."""
        now = self.clock()
        try:
            store = await self._store()
            since = await store.tracking_since(now)
            found = await store.marks(tags)
        except ActivityUnavailable as exc:
            self._failed(exc)
            raise
        self._ok()
        cutoff = days_ago(now, days)
        return [verdict(m, cutoff=cutoff, tracking_since=since) for m in found]

    async def tracking_since(self) -> str:
        """When recording began (RFC 3339). Raises ``ActivityUnavailable``."""
        now = self.clock()
        try:
            store = await self._store()
            return format_time(await store.tracking_since(now))
        except ActivityUnavailable as exc:
            self._failed(exc)
            raise

    # -- metrics and shutdown ----------------------------------------------------------

    def metric_families(self) -> Iterator[Metric]:
        """The activity families, read from the counters above at scrape time."""
        recorded = CounterMetricFamily(
            "lr_activity_events_recorded",
            "Activity records written, by action and source (registry, gateway)",
            labels=["action", "source"],
        )
        for action in ACTIONS:
            for via in VIAS:
                recorded.add_metric([action, via], self.recorded[(action, via)])
        skipped = CounterMetricFamily(
            "lr_activity_events_skipped",
            "Notification events not recorded, by reason (blob, head, gateway_read, echo…)",
            labels=["reason"],
        )
        for reason in SKIP_REASONS:
            skipped.add_metric([reason], self.skipped[reason])
        duplicates = CounterMetricFamily(
            "lr_activity_duplicates", "Notification events delivered again (recorded once)"
        )
        duplicates.add_metric([], self.duplicates)
        errors = CounterMetricFamily(
            "lr_activity_store_errors", "Activity store calls that failed (records lost)"
        )
        errors.add_metric([], self.errors)
        up = GaugeMetricFamily("lr_activity_store_up", "1 when the last activity store call worked")
        up.add_metric([], 1 if self.healthy else 0)
        size = GaugeMetricFamily(
            "lr_activity_store_size", "What the activity store keeps", labels=["kind"]
        )
        size.add_metric(["records"], self.events)
        size.add_metric(["marks"], self.marks_kept)
        yield from (recorded, skipped, duplicates, errors, up, size)

    async def aclose(self) -> None:
        if self.store is not None:
            await self.store.aclose()
