"""Basic-auth (htpasswd) registries: who is asking, and only what the registry accepted.

Precedence: session cookie > ``Authorization: Basic`` > configured service account >
anonymous. A login is accepted only after the registry accepted the credentials. A 401
from the gateway never carries ``WWW-Authenticate: Basic`` (the browser's own dialog).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.callers import XHR, Users

USERS = Users({"alice": "alice-Pw-0c7e", "bob": "bob-Pw-d21f"})


basic = USERS.basic


def login(client: TestClient, user: str, password: str | None = None) -> httpx.Response:
    body = {"username": user, "password": USERS.get(user, "") if password is None else password}
    return client.post("/api/session", json=body, headers=XHR)


@dataclass
class Site:
    registry: RegistryProcess
    app: PushedImage
    other: PushedImage

    @property
    def url(self) -> str:
        return self.registry.url


@pytest.fixture(scope="module")
def site(registry_factory: Any) -> Iterator[Site]:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(reg.url, "alice", USERS["alice"]) as p:
        app = push_image(p, "team/app", "1.0", env=["MARKER=basic-3f9a"])
        other = push_image(p, "other/thing", "2.0")
    yield Site(reg, app, other)


def paths(image: PushedImage) -> list[str]:
    base = f"/api/repositories/{image.repo}"
    return [
        f"{base}/tags?details=true",
        f"{base}/images/{image.tag}",
        f"{base}/images/{image.tag}/config",
        f"{base}/manifests/{image.tag}",
        f"{base}/manifests/{image.digest}",
        f"{base}/blobs/{image.config_digest}",
        f"{base}/blobs/{image.layers[0][0]}",
    ]


def assert_unauthorized(r: httpx.Response, *secrets: str) -> None:
    assert r.status_code == 401, (r.request.url, r.status_code, r.text)
    assert r.json()["error"]["code"] == "UNAUTHORIZED"
    assert set(r.json()["error"]) == {"code", "message", "detail"}
    assert not r.headers.get("www-authenticate", "").lower().startswith("basic")
    assert "www-authenticate" not in r.headers
    for secret in secrets:
        assert secret not in r.text


def assert_never_content(r: httpx.Response, image: PushedImage) -> None:
    for part in (image.manifest, image.config, image.layer_data[0], b"basic-3f9a"):
        assert part not in r.content, r.request.url


# -- anonymous and service account ---------------------------------------------------------


def test_anonymous_gets_401_without_a_basic_challenge(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        health = client.get("/api/health")
        assert health.status_code == 200
        assert health.json()["registry"]["auth"] == "basic"
        assert_unauthorized(client.get("/api/repositories"))
        for path in paths(site.app):
            r = client.get(path)
            assert_unauthorized(r)
            assert_never_content(r, site.app)
        session = client.get("/api/session").json()
        assert session["authenticated"] is False and session["username"] is None


def test_service_account_serves_requests_without_credentials(site: Site, make_gateway: Any) -> None:
    settings = {"registry_username": "alice", "registry_password": USERS["alice"]}
    with make_gateway(site.url, **settings) as client:
        r = client.get("/api/repositories")
        assert r.status_code == 200, r.text
        assert [x["name"] for x in r.json()["repositories"]] == ["other/thing", "team/app"]
        for path in paths(site.app):
            assert client.get(path).status_code == 200, path
        blob = client.get(f"/api/repositories/team/app/blobs/{site.app.layers[0][0]}")
        assert blob.content == site.app.layer_data[0]
        state = client.get("/api/session").json()
        # The service account is not a login: the SPA still offers its form.
        assert state["authenticated"] is False
        assert state["username"] is None
        assert state.get("source") in (None, "service")


def test_service_account_with_a_wrong_password(site: Site, make_gateway: Any) -> None:
    settings = {"registry_username": "alice", "registry_password": "wrong-Pw-55"}
    with make_gateway(site.url, **settings) as client:
        assert_unauthorized(client.get("/api/repositories"), "wrong-Pw-55")
        assert_unauthorized(client.get("/api/repositories/team/app/tags"), "wrong-Pw-55")
        # A caller's own valid credentials still work.
        assert client.get("/api/repositories", headers=basic("bob")).status_code == 200


# -- Basic pass-through --------------------------------------------------------------------


def test_basic_header_is_passed_through(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        for user in ("alice", "bob"):
            r = client.get("/api/repositories", headers=basic(user))
            assert r.status_code == 200, r.text
            for path in paths(site.app):
                assert client.get(path, headers=basic(user)).status_code == 200, path
            state = client.get("/api/session", headers=basic(user)).json()
            assert state["authenticated"] is True and state["username"] == user
        raw = client.get("/api/repositories/team/app/manifests/1.0", headers=basic("bob"))
        assert raw.content == site.app.manifest


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(f"alice:{'x' + USERS['alice']}".encode()).decode(),
        "Basic " + base64.b64encode(b"mallory:" + USERS["alice"].encode()).decode(),
        "Basic " + base64.b64encode(b"alice").decode(),  # no colon
        "Basic " + base64.b64encode(b":" + USERS["alice"].encode()).decode(),  # no user
        "Basic not*base64",
        "Basic " + base64.b64encode(b"alice:\xff\xfe").decode(),  # not UTF-8
    ],
    ids=["wrong-password", "unknown-user", "no-colon", "empty-user", "not-base64", "not-utf8"],
)
def test_bad_basic_credentials_are_401(site: Site, make_gateway: Any, header: str) -> None:
    settings = {"registry_username": "alice", "registry_password": USERS["alice"]}
    # Even with a working service account: bad credentials never fall back to it.
    with make_gateway(site.url, **settings) as client:
        for path in ["/api/repositories", *paths(site.app)]:
            r = client.get(path, headers={"Authorization": header})
            assert_unauthorized(r, header.split(" ", 1)[1], USERS["alice"])
            assert_never_content(r, site.app)


def test_other_authorization_schemes_are_not_credentials(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        r = client.get("/api/repositories", headers={"Authorization": "Bearer abc.def.ghi"})
        assert_unauthorized(r, "abc.def.ghi")


def test_basic_header_wins_over_the_service_account(site: Site, make_gateway: Any) -> None:
    settings = {"registry_username": "alice", "registry_password": USERS["alice"]}
    with make_gateway(site.url, **settings) as client:
        assert client.get("/api/repositories").status_code == 200
        assert_unauthorized(client.get("/api/repositories", headers=basic("bob", "nope")))
        state = client.get("/api/session", headers=basic("bob")).json()
        assert state["username"] == "bob"
        # A Basic header is reported as authenticated only once the registry accepted it.
        state = client.get("/api/session", headers=basic("bob", "nope")).json()
        assert state == {"authenticated": False, "username": None, "source": "basic"}


# -- session logins ------------------------------------------------------------------------


def test_session_login_and_use(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        r = login(client, "alice")
        assert r.status_code == 200, r.text
        assert r.json() == {"username": "alice"}
        assert "lr_session" in client.cookies or r.headers.get("set-cookie")
        state = client.get("/api/session").json()
        assert state["authenticated"] is True and state["username"] == "alice"
        assert client.get("/api/repositories").status_code == 200
        for path in paths(site.app):
            assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("user", "password"),
    [("alice", "wrong-Pw-8d1b"), ("mallory", "mallory-Pw-2a"), ("alice", USERS["bob"])],
    ids=["wrong-password", "unknown-user", "another-users-password"],
)
def test_login_refused_unless_the_registry_accepts(
    site: Site, make_gateway: Any, user: str, password: str
) -> None:
    with make_gateway(site.url) as client:
        r = login(client, user, password)
        assert_unauthorized(r, password)
        assert "set-cookie" not in r.headers
        assert not client.cookies
        state = client.get("/api/session").json()
        assert state["authenticated"] is False
        assert_unauthorized(client.get("/api/repositories"))


def test_login_body_validation_echoes_nothing(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        for body in (
            {"username": "alice"},
            {"password": "only-Pw-4c"},
            {"username": "", "password": "only-Pw-4c"},
            {"username": "alice", "password": ""},
            {"username": "alice", "password": "x" * 5000 + "long-Pw-9"},
        ):
            r = client.post("/api/session", json=body, headers=XHR)
            assert r.status_code in (400, 422), r.text
            assert r.json()["error"]["code"] == "VALIDATION_ERROR"
            assert "only-Pw-4c" not in r.text and "long-Pw-9" not in r.text
            assert "set-cookie" not in r.headers


def test_login_when_the_registry_is_down(registry_factory: Any, make_gateway: Any) -> None:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    reg.stop()
    with make_gateway(reg.url, connect_timeout=1.0) as client:
        r = login(client, "alice")
        assert r.status_code in (502, 503), r.text
        assert r.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert "set-cookie" not in r.headers
        assert USERS["alice"] not in r.text


def test_session_wins_over_basic_header(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        assert login(client, "alice").status_code == 200
        r = client.get("/api/repositories", headers=basic("alice", "wrong"))
        assert r.status_code == 200, r.text
        state = client.get("/api/session", headers=basic("bob")).json()
        assert state["username"] == "alice"


def test_second_login_replaces_the_first(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        assert login(client, "alice").status_code == 200
        first = client.cookies.get("lr_session")
        assert first
        assert login(client, "bob").status_code == 200
        second = client.cookies.get("lr_session")
        assert second and second != first
        assert client.get("/api/session").json()["username"] == "bob"
        # The replaced session is gone server-side.
        use_cookie(client, first)
        assert client.get("/api/session").json()["authenticated"] is False
        assert_unauthorized(client.get("/api/repositories"))


def use_cookie(client: TestClient, session_id: str | None) -> None:
    """Switch the client to another browser: this session cookie, or none."""
    client.cookies.clear()
    if session_id is not None:
        client.cookies.set("lr_session", session_id, domain="testserver.local", path="/")


# -- isolation with per-user logins --------------------------------------------------------


def test_isolation_between_logins(site: Site, make_gateway: Any) -> None:
    with make_gateway(site.url) as client:
        assert login(client, "alice").status_code == 200
        alice = client.cookies.get("lr_session")
        for path in ["/api/repositories", *paths(site.app), *paths(site.other)]:
            assert client.get(path).status_code == 200, path

        use_cookie(client, None)
        for path in ["/api/repositories", *paths(site.app)]:
            r = client.get(path)
            assert_unauthorized(r)
            assert_never_content(r, site.app)
            # Alice's name with a wrong password is somebody else.
            r = client.get(path, headers=basic("alice", "guess"))
            assert_unauthorized(r, "guess")
            assert_never_content(r, site.app)
        # A made-up session id is nobody.
        use_cookie(client, "A" * 43)
        for path in ["/api/repositories", *paths(site.app)]:
            assert_unauthorized(client.get(path))

        # Bob has his own valid login; htpasswd gives every user every repository.
        use_cookie(client, None)
        assert login(client, "bob").status_code == 200
        assert client.get("/api/session").json()["username"] == "bob"
        r = client.get("/api/repositories/team/app/manifests/1.0")
        assert r.content == site.app.manifest
        use_cookie(client, alice)
        assert client.get("/api/session").json()["username"] == "alice"
