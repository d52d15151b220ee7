"""httpcore's adjustments (gateway/registry/connections.py): over real sockets, a
kept-alive connection the registry closed while it sat idle is never handed a request,
though the pool asks the socket only of the connection it is about to use; and the
pieces of a body already read are handed on joined, up to ``JOIN_BYTES``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx

from gateway.registry import connections
from gateway.registry.connections import JOIN_BYTES, _with_queued

CONNECTIONS = 8


class ClosingServer:
    """Answers every request ``ok`` on a kept-alive connection; ``close_idle()`` closes
    every connection it holds (a registry's idle timeout)."""

    def __init__(self, expected: int = 0) -> None:
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0
        self.expected = expected
        self.all_accepted = asyncio.Event()  # ``expected`` connections accepted

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.accepted >= self.expected:
            self.all_accepted.set()
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.writers.discard(writer)

    async def close_idle(self) -> None:
        writers = list(self.writers)
        for writer in writers:
            writer.close()
        for writer in writers:
            with suppress(ConnectionError):
                await writer.wait_closed()


@asynccontextmanager
async def serving(expected: int = 0) -> AsyncIterator[tuple[ClosingServer, str]]:
    server = ClosingServer(expected)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        await server.close_idle()
        await listening.wait_closed()


async def test_a_connection_closed_while_idle_is_never_used() -> None:
    assert connections.install()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with serving(CONNECTIONS) as (server, url), httpx.AsyncClient(limits=limits) as client:
        gate = asyncio.Event()

        async def held() -> int:
            async with client.stream("GET", url + "/") as response:
                await gate.wait()  # every connection busy at once: the pool opens 8
                await response.aread()
                return response.status_code

        tasks = [asyncio.create_task(held()) for _ in range(CONNECTIONS)]
        await asyncio.wait_for(server.all_accepted.wait(), 10)
        gate.set()
        assert await asyncio.gather(*tasks) == [200] * CONNECTIONS
        await server.close_idle()  # the registry drops every idle connection

        # Each request gets a live connection: none of the 8 closed ones is used (it
        # would fail with "Server disconnected without sending a response").
        for _ in range(3 * CONNECTIONS):
            response = await client.get(url + "/")
            assert response.status_code == 200 and response.text == "ok"
        assert server.accepted == CONNECTIONS + 1  # one new connection, kept alive


async def test_idle_connections_past_their_keepalive_are_closed() -> None:
    assert connections.install()
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2, keepalive_expiry=0.0)
    async with serving() as (server, url), httpx.AsyncClient(limits=limits) as client:
        for _ in range(3):
            assert (await client.get(url + "/")).status_code == 200
        assert server.accepted == 3  # expired at once: never reused


class _Protocol:  # what anyio's asyncio socket stream reads into
    def __init__(self, *pieces: bytes) -> None:
        self.read_queue = deque(pieces)
        self.read_event = asyncio.Event()
        self.read_event.set()


class _Stream:
    def __init__(self, protocol: object) -> None:
        self._stream = type("SocketStream", (), {"_protocol": protocol})()


def test_pieces_already_read_are_joined_up_to_the_limit() -> None:
    half = JOIN_BYTES // 2
    protocol = _Protocol(b"b" * half, b"c" * half, b"d" * 10)
    joined = _with_queued(_Stream(protocol), b"a" * 10)
    assert joined == b"a" * 10 + b"b" * half + b"c" * half  # stops once past the limit
    assert list(protocol.read_queue) == [b"d" * 10] and protocol.read_event.is_set()
    assert _with_queued(_Stream(protocol), b"e") == b"e" + b"d" * 10
    assert not protocol.read_queue and not protocol.read_event.is_set()  # the next read waits


def test_a_stream_without_such_a_queue_is_left_alone() -> None:
    assert _with_queued(_Stream(object()), b"tls") == b"tls"  # anyio's TLS stream
    assert _with_queued(object(), b"x") == b"x"
