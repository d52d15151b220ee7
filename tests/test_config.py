"""GET /api/config: what an SPA needs to choose its screens, against real registries
(open, htpasswd, token), and never a secret."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from gateway import __version__
from gateway.services.status import RegistryStatus
from gateway.settings import Settings
from gateway.state import build_state
from harness.registry import RegistryProcess, free_port
from tests.conftest import gateway_for
from tests.support.stand_ins import hanging_registry

PASSWORD = "svc-Pw-6b1d"
EVENTS = "events-Tk-90aa"


def config_of(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/config")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    return body


def test_open_registry(api: TestClient, registry: Any) -> None:
    body = config_of(api)
    assert body == {
        "version": __version__,
        "auth": {"registry": "none", "service_account": False, "login": False},
        "features": {"delete": False, "events": False, "v2": "pull", "redis": False},
        # /v2 is served (pull mode, the default): pulls go through the gateway, and a
        # UI shows the host it was loaded from
        "registry": {"pull_host": None, "reachable": True},
    }


def test_pull_host_is_the_registrys_only_when_v2_is_off(registry: Any) -> None:
    with gateway_for(registry.url, v2_mode="off") as client:
        assert config_of(client)["registry"]["pull_host"] == registry.process.host
    with gateway_for(registry.url, v2_mode="push") as client:
        assert config_of(client)["registry"]["pull_host"] is None
    with gateway_for(registry.url, v2_mode="off", pull_host="pull.example.com:443") as client:
        assert config_of(client)["registry"]["pull_host"] == "pull.example.com:443"


def test_features_and_pull_host_follow_the_settings(registry: Any) -> None:
    with gateway_for(
        registry.url, delete_enabled=True, events_token=EVENTS, pull_host="registry.example.com"
    ) as client:
        body = config_of(client)
    assert body["features"]["delete"] is True
    assert body["features"]["events"] is True
    assert body["registry"]["pull_host"] == "registry.example.com"


def test_htpasswd_registry_offers_login_and_hides_secrets(registry_factory: Any) -> None:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users={"svc": PASSWORD})
    with gateway_for(reg.url) as client:
        body = config_of(client)
        assert body["auth"] == {"registry": "basic", "service_account": False, "login": True}
    with gateway_for(
        reg.url, registry_username="svc", registry_password=PASSWORD, events_token=EVENTS
    ) as client:
        raw = client.get("/api/config").text
        body = json.loads(raw)
    assert body["auth"] == {"registry": "basic", "service_account": True, "login": True}
    assert PASSWORD not in raw and EVENTS not in raw and "svc" not in raw


def test_token_registry_is_bearer(registry_factory: Any, token_server_factory: Any) -> None:
    tokens = token_server_factory({"admin": "admin-Pw-11"}, lambda *a: [])
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with gateway_for(reg.url) as client:
        assert config_of(client)["auth"] == {
            "registry": "bearer",
            "service_account": False,
            "login": True,
        }


def test_unreachable_registry_still_answers(registry: Any) -> None:
    with gateway_for(f"http://127.0.0.1:{free_port()}") as client:
        body = config_of(client)
    assert body["registry"]["reachable"] is False
    assert body["auth"]["registry"] == "none"
    assert body["auth"]["login"] is False


async def test_status_remembers_the_last_challenge_while_the_registry_is_down(
    registry_factory: Any,
) -> None:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users={"svc": PASSWORD})
    state = build_state(Settings(_env_file=None, registry_url=reg.url))  # type: ignore[call-arg]
    status = RegistryStatus(state.client, max_age=0)
    try:
        first = await status.recent()
        assert first.reachable and first.auth == "basic"
        reg.stop()
        assert await status.recent() is first  # stale, answered at once; a refresh runs
        assert status._refresh is not None
        down = await status._refresh
        assert down.reachable is False
        assert await status.recent() is down
        assert status.known_auth == "basic"
    finally:
        await status.aclose()
        await state.aclose()


async def test_recent_pings_are_shared(registry: Any) -> None:
    state = build_state(Settings(_env_file=None, registry_url=registry.url))  # type: ignore[call-arg]
    status = RegistryStatus(state.client, max_age=60)
    try:
        first, again = await asyncio.gather(status.recent(), status.recent())
        assert again is first
        assert (await status.ping()) is not first
    finally:
        await state.aclose()


def test_a_hanging_registry_does_not_hold_up_the_config() -> None:
    """The SPA waits for /api/config before drawing: a registry that accepts and never
    answers costs the first call the short deadline (LR_CONNECT_TIMEOUT), no more."""
    with hanging_registry() as url, gateway_for(url, connect_timeout=0.5) as client:
        started = time.monotonic()
        results = []
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: client.get("/api/config"), range(3)))
        took = time.monotonic() - started
        assert [r.status_code for r in results] == [200, 200, 200]
        assert all(r.json()["registry"]["reachable"] is False for r in results)
        assert took < 5, took  # the read timeout (30 s) would be far longer
        started = time.monotonic()
        assert client.get("/api/config").status_code == 200
        assert time.monotonic() - started < 0.5
