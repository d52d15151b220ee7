"""Upstream failures the real registry cannot be made to produce (MockTransport), part 2:
oversized documents, never a poisoned cache, hostile ``Link`` headers, slow upstreams.
See tests/test_upstream_failures.py for the first part."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gateway.registry.client import MAX_MANIFEST_BYTES
from tests.support.assertions import assert_envelope
from tests.support.mock_registry import (
    CONFIG_DIGEST,
    DIGEST,
    ENDPOINTS,
    HOST,
    MANIFEST,
    OCI_MANIFEST,
    TAMPERED,
    FakeRegistry,
    MiB,
    blob_response,
    config_doc,
    garbage,
    gateway,
    manifest_doc,
    manifest_response,
    sha256,
)

# -- oversized documents -------------------------------------------------------------------

FIVE_MIB = 5 * 1024 * 1024


def _padded_manifest(size: int) -> bytes:
    head = b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","annotations":{"p":"'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_5mib_manifest_with_content_length_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)
    fake = FakeRegistry()
    fake.manifests["1.0"] = (body, OCI_MANIFEST)
    with gateway(fake) as client:
        error = assert_envelope(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
    assert error["detail"] == {"limit": MAX_MANIFEST_BYTES}


def test_5mib_manifest_by_digest_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)
    digest = sha256(body)
    fake = FakeRegistry()
    fake.manifests[digest] = (body, OCI_MANIFEST)
    with gateway(fake) as client:
        response = client.get(f"/api/repositories/app/manifests/{digest}")
    assert_envelope(response, 502, "UPSTREAM_INVALID")


def test_manifest_of_exactly_the_limit_is_accepted() -> None:
    body = _padded_manifest(MAX_MANIFEST_BYTES)
    fake = FakeRegistry()
    fake.manifests["big"] = (body, OCI_MANIFEST)
    fake.tags["app"] = ["1.0", "big"]
    with gateway(fake) as client:
        response = client.get("/api/repositories/app/manifests/big")
    assert response.status_code == 200
    assert len(response.content) == MAX_MANIFEST_BYTES


def test_endless_manifest_without_content_length_is_cut_off() -> None:
    """No Content-Length, chunks forever: the gateway stops reading past 4 MiB."""
    chunk = b"x" * (1024 * 1024)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"schemaVersion":2,"annotations":{"p":"'
        while sent < 64:  # a guard: a gateway that reads everything fails, not hangs
            sent += 1
            yield chunk

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            response = httpx.Response(
                200, content=endless(), headers={"Content-Type": OCI_MANIFEST}
            )
            assert "content-length" not in response.headers
            return response
        return None

    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert_envelope(response, 502, "UPSTREAM_INVALID")
    assert sent <= 5


def test_5mib_manifest_without_content_length_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(200, content=chunks(), headers={"Content-Type": OCI_MANIFEST})
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_envelope(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
        assert_envelope(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")


def test_oversized_config_blob_is_upstream_invalid() -> None:
    big = config_doc().replace(b'"Cmd"', b'"Pad":"' + b"x" * 4096 + b'","Cmd"')
    fake = FakeRegistry()
    fake.blobs = {sha256(big): big}
    manifest = manifest_doc(big)
    fake.manifests["1.0"] = (manifest, OCI_MANIFEST)
    with gateway(fake, max_config_bytes=1024) as client:
        assert_envelope(client.get(ENDPOINTS["config"]), 502, "UPSTREAM_INVALID")


# -- never a poisoned cache ----------------------------------------------------------------


class Script:
    """Answers the matching requests from a script, then falls through to the fake."""

    def __init__(self, pattern: str, *answers: Callable[[httpx.Request], httpx.Response]):
        self.pattern = pattern
        self.answers = list(answers)

    async def __call__(self, request: httpx.Request) -> httpx.Response | None:
        if re.search(self.pattern, request.url.path) and self.answers:
            return self.answers.pop(0)(request)
        return None


def test_digest_mismatch_by_tag_is_not_cached() -> None:
    script = Script(r"/manifests/1\.0$", lambda _r: manifest_response(TAMPERED, digest=DIGEST))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["manifest"])
        assert good.status_code == 200, good.text
        assert good.content == MANIFEST
        assert good.headers["docker-content-digest"] == DIGEST
        # The tampered bytes were not filed under their own digest either.
        response = client.get(f"/api/repositories/app/manifests/{sha256(TAMPERED)}")
        assert_envelope(response, 404, "MANIFEST_UNKNOWN")
        assert client.get(ENDPOINTS["image"]).json()["digest"] == DIGEST


def test_digest_mismatch_by_digest_is_not_cached() -> None:
    script = Script(rf"/manifests/{DIGEST}$", lambda _r: manifest_response(TAMPERED))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["manifest_digest"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["manifest_digest"])
        assert good.status_code == 200, good.text
        assert good.content == MANIFEST
        detail = client.get(ENDPOINTS["image_digest"])
        assert detail.status_code == 200, detail.text


def test_garbage_manifest_is_not_cached() -> None:
    script = Script(r"/manifests/", garbage, lambda _r: httpx.Response(500))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")
        assert_envelope(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_UNAVAILABLE")
        good = client.get(ENDPOINTS["image"])
        assert good.status_code == 200, good.text
        assert good.json()["digest"] == DIGEST


def test_garbage_catalog_and_tag_list_are_not_cached() -> None:
    script_catalog = Script(r"^/v2/_catalog$", garbage)
    script_tags = Script(r"/tags/list$", garbage)

    async def responder(request: httpx.Request) -> httpx.Response | None:
        return await script_catalog(request) or await script_tags(request)

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["catalog"]), 502, "UPSTREAM_INVALID")
        catalog = client.get(ENDPOINTS["catalog"])  # its tag count eats the bad tag list
        assert catalog.status_code == 200, catalog.text
        assert catalog.json()["repositories"][0]["error"]["code"] == "UPSTREAM_INVALID"
        again = client.get(ENDPOINTS["catalog"]).json()
        assert again["repositories"] == [
            {"name": "app", "tag_count": 1, "error": None, "bytes": None, "last_changed": None}
        ]
        assert client.get(ENDPOINTS["tags"]).json()["total"] == 1


def test_tampered_config_blob_is_not_cached() -> None:
    tampered = config_doc(created="1999-01-01T00:00:00Z")
    script = Script(rf"/blobs/{CONFIG_DIGEST}$", lambda _r: blob_response(tampered))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["image"])
        assert good.status_code == 200, good.text
        assert good.json()["platforms"][0]["created"] == "2024-05-01T10:00:00Z"
        config = client.get(ENDPOINTS["config"]).json()
        assert config["created"] == "2024-05-01T10:00:00Z"


def test_failures_are_not_cached_for_a_tag_row() -> None:
    script = Script(r"/manifests/", lambda _r: httpx.Response(503))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        first = client.get(ENDPOINTS["tags_details"]).json()
        assert first["tags"][0]["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        second = client.get(ENDPOINTS["tags_details"]).json()
        assert second["tags"][0]["error"] is None
        assert second["tags"][0]["digest"] == DIGEST


# -- Link headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        '<http://evil.test/v2/_catalog?last=b&n=2&token=secret>; rel="next"',
        '<https://evil.test:8443/v2/_catalog?n=2&last=b>; rel="next"',
        '<http://registry.test/other/path?last=b&n=2>; rel="next"',
        '<//evil.test/v2/_catalog?last=b>; rel="next"',
        '</v2/_catalog?last=b&n=2&x=1>; rel="next"',
        "<http://169.254.169.254/latest/meta-data?last=b>; rel=next",
    ],
)
def test_catalog_link_is_rebuilt_against_the_configured_registry(link: str) -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/_catalog":
            return None
        if request.url.host != HOST:
            return httpx.Response(200, json={"repositories": ["evil"]})
        if "last" not in request.url.params:
            return httpx.Response(200, json={"repositories": ["a", "b"]}, headers={"Link": link})
        return httpx.Response(200, json={"repositories": ["c"]})

    fake = FakeRegistry(responder)
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()["repositories"]] == ["a", "b", "c"]
    catalog = [r for r in fake.requests if r.url.path == "/v2/_catalog"]
    assert len(catalog) == 2
    assert {r.url.host for r in fake.requests} == {HOST}
    assert {r.url.scheme for r in fake.requests} == {"http"}
    assert {r.url.port for r in fake.requests} == {None}
    assert dict(catalog[0].url.params) == {"n": "2"}
    assert dict(catalog[1].url.params) == {"n": "2", "last": "b"}


def test_catalog_link_with_encoded_slash() -> None:
    link = '</v2/_catalog?last=team%2Fsvc-0290&n=2>; rel="next"'

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/_catalog":
            return None
        if "last" not in request.url.params:
            names = ["team/svc-0289", "team/svc-0290"]
            return httpx.Response(200, json={"repositories": names}, headers={"Link": link})
        return httpx.Response(200, json={"repositories": ["team/svc-0291"]})

    fake = FakeRegistry(responder)
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert response.json()["total"] == 3
    second = [r for r in fake.requests if r.url.path == "/v2/_catalog"][1]
    assert second.url.params["last"] == "team/svc-0290"


@pytest.mark.parametrize(
    "links",
    [
        ["b", "b", "b"],  # the same page again and again
        ["b", "a", "b"],  # ping-pong
        ["b", "", "b"],  # a Link without last
    ],
)
def test_catalog_link_loop_does_not_hang(links: list[str]) -> None:
    calls = 0

    async def responder(request: httpx.Request) -> httpx.Response | None:
        nonlocal calls
        if request.url.path != "/v2/_catalog":
            return None
        calls += 1
        if calls > 50:  # a guard: a looping gateway fails here instead of hanging
            return httpx.Response(500)
        last = links[(calls - 1) % len(links)]
        link = f'</v2/_catalog?last={last}&n=2>; rel="next"'
        return httpx.Response(200, json={"repositories": ["a", "b"]}, headers={"Link": link})

    fake = FakeRegistry(responder)
    started = time.monotonic()
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()["repositories"]] == ["a", "b"]
    assert calls <= 3


def test_tag_list_link_loop_does_not_hang_and_keeps_the_host() -> None:
    calls = 0

    async def responder(request: httpx.Request) -> httpx.Response | None:
        nonlocal calls
        if not request.url.path.endswith("/tags/list"):
            return None
        calls += 1
        if calls > 50:
            return httpx.Response(500)
        link = '<http://evil.test/v2/app/tags/list?last=1.0&n=1000>; rel="next"'
        return httpx.Response(200, json={"name": "app", "tags": ["1.0"]}, headers={"Link": link})

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    assert calls <= 2
    assert {r.url.host for r in fake.requests} == {HOST}


def test_tag_list_follows_link_pages() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/tags/list"):
            return None
        if request.url.params.get("last") is None:
            link = '</v2/app/tags/list?last=1.0&n=1>; rel="next"'
            return httpx.Response(
                200, json={"name": "app", "tags": ["1.0"]}, headers={"Link": link}
            )
        return httpx.Response(200, json={"name": "app", "tags": ["2.0"]})

    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["tags"])
    assert [t["name"] for t in response.json()["tags"]] == ["1.0", "2.0"]


# -- slow upstreams --------------------------------------------------------------------------


def test_upstream_slower_than_the_read_timeout_is_504_quickly() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            await asyncio.sleep(20)
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get(ENDPOINTS["manifest"])
        elapsed = time.monotonic() - started
    assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_upstream_body_that_trickles_forever_is_504_quickly() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b" "
            await asyncio.sleep(0.1)

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(200, content=trickle())
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get(ENDPOINTS["tags"])
        elapsed = time.monotonic() - started
    assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_slow_ping_is_unhealthy_quickly() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v2/":
            await asyncio.sleep(20)
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get("/api/health")
        elapsed = time.monotonic() - started
    error = assert_envelope(response, 503, "UPSTREAM_UNAVAILABLE")
    assert error["detail"]["registry"]["reachable"] is False
    assert elapsed < 3


class SilentServer:
    """A loopback TCP server that accepts connections and then says ``prefix`` slowly
    (one byte per ``interval``) or nothing at all: real sockets, real httpx timeouts."""

    def __init__(self, prefix: bytes = b"", interval: float = 0.05) -> None:
        self.prefix = prefix
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.conns: list[socket.socket] = []

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            for i in range(len(self.prefix)):
                if self.stopping.wait(self.interval):
                    return
                conn.sendall(self.prefix[i : i + 1])
            self.stopping.wait(30)
        except OSError:
            return

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_real_socket_that_never_answers_is_504(make_gateway: Any) -> None:
    with SilentServer() as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            started = time.monotonic()
            response = client.get(ENDPOINTS["tags"])
            elapsed = time.monotonic() - started
    assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_real_socket_that_trickles_headers_is_504(make_gateway: Any) -> None:
    """Each byte arrives within the read timeout; the whole answer never does."""
    prefix = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400
    with SilentServer(prefix, interval=0.05) as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            started = time.monotonic()
            response = client.get(ENDPOINTS["tags"])
            elapsed = time.monotonic() - started
    assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 5


def test_login_against_a_socket_that_trickles_headers_is_504(make_gateway: Any) -> None:
    """The login check is bound by the same overall deadline as every other request."""
    prefix = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400
    login = {"username": "alice", "password": "pw"}
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()}
    with SilentServer(prefix, interval=0.05) as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            for send in (
                lambda: client.post("/api/session", json=login, headers=xhr),
                lambda: client.get("/api/session", headers=basic),
            ):
                started = time.monotonic()
                response = send()
                elapsed = time.monotonic() - started
                assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
                assert elapsed < 5


def test_login_does_not_read_a_huge_answer() -> None:
    sent: list[int] = []

    async def endless(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/":
            return None

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(64):
                sent.append(1)
                yield b"x" * MiB

        return httpx.Response(200, content=chunks())

    with gateway(FakeRegistry(endless)) as client:
        response = client.post(
            "/api/session",
            json={"username": "alice", "password": "pw"},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
    assert_envelope(response, 401, "UNAUTHORIZED")  # an open registry checks nothing
    assert len(sent) <= 2, f"{len(sent)} MiB read"


def test_closed_port_is_503(make_gateway: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound, never listened: connections are refused
    with make_gateway(f"http://127.0.0.1:{port}") as client:
        for url in (ENDPOINTS["catalog"], ENDPOINTS["tags"], ENDPOINTS["manifest"]):
            assert_envelope(client.get(url), 503, "UPSTREAM_UNAVAILABLE")
        assert_envelope(client.get("/api/health"), 503, "UPSTREAM_UNAVAILABLE")
