"""Blob downloads over real sockets: slow readers hold their upstream connections in a
pool of their own, so they never starve the API calls of other users."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from typing import Any

import httpx

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually
from tests.support.gateway_server import GatewayServer

BLOB_BYTES = 16 * 1024 * 1024


def test_slow_downloads_do_not_starve_other_requests(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory()
    data = os.urandom(BLOB_BYTES)
    with Pusher(reg.url) as p:
        digest = p.push_blob("big/blob", data)
        push_image(p, "small/app", "1.0")
    server = GatewayServer(
        reg.url, free_port(), pool_max_connections=2, pool_max_downloads=2, read_timeout=3.0
    ).start()
    try:
        url = f"{server.url}/api/repositories/big/blob/blobs/{digest}"
        with contextlib.ExitStack() as stack, httpx.Client(trust_env=False, timeout=10) as api:
            readers = []
            for _ in range(2):  # as many as the download pool holds, both stalled
                client = stack.enter_context(httpx.Client(trust_env=False, timeout=10))
                response = stack.enter_context(client.stream("GET", url))
                assert response.status_code == 200
                assert int(response.headers["content-length"]) == BLOB_BYTES
                readers.append(response.iter_raw(64 * 1024))
                next(readers[-1])
            # The API pool is just as small, and untouched by the stalled downloads.
            r = api.get(f"{server.url}/api/repositories/small/app/tags?details=true")
            assert r.status_code == 200, r.text
            assert r.json()["tags"][0]["digest"]
            # The stalled downloads are intact when their readers come back.
            for reader in readers:
                rest = b"".join(reader)
                assert len(rest) > 0
        with httpx.Client(trust_env=False, timeout=10) as client:
            whole = client.get(url).content
        assert hashlib.sha256(whole).hexdigest() == digest.split(":", 1)[1]
    finally:
        server.stop()


def test_downloads_queued_for_the_pool_do_not_hold_up_api_calls(registry_factory: Any) -> None:
    """Downloads waiting for a free download connection must not take the slots of the
    upstream concurrency limit that API calls need meanwhile."""
    reg: RegistryProcess = registry_factory()
    data = os.urandom(BLOB_BYTES)
    with Pusher(reg.url) as p:
        digest = p.push_blob("big/blob", data)
        push_image(p, "small/app", "1.0")
    server = GatewayServer(
        reg.url, free_port(), upstream_concurrency=2, pool_max_downloads=1, read_timeout=4.0
    ).start()
    url = f"{server.url}/api/repositories/big/blob/blobs/{digest}"

    def queued_download() -> None:
        with contextlib.suppress(httpx.HTTPError), httpx.Client(trust_env=False, timeout=20) as c:
            c.get(url)  # waits for the one download connection (504 when it gives up)

    try:
        with contextlib.ExitStack() as stack, httpx.Client(trust_env=False, timeout=20) as api:
            client = stack.enter_context(httpx.Client(trust_env=False, timeout=20))
            response = stack.enter_context(client.stream("GET", url))
            assert response.status_code == 200
            reader = response.iter_raw(64 * 1024)
            next(reader)  # holds the download pool's only connection, stalled
            waiting = [threading.Thread(target=queued_download) for _ in range(2)]
            for thread in waiting:
                thread.start()
            eventually(  # both are queued for the download pool now
                lambda: len(server.server.server_state.tasks) >= 3,
                what="the two downloads waiting for the pool",
            )
            started = time.monotonic()
            r = api.get(f"{server.url}/api/repositories/small/app/tags?details=true")
            elapsed = time.monotonic() - started
            assert r.status_code == 200, r.text
            assert elapsed < 2.0, f"the API call waited {elapsed:.1f}s behind queued downloads"
            assert len(b"".join(reader)) > 0
            for thread in waiting:
                thread.join(timeout=20)
    finally:
        server.stop()
