"""When each repository last changed, as far as this gateway knows without asking.

A repository row of ``GET /api/repositories`` carries ``last_changed``: its newest known
push, delete or tag change. Asking the registry would cost a cold page one request per
row (the v2 API has no date on a tag list), so the time is taken from what the gateway
sees anyway: it subscribes to the view's changes (``gateway.view.changes``) and notes
the repositories of each change that says something happened to them —

- a registry notification (a push or a delete; pulls are not changes), at the time it
  arrives;
- a write made through the gateway (``source == "gateway"`` with its ``action``: an
  image or a tag deleted, a bulk delete or a retention plan, a manifest pushed or
  deleted through ``/v2``). A gateway change without an action is a drop before a write
  or after one that failed: nothing is known to have happened;
- another replica's message repeating one of these (``origin``), so a notification
  that reached another replica is seen here too.

Logouts and gaps say nothing about a repository. Everything else is ``None`` ("not known
yet"), never a guess. The times live in memory, bounded, per process: a restart forgets
them. The activity log (``services.activity``) keeps each repository's newest push or
delete with the event's own date, across restarts and for every replica; repository
rows take its date first, and this one only where it has none (a change the log has
not written yet, or a log that cannot be read). Kept answers showing a time need
nothing from here: they end with every change already (``services.answers``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from gateway.view import CachedRegistry, Change

MAX_REPOSITORIES = 50_000  # the least recently changed go first


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def happened(change: Change) -> bool:
    """Whether ``change`` says its repositories changed (not only that a cache went)."""
    source = change.origin if change.source == "replica" else change.source
    if source == "notification":
        return True  # every event that changes something (services.events)
    return source == "gateway" and change.action is not None


class LastChanged:
    def __init__(
        self,
        registry: CachedRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_repositories: int = MAX_REPOSITORIES,
    ) -> None:
        self._clock = clock
        self._max = max_repositories
        self._times: OrderedDict[str, float] = OrderedDict()
        if registry is not None:
            registry.subscribe(self.changed)

    def changed(self, changes: Sequence[Change]) -> None:
        """A subscriber of the view: the repositories of what happened changed now."""
        self.note(r for c in changes if happened(c) for r in c.repositories)

    def note(self, repositories: Iterable[str]) -> None:
        """These repositories changed now."""
        now = self._clock()
        for repo in repositories:
            self._times[repo] = now
            self._times.move_to_end(repo)
        while len(self._times) > self._max:
            self._times.popitem(last=False)

    def get(self, repository: str) -> str | None:
        """The last change known, RFC 3339 in UTC; None when none is known."""
        seconds = self._times.get(repository)
        return None if seconds is None else rfc3339(seconds)
