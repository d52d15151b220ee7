"""Against the real registry: identical concurrent requests are coalesced into one
upstream call, and fan-out never exceeds the configured concurrency limit."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx

from gateway.registry.credentials import ANONYMOUS
from gateway.settings import Settings
from gateway.state import AppState, build_state
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
