"""Repository pages: the whole catalog (walked once per cache period), filtered by ``q``
over all of it, paged by name, with the tag counts of the page fetched concurrently.

A row's ``bytes`` and ``last_changed`` are filled only from what is known already (this
caller's usage figures; the activity log's newest push or delete of each repository —
one store call for the page, kept across restarts and shared by replicas — else what
``LastChanged`` saw this process): knowing them never costs an upstream request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from gateway.errors import GatewayError, NameUnknown, aborts
from gateway.models import api
from gateway.registry.credentials import Caller
from gateway.services.gathering import peek_or_gather
from gateway.services.last_changed import LastChanged
from gateway.services.name_search import NameSearch
from gateway.services.paging import page_of
from gateway.services.usage import UsageService
from gateway.view import CachedRegistry


class RepositoryService:
    def __init__(
        self,
        registry: CachedRegistry,
        *,
        usage: UsageService | None = None,
        last_changed: LastChanged | None = None,
    ) -> None:
        self.registry = registry
        self.search = NameSearch()
        self.usage = usage
        self.last_changed = last_changed
        # Each repository's newest push or delete in the activity log (set by the state).
        self.changed: Callable[[Sequence[str]], Awaitable[dict[str, str]]] | None = None

    async def page(
        self, caller: Caller, *, n: int, last: str | None, q: str | None
    ) -> api.RepositoryPage:
        names = await self.registry.catalog(caller)
        if q:
            names = self.search.find(names, q.lower())
        page, more = page_of(names, n, last)
        next_cursor = page[-1] if more else None
        counts = await peek_or_gather(
            page, lambda name: self._peek_count(caller, name), lambda n: self._count(caller, n)
        )
        stored = {} if self.changed is None or not page else await self.changed(page)
        rows = [self._known(caller, counts[name], stored.get(name)) for name in page]
        return api.RepositoryPage(repositories=rows, total=len(names), next=next_cursor)

    def _known(
        self, caller: Caller, row: api.RepositorySummary, stored: str | None = None
    ) -> api.RepositorySummary:
        """The row with its size and last change, when they are known already (the
        activity log's, ``stored``, else this process's)."""
        figures = None if self.usage is None else self.usage.peek(caller, row.name)
        if figures is not None:
            row.bytes = figures.total_bytes
        row.last_changed = stored
        if stored is None and self.last_changed is not None:
            row.last_changed = self.last_changed.get(row.name)
        return row

    def _peek_count(self, caller: Caller, name: str) -> api.RepositorySummary | None:
        tags = self.registry.peek_tags(caller, name)
        return None if tags is None else api.RepositorySummary(name=name, tag_count=len(tags))

    async def _count(self, caller: Caller, name: str) -> api.RepositorySummary:
        try:
            tags = await self.registry.tags(caller, name)
        except NameUnknown:
            # In the catalog but never tagged: the registry has no tag list for it.
            return api.RepositorySummary(name=name, tag_count=0)
        except GatewayError as exc:
            if aborts(exc, one_repository=False):  # a login, or Retry-After, for the page
                raise
            return api.RepositorySummary(name=name, tag_count=None, error=api.ErrorBody.of(exc))
        return api.RepositorySummary(name=name, tag_count=len(tags))
