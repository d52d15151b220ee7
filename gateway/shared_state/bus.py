"""Invalidation across replicas: generations in Redis, and messages on ``lr:invalidate``.

Every repository-scoped value in Redis carries the generation it was read under
(``gateway.shared_state.caches``); ``g:<h(repo)>`` and ``g:catalog`` hold the current
ones, random tokens without TTL. A change sets new generations, so every caller's
entries of a repository go stale at once without listing them (hashed per-caller keys
cannot be listed), and publishes what changed, so every other replica drops its own
in-process copies when the message arrives.

The origin replica fences the scopes it changes (no Redis reads of them) until their new
generations are set; if Redis fails meanwhile, for as long as the entries live. A
subscription that was cut may have missed messages: on every (re)subscribe the listener
reports a gap, and the replica drops all its in-process lists, which the TTL would have
done anyway.

A message is JSON: ``o`` the origin replica, ``r`` the repositories, ``l`` whether their
lists go, ``c`` whether the catalogs lacking them go, ``u`` a caller's shared name (a
logout), ``s`` where the origin learnt the change, and ``e`` what is known of each
change (repository, action, tag, digest, media type, actor), for the subscribers that
keep derived data on every replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable

CHANNEL = KEY_PREFIX + "invalidate"
CATALOG_SCOPE = "catalog"
log = logging.getLogger("gateway.shared_state")

#: What is known of one change, as a message carries it: repository, action, tag,
#: digest, media type, actor (all but the repository may be None).
Detail = tuple[str, str | None, str | None, str | None, str | None, str | None]


def repo_scope(repo: str) -> str:
    return "repo:" + repo


def gen_key(scope: str) -> str:
    """The key of a scope's generation (plain SHA-256: a repository name is no secret,
    and every replica must find the same key whatever its secret key)."""
    return f"{KEY_PREFIX}g:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Message:
    """What another replica asks this one to drop, and what it knows of why."""

    repos: list[str]
    lists: bool
    catalogs: bool
    caller: str | None  # a caller's shared name (a logout), or None
    source: str | None = None  # where the origin learnt it (notification, gateway, logout)
    details: list[Detail] = field(default_factory=list)

    def encode(self, replica: str) -> bytes:
        doc: dict[str, Any] = {"o": replica, "r": self.repos, "l": self.lists, "c": self.catalogs}
        if self.caller is not None:
            doc["u"] = self.caller
        if self.source is not None:
            doc["s"] = self.source
        if self.details:
            doc["e"] = self.details
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> tuple[str | None, Message] | None:
        """(origin replica, message), or None for anything that is not one."""
        try:
            doc = json.loads(data)
            repos = [r for r in doc.get("r", []) if isinstance(r, str)]
            caller = doc.get("u")
            source = doc.get("s")
            details = [_detail(d) for d in doc.get("e", [])]
            origin = doc.get("o")
        except (ValueError, AttributeError, TypeError):
            return None
        message = cls(
            repos,
            bool(doc.get("l")),
            bool(doc.get("c")),
            caller if isinstance(caller, str) else None,
            source if isinstance(source, str) else None,
            [d for d in details if d is not None],
        )
        return (origin if isinstance(origin, str) else None), message


def _detail(raw: object) -> Detail | None:
    if not isinstance(raw, list) or len(raw) != 6 or not isinstance(raw[0], str):
        return None
    rest = [v if isinstance(v, str) else None for v in raw[1:]]
    return (raw[0], rest[0], rest[1], rest[2], rest[3], rest[4])


class Bus:
    """Announces this replica's changes and hands other replicas' to ``on_message``."""

    def __init__(self, store: RedisStore, *, fence_seconds: float) -> None:
        self.store = store
        self.replica = secrets.token_hex(8)
        self.fence_seconds = fence_seconds
        # Scopes whose Redis entries may be stale until their invalidation is done.
        self._fences: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.received = 0  # other replicas' messages applied here (a metric)

    def fenced(self, scope: str) -> bool:
        until = self._fences.get(scope)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._fences[scope]
            return False
        return True

    def announce(self, message: Message) -> None:
        """Make the Redis entries of the message's scopes stale and tell the other
        replicas. Returns at once; until it is done, this replica does not read them."""
        scopes = [repo_scope(r) for r in message.repos] if message.lists else []
        if message.catalogs:
            scopes.append(CATALOG_SCOPE)
        if not scopes and message.caller is None:
            return
        until = time.monotonic() + self.fence_seconds
        for scope in scopes:
            self._fences[scope] = until
        task = asyncio.get_running_loop().create_task(
            self._announce(scopes, message.encode(self.replica))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, scopes: Sequence[str], data: bytes) -> None:
        try:
            if scopes:
                fresh = secrets.token_hex(8).encode()
                mapping = {gen_key(s): fresh for s in scopes}
                await self.store.call(lambda: self.store.redis.mset(mapping))
            await self.store.publish(CHANNEL, data)
        except StoreUnavailable:
            log.warning("an invalidation did not reach redis; other replicas see it by TTL")
            return
        for scope in scopes:
            self._fences.pop(scope, None)

    async def settle(self) -> None:
        """Wait for the announcements in flight (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self, on_message: Callable[[Message], None], on_gap: Callable[[], None]) -> None:
        """Listen for other replicas' messages (on the running loop)."""
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(on_message, on_gap)
            )

    async def _listen(
        self, on_message: Callable[[Message], None], on_gap: Callable[[], None]
    ) -> None:
        async for data in self.store.messages(CHANNEL):
            if not data:  # (re)subscribed: what was published meanwhile is lost
                on_gap()
                continue
            decoded = Message.decode(data)
            if decoded is None or decoded[0] == self.replica:
                continue
            self.received += 1
            on_message(decoded[1])

    async def aclose(self) -> None:
        tasks = [t for t in (self._listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
