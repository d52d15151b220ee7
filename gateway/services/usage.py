"""Storage usage: of one repository (per tag), and of the whole registry.

The accounting itself is ``services.storage_closure`` (pure); this module reads what
it needs through ``CachedRegistry`` — the caller's tag list, each tag's manifest, each
index's children — and keeps the figures.

Rules:

- **Isolation.** Figures are per caller: a repository's figures are keyed by (caller,
  repository) and made only from what the registry answered that caller; the
  registry's figures are one walk per caller, over that caller's catalog. Never one
  caller's figures to another.
- **Freshness.** A repository's figures live ``LR_CACHE_TTL`` and are dropped with its
  tag lists (notifications, deletes, pushes through /v2) and with a caller's caches on
  a logout: the service subscribes to the view's changes (``changed``). A fetch that began
  before such a drop does not store what it read (the store's generation).
- **Reads.** Manifests come from the content cache when this caller may read them;
  configs are not needed (a descriptor holds its blob's size). At most
  ``LR_UPSTREAM_CONCURRENCY`` reads of one answer are in flight, through the same
  upstream slots as every other call.
- **The registry's walk.** ``GET /api/usage`` answers within the request's deadline:
  it waits for the walk at most ``WAIT_SECONDS`` (and never past the deadline), then
  answers with the repositories counted so far and ``complete: false``. The walk goes
  on in the background — one per caller at a time, at most ``concurrency``
  repositories read at once over all walks (a quarter of the upstream slots, as the
  tag index fills), in a fresh context (no request's deadline or counters) — and the
  next call serves more. A finished walk is served for ``LR_CACHE_TTL``, then the next
  call starts a new one. A repository dropped meanwhile is read again. Repositories
  the catalog lists but the registry refuses this caller (403) are not the caller's:
  left out of the figures and of the count. A 401/429 stops a walk; a repository that
  failed otherwise is left out (the answer stays incomplete) and read again by the
  next walk. Walks stop on logout and on shutdown
  (``aclose``): no new read starts; a read in flight (shared by whoever waits for it)
  finishes, and what it read after a logout is not kept.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from gateway.cache import SingleFlight, TTLStore
from gateway.deadline import remaining
from gateway.errors import GatewayError, ManifestUnknown, NameUnknown, NotFound, aborts
from gateway.registry.credentials import Caller
from gateway.registry.protocol import Manifest
from gateway.services.storage_closure import (
    Node,
    RegistryFigures,
    RepoFigures,
    image_node,
    index_node,
    is_index,
    registry_figures,
    repository_figures,
)
from gateway.view import CachedRegistry, Change
from gateway.view.changes import repositories

log = logging.getLogger(__name__)

T = TypeVar("T")
K = TypeVar("K")

WAIT_SECONDS = 5.0  # how long GET /api/usage waits for its walk before answering
MARGIN_SECONDS = 1.0  # left of the request's deadline to build the answer
MAX_WALKS = 64  # callers whose registry walk is kept (the oldest used goes)

EMPTY = RepoFigures(items={}, manifests=0, blobs=0)


async def bounded(limit: int, call: Callable[[K], Awaitable[T]], items: Iterable[K]) -> list[T]:
    """``call`` of every item, at most ``limit`` at once, answers in order. Each call's
    coroutine is made once it has its turn: a cancelled run leaves none never awaited."""
    gate = asyncio.Semaphore(max(1, limit))

    async def one(item: K) -> T:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


@dataclass(eq=False)
class RegistryWalk:
    """One caller's walk over their catalog: the figures read so far."""

    caller_key: str
    results: dict[str, RepoFigures] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # repository -> error code
    denied: set[str] = field(default_factory=set)  # in the catalog, not readable (403)
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    generation: int = 0  # moved by every drop: a read begun before it is not stored


@dataclass(frozen=True)
class RegistryUsage:
    figures: RegistryFigures
    complete: bool
    counted: int
    total: int


class UsageService:
    def __init__(
        self,
        registry: CachedRegistry,
        *,
        ttl: float,
        concurrency: int,
        walk_concurrency: int,
    ) -> None:
        self.registry = registry
        self.ttl = ttl
        self.concurrency = max(1, concurrency)
        self.walk_concurrency = max(1, walk_concurrency)
        self.figures: TTLStore[tuple[str, str], RepoFigures] = TTLStore(
            ttl, maxsize=50_000, indexes={"caller": _first, "repo": _second}
        )
        self.flights = SingleFlight()
        self._walks: OrderedDict[str, RegistryWalk] = OrderedDict()
        self._walk_slots: asyncio.Semaphore | None = None
        self._closed = False
        # Told whenever figures are stored: a kept answer that shows them (a repository
        # row's bytes) ends then (state.py makes it ``AnswerCache.stale``).
        self.stored: Callable[[], None] = _nothing
        registry.subscribe(self.changed)

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- one repository -----------------------------------------------------------------

    def peek(self, caller: Caller, repo: str) -> RepoFigures | None:
        return self.figures.get((caller.key, repo))

    async def repository(self, caller: Caller, repo: str) -> RepoFigures:
        """The usage of ``repo`` as ``caller`` sees it (cached per caller)."""
        key = (caller.key, repo)
        cached = self.figures.get(key)
        if cached is not None:
            return cached

        async def compute() -> RepoFigures:
            generation = self.figures.generation
            figures = await self._read(caller, repo)
            self.figures.put(key, figures, generation)
            self.stored()
            return figures

        return await self.flights.run(("usage", caller.key, repo), compute)

    async def _read(self, caller: Caller, repo: str) -> RepoFigures:
        tags = list(await self.registry.tags(caller, repo))
        nodes: dict[str, Node] = {}

        async def tag_manifest(tag: str) -> tuple[str, Manifest | None]:
            try:
                return tag, await self.registry.manifest(caller, repo, tag)
            except NotFound:
                return tag, None  # deleted since the list was read: not storage any more

        tag_digests: dict[str, str] = {}
        wanted: list[Manifest] = []
        for tag, manifest in await bounded(self.concurrency, tag_manifest, tags):
            if manifest is None:
                continue
            tag_digests[tag] = manifest.digest
            wanted.append(manifest)
        # Breadth first: the tags' manifests, then the children of the indexes among
        # them, and so on (an index of indexes), each digest read once.
        while wanted:
            children: list[str] = []
            for manifest in wanted:
                if manifest.digest in nodes:
                    continue
                node = self._node(manifest)
                nodes[manifest.digest] = node
                children.extend(c for c in node.children if c not in nodes)
            fetched = await bounded(
                self.concurrency, lambda c: self._child(caller, repo, c), dict.fromkeys(children)
            )
            wanted = [m for m in fetched if m is not None]
        return repository_figures(tag_digests, nodes)

    async def _child(self, caller: Caller, repo: str, digest: str) -> Manifest | None:
        try:
            return await self.registry.manifest(caller, repo, digest)
        except ManifestUnknown:
            return None  # a sparse or broken index: not stored in this repository

    def _node(self, manifest: Manifest) -> Node:
        size = len(manifest.body)
        try:
            if is_index(manifest.media_type):
                return index_node(manifest.digest, size, self.registry.index(manifest))
            return image_node(manifest.digest, size, self.registry.image_manifest(manifest))
        except GatewayError:  # malformed or of another kind: its own bytes only
            return Node(manifest.digest, size)

    # -- the registry --------------------------------------------------------------------

    async def registry_usage(self, caller: Caller) -> RegistryUsage:
        names = await self.registry.catalog(caller)
        walk = self._walk_of(caller)
        missing = [n for n in names if n not in walk.results and n not in walk.denied]
        if missing:
            walk.finished_at = None
            self._start(caller, walk, missing)
        task = walk.task
        if task is not None:
            budget = min(WAIT_SECONDS, remaining(WAIT_SECONDS + MARGIN_SECONDS) - MARGIN_SECONDS)
            if budget > 0:
                await asyncio.wait({task}, timeout=budget)
        readable = [n for n in names if n not in walk.denied]
        counted = {n: walk.results[n].items for n in readable if n in walk.results}
        return RegistryUsage(
            figures=registry_figures(counted),
            complete=len(counted) == len(readable),
            counted=len(counted),
            total=len(readable),
        )

    def _walk_of(self, caller: Caller) -> RegistryWalk:
        walk = self._walks.get(caller.key)
        stale = (
            walk is not None
            and walk.task is None
            and walk.finished_at is not None
            and self._now() - walk.finished_at >= self.ttl
        )
        if walk is None or stale:
            walk = self._walks[caller.key] = RegistryWalk(caller.key)
            while len(self._walks) > MAX_WALKS:
                _, oldest = self._walks.popitem(last=False)
                if oldest.task is not None:
                    oldest.task.cancel()
        self._walks.move_to_end(caller.key)
        return walk

    def _start(self, caller: Caller, walk: RegistryWalk, repos: list[str]) -> None:
        if self._closed or walk.task is not None:
            return
        walk.failed.clear()
        # A fresh context: no request's deadline, upstream counter or request id.
        walk.task = asyncio.get_running_loop().create_task(
            self._walk(caller, walk, repos), context=contextvars.Context()
        )
        walk.task.add_done_callback(lambda task: self._walk_done(walk, task))

    def _walk_done(self, walk: RegistryWalk, task: asyncio.Task[None]) -> None:
        if walk.task is task:
            walk.task = None
            walk.finished_at = self._now()
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("usage walk failed", exc_info=exc)

    async def _walk(self, caller: Caller, walk: RegistryWalk, repos: list[str]) -> None:
        if self._walk_slots is None:
            self._walk_slots = asyncio.Semaphore(self.walk_concurrency)
        slots = self._walk_slots
        queue = list(reversed(repos))

        async def worker() -> None:
            while queue:
                repo = queue.pop()
                async with slots:
                    await self._walk_one(caller, walk, repo)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.walk_concurrency, len(repos))):
                    group.create_task(worker())
        except* GatewayError as failures:
            stopped = failures.exceptions[0]
            log.warning("usage walk stopped: %s", getattr(stopped, "code", stopped))

    async def _walk_one(self, caller: Caller, walk: RegistryWalk, repo: str) -> None:
        generation = walk.generation
        try:
            figures = await self.repository(caller, repo)
        except NameUnknown:
            figures = EMPTY  # in the catalog but never tagged: no tag reaches anything
        except GatewayError as exc:
            if aborts(exc, one_repository=False):
                raise  # about the caller, not the repository: stop the walk
            if exc.denies_repository:
                walk.denied.add(repo)  # listed, but not this caller's to read
            else:
                walk.failed[repo] = exc.code
            return
        if walk.generation == generation:
            walk.results[repo] = figures

    # -- what changed (a subscriber of the view) ---------------------------------------------

    def changed(self, changes: Sequence[Change]) -> None:
        """The figures of a repository that changed are read again; a caller who logged
        out loses theirs and their walk; a gap drops every figure."""
        if any(c.everything for c in changes):
            self._drop_all()
            return
        repos = repositories(changes)
        if repos:
            self._drop_repositories(repos)
        for change in changes:
            if change.logout is not None:
                self._drop_caller(change.logout)

    def _drop_repositories(self, repos: Collection[str]) -> None:
        self.figures.drop_groups("repo", repos)
        for walk in self._walks.values():
            walk.generation += 1
            for repo in repos:
                walk.results.pop(repo, None)
                walk.denied.discard(repo)

    def _drop_all(self) -> None:
        self.figures.clear()
        for walk in self._walks.values():
            walk.generation += 1
            walk.results.clear()
            walk.denied.clear()

    def _drop_caller(self, caller_key: str) -> None:
        self.figures.drop_groups("caller", (caller_key,))
        walk = self._walks.pop(caller_key, None)
        if walk is not None and walk.task is not None:
            walk.task.cancel()

    async def aclose(self) -> None:
        """Cancel every walk and wait for them to end (shutdown)."""
        self._closed = True
        tasks = [w.task for w in self._walks.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _nothing() -> None:
    return None


def _first(key: tuple[str, str]) -> str:
    return key[0]


def _second(key: tuple[str, str]) -> str:
    return key[1]
