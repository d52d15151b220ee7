"""Blob downloads over real sockets: slow readers hold their upstream connections in a
pool of their own, so they never starve the API calls of other users."""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

import httpx

from tests.support.gateway_server import GatewayServer
from tests.support.images import Pusher, push_image
from tests.support.registry import RegistryProcess, free_port

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
