"""The walk that builds the search index: in the background, with bounded concurrency.

Whose credentials walk:

- **The service account's** (``LR_REGISTRY_USERNAME``) when one is configured: one walk
  for the whole registry, started with the app and run again whenever something is due
  (a repository's tag list read ``LR_SEARCH_INDEX_TTL`` ago, a change of unknown kind,
  a gap in other replicas' messages), checked every ``RECHECK_SECONDS`` (a quarter of
  the TTL when that is shorter). A repository walked before is read again afresh (the
  view's ``tags_afresh``, ``resolve_afresh``): its cached list and pointers may predate a
  change no notification told, which is what the re-walk is for.
- **Otherwise a caller's**: a search starts (or joins) a walk of what that caller may
  see, waits for it within its request's deadline and answers with what is indexed;
  the walk goes on in the background and ``complete`` stays false until it is done.

Every walk reads through the view in a context of its own (no request's deadline,
counters or id); at most a quarter of ``LR_UPSTREAM_CONCURRENCY`` reads are in flight
at once over all walks and notification reads (``SearchReads.gate``: a tag list, each
tag's digest, a document, an image's SBOMs), through the same upstream slots as every
other call, so
interactive requests keep the rest. What one pass costs is counted apart
(``upstream_requests``: the ``lr_search_walk_upstream_requests`` metric).

A restart reopens the index: a repository walked within the TTL is not due, a document
read is not missing, the catalog read within the TTL is not read again, so a restarted
gateway asks the registry for nothing it had already read. Prune runs once per pass that
changed something (it holds the database for a fraction of a second). On a registry with
a referrers API a new referrer changes no tag: each pass asks again for the SBOMs of
images whose SBOMs were looked for a TTL ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError, aborts
from gateway.registry.credentials import Caller
from gateway.registry.metrics import RequestStats, current_stats
from gateway.search import SearchIndex
from gateway.services.search_reads import SearchReads
from gateway.view import CachedRegistry

log = logging.getLogger(__name__)

RECHECK_SECONDS = 60.0  # how often the service account's walk looks for what is due
MAX_CALLER_WALKS = 64


@dataclass
class WalkProgress:
    """What the walks did, for the metrics (``state_metrics``)."""

    passes: int = 0
    repositories: int = 0  # tag lists read
    units: int = 0  # documents and SBOM lookups read
    failures: int = 0  # repositories or units left for the next pass
    running: int = 0  # walks running now
    stats: RequestStats = field(default_factory=RequestStats)  # what the walks asked upstream


class SearchWalker:
    def __init__(
        self,
        registry: CachedRegistry,
        index: SearchIndex,
        reads: SearchReads,
        *,
        service_account: Caller | None,
        concurrency: int,
        ttl: float,
    ) -> None:
        self.registry = registry
        self.index = index
        self.reads = reads
        self.service = service_account
        self.concurrency = max(1, concurrency)
        self.ttl = ttl
        # A repository is due TTL after its walk: looked for every minute, or a quarter
        # of the TTL when that is shorter (a change no notification told waits at most
        # TTL and this).
        self.recheck = min(RECHECK_SECONDS, ttl / 4)
        self.progress = WalkProgress()
        self.dirty: set[str] = set()  # repositories whose tag list to read again soon
        self.everything = False  # a gap: every tag list again
        self.first_pass_done = False  # the service account's walk went round once
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._walks: OrderedDict[str, asyncio.Task[None]] = OrderedDict()
        self._finished: dict[str, float] = {}  # caller key -> when their last walk ended
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- running ------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` in the background, in a context of its own whose upstream
        requests count as the walks'."""
        context = contextvars.Context()
        context.run(current_stats.set, self.progress.stats)
        task = asyncio.get_running_loop().create_task(work, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("a search index walk failed", exc_info=exc)

    def start(self) -> None:
        """With a service account: the registry's walk, for the app's life."""
        if self.service is not None and self._loop_task is None and not self._closed:
            self._wake = asyncio.Event()
            self._loop_task = self.spawn(self._forever(self.service))

    def wake(self, repos: Collection[str] = (), *, everything: bool = False) -> None:
        """Something changed that a notification did not say (or a gap): read those
        tag lists again (all of them) at the next pass, which starts now."""
        self.dirty.update(repos)
        self.everything = self.everything or everything
        if self._wake is not None:
            self._wake.set()

    async def _forever(self, caller: Caller) -> None:
        assert self._wake is not None
        while not self._closed:
            self._wake.clear()
            try:
                await self.walk(caller, None)
            except GatewayError as exc:
                log.warning("search index walk stopped: %s", exc.code)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("search index walk failed")
            self.first_pass_done = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.recheck)

    # -- one pass -----------------------------------------------------------------------

    async def walk(self, caller: Caller, visible: Collection[str] | None) -> None:
        """One pass: the catalog when due (the whole registry only), the tag lists due
        among ``visible`` (None: every repository), then what is missing there."""
        self.progress.running += 1
        try:
            await self._walk(caller, visible)
        finally:
            self.progress.running -= 1

    async def _walk(self, caller: Caller, visible: Collection[str] | None) -> None:
        index = self.index
        started = index.clock()
        changed = False
        if visible is None:
            at = await index.catalog_at()
            if at is None or at <= started - self.ttl or self.everything:
                names = list(await self.registry.catalog(caller))
                dropped = await index.set_catalog(names, started)
                changed = changed or dropped > 0
        due = set(await index.due())
        if self.everything and visible is None:
            due.update(await index.due(ttl=0.0))
            self.everything = False
        due.update(self.dirty if visible is None else self.dirty & set(visible))
        if visible is not None:
            due &= set(visible)
            for repo in visible:  # never walked, or not in the index at all
                state = await index.repo_state(repo)
                if state is None or state.walked_at is None:
                    due.add(repo)
        self.dirty -= due
        # Walked before: read again because the TTL (or a change of unknown kind) says
        # the index may be wrong, so from the registry, not the view's cached lists.
        again = set()
        for repo in due:
            state = await index.repo_state(repo)
            if state is not None and state.walked_at is not None:
                again.add(repo)
        changed = await self._tag_lists(caller, sorted(due), again) or changed
        older = started - self.ttl if self.registry.referrers_api else None
        units = await self.reads.missing(caller, visible, older_than=older)
        self.progress.units += units
        self.progress.passes += 1
        if visible is None and (changed or units):
            await index.prune()

    async def _tag_lists(self, caller: Caller, repos: list[str], again: set[str]) -> bool:
        if not repos:
            return False
        changed = False
        queue = list(reversed(repos))

        async def worker() -> None:
            nonlocal changed
            while queue:
                repo = queue.pop()
                try:
                    read = await self.reads.tag_list(caller, repo, afresh=repo in again)
                    changed = read or changed
                    self.progress.repositories += 1
                except GatewayError as exc:
                    if aborts(exc, one_repository=False):
                        raise  # about the caller: stop the walk
                    self.progress.failures += 1

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.concurrency, len(repos))):
                group.create_task(worker())
        return changed

    # -- a caller's walk (no service account) ---------------------------------------------

    async def for_caller(self, caller: Caller, visible: Collection[str], wait: float) -> None:
        """Start (or join) ``caller``'s walk over ``visible`` and wait for it at most
        ``wait`` seconds; it goes on in the background."""
        task = self._walks.get(caller.key)
        loop = asyncio.get_running_loop()
        recent = self._finished.get(caller.key, -RECHECK_SECONDS) > loop.time() - RECHECK_SECONDS
        if task is None or (task.done() and (wait > 0 or not recent)):
            if self._closed:
                return
            task = self.spawn(self.walk(caller, list(visible)))
            key = caller.key
            task.add_done_callback(lambda _t: self._finished.__setitem__(key, loop.time()))
            self._walks[caller.key] = task
            while len(self._walks) > MAX_CALLER_WALKS:
                gone, oldest = self._walks.popitem(last=False)
                self._finished.pop(gone, None)
                oldest.cancel()
        self._walks.move_to_end(caller.key)
        if wait > 0:
            await asyncio.wait({task}, timeout=wait)

    def running_for(self, caller: Caller) -> bool:
        task = self._walks.get(caller.key)
        return task is not None and not task.done()

    def end_walk_of(self, caller_key: str) -> None:
        task = self._walks.pop(caller_key, None)
        self._finished.pop(caller_key, None)
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
