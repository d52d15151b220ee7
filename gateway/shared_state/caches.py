"""The second level of the view's caches, in Redis: one ``get``/``put`` for every kind of
entry, and ``once`` for a cold fetch done by one replica for all.

The in-process stores (``gateway.view``) stay the first level: a hit there never
touches Redis, and the warm path (``peek_*``) reads only them. On a local miss the view
asks here before it goes upstream; what it fetched upstream is written to both. Every
read and write is bounded (``RedisStore``) and fails as a miss: a Redis that is down or
slow costs at most one bounded try (then ``BACKOFF`` seconds of none), never an answer.

Keys (``lr:`` prefix), one ``Kind`` each, with the same isolation as in process:

- ``c:<h(caller)>`` the catalog, ``l:<h(caller, repo)>`` a tag list: per caller;
- ``a:<h(caller, repo)>`` an access confirmation, per caller (``LR_ACCESS_TTL``);
- ``d:<h(repo, tag)>`` tag→digest and ``m:<h(repo, digest)>`` membership: per repository,
  handed to a caller only once that caller's access is confirmed, as in process;
- ``b:<digest>`` content by digest: media type and the verified bytes, verified again
  when read (a value that does not hash to its digest is dropped, never served);
- ``k:<h(caller, what)>`` the lock of a cold fetch (``once``).

Catalogs, tag lists, pointers and memberships carry the generation of their scope (the
catalogs', or their repository's) they were read under, and are read with it in one
``MGET``: a value written under an older generation is a miss. ``gateway.shared_state.bus``
moves generations and tells the other replicas.

``h(...)`` is an HMAC under the secret key (``Sealer.name``); the caller part is an
HMAC of the caller's credentials, the same on every replica (the in-process caller key
is salted per process), never the credentials themselves. Lists and digests are not
secrets: they are stored as JSON, not sealed.

Coalescing across replicas (``once``): a cold upstream fetch takes a short lock
(``SET k:… NX PX``, ``LOCK_SECONDS``); a replica that finds it taken polls Redis for the
holder's result (every ``POLL_SECONDS``, up to ``LOCK_WAIT_SECONDS``) and fetches itself
only if none came. Locks are per caller (what they guard is read with the caller's
credentials), so the result a waiter takes is one the registry answered to that same
caller; the holder deletes its lock when done (compare-and-delete).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from cachetools import LRUCache

from gateway.registry.credentials import Caller
from gateway.shared_state.bus import CATALOG_SCOPE, Bus, gen_key, repo_scope
from gateway.shared_state.keys import Sealer
from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable

MAX_VALUE_BYTES = 4 * 1024 * 1024  # larger catalogs or blobs stay in process only
LOCK_SECONDS = 2.0  # a lock outlives a holder that died by this much at most
LOCK_WAIT_SECONDS = 1.0
POLL_SECONDS = 0.015
# Deletes the lock only if it still holds this holder's token.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

Stamp = bytes  # the generation a value was read under (b"" for none set yet)
T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """One kind of entry: its key letter, its lifetime, and the part of its key that
    names its repository (``repo``: an index; ``"catalog"``: the catalogs' scope; None:
    not read under a generation). ``hashed=False`` keys hold their part as it is (a
    digest names public content)."""

    letter: str
    ttl: Literal["ttl", "access", "membership"]
    repo: int | Literal["catalog"] | None
    hashed: bool = True

    def scope(self, parts: Sequence[str]) -> str | None:
        if self.repo is None:
            return None
        return CATALOG_SCOPE if self.repo == "catalog" else repo_scope(parts[self.repo])


CATALOG = Kind("c", "ttl", "catalog")  # (caller,)
TAGS = Kind("l", "ttl", 1)  # (caller, repo)
TAG_DIGEST = Kind("d", "ttl", 0)  # (repo, tag)
MEMBER = Kind("m", "membership", 0)  # (repo, digest)
ACCESS = Kind("a", "access", None)  # (caller, repo)
PUSHES = Kind("p", "access", None)  # (caller, repo): an upload the registry let start
BLOB = Kind("b", "membership", None, hashed=False)  # (digest,)


class SharedCaches:
    def __init__(
        self,
        store: RedisStore,
        sealer: Sealer,
        *,
        ttl: float,
        access_ttl: float,
        membership_ttl: float,
    ) -> None:
        self.store = store
        self.sealer = sealer
        self._ttls = {"ttl": ttl, "access": access_ttl, "membership": membership_ttl}
        # Fenced until done; if Redis fails meanwhile, for as long as the entries live.
        self.bus = Bus(store, fence_seconds=max(ttl, membership_ttl) + 1)
        # The callers seen here: local caller key <-> shared name (for logouts elsewhere).
        self._names: LRUCache[str, str] = LRUCache(20_000)
        self._locals: LRUCache[str, str] = LRUCache(20_000)
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0
        self.coalesced = 0  # fetches answered by another replica's (a metric)

    # -- names ----------------------------------------------------------------------------

    def caller_name(self, caller: Caller) -> str:
        """The caller's name in Redis keys: the same on every replica, no secret in it."""
        key = caller.key
        name = self._names.get(key)
        if name is None:
            creds = caller.credentials
            name = (
                "anonymous"
                if creds is None
                else self.sealer.name("caller", creds.username, creds.password)
            )
            self._names[key] = name
            self._locals[name] = key
        return name

    def local_key(self, shared_name: str) -> str | None:
        return self._locals.get(shared_name)

    def _key(self, kind: Kind, parts: Sequence[str]) -> str:
        if not kind.hashed:
            return f"{KEY_PREFIX}{kind.letter}:{':'.join(parts)}"
        return f"{KEY_PREFIX}{kind.letter}:{self.sealer.name(kind.letter, *parts)}"

    def _usable(self, scope: str | None) -> bool:
        return self.store.usable and (scope is None or not self.bus.fenced(scope))

    # -- get and put ----------------------------------------------------------------------

    async def get(
        self, kind: Kind, parts: Sequence[str], valid: Callable[[bytes], bool] | None = None
    ) -> tuple[bytes | None, Stamp | None]:
        """(payload, stamp): the payload when there is one (for a scoped kind, written
        under the scope's current generation; ``valid`` when given); stamp None when
        Redis is not to be used now (then do not write), else what to write under."""
        scope = kind.scope(parts)
        if not self._usable(scope):
            return None, None
        key = self._key(kind, parts)
        try:
            if scope is None:
                gen, raw = None, await self.store.get(key)
            else:
                gen, raw = await self.store.mget([gen_key(scope), key])
        except StoreUnavailable:
            return None, None
        stamp = gen or b""
        payload = raw
        if raw is not None and scope is not None:
            written, sep, payload = raw.partition(b"|")
            if not sep or written != stamp:
                payload = None
        if payload is not None and valid is not None and not valid(payload):
            with contextlib.suppress(StoreUnavailable):
                await self.store.delete(key)
            payload = None
        if payload is None:
            self.misses += 1
        else:
            self.hits += 1
        return payload, stamp

    async def put(
        self, kind: Kind, parts: Sequence[str], payload: bytes, stamp: Stamp | None = None
    ) -> None:
        """Store ``payload``: for a scoped kind only under ``stamp`` (the generation read
        before the value was fetched: a change since makes the write stale)."""
        scope = kind.scope(parts)
        ttl = self._ttls[kind.ttl]
        if ttl <= 0 or len(payload) > MAX_VALUE_BYTES or not self.store.usable:
            return
        if scope is not None:
            if stamp is None:
                return
            payload = stamp + b"|" + payload
        with contextlib.suppress(StoreUnavailable):
            await self.store.set(self._key(kind, parts), payload, ttl)

    async def stamp(self, repo: str) -> Stamp | None:
        """The repository's generation now (None: do not write)."""
        scope = repo_scope(repo)
        if not self._usable(scope):
            return None
        try:
            return await self.store.get(gen_key(scope)) or b""
        except StoreUnavailable:
            return None

    # -- coalescing across replicas -------------------------------------------------------

    async def once(
        self,
        caller: Caller,
        what: tuple[str, ...],
        ready: Callable[[], Awaitable[T | None]],
        fetch: Callable[[], Awaitable[T]],
    ) -> T:
        """``fetch()``, unless another replica is doing the same fetch for the same
        caller: then its result, as ``ready()`` finds it in Redis (None: not yet)."""
        if not self.store.usable:
            return await fetch()
        key = f"{KEY_PREFIX}k:{self.sealer.name('k', self.caller_name(caller), *what)}"
        token = secrets.token_hex(8).encode()
        try:
            mine = await self.store.set(key, token, LOCK_SECONDS, nx=True)
        except StoreUnavailable:
            return await fetch()
        if mine:
            try:
                return await fetch()
            finally:
                with contextlib.suppress(StoreUnavailable):
                    await self.store.call(lambda: self.store.redis.eval(_RELEASE, 1, key, token))
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while time.monotonic() < deadline and self.store.usable:
            await asyncio.sleep(POLL_SECONDS)
            found = await ready()
            if found is not None:
                self.coalesced += 1
                return found
            try:
                if await self.store.get(key) is None:
                    break  # released without a result (it failed): fetch ourselves
            except StoreUnavailable:
                break
        found = await ready() if self.store.usable else None
        if found is not None:  # written just before its lock was released
            self.coalesced += 1
            return found
        return await fetch()
