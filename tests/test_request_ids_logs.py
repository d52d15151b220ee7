"""Request ids and the log formats.

Every answer carries ``X-Request-ID`` (the client's when sane, else a new one), every
request to the registry and its token server carries it, every log line made while a
request is handled carries it, and ``LR_LOG_FORMAT=json`` writes one JSON object a
line — still with no secret in any of them.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.logs import LogFormat, RequestIdFilter, install_record_factory, make_formatter
from gateway.main import create_app
from gateway.request_id import is_sane
from gateway.settings import Settings
from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess, free_port
from harness.tokenserver import TokenServer, allow_all
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.callers import XHR
from tests.support.callers import basic_value as basic
from tests.support.fixtures import FilledRegistry
from tests.support.gateway_server import GatewayServer
from tests.test_startup import assert_one_line_error, clean_env, run_gateway

MADE = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS = {"method", "route", "path", "status", "duration_ms", "upstream", "cache"}
BASE_FIELDS = {"time", "level", "logger", "message", "request_id"}
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


# -- helpers: a recording proxy in front of the registry, and a log capture ----------------


class RecordingProxy:
    """A loopback HTTP proxy in front of ``target`` that records, for every request it
    forwards, the method, the path and the ``X-Request-ID`` it carried."""

    HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "content-length"})

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.seen: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(trust_env=False, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._client.close()

    def take(self) -> list[tuple[str, str, str | None]]:
        with self._lock:
            seen, self.seen = self.seen, []
        return seen

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def _forward(self) -> None:
                with proxy._lock:
                    proxy.seen.append((self.command, self.path, self.headers.get("X-Request-ID")))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in proxy.HOP]
                upstream = proxy._client.request(
                    self.command, proxy.target + self.path, headers=headers, content=body
                )
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.multi_items():
                    if key.lower() not in proxy.HOP and key.lower() != "content-encoding":
                        self.send_header(key, value)
                data = b"" if self.command == "HEAD" else upstream.content
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _forward  # noqa: N815

        return Handler


def not_the_test_client(record: logging.LogRecord) -> bool:
    """The TestClient is an httpx client too: its lines about the requests it makes
    are the test's, made outside the gateway."""
    return not (record.name == "httpx" and "http://testserver/" in record.getMessage())


@contextmanager
def captured_logs(fmt: LogFormat) -> Iterator[StringIO]:
    """Every logger, at DEBUG, through the gateway's own formatter for ``fmt`` (less the
    test client's own lines)."""
    original_factory = logging.getLogRecordFactory()
    install_record_factory()
    out = StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(make_formatter(fmt))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(not_the_test_client)
    root = logging.getLogger()
    names = ("", "gateway", "gateway.access", "httpx", "httpcore", "uvicorn", "uvicorn.error")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.setLogRecordFactory(original_factory)


def lines_of(out: StringIO) -> list[str]:
    return [line for line in out.getvalue().splitlines() if line.strip()]


def json_lines(out: StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(out)]


def first_image(registry: FilledRegistry, repo: str = "oci/app", tag: str = "1.0") -> PushedImage:
    image = registry.content.images[f"{repo}:{tag}"]
    assert isinstance(image, PushedImage)
    return image


# -- ids: made, kept, replaced --------------------------------------------------------------


def test_an_id_is_made_and_returned(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client:
        first = client.get("/api/health/live").headers["X-Request-ID"]
        second = client.get("/api/health/live").headers["X-Request-ID"]
    assert MADE.fullmatch(first) and MADE.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "incoming", ["a", "req-42", "0f9c.b:a_d-E", "x" * 128, "550e8400-e29b-41d4-a716-446655440000"]
)
def test_a_sane_incoming_id_is_kept(registry: FilledRegistry, incoming: str) -> None:
    with gateway_for(registry.url) as client:
        r = client.get("/api/repositories", params={"n": 2}, headers={"X-Request-ID": incoming})
    assert r.status_code == 200
    assert r.headers.get_list("X-Request-ID") == [incoming]


INSANE: list[bytes] = [
    b"",
    b"x" * 129,
    b"two words",
    b"line\r\nSet-Cookie: evil=1",
    b"tab\there",
    b'quote"d',
    b"<script>",
    "caf\u00e9".encode(),
    "\u65e5\u672c".encode(),
    b"nul\x00byte",
]


@pytest.mark.parametrize("incoming", INSANE, ids=lambda v: repr(v)[:20])
def test_an_insane_incoming_id_is_replaced_and_never_echoed(
    registry: FilledRegistry, incoming: bytes
) -> None:
    # Headers go into the ASGI scope as they are (the TestClient does not police them),
    # so the middleware sees exactly these bytes.
    with captured_logs("text") as out, gateway_for(registry.url) as client:
        r = client.get("/api/health/live", headers=[(b"X-Request-ID", incoming)])
    assert r.status_code == 200
    returned = r.headers.get_list("X-Request-ID")
    assert len(returned) == 1 and MADE.fullmatch(returned[0]), returned
    if incoming:
        text = incoming.decode("latin-1")
        assert text not in "".join(r.headers.values())
        assert text not in out.getvalue()
    assert f"[{returned[0]}]" in out.getvalue()


def test_sanity_rule() -> None:
    assert is_sane("A-z_0.9:x") and is_sane("x" * 128)
    for bad in ("", "x" * 129, "a b", "a\nb", "caf\u00e9", "a/b", "a;b", "a=b", "a,b"):
        assert not is_sane(bad), bad


def test_insane_ids_over_a_real_socket_are_replaced(registry: FilledRegistry) -> None:
    """What a real client can put on the wire (uvicorn parses it): non-ASCII bytes, an
    over-long value, spaces inside the value."""
    server = GatewayServer(registry.url, free_port()).start()
    try:
        for value in (b"caf\xc3\xa9", b"y" * 129, b"has spaces inside", b"ok-id"):
            with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as s:
                s.sendall(
                    b"GET /api/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"X-Request-ID: " + value + b"\r\nConnection: close\r\n\r\n"
                )
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            assert head.startswith("HTTP/1.1 200"), head
            ids = [
                line.split(":", 1)[1].strip()
                for line in head.split("\r\n")
                if line.lower().startswith("x-request-id:")
            ]
            if value == b"ok-id":
                assert ids == ["ok-id"]
            else:
                assert len(ids) == 1 and MADE.fullmatch(ids[0]), ids
    finally:
        server.stop()


# -- the id goes upstream -----------------------------------------------------------------------


def test_the_id_reaches_the_registry_on_every_request(registry: FilledRegistry) -> None:
    image = first_image(registry)
    with RecordingProxy(registry.url) as proxy, gateway_for(proxy.url) as client:
        proxy.take()  # whatever the start-up sent, outside any request

        calls = {
            "catalog": ("/api/repositories", {"n": "50"}),
            "image": ("/api/repositories/oci/app/images/1.0", {}),
            "download": (f"/api/repositories/oci/app/blobs/{image.config_digest}", {}),
        }
        seen: dict[str, list[tuple[str, str, str | None]]] = {}
        for name, (path, params) in calls.items():
            r = client.get(path, params=params, headers={"X-Request-ID": f"rid-{name}"})
            assert r.status_code == 200, (path, r.text)
            assert r.headers["X-Request-ID"] == f"rid-{name}"
            seen[name] = proxy.take()
            assert seen[name], f"{name}: nothing reached the registry"
            assert int(r.headers["X-Upstream-Requests"]) == len(seen[name])
            for method, upstream_path, rid in seen[name]:
                assert rid == f"rid-{name}", (method, upstream_path, rid)

    def paths(name: str, marker: str) -> list[str]:
        return [p for _, p, _ in seen[name] if marker in p]

    assert paths("catalog", "/v2/_catalog") and paths("catalog", "/tags/list")
    assert paths("image", "/manifests/") and paths("image", f"/blobs/{image.config_digest}")
    assert paths("download", f"/blobs/{image.config_digest}")


def test_the_id_reaches_the_token_server(
    registry_factory: Any, token_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = {"alice": "alice-Pw-RID-9d1e2f"}
    tokens: TokenServer = token_server_factory(users, allow_all)
    issued: list[str] = []
    issue = tokens.issue

    def recording_issue(user: str | None, scopes: list[str]) -> tuple[str, list[dict[str, Any]]]:
        token, access = issue(user, scopes)
        issued.append(token)
        return token, access

    monkeypatch.setattr(tokens, "issue", recording_issue)
    with RecordingProxy(tokens.realm.removesuffix("/token")) as realm_proxy:
        tokens.realm = realm_proxy.url + "/token"  # the registry sends clients there
        reg: RegistryProcess = registry_factory(auth="token", token=tokens)
        with Pusher(reg.url, "alice", users["alice"]) as p:
            push_image(p, "team/app", "1.0")
        realm_proxy.take()
        auth = {"Authorization": basic("alice", users["alice"])}
        with captured_logs("json") as out, gateway_for(reg.url) as client:
            r = client.get(
                "/api/repositories/team/app/tags", headers={**auth, "X-Request-ID": "rid-token"}
            )
            assert r.status_code == 200, r.text
        fetched = realm_proxy.take()
    assert fetched, "no token was fetched"
    assert all(rid == "rid-token" for _, _, rid in fetched), fetched
    logged = out.getvalue()
    assert issued and not any(token in logged for token in issued)
    assert users["alice"] not in logged and auth["Authorization"] not in logged


# -- the id on every answer -------------------------------------------------------------------


def test_the_id_is_on_refusals_errors_and_static_files(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client:
        cases: dict[str, httpx.Response] = {}
        cases["404 envelope"] = client.get("/api/nope", headers={"X-Request-ID": "rid-404"})
        cases["405"] = client.put("/api/health/live", headers={"X-Request-ID": "rid-405"})
        cases["400 validation"] = client.get(
            "/api/repositories", params={"n": "-3"}, headers={"X-Request-ID": "rid-400"}
        )
        cases["413 body limit"] = client.post(
            "/api/session",
            content=b"{" + b" " * (70 * 1024) + b"}",
            headers={**XHR, "Content-Type": "application/json", "X-Request-ID": "rid-413"},
        )
        cases["403 csrf"] = client.post(
            "/api/session",
            json={"username": "a", "password": "b"},
            headers={"X-Request-ID": "rid-403"},
        )
        cases["spa index"] = client.get("/", headers={"X-Request-ID": "rid-index"})
        cases["spa file"] = client.get("/assets/app.js", headers={"X-Request-ID": "rid-file"})
        cases["spa missing"] = client.get(
            "/assets/missing.js", headers={"X-Request-ID": "rid-missing"}
        )
        cases["docs"] = client.get("/docs", headers={"X-Request-ID": "rid-docs"})
    expected = {
        "404 envelope": (404, "rid-404"),
        "405": (405, "rid-405"),
        "400 validation": (400, "rid-400"),
        "413 body limit": (413, "rid-413"),
        "403 csrf": (403, "rid-403"),
        "spa index": (200, "rid-index"),
        "spa file": (200, "rid-file"),
        "spa missing": (404, "rid-missing"),
        "docs": (200, "rid-docs"),
    }
    for name, (status, rid) in expected.items():
        r = cases[name]
        assert r.status_code == status, (name, r.status_code, r.text[:200])
        assert r.headers.get_list("X-Request-ID") == [rid], name
    assert cases["413 body limit"].json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert cases["403 csrf"].json()["error"]["code"] == "CSRF_FAILED"
    assert cases["404 envelope"].json()["error"]["code"] == "NOT_FOUND"


def test_the_id_is_on_cors_refusals_too(registry: FilledRegistry) -> None:
    origin = "https://ui.example.com"
    with gateway_for(registry.url, cors_origins=[origin]) as client:
        preflight = client.options(
            "/api/session",
            headers={
                "Origin": "https://evil.example.com",
                "Access-Control-Request-Method": "POST",
                "X-Request-ID": "rid-cors",
            },
        )
    assert preflight.status_code == 400  # Starlette's CORS refusal of an unknown origin
    assert preflight.headers["X-Request-ID"] == "rid-cors"


# -- the id in every log line -------------------------------------------------------------------


def test_every_log_line_of_a_request_carries_its_id(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client, captured_logs("text") as out:
        logging.getLogger("tests.outside").info("before any request")
        before = len(lines_of(out))
        r = client.get(
            "/api/repositories/oci/app/images/1.0", headers={"X-Request-ID": "rid-lines"}
        )
        assert r.status_code == 200
        during = lines_of(out)[before:]
        logging.getLogger("tests.outside").info("after the request")
    lines = lines_of(out)
    assert "[-] before any request" in lines[0]
    assert "[-] after the request" in lines[-1]
    # The access line and httpx's lines for each upstream request, all with the id.
    assert len(during) >= 3, during
    assert [line for line in during if "[rid-lines]" not in line] == []
    assert any(" gateway.access " in line for line in during)
    assert any(" httpx " in line for line in during)
    access = next(line for line in during if " gateway.access " in line)
    assert "GET /api/repositories/oci/app/images/1.0 200 " in access
    assert "upstream=" in access


def test_an_unexpected_error_is_logged_with_the_id(registry: FilledRegistry) -> None:
    """The error handler and the server log an escaped exception after the middleware
    is done: the id is still the request's there."""
    app = create_app(Settings(_env_file=None, registry_url=registry.url))  # type: ignore[call-arg]

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/api/boom-for-test", boom)
    with (
        captured_logs("json") as out,
        TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client,
    ):
        r = client.get("/api/boom-for-test", headers={"X-Request-ID": "rid-boom"})
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "INTERNAL_ERROR"
        assert r.headers["x-request-id"] == "rid-boom"
        logging.getLogger("tests.outside").info("next")
    docs = json_lines(out)
    access = [d for d in docs if d["logger"] == "gateway.access"]
    assert [(d["request_id"], d["status"]) for d in access] == [("rid-boom", 500)]
    unexpected = [d for d in docs if "unexpected error" in d["message"]]
    assert unexpected and all(d["request_id"] == "rid-boom" for d in unexpected), docs
    assert docs[-1]["logger"] == "tests.outside" and docs[-1]["request_id"] == "-"


# -- the JSON format ----------------------------------------------------------------------------


def test_json_lines_have_the_fields_and_route_templates(registry: FilledRegistry) -> None:
    calls = [
        ("/api/repositories/oci/app/tags", {"details": "true"}, "/api/repositories/{name}/tags"),
        (
            "/api/repositories/multi/oci-index/images/1.0.0",
            {},
            "/api/repositories/{name}/images/{reference}",
        ),
        ("/api/repositories", {"q": "app", "n": "5"}, "/api/repositories"),
        ("/api/nope", {}, "/api/nope"),
        ("/some/deep/link", {}, "/{spa}"),
        ("/assets/app.js", {}, "/{spa}"),
        ("/docs", {}, "/docs"),
    ]
    with gateway_for(registry.url) as client, captured_logs("json") as out:
        for i, (path, params, _) in enumerate(calls):
            r = client.get(path, params=params, headers={"X-Request-ID": f"rid-json-{i}"})
            assert r.status_code in (200, 404), (path, r.status_code)
    docs = json_lines(out)  # every line parses
    for doc in docs:
        assert doc.keys() >= BASE_FIELDS, doc
        assert RFC3339_UTC.fullmatch(doc["time"]), doc["time"]
        assert doc["request_id"].startswith("rid-json-"), doc
    access = [d for d in docs if d["logger"] == "gateway.access"]
    assert len(access) == len(calls)
    for i, (path, _params, route) in enumerate(calls):
        doc = access[i]
        assert doc.keys() >= ACCESS_FIELDS, doc
        assert doc["request_id"] == f"rid-json-{i}"
        assert doc["method"] == "GET"
        assert doc["path"] == path  # no query string
        assert doc["route"] == route, (path, doc["route"])
        assert doc["status"] in (200, 404)
        assert isinstance(doc["duration_ms"], float) and doc["duration_ms"] >= 0
        assert isinstance(doc["upstream"], int)
        assert doc["cache"] in ("hit", "miss", "none")
        assert "?" not in doc["message"] and "q=app" not in json.dumps(doc)
    assert access[0]["upstream"] > 0
    assert access[4]["upstream"] == 0  # the SPA never asks the registry


def test_json_lines_hold_no_secret(registry_factory: Any) -> None:
    """The redaction flow of test_logging_redaction, read through the JSON formatter."""
    users = {"alice": "alice-Pw-JSON-4c2a7b", "svc": "svc-Pw-JSON-8e1f30"}
    wrong = "wrong-Pw-JSON-d00d1e"
    events_token = "events-Secret-JSON-51"
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=users)
    with Pusher(reg.url, "alice", users["alice"]) as p:
        push_image(p, "team/app", "1.0")
    secrets = {*users.values(), wrong, events_token, "QS-Secret-JSON-77"}
    secrets |= {basic("alice", users["alice"]), basic("alice", wrong)}
    secrets |= {s.removeprefix("Basic ") for s in list(secrets) if s.startswith("Basic ")}
    settings = {
        "registry_username": "svc",
        "registry_password": users["svc"],
        "events_token": events_token,
        "delete_enabled": True,
    }
    with captured_logs("json") as out, gateway_for(reg.url, **settings) as client:
        tags = "/api/repositories/team/app/tags"
        assert client.get(tags, params={"token": "QS-Secret-JSON-77"}).status_code == 200
        good = {"Authorization": basic("alice", users["alice"])}
        assert client.get(tags, headers=good).status_code == 200
        bad = {"Authorization": basic("alice", wrong)}
        assert client.get(tags, headers=bad).status_code == 401
        assert client.get(tags, headers={"Authorization": "Basic " + wrong}).status_code == 401
        assert client.get(tags, headers={"Authorization": "Bearer " + wrong}).status_code in (
            200,
            400,
            401,
        )
        login = {"username": "alice", "password": users["alice"]}
        assert client.post("/api/session", json=login, headers=XHR).status_code == 200
        session_id = client.cookies.get("lr_session")
        assert session_id
        secrets.add(session_id)
        assert client.get(tags).status_code == 200
        assert client.delete(f"{tags}/nope", headers=XHR).status_code == 404
        assert client.delete("/api/session", headers=XHR).status_code == 204
        wrong_login = {"username": "alice", "password": wrong}
        assert client.post("/api/session", json=wrong_login, headers=XHR).status_code == 401
        events = {"Authorization": f"Bearer {events_token}", "Content-Type": "application/json"}
        r = client.post("/api/events", content=b'{"events": []}', headers=events)
        assert r.status_code < 300, r.text
    docs = json_lines(out)
    assert any(d["logger"] == "gateway.access" for d in docs)
    logged = out.getvalue()
    for secret in secrets:
        assert secret not in logged, f"a secret ({secret[:4]}…) reached a JSON line"


# -- the real process: start-up, uvicorn's lines, both formats ---------------------------------


def test_bogus_log_format_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = run_gateway(tmp_path, env=clean_env(LR_LOG_FORMAT="bogus"))
    line = assert_one_line_error(result, "LR_LOG_FORMAT")
    assert line.startswith("light-registry: invalid setting LR_LOG_FORMAT")
    assert result.returncode == 2


@contextmanager
def served(tmp_path: Path, registry_url: str, fmt: str) -> Iterator[tuple[str, Path]]:
    """``python -m gateway`` with LR_LOG_FORMAT=fmt; its output in a file. Stopped by PID."""
    port = free_port()
    log = tmp_path / f"gateway-{fmt}.log"
    env = clean_env(
        LR_REGISTRY_URL=registry_url,
        LR_PORT=str(port),
        LR_LOG_FORMAT=fmt,
        LR_REGISTRY_USERNAME="svc",
        LR_REGISTRY_PASSWORD="hunter2-Secret-RID",
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gateway"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(trust_env=False, timeout=2) as client:

            def live() -> httpx.Response:
                if proc.poll() is not None:
                    raise RuntimeError(log.read_text(errors="replace"))
                return client.get(url + "/api/health/live")

            try:
                eventually(live, within=15, retry=(httpx.TransportError,))
            except AssertionError:
                raise AssertionError(log.read_text(errors="replace")) from None
        yield url, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_the_served_gateway_logs_json_lines(registry: FilledRegistry, tmp_path: Path) -> None:
    with (
        served(tmp_path, registry.url, "json") as (url, log),
        httpx.Client(trust_env=False, timeout=10) as client,
    ):
        r = client.get(
            url + "/api/repositories/oci/app/tags",
            params={"q": "1"},
            headers={"X-Request-ID": "rid-served"},
        )
        assert r.status_code == 200 and r.headers["X-Request-ID"] == "rid-served"
        made = client.get(url + "/").headers["X-Request-ID"]
    output = log.read_text(encoding="utf-8")
    docs = [json.loads(line) for line in output.splitlines() if line.strip()]  # all parse
    assert all(d.keys() >= BASE_FIELDS for d in docs)
    uvicorn_lines = [d for d in docs if d["logger"] == "uvicorn.error"]
    assert any("Application startup complete" in d["message"] for d in uvicorn_lines)
    assert any("Application shutdown complete" in d["message"] for d in uvicorn_lines)
    assert all(d["request_id"] == "-" for d in uvicorn_lines)  # outside any request
    access = {d["request_id"]: d for d in docs if d["logger"] == "gateway.access"}
    assert access["rid-served"]["route"] == "/api/repositories/{name}/tags"
    assert access["rid-served"]["path"] == "/api/repositories/oci/app/tags"
    assert access["rid-served"]["upstream"] >= 1
    assert access[made]["route"] == "/{spa}"
    assert "hunter2-Secret-RID" not in output and "q=1" not in output
    assert not any(d["logger"] == "uvicorn.access" for d in docs)  # its access log stays off


def test_the_served_gateway_logs_text_lines_with_the_id(
    registry: FilledRegistry, tmp_path: Path
) -> None:
    with (
        served(tmp_path, registry.url, "text") as (url, log),
        httpx.Client(trust_env=False, timeout=10) as client,
    ):
        r = client.get(url + "/api/repositories", headers={"X-Request-ID": "rid-text"})
        assert r.status_code == 200
    lines = log.read_text(encoding="utf-8").splitlines()
    access = [line for line in lines if " gateway.access " in line]
    assert any("[rid-text] GET /api/repositories 200 " in line for line in access), access
    assert any(" uvicorn.error [-] " in line for line in lines), lines


def test_the_cache_field_says_whether_the_caches_answered(registry: FilledRegistry) -> None:
    """A first call misses, the same call again is a hit with no upstream request, and
    a call that looks nothing up (the UI's files, health) says none."""
    calls = [
        "/api/repositories/oci/app/images/1.0",  # cold: tag, manifest, config fetched
        "/api/repositories/oci/app/images/1.0",  # warm: every lookup answered
        "/api/repositories/versions/app/tags",  # another repository: its list is fetched
        "/api/repositories/versions/app/tags",
        "/assets/app.js",
        "/api/health/live",
    ]
    with gateway_for(registry.url) as client, captured_logs("json") as out:
        for path in calls:
            assert client.get(path).status_code == 200, path
    access = [d for d in json_lines(out) if d["logger"] == "gateway.access"]
    got = [(d["cache"], d["upstream"] == 0) for d in access]
    assert got == [
        ("miss", False),
        ("hit", True),
        ("miss", False),
        ("hit", True),
        ("none", True),
        ("none", True),
    ], got
