"""The activity store in Redis (``LR_REDIS_URL``): one set of records for every replica.

A notification received by one replica is listed by all the others at once: there is
no copy in the replicas, every read asks Redis. Writes are one Lua script per record
(``redis_scripts.ADD``: duplicate check, insert, marks, trim — atomic), sent in
pipelines of ``PIPELINE`` records. Reads are one script per batch of the feed
(``redis_scripts.SCAN``) and one pipeline for the marks of a whole page of tag rows.

Every call goes through the shared ``RedisStore`` (bounded pool, every call bounded by
``LR_REDIS_TIMEOUT``); its ``StoreUnavailable`` (Redis down, slow, or full: ``OOM``)
becomes ``ActivityUnavailable``.

Durability is Redis's: with persistence off, a Redis restart empties the records, and
``tracking_since`` starts again at the next write.

The origin (the store's name in the gateway's ``User-Agent``) is the same on every
replica: it is derived from ``LR_SECRET_KEY`` (``origin_from_key``), which they share,
so it survives Redis being emptied.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gateway.activity import redis_scripts
from gateway.activity.placeholder import REMEMBER_SECONDS
from gateway.activity.records import (
    ActivityUnavailable,
    Added,
    Cursor,
    Entry,
    Filter,
    Mark,
    MarkKey,
    Marks,
    Record,
    Scan,
)
from gateway.shared_state.store import StoreUnavailable

if TYPE_CHECKING:
    from gateway.shared_state.store import RedisStore

T = TypeVar("T")
PREFIX = "lr:activity:"
PIPELINE = 50  # records per round trip (each ~0.1 ms of Redis time: well inside the bound)


def origin_from_key(secret_key: bytes) -> str:
    """The origin every replica derives from the shared ``LR_SECRET_KEY``."""
    mac = hmac.new(secret_key, b"light-registry activity origin", hashlib.sha256)
    return mac.hexdigest()[:32]


def _h(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()


def sort_key(cursor: Cursor) -> str:
    return f"{cursor.time:016d}{cursor.seq:016d}"


def _cursor(key: str) -> Cursor:
    return Cursor(int(key[:16]), int(key[16:]))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisActivityStore:
    kind: Literal["sqlite", "redis"] = "redis"
    filters_in_place = False

    def __init__(
        self, store: RedisStore, *, origin: str, max_events: int, prefix: str = PREFIX
    ) -> None:
        self.store = store
        self.origin = origin
        self.max_events = max_events
        self.prefix = prefix
        self._add = store.redis.register_script(redis_scripts.ADD)
        self._scan = store.redis.register_script(redis_scripts.SCAN)

    @property
    def usable(self) -> bool:
        return self.store.usable

    async def _call(self, what: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self.store.call(what)
        except StoreUnavailable as exc:
            raise ActivityUnavailable(f"redis: {exc}") from None

    def _args(self, r: Record, now: int) -> list[str]:
        return [
            self.prefix,
            json.dumps(r.to_json(), separators=(",", ":")),
            r.id,
            f"{r.time:016d}",
            r.action,
            r.repository,
            r.tag or "",
            r.digest or "",
            r.actor or "",
            "1" if r.placeholder else "0",
            str(now),
            str(self.max_events),
            str(now - REMEMBER_SECONDS * 1_000_000),
            f"{r.time:016d}|{r.via}|{r.digest or ''}|{r.actor or ''}",
            str(redis_scripts.TRIM_STEP),
        ]

    async def add(self, records: Sequence[Record], now: int) -> Added:
        recorded: list[Record] = []
        duplicates = placeholders = 0
        size = 0
        for start in range(0, len(records), PIPELINE):
            chunk = records[start : start + PIPELINE]

            async def send(chunk: Sequence[Record] = chunk) -> list[Any]:
                pipe = self.store.redis.pipeline(transaction=False)
                for r in chunk:
                    await self._add(keys=[], args=self._args(r, now), client=pipe)
                results: list[Any] = await pipe.execute()
                return results

            for r, (status, count) in zip(chunk, await self._call(send), strict=True):
                size = int(count)
                if status == 1:
                    recorded.append(r)
                elif status == 0:
                    duplicates += 1
                else:
                    placeholders += 1
        return Added(recorded, duplicates, placeholders, size)

    def _index(self, where: Filter) -> str:
        if where.repository is not None:
            return f"{self.prefix}ix:r:{_h(where.repository)}"
        if where.allowed is not None and len(where.allowed) == 1:
            return f"{self.prefix}ix:r:{_h(next(iter(where.allowed)))}"
        if where.actor is not None:
            return f"{self.prefix}ix:u:{_h(where.actor)}"
        if where.action is not None:
            return f"{self.prefix}ix:a:{where.action}"
        return f"{self.prefix}feed"

    async def scan(self, where: Filter, before: Cursor | None, limit: int) -> Scan:
        if where.allowed is not None and not where.allowed:
            return Scan([], 0, before, True)
        upper = "+" if before is None else "(" + sort_key(before)
        lower = "-" if where.since is None else "[" + f"{where.since:016d}"
        keys = [self._index(where), f"{self.prefix}rec"]
        args = [upper, lower, str(limit)]
        flat = await self._call(lambda: self._scan(keys=keys, args=args))
        entries: list[Entry] = []
        last = before
        for i in range(0, len(flat), 2):
            last = _cursor(_text(flat[i]))
            if not flat[i + 1]:
                continue  # trimmed between the two reads
            record = Record.from_json(json.loads(flat[i + 1]))
            if where.matches(record):
                entries.append(Entry(last, record))
        scanned = len(flat) // 2
        return Scan(entries, scanned, last, scanned < limit)

    async def marks(self, keys: Sequence[MarkKey]) -> list[Marks]:
        if not keys:
            return []
        pulls: dict[str, list[str]] = {}
        pushes: dict[str, list[str]] = {}
        for k in keys:
            if k.digest is not None:
                pulls.setdefault(k.repository, []).append(k.digest)
            if k.tag is not None:
                pushes.setdefault(k.repository, []).append(k.tag)
        asks = [("pulls", repo, fields) for repo, fields in pulls.items()]
        asks += [("pushes", repo, fields) for repo, fields in pushes.items()]

        async def send() -> list[Any]:
            pipe = self.store.redis.pipeline(transaction=False)
            for kind, repo, fields in asks:
                pipe.hmget(f"{self.prefix}{kind}:{_h(repo)}", fields)
            results: list[Any] = await pipe.execute()
            return results

        found: dict[tuple[str, str, str], Mark] = {}
        for (kind, repo, fields), values in zip(asks, await self._call(send), strict=True):
            for name, value in zip(fields, values, strict=True):
                if value:
                    time, via, digest, actor = _text(value).split("|", 3)
                    mark = Mark(
                        int(time),
                        actor or None,
                        "gateway" if via == "gateway" else "registry",
                        (digest or None) if kind == "pushes" else None,
                    )
                    found[(kind, repo, name)] = mark
        return [
            Marks(
                None if k.digest is None else found.get(("pulls", k.repository, k.digest)),
                None if k.tag is None else found.get(("pushes", k.repository, k.tag)),
            )
            for k in keys
        ]

    async def changed(self, repositories: Sequence[str]) -> dict[str, int]:
        names = list(dict.fromkeys(repositories))
        if not names:
            return {}
        key = f"{self.prefix}changed"
        values = await self._call(lambda: self.store.redis.hmget(key, names))
        return {name: int(v) for name, v in zip(names, values, strict=True) if v}

    async def tracking_since(self, now: int) -> int:
        key = f"{self.prefix}meta"
        value = await self._call(lambda: self.store.redis.hget(key, "tracking_since"))
        return now if value is None else int(value)

    async def size(self) -> tuple[int, int]:
        feed, meta = f"{self.prefix}feed", f"{self.prefix}meta"

        async def send() -> list[Any]:
            pipe = self.store.redis.pipeline(transaction=False)
            pipe.zcard(feed)
            pipe.hget(meta, "marks")
            results: list[Any] = await pipe.execute()
            return results

        events, marks = await self._call(send)
        return int(events), int(marks or 0)

    async def aclose(self) -> None:
        """Nothing of its own: the ``RedisStore`` belongs to the gateway's state."""
