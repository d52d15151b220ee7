"""The view's two-level store: every kind of entry in process and, with ``LR_REDIS_URL``,
in Redis behind it, through one small interface.

- ``Tier.peek``: the process only (the warm path: no I/O, no task);
- ``Tier.get``: the process, then Redis (a value found there is kept in process), as a
  ``Seen``: the value, and the generations a value fetched upstream after this miss must
  be put under — the in-process store's, and the Redis scope's (``stamp``);
- ``Tier.put``: both levels, under what was seen: an invalidation since then (a
  notification, a delete) makes the put a no-op on both, so nothing read before a
  change is stored after it;
- ``Store.once``: one upstream fetch for concurrent askers — in process (single-flight)
  and, with Redis, across replicas (a short lock; a replica that finds it taken waits
  for the holder's result in Redis rather than fetching the same thing again).

Without Redis every ``shared`` is None and the same calls touch only the process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from gateway.cache import Blob, ContentCache, SingleFlight, TTLStore
from gateway.registry.credentials import Caller
from gateway.shared_state import caches as level2
from gateway.shared_state.caches import Kind, SharedCaches, Stamp
from gateway.view.disk import DiskContent

K = TypeVar("K", bound=tuple[str, ...])
V = TypeVar("V")
T = TypeVar("T")


class Seen(NamedTuple, Generic[V]):
    """What a lookup found, and what a value fetched after a miss is put under."""

    value: V | None
    generation: int
    stamp: Stamp | None


class Tier(Generic[K, V]):
    """One kind of entry on both levels. ``per_caller``: the first part of the key is
    the caller's key in process, and its shared name in Redis (the same on every
    replica)."""

    def __init__(
        self,
        local: TTLStore[K, V],
        shared: SharedCaches | None,
        kind: Kind,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V | None],
        *,
        per_caller: bool = False,
    ) -> None:
        self.local = local
        self.shared = shared
        self.kind = kind
        self._encode = encode
        self._decode = decode
        self.per_caller = per_caller

    def _parts(self, key: K, caller: Caller | None) -> Sequence[str]:
        if self.shared is not None and self.per_caller and caller is not None:
            return (self.shared.caller_name(caller), *key[1:])
        return key

    def peek(self, key: K) -> V | None:
        return self.local.get(key)

    def peek_stale(self, key: K) -> V | None:
        """An entry past its time, within ``LR_STALE_TTL`` (in process only): for a
        read that answers with it and has it refreshed in the background."""
        return self.local.get_stale(key)

    async def get(self, key: K, caller: Caller | None = None, *, local: bool = True) -> Seen[V]:
        """``local=False``: the process was just looked at (``peek``), ask Redis only."""
        generation = self.local.generation
        value = self.local.get(key) if local else None
        if value is not None or self.shared is None:
            return Seen(value, generation, None)
        raw, stamp = await self.shared.get(self.kind, self._parts(key, caller))
        value = None if raw is None else self._decode(raw)
        if value is not None:
            self.local.put(key, value, generation)
        return Seen(value, generation, stamp)

    async def put(
        self,
        key: K,
        value: V,
        caller: Caller | None = None,
        *,
        generation: int | None = None,
        stamp: Stamp | None = None,
        local: bool = True,
    ) -> None:
        """Both levels (``local=False``: Redis only, the process is put later)."""
        if local:
            self.local.put(key, value, generation)
        if self.shared is not None:
            parts = self._parts(key, caller)
            await self.shared.put(self.kind, parts, self._encode(value), stamp)

    async def shared_value(self, key: K, caller: Caller | None = None) -> V | None:
        """What Redis holds (another replica's fetch), not kept in process."""
        if self.shared is None:
            return None
        raw, _stamp = await self.shared.get(self.kind, self._parts(key, caller))
        return None if raw is None else self._decode(raw)


class Content:
    """Manifests and configs by digest, on every level: in process, on this replica's
    disk (``gateway.view.disk``: what survives a restart), and in Redis. Verified before
    they are put, verified again when read from disk or Redis (bytes that do not hash
    to their digest are dropped there, never served)."""

    def __init__(
        self, local: ContentCache, shared: SharedCaches | None, disk: DiskContent | None = None
    ) -> None:
        self.local = local
        self.shared = shared
        self.disk = disk

    def peek(self, digest: str) -> Blob | None:
        return self.local.get(digest)

    async def get(self, digest: str) -> Blob | None:
        blob = self.local.get(digest)
        if blob is None and self.disk is not None:
            blob = await self.disk.get(digest)
            if blob is not None:
                self.local.put(blob)
        if blob is None:
            blob = await self.shared_value(digest)
            if blob is not None:
                self.local.put(blob)
                if self.disk is not None:
                    self.disk.put(blob)
        return blob

    async def shared_value(self, digest: str) -> Blob | None:
        if self.shared is None:
            return None
        raw, _stamp = await self.shared.get(level2.BLOB, (digest,), _hashes_to(digest))
        if raw is None:
            return None
        media_type, _, body = raw.partition(b"\n")
        return Blob(digest, media_type.decode(), body)

    def keep(self, blob: Blob) -> None:
        """Just fetched from the registry and verified: in process and on disk."""
        self.local.put(blob)
        if self.disk is not None:
            self.disk.put(blob)

    async def share(self, blob: Blob) -> None:
        if self.shared is not None and "\n" not in blob.media_type:
            payload = blob.media_type.encode() + b"\n" + blob.body
            await self.shared.put(level2.BLOB, (blob.digest,), payload)


def _hashes_to(digest: str) -> Callable[[bytes], bool]:
    def valid(raw: bytes) -> bool:
        _media_type, sep, body = raw.partition(b"\n")
        return bool(sep) and "sha256:" + hashlib.sha256(body).hexdigest() == digest

    return valid


class Store:
    """Coalescing: one upstream fetch for concurrent askers, here and across replicas."""

    def __init__(self, shared: SharedCaches | None) -> None:
        self.shared = shared
        self.flights = SingleFlight()

    async def once(self, key: tuple[object, ...], factory: Callable[[], Awaitable[T]]) -> T:
        """``factory()`` once for concurrent askers in this process. Keys hold the
        caller's key whenever the work uses the caller's credentials."""
        return await self.flights.run(key, factory)

    async def across(
        self,
        caller: Caller,
        what: tuple[str, ...],
        ready: Callable[[], Awaitable[T | None]],
        fetch: Callable[[], Awaitable[T]],
    ) -> T:
        """``fetch()`` from upstream; with Redis, once across the replicas: a replica
        doing the same fetch for the same caller is waited for, and its result taken
        from Redis (``ready``). ``fetch`` puts what it read in Redis before returning,
        so a waiter finds it there before the lock is released."""
        if self.shared is None:
            return await fetch()
        return await self.shared.once(caller, what, ready, fetch)

    async def stamp(self, repo: str) -> Stamp | None:
        """The repository's generation in Redis now, for puts after an upstream fetch."""
        return None if self.shared is None else await self.shared.stamp(repo)


# -- codecs -----------------------------------------------------------------------------


def encode_names(names: Sequence[str]) -> bytes:
    return json.dumps(list(names)).encode()


def decode_names(payload: bytes) -> list[str] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def encode_true(_value: bool) -> bytes:
    return b"1"


def decode_true(_payload: bytes) -> bool:
    return True


def encode_text(value: str) -> bytes:
    return value.encode()


def decode_text(payload: bytes) -> str:
    return payload.decode()
