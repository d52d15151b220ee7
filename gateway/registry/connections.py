"""Three adjustments to httpcore's HTTP/1.1 connections, made once per process by
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

**Ask an idle connection whether it is readable without anyio's attribute lookup.**
httpcore checks every pooled connection each time a request joins or leaves the pool
(``has_expired``: a server that closed a kept-alive connection makes it readable), and
asks anyio for the socket each time; anyio builds its whole attribute mapping on every
such lookup. It was the largest single cost of a cold tag page's upstream requests
(bench/bench_scale.py, under cProfile). The socket of a stream never changes, so it is
looked up once per stream; the readability test itself is httpcore's own.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11

from gateway.registry import allocator

log = logging.getLogger("gateway.upstream")

_MARK = "_light_registry_guarded"
READ_BYTES = 256 * 1024
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
    _install_readable_check()
    return True


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
