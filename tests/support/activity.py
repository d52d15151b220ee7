"""Activity stores for tests: the same test body runs against SQLite and a real Redis.

``activity_stores`` (parametrized ``sqlite`` / ``redis``) hands a test a ``Stores``:
``await stores.open()`` opens a store over the same data each time — a second call is
what a restart (SQLite) or another replica (Redis) sees. Redis stores get a key prefix
of their own on the session's shared Redis, deleted at the end.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import RedisError

from gateway.activity.classify import gateway_record
from gateway.activity.engine import Activity
from gateway.activity.records import Action, Record
from gateway.activity.redis_store import RedisActivityStore
from gateway.activity.sqlite_store import SqliteActivityStore
from gateway.activity.store import ActivityStore
from gateway.shared_state.store import RedisStore
from tests.support.clock import FakeClock

__all__ = ["NotificationSink", "Stores", "activity_stores", "digest", "rec"]

ORIGIN = "a1" * 16


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def rec(
    n: int,
    action: Action = "pull",
    *,
    repository: str = "team/app",
    tag: str | None = None,
    image: int | None = None,
    actor: str | None = "alice",
    time: int | None = None,
    via: str = "registry",
    record_id: str | None = None,
    placeholder: bool = False,
    clock: FakeClock | None = None,
) -> Record:
    """Record number ``n`` (its id ``ev-n``), at ``time`` or ``clock() + n`` seconds."""
    base = clock() if clock is not None else 1_780_000_000_000_000
    made = gateway_record(
        action,
        repository,
        time=time if time is not None else base + n * 1_000_000,
        tag=tag,
        digest=None if image is None else digest(image),
        actor=actor,
        addr="10.0.0.5",
        user_agent="docker/27.1",
        record_id=record_id or f"ev-{n}",
    )
    fields: dict[str, Any] = {f: getattr(made, f) for f in made.__dataclass_fields__}
    fields.update(via=via, placeholder=placeholder)
    return Record(**fields)


class Stores:
    def __init__(self, kind: str, folder: Path, redis_url: str | None) -> None:
        self.kind = kind
        self.folder = folder
        self.redis_url = redis_url
        self.prefix = f"lr:activity:test-{secrets.token_hex(6)}:"
        self.clock = FakeClock()
        self._opened: list[ActivityStore] = []
        self._redis: list[RedisStore] = []

    async def open(self, *, max_events: int = 1000, redis_timeout: float = 0.5) -> ActivityStore:
        store: ActivityStore
        if self.kind == "sqlite":
            store = SqliteActivityStore.open(self.folder, max_events=max_events, now=self.clock())
        else:
            assert self.redis_url is not None
            shared = RedisStore(self.redis_url, timeout=redis_timeout)
            self._redis.append(shared)
            store = RedisActivityStore(
                shared, origin=ORIGIN, max_events=max_events, prefix=self.prefix
            )
        self._opened.append(store)
        return store

    async def activity(self, **kwargs: Any) -> Activity:
        store = await self.open(**kwargs)
        return Activity(store, origin=store.origin, clock=self.clock)

    async def add(self, store: ActivityStore, records: Sequence[Record]) -> list[Record]:
        return (await store.add(records, self.clock())).recorded

    async def close(self) -> None:
        for store in self._opened:
            await store.aclose()
        for shared in self._redis:
            try:  # a test may have stopped its Redis
                match = self.prefix + "*"
                keys = [k async for k in shared.redis.scan_iter(match=match, count=1000)]
                if keys:
                    await shared.redis.delete(*keys)
            except (RedisError, OSError):
                pass
            await shared.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def activity_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    stores = Stores(request.param, tmp_path / "data", url)
    try:
        yield stores
    finally:
        await stores.close()


class NotificationSink:
    """A local endpoint a real registry notifies (127.0.0.1): it keeps every event it is
    sent, as sent, and answers 200."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.events.extend(json.loads(body).get("events") or [])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/events"

    def wait_for(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        """The events received, once ``done`` says they are all there (the registry
        delivers from a queue of its own, a moment after each request)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = list(self.events)
            if done(seen) or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
