"""Requests uvicorn cannot parse get the envelope too (gateway/http_protocol.py).

They never reach the app: uvicorn answers them itself. The gateway's protocol classes
make that answer a 400 envelope with a request id; a real ``python -m gateway`` process
(httptools, the parser uvicorn picks when it is installed) and an in-process server over
h11 are both checked, over raw sockets.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from gateway.http_protocol import EnvelopeH11Protocol, protocol_class
from gateway.main import create_app
from gateway.settings import Settings
from harness.registry import free_port
from harness.waiting import eventually
from tests.support.served import clean_env

UNPARSABLE = {
    "a URL over 64 KiB": b"GET /api/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "Content-Length: -1": b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "not HTTP at all": b"GARBAGE\r\n\r\n",
    "both Transfer-Encoding and Content-Length": (
        b"POST /api/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\n0\r\n\r\n"
    ),
    "an unknown HTTP version": b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n",
    "a control character in a header": (
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"
    ),
}


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        raw = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def assert_unparsable_answer(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    assert int(headers["content-length"]) == len(body)
    doc = json.loads(body)
    assert doc["error"]["code"] == "HTTP_INVALID"
    assert doc["error"]["message"]
    assert doc["error"]["detail"] == {"request_id": headers["x-request-id"]}
    assert "server" not in headers


@pytest.fixture(scope="module")
def served_port(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import subprocess
    import sys

    port = free_port()
    log = tmp_path_factory.mktemp("http-protocol") / "gateway.log"
    env = clean_env(LR_REGISTRY_URL="http://127.0.0.1:9", LR_PORT=str(port))
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gateway"],
            env=env,
            cwd=log.parent,  # its data/ there, never in the working folder
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def listening() -> bool:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True

        try:
            eventually(listening, within=15, retry=(OSError,))
        except AssertionError:
            pytest.fail(log.read_text())
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("case", sorted(UNPARSABLE))
def test_the_served_gateway_answers_unparsable_requests_with_the_envelope(
    served_port: int, case: str
) -> None:
    assert_unparsable_answer(*exchange(served_port, UNPARSABLE[case]))


def test_what_parses_still_reaches_the_app(served_port: int) -> None:
    # Just under the URL limit: the app's own 404 envelope, not the parser's 400.
    data = b"GET /api/" + b"a" * 60_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, body = exchange(served_port, data)
    assert status == 404
    assert json.loads(body)["error"]["code"] == "NOT_FOUND"


def test_the_protocol_follows_the_parser_uvicorn_would_pick() -> None:
    try:
        import httptools  # noqa: F401
    except ImportError:
        assert protocol_class() is EnvelopeH11Protocol
    else:
        assert protocol_class().__name__ == "EnvelopeHttpToolsProtocol"


@pytest.fixture(scope="module")
def h11_port() -> Iterator[int]:
    app = create_app(Settings(_env_file=None, registry_url="http://127.0.0.1:9"))  # type: ignore[call-arg]
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=EnvelopeH11Protocol,
        log_level="warning",
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, every=0.02, what="the server started")
    yield port
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("case", ["Content-Length: -1", "not HTTP at all"])
def test_over_h11_too(h11_port: int, case: str) -> None:
    assert_unparsable_answer(*exchange(h11_port, UNPARSABLE[case]))


def test_the_protocol_lets_a_pushed_body_fill_a_larger_buffer() -> None:
    from uvicorn.protocols.http import h11_impl

    from gateway.http_protocol import BODY_BUFFER

    chosen = protocol_class()
    if chosen is EnvelopeH11Protocol:
        assert h11_impl.HIGH_WATER_LIMIT == BODY_BUFFER
    else:
        from uvicorn.protocols.http import httptools_impl

        assert httptools_impl.HIGH_WATER_LIMIT == BODY_BUFFER == 1024 * 1024
