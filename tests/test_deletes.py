"""Deletes against a real distribution 3.0 registry: off by default, by digest, by tag.

Deleting a tag is native on 3.0 (a ``DELETE`` by tag removes that tag only): the sibling
tags on the same digest survive. Debian's 2.8 answers 400 ``DIGEST_INVALID`` instead and
needs the placeholder-manifest technique: test_registry_versions shows it there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher, push_image, tag_existing
from harness.registry import RegistryProcess
from harness.tokenserver import TokenServer
from tests.support.callers import Users


@pytest.fixture(scope="module")
def open_registry(registry_factory: Any) -> Iterator[tuple[RegistryProcess, Pusher]]:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        yield reg, p


def registry_tags(p: Pusher, repo: str) -> list[str]:
    return sorted(p.tags(repo) or [])


def registry_digest(p: Pusher, repo: str, ref: str) -> str | None:
    r = p.get_manifest(repo, ref)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.headers["Docker-Content-Digest"]


def gateway_tags(client: TestClient, repo: str) -> list[str]:
    r = client.get(f"/api/repositories/{repo}/tags")
    assert r.status_code == 200, r.text
    return sorted(t["name"] for t in r.json()["tags"])


def repositories(client: TestClient, q: str) -> list[tuple[str, int]]:
    r = client.get("/api/repositories", params={"q": q})
    assert r.status_code == 200, r.text
    return [(x["name"], x["tag_count"]) for x in r.json()["repositories"]]


def warm(client: TestClient, repo: str, refs: list[str]) -> None:
    """Fill every cache the gateway has for these references."""
    assert client.get(f"/api/repositories/{repo}/tags?details=true").status_code == 200
    assert client.get("/api/repositories").status_code == 200
    for ref in refs:
        for path in (f"images/{ref}", f"images/{ref}/config", f"manifests/{ref}"):
            r = client.get(f"/api/repositories/{repo}/{path}")
            assert r.status_code == 200, (path, r.text)


def assert_gone(client: TestClient, repo: str, ref: str) -> None:
    for path in (f"images/{ref}", f"images/{ref}/config", f"manifests/{ref}"):
        r = client.get(f"/api/repositories/{repo}/{path}")
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "MANIFEST_UNKNOWN"


# -- disabled (the default) ----------------------------------------------------------------


def test_deletes_are_disabled_by_default_and_nothing_goes_upstream(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    image = push_image(p, "del/disabled", "1.0")
    tag_existing(p, "del/disabled", "1.0-alias", image)
    missing = "sha256:" + "0" * 64
    with make_gateway(reg.url) as client:
        before = client.app.state.lr.client.totals.requests
        for path in (
            f"/api/repositories/del/disabled/images/{image.digest}",
            "/api/repositories/del/disabled/tags/1.0",
            f"/api/repositories/del/disabled/images/{missing}",
            "/api/repositories/del/disabled/tags/no-such-tag",
            "/api/repositories/no/such-repo/tags/1.0",
        ):
            r = client.delete(path)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "DELETE_DISABLED"
            assert r.headers["x-upstream-requests"] == "0"
        assert client.app.state.lr.client.totals.requests == before
    assert registry_digest(p, "del/disabled", "1.0") == image.digest
    assert registry_tags(p, "del/disabled") == ["1.0", "1.0-alias"]


# -- enabled -------------------------------------------------------------------------------


def test_delete_by_digest_untags_every_tag_and_leaves_no_stale_cache(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "del/by-digest"
    image = push_image(p, repo, "a")
    tag_existing(p, repo, "b", image)
    other = push_image(p, repo, "c")
    with make_gateway(reg.url, delete_enabled=True) as client:
        warm(client, repo, ["a", "b", image.digest, "c"])
        assert repositories(client, "del/by-digest") == [(repo, 3)]

        r = client.delete(f"/api/repositories/{repo}/images/{image.digest}")
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["deleted"] == image.digest
        assert sorted(body["untagged"]) == ["a", "b"]

        for ref in ("a", "b", image.digest):
            assert_gone(client, repo, ref)
        assert gateway_tags(client, repo) == ["c"]
        assert repositories(client, "del/by-digest") == [(repo, 1)]
        detail = client.get(f"/api/repositories/{repo}/images/c").json()
        assert detail["digest"] == other.digest and detail["tags"] == ["c"]
        # Deleting it again: it is gone.
        again = client.delete(f"/api/repositories/{repo}/images/{image.digest}")
        assert again.status_code == 404
        assert again.json()["error"]["code"] == "MANIFEST_UNKNOWN"
    assert registry_digest(p, repo, "a") is None
    assert registry_digest(p, repo, image.digest) is None
    assert registry_tags(p, repo) == ["c"]


def test_delete_one_tag_keeps_its_siblings(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "del/one-tag"
    image = push_image(p, repo, "x")
    tag_existing(p, repo, "y", image)
    tag_existing(p, repo, "z", image)
    with make_gateway(reg.url, delete_enabled=True) as client:
        warm(client, repo, ["x", "y", "z", image.digest])
        r = client.delete(f"/api/repositories/{repo}/tags/x")
        assert r.status_code == 202, r.text
        assert r.json()["untagged"] == ["x"]
        assert r.json().get("method") == "native"  # distribution 3.x

        assert_gone(client, repo, "x")
        assert gateway_tags(client, repo) == ["y", "z"]
        for ref in ("y", "z", image.digest):
            detail = client.get(f"/api/repositories/{repo}/images/{ref}")
            assert detail.status_code == 200, detail.text
            assert detail.json()["digest"] == image.digest
            assert sorted(detail.json()["tags"]) == ["y", "z"]
        raw = client.get(f"/api/repositories/{repo}/manifests/y")
        assert raw.content == image.manifest
    assert registry_tags(p, repo) == ["y", "z"]
    assert registry_digest(p, repo, "y") == image.digest
    assert registry_digest(p, repo, "z") == image.digest
    assert registry_digest(p, repo, "x") is None


def test_delete_the_only_tag_keeps_the_image_by_digest(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "del/only-tag"
    image = push_image(p, repo, "solo")
    keep = push_image(p, repo, "keep")
    with make_gateway(reg.url, delete_enabled=True) as client:
        warm(client, repo, ["solo", "keep"])
        r = client.delete(f"/api/repositories/{repo}/tags/solo")
        assert r.status_code == 202, r.text
        assert r.json()["untagged"] == ["solo"]
        assert_gone(client, repo, "solo")
        assert gateway_tags(client, repo) == ["keep"]
        detail = client.get(f"/api/repositories/{repo}/images/{image.digest}")
        assert detail.status_code == 200
        assert detail.json()["tags"] == []
        assert client.get(f"/api/repositories/{repo}/images/keep").json()["digest"] == keep.digest
    assert registry_digest(p, repo, image.digest) == image.digest
    # No placeholder was left behind under any tag.
    assert registry_tags(p, repo) == ["keep"]


def test_delete_unknown_things_is_404(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "del/unknown"
    image = push_image(p, repo, "1.0")
    elsewhere = push_image(p, "del/elsewhere", "1.0", seed="del/elsewhere-only")
    with make_gateway(reg.url, delete_enabled=True) as client:
        r = client.delete(f"/api/repositories/{repo}/tags/no-such-tag")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "MANIFEST_UNKNOWN"
        r = client.delete(f"/api/repositories/{repo}/images/sha256:{'1' * 64}")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "MANIFEST_UNKNOWN"
        # A digest of another repository is unknown here, and stays there.
        r = client.delete(f"/api/repositories/{repo}/images/{elsewhere.digest}")
        assert r.status_code == 404, r.text
        r = client.delete("/api/repositories/no/such-repo/tags/1.0")
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
        # Malformed references are refused before anything is sent.
        for path in (f"/api/repositories/{repo}/images/1.0", f"/api/repositories/{repo}/tags/-x"):
            r = client.delete(path)
            assert r.status_code in (400, 422), (path, r.text)
            assert r.headers["x-upstream-requests"] == "0"
    assert registry_tags(p, repo) == ["1.0"]
    assert registry_digest(p, repo, image.digest) == image.digest
    assert registry_digest(p, "del/elsewhere", "1.0") == elsewhere.digest


def test_registry_with_deletes_off_is_unsupported_and_changes_nothing(
    registry_factory: Any, make_gateway: Any
) -> None:
    # 3.1: 3.0 with deletes off still deletes tags (a registry bug: test_registry_versions)
    reg: RegistryProcess = registry_factory(delete_enabled=False, version="3.1")
    repo = "del/off"
    with Pusher(reg.url) as p:
        image = push_image(p, repo, "x")
        tag_existing(p, repo, "y", image)
        with make_gateway(reg.url, delete_enabled=True) as client:
            r = client.delete(f"/api/repositories/{repo}/images/{image.digest}")
            assert r.status_code == 405, r.text
            assert r.json()["error"]["code"] == "UNSUPPORTED"
            r = client.delete(f"/api/repositories/{repo}/tags/x")
            assert r.status_code == 405, r.text
            assert r.json()["error"]["code"] == "UNSUPPORTED"
            for ref in ("x", "y"):
                detail = client.get(f"/api/repositories/{repo}/images/{ref}")
                assert detail.json()["digest"] == image.digest, ref
        # The tag still points at the image (not at a placeholder).
        assert registry_tags(p, repo) == ["x", "y"]
        assert registry_digest(p, repo, "x") == image.digest
        assert registry_digest(p, repo, "y") == image.digest


# -- token mode: delete rights -------------------------------------------------------------

TOKEN_USERS = Users(
    {"admin": "admin-Pw-del-1", "writer": "writer-Pw-del-2", "reader": "reader-Pw-del-3"}
)


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if rtype != "repository":
        return []
    if user == "writer":
        return [a for a in actions if a in ("pull", "push")]
    if user == "reader":
        return [a for a in actions if a == "pull"]
    return []


basic = TOKEN_USERS.basic


@pytest.fixture(scope="module")
def token_registry(
    registry_factory: Any, token_server_factory: Any
) -> Iterator[tuple[RegistryProcess, TokenServer, Pusher]]:
    tokens: TokenServer = token_server_factory(TOKEN_USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", TOKEN_USERS["admin"]) as p:
        yield reg, tokens, p


def test_token_user_without_delete_rights_is_denied(
    token_registry: tuple[RegistryProcess, TokenServer, Pusher], make_gateway: Any
) -> None:
    reg, tokens, p = token_registry
    repo = "team/deny"
    image = push_image(p, repo, "x")
    tag_existing(p, repo, "y", image)
    with make_gateway(reg.url, delete_enabled=True) as client:
        for user in ("reader", "writer"):
            assert (
                client.get(f"/api/repositories/{repo}/tags", headers=basic(user)).status_code == 200
            )
            for path in (f"images/{image.digest}", "tags/x"):
                r = client.delete(f"/api/repositories/{repo}/{path}", headers=basic(user))
                assert r.status_code == 403, (user, path, r.text)
                assert r.json()["error"]["code"] == "DENIED"
        anonymous = client.delete(f"/api/repositories/{repo}/tags/x")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    assert registry_tags(p, repo) == ["x", "y"]
    assert registry_digest(p, repo, "x") == image.digest


def test_token_user_with_delete_rights_asks_for_the_delete_scope(
    token_registry: tuple[RegistryProcess, TokenServer, Pusher], make_gateway: Any
) -> None:
    reg, tokens, p = token_registry
    repo = "team/allow"
    image = push_image(p, repo, "x")
    tag_existing(p, repo, "y", image)
    other = push_image(p, repo, "z")
    with make_gateway(reg.url, delete_enabled=True) as client:
        mark = len(tokens.requests)
        r = client.delete(f"/api/repositories/{repo}/tags/x", headers=basic("admin"))
        assert r.status_code == 202, r.text
        assert r.json()["untagged"] == ["x"]
        r = client.delete(f"/api/repositories/{repo}/images/{other.digest}", headers=basic("admin"))
        assert r.status_code == 202, r.text
        assert r.json() == {
            "deleted": other.digest,
            "untagged": ["z"],
            "referrers_deleted": [],
            "referrers_left": [],
        }
        scopes = [s for req in tokens.requests[mark:] for s in req["scopes"]]
        assert all(req["user"] == "admin" for req in tokens.requests[mark:])
    assert any(s.startswith(f"repository:{repo}:") and "delete" in s for s in scopes), scopes
    # Nothing broader than this repository is asked for.
    assert all(s.startswith(f"repository:{repo}:") for s in scopes), scopes
    assert registry_tags(p, repo) == ["y"]
    assert registry_digest(p, repo, "y") == image.digest
