"""The upstream client reads cookies only from answers that set some
(gateway/registry/client_cookies.py), and keeps those exactly as httpx would."""

from __future__ import annotations

import httpx

from gateway.registry.client_cookies import SetCookiesOnly
from gateway.settings import Settings
from gateway.state import build_http


async def test_a_cookie_set_upstream_is_sent_back_and_none_is_made_up() -> None:
    seen: list[str | None] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/login":
            return httpx.Response(200, headers={"Set-Cookie": "lb=node-2; Path=/"})
        return httpx.Response(200, json={})

    settings = Settings(_env_file=None, registry_url="http://registry.test")
    async with build_http(settings, transport=httpx.MockTransport(registry)) as client:
        assert isinstance(client.cookies, SetCookiesOnly)
        await client.get("http://registry.test/v2/")
        await client.get("http://registry.test/login")
        await client.get("http://registry.test/v2/")
    assert seen == [None, None, "lb=node-2"]
