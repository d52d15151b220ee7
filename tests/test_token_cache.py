"""Bearer tokens: cached per caller, realm, service and scopes; renewed before expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

import gateway.registry.auth as auth_module
from gateway.errors import UpstreamUnavailable
from gateway.registry.auth import RENEW_MARGIN, TokenCache
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller, Credentials
from tests.support.clock import Clock

ALICE = Caller(Credentials("alice", "alice-pw"), "basic")
BOB = Caller(Credentials("bob", "bob-pw"), "basic")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock().install(monkeypatch, auth_module)


def test_tokens_are_renewed_a_little_before_they_expire(clock: Clock) -> None:
    cache = TokenCache()
    key = cache.key(ALICE, "https://r/token", "svc", ["repository:a:pull"])
    cache.put(key, "t1", 300)
    clock.now += 300 - RENEW_MARGIN - 1
    assert cache.get(key) == "t1"
    clock.now += 1
    assert cache.get(key) is None  # within the margin: fetch a new one
    cache.put(key, "t2", 10)  # shorter than the spec's 60 s default counts as 60 s
    clock.now += 60 - RENEW_MARGIN - 1
    assert cache.get(key) == "t2"


def test_keys_separate_callers_and_scopes() -> None:
    cache = TokenCache()
    a = cache.key(ALICE, "https://r/token", "svc", ["repository:a:pull"])
    b = cache.key(BOB, "https://r/token", "svc", ["repository:a:pull"])
    wider = cache.key(ALICE, "https://r/token", "svc", ["repository:a:pull", "registry:catalog:*"])
    cache.put(a, "alice-token", 300)
    assert cache.get(b) is None and cache.get(wider) is None
    assert cache.key(ALICE, "https://r/token", "svc", ["b", "a", "a"]) == cache.key(
        ALICE, "https://r/token", "svc", ["a", "b"]
    )
    cache.drop_caller(ALICE.key)
    assert cache.get(a) is None


def test_the_flow_fetches_a_new_token_before_the_old_one_expires(clock: Clock) -> None:
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            token = f"tok-{len(issued)}"
            issued.append(token)
            return httpx.Response(200, json={"token": token, "expires_in": 60})
        if request.headers.get("authorization") == f"Bearer {issued[-1] if issued else ''}":
            return httpx.Response(200, json={"name": "app", "tags": ["1"]})
        challenge = (
            'Bearer realm="https://auth.test/token",service="svc",scope="repository:app:pull"'
        )
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            from gateway.registry.realm_policy import RealmPolicy

            policy = RealmPolicy("https://registry.test", ["auth.test"])
            client = RegistryClient(http, "https://registry.test", policy=policy)
            assert await client.tags(ALICE, "app") == ["1"]
            assert await client.tags(ALICE, "app") == ["1"]
            assert issued == ["tok-0"]  # reused
            clock.now += 60 - RENEW_MARGIN + 1
            before = client.totals.requests
            assert await client.tags(ALICE, "app") == ["1"]
            assert issued == ["tok-0", "tok-1"]
            # renewed before use: no request was refused on the way
            assert client.totals.requests - before == 2  # token, tags

    asyncio.run(go())


def test_a_new_scope_gets_its_token_before_the_request_not_after_a_401() -> None:
    seen: list[tuple[str, str, bool]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.path, "authorization" in request.headers))
        if request.url.host == "auth.test":
            scope = request.url.params["scope"]
            return httpx.Response(200, json={"token": "for-" + scope, "expires_in": 300})
        name = request.url.path.removeprefix("/v2/").removesuffix("/tags/list")
        if request.headers.get("authorization") == f"Bearer for-repository:{name}:pull":
            return httpx.Response(200, json={"name": name, "tags": ["1"]})
        challenge = (
            f'Bearer realm="https://auth.test/token",service="svc",scope="repository:{name}:pull"'
        )
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            from gateway.registry.realm_policy import RealmPolicy

            policy = RealmPolicy("https://registry.test", ["auth.test"])
            client = RegistryClient(http, "https://registry.test", policy=policy)
            await client.tags(ALICE, "first")  # learns the realm from a 401
            assert [s[0] for s in seen] == ["registry.test", "auth.test", "registry.test"]
            seen.clear()
            await asyncio.gather(*(client.tags(ALICE, f"repo{i}") for i in range(5)))
            assert sum(1 for s in seen if s[0] == "auth.test") == 5
            registry_calls = [s for s in seen if s[0] == "registry.test"]
            assert len(registry_calls) == 5 and all(s[2] for s in registry_calls)

    asyncio.run(go())


def _moving_registry(
    realm: dict[str, str], seen: list[str], old_realm_up: bool
) -> Callable[[httpx.Request], httpx.Response]:
    """A token registry whose token service moves from auth-a to auth-b mid-test."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host.startswith("auth-"):
            if not old_realm_up and not str(request.url).startswith(realm["now"]):
                raise httpx.ConnectError("the old token service is gone")
            return httpx.Response(200, json={"token": "t-" + request.url.host, "expires_in": 300})
        name = request.url.path.removeprefix("/v2/").removesuffix("/tags/list")
        if request.headers.get("authorization") == "Bearer t-" + httpx.URL(realm["now"]).host:
            return httpx.Response(200, json={"name": name, "tags": ["1"]})
        error = ',error="invalid_token"' if "authorization" in request.headers else ""
        challenge = (
            f'Bearer realm="{realm["now"]}",service="svc",scope="repository:{name}:pull"{error}'
        )
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    return handler


@pytest.mark.parametrize("old_realm_up", [True, False])
def test_a_token_service_that_moved_is_learned_again(old_realm_up: bool) -> None:
    """The realm learned once is no longer where tokens come from: the gateway must not
    keep fetching tokens there for every new scope, failing for good."""
    realm = {"now": "https://auth-a.test/token"}
    seen: list[str] = []

    async def go() -> None:
        handler = _moving_registry(realm, seen, old_realm_up)
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            from gateway.registry.realm_policy import RealmPolicy

            policy = RealmPolicy("https://registry.test", ["auth-a.test", "auth-b.test"])
            client = RegistryClient(http, "https://registry.test", policy=policy)
            assert await client.tags(ALICE, "first") == ["1"]
            realm["now"] = "https://auth-b.test/token"
            seen.clear()
            if not old_realm_up:
                with pytest.raises(UpstreamUnavailable):  # one request learns it the hard way
                    await client.tags(ALICE, "second")
            assert await client.tags(ALICE, "second") == ["1"]
            assert await client.tags(ALICE, "third") == ["1"]
            assert seen[-2:] == ["auth-b.test", "registry.test"]  # straight to the new one

    asyncio.run(go())
