"""Repositories and tags through the gateway, against the standard registry content."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    HELM_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    push_image,
    push_index,
)
from tests.support.assertions import assert_envelope
from tests.support.content import VERSION_ALIASES, VERSION_TAGS
from tests.support.fixtures import FilledRegistry, UntaggedRegistry

VERSIONS = "versions/app"

# Version order of versions/app per API.md: 1.10.0 after 1.9.0, rc before its release,
# a leading "v" ignored; the non-version tags after every version, by name.
VERSION_ORDER = ["0.9", "1.9.0", "1.10.0-rc1", "1.10.0-rc2", "1.10.0", "v2", "v2.0.1"]
NON_VERSIONS = ["latest", "main", "sha-1a2b3c4"]


def _tags(api: TestClient, repo: str, **params: Any) -> dict[str, Any]:
    r = api.get(f"/api/repositories/{repo}/tags", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _names(page: dict[str, Any]) -> list[str]:
    return [t["name"] for t in page["tags"]]


def _created_of(tag: str) -> str:
    created = dict(VERSION_TAGS)
    return created[VERSION_ALIASES.get(tag, tag)]


# -- repositories ---------------------------------------------------------------------


def _walk_repositories(api: TestClient, n: int, **params: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    last: str | None = None
    for _ in range(1000):
        query = dict(params, n=n)
        if last is not None:
            query["last"] = last
        r = api.get("/api/repositories", params=query)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        last = page["next"]
        if last is None:
            return pages
    raise AssertionError("the repository pages never ended")


def test_repository_count_spans_several_registry_pages(registry: FilledRegistry) -> None:
    # the gateway walks the catalog 10 names at a time: these tests need > 40 names
    assert len(registry.content.repositories) > 40


def test_repositories_sorted_and_paged_across_pages(
    api: TestClient, registry: FilledRegistry
) -> None:
    expected = registry.content.repositories
    assert expected == sorted(expected)
    pages = _walk_repositories(api, n=7)
    assert len(pages) == math.ceil(len(expected) / 7)
    seen: list[str] = []
    for i, page in enumerate(pages):
        names = [r["name"] for r in page["repositories"]]
        assert page["total"] == len(expected)
        assert names == sorted(names)
        if i < len(pages) - 1:
            assert len(names) == 7
            assert page["next"] == names[-1]
        else:
            assert page["next"] is None
        seen.extend(names)
    assert seen == expected


def test_repositories_default_page_and_one_big_page(
    api: TestClient, registry: FilledRegistry
) -> None:
    expected = registry.content.repositories
    r = api.get("/api/repositories")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(expected)
    assert [x["name"] for x in body["repositories"]] == expected[:50]
    assert body["next"] == (expected[49] if len(expected) > 50 else None)

    body = api.get("/api/repositories", params={"n": 1000}).json()
    assert [x["name"] for x in body["repositories"]] == expected
    assert body["next"] is None


def test_repositories_last_is_an_exclusive_cursor(
    api: TestClient, registry: FilledRegistry
) -> None:
    expected = registry.content.repositories
    cursor = expected[20]
    body = api.get("/api/repositories", params={"n": 5, "last": cursor}).json()
    assert [x["name"] for x in body["repositories"]] == expected[21:26]
    assert body["next"] == expected[25]
    # a cursor that is not a repository still pages from where it would sort
    body = api.get("/api/repositories", params={"n": 3, "last": "m"}).json()
    after = [name for name in expected if name > "m"]
    assert [x["name"] for x in body["repositories"]] == after[:3]
    # the last name as the cursor: an empty last page
    body = api.get("/api/repositories", params={"last": expected[-1]}).json()
    assert body == {"repositories": [], "total": len(expected), "next": None}


def test_catalog_walk_follows_several_registry_pages(
    make_gateway: Any, registry: FilledRegistry
) -> None:
    expected = registry.content.repositories
    with make_gateway(registry.url, catalog_page_size=10) as client:
        r = client.get("/api/repositories", params={"n": 1, "q": "versions"})
        assert r.status_code == 200, r.text
        # versions/app sorts last: it is on the registry's last catalog page
        assert r.json() == {
            "repositories": [
                {
                    "name": VERSIONS,
                    "tag_count": 10,
                    "error": None,
                    "bytes": None,
                    "last_changed": None,
                }
            ],
            "total": 1,
            "next": None,
        }
        totals = client.app.state.lr.client.totals
        catalog_pages = totals.by_kind.get("catalog", 0)
        assert catalog_pages >= math.ceil(len(expected) / 10)
        # one catalog-page request per 10 names plus one tag list for the page's row
        assert int(r.headers["x-upstream-requests"]) == catalog_pages + 1


def test_repositories_q_filters_the_whole_catalog(
    api: TestClient, registry: FilledRegistry
) -> None:
    expected = registry.content.repositories
    wanted = [name for name in expected if "team" in name]
    assert wanted == ["team/app/api", "team/app/web"]
    # both sort after the first 40 names (past four registry pages of 10)
    assert all(expected.index(name) >= 40 for name in wanted)

    body = api.get("/api/repositories", params={"q": "team", "n": 1}).json()
    assert body["total"] == 2
    assert [x["name"] for x in body["repositories"]] == ["team/app/api"]
    assert body["next"] == "team/app/api"
    body = api.get("/api/repositories", params={"q": "team", "n": 1, "last": body["next"]}).json()
    assert [x["name"] for x in body["repositories"]] == ["team/app/web"]
    assert body["next"] is None
    assert body["total"] == 2

    # case-insensitive
    body = api.get("/api/repositories", params={"q": "TEAM/App/W"}).json()
    assert [x["name"] for x in body["repositories"]] == ["team/app/web"]
    assert body["total"] == 1

    many = [name for name in expected if "repo-03" in name]
    body = api.get("/api/repositories", params={"q": "repo-03"}).json()
    assert [x["name"] for x in body["repositories"]] == many
    assert body["total"] == len(many) == 5

    body = api.get("/api/repositories", params={"q": "no-such-thing"}).json()
    assert body == {"repositories": [], "total": 0, "next": None}


def test_repositories_tag_counts(api: TestClient, registry: FilledRegistry) -> None:
    content = registry.content
    body = api.get("/api/repositories", params={"n": 1000}).json()
    counts = {x["name"]: x["tag_count"] for x in body["repositories"]}
    assert set(counts) == set(content.repositories)
    for name in content.repositories:
        assert counts[name] == len(content.tags_of(name)), name
    assert counts[content.emptied_repo] == 0
    assert counts[VERSIONS] == 10
    assert counts["oci/app"] == 2
    assert counts["many/repo-000"] == 2
    assert counts["many/repo-001"] == 1
    assert all(x["error"] is None for x in body["repositories"])


@pytest.mark.parametrize("n", ["0", "-1", "1001", "abc"])
def test_repositories_n_out_of_range(api: TestClient, n: str) -> None:
    error = assert_envelope(api.get("/api/repositories", params={"n": n}), 400, "VALIDATION_ERROR")
    assert error["detail"]


# -- tags: sorts ----------------------------------------------------------------------


def test_versions_repository_holds_what_the_orders_expect(registry: FilledRegistry) -> None:
    assert sorted(VERSION_ORDER + NON_VERSIONS) == registry.content.tags_of(VERSIONS)


def test_tags_sort_name(api: TestClient) -> None:
    expected = sorted(VERSION_ORDER + NON_VERSIONS)
    for params in ({}, {"sort": "name"}):
        page = _tags(api, VERSIONS, **params)
        assert _names(page) == expected
        assert page["repository"] == VERSIONS
        assert page["total"] == 10
        assert page["next"] is None
    assert _names(_tags(api, VERSIONS, sort="-name")) == expected[::-1]


def test_tags_sort_version(api: TestClient) -> None:
    assert _names(_tags(api, VERSIONS, sort="version")) == VERSION_ORDER + NON_VERSIONS
    assert _names(_tags(api, VERSIONS, sort="-version")) == VERSION_ORDER[::-1] + NON_VERSIONS


@pytest.mark.parametrize("sort", ["created", "-created"])
def test_tags_sort_created(api: TestClient, sort: str) -> None:
    page = _tags(api, VERSIONS, sort=sort)
    names = _names(page)
    assert sorted(names) == sorted(VERSION_ORDER + NON_VERSIONS)
    # sorting by created implies details
    for row in page["tags"]:
        assert row["created"] == _created_of(row["name"]), row
        assert row["digest"] and row["kind"] == "image"
    # tags sharing a digest share a date; everything else is strictly ordered
    groups = [
        {"0.9"},
        {"1.9.0"},
        {"1.10.0-rc1"},
        {"1.10.0-rc2"},
        {"1.10.0"},
        {"v2"},
        {"v2.0.1", "latest"},
        {"main", "sha-1a2b3c4"},
    ]
    if sort == "-created":
        groups.reverse()
    got: list[set[str]] = []
    for name in names:
        if got and _created_of(name) == _created_of(next(iter(got[-1]))):
            got[-1].add(name)
        else:
            got.append({name})
    assert got == groups


@pytest.mark.parametrize("sort", ["name", "-name", "version", "-version", "created", "-created"])
def test_tags_paging_follows_the_sort(api: TestClient, sort: str) -> None:
    full = _names(_tags(api, VERSIONS, sort=sort))
    seen: list[str] = []
    last: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"sort": sort, "n": 3}
        if last is not None:
            params["last"] = last
        page = _tags(api, VERSIONS, **params)
        assert page["total"] == 10
        names = _names(page)
        seen.extend(names)
        last = page["next"]
        if last is None:
            assert len(names) == 1
            break
        assert len(names) == 3
        assert last == names[-1]
    assert seen == full


@pytest.mark.parametrize("sort", ["name", "-name", "version", "-version"])
def test_tags_paging_goes_on_after_the_cursor_tag_was_deleted(
    registry_factory: Any, make_gateway: Any, sort: str
) -> None:
    """An SPA holds ``next`` while someone deletes that tag: the next page starts where
    the tag was, in every order the position is known, rather than at the beginning."""
    reg = registry_factory()
    with Pusher(reg.url) as p:
        images = {
            tag: push_image(p, "paging/app", tag, n_layers=1)
            for tag in ("0.9", "1.9.0", "1.10.0-rc1", "1.10.0", "v2", "edge", "latest", "main")
        }
        with make_gateway(reg.url, cache_ttl=0) as client:
            full = _names(_tags(client, "paging/app", sort=sort, n=1000))
            first = _tags(client, "paging/app", sort=sort, n=3)
            assert _names(first) == full[:3]
            cursor = first["next"]
            assert cursor == full[2]
            p.delete_manifest("paging/app", images[cursor].digest)
            rest = _tags(client, "paging/app", sort=sort, n=1000, last=cursor)
    assert _names(rest) == full[3:]


def test_created_order_within_one_second(registry_factory: Any, make_gateway: Any) -> None:
    """``…:00.5Z`` is later than ``…:00Z``, though ``.`` sorts before ``Z`` as text."""
    reg = registry_factory()
    with Pusher(reg.url) as p:
        whole = push_image(p, "dates/app", "whole", created="2024-05-01T10:00:00Z")
        half = push_image(p, "dates/app", "half", created="2024-05-01T10:00:00.5Z")
        push_index(p, "dates/app", "both", [whole, half])
    with make_gateway(reg.url) as client:
        page = _tags(client, "dates/app", sort="created")
        assert _names(page) == ["whole", "both", "half"]  # ties by name
        rows = {t["name"]: t for t in page["tags"]}
        assert rows["both"]["created"] == "2024-05-01T10:00:00.500000Z"
        assert _names(_tags(client, "dates/app", sort="-created"))[-1] == "whole"


def test_tags_q(api: TestClient) -> None:
    page = _tags(api, VERSIONS, q="1.10")
    assert _names(page) == ["1.10.0", "1.10.0-rc1", "1.10.0-rc2"]
    assert page["total"] == 3
    page = _tags(api, VERSIONS, q="1.10", sort="-version")
    assert _names(page) == ["1.10.0", "1.10.0-rc2", "1.10.0-rc1"]
    page = _tags(api, VERSIONS, q="V2")  # case-insensitive
    assert _names(page) == ["v2", "v2.0.1"]
    page = _tags(api, VERSIONS, q="a", sort="version")
    assert _names(page) == ["latest", "main", "sha-1a2b3c4"]
    page = _tags(api, VERSIONS, q="zzz")
    assert page == {
        "repository": VERSIONS,
        "total": 0,
        "next": None,
        "tags": [],
        "complete": True,
        "hidden": 0,
    }
    page = _tags(api, VERSIONS, q="1", n=2, sort="version")
    assert _names(page) == ["1.9.0", "1.10.0-rc1"]
    assert page["total"] == 6  # 1.9.0, three 1.10.0s, v2.0.1, sha-1a2b3c4
    assert page["next"] == "1.10.0-rc1"
    page = _tags(api, VERSIONS, q="1", n=10, sort="version", last="1.10.0-rc1")
    assert _names(page) == ["1.10.0-rc2", "1.10.0", "v2.0.1", "sha-1a2b3c4"]
    assert page["next"] is None


def test_tags_without_details_only_names(api: TestClient) -> None:
    page = _tags(api, VERSIONS)
    for row in page["tags"]:
        assert row["name"]
        assert row.get("digest") is None


def test_tags_of_emptied_repository(api: TestClient, registry: FilledRegistry) -> None:
    page = _tags(api, registry.content.emptied_repo, details="true")
    assert page == {
        "repository": registry.content.emptied_repo,
        "total": 0,
        "next": None,
        "tags": [],
        "complete": True,
        "hidden": 0,
    }


# -- tags: details --------------------------------------------------------------------


def _detail_row(api: TestClient, repo: str, tag: str) -> dict[str, Any]:
    page = _tags(api, repo, details="true", q=tag)
    rows = [row for row in page["tags"] if row["name"] == tag]
    assert len(rows) == 1, page
    row: dict[str, Any] = rows[0]
    assert row.get("error") is None, row
    return row


def test_tag_details_image(api: TestClient, registry: FilledRegistry) -> None:
    for key in ("oci/app:1.0", "oci/app:latest", "schema2/app:1.0", "team/app/api:v1.2.3"):
        repo, tag = key.split(":")
        image = registry.content.images[key]
        assert isinstance(image, PushedImage)
        row = _detail_row(api, repo, tag)
        assert row["digest"] == image.digest
        assert row["media_type"] == image.media_type
        assert row["kind"] == "image"
        assert row["platforms"] == ["linux/amd64"]
        assert row["size"] == image.size
        assert row["created"] == image.created
    assert registry.content.images["schema2/app:1.0"].media_type == DOCKER_MANIFEST


def test_tag_details_every_versions_tag(api: TestClient, registry: FilledRegistry) -> None:
    page = _tags(api, VERSIONS, details="true", sort="version")
    assert _names(page) == VERSION_ORDER + NON_VERSIONS
    for row in page["tags"]:
        image = registry.content.images[f"{VERSIONS}:{row['name']}"]
        assert isinstance(image, PushedImage)
        assert row["digest"] == image.digest
        assert row["size"] == image.size
        assert row["created"] == _created_of(row["name"])
        assert row["kind"] == "image"
        assert row["platforms"] == ["linux/amd64"]
    by_name = {row["name"]: row for row in page["tags"]}
    assert by_name["latest"]["digest"] == by_name["v2.0.1"]["digest"]
    assert by_name["sha-1a2b3c4"]["digest"] == by_name["main"]["digest"]
    assert by_name["main"]["digest"] != by_name["v2.0.1"]["digest"]


def test_tag_details_oci_index(api: TestClient, registry: FilledRegistry) -> None:
    index = registry.content.images["multi/oci-index:1.0.0"]
    assert isinstance(index, PushedIndex)
    page = _tags(api, "multi/oci-index", details="true")
    assert _names(page) == ["1.0.0", "latest"]
    for row in page["tags"]:
        assert row["digest"] == index.digest
        assert row["media_type"] == OCI_INDEX
        assert row["kind"] == "index"
        assert row["platforms"] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        assert row["size"] == index.size
        # the newest of the children's configs
        newest = max(c.created for c in index.children)
        assert newest == "2024-05-01T10:30:00Z"
        assert row["created"] == newest
        assert row.get("artifact_type") is None


def test_tag_details_docker_manifest_list(api: TestClient, registry: FilledRegistry) -> None:
    index = registry.content.images["multi/docker-list:1.0"]
    assert isinstance(index, PushedIndex)
    row = _detail_row(api, "multi/docker-list", "1.0")
    assert row["digest"] == index.digest
    assert row["media_type"] == DOCKER_LIST
    assert row["kind"] == "index"
    assert row["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert row["size"] == index.size
    assert row["created"] == max(c.created for c in index.children)


def test_tag_details_attested_index(api: TestClient, registry: FilledRegistry) -> None:
    index = registry.content.images["multi/attested:1.0"]
    assert isinstance(index, PushedIndex)
    assert len(index.attestations) == 2
    row = _detail_row(api, "multi/attested", "1.0")
    assert row["digest"] == index.digest
    assert row["kind"] == "index"
    # attestation manifests (unknown/unknown) are not platforms
    assert row["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    # ... but their bytes count in the size
    assert row["size"] == index.size
    assert row["size"] > len(index.manifest) + sum(c.size for c in index.children)
    assert row["created"] == "2024-05-02T08:05:00Z"


def test_tag_details_helm_artifact(api: TestClient, registry: FilledRegistry) -> None:
    chart = registry.content.images["artifacts/helm-chart:15.0.2"]
    assert isinstance(chart, PushedImage)
    row = _detail_row(api, "artifacts/helm-chart", "15.0.2")
    assert row["digest"] == chart.digest
    assert row["media_type"] == OCI_MANIFEST
    assert row["kind"] == "image"
    assert row["artifact_type"] == HELM_CONFIG
    assert not row["platforms"]
    assert row["size"] == chart.size


def test_tag_details_paged(api: TestClient, registry: FilledRegistry) -> None:
    page = _tags(api, VERSIONS, details="true", sort="-version", n=4)
    assert _names(page) == ["v2.0.1", "v2", "1.10.0", "1.10.0-rc2"]
    assert page["next"] == "1.10.0-rc2"
    assert all(row["digest"] for row in page["tags"])
    page = _tags(api, VERSIONS, details="true", sort="-version", n=4, last=page["next"])
    assert _names(page) == ["1.10.0-rc1", "1.9.0", "0.9", "latest"]
    for row in page["tags"]:
        image = registry.content.images[f"{VERSIONS}:{row['name']}"]
        assert row["digest"] == image.digest


# -- tags: errors ---------------------------------------------------------------------


def test_tags_unknown_repository(api: TestClient) -> None:
    assert_envelope(api.get("/api/repositories/no/such/repo/tags"), 404, "NAME_UNKNOWN")
    assert_envelope(api.get("/api/repositories/nosuchrepo/tags?details=true"), 404, "NAME_UNKNOWN")


@pytest.mark.parametrize("name", ["Upper/case", "bad..name", "trailing-", "a//b", "-lead"])
def test_tags_invalid_name(api: TestClient, name: str) -> None:
    assert_envelope(api.get(f"/api/repositories/{name}/tags"), 400, "NAME_INVALID")


def test_tags_unknown_sort(api: TestClient) -> None:
    error = assert_envelope(
        api.get(f"/api/repositories/{VERSIONS}/tags?sort=size"), 400, "VALIDATION_ERROR"
    )
    assert error["detail"]
    assert_envelope(
        api.get(f"/api/repositories/{VERSIONS}/tags?sort=NAME"), 400, "VALIDATION_ERROR"
    )


@pytest.mark.parametrize("n", ["0", "1001", "x"])
def test_tags_n_out_of_range(api: TestClient, n: str) -> None:
    assert_envelope(
        api.get(f"/api/repositories/{VERSIONS}/tags", params={"n": n}), 400, "VALIDATION_ERROR"
    )


def test_repository_that_was_never_tagged_has_no_tags(
    make_gateway: Any, untagged_registry: UntaggedRegistry
) -> None:
    """Listed in the catalog, so known: 0 tags, not an error row."""
    with make_gateway(untagged_registry.url) as client:
        page = client.get("/api/repositories").json()
        # The tag page agrees once the catalog showed the repository exists...
        tags = client.get("/api/repositories/ci/untagged/tags?details=true")
        assert tags.status_code == 200, tags.text
        assert tags.json() == {
            "repository": "ci/untagged",
            "total": 0,
            "next": None,
            "tags": [],
            "complete": True,
            "hidden": 0,
        }
        # ...and an unknown repository is still 404.
        assert_envelope(client.get("/api/repositories/ci/unknown/tags"), 404, "NAME_UNKNOWN")
    assert page["repositories"] == [
        {"name": "ci/untagged", "tag_count": 0, "error": None, "bytes": None, "last_changed": None}
    ]
