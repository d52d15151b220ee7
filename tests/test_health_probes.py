"""Liveness and readiness: /api/health/live never asks the registry, /api/health/ready
(and /api/health) answers 503 soon when the registry is down or hangs; HEAD works."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from gateway import __version__
from harness.registry import free_port
from tests.conftest import gateway_for
from tests.support.stand_ins import hanging_registry


def test_live_and_ready_with_the_registry_up(api: TestClient) -> None:
    live = api.get("/api/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok", "version": __version__}
    assert live.headers["x-upstream-requests"] == "0"
    ready = api.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["registry"]["reachable"] is True
    assert ready.json() == api.get("/api/health").json() | {"registry": ready.json()["registry"]}
    for path in ("/api/health", "/api/health/ready", "/api/health/live"):
        head = api.head(path)
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-type"] == "application/json"


def test_live_stays_up_while_the_registry_is_down(registry: Any) -> None:
    with gateway_for(f"http://127.0.0.1:{free_port()}") as client:
        assert client.get("/api/health/live").status_code == 200
        assert client.head("/api/health/live").status_code == 200
        for path in ("/api/health", "/api/health/ready"):
            down = client.get(path)
            assert down.status_code == 503, path
            error = down.json()["error"]
            assert error["code"] == "UPSTREAM_UNAVAILABLE"
            assert error["detail"]["status"] == "unavailable"
            assert client.head(path).status_code == 503


def test_ready_answers_within_the_connect_timeout_when_the_registry_hangs() -> None:
    """A registry that accepts and never answers: 503 after LR_CONNECT_TIMEOUT, not after
    the read timeouts (a probe with a 5 s timeout would otherwise see no answer)."""
    with hanging_registry() as url, gateway_for(url, connect_timeout=0.5) as client:
        started = time.monotonic()
        r = client.get("/api/health/ready")
        took = time.monotonic() - started
        assert r.status_code == 503
        assert took < 3, took
        assert client.get("/api/health/live").status_code == 200
