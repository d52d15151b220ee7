"""The second level of the caches, in Redis, and invalidation across replicas.

The in-process stores (``gateway.cache``) stay the first level: a hit there never
touches Redis, and the warm path (``peek_*``) reads only them. On a local miss the
cached registry asks here before it goes upstream; what it fetched upstream is written
to both. Every read and write is bounded (``RedisStore``) and fails as a miss: a Redis
that is down or slow costs at most one bounded try (then ``BACKOFF`` seconds of none),
never an answer.

Keys (``lr:`` prefix), with the same isolation as the in-process keys
(``gateway.services.cached_registry``):

- ``c:<h(caller)>`` the catalog, ``l:<h(caller, repo)>`` a tag list: per caller;
- ``a:<h(caller, repo)>`` an access confirmation, per caller (``LR_ACCESS_TTL``);
- ``d:<h(repo, tag)>`` tag→digest and ``m:<h(repo, digest)>`` membership: per repository,
  handed to a caller only once that caller's access is confirmed, as in process;
- ``b:<digest>`` content by digest: media type and the verified bytes, verified again
  when read (a value that does not hash to its digest is dropped, never served);
- ``g:<h(repo)>`` a repository's generation and ``g:catalog`` the catalogs': random
  tokens without TTL. Every repository-scoped value carries the generation it was
  read under; an invalidation sets a new one, so every caller's entries of that
  repository go stale at once without listing them (hashed per-caller keys cannot be
  listed). Values are read with their generation in one ``MGET``.

``h(...)`` is an HMAC under the secret key (``Sealer.name``); the caller part is an
HMAC of the caller's credentials, the same on every replica (the in-process caller key
is salted per process), never the credentials themselves. Lists and digests are not
secrets: they are stored as JSON, not sealed.

Invalidation (``invalidate``, called by the cached registry's ``forget_*``): the origin
replica drops its own entries at once and fences the repositories (no Redis reads for
them) until it has set their new generations and published on ``lr:invalidate``; every
other replica's subscriber drops its in-process entries (lists, pointers, membership,
the tag index, and through the stores' generations the kept answers) when the message
arrives. A subscription that was cut may have missed messages: on every (re)subscribe a
replica drops all its in-process lists, which the TTL would have done anyway.

Coalescing across replicas (``once``): a cold upstream fetch takes a short lock
(``SET k:<h(what)> NX PX``, ``LOCK_SECONDS``); a replica that finds it taken polls Redis
for the holder's result (every ``POLL_SECONDS``, up to ``LOCK_WAIT_SECONDS``) and
fetches itself only if none came. Locks are per caller (what they guard is read with
the caller's credentials), so the result a waiter takes is one the registry answered
to that same caller; the holder deletes its lock when done (compare-and-delete).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

from cachetools import LRUCache

from gateway.cache import Blob
from gateway.registry.credentials import Caller
from gateway.shared_state.keys import Sealer
from gateway.shared_state.store import KEY_PREFIX, RedisStore, StoreUnavailable

CHANNEL = KEY_PREFIX + "invalidate"
MAX_VALUE_BYTES = 4 * 1024 * 1024  # larger catalogs or blobs stay in process only
CATALOG_SCOPE = "catalog"
LOCK_SECONDS = 2.0  # a lock outlives a holder that died by this much at most
LOCK_WAIT_SECONDS = 1.0
POLL_SECONDS = 0.015
# Deletes the lock only if it still holds this holder's token.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
log = logging.getLogger("gateway.shared_state")

Stamp = bytes  # the generation a value was read under (b"" for none set yet)
T = TypeVar("T")


def _repo_scope(repo: str) -> str:
    return "repo:" + repo


class Invalidation:
    """What a message asks a replica to drop (see ``CachedRegistry.apply_remote``)."""

    def __init__(self, repos: list[str], lists: bool, catalogs: bool, caller: str | None):
        self.repos = repos
        self.lists = lists
        self.catalogs = catalogs
        self.caller = caller  # a caller's shared name (a logout), or None


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
        self.ttl = ttl
        self.access_ttl = access_ttl
        self.membership_ttl = membership_ttl
        self.replica = secrets.token_hex(8)
        # The callers seen here: local caller key <-> shared name (for logouts elsewhere).
        self._names: LRUCache[str, str] = LRUCache(20_000)
        self._locals: LRUCache[str, str] = LRUCache(20_000)
        # Scopes whose Redis entries may be stale until their invalidation is done.
        self._fences: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self.on_invalidation: Callable[[Invalidation], None] | None = None
        self.on_gap: Callable[[], None] | None = None
        # Plain integers, read by the metrics collector at scrape time.
        self.hits = 0
        self.misses = 0
        self.received = 0
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

    def _key(self, kind: str, *parts: str) -> str:
        return f"{KEY_PREFIX}{kind}:{self.sealer.name(kind, *parts)}"

    @staticmethod
    def _gen_key(scope: str) -> str:
        return f"{KEY_PREFIX}g:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"

    def _fenced(self, scope: str) -> bool:
        until = self._fences.get(scope)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._fences[scope]
            return False
        return True

    # -- generation-stamped values --------------------------------------------------------

    async def _read(self, scope: str, key: str) -> tuple[bytes | None, Stamp | None]:
        """(payload, stamp): the payload when it was written under the scope's current
        generation; stamp None when Redis is not to be used now (then do not write)."""
        if not self.store.usable or self._fenced(scope):
            return None, None
        try:
            gen, raw = await self.store.mget([self._gen_key(scope), key])
        except StoreUnavailable:
            return None, None
        stamp = gen or b""
        if raw is not None:
            written, sep, payload = raw.partition(b"|")
            if sep and written == stamp:
                self.hits += 1
                return payload, stamp
        self.misses += 1
        return None, stamp

    async def _write(self, key: str, payload: bytes, stamp: Stamp | None, ttl: float) -> None:
        if stamp is None or ttl <= 0 or len(payload) > MAX_VALUE_BYTES:
            return
        with contextlib.suppress(StoreUnavailable):
            await self.store.set(key, stamp + b"|" + payload, ttl)

    # -- lists ----------------------------------------------------------------------------

    async def catalog(self, caller: Caller) -> tuple[list[str] | None, Stamp | None]:
        key = self._key("c", self.caller_name(caller))
        payload, stamp = await self._read(CATALOG_SCOPE, key)
        return _names(payload), stamp

    async def put_catalog(self, caller: Caller, names: Sequence[str], stamp: Stamp | None) -> None:
        key = self._key("c", self.caller_name(caller))
        await self._write(key, json.dumps(list(names)).encode(), stamp, self.ttl)

    async def tags(self, caller: Caller, repo: str) -> tuple[list[str] | None, Stamp | None]:
        key = self._key("l", self.caller_name(caller), repo)
        payload, stamp = await self._read(_repo_scope(repo), key)
        return _names(payload), stamp

    async def put_tags(
        self, caller: Caller, repo: str, tags: Sequence[str], stamp: Stamp | None
    ) -> None:
        key = self._key("l", self.caller_name(caller), repo)
        await self._write(key, json.dumps(list(tags)).encode(), stamp, self.ttl)

    async def tag_digest(self, repo: str, tag: str) -> tuple[str | None, Stamp | None]:
        payload, stamp = await self._read(_repo_scope(repo), self._key("d", repo, tag))
        return (None if payload is None else payload.decode()), stamp

    async def put_tag_digest(self, repo: str, tag: str, digest: str, stamp: Stamp | None) -> None:
        await self._write(self._key("d", repo, tag), digest.encode(), stamp, self.ttl)

    # -- membership, access, content ------------------------------------------------------

    async def member(self, repo: str, digest: str) -> bool:
        payload, _stamp = await self._read(_repo_scope(repo), self._key("m", repo, digest))
        return payload is not None

    async def stamp(self, repo: str) -> Stamp | None:
        """The repository's generation now (None: do not write)."""
        scope = _repo_scope(repo)
        if not self.store.usable or self._fenced(scope):
            return None
        try:
            return await self.store.get(self._gen_key(scope)) or b""
        except StoreUnavailable:
            return None

    async def put_member(self, repo: str, digests: Collection[str], stamp: Stamp | None) -> None:
        for digest in digests:
            await self._write(self._key("m", repo, digest), b"1", stamp, self.membership_ttl)

    async def access(self, caller: Caller, repo: str) -> bool:
        if not self.store.usable:
            return False
        try:
            found = await self.store.get(self._key("a", self.caller_name(caller), repo))
        except StoreUnavailable:
            return False
        if found is None:
            self.misses += 1
            return False
        self.hits += 1
        return True

    async def put_access(self, caller: Caller, repo: str) -> None:
        if not self.store.usable or self.access_ttl <= 0:
            return
        with contextlib.suppress(StoreUnavailable):
            key = self._key("a", self.caller_name(caller), repo)
            await self.store.set(key, b"1", self.access_ttl)

    async def blob(self, digest: str) -> Blob | None:
        """Content by digest, verified again: a value that does not hash to its digest
        is dropped and never served."""
        if not self.store.usable:
            return None
        key = f"{KEY_PREFIX}b:{digest}"
        try:
            raw = await self.store.get(key)
        except StoreUnavailable:
            return None
        if raw is None:
            self.misses += 1
            return None
        media_type, sep, body = raw.partition(b"\n")
        if not sep or "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            with contextlib.suppress(StoreUnavailable):
                await self.store.delete(key)
            self.misses += 1
            return None
        self.hits += 1
        return Blob(digest, media_type.decode(), body)

    async def put_blob(self, blob: Blob) -> None:
        """Store verified content (the caller verified it) for ``membership_ttl``."""
        if not self.store.usable or len(blob.body) > MAX_VALUE_BYTES:
            return
        if "\n" in blob.media_type:
            return
        with contextlib.suppress(StoreUnavailable):
            value = blob.media_type.encode() + b"\n" + blob.body
            await self.store.set(f"{KEY_PREFIX}b:{blob.digest}", value, self.membership_ttl)

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
        key = self._key("k", self.caller_name(caller), *what)
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

    # -- invalidation ---------------------------------------------------------------------

    def invalidate(
        self,
        repos: Collection[str],
        *,
        lists: bool = True,
        catalogs: bool = False,
        caller: Caller | None = None,
    ) -> None:
        """Make the Redis entries of ``repos`` (and the catalogs) stale and tell the other
        replicas. Returns at once; until it is done, this replica does not read them."""
        scopes = [_repo_scope(r) for r in repos] if lists else []
        if catalogs:
            scopes.append(CATALOG_SCOPE)
        shared_caller = None if caller is None else self.caller_name(caller)
        if not scopes and shared_caller is None:
            return
        # Fenced until done; if Redis fails meanwhile, for as long as the entries live.
        until = time.monotonic() + max(self.ttl, self.membership_ttl) + 1
        for scope in scopes:
            self._fences[scope] = until
        message = {"o": self.replica, "r": list(repos), "l": lists, "c": catalogs}
        if shared_caller is not None:
            message["u"] = shared_caller
        task = asyncio.get_running_loop().create_task(self._invalidate(scopes, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _invalidate(self, scopes: list[str], message: dict[str, Any]) -> None:
        try:
            if scopes:
                fresh = secrets.token_hex(8).encode()
                mapping = {self._gen_key(s): fresh for s in scopes}
                await self.store.call(lambda: self.store.redis.mset(mapping))
            await self.store.publish(CHANNEL, json.dumps(message).encode())
        except StoreUnavailable:
            log.warning("an invalidation did not reach redis; other replicas see it by TTL")
            return
        for scope in scopes:
            self._fences.pop(scope, None)

    async def settle(self) -> None:
        """Wait for the invalidations in flight (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def start(self) -> None:
        """Start listening for other replicas' invalidations (on the running loop)."""
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        async for data in self.store.messages(CHANNEL):
            if not data:  # (re)subscribed: what was published meanwhile is lost
                if self.on_gap is not None:
                    self.on_gap()
                continue
            try:
                message = json.loads(data)
                if message.get("o") == self.replica:
                    continue
                repos = [r for r in message.get("r", []) if isinstance(r, str)]
                caller = message.get("u")
                invalidation = Invalidation(
                    repos,
                    bool(message.get("l")),
                    bool(message.get("c")),
                    caller if isinstance(caller, str) else None,
                )
            except (ValueError, AttributeError, TypeError):
                continue
            self.received += 1
            if self.on_invalidation is not None:
                self.on_invalidation(invalidation)

    async def aclose(self) -> None:
        for task in [self._listener, *self._tasks]:
            if task is not None:
                task.cancel()
        for task in [self._listener, *self._tasks]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


def _names(payload: bytes | None) -> list[str] | None:
    if payload is None:
        return None
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value
