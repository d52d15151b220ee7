"""Health against a real registry: up, stopped, restarted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway import __version__
from harness.images import Pusher, push_image
from harness.registry import RegistryProcess

STOPPED_ENDPOINTS = [
    "/api/repositories",
    "/api/repositories/app/tags",
    "/api/repositories/app/tags?details=true",
    "/api/repositories/app/images/1.0",
    "/api/repositories/app/images/1.0/config",
    "/api/repositories/app/manifests/1.0",
    "/api/repositories/app/blobs/sha256:" + "0" * 64,
]


@pytest.fixture
def live(registry_factory: Any) -> Iterator[RegistryProcess]:
    """A registry of this test's own (it gets stopped), holding ``app:1.0``."""
    reg: RegistryProcess = registry_factory()
    pusher = Pusher(reg.url)
    try:
        push_image(pusher, "app", "1.0")
    finally:
        pusher.close()
    yield reg
    reg.stop()


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "detail"}
    error: dict[str, Any] = body["error"]
    return error


def assert_healthy(client: TestClient, reg: RegistryProcess) -> dict[str, Any]:
    response = client.get("/api/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    registry = body["registry"]
    assert registry["url"] == reg.url
    assert registry["reachable"] is True
    assert registry["status_code"] == 200
    assert registry["api_version"] == "registry/2.0"
    assert registry["auth"] == "none"
    assert isinstance(registry["latency_ms"], int | float) and registry["latency_ms"] >= 0
    return body


def test_health_of_a_running_registry(live: RegistryProcess, make_gateway: Any) -> None:
    with make_gateway(live.url) as client:
        body = assert_healthy(client, live)
    assert set(body) >= {"status", "version", "registry"}
    assert set(body["registry"]) >= {
        "url",
        "reachable",
        "status_code",
        "api_version",
        "auth",
        "latency_ms",
    }


def test_health_of_an_htpasswd_registry_says_basic(
    registry_factory: Any, make_gateway: Any
) -> None:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users={"u": "p"})
    try:
        with make_gateway(reg.url) as client:
            response = client.get("/api/health")
        assert response.status_code == 200, response.text
        registry = response.json()["registry"]
        assert (registry["status_code"], registry["auth"]) == (401, "basic")
        assert registry["reachable"] is True
        assert "www-authenticate" not in response.headers
    finally:
        reg.stop()


def test_health_follows_the_registry_down_and_up(live: RegistryProcess, make_gateway: Any) -> None:
    with make_gateway(live.url) as client:
        assert_healthy(client, live)
        assert client.get("/api/repositories/app/tags").status_code == 200

        live.stop()
        started = time.monotonic()
        response = client.get("/api/health")
        assert time.monotonic() - started < 2
        assert response.status_code == 503, response.text
        error = error_of(response)
        assert error["code"] == "UPSTREAM_UNAVAILABLE"
        health = error["detail"]
        assert health["status"] == "unavailable"
        assert health["version"] == __version__
        assert health["registry"]["url"] == live.url
        assert health["registry"]["reachable"] is False
        assert health["registry"]["status_code"] is None
        assert health["registry"]["auth"] == "none"

        live.restart()
        assert_healthy(client, live)
        assert client.get("/api/repositories/app/tags").json()["total"] == 1


def test_endpoints_while_the_registry_is_stopped(live: RegistryProcess, make_gateway: Any) -> None:
    # cache_ttl=0: nothing fetched before the stop may answer for the registry.
    with make_gateway(live.url, cache_ttl=0, access_ttl=0) as client:
        for url in ("/api/repositories", "/api/repositories/app/images/1.0"):
            assert client.get(url).status_code == 200  # warm the connection pool
        live.stop()
        started = time.monotonic()
        for url in STOPPED_ENDPOINTS:
            response = client.get(url)
            assert response.status_code == 503, (url, response.text)
            assert error_of(response)["code"] == "UPSTREAM_UNAVAILABLE", url
            assert "www-authenticate" not in response.headers
        assert time.monotonic() - started < 5

        live.restart()
        for url in STOPPED_ENDPOINTS[:-1]:
            assert client.get(url).status_code == 200, url
