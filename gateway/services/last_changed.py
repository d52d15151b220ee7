"""When each repository last changed, as far as this gateway knows without asking.

A repository row of ``GET /api/repositories`` carries ``last_changed``: its newest known
push or tag change. Asking the registry would cost a cold page one request per row (the
v2 API has no date on a tag list), so the time is taken from what the gateway sees
anyway:

- a registry notification naming the repository (a push or a delete; pulls are not
  changes), at the time it arrives;
- a write made through the gateway: a delete of an image or a tag, a bulk delete or a
  retention plan that deleted something, a manifest pushed or deleted through ``/v2``.

Everything else is ``None`` ("not known yet"), never a guess. The times live in memory,
bounded, per process: a restart forgets them, and a notification that reached another
replica is not seen here. This is the one place that knows them; a store of the
registry's activity (pushes with their own dates, shared by replicas) takes its place
by answering ``get``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

MAX_REPOSITORIES = 50_000  # the least recently changed go first


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LastChanged:
    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_repositories: int = MAX_REPOSITORIES
    ) -> None:
        self._clock = clock
        self._max = max_repositories
        self._times: OrderedDict[str, float] = OrderedDict()
        self.version = 0  # moves with every note: kept answers showing a time are dropped

    def note(self, repositories: Iterable[str]) -> None:
        """These repositories changed now."""
        now = self._clock()
        self.version += 1
        for repo in repositories:
            self._times[repo] = now
            self._times.move_to_end(repo)
        while len(self._times) > self._max:
            self._times.popitem(last=False)

    def get(self, repository: str) -> str | None:
        """The last change known, RFC 3339 in UTC; None when none is known."""
        seconds = self._times.get(repository)
        return None if seconds is None else rfc3339(seconds)
