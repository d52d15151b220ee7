"""Usage, retention and bulk deletes with per-user rights (a token registry): figures
per caller, plans per caller, and a caller without delete rights gets 403 per item
with nothing deleted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher, push_image, tag_existing
from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.callers import Users
from tests.support.usage_corpus import RegistryWalk

USERS = Users({"admin": "admin-Pw-use-1", "reader": "reader-Pw-use-2"})


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if user == "reader" and rtype == "registry":
        return list(actions)  # the catalog: it lists every repository
    if user == "reader" and rtype == "repository" and name.startswith("rights/shared"):
        return [a for a in actions if a == "pull"]
    return []


basic = USERS.basic


@pytest.fixture(scope="module")
def rights(
    registry_factory: Any, token_server_factory: Any
) -> Iterator[tuple[RegistryProcess, Pusher, TestClient]]:
    tokens = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        base = push_image(p, "rights/shared", "1.0", seed="rights-base", n_layers=2)
        tag_existing(p, "rights/shared", "latest", base)
        push_image(p, "rights/shared", "0.9", seed="rights-old", created="2023-01-01T00:00:00Z")
        push_image(p, "rights/private", "1.0", seed="rights-base", n_layers=3)
        with gateway_for(reg.url, delete_enabled=True) as client:
            yield reg, p, client


def test_registry_usage_counts_only_what_each_caller_may_read(
    rights: tuple[RegistryProcess, Pusher, TestClient],
) -> None:
    _, p, client = rights
    walk = RegistryWalk(p)
    items = {repo: walk.repository(repo)["items"] for repo in ("rights/shared", "rights/private")}
    admin = client.get("/api/usage", headers=basic("admin")).json()
    reader = client.get("/api/usage", headers=basic("reader")).json()
    assert admin["complete"] and reader["complete"]
    assert {r["name"] for r in admin["repositories"]} == {"rights/shared", "rights/private"}
    assert [r["name"] for r in reader["repositories"]] == ["rights/shared"]
    assert reader["repositories_total"] == reader["repositories_counted"] == 1
    shared = sum(items["rights/shared"].values())
    # For the reader the shared repository is alone: all of it is exclusive.
    assert reader["total_bytes"] == shared == reader["repositories"][0]["exclusive_bytes"]
    both = {**items["rights/shared"], **items["rights/private"]}
    assert admin["total_bytes"] == sum(both.values())
    row = next(r for r in admin["repositories"] if r["name"] == "rights/shared")
    private = set(items["rights/private"])
    assert row["exclusive_bytes"] == sum(
        s for d, s in items["rights/shared"].items() if d not in private
    )
    assert row["exclusive_bytes"] < shared  # the base layers are the private one's too
    denied = client.get("/api/repositories/rights/private/usage", headers=basic("reader"))
    assert denied.status_code in (401, 403, 404), denied.text
    assert_envelope(denied, denied.status_code)


def test_a_reader_gets_403_per_item_and_nothing_is_deleted(
    rights: tuple[RegistryProcess, Pusher, TestClient],
) -> None:
    _, p, client = rights
    repo = "rights/shared"
    before = sorted(p.tags(repo) or [])
    digest = RegistryWalk(p).manifest(repo, "0.9")[0]  # type: ignore[index]
    r = client.post(
        f"/api/repositories/{repo}/delete",
        json={"tags": ["latest", "0.9"], "digests": [digest]},
        headers=basic("reader"),
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 3
    for item in results:
        assert item["status"] == "failed" and item["error"]["code"] == "DENIED", item
    # A plan the reader may preview, but not apply.
    plan = client.post(
        f"/api/repositories/{repo}/retention/preview",
        json={"keep_last": 2, "sort": "created"},
        headers=basic("reader"),
    ).json()
    assert {row["tag"] for row in plan["delete"]} == {"0.9"}
    applied = client.post(
        f"/api/repositories/{repo}/retention/apply",
        json={"plan_id": plan["plan_id"]},
        headers=basic("reader"),
    )
    assert applied.status_code == 200, applied.text
    for item in applied.json()["results"]:
        assert item["status"] == "failed" and item["error"]["code"] == "DENIED", item
    assert sorted(p.tags(repo) or []) == before
    assert RegistryWalk(p).manifest(repo, digest) is not None


def test_plans_are_per_caller(rights: tuple[RegistryProcess, Pusher, TestClient]) -> None:
    _, p, client = rights
    repo = "rights/shared"
    plan = client.post(
        f"/api/repositories/{repo}/retention/preview",
        json={"keep_last": 2, "sort": "created"},
        headers=basic("admin"),
    ).json()
    r = client.post(
        f"/api/repositories/{repo}/retention/apply",
        json={"plan_id": plan["plan_id"]},
        headers=basic("reader"),
    )
    assert_envelope(r, 404, "PLAN_UNKNOWN")
    assert "0.9" in (p.tags(repo) or [])
