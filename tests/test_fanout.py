"""Against the real registry: identical concurrent requests are coalesced into one
upstream call, and fan-out never exceeds the configured concurrency limit."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

import httpx
import pytest

from gateway.registry.credentials import ANONYMOUS
from gateway.settings import Settings
from gateway.state import AppState, build_state
from gateway.view.store import Blob
from tests.support.fixtures import FilledRegistry


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network transport, counting requests and the most in flight at once."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.in_flight = 0
        self.peak = 0
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.paths.append(request.url.path)
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await asyncio.sleep(0.005)  # hold the slot a little, as a slower registry would
            return response
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def state_for(registry: FilledRegistry, transport: CountingTransport, **kw: object) -> AppState:
    """A fresh gateway's state: nothing cached, not even on disk (a data folder of its own)."""
    data_dir = Path(tempfile.mkdtemp(prefix="lr-fanout-"))
    settings = Settings(_env_file=None, registry_url=registry.url, data_dir=data_dir, **kw)  # type: ignore[arg-type]
    return build_state(settings, http=httpx.AsyncClient(transport=transport))


def test_identical_concurrent_requests_are_coalesced(registry: FilledRegistry) -> None:
    async def go() -> tuple[list[str], list[str]]:
        single = CountingTransport()
        state = state_for(registry, single)
        await state.images.detail(ANONYMOUS, "multi/attested", "1.0")
        await state.aclose()

        burst = CountingTransport()
        state = state_for(registry, burst)
        results = await asyncio.gather(
            *(state.images.detail(ANONYMOUS, "multi/attested", "1.0") for _ in range(10))
        )
        await state.aclose()
        assert len({r.digest for r in results}) == 1
        return single.paths, burst.paths

    single, burst = asyncio.run(go())
    assert len(single) >= 5  # tags, index, children, configs
    assert sorted(burst) == sorted(single)


def test_fan_out_respects_the_concurrency_limit(registry: FilledRegistry) -> None:
    async def go(limit: int) -> tuple[int, int]:
        transport = CountingTransport()
        state = state_for(registry, transport, upstream_concurrency=limit)
        page = await state.tags.page(
            ANONYMOUS, "versions/app", n=100, last=None, q=None, sort="name", details=True
        )
        assert all(t.digest for t in page.tags)
        await state.aclose()
        return transport.peak, len(transport.paths)

    peak, total = asyncio.run(go(3))
    assert total > 10
    assert peak <= 3
    wide_peak, _ = asyncio.run(go(16))
    assert wide_peak > 3  # the limit, not the code, was what held it back


@pytest.mark.parametrize("what", ["manifest", "config"])
def test_content_kept_while_another_asker_looked_on_disk_is_not_fetched_again(
    registry: FilledRegistry, what: str
) -> None:
    """Asker B misses the memory, and its disk lookup is slow; meanwhile asker A fetches
    the same manifest (a child of an index) or config and keeps it, and A's flight ends
    before B starts one of its own. B's flight finds what A kept: the registry is asked
    once."""

    async def go() -> tuple[int, bool]:
        transport = CountingTransport()
        state = state_for(registry, transport)
        reads = state.registry
        index = await reads.manifest(ANONYMOUS, "multi/attested", "1.0")
        child = json.loads(index.body)["manifests"][0]["digest"]
        if what == "manifest":
            digest, path = child, f"/v2/multi/attested/manifests/{child}"

            async def read() -> bytes:
                return (await reads.manifest(ANONYMOUS, "multi/attested", digest)).body
        else:
            image = await reads.manifest(ANONYMOUS, "multi/attested", child)
            digest = json.loads(image.body)["config"]["digest"]
            path = f"/v2/multi/attested/blobs/{digest}"

            async def read() -> bytes:
                return await reads.config(ANONYMOUS, "multi/attested", digest)

        disk = reads.caches.content.disk
        assert disk is not None
        looking = asyncio.Event()
        released = asyncio.Event()
        original = disk.get

        async def slow_get(asked: str) -> Blob | None:
            if asked != digest or looking.is_set():
                return await original(asked)
            looking.set()
            await released.wait()
            return None  # what the disk held when B looked: nothing yet

        disk.get = slow_get  # type: ignore[method-assign]
        b = asyncio.ensure_future(read())
        await looking.wait()
        a = await read()
        released.set()
        same = await b == a
        await state.aclose()
        return transport.paths.count(path), same

    fetched, same = asyncio.run(go())
    assert same
    assert fetched == 1
