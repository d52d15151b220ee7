"""The Redis client: one bounded pool, every call bounded, one error type.

- The pool holds at most ``LR_REDIS_POOL_SIZE`` connections; a call that finds none free
  waits for one within its bound. Every call (the wait, the exchange) is bounded by
  ``LR_REDIS_TIMEOUT`` (100 ms): a slow Redis costs a request that much, never a hang.
- Every failure — refused, reset, timed out, an error answer such as ``OOM command not
  allowed`` from a full Redis (``maxmemory`` with ``noeviction``) — is one type,
  ``StoreUnavailable``. What callers do with it is theirs: a cache reads it as a miss
  and goes upstream, a session lookup answers 503 ``SESSION_STORE_UNAVAILABLE``.
- One immediate retry on a broken connection, within the same bound: after a Redis
  restart every pooled connection is dead, and each would otherwise fail one call. The
  pool reconnects by itself, so the gateway recovers without a restart.
- ``healthy`` is what the last call saw; after a failure the caches skip Redis for
  ``BACKOFF`` seconds (``usable``), so a Redis that is down costs the warm path nothing
  and a cold one a single bounded try per second. Sessions never skip: they must ask.

Key names are built by the callers from ``KEY_PREFIX`` and hashed parts
(``gateway.shared_state.keys``); values are bytes.

The ``redis`` package is imported when a store is made (``LR_REDIS_URL`` set), not with
this module: a gateway without Redis does not carry its ~20 MB of client modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import redis.asyncio as aioredis

T = TypeVar("T")

KEY_PREFIX = "lr:"
BACKOFF = 1.0  # seconds the caches leave Redis alone after a failure
log = logging.getLogger("gateway.shared_state")


class StoreUnavailable(Exception):  # noqa: N818 - a state, like the other store errors
    """Redis did not answer within the bound, or answered an error."""


class RedisStore:
    def __init__(
        self, url: str, *, timeout: float = 0.1, pool_size: int = 32, password: str | None = None
    ) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        #: What a failed call raises, besides OSError and TimeoutError.
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self.timeout = timeout
        # A password in the URL wins over ``password`` (LR_REDIS_PASSWORD, for a URL
        # without one: settings make sure the two never differ).
        extra = {} if password is None else {"password": password}
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            **extra,
            max_connections=pool_size,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=0,
        )
        self.redis: aioredis.Redis = aioredis.Redis(
            connection_pool=self._pool, retry=Retry(NoBackoff(), 1)
        )
        self.healthy = True
        self._down_until = 0.0
        # Plain integers, read by the metrics collector at scrape time.
        self.calls = 0
        self.failures = 0

    @property
    def usable(self) -> bool:
        """Whether a cache should ask Redis now (not within ``BACKOFF`` of a failure)."""
        return self.healthy or time.monotonic() >= self._down_until

    async def call(self, what: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call within the bound, failures mapped to ``StoreUnavailable``."""
        self.calls += 1
        try:
            async with asyncio.timeout(self.timeout):
                result = await what()
        except self._errors as exc:
            self._failed(exc)
            raise StoreUnavailable(type(exc).__name__) from None
        if not self.healthy:
            log.warning("redis answers again")
        self.healthy = True
        return result

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self.healthy:
            # The exception's text, never the URL (it may carry the password).
            log.warning("redis unavailable: %s", type(exc).__name__)
        self.healthy = False
        self._down_until = time.monotonic() + BACKOFF

    # -- the calls the stores make -------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self.call(lambda: self.redis.get(key)))

    async def getex(self, key: str, ttl: float) -> bytes | None:
        """The value, its TTL set to ``ttl`` seconds in the same round trip."""
        ms = max(1, int(ttl * 1000))
        return _bytes(await self.call(lambda: self.redis.getex(key, px=ms)))

    async def getdel(self, key: str) -> bytes | None:
        return _bytes(await self.call(lambda: self.redis.getdel(key)))

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self.call(lambda: self.redis.mget(keys))
        return [_bytes(v) for v in values]

    async def set(self, key: str, value: bytes, ttl: float, *, nx: bool = False) -> bool:
        """Store ``value`` for ``ttl`` seconds (at least 1 ms); with ``nx`` only if absent."""
        ms = max(1, int(ttl * 1000))
        done = await self.call(lambda: self.redis.set(key, value, px=ms, nx=nx))
        return bool(done)

    async def expire(self, key: str, ttl: float) -> bool:
        done = await self.call(lambda: self.redis.pexpire(key, max(1, int(ttl * 1000))))
        return bool(done)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        count: int = await self.call(lambda: self.redis.delete(*keys))
        return count

    async def publish(self, channel: str, message: bytes) -> None:
        await self.call(lambda: self.redis.publish(channel, message))

    async def ping(self) -> float:
        """Milliseconds a PING took; raises ``StoreUnavailable``."""
        start = time.perf_counter()
        await self.call(lambda: self.redis.ping())
        return (time.perf_counter() - start) * 1000

    async def messages(self, channel: str) -> AsyncIterator[bytes]:
        """The messages published on ``channel``, from now on; reconnects by itself (a
        message published while the subscription was down is lost: see the bus)."""
        while True:
            pubsub: Any = self.redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                yield b""  # subscribed (again): the caller treats it as a gap
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        data = message.get("data")
                        if isinstance(data, bytes) and data:
                            yield data
            except self._errors as exc:
                self._failed(exc)
            finally:
                with contextlib.suppress(*self._errors):
                    await pubsub.aclose()
            await asyncio.sleep(0.2)

    async def aclose(self) -> None:
        await self.redis.aclose()
        await self._pool.disconnect()


def _bytes(value: object) -> bytes | None:
    """A value as the client answers it (bytes: responses are not decoded)."""
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()
