"""Sessions (cookie, logout, expiry), CSRF and CORS, over a real htpasswd registry."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
import pytest
from fastapi.testclient import TestClient

import gateway.sessions as sessions_module
from gateway.settings import Settings, SettingsError, get_settings
from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.callers import XHR
from tests.support.clock import Clock

USERS = {"alice": "alice-Pw-6b0d"}
COOKIE = "lr_session"


@dataclass
class Site:
    registry: RegistryProcess
    image: PushedImage

    @property
    def url(self) -> str:
        return self.registry.url


@pytest.fixture(scope="module")
def site(registry_factory: Any) -> Iterator[Site]:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(reg.url, "alice", USERS["alice"]) as p:
        image = push_image(p, "team/app", "1.0")
    yield Site(reg, image)


def login(client: TestClient, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"username": "alice", "password": USERS["alice"]}
    return client.post("/api/session", json=body, headers=XHR if headers is None else headers)


def set_cookie(r: httpx.Response) -> dict[str, str | bool]:
    """The session's Set-Cookie header as {attribute (lower case): value or True}."""
    headers = [h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")]
    assert len(headers) == 1, r.headers.get_list("set-cookie")
    first, *attributes = [part.strip() for part in headers[0].split(";")]
    out: dict[str, str | bool] = {"value": first.split("=", 1)[1]}
    for attribute in attributes:
        name, sep, value = attribute.partition("=")
        out[name.lower()] = value if sep else True
    return out


def use_cookie(client: TestClient, session_id: str | None) -> None:
    client.cookies.clear()
    if session_id is not None:
        client.cookies.set(COOKIE, session_id, domain="testserver.local", path="/")


def assert_csrf(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.request.method, r.request.url, r.status_code, r.text)
    assert r.json()["error"]["code"] == "CSRF_FAILED"


# -- the cookie ----------------------------------------------------------------------------


def test_cookie_attributes(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        r = login(client)
        assert r.status_code == 200, r.text
        cookie = set_cookie(r)
        assert cookie.get("httponly") is True
        assert str(cookie.get("samesite", "")).lower() in ("strict", "lax")
        assert cookie.get("path") == "/"
        assert "secure" not in cookie  # plain http, cookie_secure=auto, no public_url
        assert "domain" not in cookie
        assert "no-store" in r.headers.get("cache-control", "")
        value = str(cookie["value"])
        assert USERS["alice"] not in value and "alice" not in value


@pytest.mark.parametrize(
    ("settings", "secure"),
    [
        ({"cookie_secure": "true"}, True),
        ({"public_url": "https://registry-ui.example.test"}, True),
        ({"public_url": "https://registry-ui.example.test", "cookie_secure": "false"}, False),
        ({"public_url": "http://registry-ui.example.test"}, False),
        ({"cookie_secure": "false"}, False),
    ],
)
def test_cookie_secure_flag(
    site: Site, make_gateway: Any, settings: dict[str, Any], secure: bool
) -> None:
    with make_gateway(site.url, **settings) as client:
        r = login(client)
        assert r.status_code == 200, r.text
        assert ("secure" in set_cookie(r)) is secure


def test_session_ids_are_long_random_and_distinct(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        ids = set()
        for _ in range(12):
            client.cookies.clear()
            r = login(client)
            assert r.status_code == 200
            value = str(set_cookie(r)["value"])
            assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            assert len(raw) * 8 >= 128
            ids.add(value)
        assert len(ids) == 12


# -- logout and expiry ---------------------------------------------------------------------


def test_logout_forgets_the_session(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        assert login(client).status_code == 200
        old = client.cookies.get(COOKIE)
        assert client.get("/api/repositories/team/app/tags").status_code == 200

        r = client.delete("/api/session", headers=XHR)
        assert r.status_code == 204
        assert r.content == b""
        cleared = set_cookie(r)
        assert cleared["value"] in ("", '""') or cleared.get("max-age") == "0"
        state = client.get("/api/session").json()
        assert state["authenticated"] is False and state["username"] is None

        # The old cookie, replayed, is nobody.
        use_cookie(client, old)
        assert client.get("/api/session").json()["authenticated"] is False
        r = client.get("/api/repositories/team/app/tags")
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "UNAUTHORIZED"
        # Logging out twice is fine.
        assert client.delete("/api/session", headers=XHR).status_code == 204


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A controllable clock for the session store only."""
    return Clock(1000.0).install(monkeypatch, sessions_module)


def test_idle_expiry(site: Site, make_gateway: Any, clock: Clock) -> None:
    with make_gateway(site.url, session_idle_seconds=60) as client:
        assert login(client).status_code == 200
        # Activity keeps it alive, past the idle time in total.
        for _ in range(3):
            clock.now += 50
            assert client.get("/api/session").json()["authenticated"] is True
        assert client.get("/api/repositories/team/app/tags").status_code == 200
        clock.now += 61
        assert client.get("/api/session").json()["authenticated"] is False
        assert client.get("/api/repositories/team/app/tags").status_code == 401
        # It does not come back.
        clock.now -= 30
        assert client.get("/api/session").json()["authenticated"] is False


def test_absolute_expiry(site: Site, make_gateway: Any, clock: Clock) -> None:
    with make_gateway(site.url, session_idle_seconds=60, session_max_seconds=120) as client:
        assert login(client).status_code == 200
        clock.now += 50
        assert client.get("/api/session").json()["authenticated"] is True
        clock.now += 50
        assert client.get("/api/session").json()["authenticated"] is True
        clock.now += 50  # active all along, but past the absolute limit
        assert client.get("/api/session").json()["authenticated"] is False


def test_session_lifetimes_have_a_minimum() -> None:
    for field in ("session_idle_seconds", "session_max_seconds"):
        with pytest.raises(pydantic.ValidationError):
            Settings(_env_file=None, **{field: 59})  # type: ignore[call-arg]
        assert getattr(Settings(_env_file=None, **{field: 60}), field) == 60  # type: ignore[call-arg]


# -- CSRF ----------------------------------------------------------------------------------


def test_login_requires_the_header_even_without_a_cookie(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        for headers in ({}, {"X-Requested-With": "1"}, {"X-Requested-With": "fetch"}):
            r = login(client, headers)
            assert_csrf(r)
            assert "set-cookie" not in r.headers
            assert USERS["alice"] not in r.text
        # A plain form post (the classic login CSRF).
        r = client.post(
            "/api/session",
            data={"username": "alice", "password": USERS["alice"]},
            headers={"Origin": "http://evil.test"},
        )
        assert_csrf(r)
        assert client.get("/api/session").json()["authenticated"] is False
        assert login(client, {"X-Requested-With": "xmlhttprequest"}).status_code == 200


@pytest.mark.parametrize(
    "origin", ["http://evil.test", "null", "http://testserver.evil.test", "https://testserver"]
)
def test_foreign_origin_is_refused(site: Site, make_gateway: Any, origin: str) -> None:
    with make_gateway(site.url) as client:
        r = login(client, {**XHR, "Origin": origin})
        assert_csrf(r)
        assert "set-cookie" not in r.headers
        assert login(client).status_code == 200
        r = client.delete("/api/session", headers={**XHR, "Origin": origin})
        assert_csrf(r)
        assert client.get("/api/session").json()["authenticated"] is True


def test_state_changes_with_the_cookie_need_the_header(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url, delete_enabled=True) as client:
        assert login(client).status_code == 200
        session_id = client.cookies.get(COOKIE)
        assert_csrf(client.delete("/api/session"))
        assert client.get("/api/session").json()["authenticated"] is True
        # A login over an existing session needs the header too, and changes nothing.
        other = {"username": "alice", "password": "wrong-Pw-csrf"}
        assert_csrf(client.post("/api/session", json=other))
        for method in ("PUT", "PATCH", "POST"):
            assert_csrf(client.request(method, "/api/repositories/team/app/tags/1.0"))
        assert client.cookies.get(COOKIE) == session_id
        assert client.get("/api/session").json()["authenticated"] is True

        for path in (
            f"/api/repositories/team/app/images/{site.image.digest}",
            "/api/repositories/team/app/tags/1.0",
        ):
            r = client.delete(path)
            assert_csrf(r)
            assert r.headers.get("x-upstream-requests", "0") == "0"
        # Nothing was deleted.
        with Pusher(site.url, "alice", USERS["alice"]) as p:
            assert p.get_manifest("team/app", "1.0").status_code == 200
        # Reads need no header.
        assert client.get("/api/repositories/team/app/tags").status_code == 200


def test_own_and_allowed_origins_pass(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url, cors_origins=["http://ui.test"]) as client:
        for origin in ("http://testserver", "http://ui.test", "http://UI.test"):
            r = login(client, {**XHR, "Origin": origin})
            assert r.status_code == 200, (origin, r.text)
            r = client.delete("/api/session", headers={**XHR, "Origin": origin})
            assert r.status_code == 204, (origin, r.text)
        assert_csrf(login(client, {**XHR, "Origin": "http://ui.test.evil.test"}))


def test_public_url_is_the_own_origin(site: Site, make_gateway: Any) -> None:
    public = "https://registry-ui.example.test"
    with make_gateway(site.url, public_url=public) as client:
        assert login(client, {**XHR, "Origin": public}).status_code == 200
        assert_csrf(login(client, {**XHR, "Origin": "http://evil.test"}))


def test_api_clients_with_basic_auth_need_no_header(site: Site, make_gateway: Any) -> None:
    auth = "Basic " + base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    with make_gateway(site.url) as client:
        r = client.delete("/api/repositories/team/app/tags/1.0", headers={"Authorization": auth})
        # Not a CSRF refusal: the (disabled) delete itself answers.
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "DELETE_DISABLED"


# -- CORS ----------------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> httpx.Response:
    return client.options(
        "/api/session",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-requested-with",
        },
    )


def test_no_cors_headers_by_default(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        r = preflight(client, "http://ui.test")
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-credentials" not in r.headers
        r = client.get("/api/health", headers={"Origin": "http://ui.test"})
        assert "access-control-allow-origin" not in r.headers


def test_cors_for_configured_origins_only(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url, cors_origins=["http://ui.test"]) as client:
        r = preflight(client, "http://ui.test")
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == "http://ui.test"
        assert r.headers["access-control-allow-credentials"] == "true"
        assert "x-requested-with" in r.headers["access-control-allow-headers"].lower()
        assert "POST" in r.headers["access-control-allow-methods"]

        r = client.get("/api/health", headers={"Origin": "http://ui.test"})
        assert r.headers["access-control-allow-origin"] == "http://ui.test"
        assert r.headers["access-control-allow-credentials"] == "true"

        for other in ("http://evil.test", "http://ui.test.evil.test", "https://ui.test"):
            r = preflight(client, other)
            assert "access-control-allow-origin" not in r.headers, other
            r = client.get("/api/health", headers={"Origin": other})
            assert "access-control-allow-origin" not in r.headers, other


@pytest.mark.parametrize("value", ["*", "http://ui.test,*", "ui.test", "http://ui.test/app"])
def test_bad_cors_origins_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LR_CORS_ORIGINS", value)
    with pytest.raises(SettingsError) as info:
        get_settings(_env_file=None)
    assert "LR_CORS_ORIGINS" in str(info.value)
    with pytest.raises(pydantic.ValidationError):
        Settings(_env_file=None, cors_origins=value.split(","))  # type: ignore[call-arg]


def test_an_ended_session_is_401_not_the_service_account(site: Site, make_gateway: Any) -> None:
    """With a service account configured, a stale cookie must not quietly become it."""
    service = {"registry_username": "alice", "registry_password": USERS["alice"]}
    with make_gateway(site.url, **service) as client:
        assert client.get("/api/repositories/team/app/tags").status_code == 200  # service
        assert login(client).status_code == 200
        old = client.cookies.get(COOKIE)
        assert client.delete("/api/session", headers=XHR).status_code == 204
        use_cookie(client, old)
        r = client.get("/api/repositories/team/app/tags")
        assert r.status_code == 401
        assert r.json()["error"]["detail"] == {"session": "expired"}
        assert "www-authenticate" not in r.headers
        cleared = set_cookie(r)
        assert cleared.get("max-age") == "0"
        # Without the cookie the visitor is the service account again.
        client.cookies.clear()
        assert client.get("/api/repositories/team/app/tags").status_code == 200
        # An API client's Basic header still works beside a stale cookie.
        use_cookie(client, old)
        basic = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
        r = client.get(
            "/api/repositories/team/app/tags", headers={"Authorization": f"Basic {basic}"}
        )
        assert r.status_code == 200
