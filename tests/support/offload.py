"""The blob offload's stand (LR_BLOB_OFFLOAD_SECRET): the gateway as a real process,
with the shipped ``deploy/nginx-blob-offload.conf`` in front of it (harness/nginx.py),
over a registry; shared by the pull (tests/test_blob_offload.py) and upload
(tests/test_upload_offload.py) modules."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.nginx import Nginx, nginx_binary, start_offload
from harness.processes import Served, clean_env
from harness.registry import free_port
from tests.support.gateway_server import GatewayServer

#: The offload modules' mark: they run the shipped configuration in a real nginx.
needs_nginx = pytest.mark.skipif(
    nginx_binary() is None, reason="nginx is not installed (apt-get install nginx)"
)

SECRET = "offload-Secret-5d1c9a7e3b"
ALICE = ("alice", "alice-Pw-3e8f")
BOB = ("bob", "bob-Pw-77a1")
#: The answer's header carrying upstream credentials to nginx: never to a client.
CREDENTIALS = "x-lr-upstream-authorization"


def basic(user: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a bearer token handed to nginx (its JWT payload, not verified)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def metric_values(gateway_url: str) -> dict[str, float]:
    """The gateway's unlabelled metric values, by name."""
    text = httpx.get(f"{gateway_url}/metrics", trust_env=False).text
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if line and not line.startswith("#") and "{" not in name:
            values[name] = float(value)
    return values


@contextmanager
def offload_stack(registry_url: str, tmp: Path, **env: str) -> Iterator[tuple[Served, Nginx]]:
    """``python -m gateway`` over ``registry_url`` (debug log to a file, offload on,
    ``env`` added), and nginx in front with the shipped offload configuration."""
    port = free_port()
    served = Served.start(
        env=clean_env(
            LR_REGISTRY_URL=registry_url,
            LR_PORT=str(port),
            LR_LOG_LEVEL="debug",
            LR_DATA_DIR=str(tmp / "data"),
            LR_BLOB_OFFLOAD_SECRET=SECRET,
            **env,
        ),
        port=port,
        cwd=tmp,
        log=tmp / "gateway.log",
    )
    nginx = None
    try:
        served.wait_ready()
        nginx = start_offload(
            served.url.removeprefix("http://"),
            registry_url.removeprefix("http://"),
            SECRET,
            tmp / "nginx",
        )
        yield served, nginx
    finally:
        if nginx is not None:
            nginx.stop()
        served.stop()


@contextmanager
def token_offload_stack(
    registry_url: str, tmp: Path, **settings: object
) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, nginx's URL): an in-process gateway server over a token
    registry, nginx in front with the shipped offload configuration."""
    server = GatewayServer(registry_url, free_port(), blob_offload_secret=SECRET, **settings)
    server.start()
    nginx = None
    try:
        nginx = start_offload(
            server.url.removeprefix("http://"),
            registry_url.removeprefix("http://"),
            SECRET,
            tmp / "nginx",
        )
        yield server.url, nginx.url
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()
