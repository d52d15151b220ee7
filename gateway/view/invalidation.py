"""Dropping what a change made stale: the one place the view's caches are invalidated.

Four things change what the view may answer, and each comes here:

- the registry's notifications (``gateway.services.events`` parses them) and the
  gateway's own writes (``gateway.view.writes``): the repositories they name lose their
  lists, pointers, memberships and referrers, for every caller; a catalog lacking one of
  them is dropped too when the repository may be new (a push; not a delete);
- another replica's message (``gateway.shared_state.bus``): the same drops, not
  published again;
- a logout: the caller's catalog, tag lists, access confirmations, referrers and
  registry tokens;
- a gap in the messages (the subscription was cut): every list, pointer and membership
  (not content, which is immutable, nor access).

Each drop is done in O(repositories + entries dropped), through the stores' indexes by
repository and by caller, plus one pass over the cached catalogs (one per caller, each
distinct shared list checked once). Every drop moves the store's generation, so a fetch
that began before it stores nothing. Then the subscribers are told (``Change``), and
with Redis the other replicas (the Redis entries go stale at once).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Sequence

from gateway.client_info import current_client
from gateway.registry.credentials import Caller
from gateway.shared_state.bus import Detail, Message
from gateway.view.caches import ViewCaches
from gateway.view.changes import ACTIONS, Action, Change, Source, Subscribers, repositories


class Invalidation:
    def __init__(
        self, caches: ViewCaches, subscribers: Subscribers, drop_tokens: Callable[[str], None]
    ) -> None:
        self.caches = caches
        self.shared = caches.shared
        self.subscribers = subscribers
        self._drop_tokens = drop_tokens

    def repositories(
        self, changes: Sequence[Change], *, new_repo_possible: bool, publish: bool = True
    ) -> None:
        """Drop every list and pointer of the repositories ``changes`` name (all
        callers). Content stays: it is immutable and only reachable through membership,
        which is dropped too. ``new_repo_possible``: each cached catalog that lacks one
        of them goes (the repository may be new)."""
        repos = repositories(changes)
        if not repos:
            return
        c = self.caches
        c.tag_lists.local.drop_groups("repo", repos)
        c.tag_digests.local.drop_groups("repo", repos)
        c.membership.local.drop_groups("repo", repos)
        c.referrers.drop_groups("repo", repos)
        if new_repo_possible:
            self._drop_catalogs_lacking(repos)
        self.subscribers.tell(changes)
        if publish:
            self._announce(changes, repos, lists=True, catalogs=new_repo_possible)

    def catalogs_lacking(
        self, repos: Collection[str], *, source: Source = "gateway", publish: bool = True
    ) -> None:
        """Drop each cached catalog that lacks one of ``repos`` (they may be new)."""
        if not repos:
            return
        changes = [Change(source, tuple(repos))]
        if publish:
            self._announce(changes, list(repos), lists=False, catalogs=True)
        self._drop_catalogs_lacking(repos)
        self.subscribers.tell(changes)

    def _drop_catalogs_lacking(self, repos: Collection[str]) -> None:
        wanted = sorted(set(repos))
        # By id: every value stays alive during the pass (drop_where lists them first).
        verdicts: dict[int, bool] = {}

        def lacking(_key: tuple[str], names: Sequence[str]) -> bool:
            verdict = verdicts.get(id(names))
            if verdict is None:
                verdict = verdicts[id(names)] = not _lists_all(names, wanted)
            return verdict

        self.caches.catalogs.local.drop_where(lacking)

    def caller(self, caller: Caller | str, *, change: Change | None = None) -> None:
        """Drop what is cached for a caller (a logout): ``caller``, or its key (a
        logout elsewhere, told by ``change``: not published again)."""
        caller_key = caller if isinstance(caller, str) else caller.key
        if self.shared is not None and isinstance(caller, Caller):
            name = self.shared.caller_name(caller)
            self.shared.bus.announce(Message([], False, False, name, "logout"))
        c = self.caches
        c.catalogs.local.drop_where(lambda k, _v: k[0] == caller_key)
        c.tag_lists.local.drop_groups("caller", (caller_key,))
        c.access.local.drop_groups("caller", (caller_key,))
        c.pushes.local.drop_groups("caller", (caller_key,))
        c.referrers.drop_groups("caller", (caller_key,))
        self._drop_tokens(caller_key)
        self.subscribers.tell([change or Change("logout", caller=caller_key)])

    def everything(self) -> None:
        """Drop every list, pointer and membership held in process (not content, which
        is immutable, nor access): after invalidations may have been missed."""
        c = self.caches
        for tier in (c.catalogs, c.tag_lists, c.tag_digests, c.membership):
            tier.local.clear()
        c.referrers.clear()
        self.subscribers.tell([Change("gap")])

    def remote(self, message: Message) -> None:
        """Another replica's change: drop the in-process copies (not published)."""
        origin: Source | None = message.source if message.source in _SOURCES else None  # type: ignore[assignment]
        changes = _replica_changes(message, origin)
        if message.lists and message.repos:
            self.repositories(changes, new_repo_possible=message.catalogs, publish=False)
        elif message.catalogs:
            self.catalogs_lacking(message.repos, source="replica", publish=False)
        if message.caller is not None and self.shared is not None:
            local = self.shared.local_key(message.caller)
            if local is not None:
                self.caller(local, change=Change("replica", caller=local, origin="logout"))

    def _announce(
        self, changes: Sequence[Change], repos: list[str], *, lists: bool, catalogs: bool
    ) -> None:
        if self.shared is None:
            return
        details: list[Detail] = [
            (c.repositories[0], c.action, c.tag, c.digest, c.media_type, c.actor)
            for c in changes
            if len(c.repositories) == 1 and (c.action or c.tag or c.digest)
        ]
        source = changes[0].source if changes else None
        self.shared.bus.announce(Message(repos, lists, catalogs, None, source, details))


_SOURCES = frozenset({"notification", "gateway", "replica", "logout", "gap"})


def _replica_changes(message: Message, origin: Source | None) -> list[Change]:
    """What a message says changed, as this replica's subscribers are told it."""
    changes = [
        Change(
            "replica",
            (repo,),
            action=action if action in ACTIONS else None,  # type: ignore[arg-type]
            tag=tag,
            digest=digest,
            media_type=media_type,
            actor=actor,
            origin=origin,
        )
        for repo, action, tag, digest, media_type, actor in message.details
    ]
    detailed = {c.repositories[0] for c in changes}
    rest = tuple(r for r in message.repos if r not in detailed)
    if rest:
        changes.append(Change("replica", rest, origin=origin))
    return changes


def _lists_all(names: Sequence[str], wanted: list[str]) -> bool:
    """Whether the sorted, duplicate-free ``names`` (a cached catalog) holds every one
    of the sorted, duplicate-free ``wanted``: at most len(wanted) bisections, each
    starting where the last one matched; none when there are more wanted than names."""
    if len(wanted) > len(names):
        return False
    i = 0
    for repo in wanted:
        i = bisect.bisect_left(names, repo, i)
        if i == len(names) or names[i] != repo:
            return False
        i += 1
    return True


def gateway_change(
    caller: Caller,
    repo: str,
    action: Action | None = None,
    *,
    tag: str | None = None,
    digest: str | None = None,
    media_type: str | None = None,
) -> Change:
    """A change made through the gateway, with its caller as the actor and the client
    of the request being handled (``gateway.client_info``) as where it came from."""
    client = current_client.get()
    return Change(
        "gateway",
        (repo,),
        action=action,
        tag=tag,
        digest=digest,
        media_type=media_type,
        actor=caller.username,
        caller=caller.key,
        addr=None if client is None else client.addr,
        user_agent=None if client is None else client.user_agent,
    )
