"""Token (Bearer) registries: per-user rights, exact scopes, token caching, isolation.

One real registry in ``auth.token`` mode with a real token server. Three identities:

- ``admin``: everything, including the catalog;
- ``reader``: pull on ``team/*`` only, no catalog;
- anonymous: pull on ``public/*`` only.

The gateway must work for each within exactly those rights, and never hand one caller
what another caller's requests put in its caches.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from harness.images import PushedImage
from tests.support.callers import XHR
from tests.support.token_world import SECRET_MARKER, USERS, World, basic
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture


def image_paths(repo: str, image: PushedImage, reference: str | None = None) -> list[str]:
    """Every read endpoint of one image: tags, detail, config, raw manifest, blobs."""
    ref = reference or image.tag or image.digest
    base = f"/api/repositories/{repo}"
    return [
        f"{base}/tags?details=true",
        f"{base}/images/{ref}",
        f"{base}/images/{ref}/config",
        f"{base}/manifests/{ref}",
        f"{base}/manifests/{image.digest}",
        f"{base}/blobs/{image.config_digest}",
        f"{base}/blobs/{image.layers[0][0]}",
    ]


def assert_all_ok(client: TestClient, paths: list[str], headers: dict[str, str]) -> None:
    for path in paths:
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.text)


def assert_no_leak(r: Any, secret: PushedImage, allowed: tuple[int, ...] = (401, 403, 404)) -> None:
    assert r.status_code in allowed, (r.request.url, r.status_code, r.text)
    assert r.headers.get("www-authenticate", "").lower()[:5] != "basic"
    body = r.content
    assert SECRET_MARKER.encode() not in body
    assert secret.manifest not in body
    assert secret.config not in body
    assert secret.layer_data[0] not in body
    error = r.json()["error"]
    assert set(error) == {"code", "message", "detail"}
    assert error["code"] in (
        "UNAUTHORIZED",
        "DENIED",
        "NAME_UNKNOWN",
        "MANIFEST_UNKNOWN",
        "BLOB_UNKNOWN",
    )


# -- each identity within exactly its rights -----------------------------------------------


def test_admin_sees_everything_and_asks_for_exact_scopes(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url) as client:
        mark = world.mark()
        r = client.get("/api/repositories", headers=basic("admin"))
        assert r.status_code == 200, r.text
        names = [repo["name"] for repo in r.json()["repositories"]]
        assert names == ["public/base", "secret/vault", "team/app"]
        assert_all_ok(client, image_paths("secret/vault", world.secret), basic("admin"))
        requested = world.since(mark)
    assert requested, "the token server was never asked"
    assert all(req["user"] == "admin" and req["authorization_present"] for req in requested)
    assert all(req["account"] == "admin" for req in requested)
    assert all(req["service"] == world.tokens.service for req in requested)
    scopes = {s for req in requested for s in req["scopes"]}
    assert "registry:catalog:*" in scopes
    assert "repository:secret/vault:pull" in scopes
    # Reads never ask for more than pull (and the catalog): no push, no delete, no "*".
    allowed = {"registry:catalog:*"} | {
        f"repository:{n}:pull" for n in ("public/base", "secret/vault", "team/app")
    }
    assert scopes <= allowed, scopes - allowed
    # The catalog token is asked for the catalog scope alone.
    catalog_requests = [r for r in requested if "registry:catalog:*" in r["scopes"]]
    assert catalog_requests and all(r["scopes"] == ["registry:catalog:*"] for r in catalog_requests)


def test_reader_within_team_rights(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url) as client:
        mark = world.mark()
        r = client.get("/api/repositories", headers=basic("reader"))
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "DENIED"
        catalog_requests = [r for r in world.since(mark) if "registry:catalog:*" in r["scopes"]]
        # insufficient_scope is retried once, not in a loop.
        assert 1 <= len(catalog_requests) <= 2
        assert all(req["user"] == "reader" for req in catalog_requests)

        team = client.get("/api/repositories/team/app/tags", headers=basic("reader"))
        assert team.status_code == 200, team.text
        assert [t["name"] for t in team.json()["tags"]] == ["1.0"]
        assert_all_ok(client, image_paths("team/app", world.team), basic("reader"))
        blob = client.get(
            f"/api/repositories/team/app/blobs/{world.team.layers[0][0]}", headers=basic("reader")
        )
        assert blob.content == world.team.layer_data[0]
        raw = client.get("/api/repositories/team/app/manifests/1.0", headers=basic("reader"))
        assert raw.content == world.team.manifest

        for repo, image in (("secret/vault", world.secret), ("public/base", world.public)):
            for path in image_paths(repo, image):
                r = client.get(path, headers=basic("reader"))
                assert r.status_code == 403, (path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "DENIED"
        requested = world.since(mark)
    assert {req["user"] for req in requested} == {"reader"}
    scopes = {s for req in requested for s in req["scopes"]}
    assert scopes <= {
        "registry:catalog:*",
        "repository:team/app:pull",
        "repository:secret/vault:pull",
        "repository:public/base:pull",
    }


def test_anonymous_reads_public_only_and_sends_no_credentials(
    world: World, make_gateway: Any
) -> None:
    with make_gateway(world.url) as client:
        mark = world.mark()
        assert_all_ok(client, image_paths("public/base", world.public), {})
        detail = client.get("/api/repositories/public/base/images/1.0")
        assert detail.json()["digest"] == world.public.digest

        r = client.get("/api/repositories")
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "UNAUTHORIZED"
        assert "www-authenticate" not in r.headers
        for repo, image in (("team/app", world.team), ("secret/vault", world.secret)):
            for path in image_paths(repo, image):
                r = client.get(path)
                assert r.status_code == 401, (path, r.status_code, r.text)
                assert r.json()["error"]["code"] == "UNAUTHORIZED"
                assert "www-authenticate" not in r.headers
        requested = world.since(mark)
    assert requested
    for req in requested:
        assert req["authorization_present"] is False
        assert req["account"] is None
        assert req["user"] is None


def test_service_account_is_used_when_nobody_logs_in(world: World, make_gateway: Any) -> None:
    settings = {"registry_username": "reader", "registry_password": USERS["reader"]}
    with make_gateway(world.url, **settings) as client:
        mark = world.mark()
        assert client.get("/api/repositories/team/app/tags").status_code == 200
        assert client.get("/api/repositories/secret/vault/tags").status_code == 403
        # A Basic header takes precedence over the service account.
        r = client.get("/api/repositories/secret/vault/tags", headers=basic("admin"))
        assert r.status_code == 200, r.text
        users = [req["user"] for req in world.since(mark)]
    assert set(users) == {"reader", "admin"}


# -- tokens: cached, reused, never shared --------------------------------------------------


def test_tokens_are_cached_and_reused(world: World, make_gateway: Any) -> None:
    # No list cache: the second call must go to the registry again, with the cached token.
    with make_gateway(world.url, cache_ttl=0, access_ttl=0) as client:
        path = "/api/repositories/team/app/tags"
        first = client.get(path, headers=basic("reader"))
        assert first.status_code == 200, first.text
        mark = world.mark()
        second = client.get(path, headers=basic("reader"))
        assert second.status_code == 200, second.text
        assert int(second.headers["x-upstream-requests"]) >= 1
        assert world.since(mark) == [], "an identical call fetched a new token"

        # Same for the anonymous caller and for the catalog.
        assert client.get("/api/repositories/public/base/tags").status_code == 200
        assert client.get("/api/repositories", headers=basic("admin")).status_code == 200
        mark = world.mark()
        assert client.get("/api/repositories/public/base/tags").status_code == 200
        again = client.get("/api/repositories", headers=basic("admin"))
        assert again.status_code == 200
        assert int(again.headers["x-upstream-requests"]) >= 1
        assert world.since(mark) == []


def test_tokens_are_not_shared_between_callers(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url, cache_ttl=0, access_ttl=0) as client:
        path = "/api/repositories/team/app/tags"
        assert client.get(path, headers=basic("admin")).status_code == 200
        mark = world.mark()
        assert client.get(path, headers=basic("reader")).status_code == 200
        assert [r["user"] for r in world.since(mark)] == ["reader"]
        mark = world.mark()
        assert client.get(path).status_code == 401  # anonymous: no pull on team/*
        anonymous = world.since(mark)
        assert anonymous and all(r["user"] is None for r in anonymous)
        # Same user name, wrong password: its own token request, refused.
        mark = world.mark()
        wrong = client.get(path, headers=basic("reader", "not-the-password"))
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "UNAUTHORIZED"
        assert [r["status"] for r in world.since(mark)] == [401]


# -- sessions in token mode ----------------------------------------------------------------


def test_session_login_checks_credentials_with_the_token_server(
    world: World, make_gateway: Any
) -> None:
    with make_gateway(world.url) as client:
        bad = client.post(
            "/api/session", json={"username": "reader", "password": "wrong"}, headers=XHR
        )
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "UNAUTHORIZED"
        assert "www-authenticate" not in bad.headers
        assert "set-cookie" not in bad.headers

        ok = client.post(
            "/api/session", json={"username": "reader", "password": USERS["reader"]}, headers=XHR
        )
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"username": "reader"}
        assert client.get("/api/session").json()["username"] == "reader"
        assert client.get("/api/repositories/team/app/tags").status_code == 200
        assert client.get("/api/repositories/secret/vault/tags").status_code == 403
        # The session wins over a Basic header.
        r = client.get("/api/repositories/secret/vault/tags", headers=basic("admin"))
        assert r.status_code == 403


# -- isolation: what admin warmed is not served to others ----------------------------------


def _warm_as_admin(client: TestClient, world: World) -> None:
    for path in image_paths("secret/vault", world.secret):
        r = client.get(path, headers=basic("admin"))
        assert r.status_code == 200, (path, r.text)
    assert client.get("/api/repositories", headers=basic("admin")).status_code == 200


def _probe_paths(world: World) -> list[str]:
    s = world.secret
    config_digest, layer_digest = s.config_digest, s.layers[0][0]
    paths = image_paths("secret/vault", s) + image_paths("secret/vault", s, s.digest)
    paths += [f"/api/repositories/secret/vault/images/{s.digest}/config"]
    # The secret digests asked for under a repository the caller may read.
    paths += [
        f"/api/repositories/team/app/manifests/{s.digest}",
        f"/api/repositories/team/app/images/{s.digest}",
        f"/api/repositories/team/app/images/{s.digest}/config",
        f"/api/repositories/team/app/blobs/{config_digest}",
        f"/api/repositories/team/app/blobs/{layer_digest}",
        f"/api/repositories/public/base/manifests/{s.digest}",
        f"/api/repositories/public/base/images/{s.digest}",
        f"/api/repositories/public/base/blobs/{config_digest}",
    ]
    return paths


def test_isolation_reader_with_basic_header(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url) as client:
        _warm_as_admin(client, world)
        # The reader may read team/app, which records its access there.
        assert_all_ok(client, image_paths("team/app", world.team), basic("reader"))
        for path in _probe_paths(world):
            if path.startswith("/api/repositories/public/"):
                continue
            assert_no_leak(client.get(path, headers=basic("reader")), world.secret)
        r = client.get("/api/repositories", headers=basic("reader"))
        assert r.status_code == 403
        assert "secret/vault" not in r.text
        # Conditional requests do not confirm existence either.
        etag = {"If-None-Match": f'"{world.secret.digest}"', **basic("reader")}
        r = client.get(
            f"/api/repositories/secret/vault/manifests/{world.secret.digest}", headers=etag
        )
        assert r.status_code in (401, 403, 404)


def test_isolation_reader_with_session(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url) as client:
        _warm_as_admin(client, world)
        login = client.post(
            "/api/session", json={"username": "reader", "password": USERS["reader"]}, headers=XHR
        )
        assert login.status_code == 200
        assert_all_ok(client, image_paths("team/app", world.team), {})
        for path in _probe_paths(world):
            if path.startswith("/api/repositories/public/"):
                continue
            assert_no_leak(client.get(path), world.secret)
        blob_etag = {"If-None-Match": f'"{world.secret.config_digest}"'}
        r = client.get(
            f"/api/repositories/secret/vault/blobs/{world.secret.config_digest}", headers=blob_etag
        )
        assert r.status_code in (401, 403, 404)


def test_isolation_anonymous(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url) as client:
        _warm_as_admin(client, world)
        assert_all_ok(client, image_paths("public/base", world.public), {})
        for path in _probe_paths(world):
            if path.startswith("/api/repositories/team/"):
                continue
            assert_no_leak(client.get(path), world.secret)
        r = client.get("/api/repositories")
        assert r.status_code == 401
        assert "secret/vault" not in r.text


def test_isolation_after_reader_warms_then_anonymous(world: World, make_gateway: Any) -> None:
    """The same holds one level down: what the reader warmed is not the anonymous' either."""
    with make_gateway(world.url) as client:
        assert_all_ok(client, image_paths("team/app", world.team), basic("reader"))
        for path in image_paths("team/app", world.team):
            r = client.get(path)
            assert r.status_code == 401, (path, r.status_code)
            assert world.team.manifest not in r.content
            assert world.team.config not in r.content
