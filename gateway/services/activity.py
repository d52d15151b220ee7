"""The activity log wired to the gateway: what is recorded, and the answers built on it.

The engine (``gateway.activity``) keeps records and knows nothing of HTTP or of the
view; this service is where the two meet:

- **Recording.** A registry notification's events are handed to ``Activity.notify``
  after the view dropped what they made stale (``notified``), in the background: a slow
  or broken store never delays or fails the endpoint. A write made through the gateway
  (API deletes, retention, bulk delete, ``/v2`` pushes and deletes) is learnt as every
  derived datum learns it — as a subscriber of the view's changes (``changed``: source
  ``gateway`` with an action), recorded with the caller as actor and the client's
  address and user agent. A manifest ``GET`` through ``/v2`` by a client is a pull
  (``pulled``); the registry's echo of each of these carries this gateway's origin and
  is dropped by the engine.
- **Answers.** The feed, the marks (``last_pulled``/``last_pushed``) of a page of tag
  rows in one store call, the stale report, retention's ``not_pulled_days`` verdicts —
  each under the caller's rights: a repository's events and dates are shown only to a
  caller the registry lets pull it (the view's rule, ``ensure_access``).

Recording does not end the kept answers (``services.answers``: at most 2 seconds old):
a pull is not a change of the registry, and ending every kept answer at each pull of a
busy registry would keep none. A tag row shows a pull at most that much later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from gateway.activity import Activity, MarkKey, Marks
from gateway.activity.paging import StaleTag, TagRow
from gateway.activity.records import NO_MARKS, Action, ActivityUnavailable, Record, format_time
from gateway.client_info import current_client
from gateway.errors import ActivityStoreUnavailable, GatewayError, InvalidRequest
from gateway.registry.credentials import Caller
from gateway.registry.names import is_reference_digest
from gateway.services.usage import UsageService
from gateway.view import CachedRegistry, Change

log = logging.getLogger("gateway.activity")

#: Repositories whose access is confirmed at once for one feed batch.
ACCESS_CONCURRENCY = 8
#: How long closing waits for records still being written.
CLOSE_SECONDS = 5.0
#: Repositories one stale-report page reads the usage figures of (a short page with a
#: ``next`` means more may follow, as the feed's; ``repository:~`` continues after one).
STALE_REPOSITORIES = 100
#: Sorts after every tag (tags are made of A-Z a-z 0-9 _ . -).
AFTER_EVERY_TAG = "~"
#: Bodies up to this size are parsed on the event loop; larger ones in a thread.
INLINE_BYTES = 64 * 1024


def _unavailable() -> ActivityStoreUnavailable:
    return ActivityStoreUnavailable(
        "the activity store cannot be read now: try again in a moment",
        headers={"Retry-After": "5"},
    )


def _record_action(change: Change) -> Action | None:
    if change.action in ("push", "tag-move"):
        return "push"
    if change.action == "delete":
        return "delete"
    return None


class ActivityService:
    def __init__(
        self,
        activity: Activity,
        registry: CachedRegistry,
    ) -> None:
        self.activity = activity
        self.registry = registry
        self._tasks: set[asyncio.Task[Any]] = set()
        registry.subscribe(self.changed)

    # -- recording: in the background, never raises --------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, list[Record]]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (a change outside the app's life): nothing to do
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("recording activity failed: %s", type(exc).__name__)

    def changed(self, changes: Sequence[Change]) -> None:
        """A subscriber of the view: the writes made through this gateway, recorded."""
        records = []
        for change in changes:
            action = _record_action(change)
            if change.source != "gateway" or action is None or len(change.repositories) != 1:
                continue
            # A tag delete names where the tag pointed, but the image stays (other tags,
            # by digest): recorded as the tag's delete alone, as 3.x notifies it, so
            # the image's last pull is kept.
            tag_only = action == "delete" and change.tag is not None
            try:
                records.append(
                    self.activity.made(
                        action,
                        change.repositories[0],
                        tag=change.tag,
                        digest=None if tag_only else change.digest,
                        media_type=change.media_type,
                        actor=change.actor,
                        addr=change.addr,
                        user_agent=change.user_agent,
                    )
                )
            except ValueError:  # not a repository name: nothing the registry holds
                continue
        if records:
            self._spawn(self.activity.record(records))

    def pulled(
        self, caller: Caller, repo: str, reference: str, digest: str, media_type: str | None
    ) -> None:
        """A client's manifest ``GET`` through ``/v2``: one pull, as the real client."""
        client = current_client.get()
        try:
            record = self.activity.made(
                "pull",
                repo,
                tag=None if is_reference_digest(reference) else reference,
                digest=digest,
                media_type=media_type,
                actor=caller.username,
                addr=None if client is None else client.addr,
                user_agent=None if client is None else client.user_agent,
            )
        except ValueError:
            return
        self._spawn(self.activity.record([record]))

    def notified(self, body: bytes) -> None:
        """A notification envelope (already checked, and the caches already dropped):
        its events recorded in the background."""

        async def work() -> list[Record]:
            try:
                if len(body) > INLINE_BYTES:
                    doc = await asyncio.to_thread(json.loads, body)
                else:
                    doc = json.loads(body)
            except (ValueError, RecursionError):
                return []
            events = doc.get("events") if isinstance(doc, dict) else None
            return await self.activity.notify(events)

        self._spawn(work())

    async def settle(self) -> None:
        """Wait for the records being written (tests; shutdown)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_SECONDS)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_SECONDS)
        for task in set(self._tasks):
            task.cancel()
        await self.activity.aclose()

    # -- rights --------------------------------------------------------------------------

    def visible(self, caller: Caller) -> Callable[[frozenset[str]], Awaitable[AbstractSet[str]]]:
        """The repositories of a batch the registry lets ``caller`` pull (the view's
        rule, confirmations remembered as every other answer's are)."""
        slots = asyncio.Semaphore(ACCESS_CONCURRENCY)

        async def allowed(repo: str) -> bool:
            async with slots:
                try:
                    await self.registry.ensure_access(caller, repo)
                except GatewayError as exc:
                    if exc.status in (401, 403, 404):
                        return False
                    raise
                return True

        async def visible(names: frozenset[str]) -> AbstractSet[str]:
            ordered = sorted(names)
            verdicts = await asyncio.gather(*(allowed(r) for r in ordered))
            return {r for r, ok in zip(ordered, verdicts, strict=True) if ok}

        return visible

    # -- answers -------------------------------------------------------------------------

    async def feed(
        self,
        caller: Caller,
        *,
        repository: str | None,
        action: str | None,
        actor: str | None,
        since: str | None,
        n: int,
        last: str | None,
    ) -> dict[str, Any]:
        """``GET /api/activity``. Raises ``ActivityUnavailable`` (503)."""
        try:
            page = await self.activity.feed(
                repository=repository,
                action=action,
                actor=actor,
                since=since,
                n=n,
                last=last,
                visible=self.visible(caller),
            )
        except ActivityUnavailable:
            raise _unavailable() from None
        return page.api()

    async def stale(
        self,
        caller: Caller,
        usage: UsageService,
        *,
        days: float,
        repository: str | None,
        n: int,
        last: str | None,
    ) -> dict[str, Any]:
        """``GET /api/stale``: the tags (repository order, then tag order) whose image
        was not pulled in ``days`` days, with what deleting only that tag would free.
        The rows come from the caller's usage figures of each repository (tags, digests
        and exclusive bytes at once, kept as the usage page keeps them); a repository
        the registry refuses the caller is left out. ``last``: ``repository:tag`` of the
        previous page's last row. One page reads at most ``STALE_REPOSITORIES``
        repositories. Raises ``ActivityUnavailable`` (503)."""
        after: tuple[str, str] | None = None
        if last:
            repo_part, sep, tag_part = last.rpartition(":")
            if not sep or not repo_part or not tag_part:
                raise InvalidRequest(
                    "last must be repository:tag",
                    detail=[
                        {
                            "loc": ["query", "last"],
                            "msg": "not repository:tag",
                            "type": "value_error",
                        }
                    ],
                )
            after = (repo_part, tag_part)
        repos = [repository] if repository else sorted(await self.registry.catalog(caller))
        sizes_of: dict[tuple[str, str], int] = {}
        cut: list[str] = []  # the last repository read, when the budget ended the walk

        async def rows() -> AsyncIterator[TagRow]:
            read = 0
            for repo in repos:
                if after is not None and (
                    repo < after[0] or (repo == after[0] and after[1] == AFTER_EVERY_TAG)
                ):
                    continue
                if read == STALE_REPOSITORIES:
                    return  # ``cut`` holds the last one read
                read += 1
                cut[:] = [repo]
                try:
                    figures = await usage.repository(caller, repo)
                except GatewayError as exc:
                    if exc.status in (401, 403, 404) and repository is None:
                        continue  # not the caller's to see (or gone meanwhile)
                    raise
                for row in sorted(figures.by_tag, key=lambda r: r.tag):
                    if after is not None and (repo, row.tag) <= after:
                        continue
                    sizes_of[(repo, row.tag)] = row.exclusive_bytes
                    yield TagRow(repo, row.tag, row.digest)

        async def sizes(page: Sequence[StaleTag]) -> list[int | None]:
            return [sizes_of.get((t.repository, t.tag)) for t in page]

        try:
            page = await self.activity.stale(rows(), days=days, n=n, sizes=sizes)
        except ActivityUnavailable:
            raise _unavailable() from None
        following = None if page.next is None else f"{page.next.repository}:{page.next.tag}"
        if following is None and cut and repository is None and cut[0] != repos[-1]:
            following = f"{cut[0]}:{AFTER_EVERY_TAG}"  # the budget ended the walk
        return {
            "tracking_since": format_time(page.tracking_since),
            "tags": [t.api() for t in page.tags],
            "next": following,
        }

    async def marks(self, keys: Sequence[MarkKey]) -> list[Marks]:
        """The marks of rows the caller was already shown (its access confirmed by
        the read that built them). No marks when the store cannot be read."""
        if not keys:
            return []
        return await self.activity.marks(keys)

    async def marks_of(self, keys: Sequence[MarkKey]) -> list[Marks]:
        """``marks``, or none for every row when there is no store at all."""
        try:
            return await self.marks(keys)
        except Exception:  # marks never raise; a bug must not fail a page either
            log.exception("reading activity marks failed")
            return [NO_MARKS] * len(keys)
