"""What changed: the record the view hands its subscribers, and the list of subscribers.

Whatever makes the view drop cached data — a registry notification, a write through the
gateway, another replica's message, a logout, a gap in that message stream — becomes a
batch of ``Change`` records. The view drops its own entries first, then calls every
subscriber with the batch, synchronously, on the event loop: a subscriber's derived
data (usage figures, the tag index, kept answers, and whatever is added next) is gone
before any other request runs. A subscriber that needs I/O (a search index writing to
disk) schedules it itself and returns at once.

A change says what is known, never more: a notification names its repository, action,
tag, digest, media type and actor; a gateway write names its caller; another replica's
message repeats what that replica learnt (``origin``); a logout names only the caller;
a gap names nothing (anything may have changed: drop everything derived).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger("gateway.view")

#: Where this replica learnt the change.
Source = Literal["notification", "gateway", "replica", "logout", "gap"]
#: What happened to the repository, when known. ``tag-move``: a tag now names another
#: digest than the one the view knew.
Action = Literal["push", "delete", "tag-move"]
ACTIONS: frozenset[str] = frozenset({"push", "delete", "tag-move"})


@dataclass(frozen=True, slots=True)
class Change:
    """One change, as much of it as is known."""

    source: Source
    repositories: tuple[str, ...] = ()
    action: Action | None = None
    tag: str | None = None
    digest: str | None = None
    media_type: str | None = None
    actor: str | None = None  # who, by name: a notification's actor, a caller's username
    caller: str | None = None  # the caller's key (a gateway write, a logout)
    origin: Source | None = None  # for source "replica": where that replica learnt it
    # A gateway write: the client that asked for it (its address and user agent), as
    # the activity log records it. Not repeated to other replicas: the replica that
    # made the write records it.
    addr: str | None = None
    user_agent: str | None = None

    @property
    def everything(self) -> bool:
        """Whether anything may have changed (a gap: messages may have been missed)."""
        return self.source == "gap"

    @property
    def logout(self) -> str | None:
        """The key of the caller who logged out, for a logout (here or elsewhere)."""
        if self.source == "logout" or self.origin == "logout":
            return self.caller
        return None


#: A subscriber: called with each batch of changes, after the view dropped its own data.
Subscriber = Callable[[Sequence[Change]], None]


def repositories(changes: Iterable[Change]) -> list[str]:
    """The repositories a batch names, once each, in first-named order."""
    return list(dict.fromkeys(r for c in changes for r in c.repositories))


class Subscribers:
    """Who keeps data derived from the view, told of every change in order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def add(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def tell(self, changes: Sequence[Change]) -> None:
        """Every subscriber, each with the whole batch. One that fails is logged and the
        others are still told: a keeper's bug must not keep stale data elsewhere."""
        if not changes:
            return
        for subscriber in self._subscribers:
            try:
                subscriber(changes)
            except Exception:
                log.exception("a subscriber failed on %d changes", len(changes))
