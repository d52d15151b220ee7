"""Isolation on /v2 as on /api: a token registry with per-user rights behind the gateway.

The same world as tests/test_auth_token.py (admin: everything; reader: pull on
``team/*``; anonymous: pull on ``public/*``). The admin warms every cache through /v2
first; then no other caller gets a byte of ``secret/vault`` — not by tag, not by digest,
not with a conditional request — and every token request goes to the configured token
server only.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import PushedImage
from tests.support.callers import XHR
from tests.support.token_world import SECRET_MARKER, USERS, World, basic
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture

FOUR = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
ACCEPT = {"Accept": FOUR}


def v2_paths(repo: str, image: PushedImage) -> list[str]:
    base = f"/v2/{repo}"
    return [
        f"{base}/tags/list",
        f"{base}/manifests/{image.tag}",
        f"{base}/manifests/{image.digest}",
        f"{base}/blobs/{image.config_digest}",
        f"{base}/blobs/{image.layers[0][0]}",
    ]


def warm_as_admin(client: TestClient, world: World) -> None:
    admin = {**basic("admin"), **ACCEPT}
    assert client.get("/v2/_catalog", headers=admin).status_code == 200
    for repo, image in (
        ("secret/vault", world.secret),
        ("team/app", world.team),
        ("public/base", world.public),
    ):
        for path in v2_paths(repo, image):
            r = client.get(path, headers=admin)
            assert r.status_code == 200, (path, r.status_code, r.text)
            assert client.head(path, headers=admin).status_code == 200


def assert_refused(r: Any, secret: PushedImage) -> None:
    assert r.status_code in (401, 403, 404), (r.request.url, r.status_code, r.text)
    body = r.content
    assert SECRET_MARKER.encode() not in body
    assert secret.manifest not in body
    assert secret.config not in body
    assert secret.layer_data[0] not in body
    if r.request.method != "HEAD" and r.status_code != 304:
        errors = r.json()["errors"]
        assert errors[0]["code"] in (
            "UNAUTHORIZED",
            "DENIED",
            "NAME_UNKNOWN",
            "MANIFEST_UNKNOWN",
            "BLOB_UNKNOWN",
        )
    if r.status_code == 401:  # so docker login and skopeo --creds can answer it
        assert r.headers["www-authenticate"].startswith("Basic ")


def probe(client: TestClient, world: World, headers: dict[str, str]) -> None:
    for path in v2_paths("secret/vault", world.secret):
        for method in ("GET", "HEAD"):
            assert_refused(
                client.request(method, path, headers={**headers, **ACCEPT}), world.secret
            )
    etag = {"If-None-Match": f'"{world.secret.digest}"', **headers, **ACCEPT}
    r = client.get(f"/v2/secret/vault/manifests/{world.secret.digest}", headers=etag)
    assert r.status_code in (401, 403, 404)
    r = client.get("/v2/_catalog", headers=headers)
    assert r.status_code in (401, 403) and "secret/vault" not in r.text


@pytest.mark.parametrize("how", ["basic", "session"])
def test_the_reader_gets_nothing_of_secret_after_the_admin_warmed_every_cache(
    world: World, make_gateway: Any, how: str
) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        warm_as_admin(client, world)
        if how == "session":
            login = client.post(
                "/api/session",
                json={"username": "reader", "password": USERS["reader"]},
                headers=XHR,
            )
            assert login.status_code == 200
            headers: dict[str, str] = {}  # the session cookie works on /v2 as on /api
        else:
            headers = basic("reader")
        for path in v2_paths("team/app", world.team):
            r = client.get(path, headers={**headers, **ACCEPT})
            assert r.status_code == 200, (path, r.status_code, r.text)
        probe(client, world, headers)


def test_anonymous_gets_public_only_and_the_challenge_elsewhere(
    world: World, make_gateway: Any
) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        warm_as_admin(client, world)
        for path in v2_paths("public/base", world.public):
            assert client.get(path, headers=ACCEPT).status_code == 200, path
        probe(client, world, {})
        r = client.get("/v2/team/app/tags/list")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic ")


def test_token_requests_go_to_the_configured_token_server_only(
    world: World, make_gateway: Any
) -> None:
    mark = world.mark()
    with make_gateway(world.url) as client:
        for path in v2_paths("team/app", world.team):
            assert client.get(path, headers={**basic("reader"), **ACCEPT}).status_code == 200
    asked = world.since(mark)
    assert asked, "the token server was never asked"
    # Every token was asked for the reader, at the token server the registry names
    # (the allowlist's default: the registry's own host), with pull scopes only.
    for request in asked:
        assert request.get("user") == "reader", request
        for scope in request.get("scopes", []):
            assert scope.endswith(":pull"), scope
