"""A tag→digest index per large repository, filled in the background.

A repository with thousands of tags cannot be resolved tag by tag within one request:
the image detail's ``tags`` (the tags on the same digest) and a ``sort=created`` page
need every tag's digest, and ``sort=created`` every digest's date. For a repository
with more tags than ``min_tags`` those answers come from what is already known (this
index, and the tag→digest cache) and say whether that was everything
(``tags_complete``, ``complete``); the tags not known yet are read here, in the
background, and the next answers are complete.

Rules:

- **Isolation.** The index holds facts about a repository (tag → digest, digest →
  created), shared by every caller who may read it: ``CachedRegistry.tag_index_view``
  hands it out only after that caller's access to the repository was confirmed. It is
  only ever consulted for the tags of the tag list the registry answered *that caller*
  (tag lists stay per caller), so a tag another caller saw is never shown.
- **Background.** A fill runs in a task of its own, in a fresh context: no request's
  deadline (``gateway.deadline``), upstream counter or request id is inherited. It
  reads with the credentials of a caller whose access was just confirmed, at most
  ``concurrency`` reads at once over all repositories (a small share of the upstream
  slots, so interactive requests are never starved), and it is cancelled when the
  repository is dropped (notifications, deletes), when that caller logs out, and at
  shutdown (``aclose``).
- **Failures never poison.** Only what was read successfully is stored. A tag the
  registry no longer knows is recorded as gone; a tag whose read failed otherwise stays
  unknown (the answers stay flagged incomplete) and is read again by the next fill.
  A 401/403/429 stops the fill: another caller's next answer starts a new one.
- **Freshness.** A tag's digest can change (a push of the same tag). The index is
  dropped with the repository's tag lists by a registry notification; without
  notifications it is re-read in the background once it is older than ``ttl``, still
  answering from what it holds meanwhile. A digest's date never changes (content is
  immutable), so the dates are kept. A tag resolved by a request updates the index too.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from gateway.errors import GatewayError, NotFound, aborts
from gateway.registry.credentials import Caller
from gateway.view.changes import Change, repositories

log = logging.getLogger(__name__)

# What ``RepoIndex.digest`` answers for a tag the index does not know yet.
UNKNOWN = "?"
# Recorded for a tag the registry answered 404 for after the list named it (deleted).
GONE = ""


@dataclass(frozen=True)
class Reader:
    """How a fill reads one tag: its digest (NotFound when it is gone) and, once an
    answer asked for dates (``sort=created``), that digest's date."""

    resolve: Callable[[Caller, str, str], Awaitable[str]]
    describe: Callable[[Caller, str, str], Awaitable[str | None]]


@dataclass(eq=False)
class RepoIndex:
    """The index of one repository. Changed on the event loop only."""

    repo: str
    fresh_until: float
    digests: dict[str, str] = field(default_factory=dict)  # tag -> digest, or GONE
    created: dict[str, str | None] = field(default_factory=dict)  # digest -> date or None
    # Tags to read, in order; True: read its digest again even if known (a refresh).
    pending: dict[str, bool] = field(default_factory=dict)
    dates: bool = False  # whether digests' dates are read too (a sort=created asked)
    task: asyncio.Task[None] | None = None
    caller_key: str | None = None  # whose credentials the running fill uses
    dropped: bool = False

    def digest(self, tag: str) -> str:
        return self.digests.get(tag, UNKNOWN)

    def note(self, tag: str, digest: str) -> None:
        if not self.dropped:
            self.digests[tag] = digest

    @property
    def filling(self) -> bool:
        return self.task is not None


class TagIndex:
    def __init__(
        self,
        *,
        min_tags: int = 200,
        ttl: float = 600.0,
        concurrency: int = 4,
        max_repositories: int = 128,
    ) -> None:
        self.min_tags = min_tags
        self.ttl = ttl
        self.concurrency = max(1, concurrency)
        self.max_repositories = max_repositories
        self._repos: OrderedDict[str, RepoIndex] = OrderedDict()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    def is_large(self, count: int) -> bool:
        """Whether ``count`` tags are answered through the index (else resolved at once)."""
        return count > self.min_tags

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- the data ----------------------------------------------------------------------

    def get(self, repo: str) -> RepoIndex | None:
        return self._repos.get(repo)

    def of(self, repo: str) -> RepoIndex:
        """The index of ``repo``, made empty when there is none (the oldest used goes
        when there are too many)."""
        index = self._repos.get(repo)
        if index is None:
            index = self._repos[repo] = RepoIndex(repo, self._now() + self.ttl)
            while len(self._repos) > self.max_repositories:
                _, oldest = self._repos.popitem(last=False)
                self._drop(oldest)
        else:
            self._repos.move_to_end(repo)
        return index

    def note(self, repo: str, tag: str, digest: str) -> None:
        """A tag resolved elsewhere (a request): kept when the repository is indexed."""
        index = self._repos.get(repo)
        if index is not None:
            index.note(tag, digest)

    def changed(self, changes: Sequence[Change]) -> None:
        """A subscriber of the view: a repository that changed is read again from
        scratch; a logout stops the fills reading with that caller's credentials; a gap
        drops everything."""
        if any(c.everything for c in changes):
            self.forget_all()
            return
        self.forget(repositories(changes))
        for change in changes:
            if change.logout is not None:
                self.forget_caller(change.logout)

    def forget(self, repos: Iterable[str]) -> None:
        for repo in repos:
            index = self._repos.pop(repo, None)
            if index is not None:
                self._drop(index)

    def forget_all(self) -> None:
        """Drop every repository's index (invalidations may have been missed)."""
        self.forget(list(self._repos))

    def forget_caller(self, caller_key: str) -> None:
        """Stop the fills that read with this caller's credentials (a logout): what they
        read stays; the next reader's answer starts a fill of its own."""
        for index in self._repos.values():
            if index.task is not None and index.caller_key == caller_key:
                index.task.cancel()

    def _drop(self, index: RepoIndex) -> None:
        index.dropped = True
        index.pending.clear()
        if index.task is not None:
            index.task.cancel()

    def __len__(self) -> int:
        return len(self._repos)

    # -- filling -----------------------------------------------------------------------

    def fill(
        self,
        caller: Caller,
        index: RepoIndex,
        missing: Iterable[str],
        reader: Reader,
        *,
        every: Iterable[str] = (),
        dates: bool = False,
    ) -> None:
        """Read the ``missing`` tags (digest unknown, or date unknown with ``dates``)
        into ``index`` in the background; a tag already queued is not queued twice.
        ``caller``'s access to the repository must have been confirmed. When the index
        is older than ``ttl`` and no fill runs, ``every`` tag (the caller's whole list)
        has its digest read again, while the answers still come from what the index
        holds."""
        if self._closed or index.dropped:
            return
        index.dates = index.dates or dates
        if index.task is None and self._now() >= index.fresh_until:
            index.fresh_until = self._now() + self.ttl
            index.pending.update(dict.fromkeys(every, True))
        for tag in missing:
            index.pending.setdefault(tag, False)
        if index.task is not None or not index.pending:
            return
        index.caller_key = caller.key
        # A fresh context: no request's deadline, upstream counter or request id.
        index.task = asyncio.get_running_loop().create_task(
            self._run(caller, index, reader), context=contextvars.Context()
        )
        index.task.add_done_callback(lambda task: self._done(index, task))

    def _done(self, index: RepoIndex, task: asyncio.Task[None]) -> None:
        if index.task is task:
            index.task = None
            index.caller_key = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("tag index of %s: fill failed", index.repo, exc_info=exc)

    async def _run(self, caller: Caller, index: RepoIndex, reader: Reader) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        started = self._now()
        counts = {"read": 0, "failed": 0}

        async def worker() -> None:
            while index.pending and not index.dropped:
                tag = next(iter(index.pending))
                again = index.pending.pop(tag)
                async with slots:
                    await self._read(caller, index, tag, again, reader, counts)

        stopped: BaseException | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self.concurrency):
                    group.create_task(worker())
        except* GatewayError as failures:
            stopped = failures.exceptions[0]
        if stopped is not None:
            log.warning(
                "tag index of %s: stopped after %d tags: %s",
                index.repo,
                counts["read"],
                getattr(stopped, "code", stopped),
            )
            return
        log.debug(
            "tag index of %s: %d tags read in %.1fs (%d failed)",
            index.repo,
            counts["read"],
            self._now() - started,
            counts["failed"],
        )

    async def _read(
        self,
        caller: Caller,
        index: RepoIndex,
        tag: str,
        again: bool,
        reader: Reader,
        counts: dict[str, int],
    ) -> None:
        try:
            digest = index.digest(tag)
            if again or digest == UNKNOWN:
                digest = await reader.resolve(caller, index.repo, tag)
                index.note(tag, digest)
            if digest == GONE:
                return
            if index.dates and digest not in index.created:
                created = await reader.describe(caller, index.repo, digest)
                if not index.dropped:
                    index.created[digest] = created
        except NotFound:
            index.note(tag, GONE)  # deleted since the tag list was read
        except GatewayError as exc:
            if aborts(exc, one_repository=True):
                raise  # about the caller, not the tag: stop the fill
            counts["failed"] += 1  # stays unknown (or undated): the next fill reads it
            return
        counts["read"] += 1

    async def aclose(self) -> None:
        """Cancel every fill and wait for them to end (shutdown)."""
        self._closed = True
        tasks = [i.task for i in self._repos.values() if i.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
