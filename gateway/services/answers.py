"""Warm answers kept as the bytes sent: a page asked again by the same caller, with the
same parameters, is answered without being rebuilt (no service call, no response model
validated or serialised again).

Never one caller's answer to another: the key holds the caller's key. Never past an
invalidation: the cache subscribes to the view's changes, an answer is kept with the
count of changes seen before it was built, and is dropped the moment another one came —
a notification, a delete, a push through /v2, a logout, another replica's message. (A
repository row's ``last_changed`` moves only with such a change.) The one thing a page
shows that is not the view's is a repository row's size, from the caller's usage
figures: when new figures are stored the usage service says so (``stale``), and the
kept answers end the same way.
Never long: an answer lives at most half of ``LR_CACHE_TTL``/``LR_ACCESS_TTL`` and at
most ``MAX_SECONDS``, so what it shows is never more than half a cache period older than
the caches would show. Only whole answers are kept: a page with a row that carries an
error, or one flagged incomplete, is built anew each time.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence

from gateway.registry.metrics import note_cache
from gateway.view import CachedRegistry, Change

MAX_SECONDS = 2.0
MAX_ENTRIES = 5_000

Stamp = int


class AnswerCache:
    def __init__(
        self, registry: CachedRegistry, *, ttl: float, access_ttl: float, entries: int = MAX_ENTRIES
    ) -> None:
        self.generation = 0  # the changes seen
        registry.subscribe(self.changed)
        self.seconds = min(MAX_SECONDS, ttl / 2, access_ttl / 2)
        self.entries = entries
        self._answers: dict[Hashable, tuple[object, Stamp, float]] = {}
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def changed(self, _changes: Sequence[Change]) -> None:
        """A subscriber of the view: whatever changed, every kept answer is stale."""
        self.stale()

    def stale(self) -> None:
        """Every kept answer is stale from now on, and one being built is not kept."""
        self.generation += 1

    def stamp(self) -> Stamp:
        """The changes seen so far: take it before building an answer."""
        return self.generation

    def get(self, key: Hashable) -> object | None:
        if self.seconds <= 0:
            return None
        entry = self._answers.get(key)
        if entry is None:
            self.misses += 1
            return None
        body, stamp, expires = entry
        if expires <= time.monotonic() or stamp != self.generation:
            del self._answers[key]
            self.misses += 1
            return None
        self.hits += 1
        note_cache(hit=True)
        return body

    def put(self, key: Hashable, body: object, stamp: Stamp) -> None:
        """Keep ``body`` (the bytes sent, and what the warm lane needs to send them
        again: ``routers.warm.Kept``) unless something changed while it was built."""
        if self.seconds <= 0 or stamp != self.generation:
            return
        answers = self._answers
        answers.pop(key, None)
        while len(answers) >= self.entries:
            del answers[next(iter(answers))]  # the oldest first: they expire first
            self.evictions += 1
        answers[key] = (body, stamp, time.monotonic() + self.seconds)

    def __len__(self) -> int:
        return len(self._answers)
