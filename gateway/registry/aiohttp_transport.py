"""The upstream transport: httpx's transport interface over aiohttp's connections.

Everything above it stays httpx — the ``httpx.AsyncClient`` of each pool, its auth flow
(the gateway's ``RegistryAuth``), event hooks (request ids, metrics), cookies, timeouts
and error types — and each request is handed to an ``aiohttp.ClientSession``, whose HTTP
parser is C (llhttp) and whose connections are asyncio protocols. Under httpx's own
transport each request went through httpcore, h11 and anyio, all pure Python: about
650 µs of CPU for a small request on the bench machine against about 200 µs for
aiohttp, and for blobs more memory per transfer in flight (bench/bench_scale.py,
bench/bench_blobs.py).

What it keeps of httpx's behaviour, and how:

- **Requests go out as httpx built them**: the URL as encoded (``yarl.URL(...,
  encoded=True)``: a ``%2F`` or a ``+`` stays as it is), the headers httpx and the
  hooks set and no others (aiohttp's own defaults are skipped), bodies as bytes or
  streamed as they come (chunked unless a ``Content-Length`` was given); no redirect is
  followed, no cookie kept, nothing decompressed (httpx decodes ``Content-Encoding``).
- **Answers are streamed**: a body arrives in the pieces the socket delivered, up to
  ``read_bytes`` buffered (beyond that the socket is not read until the piece is
  taken: a slow client holds its transfer back instead of growing the buffer).
- **Timeouts**: httpx's ``connect`` bounds the connection's opening, ``read`` each read
  of the answer, ``write`` each piece of a streamed body the registry takes
  (``_Paced``), ``pool`` the wait for a free connection (``LR_CONNECT_TIMEOUT``,
  ``LR_READ_TIMEOUT``); the overall bound stays in ``gateway.registry.transport``.
- **Errors are httpx's** (``_mapped``), so ``gateway.registry.upstream_errors`` maps them
  as before: a connection that cannot be opened is a ``ConnectError``, a timeout a
  ``ConnectTimeout``/``ReadTimeout``, a reset a ``ReadError``, an answer that does not
  parse or ends early a ``RemoteProtocolError``, a header value that cannot be sent a
  ``LocalProtocolError``.
- **Limits**: at most ``max_connections`` open, at most ``max_keepalive_connections``
  of them kept idle (the oldest closed first), each for ``keepalive_expiry`` seconds; a
  connection the registry closed while idle is never handed a request (its socket is
  asked before it is reused: one ``poll``).
- **No answer nobody asked for is taken for the next**: a broken or hostile registry
  (or a proxy in front of it) may send another answer after the one asked for, at once
  or later on the idle connection. A connection whose parser has any such answer (its
  status line and headers complete) is closed when its answer is released, and a
  pooled one that received one meanwhile is not reused (``_Guarded``). Bytes too few
  to make an answer's headers are dropped: each request parses its answer with a
  parser of its own.
- **Idempotent requests are tried once more** when a kept-alive connection turns out
  closed by the registry as the request went out (aiohttp's retry, RFC 9112 §9.3.1),
  where httpcore failed them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import select
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler
from multidict import CIMultiDict
from yarl import URL

# What a registry's answer may carry in one header line (a long Link or
# WWW-Authenticate); aiohttp's default is 8 KiB, h11's (httpx's transport) 100 KiB.
MAX_HEADER_LINE = 64 * 1024
DEFAULT_KEEPALIVE = 5.0  # httpx's default keep-alive expiry
# What an answer's body may hold buffered before the socket waits: small for API calls
# (aiohttp's default), larger for the transfer pool, whose blobs go through in fewer,
# larger pieces (measured: the same RSS bound while 20 pulls stream, less CPU per GiB).
API_READ_BYTES = 64 * 1024
TRANSFER_READ_BYTES = 256 * 1024


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """aiohttp's failures as the httpx errors they correspond to."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # the connect or the pool timeout
        raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
    except aiohttp.ServerTimeoutError as exc:  # a read timeout
        raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
    except aiohttp.ClientConnectorError as exc:  # refused, unreachable, TLS, DNS
        raise httpx.ConnectError(str(exc)) from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise httpx.RemoteProtocolError("the server closed the connection") from exc
    except aiohttp.ClientOSError as exc:  # a reset, a broken pipe
        raise httpx.ReadError(str(exc)) from exc
    except aiohttp.ClientError as exc:  # an answer that does not parse, a body cut short
        raise httpx.RemoteProtocolError(str(exc)) from exc


class _Guarded(ResponseHandler):
    """A connection that is not reused once it holds bytes nobody asked for, or once
    the registry closed it."""

    def is_connected(self) -> bool:
        # Asked of pooled connections only (before reuse, and by the keep-alive
        # cleanup): ``should_close`` includes an answer (or part of one) parsed while
        # the connection sat idle, and an error seen meanwhile. The socket is asked
        # too: a close (or bytes) the loop has not read yet leaves it readable, and a
        # request handed to it would fail (a POST is not tried again).
        if not super().is_connected() or self.should_close:
            return False
        sock = self.transport.get_extra_info("socket") if self.transport else None
        return sock is None or not _readable(sock.fileno())


def _readable(fd: int) -> bool:
    if fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _Connector(aiohttp.TCPConnector):
    """aiohttp's connector with ``_Guarded`` connections and a bound on idle ones."""

    def __init__(self, *, max_idle: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        handler: type[ResponseHandler] = _Guarded
        self._factory = functools.partial(handler, loop=self._loop)
        self._max_idle = max_idle

    def _release(self, key: Any, protocol: ResponseHandler, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        idle = self._conns.get(key)
        while idle and len(idle) > self._max_idle:
            oldest, _ = idle.popleft()
            oldest.close()
        if idle is not None and not idle:
            del self._conns[key]


class _Paced(httpx.AsyncByteStream):
    """A streamed request body whose pieces must each be taken within ``seconds``.

    aiohttp asks for the next piece once it has written (and drained) the one before,
    and it times nothing while a body goes out: a registry that stops reading would hold
    the upload for ever. Each piece handed over arms ``clock`` (the request's timeout,
    entered by the task awaiting the answer) and taking the next disarms it, so only the
    registry's slowness counts, not the wait for the piece itself (a client uploading
    slowly through the gateway). httpx's ``write`` timeout, as under its own transport.
    """

    def __init__(self, stream: httpx.AsyncByteStream, seconds: float) -> None:
        self._stream = stream
        self._seconds = seconds
        self.clock: asyncio.Timeout | None = None

    def _arm(self, seconds: float | None) -> None:
        clock = self.clock
        if clock is not None and not clock.expired():
            now = asyncio.get_running_loop().time()
            clock.reschedule(None if seconds is None else now + seconds)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._stream:
            self._arm(self._seconds)
            yield piece
            self._arm(None)

    async def aclose(self) -> None:
        await self._stream.aclose()


class _Body(httpx.AsyncByteStream):
    """An answer's body, in the pieces the socket delivered."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for piece in self._response.content.iter_any():
                yield piece

    async def aclose(self) -> None:
        # Pooled again if the body was read to its end with nothing after it; closed
        # otherwise (an answer left half read is never reused).
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        limits: httpx.Limits,
        read_bytes: int = API_READ_BYTES,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._limits = limits
        self._read_bytes = read_bytes
        self._ssl = verify
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on the first request: aiohttp binds a session to the running loop.
        limits = self._limits
        connections = limits.max_connections or 0  # 0: no limit, as httpx's None
        idle = limits.max_keepalive_connections
        connector = _Connector(
            max_idle=connections if idle is None else idle,
            limit=connections,
            limit_per_host=0,
            keepalive_timeout=(
                DEFAULT_KEEPALIVE if limits.keepalive_expiry is None else limits.keepalive_expiry
            ),
            ssl=self._ssl or httpx.create_ssl_context(trust_env=False),  # as httpx did
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx's client keeps the cookies
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            max_line_size=MAX_HEADER_LINE,
            max_field_size=MAX_HEADER_LINE,
            read_bufsize=self._read_bytes,
            trust_env=False,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        headers = CIMultiDict(request.headers.multi_items())
        data: Any
        paced: _Paced | None = None
        try:
            data = request.content or None
        except httpx.RequestNotRead:  # a streamed body
            stream, write = request.stream, timeout.get("write")
            if write is not None and isinstance(stream, httpx.AsyncByteStream):
                data = paced = _Paced(stream, write)
            else:
                data = stream
            # aiohttp frames it itself: chunked unless a Content-Length was given
            headers.popall("Transfer-Encoding", None)
        try:
            async with asyncio.timeout(None) as clock:
                if paced is not None:
                    paced.clock = clock
                with _mapped():
                    response = await session.request(
                        request.method,
                        URL(str(request.url), encoded=True),
                        headers=headers,
                        data=data,
                        allow_redirects=False,
                        timeout=aiohttp.ClientTimeout(
                            total=None,
                            connect=timeout.get("pool"),
                            sock_connect=timeout.get("connect"),
                            sock_read=timeout.get("read"),
                        ),
                    )
                if paced is not None:
                    paced.clock = None  # answered: what is left of the body is not timed
        except TimeoutError as exc:  # only ``clock`` raises it: a piece not taken in time
            raise httpx.WriteTimeout("the registry stopped reading the body") from exc
        except ValueError as exc:  # a header value aiohttp refuses to send (CR, LF)
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
