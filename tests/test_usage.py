"""Storage usage against a real registry: every figure checked against a count made
by reading the registry's manifests directly (tests/support/usage_corpus.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.assertions import assert_envelope
from tests.support.usage_corpus import Corpus, RegistryWalk, push_usage_corpus


@pytest.fixture(scope="module")
def usage_registry(registry_factory: Any) -> Iterator[tuple[RegistryProcess, Pusher, Corpus]]:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        yield reg, p, push_usage_corpus(p, "usage")


@pytest.fixture(scope="module")
def usage_api(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus],
) -> Iterator[TestClient]:
    from tests.conftest import gateway_for

    with gateway_for(usage_registry[0].url) as client:
        yield client


def usage_of(client: TestClient, repo: str, **headers: str) -> dict[str, Any]:
    r = client.get(f"/api/repositories/{repo}/usage", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize("which", ["app", "multi", "other"])
def test_repository_usage_matches_an_independent_count(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], usage_api: TestClient, which: str
) -> None:
    _, p, corpus = usage_registry
    repo = getattr(corpus, which)
    expected = RegistryWalk(p).repository(repo)
    body = usage_of(usage_api, repo)
    assert body["repository"] == repo
    for key in ("tags", "manifests", "blobs", "total_bytes"):
        assert body[key] == expected[key], key
    got = {
        row["tag"]: {k: row[k] for k in ("digest", "bytes", "exclusive_bytes")}
        for row in body["by_tag"]
    }
    assert got == expected["by_tag"]
    sizes = [row["bytes"] for row in body["by_tag"]]
    assert sizes == sorted(sizes, reverse=True)


def test_shared_layers_make_the_naive_per_tag_sum_wrong(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], usage_api: TestClient
) -> None:
    _, _, corpus = usage_registry
    body = usage_of(usage_api, corpus.app)
    rows = {row["tag"]: row for row in body["by_tag"]}
    # The corpus shares layers between versions: summing tags counts them again.
    assert sum(r["bytes"] for r in rows.values()) > body["total_bytes"]
    # Tags sharing a digest free nothing on their own.
    for alias, target in (("latest", "2.0.0"), ("stable", "1.10.0")):
        assert rows[alias]["digest"] == rows[target]["digest"]
        assert rows[alias]["exclusive_bytes"] == rows[target]["exclusive_bytes"] == 0
    # main shares nothing: all of it is its own.
    assert rows["main"]["exclusive_bytes"] == rows["main"]["bytes"] > 0


def test_multi_platform_usage_counts_children_and_attestations(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], usage_api: TestClient
) -> None:
    _, _, corpus = usage_registry
    index = corpus.images[f"{corpus.multi}:1.0.0"]
    body = usage_of(usage_api, corpus.multi)
    # two indexes, each two platform images and two attestation manifests
    assert body["manifests"] == 2 + 2 * 4
    row = next(r for r in body["by_tag"] if r["tag"] == "1.0.0")
    children = index.children + index.attestations  # type: ignore[union-attr]
    assert row["bytes"] > len(index.manifest) + sum(len(c.manifest) for c in children)


def test_warm_usage_makes_no_upstream_request(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], usage_api: TestClient
) -> None:
    _, _, corpus = usage_registry
    first = usage_api.get(f"/api/repositories/{corpus.multi}/usage")
    assert first.status_code == 200
    again = usage_api.get(f"/api/repositories/{corpus.multi}/usage")
    assert again.json() == first.json()
    assert again.headers["X-Upstream-Requests"] == "0"


def test_usage_is_dropped_with_the_tag_lists(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], make_gateway: Any
) -> None:
    reg, p, _ = usage_registry
    repo = "usage/changing"
    push_image(p, repo, "a", seed="usage-changing-a")
    with make_gateway(reg.url, cache_ttl=300, events_token="s3cret-usage") as client:
        before = usage_of(client, repo)
        assert [r["tag"] for r in before["by_tag"]] == ["a"]
        push_image(p, repo, "b", seed="usage-changing-b")
        assert usage_of(client, repo) == before  # cached for LR_CACHE_TTL
        event = {"events": [{"action": "push", "target": {"repository": repo, "tag": "b"}}]}
        r = client.post("/api/events", json=event, headers={"Authorization": "Bearer s3cret-usage"})
        assert r.status_code == 200, r.text
        after = usage_of(client, repo)
        assert sorted(r["tag"] for r in after["by_tag"]) == ["a", "b"]
        expected = RegistryWalk(p).repository(repo)
        assert after["total_bytes"] == expected["total_bytes"]


def test_registry_usage_matches_an_independent_count(
    usage_registry: tuple[RegistryProcess, Pusher, Corpus], usage_api: TestClient
) -> None:
    _, p, _ = usage_registry
    walk = RegistryWalk(p)
    names = p.catalog()
    per_repo = {name: walk.repository(name)["items"] for name in names}
    body: dict[str, Any] = {}
    for _ in range(20):
        r = usage_api.get("/api/usage")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["complete"]:
            break
    assert body["complete"] is True
    assert body["repositories_counted"] == body["repositories_total"] == len(names)
    everything: dict[str, int] = {}
    for items in per_repo.values():
        everything.update(items)
    assert body["total_bytes"] == sum(everything.values())
    assert body["naive_bytes"] == sum(sum(i.values()) for i in per_repo.values())
    assert body["naive_bytes"] > body["total_bytes"]  # layers shared between repositories
    rows = {row["name"]: row for row in body["repositories"]}
    assert set(rows) == set(names)
    for name, items in per_repo.items():
        others = {d for n, i in per_repo.items() if n != name for d in i}
        assert rows[name]["bytes"] == sum(items.values()), name
        assert rows[name]["exclusive_bytes"] == sum(
            s for d, s in items.items() if d not in others
        ), name
    exclusive = [row["exclusive_bytes"] for row in body["repositories"]]
    assert exclusive == sorted(exclusive, reverse=True)


def test_usage_of_an_unknown_or_invalid_repository(usage_api: TestClient) -> None:
    assert_envelope(usage_api.get("/api/repositories/usage/nope/usage"), 404, "NAME_UNKNOWN")
    assert_envelope(usage_api.get("/api/repositories/UPPER/usage"), 400, "NAME_INVALID")
