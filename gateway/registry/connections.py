"""Six adjustments to httpcore's HTTP/1.1 connections and pool, made once per process by
``install()`` (httpcore has no public option for any), and the allocator's thresholds
for the buffers they stream through (``gateway/registry/allocator.py``).

**Never reuse an upstream connection that still holds bytes nobody asked for.**

When a registry (or a proxy in front of it) sends more than an answer's
``Content-Length`` on a kept-alive connection, h11 keeps the extra bytes as the next
cycle's data and httpcore (1.0.x) returns the connection to the pool: the next request
sent on it reads those bytes as its own answer — another repository's tag list, taken
and cached for this one. Bytes that arrive later, on an idle connection, are already
safe (httpcore drops a pooled connection that has become readable); bytes that came in
the same read as the answer are not. httpcore closes such a connection instead of
pooling it. It changes nothing for a well-behaved registry.

**Read in 256 KiB pieces, not 64 KiB.** A blob streamed through the gateway went
through the per-read timeout, the HTTP parser and the response in four times as many
pieces as the event loop delivers; measured on a 200 MiB pull, the gateway's user CPU
halved (bench/bench_v2.py). The memory held is the same: the loop hands over up to
256 KiB per read anyway.

**A body of known length handed on as it was read.** httpcore passes every piece of
a body through h11, which appends it to its buffer, slices it out again and has it
copied once more: three copies of every byte of a blob, besides the Python work per
piece. While h11's buffer is empty and the answer has a ``Content-Length``, the bytes
read are handed on as they came and h11's count of what remains is lowered by as much;
the end of the answer, bytes past it (the guard above), a connection closed early and
chunked answers still go through h11 as before. What the socket already delivered
behind a read (waiting in anyio's queue) is joined to it, up to ``JOIN_BYTES``: one
piece downstream instead of several (``_with_queued``).

**The pool's bookkeeping in linear time.** Each time a request joins or leaves the
pool, httpcore (1.0.x) walks its connections, and for each idle one builds a list of
every connection to count them (``len([c.is_idle() for c in connections])``, which is
the number of connections, not of idle ones): quadratic in the pool's size, and a
million ``is_idle`` calls for 500 cold detail rows (bench/bench_scale.py, under
cProfile). ``_assign_requests_to_connections`` is replaced by the same steps with that
count read as what it is, ``len(connections)``: the same decisions, in linear time.
It also asks the socket (one ``poll``) only of the idle connection it is about to hand
a request, not of every pooled connection each time: the keep-alive time is checked for
all of them as before, and a connection the server closed meanwhile is found readable
when its turn comes (closed, and the next one taken) or is closed to make room.

**The async library named once.** httpcore asks sniffio whether it runs under asyncio
or trio each time it makes a lock, an event or a cancellation shield; the gateway runs
on asyncio only, so the answer is fixed.

**Ask an idle connection whether it is readable without anyio's attribute lookup.**
httpcore checks every pooled connection each time a request joins or leaves the pool
(``has_expired``: a server that closed a kept-alive connection makes it readable), and
asks anyio for the socket each time; anyio builds its whole attribute mapping on every
such lookup. It was the largest single cost of a cold tag page's upstream requests
(bench/bench_scale.py, under cProfile). The socket of a stream never changes, so it is
looked up once per stream; the readability test itself is httpcore's own.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import h11

from gateway.registry import allocator

log = logging.getLogger("gateway.upstream")

_MARK = "_light_registry_guarded"
READ_BYTES = 256 * 1024
JOIN_BYTES = 1024 * 1024  # pieces already read, handed on together up to this
_SOCKET = "_light_registry_socket"
_UNSET = object()


def install() -> bool:
    """Guard httpcore's HTTP/1.1 connections (once per process). False when httpcore
    has changed shape and the guard could not be put in place."""
    allocator.tune()
    try:
        http11 = importlib.import_module("httpcore._async.http11")
    except ImportError:
        return False
    connection = getattr(http11, "AsyncHTTP11Connection", None)
    original: Callable[[Any], Awaitable[None]] | None = getattr(
        connection, "_response_closed", None
    )
    if connection is None or original is None:
        log.warning("httpcore changed: the guard against desynchronised connections is off")
        return False
    if getattr(original, _MARK, False):
        return True
    if isinstance(getattr(connection, "READ_NUM_BYTES", None), int):
        connection.READ_NUM_BYTES = READ_BYTES

    @functools.wraps(original)
    async def response_closed(self: Any) -> None:
        state = getattr(self, "_h11_state", None)
        leftover, _closed = getattr(state, "trailing_data", (b"", False))
        # Only after a whole answer: a body left unread (a status that was the answer)
        # is no desync, and httpcore closes that connection itself.
        if leftover and getattr(state, "their_state", None) is h11.DONE:
            log.warning(
                "the registry sent %d bytes past the end of an answer: connection closed",
                len(leftover),
            )
            await self.aclose()
            return
        await original(self)

    setattr(response_closed, _MARK, True)
    connection._response_closed = response_closed
    _install_body_fast_path(connection)
    _install_linear_pool()
    _install_readable_check()
    _install_async_library()
    return True


def _install_linear_pool() -> None:
    httpcore = importlib.import_module("httpcore")
    pool = importlib.import_module("httpcore._async.connection_pool").AsyncConnectionPool
    if not str(getattr(httpcore, "__version__", "")).startswith("1.0."):
        return  # another shape: its own bookkeeping stays
    if getattr(getattr(pool, "_assign_requests_to_connections", None), _MARK, False):
        return

    def assign_requests_to_connections(self: Any) -> list[Any]:
        closing = []
        connections = self._connections
        now = time.monotonic()
        for connection in list(connections):
            if connection.is_closed():
                connections.remove(connection)
            elif _expired_by_time(connection, now):
                connections.remove(connection)
                closing.append(connection)
            elif connection.is_idle() and len(connections) > self._max_keepalive_connections:
                # httpcore's own test counts every connection (its list of is_idle()
                # results is as long as the pool), not only the idle ones: kept as is.
                connections.remove(connection)
                closing.append(connection)
        for pool_request in [r for r in self._requests if r.is_queued()]:
            origin = pool_request.request.url.origin
            available = None
            for candidate in [
                c for c in connections if c.can_handle_request(origin) and c.is_available()
            ]:
                # The socket is asked only of the connection about to be used: one that
                # the server closed while it was idle is readable (httpcore asks every
                # connection, one poll each, each time a request joins or leaves).
                if candidate.has_expired():
                    connections.remove(candidate)
                    closing.append(candidate)
                    continue
                available = candidate
                break
            if available is not None:
                pool_request.assign_to_connection(available)
            elif len(connections) < self._max_connections:
                connection = self.create_connection(origin)
                connections.append(connection)
                pool_request.assign_to_connection(connection)
            else:
                idle = next((c for c in connections if c.is_idle()), None)
                if idle is not None:
                    connections.remove(idle)
                    closing.append(idle)
                    connection = self.create_connection(origin)
                    connections.append(connection)
                    pool_request.assign_to_connection(connection)
        return closing

    setattr(assign_requests_to_connections, _MARK, True)
    pool._assign_requests_to_connections = assign_requests_to_connections


def _expired_by_time(connection: Any, now: float) -> bool:
    """httpcore's ``has_expired`` without asking the socket: the keep-alive time only
    (a connection that failed to connect, too). Another shape: httpcore's own test."""
    inner = getattr(connection, "_connection", _UNSET)
    if inner is _UNSET:
        return bool(connection.has_expired())
    if inner is None:
        return bool(getattr(connection, "_connect_failed", False))
    expire_at = getattr(inner, "_expire_at", _UNSET)
    if expire_at is _UNSET:  # not an HTTP/1.1 connection
        return bool(connection.has_expired())
    return isinstance(expire_at, float) and now > expire_at


def _with_queued(stream: Any, data: bytes) -> bytes:
    """``data`` and what the socket already delivered behind it, up to ``JOIN_BYTES``,
    as one piece. The event loop reads a readable socket up to 32 times per wake-up
    (libuv), so with many transfers at once several pieces wait in anyio's queue, and
    each would go through the read, the generators, the response and a write of its own;
    one joined copy costs less. Not for TLS (anyio's TLS stream has no such queue)."""
    protocol = getattr(getattr(stream, "_stream", None), "_protocol", None)
    queue = getattr(protocol, "read_queue", None)
    if not queue or type(queue) is not deque:
        return data
    parts = [data]
    size = len(data)
    while queue and size < JOIN_BYTES:
        part = queue.popleft()
        parts.append(part)
        size += len(part)
    if not queue:
        event = getattr(protocol, "read_event", None)
        if isinstance(event, asyncio.Event):
            event.clear()  # as anyio does when its queue is empty: the next read waits
    return b"".join(parts)


def _install_body_fast_path(connection: Any) -> None:
    original = getattr(connection, "_receive_response_body", None)
    reader_class = getattr(importlib.import_module("h11._readers"), "ContentLengthReader", None)
    if original is None or reader_class is None:
        return
    probe = h11.Connection(h11.CLIENT)
    if not all(hasattr(probe, a) for a in ("_reader", "_receive_buffer", "_receive_buffer_closed")):
        log.warning("h11 changed: bodies go through its buffer")
        return

    async def receive_response_body(self: Any, request: Any) -> AsyncIterator[bytes]:
        timeout = request.extensions.get("timeout", {}).get("read", None)
        state = self._h11_state
        while True:
            reader = state._reader
            if (
                type(reader) is reader_class
                and reader._remaining > 0
                and not state._receive_buffer
                and not state._receive_buffer_closed
            ):
                data = await self._network_stream.read(self.READ_NUM_BYTES, timeout=timeout)
                if data:
                    data = _with_queued(self._network_stream, data)
                    wanted = reader._remaining
                    if len(data) <= wanted:
                        reader._remaining = wanted - len(data)
                        yield data
                        continue
                    reader._remaining = 0
                    state.receive_data(data[wanted:])  # past the answer: h11 keeps it
                    yield data[:wanted]
                    continue
                state.receive_data(b"")  # closed early: h11 says so below
            event = await self._receive_event(timeout=timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, (h11.EndOfMessage, h11.PAUSED)):
                break

    connection._receive_response_body = receive_response_body


def _install_readable_check() -> None:
    try:
        backend = importlib.import_module("httpcore._backends.anyio")
        utils = importlib.import_module("httpcore._utils")
    except ImportError:
        return
    stream = getattr(backend, "AnyIOStream", None)
    original: Callable[[Any, str], Any] | None = getattr(stream, "get_extra_info", None)
    readable: Callable[[Any], bool] | None = getattr(utils, "is_socket_readable", None)
    if stream is None or original is None or readable is None:
        return
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def get_extra_info(self: Any, info: str) -> Any:
        if info != "is_readable":
            return original(self, info)
        sock = self.__dict__.get(_SOCKET, _UNSET)
        if sock is _UNSET:
            sock = self.__dict__[_SOCKET] = original(self, "socket")
        return readable(sock)

    setattr(get_extra_info, _MARK, True)
    stream.get_extra_info = get_extra_info


def _install_async_library() -> None:
    """httpcore names the async library (asyncio or trio, through sniffio) each time it
    makes a lock, an event or a cancellation shield: several times per request, a few
    percent of a cold row's CPU. The gateway runs on asyncio only (uvicorn's loop)."""
    try:
        sync = importlib.import_module("httpcore._synchronization")
    except ImportError:
        return
    original = getattr(sync, "current_async_library", None)
    if original is None or getattr(original, _MARK, False) or sync.anyio is None:
        return

    def current_async_library() -> str:
        return "asyncio"

    setattr(current_async_library, _MARK, True)
    setattr(sync, "current_async_library", current_async_library)  # noqa: B010
