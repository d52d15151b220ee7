"""The one interface both activity stores keep (SQLite by default, Redis for replicas).

What every store guarantees:

- **Once per event id.** Writing a record whose id is already kept does nothing
  (``Added.duplicates``): a notification the registry delivers twice is one record.
- **Bounded.** At most ``max_events`` records; the oldest (by event time) go first.
- **Marks outlive the bound.** The latest pull of each (repository, digest) and the
  latest push of each (repository, tag) are kept apart from the feed, as long as the
  registry has not deleted them: a delete of a tag drops its push; a delete of a digest
  drops its pull and the pushes of tags last pushed as that digest; a repository delete
  (neither) drops both for the repository. A mark only moves forward in time.
- **Placeholders.** The push of a tag-delete placeholder is remembered (not listed) for
  ``REMEMBER_SECONDS``; the delete of that digest is then forgotten with it.
- **Durable and shared.** What was written is there after a restart (SQLite file, Redis
  persistence) and, for Redis, on every replica at once.
- **One error type.** Every failure is ``ActivityUnavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from gateway.activity.records import Added, Cursor, Filter, MarkKey, Marks, Record, Scan


class ActivityStore(Protocol):
    #: ``sqlite`` or ``redis``, as ``/api/health`` and the metrics name it.
    kind: Literal["sqlite", "redis"]
    #: This store's name in the gateway's ``User-Agent`` (``gateway.activity.agent``).
    origin: str
    max_events: int
    #: Whether ``scan`` applies every filter in the store (SQLite), or reads a batch and
    #: filters it (Redis: ``limit`` records looked at, fewer may match).
    filters_in_place: bool

    @property
    def usable(self) -> bool:
        """False while a store that just failed is left alone (Redis: ``BACKOFF``), so
        a store that is down costs a notification nothing."""
        ...

    async def add(self, records: Sequence[Record], now: int) -> Added:
        """Write records (one transaction, or one script per record for Redis)."""
        ...

    async def scan(self, where: Filter, before: Cursor | None, limit: int) -> Scan:
        """Up to ``limit`` records older than ``before`` (None: the newest), newest
        first, that pass ``where``; a store that cannot filter in place looks at no more
        than ``limit`` and says so in ``Scan.scanned``."""
        ...

    async def marks(self, keys: Sequence[MarkKey]) -> list[Marks]:
        """The marks of every key, in order, in one round trip (or query) per kind."""
        ...

    async def changed(self, repositories: Sequence[str]) -> dict[str, int]:
        """Each repository's newest push or delete recorded (µs), in one query or
        round trip; a repository without one is left out. Kept apart from the feed's
        bound (a repository row's ``last_changed``)."""
        ...

    async def tracking_since(self, now: int) -> int:
        """When this store began recording (µs); ``now`` if it was just emptied."""
        ...

    async def size(self) -> tuple[int, int]:
        """(records in the feed, marks kept)."""
        ...

    async def aclose(self) -> None: ...
