"""Response headers every /api answer carries, and request body limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from tests.support.callers import XHR
from tests.support.fixtures import FilledRegistry


def test_json_answers_are_not_stored_by_shared_caches(api: TestClient) -> None:
    for path in (
        "/api/health",
        "/api/repositories",
        "/api/repositories/oci/app/tags",
        "/api/repositories/nope/tags",
        "/api/no-such-route",
    ):
        r = api.get(path)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff", path


def test_digest_addressed_documents_keep_their_own_caching(
    api: TestClient, registry: FilledRegistry
) -> None:
    image = registry.content.images["oci/app:1.0"]
    r = api.get(f"/api/repositories/oci/app/manifests/{image.digest}")
    assert r.status_code == 200
    assert "immutable" in r.headers["cache-control"]
    assert r.headers["x-content-type-options"] == "nosniff"
    by_tag = api.get("/api/repositories/oci/app/manifests/1.0")
    assert by_tag.headers["cache-control"] == "private, no-cache"


def test_large_request_bodies_are_refused(registry: FilledRegistry, make_gateway: Any) -> None:
    with make_gateway(registry.url, events_token="t0ken") as client:
        big = {"username": "u", "password": "p" * 100_000}
        r = client.post("/api/session", json=big, headers=XHR)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
            for _ in range(80):
                yield b" " * 1024

        r = client.post(
            "/api/session",
            content=chunks(),
            headers={**XHR, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
        # The registry's event envelopes may be larger than a login...
        events = b'{"events": []' + b" " * 200_000 + b"}"
        auth = {"Authorization": "Bearer t0ken"}
        assert client.post("/api/events", content=events, headers=auth).status_code == 200
        # ...but not without bound.
        huge = b'{"events": []' + b" " * (5 << 20) + b"}"
        assert client.post("/api/events", content=huge, headers=auth).status_code == 413
