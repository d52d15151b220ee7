"""Graceful shutdown of a real ``python -m gateway``: on SIGTERM it stops accepting,
lets an in-flight blob download finish, closes its pools (the lifespan's shutdown) and
exits; a download that outlives LR_SHUTDOWN_TIMEOUT is cut at that bound."""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness.images import Pusher
from harness.processes import Served, clean_env
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually

BLOB_BYTES = 32 * 1024 * 1024  # more than loopback socket buffers hold
CHUNK = 64 * 1024


@dataclass
class Blob:
    registry: RegistryProcess
    digest: str

    @property
    def path(self) -> str:
        return f"/api/repositories/big/blob/blobs/{self.digest}"


@pytest.fixture(scope="module")
def blob(registry_factory: Any) -> Blob:
    reg: RegistryProcess = registry_factory()
    data = hashlib.sha256(b"seed").digest() * (BLOB_BYTES // 32)
    with Pusher(reg.url) as pusher:
        digest = pusher.push_blob("big/blob", data)
    return Blob(reg, digest)


@dataclass
class Download:
    """A client reading a blob ``pause`` seconds per 64 KiB (forever after ``stall_after``
    bytes, if set), in a thread."""

    url: str
    pause: float
    stall_after: int | None = None
    started: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    sha256: str = ""
    error: str | None = None

    def run(self) -> None:
        digest = hashlib.sha256()
        try:
            with (
                httpx.Client(trust_env=False, timeout=30) as client,
                client.stream("GET", self.url) as response,
            ):
                assert response.status_code == 200, response.status_code
                for chunk in response.iter_raw(CHUNK):
                    digest.update(chunk)
                    self.received += len(chunk)
                    self.started.set()
                    if self.stall_after is not None and self.received >= self.stall_after:
                        self.stop.wait(30)
                    time.sleep(self.pause)
        except (httpx.HTTPError, AssertionError) as exc:
            self.error = type(exc).__name__
        finally:
            self.started.set()
            self.sha256 = "sha256:" + digest.hexdigest()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        assert self.started.wait(15), "the download did not start"
        return thread


def start_gateway(serve: Any, blob: Blob, **env: str) -> Served:
    port = free_port()
    served: Served = serve(
        "--port", str(port), env=clean_env(LR_REGISTRY_URL=blob.registry.url, **env), port=port
    )
    assert served.wait_ready().status_code == 200
    return served


def refused(url: str) -> bool:
    try:
        with httpx.Client(trust_env=False, timeout=2) as client:
            client.get(url + "/api/health/live")
    except httpx.TransportError:
        return True
    return False


def test_sigterm_lets_a_download_finish_then_exits(serve: Any, blob: Blob) -> None:
    served = start_gateway(serve, blob)
    download = Download(served.url + blob.path, pause=0.004)
    thread = download.start()
    served.proc.send_signal(signal.SIGTERM)
    # New connections are no longer accepted.
    eventually(lambda: refused(served.url), within=5, what="connections refused after SIGTERM")
    assert served.proc.poll() is None, "exited with a download in flight"
    thread.join(60)
    assert download.error is None, download.error
    assert download.received == BLOB_BYTES
    assert download.sha256 == blob.digest
    assert served.proc.wait(10) in (0, -signal.SIGTERM)
    output = served.output()
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output


def test_a_download_that_outlives_the_bound_is_cut(serve: Any, blob: Blob) -> None:
    served = start_gateway(serve, blob, LR_SHUTDOWN_TIMEOUT="1")
    download = Download(served.url + blob.path, pause=0, stall_after=CHUNK)
    thread = download.start()
    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    try:
        rc = served.proc.wait(15)
    finally:
        download.stop.set()
        thread.join(30)
    took = time.monotonic() - sent
    assert rc in (0, -signal.SIGTERM)
    assert 0.9 <= took < 10, took  # the bound, not the client, decided
    assert download.received < BLOB_BYTES
    assert "Application shutdown complete" in served.output()
