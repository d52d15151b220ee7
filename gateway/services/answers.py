"""Warm answers kept as the bytes sent: a page asked again by the same caller, with the
same parameters, is answered without being rebuilt (no service call, no response model
validated or serialised again).

Never one caller's answer to another: the key holds the caller's key. Never past an
invalidation: an answer is kept with the generations of the caches it was built from
(catalogs, tag lists, tag pointers, access confirmations, memberships) and is dropped the
moment one of them moved — a notification, a delete, a push through /v2, a logout — or
what a page shows besides them (a repository row's size and last change) is new.
Never long: an answer lives at most half of ``LR_CACHE_TTL``/``LR_ACCESS_TTL`` and at
most ``MAX_SECONDS``, so what it shows is never more than half a cache period older than
the caches would show. Only whole answers are kept: a page with a row that carries an
error, or one flagged incomplete, is built anew each time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from gateway.registry.metrics import note_cache
from gateway.services.cached_registry import CachedRegistry

MAX_SECONDS = 2.0
MAX_ENTRIES = 5_000

Stamp = tuple[int, ...]


class AnswerCache:
    def __init__(
        self, registry: CachedRegistry, *, ttl: float, access_ttl: float, entries: int = MAX_ENTRIES
    ) -> None:
        self.registry = registry
        self.seconds = min(MAX_SECONDS, ttl / 2, access_ttl / 2)
        self.entries = entries
        self._answers: dict[Hashable, tuple[object, Stamp, float]] = {}
        # Versions of what answers show besides the caches (a repository row's size and
        # last change): an answer is dropped when one of them moves, too.
        self.versions: list[Callable[[], int]] = []
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def stamp(self) -> Stamp:
        """The caches' generations now: take it before building an answer."""
        r = self.registry
        return (
            r.catalogs.generation,
            r.tag_lists.generation,
            r.tag_digests.generation,
            r.access.generation,
            r.membership.generation,
            *(version() for version in self.versions),
        )

    def get(self, key: Hashable) -> object | None:
        if self.seconds <= 0:
            return None
        entry = self._answers.get(key)
        if entry is None:
            self.misses += 1
            return None
        body, stamp, expires = entry
        if expires <= time.monotonic() or stamp != self.stamp():
            del self._answers[key]
            self.misses += 1
            return None
        self.hits += 1
        note_cache(hit=True)
        return body

    def put(self, key: Hashable, body: object, stamp: Stamp) -> None:
        """Keep ``body`` (the bytes sent, or what the warm lane needs to send them again)
        unless the caches moved while it was being built."""
        if self.seconds <= 0 or stamp != self.stamp():
            return
        answers = self._answers
        answers.pop(key, None)
        while len(answers) >= self.entries:
            del answers[next(iter(answers))]  # the oldest first: they expire first
            self.evictions += 1
        answers[key] = (body, stamp, time.monotonic() + self.seconds)

    def __len__(self) -> int:
        return len(self._answers)
