"""A catalog of 100,000 repositories: walked once per cache period in pages of at most
1000, filtered over the whole catalog, paged by name, tag counts only for the page."""

from __future__ import annotations

import asyncio
import bisect
from collections import Counter

import httpx

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import ANONYMOUS
from gateway.services.repositories import RepositoryService
from gateway.view import CachedRegistry

NAMES = sorted(f"org{i % 97}/svc-{i:06d}" for i in range(100_000))


def handler_for(counter: Counter[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/_catalog":
            counter["catalog"] += 1
            n = int(request.url.params.get("n", "100"))
            assert n <= 1000
            last = request.url.params.get("last")
            start = 0
            if last:
                start = bisect.bisect_right(NAMES, last)
            page = NAMES[start : start + n]
            headers = {}
            if start + n < len(NAMES):
                # distribution's relative, URL-encoded Link
                enc = page[-1].replace("/", "%2F")
                headers["Link"] = f'</v2/_catalog?last={enc}&n={n}>; rel="next"'
            return httpx.Response(200, json={"repositories": page}, headers=headers)
        if path.endswith("/tags/list"):
            counter["tags"] += 1
            name = path.removeprefix("/v2/").removesuffix("/tags/list")
            count = int(name[-1])
            return httpx.Response(200, json={"name": name, "tags": [f"v{i}" for i in range(count)]})
        return httpx.Response(404)

    return httpx.MockTransport(handler)


def test_hundred_thousand_repositories() -> None:
    counter: Counter[str] = Counter()

    async def go() -> None:
        async with httpx.AsyncClient(transport=handler_for(counter)) as http:
            client = RegistryClient(http, "http://registry.test", page_size=1000)
            registry = CachedRegistry(client, content_bytes=1 << 20, ttl=60, access_ttl=60)
            repos = RepositoryService(registry)

            first = await repos.page(ANONYMOUS, n=50, last=None, q=None)
            assert first.total == 100_000
            assert [r.name for r in first.repositories] == NAMES[:50]
            assert first.next == NAMES[49]
            assert counter["catalog"] == 100  # 100,000 / 1000, walked once
            assert counter["tags"] == 50  # only the page's tag counts
            assert all(r.tag_count == int(r.name[-1]) for r in first.repositories)

            second = await repos.page(ANONYMOUS, n=1000, last=first.next, q=None)
            assert [r.name for r in second.repositories] == NAMES[50:1050]
            # q over the whole catalog: matches far beyond the first catalog page.
            hits = await repos.page(ANONYMOUS, n=10, last=None, q="SVC-09999")
            assert [r.name for r in hits.repositories] == [n for n in NAMES if "svc-09999" in n][
                :10
            ]
            assert hits.total == 10
            end = await repos.page(ANONYMOUS, n=10, last=NAMES[-3], q=None)
            assert [r.name for r in end.repositories] == NAMES[-2:]
            assert end.next is None
            assert counter["catalog"] == 100  # still the one walk

    asyncio.run(go())
