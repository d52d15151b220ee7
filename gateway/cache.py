"""Caches: immutable content by digest, short-lived lists by key, and single-flight.

- ``ContentCache``: manifests and configs by digest, an LRU bounded by bytes. Content is
  stored only after its sha256 was verified, and may be shared between callers: the
  services grant it to a caller only after that caller's access was confirmed.
- ``TTLStore``: catalog pages, tag lists, tag→digest, access confirmations. Keys carry
  the caller where the data is per caller. Invalidation (the events endpoint, logouts)
  goes through indexes by a part of the key (``drop_groups``: the entries of a repository
  or a caller, without a scan) or one pass (``drop_where``); a generation counter stops
  a fetch that began before an invalidation from storing stale data.
- ``ModelCache``: what is derived from content by digest (parsed documents, image rows,
  tag-row summaries), an LRU bounded by the bytes its entries hold, measured by walking
  them (``gateway.sizing``): whatever is evicted is derived again from the content cache,
  with no upstream request.
- ``SingleFlight``: identical in-flight upstream calls coalesced into one task. Keys must
  include the caller whenever the call uses the caller's credentials.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

from gateway.deadline import has_time_left, within_deadline
from gateway.errors import DeadlinePassed
from gateway.sizing import deep_size

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")

_ENTRY_OVERHEAD = 200  # bytes charged per entry besides its body
_SWEEP = 4  # expired entries dropped per put, at most


class _EvictingLRU(LRUCache[K, V]):
    """An LRU that counts the entries it pushed out to make room (a metric)."""

    evictions = 0

    def popitem(self) -> tuple[K, V]:
        item = super().popitem()
        self.evictions += 1
        return item


class _TTLDict(Generic[K, V]):
    """Entries fresh for ``ttl`` seconds after they were put and kept ``stale`` seconds
    more (what ``get_stale`` may still answer while a fresh one is fetched), at most
    ``maxsize`` of them (the oldest put goes first when full, counted as an eviction, a
    metric).

    A plain dict of (value, fresh until, kept until): a lookup is one dict access and
    one comparison, about 8× cheaper than cachetools' TTLCache, whose bookkeeping was
    half of a warm page's time (bench/bench_load.py). Every entry lives the same time,
    so the dict's order (a put moves its key to the end) is the order of expiry: an
    entry found past its time is dropped then, and each put sweeps a few from the
    front."""

    def __init__(self, maxsize: int, ttl: float, stale: float = 0.0) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self.stale = stale
        self._data: dict[K, tuple[V, float, float]] = {}
        self.evictions = 0

    def get(self, key: K) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            if entry[2] <= time.monotonic():
                self._data.pop(key, None)
            return None
        return entry[0]

    def get_stale(self, key: K) -> V | None:
        """The value even past its ``ttl``, within its ``stale`` seconds more."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[2] <= time.monotonic():
            self._data.pop(key, None)
            return None
        return entry[0]

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        now = time.monotonic()
        data.pop(key, None)  # a fresh put goes to the end: the dict is in expiry order
        # Sweep what expired from the front (the oldest), a few per put: expired entries
        # do not pile up, and no put pays for more than its share.
        for _ in range(_SWEEP):
            oldest = next(iter(data), None)
            if oldest is None or data[oldest][2] > now:
                break
            del data[oldest]
        while len(data) >= self.maxsize:
            oldest = next(iter(data))
            if data.pop(oldest)[2] > now:
                self.evictions += 1  # pushed out alive to make room
        data[key] = (value, now + self.ttl, now + self.ttl + self.stale)

    def pop(self, key: K, default: object = None) -> object:
        entry = self._data.pop(key, None)
        return default if entry is None else entry[0]

    def items(self) -> list[tuple[K, V]]:
        """Every entry kept, stale ones included (an invalidation drops those too)."""
        now = time.monotonic()
        return [(k, entry[0]) for k, entry in self._data.items() if entry[2] > now]

    def keys(self) -> list[K]:
        now = time.monotonic()
        return [k for k, entry in self._data.items() if entry[2] > now]

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        now = time.monotonic()
        return sum(1 for entry in self._data.values() if entry[2] > now)


@dataclass(frozen=True)
class Blob:
    digest: str
    media_type: str
    body: bytes


class _ByteBounded:
    """What the byte-bounded caches report (metrics read them at scrape time)."""

    _lru: _EvictingLRU[Any, Any]

    @property
    def current_bytes(self) -> int:
        return int(self._lru.currsize)

    @property
    def evictions(self) -> int:
        return self._lru.evictions

    def __len__(self) -> int:
        return len(self._lru)


class ContentCache(_ByteBounded):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lru: _EvictingLRU[str, Blob] = _EvictingLRU(
            maxsize=max(max_bytes, 1), getsizeof=lambda blob: len(blob.body) + _ENTRY_OVERHEAD
        )
        self.hits = 0
        self.misses = 0

    def get(self, digest: str) -> Blob | None:
        blob = self._lru.get(digest)
        if blob is None:
            self.misses += 1
        else:
            self.hits += 1
        return blob

    def put(self, blob: Blob) -> None:
        if len(blob.body) + _ENTRY_OVERHEAD <= self.max_bytes:
            self._lru[blob.digest] = blob


class ModelCache(_ByteBounded):
    """Parsed and derived objects by key, within ``max_bytes`` of measured memory.

    One budget for every kind (keys carry the kind: ``("config", digest)``), so the
    kinds a workload uses most keep the room. An object larger than the whole budget is
    not kept. Objects kept must not be changed by their users (they are shared).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lru: _EvictingLRU[Hashable, tuple[Any, int]] = _EvictingLRU(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: entry[1]
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        entry = self._lru.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = deep_size(value) + _ENTRY_OVERHEAD
        if size <= self.max_bytes:
            self._lru[key] = (value, size)


class _KeyIndex(Generic[K]):
    """The keys of a store grouped by a part of them (a repository, a caller), so an
    invalidation of that part touches only its own entries.

    A superset: an entry that expired, was evicted or was dropped through another index
    stays listed (popping it again is a no-op) until its group is dropped or the index
    is rebuilt from the live keys, which happens once it lists twice the store's size:
    amortized O(1) per put, and bounded memory, without hooks in the cache's eviction.
    """

    def __init__(self, part: Callable[[K], Hashable]) -> None:
        self.part = part
        self.groups: dict[Hashable, set[K]] = {}
        self.size = 0

    def add(self, key: K) -> None:
        keys = self.groups.setdefault(self.part(key), set())
        if key not in keys:
            keys.add(key)
            self.size += 1

    def pop(self, group: Hashable) -> set[K]:
        keys = self.groups.pop(group, set())
        self.size -= len(keys)
        return keys

    def rebuild(self, live: Iterable[K]) -> None:
        self.groups = {}
        self.size = 0
        for key in live:
            self.add(key)


_ABSENT = object()


class TTLStore(Generic[K, V]):
    """Entries by key for ``ttl`` seconds, and ``stale`` seconds more for ``get_stale``
    (stale-while-revalidate: the caller answers with it and fetches a fresh one in the
    background). Dropping (``drop_groups``, ``drop_where``, ``clear``) drops stale
    entries too: a change is never answered from before it."""

    def __init__(
        self,
        ttl: float,
        maxsize: int = 100_000,
        indexes: Mapping[str, Callable[[K], Hashable]] | None = None,
        stale: float = 0.0,
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self._indexes = {name: _KeyIndex(part) for name, part in (indexes or {}).items()}
        self._cache: _TTLDict[K, V] | None = _TTLDict(maxsize, ttl, stale) if ttl > 0 else None
        self.generation = 0
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0

    def get(self, key: K) -> V | None:
        value = None if self._cache is None else self._cache.get(key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def get_stale(self, key: K) -> V | None:
        """An entry past its ``ttl`` but within its stale time (after ``get`` missed)."""
        value = None if self._cache is None else self._cache.get_stale(key)
        if value is not None:
            self.stale_hits += 1
        return value

    def discard(self, key: K) -> None:
        """Drop one entry (fresh or stale); the generation is unchanged."""
        if self._cache is not None:
            self._cache.pop(key, None)

    @property
    def evictions(self) -> int:
        return 0 if self._cache is None else self._cache.evictions

    def put(self, key: K, value: V, generation: int | None = None) -> None:
        if self._cache is None:
            return
        if generation is not None and generation != self.generation:
            return  # dropped (a change) while this value was being fetched
        self._cache[key] = value
        for index in self._indexes.values():
            index.add(key)
            if index.size > 2 * self.maxsize + 64:
                index.rebuild(list(self._cache.keys()))

    def drop_groups(self, index: str, groups: Iterable[Hashable]) -> int:
        """Drop the entries whose key part (by the named index) is one of ``groups``:
        O(groups + entries dropped), whatever the store's size. Returns how many."""
        self.generation += 1
        keys = self._indexes[index]
        if self._cache is None:
            return 0
        dropped = 0
        for group in groups:
            for key in keys.pop(group):
                if self._cache.pop(key, _ABSENT) is not _ABSENT:
                    dropped += 1
        return dropped

    def drop_where(self, predicate: Callable[[K, V], bool]) -> int:
        """Drop the entries ``predicate`` holds for: one pass over the store."""
        self.generation += 1
        if self._cache is None:
            return 0
        doomed = [k for k, v in self._cache.items() if predicate(k, v)]
        for key in doomed:
            self._cache.pop(key, None)
        return len(doomed)

    def clear(self) -> None:
        self.generation += 1
        if self._cache is not None:
            self._cache.clear()
        for index in self._indexes.values():
            index.rebuild(())

    def __len__(self) -> int:
        return 0 if self._cache is None else len(self._cache)


class SingleFlight:
    """Run one task per key; concurrent callers with the same key await the same task.

    The task is shielded: a caller that goes away (or whose deadline passes) does not
    cancel it for the others.
    """

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}
        self.coalesced = 0  # callers that joined a task in flight (a metric)

    async def run(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        while True:
            task = self._inflight.get(key)
            joined = task is not None
            if task is None:
                task = asyncio.ensure_future(factory())
                self._inflight[key] = task
                task.add_done_callback(functools.partial(self._forget, key))
            else:
                self.coalesced += 1
            # Each caller waits within its own request's deadline, the task within the
            # deadline of the request that started it (its context's).
            try:
                result: T = await within_deadline(asyncio.shield(task))
            except DeadlinePassed:
                # Cut by the deadline of the caller that started it, while this one
                # still has time: this caller makes the call again (a new flight).
                if joined and has_time_left():
                    continue
                raise
            return result

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: awaiters re-raise it

    def __len__(self) -> int:
        return len(self._inflight)
