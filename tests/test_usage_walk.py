"""GET /api/usage over a registry of 10,000 repositories: the first answer comes within
the request deadline with ``complete: false``, the walk goes on in the background, the
next answer counts more, and shutdown stops the walk.

A registry that slow and that large cannot be made cheaply from the real one: the
registry is an ``httpx.MockTransport`` here (every answer a few milliseconds late).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import time
from typing import Any

import httpx

from harness.waiting import eventually
from tests.conftest import gateway_for

NAMES = sorted(f"walk/repo-{i:05d}" for i in range(10_000))
SHARED = "sha256:" + "0" * 64


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_of(repo: str) -> bytes:
    own = _sha(repo.encode())
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": own,
            "size": 100,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": SHARED,
                "size": 1000,
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _sha(repo.encode() + b"/layer"),
                "size": 10,
            },
        ],
    }
    return json.dumps(doc).encode()


def slow_registry(requests: list[str], *, basic: bool = False) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.003)
        path = request.url.path
        requests.append(path)
        if basic and "authorization" not in request.headers:
            challenge = {"WWW-Authenticate": 'Basic realm="walk"'}
            return httpx.Response(
                401, json={"errors": [{"code": "UNAUTHORIZED"}]}, headers=challenge
            )
        if path == "/v2/":
            return httpx.Response(200, json={})
        if path == "/v2/_catalog":
            n = int(request.url.params.get("n", "100"))
            last = request.url.params.get("last")
            start = bisect.bisect_right(NAMES, last) if last else 0
            page = NAMES[start : start + n]
            headers = {}
            if start + n < len(NAMES):
                headers["Link"] = f'</v2/_catalog?last={page[-1]}&n={n}>; rel="next"'
            return httpx.Response(200, json={"repositories": page}, headers=headers)
        name, _, rest = path.removeprefix("/v2/").rpartition("/tags/")
        if rest == "list":
            return httpx.Response(200, json={"name": name, "tags": ["1.0"]})
        name, _, ref = path.removeprefix("/v2/").rpartition("/manifests/")
        if name in NAMES and ref in ("1.0", _sha(manifest_of(name))):
            body = manifest_of(name)
            return httpx.Response(
                200,
                content=body,
                headers={
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    "Docker-Content-Digest": _sha(body),
                },
            )
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})

    return httpx.MockTransport(handler)


def test_ten_thousand_repositories_answer_within_the_deadline_and_go_on() -> None:
    requests: list[str] = []
    settings: dict[str, Any] = {"request_timeout": 3.0, "catalog_page_size": 1000}
    with gateway_for(
        "http://registry.test:5000", transport=slow_registry(requests), **settings
    ) as client:
        started = time.monotonic()
        first = client.get("/api/usage")
        took = time.monotonic() - started
        assert first.status_code == 200, first.text
        body = first.json()
        assert took < 3.0
        assert body["complete"] is False
        assert body["repositories_total"] == len(NAMES)
        assert 0 < body["repositories_counted"] < len(NAMES)
        assert len(body["repositories"]) == body["repositories_counted"]
        # Each repository counted holds its config and own layer exclusively; the shared
        # layer is counted once in total_bytes and once per repository in naive_bytes.
        counted = body["repositories_counted"]
        assert body["naive_bytes"] == counted * (len(manifest_of(NAMES[0])) + 1110)
        assert body["total_bytes"] == body["naive_bytes"] - (counted - 1) * 1000
        time.sleep(1.0)  # the walk goes on meanwhile, outside any request
        second = client.get("/api/usage").json()
        assert second["repositories_counted"] > counted
        walks = client.app.state.lr.usage._walks  # type: ignore[attr-defined]
        task = next(iter(walks.values())).task
        assert task is not None and not task.done()
    # Shutdown cancelled the walk: nothing more is asked of the registry.
    assert task.done()
    seen = len(requests)
    time.sleep(0.2)
    assert len(requests) == seen


def test_a_logout_stops_that_callers_walk() -> None:
    requests: list[str] = []
    transport = slow_registry(requests, basic=True)
    settings: dict[str, Any] = {"request_timeout": 2.0, "catalog_page_size": 1000}
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    with gateway_for("http://registry.test:5000", transport=transport, **settings) as client:
        login = client.post(
            "/api/session", json={"username": "walker", "password": "walk-Pw-1"}, headers=xhr
        )
        assert login.status_code == 200, login.text
        first = client.get("/api/usage")
        assert first.status_code == 200 and first.json()["complete"] is False
        usage = client.app.state.lr.usage  # type: ignore[attr-defined]
        (walk,) = usage._walks.values()
        task = walk.task
        assert task is not None and not task.done()
        assert client.delete("/api/session", headers=xhr).status_code == 204
        eventually(task.done, within=2, every=0.01, what="the walk ended by the logout")
        assert task.cancelled()
        assert usage._walks == {}
        # The reads in flight finish (each is shared by whoever waits for it), no new
        # one starts, and what they read is not kept for the logged-out caller.
        time.sleep(0.3)
        seen = len(requests)
        time.sleep(0.3)
        assert len(requests) == seen
        assert len(usage.figures) == 0
