"""``GET /api/search``: a page of the search index, within the caller's rights.

Rights are the view's rule, as for every other answer: a repository's results reach a
caller only once the registry confirmed *that caller's* access to *that repository*
(``Gate.sees`` in process; else ``ensure_access``, the caller's own tag list read,
remembered for ``LR_ACCESS_TTL``). The candidates are the caller's catalog; those the
registry refuses are left out, and the index is asked with the names left (it filters
inside its query, so pages stay full). An index built by the service account's walk
therefore never shows a reader a repository the reader may not pull.

Confirmations a request cannot finish within its deadline leave ``complete`` false;
without a service account the caller's own walk is started (or joined) for what they
can see and waited for within the deadline (``SearchWalker.for_caller``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.datastore import StoreUnavailable
from gateway.deadline import remaining
from gateway.errors import GatewayError, NameUnknown, SearchUnavailable, aborts
from gateway.registry.credentials import Caller
from gateway.search import Page, Query, SearchIndex, SearchMetrics, decode_cursor
from gateway.services.search_walk import SearchWalker
from gateway.view import CachedRegistry

WAIT_SECONDS = 5.0  # how long a caller's search waits for its walk
MARGIN_SECONDS = 1.0  # left of the request's deadline to answer


@dataclass(frozen=True)
class Visible:
    names: list[str]
    complete: bool  # every repository of the catalog decided


class SearchService:
    def __init__(
        self,
        registry: CachedRegistry,
        index: SearchIndex | None,
        walker: SearchWalker | None,
        *,
        concurrency: int,
    ) -> None:
        self.registry = registry
        self.index = index
        self.walker = walker
        self.concurrency = max(1, concurrency)
        self.metrics = index.metrics if index is not None else SearchMetrics()

    def _index(self) -> SearchIndex:
        if self.index is None:
            raise SearchUnavailable("the search index could not be opened on this replica")
        return self.index

    async def visible(self, caller: Caller) -> Visible:
        """The repositories of the caller's catalog the registry lets them pull."""
        names = await self.registry.catalog(caller)
        sees = self.registry.gate.sees
        seen: list[str] = []
        unknown: list[str] = []
        for name in names:
            (seen if sees(caller, name) else unknown).append(name)
        if not unknown:
            return Visible(seen, True)
        gate = asyncio.Semaphore(self.concurrency)
        decided = True

        async def confirm(repo: str) -> str | None:
            nonlocal decided
            async with gate:
                if remaining(MARGIN_SECONDS * 2) <= MARGIN_SECONDS:
                    decided = False
                    return None
                try:
                    await self.registry.ensure_access(caller, repo)
                except NameUnknown:
                    return None  # never tagged: nothing to find there
                except GatewayError as exc:
                    if aborts(exc, one_repository=False):
                        raise  # about the caller (a login, Retry-After): the answer's
                    if not exc.denies_repository:
                        decided = False
                    return None
            return repo

        confirmed = await asyncio.gather(*(confirm(n) for n in unknown))
        allowed = sorted([*seen, *(n for n in confirmed if n is not None)])
        return Visible(allowed, decided)

    async def search(
        self, caller: Caller, query: Query, n: int, last: str | None
    ) -> tuple[Page, Sequence[str]]:
        index = self._index()
        cursor = decode_cursor(last)
        visible = await self.visible(caller)
        page = await self._page(index, query, visible.names, n, cursor)
        walker = self.walker
        if walker is not None and walker.service is None:
            wait = 0.0
            if not page.complete:
                wait = min(WAIT_SECONDS, remaining(WAIT_SECONDS + MARGIN_SECONDS) - MARGIN_SECONDS)
            await walker.for_caller(caller, visible.names, wait)
            if wait > 0:
                page = await self._page(index, query, visible.names, n, cursor)
            if walker.running_for(caller):
                page = _incomplete(page)  # its documents and SBOMs are still being read
        elif walker is not None and not walker.first_pass_done:
            page = _incomplete(page)
        if not visible.complete:
            page = _incomplete(page)
        return page, visible.names

    async def _page(
        self,
        index: SearchIndex,
        query: Query,
        names: list[str],
        n: int,
        cursor: object,
    ) -> Page:
        try:
            return await index.search(query, names, n, cursor)  # type: ignore[arg-type]
        except StoreUnavailable as exc:
            raise SearchUnavailable(f"the search index cannot be read: {exc}") from None


def _incomplete(page: Page) -> Page:
    return Page(page.results, False, page.indexed, page.next)
