"""The search index kept fresh: a subscriber of the view's changes.

Every change the view hears of — a registry notification, a write through the gateway,
another replica's message repeating one — is applied from **its own** repository, tag
and digest, in the order heard, by one task: distribution sends a push notification
before the tag is readable (re-reading the tag on the event misses it about half the
time), so the tag is recorded as pointing at the event's digest at once, and the
digest's documents are read by digest (with the service account's credentials; without
one, by the next search of a caller who may see that repository). A tag list read
before the change never undoes it (the index compares times).

- a push or tag move with a tag: ``tag_pushed``; then the documents and SBOMs missing in
  that repository. A referrers fallback tag (``sha256-<hex>``) names its subject, whose
  SBOMs are looked for again, starting with the index the event named. A repository
  new to the index has its whole tag list read too (by the service account's walk).
- a manifest pushed by digest (an OCI 1.1 referrer on a registry with the referrers API
  changes no tag): read it; if it has a subject, that subject's SBOMs are looked for again.
- a delete with a tag: ``tag_deleted``; by digest: ``digest_deleted``.
- a change of unknown kind (a write whose details are lost, a message without details):
  the repository's tag list is read again at once; a gap: every tag list.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence

from gateway.errors import GatewayError
from gateway.models import media_types as mt
from gateway.models.artifact_tags import is_artifact_tag, subject_of
from gateway.registry.credentials import Caller
from gateway.registry.names import is_digest, is_tag
from gateway.search import SearchIndex
from gateway.services.search_reads import SearchReads
from gateway.services.search_walk import SearchWalker
from gateway.view import CachedRegistry, Change

log = logging.getLogger(__name__)

MAX_QUEUED = 100_000  # past this, the queue is dropped and every tag list read again


def _manifest_or_unknown(media_type: str | None) -> bool:
    return media_type is None or mt.base(media_type) in mt.MANIFEST_TYPES


class SearchEvents:
    def __init__(
        self,
        registry: CachedRegistry,
        index: SearchIndex,
        reads: SearchReads,
        walker: SearchWalker,
        service_account: Caller | None,
    ) -> None:
        self.index = index
        self.reads = reads
        self.walker = walker
        self.service = service_account
        self.queue: deque[Change] = deque()
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        registry.subscribe(self.changed)

    def changed(self, changes: Sequence[Change]) -> None:
        """Queue what changed; applied by one task, in order (never blocks the loop)."""
        for change in changes:
            if change.everything:
                self.queue.clear()
                self.walker.wake(everything=True)
            elif change.logout is not None:
                self.walker.end_walk_of(change.logout)
            elif change.repositories:
                self.queue.append(change)
        if len(self.queue) > MAX_QUEUED:
            self.queue.clear()
            self.walker.wake(everything=True)
        if self.queue and (self._task is None or self._task.done()):
            drain = self._drain()
            try:
                self._task = self.walker.spawn(drain)
            except RuntimeError:  # no running loop (a change told outside the app)
                drain.close()  # never started: nothing to await
                return

    async def settled(self) -> None:
        """Until every queued change is applied (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def _drain(self) -> None:
        while self.queue:
            change = self.queue.popleft()
            try:
                await self.apply(change)
            except GatewayError as exc:
                log.info("a change was not read into the search index: %s", exc.code)
                self.walker.wake(change.repositories)
            except ValueError:
                continue  # names the index refuses (checked by the view's grammar already)
            self.applied += 1

    async def apply(self, change: Change) -> None:
        if len(change.repositories) != 1 or change.action is None:
            self.walker.wake(change.repositories)
            return
        repo = change.repositories[0]
        tag = change.tag if change.tag and is_tag(change.tag) else None
        digest = change.digest if change.digest and is_digest(change.digest) else None
        if change.action == "delete":
            if tag is not None:
                await self.index.tag_deleted(repo, tag)
            elif digest is not None and _manifest_or_unknown(change.media_type):
                await self.index.digest_deleted(repo, digest)
            else:
                self.walker.wake((repo,))
            return
        if digest is None or not _manifest_or_unknown(change.media_type):
            return  # a blob pushed: nothing a search finds changed
        if tag is None:
            await self._pushed_by_digest(repo, digest)
            return
        await self.index.tag_pushed(repo, tag, digest, change.media_type)
        state = await self.index.repo_state(repo)
        if state is None or state.walked_at is None:
            self.walker.wake((repo,))  # a repository new to the index: its whole list
        if is_artifact_tag(tag) and (subject := subject_of(tag)) is not None:
            self.reads.hint(repo, subject, digest)
        if self.service is not None:
            self.walker.progress.units += await self.reads.missing(self.service, [repo])

    async def _pushed_by_digest(self, repo: str, digest: str) -> None:
        if self.service is None:
            return
        async with self.reads.gate():
            subject = await self.reads.subject_of(self.service, repo, digest)
        if subject is None:
            return
        await self.index.sboms_stale(repo, subject)
        self.walker.progress.units += await self.reads.missing(self.service, [repo])
