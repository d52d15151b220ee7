"""The API pool's transport (gateway/registry/aiohttp_transport.py) over real sockets:
requests go out exactly as httpx built them; answers nobody asked for — sent with the
answer, later on the idle connection, or the start of one — are never taken for the
next request's; aiohttp's failures arrive as the httpx errors the gateway maps; and the
pool's limits hold (connections kept alive, idle ones bounded). Each server here is a
script of raw bytes per request: what a real registry cannot be made to send."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.registry.aiohttp_transport import AiohttpTransport
from gateway.registry.upstream_errors import error_for_transport
from harness.certificates import self_signed

Answer = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[None]]


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s%s" % (len(body), body, extra)


class Scripted:
    """Reads each request (head and a ``Content-Length`` or chunked body) and lets
    ``answer(n, request, writer)`` write what it likes; ``n`` counts requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.accepted = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                lowered = head.lower()
                if b"transfer-encoding: chunked" in lowered:
                    while not body.endswith(b"0\r\n\r\n"):
                        body += await reader.readuntil(b"\r\n")
                elif b"content-length:" in lowered:
                    size = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
                    body = await reader.readexactly(size)
                self.requests.append(head + body)
                await self.answer(len(self.requests), head + body, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.writers.discard(writer)
            writer.close()


@asynccontextmanager
async def scripted(answer: Answer) -> AsyncIterator[tuple[Scripted, str]]:
    server = Scripted(answer)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        for writer in list(server.writers):
            writer.close()
        with suppress(Exception):
            await listening.wait_closed()


def client(max_connections: int = 4, keepalive: int = 4, **timeouts: float) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive)
    timeout = httpx.Timeout(timeouts.get("read", 5.0), connect=timeouts.get("connect", 5.0))
    return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout)


async def settled(condition: Callable[[], bool], turns: int = 2000) -> bool:
    """Lets the loop run (no clock) until ``condition`` holds; whether it does."""
    for _ in range(turns):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()


def path_of(request: bytes) -> bytes:
    return request.split(b" ", 2)[1]


async def by_path(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(ok(path_of(request)))


# -- requests as httpx built them ---------------------------------------------------------


async def test_requests_go_out_as_httpx_built_them() -> None:
    async with scripted(by_path) as (server, url), client() as http:
        r = await http.get(
            url + "/v2/team%2Fapp/tags/list",
            params={"last": "a+b c/d", "n": "2"},
            headers={"Accept": "application/vnd.oci.image.index.v1+json", "X-Request-ID": "r1"},
        )
        assert r.status_code == 200 and r.reason_phrase == "OK"
        put = await http.put(url + "/v2/app/manifests/1.0", content=b'{"a":1}')

        async def pieces() -> AsyncIterator[bytes]:
            yield b"abc"
            yield b"def"

        patch = await http.patch(url + "/v2/app/blobs/uploads/u1", content=pieces())
        assert [put.status_code, patch.status_code] == [200, 200]
    get, put_sent, patch_sent = server.requests
    assert path_of(get) == b"/v2/team%2Fapp/tags/list?last=a%2Bb+c%2Fd&n=2"  # as encoded
    lines = get.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    names = sorted(line.split(b":")[0].lower() for line in lines)
    # httpx's headers and the caller's, none of aiohttp's own
    assert names == sorted(
        [b"host", b"accept", b"accept-encoding", b"connection", b"user-agent", b"x-request-id"]
    ), lines
    assert b"\r\naccept: application/vnd.oci.image.index.v1+json\r\n" in get.lower()
    assert b"python-httpx" in get.lower() and b"aiohttp" not in get.lower()
    assert put_sent.endswith(b'\r\n\r\n{"a":1}') and b"content-length: 7" in put_sent.lower()
    assert b"content-type" not in put_sent.lower()
    assert patch_sent.lower().count(b"transfer-encoding: chunked") == 1
    assert patch_sent.endswith(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")


async def test_answers_come_back_as_sent() -> None:
    async def answer(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
            b'Link: </v2/_catalog?last=b&n=1>; rel="next"\r\nSet-Cookie: a=1\r\n'
            b"Set-Cookie: b=2\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nxyz"
        )

    async with scripted(answer) as (_, url), client() as http:
        r = await http.send(http.build_request("GET", url + "/v2/_catalog"), stream=True)
        assert r.status_code == 404 and r.reason_phrase == "Not Found"
        assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
        assert r.headers["link"] == '</v2/_catalog?last=b&n=1>; rel="next"'
        with pytest.raises(httpx.DecodingError):
            await r.aread()  # not gunzipped by aiohttp: httpx decodes, and fails, as before

    async def head(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")  # HEAD: no body

    async with scripted(head) as (server, url), client() as http:
        for _ in range(3):
            r = await http.head(url + "/v2/app/blobs/sha256:x")
            assert r.status_code == 200 and r.headers["content-length"] == "1000"
            assert r.content == b""
        assert server.accepted == 1  # kept alive across answers with no body


# -- answers nobody asked for ------------------------------------------------------------


async def test_an_answer_sent_along_with_the_one_asked_for_is_never_taken() -> None:
    async def answer(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        extra = ok(b'{"tags":["smuggled"]}') if n == 1 else b""
        writer.write(ok(path_of(request), extra))

    async with scripted(answer) as (server, url), client(max_connections=1) as http:
        assert (await http.get(url + "/first")).text == "/first"
        assert (await http.get(url + "/second")).text == "/second"
        assert (await http.get(url + "/third")).text == "/third"
    assert server.accepted == 2  # the first connection was closed, not pooled


async def test_an_answer_that_arrives_on_an_idle_connection_is_never_taken() -> None:
    sent_late, back_in_pool = asyncio.Event(), asyncio.Event()

    async def answer(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(path_of(request)))
        if n == 1:
            await writer.drain()
            await back_in_pool.wait()
            writer.write(ok(b'{"tags":["smuggled"]}'))
            await writer.drain()
            sent_late.set()

    async with scripted(answer) as (server, url), client(max_connections=1) as http:
        assert (await http.get(url + "/first")).text == "/first"
        back_in_pool.set()
        await asyncio.wait_for(sent_late.wait(), 5)
        await settled(lambda: False, 200)  # the late answer read off the socket meanwhile
        assert (await http.get(url + "/second")).text == "/second"
        assert (await http.get(url + "/third")).text == "/third"
    assert server.accepted == 2


async def test_the_start_of_an_answer_nobody_asked_for_is_dropped() -> None:
    async def answer(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        extra = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nX-Smuggled: yes" if n == 1 else b""
        writer.write(ok(path_of(request), extra))

    async with scripted(answer) as (server, url), client(max_connections=1) as http:
        assert (await http.get(url + "/first")).text == "/first"
        second = await http.get(url + "/second")
        assert second.status_code == 200 and second.text == "/second"
        assert "x-smuggled" not in second.headers
    assert server.accepted == 1  # reused: the next answer is parsed afresh


# -- failures as httpx errors ------------------------------------------------------------


async def test_failures_arrive_as_the_httpx_errors_the_gateway_maps() -> None:
    listening = await asyncio.start_server(by_path, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    async with client() as http:
        with pytest.raises(httpx.ConnectError) as refused:
            await http.get(f"http://127.0.0.1:{port}/v2/")
    assert error_for_transport(refused.value).status == 503

    async def stall(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2)

    async with scripted(stall) as (_, url), client(read=0.2) as http:
        with pytest.raises(httpx.ReadTimeout) as stalled:
            await http.get(url + "/v2/")
    assert error_for_transport(stalled.value).status == 504

    async def short(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"tags"')
        await writer.drain()
        writer.close()

    async def garbage(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"\x00\x01 not http at all\r\n\r\n")

    async def hang_up(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()  # a reset, no answer

    for script in (short, garbage, hang_up):
        async with scripted(script) as (_, url), client() as http:
            with pytest.raises(httpx.TransportError) as failed:
                r = await http.get(url + "/v2/")
                await r.aread()
        assert isinstance(failed.value, httpx.RemoteProtocolError | httpx.ReadError), script
        assert error_for_transport(failed.value).status == 502, script

    async with scripted(by_path) as (server, url), client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.get(url + "/v2/", headers={"X-Bad": "a\r\nInjected: yes"})
    assert server.requests == []  # nothing went out


# -- limits ------------------------------------------------------------------------------


async def test_connections_are_kept_alive_and_idle_ones_bounded() -> None:
    gate = asyncio.Event()

    async def held(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        if n <= 3:
            await gate.wait()
        writer.write(ok(b"ok"))

    async with scripted(held) as (server, url), client(max_connections=3, keepalive=1) as http:
        tasks = [asyncio.create_task(http.get(url + "/")) for _ in range(3)]
        assert await settled(lambda: len(server.requests) == 3)
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 3
        for _ in range(5):
            assert (await http.get(url + "/")).status_code == 200
        assert server.accepted == 3
        # two of the three closed once idle: one kept
        assert await settled(lambda: len(server.writers) == 1), len(server.writers)


async def test_a_fourth_request_waits_for_one_of_three_connections() -> None:
    gate = asyncio.Event()

    async def held(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        writer.write(ok(b"ok"))

    async with scripted(held) as (server, url), client(max_connections=3) as http:
        tasks = [asyncio.create_task(http.get(url + "/")) for _ in range(4)]
        assert await settled(lambda: len(server.requests) == 3)
        await settled(lambda: False, 500)  # a fourth connection would have come by now
        assert server.accepted == 3 and len(server.requests) == 3
        gate.set()
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 4
        assert server.accepted == 3


async def test_a_connection_the_registry_closed_while_idle_is_never_used() -> None:
    async def answer_then_close(n: int, request: bytes, writer: asyncio.StreamWriter) -> None:
        # keep-alive announced, then closed: what a registry's idle timeout does
        writer.write(ok(b"ok"))
        await writer.drain()
        writer.close()

    async with scripted(answer_then_close) as (server, url), client() as http:
        for _ in range(3):
            r = await http.get(url + "/")
            assert r.status_code == 200 and r.text == "ok"
            assert await settled(lambda: not server.writers)  # closed on the server's side
        # a POST is not retried by aiohttp: had a dead connection been handed to it,
        # it would fail
        for _ in range(3):
            assert (await http.post(url + "/", content=b"x")).status_code == 200
            assert await settled(lambda: not server.writers)
    assert server.accepted == 6


async def test_idle_connections_past_their_keepalive_are_closed() -> None:
    limits = httpx.Limits(max_connections=2, max_keepalive_connections=2, keepalive_expiry=0.0)
    async with (
        scripted(by_path) as (server, url),
        httpx.AsyncClient(transport=AiohttpTransport(limits=limits)) as http,
    ):
        for _ in range(3):
            assert (await http.get(url + "/")).status_code == 200
            await asyncio.sleep(0.001)  # past the zero keep-alive
    assert server.accepted == 3  # expired at once: never reused


# -- streamed bodies ---------------------------------------------------------------------


async def pieces(count: int, size: int, pause: float = 0.0) -> AsyncIterator[bytes]:
    for _ in range(count):
        if pause:
            await asyncio.sleep(pause)
        yield b"x" * size


async def test_a_registry_that_stops_reading_an_upload_is_a_write_timeout() -> None:
    """aiohttp times nothing while a body goes out: without the transport's own write
    timeout this upload would hang for ever."""
    stop = asyncio.Event()

    async def read_the_head_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await stop.wait()  # never reads the body, never answers
        writer.close()

    listening = await asyncio.start_server(read_the_head_only, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, write=0.3)
    started = asyncio.get_running_loop().time()
    try:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits), timeout=timeout
        ) as http:
            with pytest.raises(httpx.WriteTimeout) as stalled:
                upload = http.patch(f"http://127.0.0.1:{port}/up", content=pieces(512, 1 << 20))
                await asyncio.wait_for(upload, 10)  # without the bound: a TimeoutError here
    finally:
        stop.set()
        listening.close()
    assert error_for_transport(stalled.value).status == 504
    assert asyncio.get_running_loop().time() - started < 5.0  # the write bound, not read's


async def test_a_slow_uploader_is_not_the_registrys_slowness() -> None:
    """The pieces of the body arrive slower than the write timeout (a client uploading
    slowly through the gateway): only the registry's taking of each piece is timed."""
    async with scripted(by_path) as (server, url):
        timeout = httpx.Timeout(5.0, write=0.2)
        async with httpx.AsyncClient(
            transport=AiohttpTransport(limits=httpx.Limits(max_connections=1)), timeout=timeout
        ) as http:
            r = await http.patch(url + "/up", content=pieces(3, 1000, pause=0.3))
            assert r.status_code == 200
    assert server.requests[0].count(b"3e8\r\n" + b"x" * 1000) == 3


# -- TLS ---------------------------------------------------------------------------------


def tls_files(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (an IP SAN) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(
        self_signed(key, "registry.test", valid=dt.timedelta(hours=1), extensions=((san, False),))
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_a_registry_over_tls_is_verified(tmp_path: Path) -> None:
    """HTTPS registries: the certificate is checked (by default against certifi's
    authorities, as httpx's client did); one it cannot verify is a connection failure
    (503), as under httpx's own transport."""
    cert_file, key_file = tls_files(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert_file, key_file)
    server = Scripted(by_path)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=served)
    url = f"https://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    limits = httpx.Limits(max_connections=2)
    try:
        trusting = ssl.create_default_context(cafile=str(cert_file))
        async with httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits, verify=trusting)
        ) as http:
            for _ in range(2):
                r = await http.get(url + "/v2/")
                assert r.status_code == 200 and r.text == "/v2/"
        assert server.accepted == 1  # kept alive over TLS too
        async with httpx.AsyncClient(transport=AiohttpTransport(limits=limits)) as http:
            with pytest.raises(httpx.ConnectError) as refused:
                await http.get(url + "/v2/")
        assert error_for_transport(refused.value).status == 503
        assert "certificate" in str(refused.value).lower()
    finally:
        listening.close()
        for writer in list(server.writers):
            writer.close()
